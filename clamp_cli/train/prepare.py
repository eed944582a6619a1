"""Training data for clamp-mini from the scores inside the `music21` package (nothing downloaded).

`prepare(out_dir)` writes

    out_dir/data.jsonl    one record per piece and format:
        {"music": "abc/oneills1850/0001-0050_12.abc", "texts": [...], "split": "train"|"heldout"|"unseen",
         "text_groups": [[0, 1], ...], "key_groups": [0], "piece": "oneills1850/0001-0050#12", "group": "...",
         "format": "abc"|"score"|"midi", "labels": {"tune_type": "jig", ...},
         "route": "varied"|"music21"|"performance"}   (MIDI records: how the file was made)
    (`text_groups`, optional for `clamp train`: the texts of each fact, drawn evenly;
    `key_groups`, optional: the groups of the facts users classify by, drawn alone more often)
    out_dir/abc/...       each ABC tune on its own, its metadata lines removed
    out_dir/scores/...    copies of the multi-voice works
    out_dir/midi/...      MIDI renderings of a share of the tunes and of every work

Paths are relative to the JSONL's folder. The answer never reaches the music text: titles,
`R:` (tune type), `O:` (origin), composers, notes and lyrics are stripped from ABC tunes, and
the interleaving step drops the title and composer lines of the works. The split is 90/10
by work (tunes sharing a title stay together; movements of one mass or quartet too), seeded,
and one whole collection, Ryan's Mammoth (`UNSEEN_COLLECTION`; `unseen` picks another of
`UNSEEN_CHOICES`), is never trained on: its tunes are the "unseen" split, and tunes of the other
collections whose title one of its tunes has are left out altogether, so that the same tune is
not learnt under another collection's name.

ABC (recipe 6): half of the training dance tunes written in 2/4 with semiquavers are written in cut
time instead (`cut_time`: the same notes, as most tune books write reels), fingerings and bowings
are dropped with the other marks, and a "jig" in 9/8 is labelled a slip jig.

MIDI (recipe 3): training tunes are rendered by `render` (varied resolution, tempo, tracks,
programs, velocities, accompaniment and timing), training works by music21's writer as in
recipe 1 (recipe 2 rendered works in varied styles too and lost composer recognition); held-out
and unseen pieces are rendered by music21's own writer (for tunes, a route training never
used), and a share of them also as humanised performances (route "performance").
"""

from __future__ import annotations

import json
import random
import re
import shutil
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import describe

ENTRIES = ("abc", "scores", "midi", "data.jsonl")   # what prepare writes into its folder (the index last)
HELDOUT_SHARE = 0.10
MIDI_SHARE_TUNES = 0.25          # of the training tunes (recipe 1's share; 0.40 cost text figures); held-out
                                 # and unseen tunes: all of them
PERFORMANCE_SHARE = 0.25         # of the held-out and unseen pieces with a MIDI rendering
UNSEEN_COLLECTION = "ryansMammoth"
UNSEEN_CHOICES = ("ryansMammoth", "oneills1850", "airdsAirs")   # the tune books a run can hold out whole
KEEP_HEADER = set("MLKQVP")  # ABC header fields the music keeps: metre, unit length, key, tempo, voices, parts


@dataclass
class Item:
    piece: str                       # stable id
    group: str                       # split unit
    collection: str
    facts: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)
    abc: str | None = None           # cleaned ABC tune
    score: Path | None = None        # a work's file in the corpus
    midi: bool = False               # also render to MIDI
    title: str = ""                  # normalised title (unseen-collection overlap)
    notated: str | None = None       # the ABC as training writes it, when not `abc` (cut_time)


def corpus_root() -> Path:
    import music21

    return Path(music21.__file__).parent / "corpus"


# -- ABC tunes ------------------------------------------------------------------

