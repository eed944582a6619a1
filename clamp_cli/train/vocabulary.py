"""Multilingual phrasings of the facts clamp-mini learns (English, German, French, Spanish, Chinese).

Several phrasings per fact and per language, so that "jig", "Gigue" and "吉格舞曲"
land on one point. Data only; `describe.py` composes them.
"""

from __future__ import annotations

LANGS = ("en", "de", "fr", "es", "zh")

# tune or dance type -> per language, a few phrasings
TUNE_TYPES: dict[str, dict[str, list[str]]] = {
    # the first phrase per language is the label phrase of `clamp train eval`; the bare words after
    # it are what users type ("waltz", "Walzer", "华尔兹")
    "reel": {"en": ["a reel", "reel", "a fast reel", "a fiddle reel", "a lively reel", "reels"],
             "de": ["ein Reel", "Reel", "ein schneller Reel"], "fr": ["un reel", "reel", "un reel rapide"],
             "es": ["un reel", "reel", "un reel rápido"], "zh": ["里尔舞曲", "里尔", "一首快速的里尔舞曲"]},
    "jig": {"en": ["a jig", "jig", "a lively jig", "a double jig", "an Irish jig", "jigs"],
            "de": ["eine Gigue", "Jig", "Gigue", "ein Jig"], "fr": ["une gigue", "gigue", "une gigue irlandaise"],
            "es": ["una giga", "giga", "jiga", "una jiga"], "zh": ["吉格舞曲", "吉格", "一首吉格舞曲"]},
    "slip jig": {"en": ["a slip jig", "slip jig", "a slip jig in 9/8"], "de": ["ein Slip Jig", "Slip Jig",
                 "eine Gigue im 9/8-Takt"], "fr": ["une slip jig", "slip jig", "une gigue à neuf-huit"],
                 "es": ["una slip jig", "slip jig", "una giga en 9/8"], "zh": ["滑步吉格舞曲", "滑步吉格", "一首9/8拍的吉格舞曲"]},
    "hornpipe": {"en": ["a hornpipe", "hornpipe", "a sailor's hornpipe", "hornpipes"],
                 "de": ["eine Hornpipe", "Hornpipe", "ein Hornpipe-Tanz"], "fr": ["un hornpipe", "hornpipe",
                 "une danse hornpipe"], "es": ["un hornpipe", "hornpipe", "una danza hornpipe"],
                 "zh": ["号笛舞曲", "号笛", "一首号笛舞曲"]},
    "strathspey": {"en": ["a strathspey", "strathspey", "a Scottish strathspey"],
                   "de": ["ein Strathspey", "Strathspey", "ein schottischer Strathspey"],
                   "fr": ["un strathspey", "strathspey", "un strathspey écossais"],
                   "es": ["un strathspey", "strathspey", "un strathspey escocés"],
                   "zh": ["斯特拉斯佩舞曲", "斯特拉斯佩", "一首苏格兰斯特拉斯佩舞曲"]},
    "highland fling": {"en": ["a highland fling", "highland fling", "a fling"], "de": ["ein Highland Fling"],
                       "fr": ["un highland fling"], "es": ["un highland fling"], "zh": ["高地舞曲"]},
    "clog": {"en": ["a clog dance", "clog dance", "a clog"], "de": ["ein Clog-Tanz", "ein Holzschuhtanz"],
             "fr": ["une danse en sabots"], "es": ["una danza de zuecos"], "zh": ["木屐舞曲"]},
    "air": {"en": ["an air", "air", "a slow air", "slow air", "a melody"], "de": ["eine Weise", "ein langsames Air"],
            "fr": ["un air", "un air lent"], "es": ["un aire", "una melodía lenta"], "zh": ["抒情曲调", "一首慢板曲调"]},
    "march": {"en": ["a march", "march", "a quick step march"], "de": ["ein Marsch", "Marsch", "ein Geschwindmarsch"],
              "fr": ["une marche", "marche", "un pas redoublé"], "es": ["una marcha", "marcha"],
              "zh": ["进行曲", "一首进行曲"]},
    "waltz": {"en": ["a waltz", "waltz", "a slow waltz", "a waltz in three-four time", "waltzes"],
              "de": ["ein Walzer", "Walzer"], "fr": ["une valse", "valse"], "es": ["un vals", "vals"],
              "zh": ["圆舞曲", "华尔兹", "一首华尔兹"]},
    "polka": {"en": ["a polka", "polka"], "de": ["eine Polka", "Polka"], "fr": ["une polka", "polka"],
              "es": ["una polca", "polca"], "zh": ["波尔卡舞曲", "波尔卡"]},
    "slide": {"en": ["a slide", "slide", "a Kerry slide"], "de": ["ein Slide"], "fr": ["une slide"], "es": ["un slide"],
              "zh": ["滑步舞曲"]},
}
TUNE_TYPE_ALIASES = {"slipjig": "slip jig", "double jig": "jig", "single jig": "jig", "fling": "highland fling",
                     "quick step": "march", "quickstep": "march", "walkaround": "march", "set dance": "hornpipe"}

