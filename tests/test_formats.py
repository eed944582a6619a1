"""Conversion with real music from music21's corpus: parity with the authors' tools, round trips, bad input."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import mido
import music21
import pytest

from clamp_cli.errors import InputError
from clamp_cli.formats.abc import abc_to_xml, interleave, split_tunes, xml_to_abc
from clamp_cli.formats.convert import convert_bytes, music_pieces
from clamp_cli.formats.midi import midi_to_mtf, mtf_to_midi
from clamp_cli.formats.musicxml import MAX_SCORE_BYTES, read_musicxml

CORPUS = Path(music21.__file__).parent / "corpus"
GOLDEN = Path(__file__).parent / "golden"
CHORALES = sorted((CORPUS / "bach").glob("bwv2*.mxl"))[:6]
XML2ABC_SCRIPT = Path(__import__("abctoolkit").__file__).parent / "xml2abc.py"


def oneill_tunes(count: int) -> list[str]:
    text = (CORPUS / "oneills1850" / "0626-0635.abc").read_text(encoding="utf-8")
    return [t for _, t in split_tunes(text)][:count]


def midi_of(score_path: Path) -> bytes:
    score = music21.converter.parse(score_path, forceSource=True)  # no pickle cache in music21's scratch dir
    return music21.midi.translate.streamToMidiFile(score).writestr()


# -- parity with the authors' scripts -------------------------------------------------

@pytest.mark.parametrize("flags, flavour", [(["-d", "8", "-x"], "clamp3"), (["-m", "2", "-c", "6", "-x"], "clamp1")])
def test_in_process_xml2abc_equals_the_script(flags, flavour):
    for path in CHORALES[:4]:
        script = subprocess.run([sys.executable, str(XML2ABC_SCRIPT), *flags, str(path)],
                                capture_output=True, check=True).stdout.decode("utf-8")
        ours = xml_to_abc(read_musicxml(path.read_bytes(), ".mxl"), flavour)
        assert ours == script, path.name


def test_golden_files():
    """Checked-in outputs for one chorale: interleaved ABC, CLaMP 1 ABC, and MTF of a fixed MIDI."""
    chorale = CORPUS / "bach" / "bwv269.mxl"
    data = chorale.read_bytes()
    assert music_pieces(data, ".mxl", "interleaved")[0].text == (GOLDEN / "bwv269.iabc").read_text(encoding="utf-8")
    assert music_pieces(data, ".mxl", "clamp1")[0].text == (GOLDEN / "bwv269.clamp1.abc").read_text(encoding="utf-8")
    midi = (GOLDEN / "scale.mid").read_bytes()
    assert midi_to_mtf(midi) == (GOLDEN / "scale.mtf").read_text(encoding="utf-8")
    assert midi_to_mtf(midi, m3_compatible=False) == (GOLDEN / "scale.full.mtf").read_text(encoding="utf-8")


# -- round trips and structure ----------------------------------------------------------

def _notes_and_bars(xml: str):
    score = music21.converter.parseData(xml, format="musicxml")
    notes = [(n.pitch.midi, float(n.quarterLength)) for n in score.recurse().notes
             if n.isNote and not n.duration.isGrace]
    return notes, len(score.recurse().getElementsByClass("Measure"))


def test_abc_musicxml_abc_round_trip_keeps_bars_and_notes():
    """ABC -> MusicXML -> ABC -> MusicXML: both scores (read by music21's MusicXML parser) agree."""
    for tune in oneill_tunes(10):
        first = abc_to_xml(tune)
        back = xml_to_abc(first.encode("utf-8"))
        notes_a, bars_a = _notes_and_bars(first)
        notes_b, bars_b = _notes_and_bars(abc_to_xml(back))
        assert notes_a == notes_b and len(notes_a) > 50
        assert bars_a == bars_b and bars_a > 10


def test_interleaved_lines_have_one_segment_per_voice():
    for path in CHORALES:
        text = convert_bytes(path.read_bytes(), ".mxl", "iabc")[0].data.decode("utf-8")
        voices = re.findall(r"^V:(\d+)", text, flags=re.M)
        assert len(voices) >= 4
        body = [line for line in text.splitlines() if line.startswith("[V:")]
        assert len(body) > 8
        for line in body:
            assert re.findall(r"\[V:(\d+)\]", line) == voices, line


def test_mtf_back_to_midi_keeps_the_notes():
    midi = midi_of(CHORALES[0])
    for m3 in (True, False):
        mtf = midi_to_mtf(midi, m3_compatible=m3)
        back = mido.MidiFile(file=io.BytesIO(mtf_to_midi(mtf)))
        orig = mido.MidiFile(file=io.BytesIO(midi))

        def notes(m):
            t, out = 0, []
            for msg in m.merged_track:
                t += msg.time
                if msg.type in ("note_on", "note_off"):
                    out.append((t, msg.type, msg.channel, msg.note, msg.velocity))
            return out

        assert notes(back) == notes(orig) and len(notes(orig)) > 50
        assert back.ticks_per_beat == orig.ticks_per_beat


def test_mtf_text_format_details():
    mid = mido.MidiFile(ticks_per_beat=96)
    track = mido.MidiTrack([mido.MetaMessage("track_name", name="Melodie é", time=0),
                            mido.MetaMessage("text", text="tab\there", time=0),
                            mido.Message("note_on", note=60, velocity=64, time=0),
                            mido.Message("note_off", note=60, velocity=0, time=96)])
    mid.tracks.append(track)
    buf = io.BytesIO()
    mid.save(file=buf)
    full = midi_to_mtf(buf.getvalue(), m3_compatible=False).splitlines()
    assert full[0] == "ticks_per_beat 96"
    assert full[1] == "track_name Melodie \\xe9 0" and full[2] == "text tab\\there 0"
    assert full[3] == "note_on 0 0 60 64"  # msg.dict() order: type, time, channel, note, velocity
    m3 = midi_to_mtf(buf.getvalue()).splitlines()
    assert not any(line.startswith(("track_name", "text ")) for line in m3)
    assert m3[-1] == "end_of_track 0"


def test_humdrum_through_music21_and_multi_tune_abc():
    krn = sorted(CORPUS.glob("**/*.krn"))[0]
    piece = music_pieces(krn.read_bytes(), ".krn", "interleaved")[0]
    assert piece.text.count("[V:1]") > 5
    abc = (CORPUS / "oneills1850" / "0626-0635.abc").read_bytes()
    pieces = music_pieces(abc, ".abc", "interleaved")
    assert [p.item for p in pieces] == [str(n) for n in range(626, 636)]
    assert all(p.text and p.text.startswith("L:") for p in pieces)
    whole = music_pieces(abc, ".abc", "interleaved", whole_file=True)
    assert len(whole) == 1 and whole[0].item is None and whole[0].text.count("K:") == 10


def test_interleaved_abc_is_kept_as_it_is():
    text = convert_bytes(CHORALES[0].read_bytes(), ".mxl", "iabc")[0].data.decode("utf-8")
    assert music_pieces(text.encode("utf-8"), ".abc", "interleaved")[0].text == text


# -- bad input ---------------------------------------------------------------------------------

def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_bad_musicxml_inputs():
    with pytest.raises(InputError, match="not a zip"):
        read_musicxml(b"PK? not really", ".mxl")
    with pytest.raises(InputError, match="no MusicXML score"):
        read_musicxml(_zip({"readme.txt": b"hello"}), ".mxl")
    bomb = _zip({"score.xml": b"<score-partwise>" + b" " * (MAX_SCORE_BYTES + 10)})
    assert len(bomb) < 200_000
    with pytest.raises(InputError, match="zip bomb"):
        read_musicxml(bomb, ".mxl")
    with pytest.raises(InputError, match=r"not MusicXML \(root element <html>\)"):
        read_musicxml(b"<?xml version='1.0'?><html><body/></html>", ".xml")
    lol = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
           b"<score-partwise>&lol2;</score-partwise>")
    with pytest.raises(InputError, match="entit"):
        read_musicxml(lol, ".xml")
    with pytest.raises(InputError, match="empty"):
        read_musicxml(b"", ".musicxml")
    with pytest.raises(InputError, match="xml2abc"):
        music_pieces(b"<score-partwise><part id='P1'><measure><note>", ".xml", "interleaved")


