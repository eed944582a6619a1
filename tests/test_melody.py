"""Melodies out of scores (formats.melody) and melody matching (retrieval.melody): the line each
route picks, and a phrase found in any key, with ornaments, and where it is."""

from __future__ import annotations

import io

import mido
import numpy as np
import pytest

from clamp_cli.errors import InputError
from clamp_cli.formats.melody import Melody, melodies, melody_from_abc_notes, melody_from_midi, melody_from_musicxml
from clamp_cli.retrieval.melody import MelodyIndex, align, symbols

JIG = "DFA dAF|GBd gfe|dcB AFD|EFG FED"
TUNES = {
    "jig": "X:1\nT:Jig\nM:6/8\nL:1/8\nK:D\n" + JIG + "|\nfed cBA|Bcd ecA|dfa gfe|fd d d3|\n",
    "reel": "X:2\nT:Reel\nM:4/4\nL:1/8\nK:G\nGABc dedB|dedB dedB|c2ec B2dB|c2A2 A2BA|\n",
    "air": "X:3\nT:Air\nM:3/4\nL:1/4\nK:Am\nA2 B|c2 d|e3|dcB|A2 G|E3|\n",
    "march": "X:4\nT:March\nM:2/4\nL:1/8\nK:A\nAB cd|ec ec|fe dc|B2 B2|AB cd|ec ea|\n",
}


def melody_of(abc: str) -> Melody:
    (_, found), = melodies(abc.encode(), ".abc")
    assert isinstance(found, Melody), found
    return found


def test_abc_notes_typed_as_a_query():
    m = melody_from_abc_notes("DFA dAF|GBd gfe")
    assert m.pitches.tolist() == [62, 65, 69, 74, 69, 65, 67, 71, 74, 79, 77, 76]
    assert m.durations.tolist() == [0.5] * 12 and m.bars.tolist() == [1] * 6 + [2] * 6
    assert melody_from_abc_notes("K:D\nL:1/4\nF A d").pitches.tolist() == [66, 69, 74]     # K: sharpens F
    for bad in ("", "   ", "K:D"):
        with pytest.raises(InputError):
            melody_from_abc_notes(bad)


def test_a_multi_tune_file_gives_a_melody_per_tune_and_a_reason_for_a_bad_one():
    text = TUNES["jig"] + "\n" + TUNES["air"] + "\nX:9\nT:Empty\nK:C\nz4|\n"
    found = melodies(text.encode(), ".abc")
    assert [item for item, _ in found] == ["1", "3", "9"]
    assert [len(m) for _, m in found[:2]] == [len(melody_of(TUNES["jig"])), len(melody_of(TUNES["air"]))]
    assert found[2][1] == "no notes to make a melody of"


def midi_file(tracks: list[tuple[str, int, list[tuple[int, int, int]]]], tpb: int = 480) -> bytes:
    """Tracks of (name, channel, [(start tick, end tick, pitch)]) as a type-1 file in 3/4."""
    mid = mido.MidiFile(type=1, ticks_per_beat=tpb)
    meta = mido.MidiTrack([mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0)])
    mid.tracks.append(meta)
    for name, channel, notes in tracks:
        events = [(s, 1, mido.Message("note_on", channel=channel, note=p, velocity=80)) for s, _, p in notes]
        events += [(e, 0, mido.Message("note_off", channel=channel, note=p, velocity=0)) for _, e, p in notes]
        track, now = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)]), 0
        for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
            track.append(msg.copy(time=tick - now))
            now = tick
        mid.tracks.append(track)
    out = io.BytesIO()
    mid.save(file=out)
    return out.getvalue()


