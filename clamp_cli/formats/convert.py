"""Conversion between score formats, one file at a time (the CLI parallelises).

Targets: "abc" (standard ABC as xml2abc writes it, with a family's options),
"iabc" (interleaved ABC, CLaMP 2/3), "mtf" (MIDI text format), "musicxml",
"midi". Routes go through MusicXML, the hub every tool here reads and writes:
xml2abc and abc2xml from abctoolkit, MIDI with mido, the rest via music21.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from . import SUFFIX_FORMAT, decode_text, score_to_musicxml

TARGETS = {"abc": ".abc", "iabc": ".abc", "mtf": ".mtf", "musicxml": ".musicxml", "midi": ".mid"}
BINARY_TARGETS = {"midi"}


@dataclass
class Converted:
    item: str | None
    data: bytes | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


def _to_musicxml(data: bytes, fmt: str, suffix: str) -> list[tuple[str | None, bytes | InputError]]:
    """Any source -> MusicXML documents (one per ABC tune; a tune that fails carries its error)."""
    from .abc import abc_to_xml, split_tunes

    if fmt != "abc":
        return [(None, score_to_musicxml(data, fmt, suffix))]
    tunes = split_tunes(decode_text(data))
    if not tunes:
        raise InputError("no ABC tune in the file")
    if len(tunes) == 1:
        return [(None, abc_to_xml(tunes[0][1]).encode("utf-8"))]
    out = []
    for tid, tune in tunes:
        try:
            out.append((tid, abc_to_xml(tune).encode("utf-8")))
        except InputError as exc:
            out.append((tid, exc))
    return out


def _musicxml_to_midi(xml: bytes) -> bytes:
    import music21

    try:
        score = music21.converter.parseData(xml, format="musicxml")
        return music21.midi.translate.streamToMidiFile(score).writestr()
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"music21 could not write MIDI ({type(exc).__name__}: {str(exc)[:100]})") from None


def convert_bytes(data: bytes, suffix: str, to: str, family: str = "clamp3",
                  full_mtf: bool = False) -> list[Converted]:
    """File bytes -> converted documents; a multi-tune ABC source gives one per tune."""
    from .abc import clamp1_filter_abc, interleave, is_interleaved, split_tunes, xml_to_abc
    from .midi import midi_to_mtf, mtf_to_midi

    suffix = suffix.lower()
    fmt = SUFFIX_FORMAT.get(suffix)
    if fmt in (None, "text", "audio"):
        raise InputError(f"not a score format clamp converts ({suffix or 'no extension'})")
    if to not in TARGETS:
        raise InputError(f"unknown target format '{to}'")

    # Direct routes that keep every detail.
    if to == "mtf" and fmt == "midi":
        return [Converted(None, midi_to_mtf(data, m3_compatible=not full_mtf).encode("utf-8"))]
    if to == "midi" and fmt == "mtf":
        return [Converted(None, mtf_to_midi(decode_text(data)))]
    if to == "mtf" and fmt == "mtf":
        return [Converted(None, decode_text(data).encode("utf-8"))]
    if to == "iabc" and fmt == "abc":
        tunes = split_tunes(decode_text(data))
        if tunes and all(is_interleaved(t) for _, t in tunes):  # already interleaved
            return [Converted(None if len(tunes) == 1 else tid, t.encode("utf-8")) for tid, t in tunes]

    out = []
    for item, xml in _to_musicxml(data, fmt, suffix):
        if isinstance(xml, InputError):
            out.append(Converted(item, error=str(xml)))
            continue
        try:
            if to == "musicxml":
                out.append(Converted(item, xml))
            elif to == "midi":
                out.append(Converted(item, _musicxml_to_midi(xml)))
            elif to == "mtf":
                out.append(Converted(item, midi_to_mtf(_musicxml_to_midi(xml), not full_mtf).encode("utf-8")))
            elif to == "abc":
                abc = xml_to_abc(xml, "clamp1" if family == "clamp1" else "standard")
                out.append(Converted(item, (clamp1_filter_abc(abc) if family == "clamp1" else abc).encode("utf-8")))
            else:  # iabc
                text, warnings = interleave(xml_to_abc(xml, "standard"))
                out.append(Converted(item, text.encode("utf-8"), warnings=warnings))
        except InputError as exc:
            out.append(Converted(item, error=str(exc)))
    return out


def convert_path(path: str, to: str, family: str, full_mtf: bool) -> list[Converted]:
    """Worker entry point: errors come back inside the results, never as exceptions."""
    try:
        return convert_bytes(Path(path).read_bytes(), Path(path).suffix, to, family, full_mtf)
    except InputError as exc:
        return [Converted(None, error=str(exc))]
    except OSError as exc:
        return [Converted(None, error=exc.strerror or str(exc))]
