"""Scores -> MIDI files that vary the way people's files do (clamp-mini 2's training renderings).

music21's own writer gives every file the same shape: one resolution (10,080 ticks per beat),
one velocity, one track per part, no accompaniment, exact timing. Files people have differ in
all of these, and the model reads MIDI as MTF text where each of them shows. `draw_style` picks
one rendering per piece from a seeded generator; `render` writes it with mido:

- resolution: 96 to 1,024 ticks per beat, and a quarter of the files rewritten at 1,920, 3,840 or
  10,080 (`rescale`, drawn from a generator of its own so the other draws stay as they were);
- tempo from the score's mark or 60-180 bpm, sometimes changing once or slowing at the end;
- type 0 (one track) or type 1 (a conductor track and a track per line);
- programs drawn from the instruments folk and classical files use, or no program change;
- velocities: a level per line, accents on the strong beats, random spread;
- for one-line tunes, an accompaniment: chords (the score's chord symbols, else the triad of
  the key that covers most of the bar's notes: I, IV, V, ii, vi, iii in that order of
  preference), a bass line (the chord's root), or both, on their own channels or tracks;
- repeats written out or not;
- timing: quantised, or humanised (each onset moved by a normal draw of 5-25 ms, notes held
  for 70-100% of their value); "performance" renderings also shape the tempo (a slow drift of
  up to 8%, a ritardando at the end), keep one fixed tempo meta like a recorded performance,
  and hold the sustain pedal on piano, so the score's beat no longer lines up with the ticks.

`music21_midi` is the other route (music21's writer), kept for evaluation: files made by a
different route than the training renderer.
"""

from __future__ import annotations

import io
import math
import random
from collections import Counter
from dataclasses import dataclass, field

MELODY_PROGRAMS = (40, 40, 110, 73, 72, 78, 21, 22, 0, 0, 24, 71, 68, 56, 41, 105)
CHORD_PROGRAMS = (0, 0, 24, 25, 21, 48, 4, 19)
BASS_PROGRAMS = (32, 33, 0, 42, 58)
RESOLUTIONS = (96, 120, 192, 220, 240, 256, 384, 480, 480, 480, 960, 1024)
HIGH_RESOLUTIONS = (1920, 3840, 10080)    # some notation programs and music21's writer (10,080)
HIGH_SHARE = 0.25                         # of the renderings, rewritten at one of these by `rescale`


@dataclass
class Style:
    ticks_per_beat: int = 480
    bpm: float = 120.0
    tempo_change: str = "none"             # "none" | "once" | "ritardando"
    file_type: int = 1
    programs: bool = True
    accompaniment: str = "none"            # "none" | "chords" | "bass" | "both"
    expand_repeats: bool = False
    humanise_ms: float = 0.0
    legato: float = 1.0
    performance: bool = False
    velocity: int = 80
    spread: int = 6
    key_meta: bool = True
    seed: int = 0
    melody_program: int = 40
    chord_program: int = 0
    bass_program: int = 32


def draw_style(rng: random.Random, performance: bool | None = None) -> Style:
    perf = rng.random() < 0.2 if performance is None else performance
    style = Style(
        ticks_per_beat=384 if perf and rng.random() < 0.5 else rng.choice(RESOLUTIONS),
        bpm=float(rng.choice((60, 72, 80, 90, 96, 100, 108, 112, 120, 126, 132, 144, 160, 180))),
        tempo_change=rng.choice(("none", "none", "none", "once", "ritardando")),
        file_type=rng.choice((0, 1, 1)),
        programs=rng.random() < 0.85,
        accompaniment=rng.choice(("none", "none", "chords", "bass", "both")),
        expand_repeats=rng.random() < 0.5,
        humanise_ms=rng.uniform(5, 25) if perf or rng.random() < 0.4 else 0.0,
        legato=rng.uniform(0.7, 1.0) if rng.random() < 0.6 else 1.0,
        performance=perf,
        velocity=rng.randint(50, 110),
        spread=rng.randint(0, 12),
        key_meta=rng.random() < 0.6,
        seed=rng.randrange(2 ** 31),
        melody_program=rng.choice(MELODY_PROGRAMS),
        chord_program=rng.choice(CHORD_PROGRAMS),
        bass_program=rng.choice(BASS_PROGRAMS),
    )
    if perf:
        style.programs = True
        style.melody_program = 0 if rng.random() < 0.6 else style.melody_program
    return style


@dataclass
class Line:
    """One voice: (onset, duration, pitch) in quarter notes, and its strong-beat onsets."""
    notes: list[tuple[float, float, int]] = field(default_factory=list)
    role: str = "melody"