def test_the_melody_of_a_midi_file():
    tune = [(i * 480, (i + 1) * 480, p) for i, p in enumerate([67, 69, 71, 72, 74, 72, 71, 69, 67])]
    chords = [(i * 1440, (i + 1) * 1440, p) for i in range(3) for p in (48, 52, 55)]
    drums = [(i * 240, i * 240 + 100, 80) for i in range(36)]
    high_pad = [(0, 4320, 96)]                          # high, but one note: not the melody
    m = melody_from_midi(midi_file([("Piano", 0, chords), ("Pad", 2, high_pad), ("Drums", 9, drums),
                                    ("Fiddle", 1, tune)]))
    assert m.pitches.tolist() == [67, 69, 71, 72, 74, 72, 71, 69, 67]
    assert m.onsets.tolist() == list(range(9)) and m.bars.tolist() == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    # a track named as the melody wins over a higher one; chords in it give their top note
    low = [(i * 480, (i + 1) * 480, p - 24) for i, (_, _, p) in enumerate(tune)]
    named = melody_from_midi(midi_file([("Fiddle", 1, tune), ("Melody", 0, low + [(0, 480, 30)])]))
    assert named.pitches.tolist() == [p - 24 for p in [67, 69, 71, 72, 74, 72, 71, 69, 67]]
    with pytest.raises(InputError):
        melody_from_midi(midi_file([("Drums", 9, drums)]))


def test_the_melody_of_a_musicxml_score():
    """First staff only, grace notes out, ties joined, a chord's top note, a second voice under it."""
    def note(step, octave, duration, extra="", staff=1, voice=1):
        return (f"<note>{extra}<pitch><step>{step}</step><octave>{octave}</octave></pitch>"
                f"<duration>{duration}</duration><voice>{voice}</voice><staff>{staff}</staff></note>")
    measure1 = ("<attributes><divisions>2</divisions><time><beats>2</beats><beat-type>4</beat-type></time></attributes>"
                + note("G", 4, 0, "<grace/>") + note("A", 4, 2) + note("C", 5, 2, '<tie type="start"/>')
                + "<backup><duration>4</duration></backup>" + note("D", 4, 4, voice=2)
                + "<backup><duration>4</duration></backup>" + note("C", 3, 4, staff=2, voice=5))
    measure2 = (note("C", 5, 2, '<tie type="stop"/>') + note("E", 5, 2) + note("G", 5, 2, "<chord/>"))
    xml = ('<?xml version="1.0"?><score-partwise version="3.1"><part-list><score-part id="P1"/></part-list>'
           f'<part id="P1"><measure number="1">{measure1}</measure><measure number="2">{measure2}</measure>'
           "</part></score-partwise>").encode()
    m = melody_from_musicxml(xml)
    assert m.pitches.tolist() == [69, 72, 79]           # A4, C5 held over the bar, then the chord's G5
    assert m.onsets.tolist() == [0.0, 1.0, 3.0] and m.durations.tolist() == [1.0, 2.0, 1.0]
    assert m.bars.tolist() == [1, 1, 2]


@pytest.fixture(scope="module")
def index() -> MelodyIndex:
    return MelodyIndex([melody_of(TUNES[name]) for name in TUNES])


def test_a_phrase_is_found_in_any_key_and_where_it_is(index):
    names = list(TUNES)
    second_part = "fed cBA|Bcd ecA"                     # bars 5-6 of the jig
    for key in ("D", "F", "Bb"):                       # the same phrase, written in other keys
        query = melody_from_abc_notes(f"K:{key}\n{second_part}" if key == "D" else
                                      f"K:{key}\n" + {"F": "agf edc|def gec", "Bb": "dcB AGF|GAB cAF"}[key])
        hits = index.search(query, top=4)
        assert names[hits[0].piece] == "jig" and hits[0].score == pytest.approx(1.25), (key, hits)
        jig = index.melodies[hits[0].piece]
        assert jig.bars[hits[0].first_note] == 5 and jig.bars[hits[0].last_note] == 6
        # the march holds the phrase too (bars 3-6: a B repeated, another last note): second, below
        assert names[hits[1].piece] == "march" and hits[1].score < 1.1 and all(h.score < 0.6 for h in hits[2:])


