"""A corpus of hostile inputs, written fresh by each test that needs it (nothing binary checked in).

`build(folder)` writes every kind of bad file clamp has met or can expect in the wild, next to
a few good ones, and returns {bad file name: what its one stderr line must say}; the files in
SKIPPED are not inputs (a .npy of no feature shape) and are named on the skipped-files notice.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np

GOOD_ABC = "X:1\nT:Good\nL:1/8\nM:4/4\nK:G\n|:GABc dedB|c2e2 d2B2:|\n"
GOOD_MTF = "ticks_per_beat 480\nset_tempo 500000 0\nnote_on 0 0 60 80\nnote_off 480 0 60 0\n"
GOOD_XML = """<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="3.1"><part-list><score-part id="P1"><part-name>Flute</part-name></score-part></part-list>
<part id="P1"><measure number="1"><attributes><divisions>1</divisions><key><fifths>0</fifths></key>
<time><beats>4</beats><beat-type>4</beat-type></time><clef><sign>G</sign><line>2</line></clef></attributes>
<note><pitch><step>C</step><octave>5</octave></pitch><duration>4</duration><type>whole</type></note>
</measure></part></score-partwise>
"""


def _zip(entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def _midi_header(tracks: int) -> bytes:
    return b"MThd" + (6).to_bytes(4, "big") + (1).to_bytes(2, "big") + tracks.to_bytes(2, "big") + (480).to_bytes(2, "big")


GOOD = ["tune.abc", "piano.mtf", "flute.musicxml", "caption.txt", "latin1.abc", "unequal.abc"]
WARNED = {"unequal.abc": "read through music21 instead", "latin1.abc": "read as Latin-1"}
# not an input at all (numbers of no feature shape): skipped with its shape on the notice line, not an error
SKIPPED = {"wrongshape.npy": "(shape (4, 7))"}


def build(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    # read with a warning on stderr, then embedded like the good ones
    (folder / "unequal.abc").write_text("X:1\nL:1/4\nM:4/4\nK:C\nV:1\nCDEF|GABc|cBAG|\nV:2\nC4|\n")
    (folder / "latin1.abc").write_bytes("X:1\nT:Caf\xe9\nL:1/8\nK:G\nGABc|\n".encode("latin-1"))
    good = {"tune.abc": GOOD_ABC, "piano.mtf": GOOD_MTF, "flute.musicxml": GOOD_XML, "caption.txt": "a lively jig\n"}
    for name, text in good.items():
        (folder / name).write_text(text, encoding="utf-8")
    container = b'<?xml version="1.0"?><container><rootfiles><rootfile full-path="../../etc/passwd"/></rootfiles></container>'
    laughs = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
              "<score-partwise>&lol2;</score-partwise>")
    bad: dict[str, tuple[bytes, str]] = {
        "empty.abc": (b"", "empty file"),
        "binary.abc": (os.urandom(200) + b"\x00" * 20, "binary data"),
        "nul.txt": (b"a caption\x00with a NUL\n", "binary data"),
        "blank.txt": (b"  \n\n\t\n", "empty"),
        "noheader.mtf": (b"hello\n", "ticks_per_beat"),
        "badnumbers.mtf": (b"ticks_per_beat 480\nnote_on x y z\n", "line 2"),
        "fake.npy": (b"not numpy", "not a NumPy"),
        "notzip.mxl": (b"PK\x03\x04 but not really a zip", "zip"),
        "noscore.mxl": (_zip({"readme.txt": b"hello"}), "holds no MusicXML score"),
        "traversal.mxl": (_zip({"META-INF/container.xml": container}), "holds no MusicXML score"),
        "bomb.mxl": (_zip({"score.xml": b"<" + b" " * (80 * 2**20)}), "64 MB"),
        "entities.musicxml": (laughs.encode(), "entit"),
        "noise.xml": (bytes(range(256)) * 4, "not XML"),
        "html.xml": (b"<html><body>not a score</body></html>", "not MusicXML"),
        "truncated.musicxml": (GOOD_XML.encode()[:300], "XML"),
        "notmidi.mid": (b"RIFF....WAVEfmt ", "MIDI"),
        "cutshort.mid": (_midi_header(1) + b"MTrk" + (100).to_bytes(4, "big") + b"\x00\x90", "MIDI"),
        "nonsense.krn": (b"**kern\n*M4/4\n=1\nthis is not humdrum at all ((( \n*-\n", "no notes"),
        "nonsense-mei.mei": (b"<mei xmlns='http://www.music-encoding.org/ns/mei'><nothing/></mei>", "mei"),
    }
    for name, (data, _) in bad.items():
        (folder / name).write_bytes(data)
    np.save(folder / "wrongshape.npy", np.zeros((4, 7), dtype=np.float32))
    np.save(folder / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(folder / "nan.npy", np.full((1, 3, 64), np.nan, dtype=np.float32))      # the test model's MERT width
    (folder / "dangling.abc").symlink_to(folder / "nowhere.abc")
    expected = {name: why for name, (_, why) in bad.items()}
    expected.update({"pickled.npy": "pickle", "nan.npy": "NaN", "dangling.abc": "no such file"})
    return expected
