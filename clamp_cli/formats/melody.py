"""The melody of a piece: its main line as notes (MIDI pitch, onset and duration in quarter notes,
bar), what melody search matches.

Two routes, one rule for the line: the melody voice is one whose name says so (a MIDI track,
a score's part: the whole words melody, lead, vocal, voice, tune, solo, soprano, cantus, melodie,
canto) if it holds at least a fifth of the notes of the fullest voice, else the voice with the
highest mean pitch among those that do (an accompaniment's chords hold many notes, a melody sits
on top).
- MIDI (and MTF) files are read as they are, with mido: a voice is a (track, channel); channel
  10 (drums) is left out; a type-0 file's one track name is its title, not a voice's. Bars come
  from the file's time signatures (4/4 when it has none), from 1.
- Scores (ABC through abc2xml, as the embedding converts them, one tune at a time; MusicXML as it
  is; Humdrum, MEI and the rest through music21's MusicXML) are read from MusicXML with
  ElementTree: a voice is a part's first staff; grace and cue notes left out (ornaments), tied
  notes joined. Bars are the score's measure numbers (a pickup numbered 0 is bar 0; measures
  without a number are counted on).
Then, in both, the skyline: a note that starts while a higher one sounds is left out, the
highest of notes starting together is kept, and each note is cut where the next begins (the
line a listener follows).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

MELODY_NAMES = frozenset({"melody", "lead", "vocal", "vocals", "voice", "tune", "solo", "soprano", "cantus",
                          "melodie", "canto"})
DRUM_CHANNEL = 9
MIN_SHARE = 0.2     # of the fullest voice's notes, for a voice to be the melody by pitch


@dataclass(frozen=True)
class Melody:
    """A monophonic line: one entry per note, in time order."""

    pitches: np.ndarray     # int16, MIDI note numbers
    onsets: np.ndarray      # float32, quarter notes from the start
    durations: np.ndarray   # float32, quarter notes
    bars: np.ndarray        # int32, from 1

    def __len__(self) -> int:
        return len(self.pitches)

    def intervals(self) -> np.ndarray:
        """Semitones from each note to the next: what does not change with the key."""
        return np.diff(self.pitches.astype(np.int16))

    def excerpt(self, start: int, stop: int) -> Melody:
        return Melody(self.pitches[start:stop], self.onsets[start:stop], self.durations[start:stop],
                      self.bars[start:stop])

    def to_bytes(self) -> bytes:
        """float32 rows of (pitch, onset, duration, bar): what the cache keeps (exact below 2**24)."""
        return np.stack([self.pitches, self.onsets, self.durations, self.bars]).astype(np.float32).tobytes()

    @classmethod
    def from_bytes(cls, blob: bytes) -> Melody | None:
        """to_bytes read back; None for bytes that are not a melody (a damaged cache row)."""
        if not isinstance(blob, bytes) or not blob or len(blob) % 16:
            return None
        rows = np.frombuffer(blob, dtype=np.float32).reshape(4, -1)
        if not np.isfinite(rows).all():
            return None
        return cls(rows[0].astype(np.int16), rows[1].copy(), rows[2].copy(), rows[3].astype(np.int32))


def _notes(mid) -> list[tuple[int, int, int, int, int, str]]:
    """(track, channel, start tick, end tick, pitch, track name) of every note with a length."""
    notes = []
    for t, track in enumerate(mid.tracks):
        name, tick, sounding = "", 0, {}
        for msg in track:
            tick += msg.time
            if msg.type == "track_name" and not name:
                name = str(msg.name)
            elif msg.type == "note_on" and msg.velocity > 0:
                sounding.setdefault((msg.channel, msg.note), []).append(tick)
            elif msg.type in ("note_off", "note_on"):
                starts = sounding.get((msg.channel, msg.note))
                if starts:
                    start = starts.pop(0)
                    if tick > start:
                        notes.append((t, msg.channel, start, tick, msg.note, name))
    return notes


def _bar_starts(mid) -> list[tuple[int, int]]:
    """(tick, bar length in ticks) at each time signature, in time order."""
    changes, tick = [], 0
    for msg in mid.tracks[0] if mid.type != 2 else []:
        tick += msg.time
        if msg.type == "time_signature":
            changes.append((tick, int(mid.ticks_per_beat * 4 * msg.numerator / msg.denominator)))
    if not changes or changes[0][0] > 0:
        changes.insert(0, (0, mid.ticks_per_beat * 4))
    return changes


def _bars_of(ticks: np.ndarray, changes: list[tuple[int, int]]) -> np.ndarray:
    bars = np.empty(len(ticks), dtype=np.int32)
    first_bar = 1
    for i, (start, length) in enumerate(changes):
        end = changes[i + 1][0] if i + 1 < len(changes) else None
        inside = (ticks >= start) & ((ticks < end) if end is not None else True)
        bars[inside] = first_bar + (ticks[inside] - start) // max(length, 1)
        if end is not None:
            first_bar += -(-(end - start) // max(length, 1))
    return bars


def _skyline(starts: np.ndarray, ends: np.ndarray, pitches: np.ndarray, bars: np.ndarray, beat: float) -> Melody:
    """The line on top (the rule in the module's docstring); times in units of `beat`."""
    order = np.lexsort((-pitches, starts))
    starts, ends, pitches, bars = starts[order], ends[order].copy(), pitches[order], bars[order]
    keep = np.zeros(len(starts), dtype=bool)
    top_pitch, top_end = -1, -np.inf
    for i in range(len(starts)):
        if starts[i] < top_end and pitches[i] <= top_pitch:     # under (or with) a higher note still sounding
            continue
        keep[i] = True
        top_pitch, top_end = pitches[i], ends[i]
    starts, ends, pitches, bars = starts[keep], ends[keep], pitches[keep], bars[keep]
    ends[:-1] = np.minimum(ends[:-1], starts[1:])
    return Melody(pitches.astype(np.int16), (starts / beat).astype(np.float32),
                  ((ends - starts) / beat).astype(np.float32), bars.astype(np.int32))


def _melody_voice(voices: list[tuple[str, list]]) -> list:
    """The melody among (name, notes) voices; a note's pitch is its [4]."""
    fullest = max(len(notes) for _, notes in voices)
    enough = [(name, notes) for name, notes in voices if notes and len(notes) >= MIN_SHARE * fullest]
    named = [notes for name, notes in enough if MELODY_NAMES & set(re.findall(r"[a-z]+", name.lower()))]
    if named:
        return max(named, key=len)
    return max((notes for _, notes in enough), key=lambda v: sum(n[4] for n in v) / len(v))


def melody_from_midi(data: bytes) -> Melody:
    """The melody of a MIDI file (the rule in the module's docstring). InputError when it has no notes."""
    from .midi import read_midi

    mid = read_midi(data)
    try:
        notes = [n for n in _notes(mid) if n[1] != DRUM_CHANNEL]
        changes = _bar_starts(mid)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"damaged MIDI track ({exc})") from None
    if not notes:
        raise InputError("no notes to make a melody of")
    voices: dict[tuple[int, int], list] = {}
    for n in notes:
        voices.setdefault((n[0], n[1]), []).append(n)
    voice = _melody_voice([("" if mid.type == 0 else v[0][5], v) for v in voices.values()])
    starts = np.array([n[2] for n in voice], dtype=np.int64)
    return _skyline(starts, np.array([n[3] for n in voice], dtype=np.int64),
                    np.array([n[4] for n in voice], dtype=np.int64), _bars_of(starts, changes),
                    float(mid.ticks_per_beat))