def test_ornaments_and_modes(index):
    plain = melody_from_abc_notes("K:D\nfed cBA|Bcd ecA")
    ornamented = melody_from_abc_notes("K:D\nf/g/ed cBA|Bc/d/d ecA")  # a neighbour note, a repeated note
    contour_only = melody_from_abc_notes("K:D\nfdc BAG|ABc dBA")     # same ups and downs, other steps
    jig = list(TUNES).index("jig")
    assert index.search(ornamented, top=1)[0].piece == jig
    # a path scoring 23.5 of 26 exists (each added note merged into its neighbour's interval, two
    # rhythms off); the best alignment is at least that, and below the plain phrase's 1.25
    assert 23.5 / 26 <= index.search(ornamented)[0].score < 1.0
    exact = MelodyIndex(index.melodies, mode="exact")
    assert exact.search(plain)[0].piece == jig and exact.search(plain)[0].score == pytest.approx(1.25)
    assert exact.search(ornamented) == []                                    # no ornaments in exact mode
    contour = MelodyIndex(index.melodies, mode="contour")
    assert contour.search(contour_only, top=1)[0].piece == jig
    with pytest.raises(InputError):
        index.search(melody_from_abc_notes("K:D\nDFA"))                     # three notes say too little


def test_alignment_keeps_targets_apart():
    """A phrase split across two targets laid end to end matches neither whole."""
    q = np.array([2, 2, 1, 2, 2, 2, 1], dtype=np.int16)
    r = np.zeros(len(q), dtype=np.int8)
    first, second = q[:4].copy(), q[4:].copy()
    scores, _, _ = align(q, r, [first, second, q], [np.zeros(4, np.int8), np.zeros(3, np.int8), r])
    assert scores.tolist() == pytest.approx([2.5 * 4 / 14, 2.5 * 3 / 14, 2.5 * 7 / 14])   # each its own part
    with pytest.raises(InputError):
        symbols(Melody(q, q, q, q), "tonal")


@pytest.fixture
def tune_folder(tmp_path):
    folder = tmp_path / "tunes"
    folder.mkdir()
    for name, abc in TUNES.items():
        (folder / f"{name}.abc").write_text(abc)
    (folder / "book.abc").write_text(TUNES["reel"] + "\n" + TUNES["air"].replace("X:3", "X:7"))
    (folder / "rests.abc").write_text("X:1\nT:Rests\nK:C\nz4|z4|\n")
    jig = melody_of(TUNES["jig"])
    (folder / "jig-in-g.mid").write_bytes(midi_file([("Fiddle", 0, [
        (int(on * 480), int((on + d) * 480), int(p) - 7) for on, d, p in zip(jig.onsets, jig.durations, jig.pitches)])]))
    (folder / "notes.txt").write_text("not music")
    return folder


def clamp(args, cache):
    from typer.testing import CliRunner

    from clamp_cli.cli.main import app

    result = CliRunner().invoke(app, [str(a) for a in args], env={"CLAMP_CACHE_DIR": str(cache), "NO_COLOR": "1"},
                                catch_exceptions=False)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_clamp_melody_finds_the_tune_and_its_bars(tune_folder, tmp_path):
    import json

    from clamp_cli.index.melodies import MELODY_MODEL, prep_of
    from clamp_cli.index.store import FeatureStore

    cache = tmp_path / "cache"
    got = clamp(["melody", "--notes", "K:F\\nagf edc|def gec", tune_folder, "--json"], cache)
    assert got.exit_code == 1                                       # one file has no melody; the rest is ranked
    assert got.stderr.count("clamp: error:") == 1 and "rests.abc: no notes to make a melody of" in got.stderr
    assert "1 recording(s) or text(s) left out" in got.stderr
    records = json.loads(got.stdout)
    assert [(r["path"].rsplit("/", 1)[1], r["bars"]) for r in records[:2]] == [("jig-in-g.mid", "5-6"),
                                                                            ("jig.abc", "5-6")]
    assert records[0]["score"] == records[1]["score"] == 1.25 and records[2]["path"].endswith("march.abc")
    stored = FeatureStore(cache)
    rows = stored.db.execute("SELECT count(*) FROM features WHERE model = ? AND prep = ?",
                             (MELODY_MODEL, prep_of(False))).fetchone()[0]
    assert rows == 7                  # 4 tunes, the MIDI file, the two of the book; none for rests.abc
    # cached: the same answer; an edited file is read again
    assert json.loads(clamp(["melody", "--notes", "K:F\\nagf edc|def gec", tune_folder, "--json"], cache).stdout) \
        == records
    (tune_folder / "jig.abc").write_text(TUNES["reel"].replace("X:2", "X:1"))
    again = json.loads(clamp(["melody", "--notes", "K:F\\nagf edc|def gec", tune_folder, "--json"], cache).stdout)
    assert not any(r["path"].endswith("jig.abc") and r["score"] > 1 for r in again)