def header_fields(tune: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in tune.splitlines():
        m = re.match(r"^([A-Za-z]):\s*(.*)$", line)
        if m:
            out.setdefault(m.group(1), []).append(m.group(2).strip())
    return out


def clean_tune(tune: str, number: str) -> str:
    """The tune's music only: X:, metre, length, key, tempo, voices and the body; no text fields."""
    lines = [f"X:{number}"]
    for line in tune.splitlines():
        m = re.match(r"^([A-Za-z]):", line)
        if m:
            if m.group(1) in KEEP_HEADER:
                lines.append(line.rstrip())
            continue
        if line.lstrip().startswith("%"):
            continue
        line = QUOTED.sub(lambda m: "" if re.search(r"[A-Za-z]{3,}", m.group()) else m.group(), line)
        line = FINGERING.sub("", line)
        line = BOWING.sub("", line)
        line = line.split("%", 1)[0].rstrip()
        if line.strip():
            lines.append(line)
    return "\n".join(lines) + "\n"


# Marks one collection's editor added and the music does not need: fingerings ("^4", Ryan's Mammoth puts
# them on most of its tunes) and up/down bowings (u, v); left in, they tell the model the collection.
QUOTED = re.compile(r'"[^"]*"')     # chord symbols and annotations; text ones ("Fine", "D.C.") are dropped
FINGERING = re.compile(r'"[\^_<>@]?[0-5]"')
BOWING = re.compile(r'(?<![A-Za-z\[:"])[uv](?=[\^_=]*[A-Ga-gz(.~{])')


def body_bars(tune: str) -> int:
    body = [ln for ln in tune.splitlines() if not re.match(r"^[A-Za-z]:", ln)]
    return sum(ln.count("|") for ln in body)


def _title_key(fields: dict[str, list[str]]) -> str:
    title = (fields.get("T") or [""])[0].lower()
    title = re.sub(r"^(the|a|an)\s+", "", title)
    return re.sub(r"[^a-z0-9]+", "", title) or ""


def abc_items(path: Path, collection: str, origin: str | None, default_type: str | None,
              essen: bool = False) -> list[Item]:
    from ..formats.abc import split_tunes

    text = path.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    items = []
    for number, tune in split_tunes(text):
        fields = header_fields(tune)
        if "K" not in fields or body_bars(tune) < 2:
            continue
        piece = f"{collection}/{path.stem}#{number}"
        facts: dict = {"kind": "folk" if essen else "fiddle"}
        labels: dict = {}
        rhythm = " ".join(fields.get("R", [])).strip().lower()
        if essen:
            origin_field = " ".join(fields.get("O", []))
            place = next((v for k, v in describe.ESSEN_ORIGINS.items() if k in origin_field), None)
            if place:
                facts["origin"] = place
                labels["region"] = place
            genres = sorted({g for kw, g in describe.ESSEN_GENRES if kw in rhythm.replace(" ", "")})
            if genres:
                facts["genres"] = genres[:2]
        else:
            tune_type = describe.tune_type(rhythm) or default_type
            if not rhythm and not default_type:
                title = " ".join(fields.get("T", [])).lower()
                tune_type = describe.tune_type_from_title(title)
            metre_now = (fields.get("M") or [""])[-1].replace(" ", "")
            if tune_type == "jig" and metre_now == "9/8":
                tune_type = "slip jig"      # what a jig in 9/8 is; Ryan's Mammoth calls 24 of its 41 "jig"
            if tune_type:
                facts["tune_type"] = tune_type
                labels["tune_type"] = tune_type
            if origin:
                facts["origin"] = origin
        metre = (fields.get("M") or [""])[-1]
        if metre:
            facts["metre"] = metre
        key = describe.parse_abc_key((fields.get("K") or [""])[-1], essen=essen)
        if key:
            facts["key"] = key
        facts["bars"] = body_bars(tune)
        facts["voices"] = 1
        group = f"{collection}:{_title_key(fields) or piece}"
        items.append(Item(piece, group, collection, facts, labels, abc=clean_tune(tune, number),
                          title=_title_key(fields)))
    return items


# -- the other way of writing a reel ------------------------------------------------

CUT_TIME_SHARE = 0.5     # of the training dance tunes (not Essen's songs) written in 2/4 with semiquavers


def cut_time(abc: str) -> str | None:
    """A tune in 2/4 with L:1/16 rewritten in cut time, M:C| with L:1/8: the same text, every note's
    value doubled, so each 2/4 bar becomes one bar of 2/2, as most collections write reels and
    hornpipes. O'Neill's writes its reels in cut time, Ryan's Mammoth most of its in 2/4; a model
    that saw one way only does not know the other. None for any other tune (or one that changes
    metre or unit length inside its body).
    """
    lines = abc.splitlines()
    fields = [ln[0] for ln in lines if re.match(r"^[A-Za-z]:", ln)]
    value = {ln[0]: ln[2:].replace(" ", "") for ln in lines if re.match(r"^[ML]:", ln)}
    if value.get("M") != "2/4" or value.get("L") != "1/16" or fields.count("M") + fields.count("L") != 2 \
            or re.search(r"\[[ML]:", abc):
        return None
    out = ["M:C|" if ln.startswith("M:") else "L:1/8" if ln.startswith("L:") else ln
           for ln in lines if not ln.startswith("Q:")]
    return "\n".join(out) + "\n"


# -- multi-voice works ------------------------------------------------------------

def work_items(root: Path, rng: random.Random) -> list[Item]:
    out: list[Item] = []

    def add(path: Path, composer: str, genre: str | None, group: str) -> None:
        piece = f"{composer}/{path.relative_to(root / path.relative_to(root).parts[0]).as_posix()}"
        facts = {"composer": composer, "era": describe.COMPOSERS[composer]["era"]}
        if genre:
            facts["genre"] = genre
        out.append(Item(piece, f"{composer}:{group}", composer, facts, {"composer": composer}, score=path, midi=True))

    bach = sorted(p for p in (root / "bach").glob("bwv*.mxl"))
    for p in bach:
        add(p, "bach", "chorale", p.stem.split(".")[0].split("-")[0])
    pal = sorted((root / "palestrina").glob("*.krn"))
    for p in rng.sample(pal, min(260, len(pal))):
        add(p, "palestrina", "mass", p.stem.rsplit("_", 1)[-1])
    for p in sorted((root / "monteverdi").glob("*.mxl")):
        add(p, "monteverdi", "madrigal", p.stem)
    for p in sorted((root / "josquin").glob("*.abc")):
        add(p, "josquin", "motet", p.stem)
    trecento = sorted((root / "trecento").glob("*.xml"))
    for p in rng.sample(trecento, min(60, len(trecento))):
        add(p, "trecento", "ballata", p.stem)
    for composer in ("haydn", "mozart", "beethoven"):
        for p in sorted((root / composer).rglob("*")):
            if p.suffix in (".mxl", ".xml", ".krn") and p.is_file():
                work = p.relative_to(root / composer).parts[0].split(".")[0]
                add(p, composer, "string quartet" if composer != "mozart" or "k545" not in str(p) else "piano piece",
                    work)
    singles = {"corelli": None, "handel": None, "cpebach": None, "schubert": "song", "schumann_robert": "piano piece",
               "schumann_clara": "piano piece", "chopin": "piano piece", "weber": None, "verdi": None,
               "beach": "song", "joplin": "piano piece", "schoenberg": None, "webern": None, "ciconia": "motet"}
    for composer, genre in singles.items():
        for p in sorted((root / composer).rglob("*")):
            if p.suffix in (".mxl", ".xml", ".krn", ".abc") and p.is_file():
                add(p, composer, genre, p.stem)
    return out


def score_facts(path: str, routes: tuple[str, ...] = ("music21",), seed: int = 0) -> tuple[dict, dict, str | None]:
    """Worker: facts read from the music itself (voices, metre, key, length, range) and its MIDI
    renderings by route ("varied", "music21", "performance")."""
    import music21

    try:
        score = music21.converter.parse(path)
    except Exception as exc:  # noqa: BLE001 - music21 raises many types
        return {}, {}, f"{type(exc).__name__}: {str(exc)[:80]}"
    facts: dict = {}
    try:
        parts = list(score.parts) if hasattr(score, "parts") else []
        facts["voices"] = max(1, len(parts))
        names = [p.partName for p in parts if p.partName]
        if names:
            facts["instruments"] = names[:6]
        ts = next(iter(score.recurse().getElementsByClass("TimeSignature")), None)
        if ts is not None:
            facts["metre"] = ts.ratioString
        key = score.analyze("key")
        facts["key"] = (key.tonic.name.replace("-", "b"), key.mode)
        measures = parts[0].getElementsByClass("Measure") if parts else []
        facts["bars"] = len(measures)
        pitches = [p.midi for p in score.pitches]      # recursive already; .recurse() warned on stderr
        if pitches:
            facts["range"] = max(pitches) - min(pitches)
    except Exception:  # noqa: BLE001
        pass
    return facts, render_routes(score, routes, seed), None


def render_routes(score, routes: tuple[str, ...], seed: int) -> dict[str, bytes]:
    """The score's MIDI renderings by route; a route that fails is left out."""
    from . import render

    out: dict[str, bytes] = {}
    rng = random.Random(seed)
    key = render.key_of(score) if any(r != "music21" for r in routes) else None
    for route in routes:
        try:
            if route == "music21":
                out[route] = render.music21_midi(score)
            else:
                data = render.render(score, render.draw_style(rng, performance=route == "performance"), key)
                high = random.Random(seed ^ 0x9E3779B9)      # its own draws: the styles above stay as they were
                if route == "varied" and high.random() < render.HIGH_SHARE:
                    data = render.rescale(data, high.choice(render.HIGH_RESOLUTIONS))
                out[route] = data
        except Exception:  # noqa: BLE001 - odd scores: no rendering rather than no piece
            pass
    return out


def _score_facts_of(path: str, job: tuple) -> tuple[dict, dict, str | None]:
    return score_facts(path, *job)


def _abc_to_midi_of(abc: str, job: tuple) -> dict[str, bytes]:
    return abc_to_midi(abc, *job)


def _work_crashed(path: str) -> tuple[dict, dict, str]:
    return {}, {}, "music21 crashed on it"


def _tune_crashed(abc: str) -> dict:
    return {}


def abc_to_midi(abc: str, routes: tuple[str, ...] = ("music21",), seed: int = 0) -> dict[str, bytes]:
    """Worker: one cleaned ABC tune -> its MIDI renderings by route (empty when music21 cannot read it)."""
    import music21

    try:
        score = music21.converter.parseData(abc, format="abc")
    except Exception:  # noqa: BLE001
        return {}
    return render_routes(score, routes, seed)


# -- the whole set ----------------------------------------------------------------

def collect(rng: random.Random) -> list[Item]:
    root = corpus_root()
    items: list[Item] = []
    for p in sorted((root / "essenFolksong").glob("*.abc")):
        if not p.stem.startswith("test"):
            items += abc_items(p, "essen", None, None, essen=True)
    for p in sorted((root / "oneills1850").glob("*.abc")):
        items += abc_items(p, "oneills1850", "Irish", None)
    for p in sorted((root / "ryansMammoth").glob("*.abc")):
        items += abc_items(p, "ryansMammoth", None, None)
    for p in sorted((root / "airdsAirs").glob("*.abc")):
        items += abc_items(p, "airdsAirs", "Scottish", None)
    folk_origin = {"americanfifeopus": "American", "northumbrianminstrelsyopus": "English"}
    for p in sorted((root / "miscFolk").glob("*.abc")):
        items += abc_items(p, "miscFolk", folk_origin.get(p.stem), None)
    items += work_items(root, rng)
    return items


def heldout(group: str, seed: int) -> bool:
    return (zlib.crc32(f"{seed}:{group}".encode()) % 1000) < HELDOUT_SHARE * 1000


def split_of(it: Item, seed: int, unseen: str = UNSEEN_COLLECTION) -> str:
    if it.collection == unseen:
        return "unseen"
    return "heldout" if heldout(it.group, seed) else "train"


TUNE_ROUTES = ("varied", "music21")   # how training tunes are rendered to MIDI (recipe 3, recipe 1)


def routes_of(it: Item, split: str, rng: random.Random, tune_route: str = "varied") -> tuple[str, ...]:
    """The MIDI renderings a piece gets: for training, `tune_route` for tunes and music21's for works;
    music21's (+ a performance) otherwise."""
    if split == "train":
        return ("music21",) if it.score is not None else (tune_route,)
    return ("music21", "performance") if rng.random() < PERFORMANCE_SHARE else ("music21",)


def prepare(out_dir: str | Path, seed: int = 0, jobs: int | None = None,
            log: Callable[[str], None] = print, limit: int | None = None, tune_route: str = "varied",
            unseen: str = UNSEEN_COLLECTION) -> Path:
    """Write the training set; returns the JSONL path. `limit` keeps a seeded sample (tests);
    `tune_route` is how training tunes become MIDI (one of TUNE_ROUTES; works are always music21's);
    `unseen` is the collection held out whole (one of UNSEEN_CHOICES)."""
    if tune_route not in TUNE_ROUTES:
        raise ValueError(f"tune_route must be one of {TUNE_ROUTES}, not {tune_route!r}")
    if unseen not in UNSEEN_CHOICES:
        raise ValueError(f"unseen must be one of {UNSEEN_CHOICES}, not {unseen!r}")
    from ..formats.pool import map_files
    from ..fsutil import atomic_write

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    items = collect(rng)
    if limit:
        items = rng.sample(items, min(limit, len(items)))
    unseen_titles = {it.title for it in items if it.collection == unseen and it.title}
    overlap = [it for it in items if it.collection != unseen and it.title in unseen_titles]
    items = [it for it in items if it.collection == unseen or it.title not in unseen_titles]
    log(f"{len(items)} pieces from music21's corpus ({len(overlap)} left out: a tune of {unseen}, "
        f"held out whole, has their title)")
    splits = {it.piece: split_of(it, seed, unseen) for it in items}
    routes: dict[str, tuple[str, ...]] = {}
    for it in items:
        if it.abc is not None:
            it.midi = splits[it.piece] != "train" or rng.random() < MIDI_SHARE_TUNES
        if it.midi or it.score is not None:
            routes[it.piece] = routes_of(it, splits[it.piece], rng, tune_route)
    seeds = {it.piece: zlib.crc32(f"{seed}:{it.piece}".encode()) for it in items}
    rewritten = 0
    for it in items:
        if it.abc is not None and it.facts.get("kind") == "fiddle" and splits[it.piece] == "train" and \
                random.Random(seeds[it.piece] ^ 0x5EED).random() < CUT_TIME_SHARE:
            it.notated = cut_time(it.abc)
            if it.notated:
                it.facts["metre"] = "C|"
                rewritten += 1
    log(f"{rewritten} training dance tunes in 2/4 with semiquavers written in cut time instead")

    works = [it for it in items if it.score is not None]
    log(f"reading {len(works)} works with music21 (the quartets take a while)")
    work_results = dict(map_files(_score_facts_of, [str(it.score) for it in works], jobs, on_crash=_work_crashed,
                                  per_file=[(routes[it.piece], seeds[it.piece]) for it in works]))
    tunes_midi = [it for it in items if it.abc is not None and it.midi]
    log(f"rendering {len(tunes_midi)} tunes to MIDI")
    tune_midis = dict(zip([it.piece for it in tunes_midi],
                          (m for _, m in map_files(_abc_to_midi_of, [it.abc for it in tunes_midi], jobs,
                                                   on_crash=_tune_crashed,
                                                   per_file=[(routes[it.piece], seeds[it.piece])
                                                             for it in tunes_midi]))))

    records = []
    failed = 0
    for it in items:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", it.piece.replace("#", "_"))
        if it.score is not None:
            facts, midis, err = work_results[str(it.score)]
            if err:
                failed += 1
                continue
            it.facts.update(facts)
            music = Path("scores") / f"{stem}{it.score.suffix}"
            (out / music).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(it.score, out / music)
        else:
            music = Path("abc") / f"{stem}.abc"
            (out / music).parent.mkdir(parents=True, exist_ok=True)
            (out / music).write_text(it.notated or it.abc, encoding="utf-8")
            midis = tune_midis.get(it.piece) or {}
        texts, groups, key_groups = describe.describe(it.facts, random.Random(zlib.crc32(it.piece.encode()) + seed))
        split = splits[it.piece]
        base = {"texts": texts, "text_groups": groups, "key_groups": key_groups,
                "split": split, "piece": it.piece, "group": it.group, "labels": it.labels}
        records.append({"music": music.as_posix(), "format": "abc" if it.abc is not None else "score", **base})
        for route, midi in sorted(midis.items()):
            mpath = Path("midi") / f"{stem}{'' if route == 'varied' else '.' + route}.mid"
            (out / mpath).parent.mkdir(parents=True, exist_ok=True)
            (out / mpath).write_bytes(midi)
            records.append({"music": mpath.as_posix(), "format": "midi", "route": route, **base})
    target = out / "data.jsonl"
    atomic_write(target, lambda f: f.write("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                                    for r in records).encode("utf-8")))
    n_held = sum(r["split"] == "heldout" for r in records)
    n_unseen = sum(r["split"] == "unseen" for r in records)
    log(f"wrote {len(records)} records ({n_held} held out, {n_unseen} of the unseen collection, "
        f"{failed} works music21 could not read)")
    return target
