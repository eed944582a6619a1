"""The one conversion router: file bytes in any score format -> documents in a target format.

Targets: "abc" (standard ABC as xml2abc writes it; flavour "clamp1" adds CLaMP 1's options and
header filter), "iabc" (interleaved ABC, CLaMP 2/3), "mtf" (MIDI text format), "musicxml", "midi".
Routes go through MusicXML, the hub every tool here reads and writes (xml2abc and abc2xml from
abctoolkit, MIDI with mido, the rest via music21), except the direct routes in `DIRECT`, which
keep every detail. `clamp convert` and the embedding pipeline (`music_pieces`) both use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import InputError
from ..fsutil import os_reason
from . import MUSIC_FORMATS, SUFFIX_FORMAT, decode_score_text, decode_text, score_to_musicxml, via_music21
from .limits import Limits, score_limit

TARGETS = {"abc": ".abc", "iabc": ".abc", "mtf": ".mtf", "musicxml": ".musicxml", "midi": ".mid", "mert": ".npy"}
BINARY_TARGETS = {"midi", "mert"}
# The model text each style reads, by source format (MODELS.md sections 2, 5, 6).
MODEL_TEXT = {
    "clamp1": lambda fmt: ("abc", "clamp1"),
    "interleaved": lambda fmt: ("mtf", "interleaved") if fmt in ("midi", "mtf") else ("iabc", "interleaved"),
}


@dataclass
class Piece:
    """One document of a file; `item` is the tune id when the file holds several (ABC X: fields)."""

    item: str | None
    data: bytes | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    melody: bytes | None = None         # its melody (Melody.to_bytes), when asked for beside the model text
    melody_error: str | None = None     # or why it has none

    @property
    def text(self) -> str | None:
        return None if self.data is None else self.data.decode("utf-8")


def _midi_to_mtf(data: bytes, full: bool) -> bytes:
    from .midi import midi_to_mtf

    return midi_to_mtf(data, m3_compatible=not full).encode("utf-8")


def _mtf_to_midi(data: bytes, full: bool) -> bytes:
    from .midi import mtf_to_midi, require_mtf_header

    text = decode_text(data)
    require_mtf_header(text.split("\n", 1)[0])
    return mtf_to_midi(text)


def _mtf_as_is(data: bytes, full: bool) -> bytes:
    from .midi import check_mtf

    text = decode_text(data)
    check_mtf(text)
    return text.encode("utf-8")


# (source format, target) -> a converter that keeps every detail (no detour through MusicXML)
DIRECT: dict[tuple[str, str], Callable[[bytes, bool], bytes]] = {
    ("midi", "mtf"): _midi_to_mtf,
    ("mtf", "midi"): _mtf_to_midi,
    ("mtf", "mtf"): _mtf_as_is,
}


def _musicxml_to_midi(xml: bytes) -> bytes:
    import music21

    try:
        score = music21.converter.parseData(xml, format="musicxml")
        return music21.midi.translate.streamToMidiFile(score).writestr()
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"music21 could not write MIDI ({type(exc).__name__}: {str(exc)[:100]})") from None


def _from_musicxml(xml: bytes, to: str, flavour: str | None, full: bool) -> Piece:
    """MusicXML -> one document of the target format."""
    from .abc import clamp1_filter_abc, interleave, xml_to_abc
    from .midi import midi_to_mtf

    if to == "musicxml":
        return Piece(None, xml)
    if to == "midi":
        return Piece(None, _musicxml_to_midi(xml))
    if to == "mtf":
        return Piece(None, midi_to_mtf(_musicxml_to_midi(xml), not full).encode("utf-8"))
    if to == "abc":
        if flavour == "clamp1":
            return Piece(None, clamp1_filter_abc(xml_to_abc(xml, "clamp1")).encode("utf-8"))
        return Piece(None, xml_to_abc(xml, "standard").encode("utf-8"))
    text, warnings = interleave(xml_to_abc(xml, "standard"))
    return Piece(None, text.encode("utf-8"), warnings=warnings)


def _or_music21(first: Callable[[], Piece], source: bytes, fmt: str, to: str, flavour: str | None,
                full: bool) -> Piece:
    """The authors' route; when their converters fail, the score read by music21 instead (with a warning).

    music21 reads some scores that xml2abc, abc2xml or the interleaving step cannot; the model text
    it leads to may differ in detail from the authors' pipeline, which the warning says.
    """
    try:
        return first()
    except InputError as exc:
        try:
            piece = _from_musicxml(via_music21(source, fmt), to, flavour, full)
        except InputError:
            raise exc from None
        piece.warnings.insert(0, f"{exc}; read through music21 instead")
        return piece


def _abc_tune(tune: str, to: str, flavour: str | None, full: bool) -> Piece:
    """One standard ABC tune, normalised as the authors normalised theirs: ABC -> MusicXML -> target.

    Text already interleaved (e.g. from `clamp convert --to iabc`) is kept as it is for iabc.
    """
    from .abc import abc_to_xml, is_interleaved

    if to == "iabc" and is_interleaved(tune):
        return Piece(None, tune.encode("utf-8"))
    return _or_music21(lambda: _from_musicxml(abc_to_xml(tune).encode("utf-8"), to, flavour, full),
                       tune.encode("utf-8"), "abc", to, flavour, full)


def convert_bytes(data: bytes, suffix: str, to: str, flavour: str | None = None, full_mtf: bool = False,
                  whole_file: bool = False) -> list[Piece]:
    """File bytes -> documents in `to`; a multi-tune ABC file gives one per tune (one with `whole_file`,
    for the text targets). Errors of one tune are in its Piece; errors of the whole file raise InputError.
    """
    from .abc import split_tunes

    fmt = SUFFIX_FORMAT.get(suffix.lower())
    if fmt not in MUSIC_FORMATS:
        raise InputError(f"not a score format clamp converts ({suffix or 'no extension'})")
    if to not in TARGETS:
        raise InputError(f"unknown target format '{to}'")
    if (fmt, to) in DIRECT:
        return [Piece(None, DIRECT[(fmt, to)](data, full_mtf))]
    warnings: list[str] = []
    if fmt in ("abc", "humdrum"):
        text, warning = decode_score_text(data, fmt)
        data, warnings = text.encode("utf-8"), [warning] if warning else []
    if fmt != "abc":
        xml = score_to_musicxml(data, fmt, suffix)
        if fmt == "musicxml":
            piece = _or_music21(lambda: _from_musicxml(xml, to, flavour, full_mtf), xml, "musicxml", to, flavour,
                                full_mtf)
        else:  # already read by music21
            piece = _from_musicxml(xml, to, flavour, full_mtf)
        piece.warnings[:0] = warnings
        return [piece]
    tunes = split_tunes(text)
    if not tunes:
        raise InputError("no ABC tune in the file")
    if len(tunes) == 1 or (whole_file and to not in BINARY_TARGETS | {"musicxml"}):
        pieces = []
        for _, tune in tunes:
            with score_limit():     # each tune its own time (in a worker with limits)
                pieces.append(_abc_tune(tune, to, flavour, full_mtf))
        return [Piece(None, b"".join(p.data for p in pieces),
                      warnings=warnings + [w for p in pieces for w in p.warnings])]
    out = []
    for tune_id, tune in tunes:
        try:
            with score_limit():
                piece = _abc_tune(tune, to, flavour, full_mtf)
            piece.item = tune_id
            piece.warnings[:0] = warnings
            out.append(piece)
        except InputError as exc:
            out.append(Piece(tune_id, error=str(exc), warnings=warnings))
    return out


def music_pieces(data: bytes, suffix: str, style: str, whole_file: bool = False) -> list[Piece]:
    """File bytes -> the pieces in a model's text: `style` is the family layout's `music_text`."""
    if style not in MODEL_TEXT:
        raise ValueError(f"unknown model text style {style!r} (expected one of {', '.join(MODEL_TEXT)})")
    fmt = SUFFIX_FORMAT.get(suffix.lower())
    if fmt not in MUSIC_FORMATS:
        raise InputError(f"not a music file clamp reads ({suffix})")
    to, flavour = MODEL_TEXT[style](fmt)
    return convert_bytes(data, suffix, to, flavour, whole_file=whole_file)


def convert_path(path: str, to: str, flavour: str | None, full_mtf: bool, whole_file: bool = False) -> list[Piece]:
    """Worker entry point: errors come back inside the results, never as exceptions."""
    from pathlib import Path

    from .reading import read_input

    try:
        _, data = read_input(path, "music")
        with score_limit():
            return convert_bytes(data, Path(path).suffix, to, flavour, full_mtf, whole_file)
    except InputError as exc:
        return [Piece(None, error=str(exc))]
    except OSError as exc:
        return [Piece(None, error=os_reason(exc))]
    except MemoryError:
        return [Piece(None, error=Limits(None, None).memory_message())]
    except Exception as exc:  # noqa: BLE001 - a bug of ours or a library's must cost one file, not the batch
        return internal_error(exc)


def internal_error(exc: Exception) -> list[Piece]:
    """The one-line result of a file whose conversion raised what no converter should (a bug)."""
    return [Piece(None, error=f"clamp could not convert it (internal error {type(exc).__name__}: "
                              f"{str(exc)[:100]}; please report it with the file)")]


def conversion_crashed(path: str) -> list[Piece]:
    """The result of a file whose worker process died (see `pool.map_files`)."""
    return [Piece(None, error="the converter crashed on this file (its worker process died)")]


def limit_hit(path: str, message: str) -> list[Piece]:
    """The result of a file whose conversion hit a time or memory limit (see `formats.limits`)."""
    return [Piece(None, error=message)]