def test_clamp_melody_from_a_piece_and_its_bars(tune_folder, tmp_path):
    cache = tmp_path / "cache"
    got = clamp(["melody", "--music", tune_folder / "jig.abc", "--bars", "5-6", tune_folder / "jig-in-g.mid",
                 tune_folder / "march.abc", tune_folder / "jig.abc", "-f"], cache)
    assert got.exit_code == 0, got.stderr
    assert got.stdout.splitlines() == [str(tune_folder / "jig-in-g.mid"), str(tune_folder / "march.abc")]
    got = clamp(["melody", "--music", f"{tune_folder / 'book.abc'}#7", tune_folder / "air.abc", "--jsonl"], cache)
    assert got.exit_code == 0 and '"bars": "1-6"' in got.stdout, (got.stdout, got.stderr)


@pytest.mark.parametrize("args, says", [
    (["--notes", "DFA"], "needs at least 4 notes"),
    (["--notes", ""], "no notes in the melody query"),
    (["--notes", "K:D\n[[[ ))"], "melody query"),
    (["--notes", "DFAd", "--music", "x.abc"], "--notes 'ABC notes' or --music"),
    ([], "--notes 'ABC notes' or --music"),
    (["--music", "{folder}/book.abc"], "holds 2 tunes: name one as"),
    (["--music", "{folder}/jig.abc", "--bars", "40-41"], "has no bar 40-41 (its bars: 1-8)"),
    (["--music", "{folder}/jig.abc", "--bars", "x"], "--bars takes a bar or a range"),
    (["--notes", "DFAd", "--mode", "tonal"], "--mode must be"),
    (["--music", "{folder}/book.abc#9"], "book.abc#9: no tune X:9 in the file"),
    (["--music", "{folder}/jig.abc", "--bars", "5-"], "--bars takes a bar or a range"),
])
def test_clamp_melody_refuses_a_bad_query_in_one_line(tune_folder, tmp_path, args, says):
    got = clamp(["melody", *[a.format(folder=tune_folder) for a in args], tune_folder], tmp_path / "cache")
    assert got.exit_code == 2, (got.exit_code, got.stderr)
    lines = got.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], lines


def score_xml(measures: list[str], parts: str = "") -> bytes:
    return ('<?xml version="1.0"?><score-partwise version="3.1"><part-list><score-part id="P1"/></part-list>'
            '<part id="P1">' + "".join(f'<measure number="{i + 1}">{m}</measure>' for i, m in enumerate(measures))
            + "</part>" + parts + "</score-partwise>").encode()


def xnote(step, octave, duration, extra="", voice=1):
    return (f"<note>{extra}<pitch><step>{step}</step><octave>{octave}</octave></pitch>"
            f"<duration>{duration}</duration><voice>{voice}</voice></note>")


