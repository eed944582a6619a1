"""Facts about a piece -> short descriptions in five languages (the texts clamp-mini learns from).

Each fact gets phrases in English, German, French, Spanish and Chinese, a few
phrasings each; two composite sentences join several facts the way a user
would type a query ("an Irish jig in 6/8, in D major").
"""

from __future__ import annotations

import random
import re

from .vocabulary import (
    COMPOSERS,
    ERAS,
    ESSEN_GENRES,
    ESSEN_ORIGINS,
    FIDDLE_TUNE,
    FOLK_SONG,
    GENRES,
    LANGS,
    LENGTH_WORDS,
    METRE_KIND,
    MODES,
    NOTE_NAMES,
    NUMBER_WORDS,
    ORIGINS,
    RANGE_WORDS,
    TUNE_TYPE_ALIASES,
    TUNE_TYPES,
    VOICE_WORDS,
    WORK_GENRES,
)

__all__ = ["COMPOSERS", "ESSEN_GENRES", "ESSEN_ORIGINS", "describe", "parse_abc_key", "tune_type",
           "tune_type_from_title"]

_MODE_ABBREV = {"": "major", "maj": "major", "ion": "major", "m": "minor", "min": "minor", "aeo": "aeolian",
                "dor": "dorian", "mix": "mixolydian", "phr": "phrygian", "lyd": "lydian"}


def tune_type(rhythm: str) -> str | None:
    """An R: field ("Reel", " double jig", "slipjig") -> a TUNE_TYPES key."""
    r = re.sub(r"\s+", " ", rhythm.strip().lower())
    if not r:
        return None
    r = TUNE_TYPE_ALIASES.get(r, r)
    if r in TUNE_TYPES:
        return r
    for name in sorted(TUNE_TYPES, key=len, reverse=True):
        if name in r:
            return name
    return None


def tune_type_from_title(title: str) -> str | None:
    for word, name in (("reel", "reel"), ("jig", "jig"), ("hornpipe", "hornpipe"), ("strathspey", "strathspey"),
                       ("march", "march"), ("quick step", "march"), ("waltz", "waltz"), ("air", "air"),
                       ("polka", "polka")):
        if re.search(rf"\b{word}\b", title):
            return name
    return None


def parse_abc_key(field: str, essen: bool = False) -> tuple[str, str] | None:
    """"Ador" -> ("A", "dorian"); Essen's K: gives the key signature's major tonic only, so no mode there."""
    m = re.match(r"^\s*([A-G])([#b]?)\s*([A-Za-z]*)", field)
    if not m or essen:
        return None
    mode = _MODE_ABBREV.get(m.group(3).lower()[:3] if m.group(3).lower() not in ("m",) else "m")
    if mode is None:
        return None
    return m.group(1) + m.group(2), mode


def _key_phrases(key: tuple[str, str]) -> dict[str, list[str]]:
    tonic, mode = key
    names = MODES.get(mode)
    if not names:
        return {}
    letter, acc = tonic[0], tonic[1:]
    acc_words = {"#": ("sharp", "is", " dièse", " sostenido", "升"), "b": ("flat", "es", " bémol", " bemol", "降")}
    en_t = tonic.replace("#", " sharp").replace("b", " flat") if acc else tonic
    de_t = (letter + acc_words[acc][1]) if acc else letter
    de_t = de_t.lower() if mode == "minor" else de_t
    fr_t = NOTE_NAMES["fr"][letter] + (acc_words[acc][2] if acc else "")
    es_t = NOTE_NAMES["es"][letter] + (acc_words[acc][3] if acc else "")
    zh_t = (acc_words[acc][4] if acc else "") + letter
    return {"en": [f"in {en_t} {names[0]}", f"a tune in {en_t} {names[0]}"], "de": [f"in {de_t}-{names[1]}"
            if mode in ("major", "minor") else f"in {de_t} {names[1]}"], "fr": [f"en {fr_t} {names[2]}"],
            "es": [f"en {es_t} {names[3]}"], "zh": [f"{zh_t}{names[4]}"]}


def _metre_phrases(metre: str) -> dict[str, list[str]]:
    m = re.match(r"^\s*(\d+)\s*/\s*(\d+)", metre)
    if metre.strip() in ("C", "C|"):
        m = re.match(r"(\d+)/(\d+)", "4/4" if metre.strip() == "C" else "2/2")
    if not m:
        return {}
    num, den = int(m.group(1)), int(m.group(2))
    out = {"en": [f"in {num}/{den}", f"in {num}/{den} time"], "de": [f"im {num}/{den}-Takt"],
           "fr": [f"à {num}/{den}", f"en mesure à {num}/{den}"], "es": [f"en compás de {num}/{den}"],
           "zh": [f"{num}/{den}拍"]}
    words = NUMBER_WORDS["en"]
    if num in words and den in (2, 4, 8):
        out["en"].append(f"in {words[num]}-{ {2: 'two', 4: 'four', 8: 'eight'}[den]} time")
    kind = METRE_KIND.get(num)
    if kind:
        for lang, phrase in zip(LANGS, kind):
            out[lang].append(phrase if lang != "en" else f"in {phrase}")
    return out