# origin (English key) -> per language
ORIGINS: dict[str, dict[str, list[str]]] = {
    "Irish": {"en": ["Irish", "from Ireland"], "de": ["irisch", "aus Irland"], "fr": ["irlandais", "d'Irlande"],
              "es": ["irlandés", "de Irlanda"], "zh": ["爱尔兰"]},
    "Scottish": {"en": ["Scottish", "from Scotland"], "de": ["schottisch", "aus Schottland"],
                 "fr": ["écossais", "d'Écosse"], "es": ["escocés", "de Escocia"], "zh": ["苏格兰"]},
    "American": {"en": ["American", "from America"], "de": ["amerikanisch"], "fr": ["américain"],
                 "es": ["estadounidense"], "zh": ["美国"]},
    "English": {"en": ["English", "from England"], "de": ["englisch"], "fr": ["anglais"], "es": ["inglés"],
                "zh": ["英格兰"]},
    "German": {"en": ["German", "from Germany"], "de": ["deutsch", "aus Deutschland"], "fr": ["allemand"],
               "es": ["alemán"], "zh": ["德国"]},
    "Chinese": {"en": ["Chinese", "from China"], "de": ["chinesisch", "aus China"], "fr": ["chinois", "de Chine"],
                "es": ["chino", "de China"], "zh": ["中国"]},
    "Luxembourgish": {"en": ["Luxembourgish", "from Luxembourg"], "de": ["luxemburgisch", "aus Luxemburg"],
                      "fr": ["luxembourgeois"], "es": ["luxemburgués"], "zh": ["卢森堡"]},
    "Lorraine": {"en": ["from Lorraine"], "de": ["lothringisch", "aus Lothringen"], "fr": ["lorrain", "de Lorraine"],
                 "es": ["de Lorena"], "zh": ["洛林"]},
    "Dutch": {"en": ["Dutch", "from the Netherlands"], "de": ["niederländisch"], "fr": ["néerlandais"],
              "es": ["neerlandés"], "zh": ["荷兰"]},
    "Swiss": {"en": ["Swiss"], "de": ["schweizerisch", "aus der Schweiz"], "fr": ["suisse"], "es": ["suizo"],
              "zh": ["瑞士"]},
    "Austrian": {"en": ["Austrian"], "de": ["österreichisch"], "fr": ["autrichien"], "es": ["austriaco"], "zh": ["奥地利"]},
    "French": {"en": ["French"], "de": ["französisch"], "fr": ["français"], "es": ["francés"], "zh": ["法国"]},
    "Polish": {"en": ["Polish"], "de": ["polnisch"], "fr": ["polonais"], "es": ["polaco"], "zh": ["波兰"]},
    "Hungarian": {"en": ["Hungarian"], "de": ["ungarisch"], "fr": ["hongrois"], "es": ["húngaro"], "zh": ["匈牙利"]},
    "Czech": {"en": ["Czech", "Czechoslovak"], "de": ["tschechisch"], "fr": ["tchèque"], "es": ["checo"], "zh": ["捷克"]},
    "Russian": {"en": ["Russian"], "de": ["russisch"], "fr": ["russe"], "es": ["ruso"], "zh": ["俄罗斯"]},
    "Yugoslav": {"en": ["Yugoslav", "Balkan"], "de": ["jugoslawisch"], "fr": ["yougoslave"], "es": ["yugoslavo"],
                 "zh": ["南斯拉夫"]},
    "Romanian": {"en": ["Romanian"], "de": ["rumänisch"], "fr": ["roumain"], "es": ["rumano"], "zh": ["罗马尼亚"]},
    "Flemish": {"en": ["Flemish"], "de": ["flämisch"], "fr": ["flamand"], "es": ["flamenco de Flandes"], "zh": ["佛兰德"]},
    "European": {"en": ["European"], "de": ["europäisch"], "fr": ["européen"], "es": ["europeo"], "zh": ["欧洲"]},
    "Italian": {"en": ["Italian"], "de": ["italienisch"], "fr": ["italien"], "es": ["italiano"], "zh": ["意大利"]},
}
# Essen O: field (German) -> origin key
ESSEN_ORIGINS = {
    "Deutschland": "German", "China": "Chinese", "Luxemburg": "Luxembourgish", "Lothringen": "Lorraine",
    "Niederlande": "Dutch", "Schweiz": "Swiss", "Oesterreich": "Austrian", "Frankreich": "French", "Polen": "Polish",
    "Ungarn": "Hungarian", "Tschechoslowakei": "Czech", "UdSSR": "Russian", "Jugoslawien": "Yugoslav",
    "Rumaenien": "Romanian", "Flamen": "Flemish", "Brabant": "Flemish", "Irland": "Irish",
}