def test_the_score_rule_in_harder_cases():
    div = "<attributes><divisions>1</divisions></attributes>"
    # a chord whose first note continues a tie: the chord's top note keeps the chord's onset
    tied = melody_from_musicxml(score_xml([div + xnote("C", 5, 2) + xnote("G", 4, 2, '<tie type="start"/>'),
                                           xnote("G", 4, 2, '<tie type="stop"/>') + xnote("E", 5, 2, "<chord/>")
                                           + xnote("F", 5, 2)]))
    assert tied.pitches.tolist() == [72, 67, 76, 77] and tied.onsets.tolist() == [0, 2, 4, 6]
    # a second voice that stops short does not pull the next bar back; a lower voice under a held note is not the tune
    short = melody_from_musicxml(score_xml([div + xnote("E", 5, 4) + "<backup><duration>4</duration></backup>"
                                            + xnote("C", 4, 1, voice=2) + xnote("B", 3, 1, voice=2), xnote("F", 5, 4)]))
    assert short.pitches.tolist() == [76, 77] and short.onsets.tolist() == [0, 4]
    with pytest.raises(InputError, match="damaged MusicXML"):
        melody_from_musicxml(score_xml([div + "<note><pitch><step>C</step><octave>x</octave></pitch>"
                                        "<duration>1</duration></note>"]))
    # of two parts, the one named as the tune, though lower; cue notes are no part of it
    alto = '<part id="P2">' + '<measure number="1">' + div + xnote("A", 3, 1) * 4 + "</measure></part>"
    xml = score_xml([div + xnote("C", 6, 1) * 3 + xnote("D", 6, 1, "<cue/>")], alto).replace(
        b'<score-part id="P1"/>', b'<score-part id="P1"><part-name>Trumpet</part-name></score-part>'
                                  b'<score-part id="P2"><part-name>Soprano</part-name></score-part>')
    assert melody_from_musicxml(xml).pitches.tolist() == [57] * 4


def test_whole_file_joins_the_tunes_and_a_type_0_title_is_no_track_name():
    book = (TUNES["jig"] + "\n" + TUNES["air"]).encode()
    (_, whole), = melodies(book, ".abc", whole_file=True)
    assert len(whole) == len(melody_of(TUNES["jig"])) + len(melody_of(TUNES["air"]))
    assert np.all(np.diff(whole.onsets) > 0) and np.all(np.diff(whole.bars) >= 0)
    tune = [(i * 480, (i + 1) * 480, p) for i, p in enumerate([67, 69, 71, 72, 74, 72, 71, 69, 67])]
    chords = [(i * 1440, (i + 1) * 1440, p) for i in range(3) for p in (48, 52, 55)]
    two = mido.MidiFile(file=io.BytesIO(midi_file([("Fortune Teller", 0, chords), ("x", 1, tune)])))
    merged = mido.MidiFile(type=0, ticks_per_beat=480)
    merged.tracks.append(mido.MidiTrack([mido.MetaMessage("track_name", name="Fortune Teller", time=0)]
                                        + [m for m in mido.merge_tracks(two.tracks) if m.type != "track_name"]))
    out = io.BytesIO()
    merged.save(file=out)
    assert melody_from_midi(out.getvalue()).pitches.tolist() == [67, 69, 71, 72, 74, 72, 71, 69, 67]


def test_clamp_melody_with_a_pasted_tune_no_scores_and_a_book_with_a_bad_tune(tune_folder, tmp_path):
    import json

    from clamp_cli.index.melodies import melodies_of
    from clamp_cli.index.store import FeatureStore

    cache = tmp_path / "cache"
    pasted = clamp(["melody", "--notes", TUNES["jig"], tune_folder / "jig.abc", "--include-query", "--json"], cache)
    assert json.loads(pasted.stdout)[0]["score"] == 1.25, pasted.stderr         # X:, T: ... lines are headers
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "a.txt").write_text("words")
    got = clamp(["melody", "--notes", "DFAd", texts], cache)
    assert got.exit_code == 1 and got.stderr.count("\n") == 1 and "no scores in" in got.stderr
    book = tmp_path / "book.abc"
    book.write_text(TUNES["reel"] + "\nX:5\nT:Empty\nK:C\nz4|\n")
    first = melodies_of(FeatureStore(cache), [book])
    again = melodies_of(FeatureStore(cache), [book])
    assert [(r.item, r.status) for r in first] == [("2", "made"), ("5", "failed")]
    assert [(r.item, r.status, r.error) for r in again] == [("2", "cached", None),
                                                             ("5", "failed", "no notes to make a melody of")]


