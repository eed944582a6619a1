"""Files in, model text out: which files clamp reads and how each becomes model input.

Kinds: "music" (scores: converted to the family's model text, ABC or MTF),
"text" (.txt documents) and "audio" (.npy MERT features). One music file can
hold several pieces (an ABC file with several X: tunes): each is a `Piece`
with its own id. Decoding errors are `InputError`s naming the reason; callers
add the file name.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

# Source format by extension.
SUFFIX_FORMAT = {
    ".abc": "abc", ".mtf": "mtf",
    ".xml": "musicxml", ".musicxml": "musicxml", ".mxl": "musicxml",
    ".mid": "midi", ".midi": "midi",
    ".krn": "humdrum", ".mei": "mei",
    ".txt": "text", ".npy": "audio",
}
MUSIC_FORMATS = {"abc", "mtf", "musicxml", "midi", "humdrum", "mei"}
# Read through music21 (to MusicXML first): formats xml2abc does not read.
MUSIC21_FORMATS = {"humdrum": "humdrum", "mei": "mei"}
# Bump when the bytes -> model input path changes: cached features are keyed by it.
PREP_VERSION = 2


def format_of(path: str | Path) -> str | None:
    return SUFFIX_FORMAT.get(Path(path).suffix.lower())


def kind_of(path: str | Path) -> str | None:
    fmt = format_of(path)
    if fmt in MUSIC_FORMATS:
        return "music"
    return fmt  # "text", "audio" or None


def prep_key(kind: str, family: str) -> str:
    """What besides the file bytes and the weights decides a cached feature."""
    return f"{kind}/{family}/v{PREP_VERSION}"


def decode_text(data: bytes) -> str:
    if not data.strip():
        raise InputError("empty file")
    if b"\x00" in data:
        raise InputError("binary data, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (invalid byte at offset {exc.start})") from None


def load_npy(data: bytes):
    import numpy as np

    if not data:
        raise InputError("empty file")
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"not a NumPy .npy array ({str(exc).splitlines()[0][:120]})") from None


@dataclass
class Piece:
    """One piece of a file in a model's text format; `item` is None when the file holds one piece."""

    item: str | None
    text: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


def via_music21(data: bytes, fmt: str) -> bytes:
    """Formats xml2abc does not read -> MusicXML bytes, through music21."""
    import music21
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    try:
        source = data if fmt == "midi" else decode_text(data)
        score = music21.converter.parseData(source, format=fmt)
        return GeneralObjectExporter(score).parse()
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - music21 raises many types on bad input
        raise InputError(f"music21 could not read it as {fmt} ({type(exc).__name__}: {str(exc)[:100]})") from None


def score_to_musicxml(data: bytes, fmt: str, suffix: str) -> bytes:
    """One score in any format but ABC -> MusicXML (xml2abc reads partwise MusicXML only)."""
    from .midi import mtf_to_midi, read_midi
    from .musicxml import read_musicxml, root_tag

    if fmt == "musicxml":
        xml = read_musicxml(data, suffix.lower())
        return via_music21(xml, "musicxml") if root_tag(xml) == "score-timewise" else xml
    if fmt == "midi":
        read_midi(data)  # a clear error for a broken file before music21 sees it
        return via_music21(data, "midi")
    if fmt == "mtf":
        return via_music21(mtf_to_midi(decode_text(data)), "midi")
    if fmt in MUSIC21_FORMATS:
        return via_music21(data, MUSIC21_FORMATS[fmt])
    raise InputError(f"cannot convert {suffix or 'files without an extension'}")


def musicxml_to_model_text(xml: bytes, family: str) -> Piece:
    from .abc import clamp1_filter_abc, interleave, xml_to_abc

    if family == "clamp1":
        return Piece(None, clamp1_filter_abc(xml_to_abc(xml, "clamp1")))
    text, warnings = interleave(xml_to_abc(xml, family))
    return Piece(None, text, warnings=warnings)


def abc_tune_to_model_text(tune: str, family: str) -> Piece:
    """A standard ABC tune, normalised as the authors normalised theirs: ABC -> MusicXML -> model text.

    Text already interleaved (e.g. from `clamp convert --to iabc`) is kept as it is for CLaMP 2/3.
    """
    from .abc import abc_to_xml, is_interleaved

    if family != "clamp1" and is_interleaved(tune):
        return Piece(None, tune)
    return musicxml_to_model_text(abc_to_xml(tune).encode("utf-8"), family)


def music_pieces(data: bytes, suffix: str, family: str, whole_file: bool = False) -> list[Piece]:
    """File bytes -> the pieces in the family's model text (MODELS.md sections 2, 5 and 6).

    Errors of a single tune of a multi-tune file are reported in its `Piece`;
    errors of the whole file raise `InputError`.
    """
    from .abc import split_tunes
    from .midi import midi_to_mtf, require_mtf_header

    fmt = SUFFIX_FORMAT.get(suffix.lower())
    if fmt not in MUSIC_FORMATS:
        raise InputError(f"not a music file clamp reads ({suffix})")
    if fmt == "mtf":
        text = decode_text(data)
        require_mtf_header(text.split("\n", 1)[0])
        return [Piece(None, text)]
    if fmt == "midi" and family != "clamp1":
        return [Piece(None, midi_to_mtf(data))]
    if fmt != "abc":
        return [musicxml_to_model_text(score_to_musicxml(data, fmt, suffix), family)]
    text = decode_text(data)
    tunes = split_tunes(text)
    if not tunes:
        raise InputError("no ABC tune in the file")
    if len(tunes) == 1 or whole_file:
        pieces = []
        for _, tune in tunes:
            pieces.append(abc_tune_to_model_text(tune, family))
        joined = Piece(None, "".join(p.text for p in pieces), warnings=[w for p in pieces for w in p.warnings])
        return [joined]
    out = []
    for tune_id, tune in tunes:
        try:
            piece = abc_tune_to_model_text(tune, family)
            piece.item = tune_id
            out.append(piece)
        except InputError as exc:
            out.append(Piece(tune_id, error=str(exc)))
    return out