FOLK_SONG = {"en": ["a folk song", "a traditional folk song", "a folk melody"], "de": ["ein Volkslied", "eine Volksweise"],
             "fr": ["une chanson populaire", "une chanson folklorique"], "es": ["una canción popular", "una canción folclórica"],
             "zh": ["民歌", "一首民歌"]}
FIDDLE_TUNE = {"en": ["a fiddle tune", "a traditional dance tune"], "de": ["ein Geigenstück", "eine Tanzmelodie"],
               "fr": ["un air de violon", "un air de danse traditionnel"], "es": ["una melodía de violín", "una danza tradicional"],
               "zh": ["小提琴舞曲", "传统舞曲"]}

# Essen genre keywords (German, in R:) -> English key
ESSEN_GENRES = [
    ("wiegen", "lullaby"), ("kinder", "children's song"), ("liebe", "love song"), ("ballade", "ballad"),
    ("soldaten", "soldiers' song"), ("kriegs", "soldiers' song"), ("geistlich", "religious song"),
    ("religi", "religious song"), ("hochzeit", "wedding song"), ("abschied", "farewell song"),
    ("scherz", "humorous song"), ("tanz", "dance song"), ("arbeit", "work song"), ("trink", "drinking song"),
    ("xiaodiao", "xiaodiao"), ("shange", "mountain song"), ("haozi", "work song"),
]
GENRES: dict[str, dict[str, list[str]]] = {
    "lullaby": {"en": ["a lullaby", "a cradle song"], "de": ["ein Wiegenlied"], "fr": ["une berceuse"],
                "es": ["una canción de cuna"], "zh": ["摇篮曲"]},
    "children's song": {"en": ["a children's song"], "de": ["ein Kinderlied"], "fr": ["une comptine"],
                        "es": ["una canción infantil"], "zh": ["儿歌"]},
    "love song": {"en": ["a love song"], "de": ["ein Liebeslied"], "fr": ["une chanson d'amour"],
                  "es": ["una canción de amor"], "zh": ["情歌"]},
    "ballad": {"en": ["a ballad", "a narrative ballad"], "de": ["eine Ballade"], "fr": ["une ballade"],
               "es": ["una balada"], "zh": ["叙事歌"]},
    "soldiers' song": {"en": ["a soldiers' song", "a war song"], "de": ["ein Soldatenlied"],
                       "fr": ["une chanson de soldats"], "es": ["una canción de soldados"], "zh": ["士兵歌曲"]},
    "religious song": {"en": ["a religious song", "a sacred song"], "de": ["ein geistliches Lied"],
                       "fr": ["un chant religieux"], "es": ["una canción religiosa"], "zh": ["宗教歌曲"]},
    "wedding song": {"en": ["a wedding song"], "de": ["ein Hochzeitslied"], "fr": ["une chanson de mariage"],
                     "es": ["una canción de boda"], "zh": ["婚礼歌曲"]},
    "farewell song": {"en": ["a farewell song"], "de": ["ein Abschiedslied"], "fr": ["une chanson d'adieu"],
                      "es": ["una canción de despedida"], "zh": ["告别歌"]},
    "humorous song": {"en": ["a humorous song", "a funny song"], "de": ["ein Scherzlied"], "fr": ["une chanson comique"],
                      "es": ["una canción humorística"], "zh": ["诙谐歌曲"]},
    "dance song": {"en": ["a dance song"], "de": ["ein Tanzlied"], "fr": ["une chanson à danser"],
                   "es": ["una canción de baile"], "zh": ["舞蹈歌曲"]},
    "work song": {"en": ["a work song"], "de": ["ein Arbeitslied"], "fr": ["un chant de travail"],
                  "es": ["una canción de trabajo"], "zh": ["劳动号子"]},
    "drinking song": {"en": ["a drinking song"], "de": ["ein Trinklied"], "fr": ["une chanson à boire"],
                      "es": ["una canción de taberna"], "zh": ["饮酒歌"]},
    "xiaodiao": {"en": ["a xiaodiao ditty", "a Chinese minor tune (xiaodiao)"], "de": ["ein Xiaodiao-Lied"],
                 "fr": ["un xiaodiao"], "es": ["un xiaodiao"], "zh": ["小调"]},
    "mountain song": {"en": ["a mountain song (shan'ge)"], "de": ["ein Berglied (Shange)"], "fr": ["un chant des montagnes"],
                      "es": ["una canción de montaña"], "zh": ["山歌"]},
}