def test_clamp_melody_with_words_reorders_by_the_models_similarity(tune_folder, tmp_path):
    import json

    cache = tmp_path / "cache"
    query = ["melody", "--notes", "K:F\\nagf edc|def gec", tune_folder, "--jsonl", "-n", "20"]
    plain = [json.loads(line) for line in clamp(query, cache).stdout.splitlines()]
    neutral = clamp(query + ["--text", "a jig", "--text-weight", "0"], cache)
    assert neutral.stderr.count("clamp: error:") == 1                # rests.abc, once: not again for its vector
    neutral = [json.loads(line) for line in neutral.stdout.splitlines()]
    assert [(r["path"], r["score"]) for r in neutral] == [(r["path"], r["score"]) for r in plain]
    assert all(r["melody"] == r["score"] for r in neutral)
    words = [json.loads(line) for line in clamp(query + ["--text", "a jig", "--text-weight", "1000"], cache)
             .stdout.splitlines()]
    assert sorted(r["path"] for r in words) == sorted(r["path"] for r in plain)
    assert [r["similarity"] for r in words] == sorted((r["similarity"] for r in words), reverse=True)
    assert words != neutral
    # the similarity is search's score for those words
    searched = {json.loads(line)["path"]: json.loads(line)["score"] for line in clamp(
        ["search", "--text", "a jig", tune_folder, "--jsonl", "-n", "20"], cache).stdout.splitlines()}
    assert all(abs(searched[r["path"]] - r["similarity"]) < 1e-5 for r in words)
    assert clamp(query + ["--text", " "], cache).exit_code == 2


def test_clamp_eval_melody_scores_excerpts_and_families(tune_folder, tmp_path):
    import json

    cache = tmp_path / "cache"
    queries = tmp_path / "queries"
    queries.mkdir()
    (queries / "jig.abc").write_text("X:1\nL:1/8\nK:G\nCEG cGE|=FAc\n")      # the jig's start, a tone lower
    (queries / "march.abc").write_text("X:1\nL:1/8\nK:A\nfe dc|B2 B2\n")
    (queries / "lost.abc").write_text("X:1\nL:1/8\nK:C\nCDEF GABc\n")            # no reference of that name
    got = clamp(["eval", "melody", "-Q", queries, "-R", tune_folder, "--json"], cache)
    assert got.exit_code == 1 and "1 query has no reference: lost" in got.stderr
    got = clamp(["eval", "melody", "-Q", queries, "-R", tune_folder, "--json", "--allow-unmatched"], cache)
    assert got.exit_code == 1                                                  # rests.abc has no melody
    figures = json.loads(got.stdout)
    assert figures["queries"] == 2 and figures["hit@10"] == 1.0 and figures["mrr"] >= 0.75
    table = tmp_path / "families.csv"
    table.write_text("id,family\njig,j\njig-in-g,j\nmarch,m\n")              # then the jig's MIDI file counts too
    figures = json.loads(clamp(["eval", "melody", "-Q", queries, "-R", tune_folder, "--families", table, "--json",
                                "--allow-unmatched"], cache).stdout)
    assert figures["queries"] == 2 and figures["mrr"] == 1.0 and figures["hit@1"] == 1.0
    import soundfile

    heard = tmp_path / "heard"
    heard.mkdir()
    soundfile.write(heard / "jig.wav", played([p + 2 for p in (62, 66, 69, 74, 69, 66, 67, 71, 74)], 0.25), 22050)
    figures = json.loads(clamp(["eval", "melody", "-Q", heard, "-R", tune_folder, "--families", table, "--json",
                                "--allow-unmatched"], cache).stdout)
    assert figures["queries"] == 1 and figures["mrr"] == 1.0                  # a recording queries too
    table.write_text("id,family\njig,j\njig-in-g,j\nreel,r\nbook#2,r\nair,a\nbook#7,a\nmarch,m\n")
    got = clamp(["eval", "melody", "-R", tune_folder, "--families", table, "--json", "--allow-unmatched"], cache)
    figures = json.loads(got.stdout)
    assert figures["queries"] == 6 and figures["map"] == 1.0 and figures["mrr"] == 1.0
    table.write_text("id,family\njig,j\nmarch,j\nreel,r\nbook#2,r\n")             # the jig is no march
    figures = json.loads(clamp(["eval", "melody", "-R", tune_folder, "--families", table, "--json",
                                "--allow-unmatched"], cache).stdout)
    assert figures["queries"] == 4 and 0.5 <= figures["map"] < 1.0
    assert clamp(["eval", "melody", "-R", tune_folder], cache).exit_code == 2


