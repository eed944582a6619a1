"""Melody search (`clamp melody`'s matching), measured on real tunes and at scale.

1. Excerpt -> source tune on music21's ryansMammoth (1,000+ ABC tunes nobody here wrote): random
   excerpts of 6-16 notes from anywhere in a tune, as they are, transposed, ornamented (neighbour
   notes added), with the rhythm changed (dotted pairs), and all three; MRR and Hit@10 for each,
   beside the interval 4-gram TF-IDF cosine (the classical floor) on the same queries. A tune
   whose melody is note for note another's counts as the same tune.
2. Speed: p50 and p95 of one query over the same tunes, and over 100,000 synthetic tunes
   (random walks of 200 notes), after the index is built; the index's memory per tune.
3. Performance -> score (`--performances N`): N ryansMammoth tunes rendered as performances by
   clamp's training renderer (`clamp_cli/train/render.py`, performance style: humanised onsets
   and lengths, a drifting tempo with a ritardando, velocities shaped per phrase, sustain pedal,
   sometimes chords and bass, repeats sometimes written out), with ornaments added here (an upper
   or lower grace note, a tenth of a beat, before a sixth of the melody's notes): each
   performance's melody queries all the tunes; Hit@1 and MRR.
   Recordings (`--recordings N`): N excerpts of 8-24 notes (more where 24 last under 5 s) synthesised as audio (`synthesize`: four
   harmonics, 20 ms attack, 30 ms release, a decay, vibrato of 0-1.5% at 5.5 Hz, Gaussian noise 15
   to 30 dB below the signal, 22.05 kHz), transposed by -5 to +7 semitones, at a tempo making each
   5 to 15 seconds long: transcribed by `clamp melody`'s pitch tracker and searched; MRR, Hit@10,
   and the seconds from audio bytes to answer (p50, max).
   With `--semantic`, the bundled model's search on the same queries beside (excerpts as ABC,
   performances as the MIDI files they are): the piece's vector against each tune's.
4. Tune families (`--families`): the tunes of ryansMammoth, oneills1850 and airdsAirs whose
   titles (lower case, without articles, brackets and punctuation) appear in two or more of the
   three collections; each queries all the tunes of the three (its whole melody), relevant = the
   others of its title; MAP and MRR over the top 100, beside interval 4-gram TF-IDF; and
   `clamp melody --group` over all of them: how many same-title pairs it puts in one family, and
   how many of those tunes' family mates share their title (a lower bound on its precision: the
   collections hold the same tune under other names too).
   Chorale melodies (`--chorales`): Bach's chorale harmonisations in music21's corpus grouped by
   the chorale melody each sets (the title of music21's Riemenschneider list, which names the
   melody, not the verse: several cantatas set one melody, in other keys, metres and with other
   passing notes); each setting in a group of two or more queries all the settings (its soprano:
   the part named so), relevant = the others of its melody; MAP and MRR beside 4-gram TF-IDF.

    python benchmarks/melody_search.py [--queries 200] [--synthetic 100000] [--cache DIR]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from clamp_cli.formats.melody import Melody  # noqa: E402
from clamp_cli.index.melodies import melodies_of  # noqa: E402
from clamp_cli.index.store import FeatureStore  # noqa: E402
from clamp_cli.retrieval.melody import MelodyIndex  # noqa: E402
from clamp_cli.retrieval.melody import families as group_families  # noqa: E402
from clamp_cli.retrieval.metrics import ranked_list_metrics  # noqa: E402

VARIANTS = ("as is", "transposed", "ornamented", "rhythm changed", "all three")


def variant(m: Melody, kind: str, rng: random.Random) -> Melody:
    pitches, onsets, durations = m.pitches.astype(np.int16), m.onsets.copy(), m.durations.copy()
    if kind in ("transposed", "all three"):
        pitches = pitches + rng.choice([-7, -5, -3, 2, 4, 5])
    if kind in ("rhythm changed", "all three"):                 # even pairs dotted (long-short)
        for i in range(0, len(durations) - 1, 2):
            if durations[i] == durations[i + 1]:
                durations[i], durations[i + 1] = durations[i] * 1.5, durations[i] * 0.5
                onsets[i + 1] = onsets[i] + durations[i]
    if kind in ("ornamented", "all three"):                      # two neighbour notes, each halving a note
        for _ in range(2):
            k = rng.randrange(len(pitches))
            half = durations[k] / 2
            pitches = np.insert(pitches, k + 1, pitches[k] + rng.choice([-2, -1, 1, 2]))
            onsets = np.insert(onsets, k + 1, onsets[k] + half)
            durations[k] = half
            durations = np.insert(durations, k + 1, half)
    return Melody(pitches, onsets.astype(np.float32), durations.astype(np.float32), np.ones(len(pitches), np.int32))


class NgramTfidf:
    """The floor: interval 4-grams, TF-IDF weighted, cosine."""

    def __init__(self, melodies: list[Melody], n: int = 4):
        from collections import Counter

        self.n = n
        self.docs = [Counter(self.grams(m)) for m in melodies]
        df = Counter(g for d in self.docs for g in d)
        self.idf = {g: np.log(len(self.docs) / c) for g, c in df.items()}
        self.norms = [np.sqrt(sum((c * self.idf[g]) ** 2 for g, c in d.items())) or 1.0 for d in self.docs]

    def grams(self, m: Melody) -> list[tuple]:
        iv = np.diff(m.pitches.astype(np.int16)).tolist()
        return [tuple(iv[i:i + self.n]) for i in range(len(iv) - self.n + 1)]

    def rank(self, q: Melody) -> list[int]:
        from collections import Counter

        qg = Counter(self.grams(q))
        scores = np.zeros(len(self.docs))
        for i, d in enumerate(self.docs):
            scores[i] = sum(c * self.idf.get(g, 0) * d[g] * self.idf.get(g, 0) for g, c in qg.items() if g in d) \
                / self.norms[i]
        return list(np.argsort(-scores, kind="stable"))


def metrics(ranks: list[int | None]) -> tuple[float, float]:
    rr = [1 / (r + 1) if r is not None else 0.0 for r in ranks]
    return float(np.mean(rr)), float(np.mean([r is not None and r < 10 for r in ranks]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--synthetic", type=int, default=100_000)
    ap.add_argument("--candidates", type=int, default=200)
    ap.add_argument("--cache", type=Path, default=None, help="a cache directory to keep the tunes' melodies in")
    ap.add_argument("--performances", type=int, default=0, help="also 3., this many performances")
    ap.add_argument("--recordings", type=int, default=0, help="also this many synthesised recordings")
    ap.add_argument("--semantic", action="store_true", help="also the bundled model's search on 1. and 3.")
    ap.add_argument("--corpus-cache", type=Path, default=None, help="a cache directory for the model's vectors")
    ap.add_argument("--families", action="store_true", help="also 4., the tune families (reads 4,000 tunes)")
    ap.add_argument("--chorales", action="store_true", help="also 4., Bach's chorale settings by melody")
    args = ap.parse_args()
    import music21

    tunes = sorted((Path(music21.__file__).parent / "corpus" / "ryansMammoth").glob("*.abc"))
    store = FeatureStore(args.cache or tempfile.mkdtemp(prefix="clamp-melody-"))
    t0 = time.perf_counter()
    found = [r for r in melodies_of(store, tunes) if r.melody is not None and len(r.melody) >= 20]
    print(f"{len(found)} tune melodies from {len(tunes)} files of ryansMammoth in {time.perf_counter() - t0:.0f} s")
    melodies = [r.melody for r in found]
    same: dict[int, set[int]] = {}
    by_notes: dict[bytes, list[int]] = {}
    for i, m in enumerate(melodies):
        by_notes.setdefault(m.pitches.tobytes(), []).append(i)
    for group in by_notes.values():
        for i in group:
            same[i] = set(group)
    index = MelodyIndex(melodies)
    floor = NgramTfidf(melodies)
    rng = random.Random(0)
    queries = []
    for _ in range(args.queries):
        i = rng.randrange(len(melodies))
        n = rng.randrange(6, 17)
        a = rng.randrange(0, len(melodies[i]) - n)
        queries.append((i, melodies[i].excerpt(a, a + n)))
    semantic = Semantic(found, args.corpus_cache) if args.semantic else None
    times = []
    print(f"1. excerpt (6-16 notes) -> its tune among {len(melodies)}, {args.queries} queries:")
    for kind in VARIANTS:
        ours, base, model = [], [], []
        for i, excerpt in queries:
            q = variant(excerpt, kind, rng)
            t = time.perf_counter()
            hits = index.search(q, top=10, candidates=args.candidates)
            times.append(time.perf_counter() - t)
            ours.append(next((r for r, h in enumerate(hits) if h.piece in same[i]), None))
            order = floor.rank(q)
            base.append(next(r for r, j in enumerate(order) if j in same[i]))
            if semantic:
                model.append(semantic.rank_of(semantic.vector(melody_abc(q), ".abc"), same[i]))
        (mrr, hit), (bmrr, bhit) = metrics(ours), metrics(base)
        print(f"   {kind:15s} MRR {mrr:.3f} Hit@10 {hit:.3f}   (4-gram TF-IDF: MRR {bmrr:.3f} Hit@10 {bhit:.3f})"
              + (" (clamp-mini: MRR {:.3f} Hit@10 {:.3f})".format(*metrics(model)) if semantic else ""))
    print(f"2. one query over {len(melodies)} tunes: p50 {1000 * np.median(times):.1f} ms, "
          f"p95 {1000 * np.percentile(times, 95):.1f} ms; index {index.nbytes() / len(index):.0f} bytes a tune")
    if args.synthetic:
        srng = np.random.default_rng(0)
        steps = np.array([-5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 7, -7])
        synthetic = []
        for _ in range(args.synthetic):
            p = 62 + np.cumsum(srng.choice(steps, 200, p=None))
            p = np.clip(p, 48, 88).astype(np.int16)
            synthetic.append(Melody(p, np.arange(200, dtype=np.float32) * 0.5, np.full(200, 0.5, np.float32),
                                    np.arange(200, dtype=np.int32) // 8 + 1))
        t = time.perf_counter()
        big = MelodyIndex(synthetic)
        built = time.perf_counter() - t
        big_times = []
        for k in range(50):
            m = synthetic[k * 997 % len(synthetic)]
            a = k % 150
            q = variant(m.excerpt(a, a + 12), "ornamented", rng)
            t = time.perf_counter()
            big.search(q, top=10, candidates=args.candidates)
            big_times.append(time.perf_counter() - t)
        print(f"   over {len(synthetic)} synthetic tunes of 200 notes: p50 {1000 * np.median(big_times):.1f} ms, "
              f"p95 {1000 * np.percentile(big_times, 95):.1f} ms (index built in {built:.1f} s, "
              f"{big.nbytes() / len(big):.0f} bytes a tune)")


    if args.recordings:
        recordings(melodies, index, same, args.recordings, args.candidates)
    if args.performances:
        performances(found, index, same, args.performances, args.candidates, semantic)
    if args.families:
        families(store, args.candidates)
    if args.chorales:
        chorale_families(store, args.candidates)


def ornamented(data: bytes, rng: random.Random, share: float = 1 / 6) -> bytes:
    """A grace note (a step above or a semitone below, a tenth of a beat) before some of the
    melody channel's notes, the note itself starting that much later."""
    import io

    import mido

    mid = mido.MidiFile(file=io.BytesIO(data))
    grace = max(1, mid.ticks_per_beat // 10)
    for track in mid.tracks:
        now, events = 0, []
        for msg in track:
            now += msg.time
            events.append([now, msg])
        added = []
        for ev in events:
            msg = ev[1]
            if msg.type == "note_on" and msg.velocity > 0 and msg.channel == 0 and rng.random() < share:
                pitch = max(0, min(127, msg.note + rng.choice((2, -1))))
                added.append([ev[0], msg.copy(note=pitch)])
                added.append([ev[0] + grace, msg.copy(note=pitch, velocity=0)])
                ev[0] += grace
        events = sorted(events + added, key=lambda e: (e[0], e[1].type == "end_of_track"))
        track.clear()
        last = 0
        for tick, msg in events:
            track.append(msg.copy(time=tick - last))
            last = tick
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def performances(found, index: MelodyIndex, same: dict[int, set[int]], n: int, candidates: int,
                 semantic: Semantic | None) -> None:
    import music21

    from clamp_cli.formats.abc import split_tunes
    from clamp_cli.formats.melody import melody_from_midi
    from clamp_cli.train.render import draw_style, key_of, render

    rng = random.Random(1)
    texts: dict[tuple, str] = {}
    picked, ranks, times, model = 0, [], [], []
    t0 = time.perf_counter()
    for i in rng.sample(range(len(found)), len(found)):
        if picked == n:
            break
        r = found[i]
        if r.path not in {p for p, _ in texts}:
            for item, tune in split_tunes(r.path.read_text(encoding="latin-1")):
                texts[(r.path, item)] = tune
        tune = texts.get((r.path, r.item)) or texts.get((r.path, "1"))
        try:
            score = music21.converter.parse(tune, format="abc")
            midi = ornamented(render(score, draw_style(random.Random(i), performance=True), key_of(score)), rng)
            query = melody_from_midi(midi)
        except Exception:  # noqa: BLE001 - a tune music21 cannot render is not a query
            continue
        picked += 1
        t = time.perf_counter()
        hits = index.search(query, top=10, candidates=candidates)
        times.append(time.perf_counter() - t)
        ranks.append(next((k for k, h in enumerate(hits) if h.piece in same[i]), None))
        if semantic:
            model.append(semantic.rank_of(semantic.vector(midi, ".mid"), same[i]))
    hit1 = float(np.mean([r == 0 for r in ranks]))
    mrr, hit10 = metrics(ranks)
    print(f"3. performance -> its tune among {len(found)}, {len(ranks)} performances (rendered in "
          f"{time.perf_counter() - t0:.0f} s): Hit@1 {hit1:.3f} MRR {mrr:.3f} Hit@10 {hit10:.3f}; "
          f"a query p50 {1000 * np.median(times):.0f} ms")
    if semantic:
        mrr, hit10 = metrics(model)
        print(f"   clamp-mini on the same performances: Hit@1 {np.mean([r == 0 for r in model]):.3f} MRR {mrr:.3f} "
              f"Hit@10 {hit10:.3f}")


def synthesize(m: Melody, seconds_per_quarter: float, rng: random.Random, rate: int = 22050) -> np.ndarray:
    """A melody played by a simple synthesiser (the rule in the module's docstring)."""
    vibrato, noise_db = rng.uniform(0, 0.015), rng.uniform(-30, -15)
    out = []
    for p, d in zip(m.pitches.tolist(), m.durations.tolist()):
        length = max(d * seconds_per_quarter, 0.05)
        t = np.arange(int(length * rate)) / rate
        f = 440 * 2 ** ((p - 69) / 12) * (1 + vibrato * np.sin(2 * np.pi * 5.5 * t))
        phase = 2 * np.pi * np.cumsum(f) / rate
        tone = sum(a * np.sin(k * phase) for k, a in ((1, 1.0), (2, 0.5), (3, 0.25), (4, 0.12)))
        envelope = np.clip(np.minimum(t / 0.02, (length - t) / 0.03), 0, 1) * np.exp(-1.5 * t)
        out.append(tone * envelope)
    x = np.concatenate(out)
    x /= np.abs(x).max()
    return (x + np.random.default_rng(rng.randrange(2 ** 31)).normal(0, 10 ** (noise_db / 20), len(x))).astype(np.float32)


def recordings(melodies: list[Melody], index: MelodyIndex, same: dict[int, set[int]], n: int, candidates: int) -> None:
    from clamp_cli.models.pitch import recording_melody

    rng = random.Random(2)
    ranks, times, lengths = [], [], []
    recording_melody(_wav(synthesize(melodies[0].excerpt(0, 8), 0.5, rng)))     # the network built once
    for _ in range(n):
        i = rng.randrange(len(melodies))
        size = rng.randrange(8, 25)
        a = rng.randrange(0, len(melodies[i]) - size)
        while float(melodies[i].durations[a:a + size].sum()) * 1.2 < 5 and a + size < len(melodies[i]):
            size += 1                                   # long enough for 5 s at the slowest tempo
        excerpt = melodies[i].excerpt(a, a + size)
        quarters = float(excerpt.durations.sum())
        spq = min(max(rng.uniform(5, 15) / quarters, 0.25), 1.2)
        shifted = Melody(excerpt.pitches + rng.randint(-5, 7), excerpt.onsets, excerpt.durations, excerpt.bars)
        audio = synthesize(shifted, spq, rng)
        lengths.append(len(audio) / 22050)
        data = _wav(audio)
        t = time.perf_counter()
        query = recording_melody(data)
        hits = index.search(query, top=10, candidates=candidates) if len(query) >= 4 else []
        times.append(time.perf_counter() - t)
        ranks.append(next((r for r, h in enumerate(hits) if h.piece in same[i]), None))
    mrr, hit10 = metrics(ranks)
    print(f"   recordings ({n}, {min(lengths):.1f}-{max(lengths):.1f} s, synthesised): Hit@1 "
          f"{np.mean([r == 0 for r in ranks]):.3f} MRR {mrr:.3f} Hit@10 "
          f"{hit10:.3f}; audio to answer p50 {np.median(times):.2f} s, max {max(times):.2f} s "
          "(clamp-mini reads no audio: no semantic figure)")


def _wav(audio: np.ndarray, rate: int = 22050) -> bytes:
    import io

    import soundfile

    buf = io.BytesIO()
    soundfile.write(buf, audio, rate, format="WAV")
    return buf.getvalue()


def melody_abc(m: Melody) -> str:
    """A melody as an ABC tune (K:C, L:1/16, sharps), for the model's side of the comparison."""
    names = ("C", "^C", "D", "^D", "E", "F", "^F", "G", "^G", "A", "^A", "B")
    notes = []
    for p, d in zip(m.pitches.tolist(), m.durations.tolist()):
        octave, name = divmod(int(p), 12)
        letter = names[name]
        if octave >= 6:
            letter = letter.lower() + "'" * (octave - 6)
        else:
            letter = letter + "," * (5 - octave)
        notes.append(f"{letter}{max(1, round(d * 4))}")
    return "X:1\nL:1/16\nK:C\n" + " ".join(notes) + "\n"


class Semantic:
    """The bundled model's vectors of the tunes, and a query's rank of its tune among them."""

    def __init__(self, found, cache: Path | None):
        from clamp_cli.index.embedder import Embedder
        from clamp_cli.models import load_model

        self.encoder = load_model("clamp-mini", device="cpu")
        store = FeatureStore(cache or tempfile.mkdtemp(prefix="clamp-vectors-"))
        results = Embedder(self.encoder, store).embed_files(sorted({r.path for r in found}))
        store.close()
        vectors = {(r.path, r.item): r.vector for r in results if r.vector is not None}
        dim = self.encoder.dim
        self.tunes = np.stack([vectors.get((r.path, r.item), np.zeros(dim, np.float32)) for r in found])
        self.tunes /= np.maximum(np.linalg.norm(self.tunes, axis=1, keepdims=True), 1e-9)

    def vector(self, data: bytes | str, suffix: str) -> np.ndarray | None:
        from clamp_cli.formats.convert import music_pieces

        data = data.encode() if isinstance(data, str) else data
        piece = music_pieces(data, suffix, self.encoder.layout.music_text)[0]
        if piece.text is None:
            return None
        v = self.encoder.embed_music([piece.text])[0]
        return v / max(float(np.linalg.norm(v)), 1e-9)

    def rank_of(self, v: np.ndarray | None, relevant: set[int]) -> int | None:
        if v is None:
            return None
        order = np.argsort(-(self.tunes @ v), kind="stable")
        return next(k for k, j in enumerate(order.tolist()) if j in relevant)


def normal_title(title: str) -> str:
    import re

    title = re.sub(r"\(.*?\)", "", title.lower())
    title = re.sub(r"\b(the|a|an)\b", "", re.sub(r"[^a-z ]", "", title))
    return " ".join(title.split())


def family_metrics(index: MelodyIndex, family: list[str], queries: list[int],
                   candidates: int) -> tuple[dict, dict, list[float]]:
    """clamp eval melody's figures (ranked_list_metrics over the top 100) of whole-melody queries
    whose relevant pieces are the others of their family, ours and 4-gram TF-IDF's; query seconds."""
    melodies, floor = index.melodies, NgramTfidf(index.melodies)
    ours, base, relevant, times = [], [], [], []
    for i in queries:
        relevant.append({j for j, f in enumerate(family) if f == family[i] and j != i})
        t = time.perf_counter()
        ours.append([m.piece for m in index.search(melodies[i], top=101, candidates=candidates) if m.piece != i][:100])
        times.append(time.perf_counter() - t)
        base.append([j for j in floor.rank(melodies[i]) if j != i][:100])
    return ranked_list_metrics(ours, relevant), ranked_list_metrics(base, relevant), times


def chorale_families(store: FeatureStore, candidates: int) -> None:
    import re
    import unicodedata
    from collections import Counter

    import music21
    from music21.corpus import chorales

    def normal(title: str) -> str:
        title = unicodedata.normalize("NFKD", title.replace("\u2019", "'")).encode("ascii", "ignore").decode()
        return " ".join(re.sub(r"[^a-z ]", " ", title.lower()).split())

    melody_of = {}
    for entry in chorales.ChoraleListRKBWV().byRiemenschneider.values():
        melody_of.setdefault(str(entry["bwv"]), normal(entry["title"]))
    root = Path(music21.__file__).parent / "corpus" / "bach"
    files = [f for f in sorted(root.glob("bwv*.mxl")) if f.name[3:-4] in melody_of]
    found = [r for r in melodies_of(store, files) if r.melody is not None and len(r.melody) >= 16]
    family = [melody_of[r.path.name[3:-4]] for r in found]
    size = Counter(family)
    queries = [i for i, f in enumerate(family) if size[f] >= 2]
    ours, base, times = family_metrics(MelodyIndex([r.melody for r in found]), family, queries, candidates)
    print(f"4. chorale melodies: {len(queries)} settings of {sum(1 for n in size.values() if n >= 2)} melodies "
          f"set two or more times, among {len(found)} chorales: MAP {ours['map']:.3f} MRR {ours['mrr']:.3f}   "
          f"(4-gram TF-IDF: MAP {base['map']:.3f} MRR {base['mrr']:.3f}); a query p50 {1000 * np.median(times):.0f} ms")


def families(store: FeatureStore, candidates: int) -> None:
    import re

    import music21

    root = Path(music21.__file__).parent / "corpus"
    files = [f for c in ("ryansMammoth", "oneills1850", "airdsAirs") for f in sorted((root / c).glob("*.abc"))]
    t0 = time.perf_counter()
    found = [r for r in melodies_of(store, files) if r.melody is not None and len(r.melody) >= 16]
    titles = {}
    for f in files:
        for block in re.split(r"\n(?=X:)", f.read_text(errors="replace")):
            x, t = re.search(r"^X:\s*(\S+)", block, re.M), re.search(r"^T:(.*)$", block, re.M)
            if x and t:
                titles[(f, x.group(1))] = normal_title(t.group(1))
    title_of = [titles.get((r.path, r.item or "1"), "") for r in found]
    collection_of = [r.path.parent.name for r in found]
    by_title: dict[str, set[int]] = {}
    for i, t in enumerate(title_of):
        if len(t) > 3:
            by_title.setdefault(t, set()).add(i)
    queries = [i for members in by_title.values() if len({collection_of[j] for j in members}) >= 2 for i in members]
    melodies = [r.melody for r in found]
    print(f"4. tune families: {len(queries)} tunes in {sum(1 for m in by_title.values() if len({collection_of[j] for j in m}) >= 2)} "
          f"titles shared by two or three collections, among {len(melodies)} tunes (melodies read in "
          f"{time.perf_counter() - t0:.0f} s)")
    index = MelodyIndex(melodies)
    ours_m, base_m, times = family_metrics(index, title_of, queries, candidates)
    (m_ap, m_rr), (b_ap, b_rr) = (ours_m["map"], ours_m["mrr"]), (base_m["map"], base_m["mrr"])
    print(f"   MAP {m_ap:.3f} MRR {m_rr:.3f}   (4-gram TF-IDF: MAP {b_ap:.3f} MRR {b_rr:.3f}); "
          f"a whole-tune query p50 {1000 * np.median(times):.0f} ms")
    t = time.perf_counter()
    grouped = group_families(index)
    family_of = {i: k for k, members in enumerate(grouped) for i in members}
    wanted = {(i, j) for i in queries for j in by_title[title_of[i]] if j != i}
    together = sum(1 for i, j in wanted if i in family_of and family_of.get(j) == family_of[i])
    joined = [(i, j) for i in queries if i in family_of for j in grouped[family_of[i]] if j != i]
    print(f"   clamp melody --group over the {len(melodies)} tunes ({time.perf_counter() - t:.0f} s): "
          f"{len(grouped)} families holding {sum(map(len, grouped))} tunes; of the same-title pairs above "
          f"{together}/{len(wanted)} are in one family; of those tunes' family mates "
          f"{sum(1 for i, j in joined if title_of[j] == title_of[i])}/{len(joined)} share the title")


if __name__ == "__main__":
    main()