# composers of the classical works, with era and usual genre
COMPOSERS: dict[str, dict] = {
    "bach": {"name": "Johann Sebastian Bach", "short": "Bach", "era": "Baroque", "zh": "巴赫"},
    "palestrina": {"name": "Giovanni Pierluigi da Palestrina", "short": "Palestrina", "era": "Renaissance", "zh": "帕莱斯特里纳"},
    "monteverdi": {"name": "Claudio Monteverdi", "short": "Monteverdi", "era": "Renaissance", "zh": "蒙特威尔第"},
    "josquin": {"name": "Josquin des Prez", "short": "Josquin", "era": "Renaissance", "zh": "若斯坎"},
    "haydn": {"name": "Joseph Haydn", "short": "Haydn", "era": "Classical", "zh": "海顿"},
    "mozart": {"name": "Wolfgang Amadeus Mozart", "short": "Mozart", "era": "Classical", "zh": "莫扎特"},
    "beethoven": {"name": "Ludwig van Beethoven", "short": "Beethoven", "era": "Classical", "zh": "贝多芬"},
    "trecento": {"name": "an anonymous trecento composer", "short": "trecento", "era": "Medieval", "zh": "意大利新艺术"},
    "ciconia": {"name": "Johannes Ciconia", "short": "Ciconia", "era": "Medieval", "zh": "奇科尼亚"},
    "corelli": {"name": "Arcangelo Corelli", "short": "Corelli", "era": "Baroque", "zh": "科雷利"},
    "handel": {"name": "George Frideric Handel", "short": "Handel", "era": "Baroque", "zh": "亨德尔"},
    "cpebach": {"name": "Carl Philipp Emanuel Bach", "short": "C. P. E. Bach", "era": "Classical", "zh": "C·P·E·巴赫"},
    "schubert": {"name": "Franz Schubert", "short": "Schubert", "era": "Romantic", "zh": "舒伯特"},
    "schumann_robert": {"name": "Robert Schumann", "short": "Schumann", "era": "Romantic", "zh": "舒曼"},
    "schumann_clara": {"name": "Clara Schumann", "short": "Clara Schumann", "era": "Romantic", "zh": "克拉拉·舒曼"},
    "chopin": {"name": "Frédéric Chopin", "short": "Chopin", "era": "Romantic", "zh": "肖邦"},
    "weber": {"name": "Carl Maria von Weber", "short": "Weber", "era": "Romantic", "zh": "韦伯"},
    "verdi": {"name": "Giuseppe Verdi", "short": "Verdi", "era": "Romantic", "zh": "威尔第"},
    "beach": {"name": "Amy Beach", "short": "Beach", "era": "Romantic", "zh": "比奇"},
    "joplin": {"name": "Scott Joplin", "short": "Joplin", "era": "Ragtime", "zh": "乔普林"},
    "schoenberg": {"name": "Arnold Schoenberg", "short": "Schoenberg", "era": "Modern", "zh": "勋伯格"},
    "webern": {"name": "Anton Webern", "short": "Webern", "era": "Modern", "zh": "韦伯恩"},
}
ERAS = {
    "Medieval": {"en": ["medieval music", "music of the fourteenth century"], "de": ["mittelalterliche Musik"],
                 "fr": ["musique médiévale"], "es": ["música medieval"], "zh": ["中世纪音乐"]},
    "Renaissance": {"en": ["Renaissance polyphony", "music of the Renaissance"], "de": ["Musik der Renaissance"],
                    "fr": ["polyphonie de la Renaissance"], "es": ["polifonía renacentista"], "zh": ["文艺复兴时期的复调音乐"]},
    "Baroque": {"en": ["Baroque music", "a Baroque piece"], "de": ["Barockmusik"], "fr": ["musique baroque"],
                "es": ["música barroca"], "zh": ["巴洛克音乐"]},
    "Classical": {"en": ["music of the Classical era", "Viennese classical music"], "de": ["Wiener Klassik"],
                  "fr": ["musique de la période classique"], "es": ["música del clasicismo"], "zh": ["古典主义时期音乐"]},
    "Romantic": {"en": ["Romantic music", "a nineteenth-century piece"], "de": ["Musik der Romantik"],
                 "fr": ["musique romantique"], "es": ["música romántica"], "zh": ["浪漫主义音乐"]},
    "Ragtime": {"en": ["ragtime"], "de": ["Ragtime"], "fr": ["ragtime"], "es": ["ragtime"], "zh": ["拉格泰姆"]},
    "Modern": {"en": ["twentieth-century modernist music"], "de": ["Musik der Moderne"], "fr": ["musique moderne"],
               "es": ["música moderna"], "zh": ["现代音乐"]},
}
# work genres of the classical collections
WORK_GENRES: dict[str, dict[str, list[str]]] = {
    "chorale": {"en": ["a chorale", "a four-part chorale", "a hymn harmonisation"], "de": ["ein Choral", "ein vierstimmiger Choral"],
                "fr": ["un choral", "un choral à quatre voix"], "es": ["un coral", "un coral a cuatro voces"],
                "zh": ["众赞歌", "四声部众赞歌"]},
    "mass": {"en": ["a mass movement", "sacred polyphony"], "de": ["ein Messsatz", "geistliche Polyphonie"],
             "fr": ["un mouvement de messe"], "es": ["un movimiento de misa"], "zh": ["弥撒曲"]},
    "madrigal": {"en": ["a madrigal", "an Italian madrigal"], "de": ["ein Madrigal"], "fr": ["un madrigal"],
                 "es": ["un madrigal"], "zh": ["牧歌"]},
    "string quartet": {"en": ["a string quartet", "a movement of a string quartet"], "de": ["ein Streichquartett"],
                       "fr": ["un quatuor à cordes"], "es": ["un cuarteto de cuerda"], "zh": ["弦乐四重奏"]},
    "motet": {"en": ["a motet"], "de": ["eine Motette"], "fr": ["un motet"], "es": ["un motete"], "zh": ["经文歌"]},
    "ballata": {"en": ["a ballata", "a trecento song"], "de": ["eine Ballata"], "fr": ["une ballata"],
                "es": ["una ballata"], "zh": ["巴拉塔"]},
    "piano piece": {"en": ["a piano piece"], "de": ["ein Klavierstück"], "fr": ["une pièce pour piano"],
                    "es": ["una pieza para piano"], "zh": ["钢琴曲"]},
    "song": {"en": ["an art song"], "de": ["ein Kunstlied"], "fr": ["une mélodie"], "es": ["una canción de concierto"],
             "zh": ["艺术歌曲"]},
}