def _lines_of(score, expand: bool):
    """The score's lines, chord symbols (onset, pitches), bars (offset, length), tempo mark and metre."""
    from music21 import harmony, meter, note, tempo

    if expand:
        try:
            score = score.expandRepeats()
        except Exception:  # noqa: BLE001 - music21 raises many types on odd repeat structures
            pass
    parts = list(score.parts) if hasattr(score, "parts") and len(score.parts) else [score]
    lines: list[Line] = []
    chords: list[tuple[float, list[int]]] = []
    bars: list[tuple[float, float]] = []
    bpm = None
    metre = None
    for i, part in enumerate(parts):
        line = Line()
        flat = part.flatten()
        for el in flat.notesAndRests if hasattr(flat, "notesAndRests") else []:
            if isinstance(el, harmony.ChordSymbol):
                try:
                    chords.append((float(el.offset), [p.midi for p in el.pitches]))
                except Exception:  # noqa: BLE001
                    pass
                continue
            dur = float(el.quarterLength)
            if dur <= 0 or isinstance(el, note.Rest):
                continue
            for p in getattr(el, "pitches", ()):
                line.notes.append((float(el.offset), dur, int(p.midi)))
        if i == 0:
            for m in part.getElementsByClass("Measure"):
                bars.append((float(m.offset), float(m.barDuration.quarterLength)))
            marks = list(flat.getElementsByClass(tempo.MetronomeMark))
            if marks and marks[0].number:
                bpm = float(marks[0].getQuarterBPM() or marks[0].number)
            sigs = Counter((int(ts.numerator), int(ts.denominator)) for ts in part.recurse().getElementsByClass(
                meter.TimeSignature) if ts.denominator in (1, 2, 4, 8, 16, 32))
            if sigs:   # the commonest: music21 gives pickup bars of ABC tunes their own (1/16)
                metre = sigs.most_common(1)[0][0]
        if line.notes:
            lines.append(line)
    return lines, chords, bars, bpm, metre


_TRIADS = ((0, (0, 4, 7)), (5, (0, 4, 7)), (7, (0, 4, 7)), (2, (0, 3, 7)), (9, (0, 3, 7)), (4, (0, 3, 7)))
_MINOR_TRIADS = ((0, (0, 3, 7)), (5, (0, 3, 7)), (7, (0, 4, 7)), (3, (0, 4, 7)), (10, (0, 4, 7)), (8, (0, 4, 7)))


def harmonise(melody: Line, bars: list[tuple[float, float]], tonic: int, minor: bool) -> list[tuple[float, float, list[int]]]:
    """A chord per bar: the key's triad covering most of the bar's melody by duration (documented above)."""
    out = []
    table = _MINOR_TRIADS if minor else _TRIADS
    for start, length in bars:
        weight = [0.0] * 12
        for on, dur, pitch in melody.notes:
            if start <= on < start + length:
                weight[pitch % 12] += dur
        if not any(weight):
            continue
        best = max(table, key=lambda t: sum(weight[(tonic + t[0] + i) % 12] for i in t[1]))
        root = 48 + (tonic + best[0]) % 12
        out.append((start, length, [root + i for i in best[1]]))
    return out


def _tempo_at(style: Style, q: float, total: float) -> float:
    """Beats per minute at quarter-note position q (the tempo shape of a rendering)."""
    bpm = style.bpm
    if style.tempo_change == "once" and q >= total / 2:
        bpm *= 0.85 if style.seed % 2 else 1.15
    if style.tempo_change == "ritardando" and total > 4 and q > total - 4:
        bpm *= 1 - 0.35 * (q - (total - 4)) / 4
    if style.performance:
        bpm *= 1 + 0.08 * math.sin(2 * math.pi * q / 16 + style.seed % 7)
    return max(bpm, 20.0)