def _phrases(facts: dict) -> list[tuple[str, str, str]]:
    """(fact name, language, phrase) for every fact of the piece."""
    out: list[tuple[str, str, str]] = []

    def add(fact: str, table: dict[str, list[str]]) -> None:
        for lang, phrases in table.items():
            for p in phrases:
                out.append((fact, lang, p))

    if "tune_type" in facts:
        add("type", TUNE_TYPES[facts["tune_type"]])
    if facts.get("kind") == "folk":
        add("kind", FOLK_SONG)
    elif facts.get("kind") == "fiddle":
        add("kind", FIDDLE_TUNE)
    if "origin" in facts:
        add("origin", ORIGINS[facts["origin"]])
    for g in facts.get("genres", []):
        add("genre", GENRES[g])
    if "genre" in facts and facts["genre"] in WORK_GENRES:
        add("genre", WORK_GENRES[facts["genre"]])
    if "composer" in facts:
        c = COMPOSERS[facts["composer"]]
        add("composer", {"en": [f"by {c['short']}", f"a piece by {c['name']}", c["short"]],
                         "de": [f"von {c['short']}"], "fr": [f"de {c['short']}"], "es": [f"de {c['short']}"],
                         "zh": [f"{c['zh']}的作品", c["zh"]]})
        add("era", ERAS[c["era"]])
    if "metre" in facts:
        add("metre", _metre_phrases(facts["metre"]))
    if "key" in facts:
        add("key", _key_phrases(tuple(facts["key"])))
    voices = facts.get("voices")
    if voices and voices > 1:
        n = int(voices)
        add("voices", {lang: [tpl.format(n=NUMBER_WORDS[lang].get(n, str(n))), tpl.format(n=n)]
                       for lang, tpl in zip(LANGS, VOICE_WORDS["voices"])})
    elif voices == 1:
        add("voices", {lang: [p] for lang, p in zip(LANGS, VOICE_WORDS["melody"])})
    for name in facts.get("instruments", [])[:4]:
        if re.search(r"[A-Za-z]{3,}", name) and not re.search(r"\d{2,}", name):
            out.append(("instruments", "en", f"with a part for {name.strip()}"))
    bars = facts.get("bars")
    if bars:
        size = "short" if bars <= 16 else "long" if bars >= 64 else None
        if size:
            add("length", {lang: [p] for lang, p in zip(LANGS, LENGTH_WORDS[size])})
    rng_ = facts.get("range")
    if rng_:
        width = "narrow" if rng_ <= 9 else "wide" if rng_ >= 19 else None
        if width and voices == 1:
            add("range", {lang: [p] for lang, p in zip(LANGS, RANGE_WORDS[width])})
    return out


# facts a user classifies by (tune type, origin, composer): training draws them alone more often
KEY_FACTS = ("type", "origin", "composer")


def describe(facts: dict, rng: random.Random, sentences: int = 2) -> tuple[list[str], list[list[int]], list[int]]:
    """Single-fact phrases (every language) plus `sentences` composite descriptions.

    Also returns the groups: for each fact (and one for the sentences), the indices of its
    texts, so that training can draw facts evenly rather than phrases; and which groups
    hold KEY_FACTS.
    """
    phrases = _phrases(facts)
    texts = list(dict.fromkeys(p for _, _, p in phrases))
    index = {t: i for i, t in enumerate(texts)}
    groups: dict[str, list[int]] = {}
    for fact, _, p in phrases:
        if index[p] not in groups.setdefault(fact, []):
            groups[fact].append(index[p])
    by_lang: dict[str, dict[str, list[str]]] = {}
    for fact, lang, p in phrases:
        by_lang.setdefault(lang, {}).setdefault(fact, []).append(p)
    langs = [lang for lang in LANGS if lang in by_lang]
    for _ in range(sentences if langs else 0):
        lang = rng.choice(langs) if rng.random() < 0.6 else ("en" if "en" in by_lang else rng.choice(langs))
        facts_here = list(by_lang[lang])
        rng.shuffle(facts_here)
        chosen = [rng.choice(by_lang[lang][f]) for f in facts_here[: rng.randint(2, 4)]]
        sep = "，" if lang == "zh" else ", "
        sentence = sep.join(chosen)
        if sentence not in index:
            index[sentence] = len(texts)
            texts.append(sentence)
            groups.setdefault("sentence", []).append(index[sentence])
    names = list(groups)
    return texts, list(groups.values()), [i for i, name in enumerate(names) if name in KEY_FACTS]