NUMBER_WORDS = {
    "en": {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 12: "twelve"},
    "de": {1: "ein", 2: "zwei", 3: "drei", 4: "vier", 5: "fünf", 6: "sechs", 7: "sieben", 8: "acht", 9: "neun", 12: "zwölf"},
    "fr": {1: "un", 2: "deux", 3: "trois", 4: "quatre", 5: "cinq", 6: "six", 7: "sept", 8: "huit", 9: "neuf", 12: "douze"},
    "es": {1: "uno", 2: "dos", 3: "tres", 4: "cuatro", 5: "cinco", 6: "seis", 7: "siete", 8: "ocho", 9: "nueve", 12: "doce"},
    "zh": {1: "一", 2: "二", 3: "三", 4: "四", 5: "五", 6: "六", 7: "七", 8: "八", 9: "九", 12: "十二"},
}
METRE_KIND = {  # numerator -> (en, de, fr, es, zh)
    2: ("duple metre", "Zweiertakt", "mesure binaire", "compás binario", "二拍子"),
    3: ("triple metre", "Dreiertakt", "mesure ternaire", "compás ternario", "三拍子"),
    4: ("common time", "Vierertakt", "mesure à quatre temps", "compás de cuatro tiempos", "四拍子"),
    6: ("compound duple metre", "zusammengesetzter Zweiertakt", "mesure composée à deux temps", "compás compuesto", "复二拍子"),
    9: ("compound triple metre", "zusammengesetzter Dreiertakt", "mesure composée à trois temps", "compás compuesto ternario", "复三拍子"),
    12: ("compound quadruple metre", "zusammengesetzter Vierertakt", "mesure à douze-huit", "compás de doce por ocho", "复四拍子"),
}
NOTE_NAMES = {"fr": dict(zip("CDEFGAB", ["do", "ré", "mi", "fa", "sol", "la", "si"])),
              "es": dict(zip("CDEFGAB", ["do", "re", "mi", "fa", "sol", "la", "si"]))}
