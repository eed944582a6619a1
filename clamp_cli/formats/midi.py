"""MIDI <-> MTF, the MIDI text format of CLaMP 2/3 (MODELS.md section 6), with mido."""

from __future__ import annotations

import io

import mido
from mido.midifiles.meta import KeySignatureError

from ..errors import InputError

# Meta messages left out in M3-compatible mode (used for embedding).
M3_SKIPPED_META = ("text", "copyright", "track_name", "instrument_name", "lyrics", "marker", "cue_marker",
                   "device_name")


def require_mtf_header(first_line: str) -> None:
    if first_line.split(" ")[0] != "ticks_per_beat":
        raise InputError("not MTF: the first line must be 'ticks_per_beat N'")


def read_midi(data: bytes) -> mido.MidiFile:
    if not data:
        raise InputError("empty file")
    try:
        return mido.MidiFile(file=io.BytesIO(data))
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError, KeySignatureError) as exc:
        raise InputError(f"not a readable MIDI file ({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__})") from None


def message_line(msg) -> str:
    return " ".join(str(v) for v in msg.dict().values()).encode("unicode_escape").decode("utf-8")


def midi_to_mtf(data: bytes, m3_compatible: bool = True) -> str:
    """One line per message of the merged track, after `ticks_per_beat N`."""
    mid = read_midi(data)
    lines = [f"ticks_per_beat {mid.ticks_per_beat}"]
    try:
        for msg in mid.merged_track:
            if m3_compatible and msg.is_meta and msg.type in M3_SKIPPED_META:
                continue
            lines.append(message_line(msg))
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"damaged MIDI track ({exc})") from None
    return "\n".join(lines)


def _number(token: str):
    value = float(token)
    return int(value) if value % 1 == 0 else value


def _parse_line(line: str):
    kind = line.split(" ")[0]
    try:
        msg = mido.Message(kind)
    except (LookupError, ValueError):
        try:
            msg = mido.MetaMessage(kind)
        except (LookupError, ValueError):
            raise InputError(f"unknown MIDI message type '{kind}' in MTF") from None
    fields = [k for k in msg.dict() if k != "type"]
    if kind in M3_SKIPPED_META:                       # free text with spaces, then the time
        words = line.split(" ")
        values = [" ".join(words[1:-1]).encode("utf-8").decode("unicode_escape"), words[-1]]
    elif "[" in line or "(" in line:                  # a data list: sysex, sequencer_specific, ...
        open_ch = "[" if "[" in line else "("
        left, right = line.index(open_ch), line.index("]" if open_ch == "[" else ")")
        inner = line[left + 1:right].strip()
        data = [int(x) for x in inner.split(",") if x.strip()] if inner else []
        values = [v for v in line[:left].split(" ")[1:] if v] + [data] + [v for v in line[right + 1:].split(" ") if v]
    else:
        values = line.split(" ")[1:]
    if len(values) != len(fields):
        raise InputError(f"MTF line has {len(values)} values, {kind} needs {len(fields)}: {line[:60]}")
    for key, value in zip(fields, values):
        current = getattr(msg, key)
        if isinstance(current, (int, float)) and not isinstance(current, bool) and isinstance(value, str):
            value = _number(value)
        elif isinstance(current, tuple) and isinstance(value, list):
            value = tuple(value)
        setattr(msg, key, value)
    return msg


def parse_mtf(text: str) -> tuple[int, list]:
    """(ticks per beat, MIDI messages) of MTF text; refuses MTF no MIDI file could come from,
    naming the first bad line."""
    lines = text.splitlines()
    require_mtf_header(lines[0] if lines else "")
    try:
        ticks = int(lines[0].split(" ")[1])
    except (IndexError, ValueError):
        raise InputError("not MTF: the first line must be 'ticks_per_beat N' with N a whole number") from None
    messages = []
    for n, line in enumerate(lines[1:], start=2):
        if not line or line.startswith("unknown_meta"):
            continue
        try:
            messages.append(_parse_line(line))
        except InputError as exc:
            raise InputError(f"not valid MTF: line {n}: {exc}") from None
        except (ValueError, TypeError, LookupError) as exc:
            raise InputError(f"not valid MTF: line {n}: {str(exc)[:80]} ({line[:40]})") from None
    return ticks, messages


def check_mtf(text: str) -> None:
    """Refuse MTF that no MIDI file could come from (see `parse_mtf`)."""
    parse_mtf(text)


def mtf_to_midi(text: str) -> bytes:
    """MTF text -> a type-0 MIDI file (the inverse of `midi_to_mtf`)."""
    ticks, messages = parse_mtf(text)
    mid = mido.MidiFile()
    try:
        mid.ticks_per_beat = ticks
        mid.tracks.append(mido.MidiTrack(messages))
        out = io.BytesIO()
        mid.save(file=out)
    except (ValueError, TypeError, LookupError) as exc:
        raise InputError(f"not valid MTF ({exc})") from None
    return out.getvalue()