def test_clamp_melody_groups_variants_into_families(tune_folder, tmp_path):
    import json

    cache = tmp_path / "cache"
    (tune_folder / "jig-variant.abc").write_text(TUNES["jig"].replace("DFA dAF", "DFA dBAF").replace("X:1", "X:9"))
    got = clamp(["melody", "--group", tune_folder, "--jsonl"], cache)
    assert got.exit_code == 1 and "families of variants" in got.stderr
    records = [json.loads(line) for line in got.stdout.splitlines()]
    by_family: dict[int, set[str]] = {}
    for r in records:
        by_family.setdefault(r["family"], set()).add(r["path"].rsplit("/", 1)[1])
    assert {frozenset(f) for f in by_family.values()} == {
        frozenset({"jig-in-g.mid", "jig-variant.abc", "jig.abc"}), frozenset({"book.abc#2", "reel.abc"}),
        frozenset({"air.abc", "book.abc#7"})}
    assert len(by_family[1]) == 3                                              # the largest first
    assert all(r["size"] == len(by_family[r["family"]]) for r in records)
    assert clamp(["melody", "--group", "--notes", "ABcd", tune_folder], cache).exit_code == 2


def played(pitches, seconds, rate=22050, noise=0.01, seed=0):
    """A phrase played by a plain synthesiser: four harmonics, short attack and release, some noise."""
    out = []
    for p in pitches:
        t = np.arange(int(seconds * rate)) / rate
        phase = 2 * np.pi * 440 * 2 ** ((p - 69) / 12) * t
        tone = sum(a * np.sin(k * phase) for k, a in ((1, 1.0), (2, 0.5), (3, 0.25)))
        out.append(tone * np.clip(np.minimum(t / 0.02, (seconds - t) / 0.03), 0, 1))
    x = np.concatenate(out) / 2
    return (x + np.random.default_rng(seed).normal(0, noise, len(x))).astype(np.float32)


def test_the_pitch_tracker_hears_a_tone_and_a_phrase():
    import soundfile

    from clamp_cli.models.pitch import recording_melody, track

    pitch, confidence = track(played([69], 1.0, rate=16000)[:16000])
    middle = slice(10, 90)
    assert np.abs(pitch[middle] - 69).max() < 0.2 and confidence[middle].min() > 0.5
    buf = io.BytesIO()
    jig = [62, 66, 69, 74, 69, 66, 67, 71, 74, 79, 78, 76]
    soundfile.write(buf, played([p - 5 for p in jig], 0.3), 22050, format="WAV")
    heard = recording_melody(buf.getvalue())
    assert heard.pitches.tolist() == [p - 5 for p in jig]
    assert np.allclose(heard.durations, 0.3, atol=0.05) and heard.onsets[-1] == pytest.approx(11 * 0.3, abs=0.05)