MODES = {  # mode -> (en, de, fr, es, zh)
    "major": ("major", "Dur", "majeur", "mayor", "大调"),
    "minor": ("minor", "Moll", "mineur", "menor", "小调"),
    "dorian": ("dorian", "dorisch", "dorien", "dórico", "多利亚调式"),
    "mixolydian": ("mixolydian", "mixolydisch", "mixolydien", "mixolidio", "混合利底亚调式"),
    "phrygian": ("phrygian", "phrygisch", "phrygien", "frigio", "弗里几亚调式"),
    "lydian": ("lydian", "lydisch", "lydien", "lidio", "利底亚调式"),
    "aeolian": ("aeolian", "äolisch", "éolien", "eólico", "爱奥利亚调式"),
}
VOICE_WORDS = {  # (en, de, fr, es, zh) templates with {n}
    "voices": ("for {n} voices", "für {n} Stimmen", "à {n} voix", "a {n} voces", "{n}声部"),
    "melody": ("a single melody line", "eine einstimmige Melodie", "une mélodie seule", "una sola línea melódica", "单声部旋律"),
}
LENGTH_WORDS = {
    "short": ("a short piece", "ein kurzes Stück", "une pièce courte", "una pieza corta", "短小的乐曲"),
    "long": ("a long piece", "ein langes Stück", "une longue pièce", "una pieza larga", "篇幅较长的乐曲"),
}
RANGE_WORDS = {
    "narrow": ("a melody with a narrow range", "eine Melodie mit kleinem Tonumfang", "une mélodie d'ambitus étroit",
               "una melodía de ámbito estrecho", "音域狭窄的旋律"),
    "wide": ("a melody with a wide range", "eine Melodie mit großem Tonumfang", "une mélodie d'ambitus large",
             "una melodía de ámbito amplio", "音域宽广的旋律"),
}