STEPS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def _part_notes(part) -> list[tuple[int, int, float, float, int, int]]:
    """(0, 0, onset, end, pitch, bar) of the notes of a part's first staff, onsets in quarter notes."""
    divisions, time, furthest = 1.0, 0.0, 0.0
    notes: list[list] = []
    tied: dict[int, int] = {}                               # pitch -> its note that a tie goes on from
    bar = 0
    for measure in part.findall("measure"):
        number = measure.get("number", "")
        bar = int(number) if number.lstrip("-").isdigit() else bar + 1
        time = furthest                                     # a voice that stopped short does not pull the bar back
        chord_onset = time
        for el in measure:
            if el.tag == "attributes" and el.findtext("divisions"):
                divisions = float(el.findtext("divisions")) or 1.0
            elif el.tag in ("backup", "forward"):
                step = float(el.findtext("duration") or 0) / divisions
                time += -step if el.tag == "backup" else step
            elif el.tag == "note":
                length = float(el.findtext("duration") or 0) / divisions
                if el.find("chord") is None:
                    chord_onset = time
                    time += length
                onset = chord_onset
                furthest = max(furthest, time)
                if el.find("grace") is not None or el.find("cue") is not None or el.find("rest") is not None \
                        or el.find("pitch") is None or (el.findtext("staff") or "1") != "1":
                    continue
                pitch = el.find("pitch")
                midi = 12 * (int(pitch.findtext("octave") or 4) + 1) + STEPS.get(pitch.findtext("step") or "C", 0) \
                    + round(float(pitch.findtext("alter") or 0))
                ties = {t.get("type") for t in el.findall("tie")}
                if "stop" in ties and midi in tied:         # the same note held on: one longer note
                    notes[tied[midi]][3] = onset + length
                    if "start" not in ties:
                        del tied[midi]
                    continue
                notes.append([0, 0, onset, onset + length, midi, bar])
                if "start" in ties:
                    tied[midi] = len(notes) - 1
        furthest = max(furthest, time)
    return [tuple(n) for n in notes]