def test_clamp_melody_from_a_recording_and_bad_recordings_in_one_line(tune_folder, tmp_path):
    import json

    import soundfile

    cache = tmp_path / "cache"
    jig = [62, 66, 69, 74, 69, 66, 67, 71, 74, 79, 78, 76]          # DFA dAF|GBd gfe, hummed a third higher
    soundfile.write(tmp_path / "hum.wav", played([p + 4 for p in jig], 0.25, noise=0.03), 22050)
    got = clamp(["melody", "--music", tmp_path / "hum.wav", tune_folder, "--jsonl"], cache)
    records = [json.loads(line) for line in got.stdout.splitlines()]
    assert {r["path"].rsplit("/", 1)[1] for r in records[:2]} == {"jig.abc", "jig-in-g.mid"}
    assert records[0]["bars"] == "1-2" and records[0]["score"] >= 1.0
    soundfile.write(tmp_path / "silence.wav", np.zeros(22050 * 2, np.float32), 22050)
    soundfile.write(tmp_path / "noise.wav", np.random.default_rng(0).normal(0, 0.3, 22050 * 2).astype(np.float32),
                    22050)
    (tmp_path / "empty.wav").write_bytes(b"")
    for name, code, says in [("silence.wav", 2, "nothing clear enough to follow was heard"),
                             ("noise.wav", 2, "nothing clear enough to follow was heard"),
                             ("empty.wav", 1, "empty file")]:
        bad = clamp(["melody", "--music", tmp_path / name, tune_folder], cache)
        assert bad.exit_code == code and bad.stdout == "", (name, bad.stderr)
        assert bad.stderr.count("\n") == 1 and name in bad.stderr and says in bad.stderr, bad.stderr
    assert clamp(["melody", "--music", tmp_path / "hum.wav", "--bars", "1-2", tune_folder], cache).exit_code == 2


def test_embedding_keeps_the_melodies_clamp_melody_would_make(tune_folder, tmp_path):
    from clamp_cli.index.melodies import MELODY_MODEL, prep_of
    from clamp_cli.index.store import FeatureStore

    def rows(cache):
        db = FeatureStore(cache).db
        return dict(db.execute("SELECT hash, vector FROM features WHERE model = ? AND prep = ?",
                               (MELODY_MODEL, prep_of(False))).fetchall())

    embedded, searched = tmp_path / "embedded", tmp_path / "searched"
    assert clamp(["embed", tune_folder, "--jsonl"], embedded).exit_code == 1                 # rests.abc
    query = ["melody", "--notes", "K:F\\nagf edc|def gec", tune_folder, "--jsonl"]
    made = clamp(query, searched)
    kept = rows(embedded)
    assert len(kept) == 7 and kept == rows(searched)
    assert clamp(query, embedded).stdout == made.stdout


def test_clamp_melody_searches_a_library(tune_folder, tmp_path):
    import json

    cache = tmp_path / "cache"
    assert clamp(["library", "create", "folk", tune_folder, "-q"], cache).exit_code == 1      # rests.abc
    query = ["--notes", "K:F\\nagf edc|def gec", "--jsonl"]
    from_library = clamp(["melody", *query, "-L", "folk"], cache)
    from_folder = clamp(["melody", *query, tune_folder], cache)
    assert from_library.stdout and from_library.exit_code == 0 and from_folder.exit_code == 1   # rests.abc not held
    assert [json.loads(line)["score"] for line in from_library.stdout.splitlines()] == \
        [json.loads(line)["score"] for line in from_folder.stdout.splitlines()]
    assert clamp(["melody", *query, "-L", "nowhere"], cache).exit_code != 0
    assert clamp(["melody", *query], cache).exit_code == 2
