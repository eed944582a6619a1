"""The queries `clamp train eval` asks of held-out collections, kept apart from the training texts.

SHORT_FORMS are the forms users type most ("waltz", "a waltz", "Walzer", "华尔兹"); training
texts contain them too (vocabulary.TUNE_TYPES), as issue 21 asks. UNSEEN_PHRASINGS were written
separately and are never produced by the training templates: a test checks that no training
text of any piece equals one of them, so these figures measure the concept, not the phrasing.
"""

from __future__ import annotations

# tune type -> {language: [short forms]}
SHORT_FORMS: dict[str, dict[str, list[str]]] = {
    "reel": {"en": ["reel", "a reel"], "de": ["ein Reel"], "fr": ["un reel"], "zh": ["里尔舞曲"]},
    "jig": {"en": ["jig", "a jig"], "de": ["Gigue"], "fr": ["une gigue"], "zh": ["吉格舞曲"]},
    "hornpipe": {"en": ["hornpipe", "a hornpipe"], "de": ["Hornpipe"], "fr": ["un hornpipe"], "zh": ["号笛舞曲"]},
    "strathspey": {"en": ["strathspey", "a strathspey"], "de": ["ein Strathspey"], "fr": ["un strathspey"],
                   "zh": ["斯特拉斯佩舞曲"]},
    "slip jig": {"en": ["slip jig", "a slip jig"], "de": ["ein Slip Jig"], "fr": ["une slip jig"], "zh": ["滑步吉格舞曲"]},
    "waltz": {"en": ["waltz", "a waltz", "a slow waltz"], "de": ["Walzer"], "fr": ["valse"], "zh": ["华尔兹"]},
    "march": {"en": ["march", "a march"], "de": ["Marsch"], "fr": ["une marche"], "zh": ["进行曲"]},
    "air": {"en": ["air", "a slow air"], "de": ["eine Weise"], "fr": ["un air lent"], "zh": ["抒情曲调"]},
    "clog": {"en": ["a clog dance"], "de": ["ein Clog-Tanz"], "fr": ["une danse en sabots"], "zh": ["木屐舞曲"]},
}

# tune type -> phrasings no training template produces
UNSEEN_PHRASINGS: dict[str, list[str]] = {
    "reel": ["reel music", "a tune to dance a reel to", "Reelmusik", "musique de reel", "música de reel", "里尔舞音乐"],
    "jig": ["jig music", "a tune to dance a jig to", "Jigmusik", "musique de gigue", "música de giga", "吉格舞音乐"],
    "hornpipe": ["hornpipe music", "a tune for a hornpipe dance", "Hornpipemusik", "musique de hornpipe",
                 "música de hornpipe", "号笛舞音乐"],
    "strathspey": ["strathspey music", "a tune for a strathspey dance", "Strathspeymusik", "musique de strathspey",
                   "música de strathspey", "斯特拉斯佩舞音乐"],
    "slip jig": ["slip jig music", "a tune for a slip jig dance", "Slip-Jig-Musik", "musique de slip jig",
                 "música de slip jig", "滑步吉格舞音乐"],
    "waltz": ["waltz music", "a tune to waltz to", "Walzermusik", "musique de valse", "música de vals", "华尔兹舞音乐"],
    "march": ["march music", "a tune to march to", "Marschmusik", "musique de marche", "música de marcha", "进行曲音乐"],
    "air": ["a slow tune", "a tune for listening rather than dancing", "ein getragenes Lied", "un air doux",
            "una melodía tranquila", "舒缓的曲子"],
    "clog": ["clog dancing music", "a tune for clog dancing", "Holzschuhtanzmusik", "musique de danse en sabots",
             "música para bailar con zuecos", "木屐舞音乐"],
}
