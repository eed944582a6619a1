"""Two places where preparing the input could differ from the CLaMP authors' pipeline.

1. Line endings: their scripts read text in Python's text mode ("\\r\\n" and "\\r" become "\\n").
   A CRLF (or CR) file must give exactly the model input of its LF twin, for every family.
2. Stemless notes: they ran the unmodified xml2abc version 143. The golden files
   `tests/golden/bwv269-stemless.v143.*.abc` were made with that script: abctoolkit's xml2abc.py
   with its one modification undone (line 1021 back to `note.before += ['s']; abcOut.stemless = 1`,
   as version 143 has it), run as a program on `bwv269-stemless.musicxml` (music21's bwv269 with
   every third <stem> set to none):
       python3 xml2abc.py -d 8 -x bwv269-stemless.musicxml > bwv269-stemless.v143.d8.abc
       python3 xml2abc.py -m 2 -c 6 -x bwv269-stemless.musicxml > bwv269-stemless.v143.clamp1.abc
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clamp_cli.formats import decode_text
from clamp_cli.formats.abc import xml_to_abc
from clamp_cli.formats.convert import music_pieces

GOLDEN = Path(__file__).parent / "golden"
ABC = "X:1\nT:Crlf\nL:1/8\nM:6/8\nK:D\nA|dfa afd|gbg faf|edc d2:|\n"
MTF = "ticks_per_beat 480\nset_tempo 500000 0\nnote_on 0 0 60 80\nnote_off 480 0 60 0\n"
TXT = "a lively jig\nin D major\nfor fiddle\n"


def _endings(text: str) -> list[bytes]:
    return [text.replace("\n", "\r\n").encode(), text.replace("\n", "\r").encode()]


@pytest.mark.parametrize("family", ["clamp1", "clamp2", "clamp3"])
def test_crlf_and_cr_inputs_equal_their_lf_twins(encoders, family):
    enc = encoders(family)
    style = enc.layout.music_text
    for other in _endings(TXT):
        np.testing.assert_array_equal(enc.text_file_ids(decode_text(other)), enc.text_file_ids(decode_text(TXT.encode())))
    for text, suffix in ((ABC, ".abc"), (MTF, ".mtf")):
        if suffix == ".mtf" and style == "clamp1":
            continue  # CLaMP 1 reads MIDI through MusicXML, not MTF
        lf = music_pieces(text.encode(), suffix, style)[0].text
        for other in _endings(text):
            got = music_pieces(other, suffix, style)[0].text
            assert got == lf
            np.testing.assert_array_equal(enc.music_ids(got), enc.music_ids(lf))


def test_stemless_notes_are_written_as_xml2abc_143_writes_them():
    xml = (GOLDEN / "bwv269-stemless.musicxml").read_bytes()
    standard = xml_to_abc(xml, "standard")  # CLaMP 2 and 3: -d 8 -x
    assert standard == (GOLDEN / "bwv269-stemless.v143.d8.abc").read_text(encoding="utf-8")
    assert xml_to_abc(xml, "clamp1") == (GOLDEN / "bwv269-stemless.v143.clamp1.abc").read_text(encoding="utf-8")
    assert "U:s=!stemless!" in standard and "!stemless!" not in standard.replace("U:s=!stemless!", "")
    # and it reaches the model text of every family
    assert "U:s=!stemless!" in music_pieces(xml, ".musicxml", "clamp1")[0].text
    iabc = music_pieces(xml, ".musicxml", "interleaved")[0].text
    assert "U:s=!stemless!" in iabc and "!stemless!" not in iabc.replace("U:s=!stemless!", "")