def test_bad_midi_inputs():
    midi = midi_of(CHORALES[0])
    with pytest.raises(InputError, match="not a readable MIDI"):
        midi_to_mtf(b"RIFF" + midi[4:])
    with pytest.raises(InputError, match="not a readable MIDI"):
        midi_to_mtf(midi[: len(midi) // 2])
    with pytest.raises(InputError, match="empty"):
        midi_to_mtf(b"")
    with pytest.raises(InputError, match="ticks_per_beat"):
        mtf_to_midi("note_on 0 60 64 0\n")
    with pytest.raises(InputError, match="unknown MIDI message"):
        mtf_to_midi("ticks_per_beat 96\nwobble 1 2\n")


def test_abc_that_fails_interleaving_is_an_error():
    # two voices with different bar counts: the authors' strip_empty_bars gives up
    abc = "X:1\nL:1/8\nM:2/4\nK:C\nV:1\nV:2\n[V:1]ab|cd|ef|\n[V:2]AB|\n"
    with pytest.raises(InputError, match="interleaving the voices failed"):
        interleave(abc)


def test_bad_abc_and_encodings():
    with pytest.raises(InputError, match="not UTF-8"):  # MTF is ours: UTF-8 only
        music_pieces("ticks_per_beat 480\n# caf\xe9\n".encode("latin-1"), ".mtf", "interleaved")
    with pytest.raises(InputError, match="empty"):
        music_pieces(b"   \n", ".abc", "interleaved")
    bad = music_pieces(b"X:1\nK:C\nabc|\nX:2\nK:C\n\x7f\x7f|||::[[[\n", ".abc", "interleaved")
    assert bad[0].error is None and bad[0].item == "1"


def test_abc_include_is_never_read(tmp_path):
    secret = tmp_path / "secret.abc"
    secret.write_text("T:SECRET\n")
    xml = abc_to_xml(f"X:1\n%%abc-include {secret}\nK:C\nabc|\n")
    assert "SECRET" not in xml


# -- the convert command ------------------------------------------------------------------------

def run(args, **kw):
    env = dict(os.environ, HF_HUB_OFFLINE="1", NO_COLOR="1")
    proc = subprocess.run([sys.executable, "-m", "clamp_cli.cli.main", *map(str, args)], env=env,
                          capture_output=True, **kw)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    return proc


def test_convert_command_tree_stdout_and_errors(tmp_path):
    src = tmp_path / "in"
    (src / "bach").mkdir(parents=True)
    for p in CHORALES[:3]:
        (src / "bach" / p.name).write_bytes(p.read_bytes())
    (src / "tunes.abc").write_bytes((CORPUS / "oneills1850" / "0626-0635.abc").read_bytes())
    (src / "broken.mxl").write_bytes(b"not a zip")
    (src / "notes.txt").write_text("skip me")
    out = tmp_path / "out"
    proc = run(["convert", src, "--to", "iabc", "--out-dir", out, "-j", "2"])
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.decode().splitlines() if line.startswith("clamp: error:")]
    assert len(errors) == 1 and "broken.mxl: not a .mxl archive" in errors[0]
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.abc"))
    assert written[:3] == sorted(f"bach/{p.stem}.abc" for p in CHORALES[:3])
    assert "tunes#626.abc" in written and len(written) == 13
    assert "converted 13, skipped 1, failed 1" in proc.stderr.decode()
    assert not list(out.rglob("*.tmp"))

    one = run(["convert", CHORALES[0], "--to", "iabc", "-o", "-"], check=True)
    assert one.stdout.decode() == (out / "bach" / f"{CHORALES[0].stem}.abc").read_text()
    mtf = tmp_path / "c.mtf"
    run(["convert", CHORALES[0], "--to", "midi", "-o", tmp_path / "c.mid"], check=True)
    run(["convert", tmp_path / "c.mid", "--to", "mtf", "-o", mtf], check=True)
    assert mtf.read_text().startswith("ticks_per_beat ")
    assert oct((tmp_path / "c.mid").stat().st_mode & 0o777) != oct(0o600)

    sequential = tmp_path / "seq"
    run(["convert", src / "bach", "--to", "iabc", "--out-dir", sequential, "-j", "1"], check=True)
    for p in CHORALES[:3]:
        assert (sequential / f"{p.stem}.abc").read_text() == (out / "bach" / f"{p.stem}.abc").read_text()
    wav = run(["convert", src, "--to", "wav", "--out-dir", out])
    assert (wav.returncode, wav.stderr.decode()) == (
        2, "clamp: error: --to must be one of abc, iabc, mtf, musicxml, midi, mert, not 'wav'\n")
    several = run(["convert", src / "bach", "--to", "iabc"])        # several inputs need --out-dir
    assert (several.returncode, several.stderr.decode()) == (
        2, "clamp: error: 3 inputs: give --out-dir DIR (stdout and --output take one input)\n")


def test_embed_names_tunes_of_multi_tune_files(tmp_path, assets):
    tunes = tmp_path / "tunes.abc"
    tunes.write_bytes((CORPUS / "oneills1850" / "0626-0635.abc").read_bytes())
    env = dict(os.environ, HF_HUB_OFFLINE="1", CLAMP_MODEL=str(assets["ours"]),
               CLAMP_CACHE_DIR=str(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "clamp_cli.cli.main", "embed", str(tunes), "--json", "-q"]
    first = json.loads(subprocess.run(cmd, env=env, capture_output=True, check=True).stdout)
    assert [r["path"] for r in first] == [f"{tunes}#{n}" for n in range(626, 636)]
    assert {r["status"] for r in first} == {"embedded"} and len({r["hash"] for r in first}) == 10
    again = json.loads(subprocess.run(cmd, env=env, capture_output=True, check=True).stdout)
    assert {r["status"] for r in again} == {"cached"}
    whole = json.loads(subprocess.run(cmd + ["--whole-file"], env=env, capture_output=True, check=True).stdout)
    assert [r["path"] for r in whole] == [str(tunes)]


def test_progress_counts_files_not_tunes(tmp_path, encoders):
    from clamp_cli.index.embedder import Embedder
    from clamp_cli.index.store import FeatureStore

    (tmp_path / "tunes.abc").write_bytes((CORPUS / "oneills1850" / "0626-0635.abc").read_bytes())
    (tmp_path / "one.mxl").write_bytes(CHORALES[0].read_bytes())
    (tmp_path / "bad.mid").write_bytes(b"MThd broken")
    paths = sorted(tmp_path.glob("*.*"))
    for _ in range(2):  # cold, then all from the cache
        seen = []
        results = Embedder(encoders("ours"), FeatureStore(tmp_path / "cache")).embed_files(paths, seen.append)
        assert sum(seen) == 3
        assert len(results) == 1 + 1 + 10 and sum(r.status == "failed" for r in results) == 1


# -- real scores the authors' tools read: encodings, converter failures -------------------------

def test_utf16_musicxml_reads_as_the_authors_script_does(tmp_path):
    """opus18no5.mxl holds UTF-16 XML (an older Finale export): same ABC as xml2abc.py on that XML."""
    mxl = CORPUS / "beethoven" / "opus18no5.mxl"
    with zipfile.ZipFile(mxl) as z:
        raw = z.read(next(n for n in z.namelist() if not n.startswith("META-INF")))
    assert raw.startswith(b"\xff\xfe")
    (tmp_path / "score.xml").write_bytes(raw)
    script = subprocess.run([sys.executable, str(XML2ABC_SCRIPT), "-d", "8", "-x", str(tmp_path / "score.xml")],
                            capture_output=True, check=True).stdout.decode("utf-8")
    assert xml_to_abc(read_musicxml(mxl.read_bytes(), ".mxl"), "clamp3") == script
    # the same chorale in UTF-16 with and without a BOM, and in UTF-8, gives one ABC
    utf8 = read_musicxml(CHORALES[0].read_bytes(), ".mxl")
    text = utf8.decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"', 1)
    expected = xml_to_abc(utf8)
    for data in (text.encode("utf-16"), text.encode("utf-16-le"), text.encode("utf-16-be")):
        assert xml_to_abc(read_musicxml(data, ".xml")) == expected


def test_latin1_humdrum_and_abc_are_read_with_a_warning():
    krn = CORPUS / "palestrina" / "Benedictus_86.krn"
    with pytest.raises(UnicodeDecodeError):
        krn.read_bytes().decode("utf-8")
    piece = convert_bytes(krn.read_bytes(), ".krn", "iabc")[0]
    assert piece.error is None and piece.text.startswith("%%score")
    assert any("not UTF-8; read as Latin-1" in w for w in piece.warnings)
    tune = "X:1\nT:Caf\xe9 du Port\nM:4/4\nL:1/8\nK:G\nGABc dedB|\n"
    piece = convert_bytes(tune.encode("latin-1"), ".abc", "abc")[0]
    assert "T:Café du Port" in piece.text and any("Latin-1" in w for w in piece.warnings)
    declared = tune.replace("X:1\n", "X:1\nI:abc-charset iso-8859-1\n").encode("latin-1")
    piece = convert_bytes(declared, ".abc", "abc")[0]
    assert "T:Café du Port" in piece.text and piece.warnings == []  # the file said so: no warning


RYAN_REEL = """X:1
M: C|
L: 1/8
K: D
\\
|]vd2(dc) A2(Bc) | d2(de) fdec | dedB   A2(AB) | =cAGE (ED)D2 |
|  d2(dc) A2(Bc) | d2(de) fdec | d2(dc) A2(AB) | =cAGE (ED)D2 :|
|: d2(fd) adfd | ceAe cAeA | d2(fd) adfd | faae fdec |
|  d2(fd) adfd | c2(ec) gefg | abag fdec | eaag fdec [|] :|
"""


def test_converter_failures_are_in_words_and_music21_reads_what_it_can():
    # xml2abc fails on Lindenbaum's lyric number "chorus"; music21 reads it
    piece = convert_bytes((CORPUS / "schubert" / "Lindenbaum.xml").read_bytes(), ".xml", "iabc")[0]
    assert piece.error is None and "[V:1]" in piece.text
    assert piece.warnings[0] == ("xml2abc cannot convert this score: a number was expected where the score has "
                                 "'chorus'; read through music21 instead")
    # interleaving fails on this tune from Ryan's Mammoth after abc2xml; music21's route works
    piece = convert_bytes(RYAN_REEL.encode(), ".abc", "iabc")[0]
    assert piece.error is None and piece.text.count("[V:1]") >= 16
    assert "interleaving the voices failed" in piece.warnings[0] and "music21" in piece.warnings[0]
    # neither route reads this trecento piece: the reason in words, no exception names
    with pytest.raises(InputError) as err:
        convert_bytes((CORPUS / "trecento" / "PMFC_06_8-In Verde Prato.xml").read_bytes(), ".xml", "iabc")
    assert str(err.value) == ("xml2abc cannot convert this score: an element or attribute the converter needs "
                              "is missing")