def render(score, style: Style, key: tuple[int, bool] | None = None) -> bytes:
    """One music21 score -> MIDI bytes in the given style."""
    import mido

    rng = random.Random(style.seed)
    lines, symbols, bars, mark, metre = _lines_of(score, style.expand_repeats)
    if not lines:
        raise ValueError("no notes")
    if mark and not style.performance:
        style.bpm = mark
    tpb = style.ticks_per_beat
    total = max(on + dur for ln in lines for on, dur, _ in ln.notes)
    if len(lines) == 1 and style.accompaniment != "none" and bars:
        if symbols:
            ends = [s for s, _ in symbols[1:]] + [total]
            chords = [(on, end - on, [48 + (p - 48) % 12 for p in ps]) for (on, ps), end in zip(symbols, ends)]
        elif key is not None:
            chords = harmonise(lines[0], bars, key[0], key[1])
        else:
            chords = []
        if style.accompaniment in ("chords", "both") and chords:
            lines.append(Line([(on, dur, p + 12) for on, dur, ps in chords for p in ps], "chords"))
        if style.accompaniment in ("bass", "both") and chords:
            lines.append(Line([(on, dur, ps[0] - 12) for on, dur, ps in chords], "bass"))
    bar_starts = {round(s, 3) for s, _ in bars}

    # seconds at each quarter position, by integrating the tempo shape in steps of a sixteenth
    step = 0.25
    n_steps = int(total / step) + 2
    seconds = [0.0]
    for i in range(n_steps):
        seconds.append(seconds[-1] + step * 60.0 / _tempo_at(style, i * step, total))

    def time_of(q: float) -> float:
        i = min(int(q / step), n_steps - 1)
        return seconds[i] + (q - i * step) * 60.0 / _tempo_at(style, i * step, total)

    fixed_bpm = style.bpm if style.performance or style.tempo_change == "none" else None
    # ticks: either at one fixed tempo (performances, files without tempo changes) or in score time
    def tick_of(q: float, jitter_s: float = 0.0) -> int:
        if fixed_bpm is not None:
            return max(0, round((time_of(q) + jitter_s) * fixed_bpm / 60.0 * tpb))
        return max(0, round((q + jitter_s * style.bpm / 60.0) * tpb))

    channel_of = {"melody": 0, "chords": 1, "bass": 2}
    events: list[list[tuple[int, object]]] = []
    for li, line in enumerate(lines):
        channel = min(li, 8) if line.role == "melody" else channel_of[line.role]
        base = style.velocity - (18 if line.role != "melody" else 0)
        evs: list[tuple[int, object]] = []
        if style.programs:
            program = {"melody": style.melody_program, "chords": style.chord_program, "bass": style.bass_program}[line.role]
            evs.append((0, mido.Message("program_change", channel=channel, program=program, time=0)))
        for on, dur, pitch in line.notes:
            jitter = rng.gauss(0, style.humanise_ms / 1000) if style.humanise_ms else 0.0
            vel = base + (10 if round(on, 3) in bar_starts else 0) + (rng.randint(-style.spread, style.spread)
                                                                     if style.spread else 0)
            if style.performance:
                vel += int(12 * math.sin(2 * math.pi * on / 32))
            vel = max(1, min(127, vel))
            start = tick_of(on, jitter)
            end = max(start + 1, tick_of(on + dur * style.legato, jitter))
            pitch = max(0, min(127, pitch))
            evs.append((start, mido.Message("note_on", channel=channel, note=pitch, velocity=vel, time=0)))
            evs.append((end, mido.Message("note_off" if rng.random() < 0.5 else "note_on", channel=channel,
                                          note=pitch, velocity=0, time=0)))
        if style.performance and (style.melody_program == 0 or line.role == "chords"):
            for start, length in bars[::2] if len(bars) > 1 else bars:
                evs.append((tick_of(start + 0.1), mido.Message("control_change", channel=channel, control=64,
                                                               value=rng.randint(90, 127), time=0)))
                evs.append((tick_of(start + length * 1.9), mido.Message("control_change", channel=channel,
                                                                        control=64, value=0, time=0)))
        events.append(evs)

    meta: list[tuple[int, object]] = [(0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(fixed_bpm or style.bpm)))]
    if fixed_bpm is None:
        last = style.bpm
        for i in range(int(total)):
            bpm = round(_tempo_at(style, float(i), total), 1)
            if abs(bpm - last) > 0.5:
                meta.append((i * tpb, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))))
                last = bpm
    if metre and not style.performance:
        meta.append((0, mido.MetaMessage("time_signature", numerator=metre[0], denominator=metre[1])))
    if style.key_meta and key is not None:
        meta.append((0, mido.MetaMessage("key_signature", key=_key_name(key))))

    def track(evs: list[tuple[int, object]]) -> mido.MidiTrack:
        out = mido.MidiTrack()
        now = 0
        for tick, msg in sorted(evs, key=lambda e: (e[0], 0 if getattr(e[1], "velocity", 1) == 0
                                                    or e[1].type == "note_off" else 1)):
            out.append(msg.copy(time=tick - now))
            now = tick
        out.append(mido.MetaMessage("end_of_track", time=0))
        return out

    mid = mido.MidiFile(type=style.file_type, ticks_per_beat=tpb)
    if style.file_type == 0:
        mid.tracks.append(track(meta + [e for evs in events for e in evs]))
    else:
        mid.tracks.append(track(meta))
        for evs in events:
            mid.tracks.append(track(evs))
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


_SHARP_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def rescale(data: bytes, ticks_per_beat: int) -> bytes:
    """The same MIDI file at another resolution: every delta time scaled (rounded on the absolute
    times, so errors do not add up)."""
    import mido

    mid = mido.MidiFile(file=io.BytesIO(data))
    factor = ticks_per_beat / mid.ticks_per_beat
    for track in mid.tracks:
        now = scaled = 0
        for msg in track:
            now += msg.time
            new = round(now * factor)
            msg.time, scaled = new - scaled, new
    mid.ticks_per_beat = ticks_per_beat
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def _key_name(key: tuple[int, bool]) -> str:
    return _SHARP_NAMES[key[0] % 12] + ("m" if key[1] else "")


def key_of(score) -> tuple[int, bool] | None:
    """(tonic pitch class, minor) of a score: its key signature's mode when stated, else analysed."""
    try:
        k = score.analyze("key")
        return k.tonic.pitchClass, k.mode == "minor"
    except Exception:  # noqa: BLE001
        return None


def music21_midi(score) -> bytes:
    """music21's own writer: the evaluation route, never used for training."""
    import music21

    return music21.midi.translate.streamToMidiFile(score).writestr()