def melody_from_musicxml(xml: bytes) -> Melody:
    """The melody of a partwise MusicXML score (the rule in the module's docstring)."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise InputError(f"not readable MusicXML ({exc})") from None
    for el in root.iter():                                  # namespaced files: plain tag names
        if isinstance(el.tag, str) and "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]
    names = {p.get("id"): (p.findtext("part-name") or "") for p in root.iter("score-part")}
    try:
        voices = [(names.get(part.get("id"), ""), _part_notes(part)) for part in root.findall("part")]
    except ValueError as exc:                               # a number that is none (<octave>x</octave>)
        raise InputError(f"damaged MusicXML ({exc})") from None
    if not any(notes for _, notes in voices):
        raise InputError("no notes to make a melody of")
    voice = _melody_voice(voices)
    return _skyline(np.array([n[2] for n in voice]), np.array([n[3] for n in voice]), np.array([n[4] for n in voice]),
                    np.array([n[5] for n in voice]), 1.0)


def _joined(found: list[Melody]) -> Melody:
    """Tunes one after another, as one piece (--whole-file): onsets and bars go on."""
    pitches, onsets, durations, bars = [], [], [], []
    time, bar = 0.0, 0
    for m in found:
        pitches.append(m.pitches)
        onsets.append(m.onsets + time)
        durations.append(m.durations)
        bars.append(m.bars - int(m.bars.min()) + bar + 1)
        time, bar = float(onsets[-1][-1] + durations[-1][-1]), int(bars[-1].max())
    return Melody(np.concatenate(pitches), np.concatenate(onsets).astype(np.float32),
                  np.concatenate(durations).astype(np.float32), np.concatenate(bars).astype(np.int32))


def melodies(data: bytes, suffix: str, whole_file: bool = False) -> list[tuple[str | None, Melody | str]]:
    """(tune id, its melody or why there is none) for each piece of a file of any score format
    (tune ids as the embedding gives them: None for a file of one piece). Each score converts
    under its own conversion limit (formats.limits). InputError for the whole file."""
    from . import MUSIC_FORMATS, SUFFIX_FORMAT, decode_score_text, decode_text, score_to_musicxml
    from .abc import abc_to_xml, split_tunes
    from .limits import score_limit
    from .midi import mtf_to_midi

    fmt = SUFFIX_FORMAT.get(suffix.lower())
    if fmt not in MUSIC_FORMATS:
        raise InputError(f"not a score format clamp reads ({suffix or 'no extension'})")
    with score_limit():
        if fmt == "midi":
            return [(None, melody_from_midi(data))]
        if fmt == "mtf":
            return [(None, melody_from_midi(mtf_to_midi(decode_text(data))))]
        if fmt != "abc":
            return [(None, melody_from_musicxml(score_to_musicxml(data, fmt, suffix)))]
    tunes = split_tunes(decode_score_text(data, fmt)[0])
    if not tunes:
        raise InputError("no ABC tune in the file")
    out: list[tuple[str | None, Melody | str]] = []
    for item, tune in tunes:
        try:
            with score_limit():
                out.append((item if len(tunes) > 1 else None, melody_from_musicxml(abc_to_xml(tune).encode("utf-8"))))
        except InputError as exc:
            out.append((item if len(tunes) > 1 else None, str(exc)))
    if whole_file and len(out) > 1:
        found = [m for _, m in out if isinstance(m, Melody)]
        return [(None, _joined(found) if found else next(m for _, m in out))]
    return out


def melody_from_abc_notes(notes: str) -> Melody:
    """A melody typed as ABC notes ("DFA dAF|GBd gfe"), with optional K:, L:, M: fields before
    them (K:C, L:1/8, M:none by default). InputError when they make no notes."""
    fields = {"K": "C", "L": "1/8", "M": "none"}
    body = []
    for line in notes.replace("\\n", "\n").splitlines():
        line = line.strip()
        if len(line) > 1 and line[1] == ":" and line[0].isalpha() and line[:3] != "K:|":    # a header line
            if line[0] in "KLMQ":
                fields[line[0]] = line[2:].strip()          # the others (X:, T:, a pasted tune's) say nothing of notes
        elif line:
            body.append(line)
    if not body:
        raise InputError("no notes in the melody query")
    tune = "X:1\nT:query\n" + "".join(f"{k}:{fields[k]}\n" for k in ("M", "L") if k in fields)
    if "Q" in fields:
        tune += f"Q:{fields['Q']}\n"
    tune += f"K:{fields['K']}\n" + "\n".join(body) + "\n"
    found = melodies(tune.encode("utf-8"), ".abc")
    if not found or isinstance(found[0][1], str):
        reason = found[0][1] if found else "no tune"
        raise InputError(f"the melody query is not ABC notes clamp can read ({reason})")
    return found[0][1]


VOICED = 0.5            # a frame's pitch confidence from which it counts as a sung or played note
MIN_NOTE_SECONDS = 0.04
STEP_SEMITONES = 0.6    # a move this far from the note's pitch so far starts a new note
ONSET_RISE = 2.0        # a note that fades to 1/2 of its peak and swells 2x again is struck again


def melody_from_pitch(pitch: np.ndarray, confidence: np.ndarray, loudness: np.ndarray, hop: float) -> Melody:
    """A pitch track (MIDI pitch, confidence and loudness every `hop` seconds) -> notes, the rule:
    frames of confidence >= VOICED and audible loudness (above 2% of the loudest frame's) are
    voiced; a note is a run of voiced frames, broken where the pitch moves STEP_SEMITONES or more
    from the median of the note's last 50 frames (a new pitch, kept when it holds two frames) or where a sound that
    faded to 1/ONSET_RISE of its peak swells ONSET_RISE times again (a repeated note, at least 60 ms
    in); runs shorter than 40 ms are dropped.
    Each note's pitch is its frames' median, after removing the performer's tuning (the mean
    offset from equal temperament, measured on the circle), rounded to a semitone. Onsets and
    durations are in seconds; every note is in bar 1 (a recording has no bar lines)."""
    pitch = np.asarray(pitch, np.float64)
    loud = np.asarray(loudness, np.float64)
    voiced = (np.asarray(confidence) >= VOICED) & (loud > 0.02 * (loud.max() if len(loud) else 0.0)) \
        & np.isfinite(pitch)
    if voiced.any():
        angle = np.angle(np.exp(2j * np.pi * pitch[voiced]).mean())
        pitch = pitch - angle / (2 * np.pi)
    notes: list[tuple[int, int, float]] = []        # (first frame, last frame + 1, pitch)
    start, frames = None, []
    window = max(1, round(0.06 / hop))

    def close(end: int) -> None:
        if start is not None and (end - start) * hop >= MIN_NOTE_SECONDS:
            notes.append((start, end, float(np.median(frames))))

    for k in range(len(pitch)):
        if not voiced[k]:
            close(k)
            start, frames = None, []
            continue
        if start is not None:
            centre = float(np.median(frames[-50:]))     # the note's pitch over its last half second
            moved = abs(pitch[k] - centre) >= STEP_SEMITONES and \
                (k + 1 >= len(pitch) or not voiced[k + 1] or abs(pitch[k + 1] - centre) >= STEP_SEMITONES)
            sounded = loud[max(start, k - 100):k]      # the last second of the note
            peak = int(sounded.argmax())
            dip = float(sounded[peak:].min())
            swelled = sounded[peak] > ONSET_RISE * dip and loud[k] > ONSET_RISE * dip   # faded, then struck again
            if moved or (swelled and k - start >= window):
                close(k)
                start, frames = None, []
        if start is None:
            start = k
        frames.append(pitch[k])
    close(len(pitch))
    if not notes:
        return Melody(np.zeros(0, np.int16), np.zeros(0, np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))
    first = np.array([a for a, _, _ in notes]) * hop
    last = np.array([b for _, b, _ in notes]) * hop
    return Melody(np.rint([p for _, _, p in notes]).astype(np.int16), first.astype(np.float32),
                  (last - first).astype(np.float32), np.ones(len(notes), np.int32))
