"""A mutational fuzzer of clamp's reading path: real files of every input format, damaged at random.

    python benchmarks/fuzz_inputs.py [--minutes 5] [--seed 0] [--formats abc,midi,...] [--findings DIR]

Why a fuzzer of our own and not Hypothesis or atheris: what is tested is a pipeline of worker
processes with time and memory limits (`formats.pool`, `formats.limits`), so the interesting
failures are a process that hangs, dies or grows, which only a supervisor outside the process
can see; atheris runs its target in its own process (a hang or a blow-up ends the fuzzer, and
its coverage feedback does not reach the conversion workers), and is not installed. Hypothesis
is made for generated values and shrinking them, not for mutating a corpus of real files with a
time budget, and its health checks and shrinking fight examples that take seconds each. A
seeded mutational loop is short, reproducible (`--seed`), and its mutations can know the formats.

Seeds (built once, under --seeds): music21's corpus (ABC, MusicXML, .mxl, Humdrum) and its test
files (MEI, MIDI), MIDI and MTF written by `clamp convert` from corpus scores, `.npy` feature files
in the MERT layout `clamp convert --to mert` writes (random values: the MERT weights are not
needed), and WAV/FLAC/MP3 recordings synthesised with soundfile.

Mutations, one to four stacked: byte flips, interesting bytes, inserted and deleted ranges,
truncation, splices of two seeds, repeated blocks; and where it is cheap, knowing the format:
ABC header fields and music tokens, XML elements and their numbers (MusicXML, MEI, the score
inside an .mxl), .mxl zip entries (removed, renamed, container.xml pointing elsewhere), MIDI
chunk lengths, header fields and variable-length numbers, MTF lines and numbers, Humdrum spine
operations, the .npy header's shape/dtype/order, WAV/FLAC header fields (rate, channels, sizes).

Each mutant goes through what `clamp embed` or `clamp convert` does with a file of its kind:
scores are hashed (`reading.hash_input`) and converted in a worker process with the per-file
time and memory limits (`pool.map_files` with `index.embedder.convert_file_and_melodies` and the model's text
style, then patched as the encoder does; or `formats.convert.convert_path` to a random target);
`.npy` files are read and loaded (`reading.read_input`, `load_npy`, `Encoder.audio_frames`);
recordings are decoded and resampled to 24 kHz (`audio.load_recording`; MERT itself is not run).
The harness runs in a child process watched from outside:

- success, or a refusal (an `InputError`, or a piece's one-line error, a limit hit included): fine;
- a crash: any other exception reaching the caller, a traceback on stderr, a worker process that
  died, or the last-resort "internal error" line of `convert_path` (a bug caught, still a bug);
- a hang: no answer within --hang-seconds past the per-score time limit;
- a memory blow-up: the child and its workers past --rss-mb, or a MemoryError escaping (the child
  runs under an address-space cap so that a blow-up cannot hurt the machine).

Each finding's file (and a minimised copy for crashes) goes to --findings with the traceback.
The fuzzer sets CLAMP_CONVERT_TIMEOUT=--timeout (10 s) to try more files per minute.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import re
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FORMATS = ("abc", "musicxml", "mxl", "midi", "mtf", "krn", "mei", "npy", "wav", "flac", "mp3")
MUSIC = {"abc", "musicxml", "mxl", "midi", "mtf", "krn", "mei"}
EXT = {"abc": ".abc", "musicxml": ".xml", "mxl": ".mxl", "midi": ".mid", "mtf": ".mtf", "krn": ".krn",
       "mei": ".mei", "npy": ".npy", "wav": ".wav", "flac": ".flac", "mp3": ".mp3"}
MAX_MUTANT = 2 * 2**20          # bytes; larger mutants are cut (the size limits are tested elsewhere)
MAX_TUNES = 8                   # ABC mutants with more X: tunes are cut to this many (each tune has its own time)
TAG = "@@fuzz "

# -- seeds ---------------------------------------------------------------------------------------


def _corpus() -> Path:
    import music21

    return Path(music21.__file__).parent / "corpus"


def _pick(files: list[Path], n: int, rng: random.Random, most: int) -> list[Path]:
    files = sorted(f for f in files if f.stat().st_size <= most)
    rng.shuffle(files)
    return files[:n]


def _few_tunes(text: str, n: int = 2) -> str:
    parts = re.split(r"(?m)^(?=X:)", text)
    return "".join(parts[:n + 1]) if len(parts) > n + 1 else text


def build_seeds(folder: Path, rng: random.Random) -> None:
    """Real files of each format into folder/<format>/ (once: an existing folder is reused)."""
    import numpy as np
    import soundfile as sf

    corpus, m21 = _corpus(), _corpus().parent
    per = 40
    out = {fmt: folder / fmt for fmt in FORMATS}
    for d in out.values():
        d.mkdir(parents=True, exist_ok=True)
    for f in _pick(list(corpus.rglob("*.abc")), per, rng, 40_000):
        text = f.read_bytes().decode("latin-1")
        (out["abc"] / f.name).write_bytes(_few_tunes(text).encode("latin-1"))
    for f in _pick(list(corpus.rglob("*.krn")), per, rng, 20_000):
        shutil.copy(f, out["krn"] / f.name)
    small_mxl = _pick(list(corpus.rglob("*.mxl")), 2 * per, rng, 12_000)
    for f in small_mxl[:per]:
        shutil.copy(f, out["mxl"] / f.name)
    for f in _pick(list(corpus.rglob("*.xml")) + list(corpus.rglob("*.musicxml")), 8, rng, 80_000):
        shutil.copy(f, out["musicxml"] / f.name)
    for f in small_mxl[per:]:             # more MusicXML: the scores inside other .mxl files
        try:
            with zipfile.ZipFile(f) as z:
                name = next(n for n in z.namelist() if not n.startswith("META-INF") and n.endswith((".xml", ".musicxml")))
                (out["musicxml"] / (f.stem + ".musicxml")).write_bytes(z.read(name))
        except (StopIteration, zipfile.BadZipFile):
            pass
    for f in sorted((m21 / "mei" / "test").glob("*.mei")):
        shutil.copy(f, out["mei"] / f.name)
    for f in sorted((m21 / "midi" / "testPrimitive").glob("*.mid")):
        shutil.copy(f, out["midi"] / f.name)
    # MIDI and MTF written by `clamp convert` from corpus scores
    stage = folder / "_stage"
    stage.mkdir(exist_ok=True)
    for f in sorted(out["abc"].iterdir())[:8] + sorted(out["krn"].iterdir())[:6] + sorted(out["mxl"].iterdir())[:6]:
        shutil.copy(f, stage / f.name)
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    clamp = [sys.executable, "-m", "clamp_cli.cli.main", "convert", "-q", "--force"]
    subprocess.run([*clamp, str(stage), "--to", "midi", "-O", str(folder / "_midi")], env=env, check=False)
    for f in sorted((folder / "_midi").rglob("*.mid")):
        shutil.copy(f, out["midi"] / ("clamp-" + f.name))
    subprocess.run([*clamp, str(out["midi"]), "--to", "mtf", "-O", str(folder / "_mtf")], env=env, check=False)
    subprocess.run([*clamp, str(stage), "--to", "mtf", "--full", "-O", str(folder / "_mtf_full")], env=env, check=False)
    for sub in ("_mtf", "_mtf_full"):
        for f in sorted((folder / sub).rglob("*.mtf")):
            shutil.copy(f, out["mtf"] / (sub.strip("_") + "-" + f.name))
    # .npy: the MERT feature layout `clamp convert --to mert` writes, (1, W, 768), and the global vectors
    nrng = np.random.default_rng(0)
    for k, shape in enumerate([(1, 3, 768), (1, 17, 768), (1, 1, 768), (1, 768), (768,), (2, 5, 768)]):
        for dtype in ("float32", "float16"):
            np.save(out["npy"] / f"mert{k}-{dtype}.npy", nrng.standard_normal(shape).astype(dtype))
    # recordings, synthesised
    arng = np.random.default_rng(1)
    k = 0
    for rate in (8000, 16000, 22050, 24000, 44100, 48000):
        for channels in (1, 2):
            n = int(rate * arng.uniform(0.2, 1.5))
            t = np.arange(n) / rate
            x = 0.3 * np.sin(2 * np.pi * arng.uniform(110, 880) * t)[:, None] + 0.05 * arng.standard_normal((n, channels))
            x = x.astype(np.float32)
            for fmt, subtypes in (("wav", ("PCM_16", "PCM_24", "FLOAT", "PCM_U8")), ("flac", ("PCM_16", "PCM_24")),
                                  ("mp3", ("MPEG_LAYER_III",))):
                if fmt == "mp3" and rate not in (8000, 16000, 22050, 24000, 44100, 48000):
                    continue
                subtype = subtypes[k % len(subtypes)]
                try:
                    sf.write(out[fmt] / f"tone{k}-{rate}-{channels}.{fmt}", x, rate, subtype=subtype,
                             format={"wav": "WAV", "flac": "FLAC", "mp3": "MP3"}[fmt])
                except Exception as exc:  # noqa: BLE001 - a libsndfile without this encoder
                    print(f"  (no {fmt} {subtype} at {rate} Hz: {exc})")
            k += 1
    (folder / "READY").write_text("seeds built\n")


def load_seeds(folder: Path, formats, rng) -> dict[str, list[bytes]]:
    if not (folder / "READY").exists():
        print(f"building seeds in {folder} ...", flush=True)
        build_seeds(folder, rng)
    seeds = {fmt: [f.read_bytes() for f in sorted((folder / fmt).iterdir()) if f.is_file()] for fmt in formats}
    return seeds


# -- mutations -----------------------------------------------------------------------------------

INTERESTING = [b"\x00", b"\xff", b"\x7f", b"\x80", b"\x00\x00", b"\xff\xff", b"\x7f\xff", b"\x80\x00",
               b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x80\x00\x00\x00", b"\x01"]
WEIRD_NUMBERS = ["0", "-1", "1", "-0", "999999999", "4294967296", "1e308", "nan", "inf", "0.0001", "3/0", "0/0",
                 "", " ", "x", "2147483648", "-2147483649", "1.5", "00000000000000000000001", "9" * 40]


def _span(rng, n):
    if n == 0:
        return 0, 0
    a = rng.randrange(n)
    return a, min(n, a + rng.choice([1, 2, 4, 8, 16, 64, 256, 4096]))


def m_flip(rng, d, ctx):
    if not d:
        return d
    b = bytearray(d)
    for _ in range(rng.choice([1, 1, 2, 4, 16])):
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


def m_byte(rng, d, ctx):
    if not d:
        return d
    b = bytearray(d)
    i = rng.randrange(len(b))
    v = rng.choice(INTERESTING)
    b[i:i + len(v)] = v
    return bytes(b)


def m_insert(rng, d, ctx):
    i = rng.randrange(len(d) + 1)
    junk = rng.choice([bytes(rng.randrange(256) for _ in range(rng.randrange(1, 32))), rng.choice(INTERESTING),
                       rng.choice(WEIRD_NUMBERS).encode(), b"\n", b"\r", b"<", b"\xef\xbb\xbf", b"\x00" * 64])
    return d[:i] + junk + d[i:]


def m_delete(rng, d, ctx):
    a, b = _span(rng, len(d))
    return d[:a] + d[b:]


def m_truncate(rng, d, ctx):
    return d[:rng.randrange(len(d) + 1)] if d else d


def m_splice(rng, d, ctx):
    other = rng.choice(ctx["pool"])
    return d[:rng.randrange(len(d) + 1)] + other[rng.randrange(len(other) + 1):]


def m_repeat(rng, d, ctx):
    a, b = _span(rng, len(d))
    times = rng.choice([2, 3, 10, 100, 1000])
    return d[:b] + d[a:b] * times + d[b:]


# text formats: lines and numbers


def _lines(d):
    return d.split(b"\n")


def m_number(rng, d, ctx):
    nums = list(re.finditer(rb"-?\d+(?:\.\d+)?", d))
    if not nums:
        return m_insert(rng, d, ctx)
    m = rng.choice(nums)
    return d[:m.start()] + rng.choice(WEIRD_NUMBERS).encode() + d[m.end():]


def m_line_dup(rng, d, ctx):
    lines = _lines(d)
    i = rng.randrange(len(lines))
    lines[i:i] = [lines[i]] * rng.choice([1, 2, 50, 500])
    return b"\n".join(lines)


def m_line_drop(rng, d, ctx):
    lines = _lines(d)
    del lines[rng.randrange(len(lines))]
    return b"\n".join(lines)


def m_line_swap(rng, d, ctx):
    lines = _lines(d)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines)


ABC_FIELDS = [b"X:", b"T:", b"M:", b"L:", b"Q:", b"K:", b"V:", b"P:", b"I:", b"%%score ", b"%%MIDI ", b"U:", b"w:", b"W:"]
ABC_VALUES = [b"0/0", b"1/0", b"C|", b"none", b"7/1024", b"99999/1", b"1/8=0", b"1/4=-120", b"Hp", b"clef=none",
              b"X", b"1 clef=treble octave=99", b"(1 2 3", b"[", b"", b"-1", b"A=B", b"perc", b"Ebm exp ^f _b",
              b"1/99999999999", b"abc-charset x-nonexistent", b"T T T", b"1\nX:1"]
ABC_TOKENS = [b"|:", b":|", b"::", b"[1", b"[2", b"(3", b"(9:1:999", b"!trill!", b"!", b'"', b'"^text"', b"{g}",
              b"[CEG]", b"z", b"Z99999", b"x", b"y", b"~", b"-", b"^^", b"__", b"=", b"A,,,,,,,,", b"a''''''''", b"A999999",
              b"A/0", b"A/////", b"[V:2]", b"[K:C]", b"[M:0/4]", b"[L:1/0]", b"&", b"\\", b"%", b"|]", b"[|", b"||",
              b"A>>>>>B", b"(", b")", b".", b"+trill+", b"[1,2,3", b"\n[V:9]", b"\nV:1\n", b"\nK:\n"]


def m_abc_field(rng, d, ctx):
    lines = _lines(d)
    fields = [i for i, line in enumerate(lines) if re.match(rb"^[A-Za-z]:|^%%", line)]
    if fields and rng.random() < 0.6:
        i = rng.choice(fields)
        lines[i] = lines[i][:2] + rng.choice(ABC_VALUES)
    else:
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(ABC_FIELDS) + rng.choice(ABC_VALUES))
    return b"\n".join(lines)


def m_abc_token(rng, d, ctx):
    i = rng.randrange(len(d) + 1)
    return d[:i] + b"".join(rng.choice(ABC_TOKENS) for _ in range(rng.randrange(1, 6))) + d[i:]


# XML (MusicXML, MEI, the score inside an .mxl)

XML_VALUES = [b"0", b"-1", b"999999999", b"1e9", b"NaN", b"", b"abc", b"0.0000001", b"-2147483648", b"2147483648",
              b"1/0", b"none", b"\xff\xfe", b"&amp;", b"&#0;", b"]]>"]


def m_xml_text(rng, d, ctx):
    spans = list(re.finditer(rb">([^<>]{1,40})</", d))
    if not spans:
        return m_number(rng, d, ctx)
    m = rng.choice(spans)
    return d[:m.start(1)] + rng.choice(XML_VALUES) + d[m.end(1):]


def m_xml_attr(rng, d, ctx):
    spans = list(re.finditer(rb'="([^"]{0,40})"', d))
    if not spans:
        return m_number(rng, d, ctx)
    m = rng.choice(spans)
    return d[:m.start(1)] + rng.choice(XML_VALUES) + d[m.end(1):]


def _elements(d):
    return list(re.finditer(rb"<([A-Za-z][\w.-]*)\b[^>]*>.*?</\1>", d[:400_000], re.S))


def m_xml_element(rng, d, ctx):
    els = _elements(d)
    if not els:
        return m_delete(rng, d, ctx)
    m = rng.choice(els)
    op = rng.randrange(4)
    if op == 0:      # drop it
        return d[:m.start()] + d[m.end():]
    if op == 1:      # duplicate it
        return d[:m.end()] + m.group(0) * rng.choice([1, 2, 20]) + d[m.end():]
    if op == 2:      # move it elsewhere
        rest = d[:m.start()] + d[m.end():]
        i = rng.randrange(len(rest) + 1)
        return rest[:i] + m.group(0) + rest[i:]
    # its closing tag removed, or its name changed
    close = m.group(0).rfind(b"</")
    if rng.random() < 0.5:
        return d[:m.start() + close] + d[m.end():]
    other = rng.choice(els).group(1)
    return d[:m.start()] + m.group(0).replace(m.group(1), other, 1) + d[m.end():]


def m_xml_decl(rng, d, ctx):
    decls = [b'<?xml version="1.0" encoding="UTF-16"?>', b'<?xml version="1.0" encoding="x-unknown"?>',
             b'<?xml version="1.1"?>', b"\xff\xfe<\x00?\x00", b'<!DOCTYPE score-partwise SYSTEM "file:///dev/zero">',
             b"<!-- " * 10, b'<?xml version="1.0" encoding="latin-1"?>']
    m = re.match(rb"\s*<\?xml[^>]*\?>", d)
    decl = rng.choice(decls)
    return decl + (d[m.end():] if m else d)


# .mxl: zip entries


def m_mxl_entry(rng, d, ctx):
    try:
        with zipfile.ZipFile(io.BytesIO(d)) as z:
            entries = [(i, z.read(i.filename)) for i in z.infolist()]
    except Exception:  # noqa: BLE001 - already damaged: damage it more
        return m_flip(rng, d, ctx)
    op = rng.randrange(6)
    scores = [k for k, (i, _) in enumerate(entries) if not i.filename.startswith("META-INF")]
    if op <= 1 and scores:                         # mutate the score inside, as XML
        k = rng.choice(scores)
        info, data = entries[k]
        entries[k] = (info, mutate_once(rng, data, "musicxml", ctx))
    elif op == 2 and entries:                      # drop an entry
        del entries[rng.randrange(len(entries))]
    elif op == 3:                                  # container.xml names something else
        target = rng.choice(["missing.xml", "META-INF/container.xml", "../x.xml", "", "a" * 300])
        body = (f'<?xml version="1.0"?><container><rootfiles><rootfile full-path="{target}"/>'
                f"</rootfiles></container>").encode()
        entries = [e for e in entries if e[0].filename != "META-INF/container.xml"]
        entries.insert(0, (zipfile.ZipInfo("META-INF/container.xml"), body))
    elif op == 4 and entries:                      # rename an entry
        k = rng.randrange(len(entries))
        info = zipfile.ZipInfo(rng.choice(["score.txt", "x.XML", "dir/", "META-INF/s.xml", "\u00e9.xml"]))
        entries[k] = (info, entries[k][1])
    else:                                          # add an entry
        entries.append((zipfile.ZipInfo(rng.choice(["extra.xml", "score.musicxml"])),
                        rng.choice([b"", b"<score-partwise/>", b"\x00" * 100, d[:200]])))
    out = io.BytesIO()
    method = rng.choice([zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
    with zipfile.ZipFile(out, "w", method) as z:
        for info, data in entries:
            z.writestr(info.filename, data)
    return out.getvalue()


def m_zip_header(rng, d, ctx):
    """A local or central header's size or method field changed (the CRC and sizes no longer agree)."""
    heads = [m.start() for m in re.finditer(rb"PK\x03\x04|PK\x01\x02", d)]
    if not heads:
        return m_flip(rng, d, ctx)
    h = rng.choice(heads)
    local = d[h:h + 4] == b"PK\x03\x04"
    fields = [(8, 2), (18, 4), (22, 4), (26, 2)] if local else [(10, 2), (20, 4), (24, 4), (28, 2), (42, 4)]
    off, size = rng.choice(fields)
    value = rng.choice([0, 1, 0xFFFF, 0xFFFFFFFF, 99, 12, 8, 14]) & (0xFFFF if size == 2 else 0xFFFFFFFF)
    return d[:h + off] + value.to_bytes(size, "little") + d[h + off + size:]


# MIDI: chunks, header fields, variable-length numbers


def _chunks(d):
    out, i = [], 0
    while i + 8 <= len(d):
        n = int.from_bytes(d[i + 4:i + 8], "big")
        out.append((i, d[i:i + 4], n))
        i += 8 + n
    return out


def m_midi_length(rng, d, ctx):
    chunks = _chunks(d)
    if not chunks:
        return m_flip(rng, d, ctx)
    i, _, n = rng.choice(chunks)
    new = rng.choice([0, 1, n - 1, n + 1, n * 2, 0x7FFFFFFF, 0xFFFFFFFF, 6, n + 1000]) & 0xFFFFFFFF
    return d[:i + 4] + new.to_bytes(4, "big") + d[i + 8:]


def m_midi_header(rng, d, ctx):
    if not d.startswith(b"MThd") or len(d) < 14:
        return m_flip(rng, d, ctx)
    off = rng.choice([8, 10, 12])        # format, track count, division
    value = rng.choice([0, 1, 2, 3, 0xFFFF, 0x7FFF, 0x8000, 0xE250, 0xE728, 0xFF01, 960, 1])
    return d[:off] + value.to_bytes(2, "big") + d[off + 2:]


def m_midi_varlen(rng, d, ctx):
    """A delta time or meta length replaced by a long or endless variable-length number."""
    tracks = [c for c in _chunks(d) if c[1] == b"MTrk" and c[2] > 0]
    if not tracks:
        return m_insert(rng, d, ctx)
    i, _, n = rng.choice(tracks)
    at = i + 8 + rng.randrange(min(n, len(d) - i - 8) or 1)
    fix = rng.random() < 0.7           # mostly keep the track's length right, so the reader gets past it
    junk = rng.choice([b"\xff\xff\xff\x7f", b"\x8f\xff\xff\xff\x7f", b"\x80" * 20, b"\xff\x2f\x00", b"\xff\x51\x03\x00\x00\x00",
                       b"\xff\x58\x04\x00\x00\x00\x00", b"\xff\x01\xff\xff\xff\x7f", b"\xf0\xff\xff\xff\x7f", b"\xf7\x05",
                       b"\x90\x3c", b"\x00\xff\x59\x02\x80\x05", b"\x00\xff\x54\x05\x60\x00\x00\x00\x00",
                       b"\x00\xf2\x00\x00", b"\x00\xff\x7f\x00", b"\x00\xc0\x80"])
    if fix:
        d = d[:i + 4] + ((n + len(junk)) & 0xFFFFFFFF).to_bytes(4, "big") + d[i + 8:]
    return d[:at] + junk + d[at:]


def _varlen(d: bytes, i: int) -> int:
    while i < len(d) and d[i] & 0x80:
        i += 1
    return i + 1


def _events(track: bytes) -> list[int]:
    """Offsets where the events of a track body start (delta time first), as far as they parse."""
    out, i, status = [], 0, 0
    data_len = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}
    while i < len(track):
        out.append(i)
        i = _varlen(track, i)
        if i >= len(track):
            break
        b = track[i]
        if b == 0xFF:                                     # meta: type, length, data
            j = _varlen(track, i + 2)
            n = 0
            for k in range(i + 2, min(j, len(track))):
                n = (n << 7) | (track[k] & 0x7F)
            i = j + n
        elif b in (0xF0, 0xF7):                           # sysex: length, data
            j = _varlen(track, i + 1)
            n = 0
            for k in range(i + 1, min(j, len(track))):
                n = (n << 7) | (track[k] & 0x7F)
            i = j + n
        elif b & 0x80:
            status = b
            i += 1 + data_len.get(b & 0xF0, 0)
        else:                                             # running status
            i += data_len.get(status & 0xF0, 1)
    return out


def m_midi_event(rng, d, ctx):
    """Events, found by walking the track: one dropped, duplicated, or its delta time made huge,
    or a well-formed but odd event inserted between two (the track length kept right)."""
    tracks = [c for c in _chunks(d) if c[1] == b"MTrk" and c[2] > 0 and c[0] + 8 + c[2] <= len(d)]
    if not tracks:
        return m_midi_varlen(rng, d, ctx)
    i, _, n = rng.choice(tracks)
    body = d[i + 8:i + 8 + n]
    starts = _events(body) + [len(body)]
    k = rng.randrange(len(starts) - 1) if len(starts) > 1 else 0
    a, b = starts[k], starts[min(k + 1, len(starts) - 1)]
    op = rng.randrange(4)
    if op == 0:
        body = body[:a] + body[b:]
    elif op == 1:
        body = body[:b] + body[a:b] * rng.choice([1, 2, 100, 2000]) + body[b:]
    elif op == 2:
        body = body[:a] + rng.choice([b"\xff\xff\xff\x7f", b"\x8f\xff\xff\x7f", b"\x81\x80\x80\x00"]) + body[_varlen(body, a):]
    else:
        event = rng.choice([b"\x00\xff\x51\x03\x00\x00\x00", b"\x00\xff\x51\x03\xff\xff\xff", b"\x00\xff\x58\x04\x00\x00\x18\x08",
                            b"\x00\xff\x58\x04\x07\x05\x18\x08", b"\x00\xff\x59\x02\x07\x01", b"\x00\xff\x59\x02\xf9\x00",
                            b"\x00\x90\x3c\x00", b"\x00\x80\x3c\x40", b"\x00\x9f\x7f\x7f", b"\x00\xff\x2f\x00",
                            b"\x00\xff\x20\x01\x0f", b"\x00\xff\x21\x01\x7f", b"\x00\xff\x54\x05\x60\x3b\x3b\x1d\x63",
                            b"\x00\xf0\x03\x7e\x7f\xf7", b"\x00\xff\x7f\x00", b"\x00\xe0\x7f\x7f", b"\x00\xb0\x79\x00",
                            b"\x00\xff\x03\x04\xff\xfe\xc3\x28", b"\x00\xc0\x7f", b"\x83\x60\x90\x3c\x40"])
        body = body[:a] + event + body[a:]
    return d[:i + 4] + len(body).to_bytes(4, "big") + body + d[i + 8 + n:]


# MTF, Humdrum


MTF_TYPES = [b"note_on", b"note_off", b"set_tempo", b"time_signature", b"key_signature", b"control_change",
             b"program_change", b"sysex", b"pitchwheel", b"end_of_track", b"smpte_offset", b"sequencer_specific",
             b"text", b"track_name", b"marker", b"unknown_meta", b"polytouch", b"aftertouch", b"songpos", b"midi_port"]


def m_mtf_line(rng, d, ctx):
    lines = _lines(d)
    i = rng.randrange(len(lines))
    words = lines[i].split(b" ")
    op = rng.randrange(4)
    if op == 0 and words:
        words[0] = rng.choice(MTF_TYPES)
    elif op == 1 and len(words) > 1:
        del words[rng.randrange(1, len(words))]
    elif op == 2:
        words.insert(rng.randrange(len(words) + 1), rng.choice([b"[1, 2", b"()", b"[]", b"(1,2,3)", b"[300]", b"-5", b"Cm"]))
    else:
        lines.insert(i, rng.choice(MTF_TYPES) + b" " + b" ".join(rng.choice(WEIRD_NUMBERS).encode()
                                                                 for _ in range(rng.randrange(6))))
    if op < 3:
        lines[i] = b" ".join(words)
    return b"\n".join(lines)


KRN_TOKENS = [b"*^", b"*v", b"*v\t*v", b"*-", b"*x", b"**kern", b"*M0/0", b"*M4/4", b"*k[f#c#]", b"*clefG2", b"=",
              b"==", b"4c", b"0c", b"99999c", b"[4c", b"4c]", b"(4c", b".", b"!!!COM: x", b"*>A", b"*>[A,A,B]",
              b"*tb0", b"4r", b"q", b"*MM-1", b"4cc#n", b"3%2c"]


def m_krn_token(rng, d, ctx):
    lines = _lines(d)
    i = rng.randrange(len(lines))
    cells = lines[i].split(b"\t")
    if rng.random() < 0.5:
        cells[rng.randrange(len(cells))] = rng.choice(KRN_TOKENS)
    else:
        cells.insert(rng.randrange(len(cells) + 1), rng.choice(KRN_TOKENS))
    lines[i] = b"\t".join(cells)
    return b"\n".join(lines)


# .npy header


NPY_SHAPES = ["()", "(0,)", "(1, 0, 768)", "(-1, 768)", "(1, 768)", "(768,)", "(4294967296, 768)", "(99999999999999,)",
              "(1, 1, 767)", "(1, 1, 769)", "(10, 1, 768)", "(1, 2, 3, 768)", "(2**31,)", "(1, 100000, 768)", "(1,2,",
              "(768, 1)", "(1, 1000000000, 768)", "(92233720368547758, 768)"]
NPY_DTYPES = ["'<f4'", "'<f2'", "'<f8'", "'>f4'", "'|O'", "'<U10'", "'|S4'", "'<i2'", "'|b1'", "'<c16'", "'|V8'",
              "'<M8[s]'", "'<m8'", "'<c8'", "'x'", "[('a', '<f4')]", "'<f16'", "'<f0'", "'<i8'", "'|u1'"]


def m_npy_header(rng, d, ctx):
    m = re.search(rb"\{.*?\}", d[:4096], re.S)
    if not d.startswith(b"\x93NUMPY") or not m:
        return m_flip(rng, d, ctx)
    head = m.group(0).decode("latin-1")
    op = rng.randrange(5)
    if op == 0:
        head = re.sub(r"'shape': \([^)]*\)", "'shape': " + rng.choice(NPY_SHAPES), head)
    elif op == 1:
        head = re.sub(r"'descr': '[^']*'", "'descr': " + rng.choice(NPY_DTYPES), head)
    elif op == 2:
        head = head.replace("False", "True") if "False" in head else head.replace("True", "False")
    elif op == 3:
        head = rng.choice(["{}", "{'descr': '<f4'}", "[1, 2]", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 768), 'x': 1}",
                           "__import__('os')", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,) * 64}"])
    else:                                           # the header-length field or the version
        off = rng.choice([6, 7, 8, 9])
        b = bytearray(d)
        b[off] = rng.randrange(256)
        return bytes(b)
    body = d[m.end():]
    new = head.encode("latin-1")
    start = d[:m.start()]
    if rng.random() < 0.7 and len(start) >= 10:     # keep the length field consistent (the parser must look inside)
        ver = rng.choice([1, 1, 2, 3]) if start[6] in (1, 2, 3) else start[6]   # and the version: 2.0 and 3.0 too
        prefix = b"\x93NUMPY" + bytes([ver, 0])
        total = len(prefix) + (2 if ver == 1 else 4) + len(new) + 1
        header = new + b" " * ((-total) % 64) + b"\n"
        start = prefix + (struct.pack("<H", len(header)) if ver == 1 else struct.pack("<I", len(header)))
        return start + header + (body.split(b"\n", 1)[1] if b"\n" in body else b"")
    return start + new + body


# WAV / FLAC header fields


def m_wav_header(rng, d, ctx):
    fmt = d.find(b"fmt ")
    data = d.find(b"data")
    choices = []
    if fmt >= 0:
        # channels, sample rate, byte rate, block align, bits per sample, the fmt chunk size, the format tag
        choices += [(fmt + 10, 2), (fmt + 12, 4), (fmt + 16, 4), (fmt + 20, 2), (fmt + 22, 2), (fmt + 4, 4), (fmt + 8, 2)]
    if data >= 0:
        choices.append((data + 4, 4))
    choices.append((4, 4))                           # the RIFF size
    off, size = rng.choice(choices)
    value = rng.choice([0, 1, 2, 3, 7, 255, 0xFFFF, 44101, 22051, 96000, 192000, 2**31 - 1, 0xFFFFFFFF, 24000, 11025,
                        384000, 1000003, 65535, 65537])
    value &= (1 << (8 * size)) - 1
    return d[:off] + value.to_bytes(size, "little") + d[off + size:]


def m_flac_header(rng, d, ctx):
    i = d.find(b"fLaC")
    if i < 0 or len(d) < i + 42:
        return m_flip(rng, d, ctx)
    si = i + 8                                       # STREAMINFO body
    b = bytearray(d)
    op = rng.randrange(3)
    if op == 0:      # sample rate (20 bits), channels (3), bits per sample (5), total samples (36): bytes 10..17
        rate = rng.choice([0, 1, 7, 44101, 22051, 655350, 1048575, 96000, 24000, 11025])
        packed = int.from_bytes(b[si + 10:si + 18], "big")
        packed = (packed & ((1 << 44) - 1)) | (rate << 44)
        b[si + 10:si + 18] = packed.to_bytes(8, "big")
    elif op == 1:    # block sizes and frame sizes
        off = rng.choice([0, 2, 4, 7])
        b[si + off:si + off + 2] = rng.choice([b"\x00\x00", b"\xff\xff", b"\x00\x01", b"\x00\x10"])
    else:            # total samples
        packed = int.from_bytes(b[si + 10:si + 18], "big")
        total = rng.choice([0, 1, 2**36 - 1, 10**9])
        packed = (packed & ~((1 << 36) - 1)) | total
        b[si + 10:si + 18] = packed.to_bytes(8, "big")
    return bytes(b)


GENERIC = [m_flip, m_byte, m_insert, m_delete, m_truncate, m_splice, m_repeat]
TEXT = [m_number, m_line_dup, m_line_drop, m_line_swap]
XML = [m_xml_text, m_xml_attr, m_xml_element, m_xml_decl]
SPECIFIC = {
    "abc": TEXT + [m_abc_field, m_abc_field, m_abc_token, m_abc_token],
    "musicxml": XML * 2 + [m_number],
    "mei": XML * 2 + [m_number],
    "mxl": [m_mxl_entry] * 4 + [m_zip_header],
    "midi": [m_midi_length, m_midi_header, m_midi_varlen, m_midi_event, m_midi_event, m_midi_event, m_midi_event],
    "mtf": TEXT + [m_mtf_line] * 3,
    "krn": TEXT + [m_krn_token] * 3,
    "npy": [m_npy_header] * 3,
    "wav": [m_wav_header] * 3,
    "flac": [m_flac_header] * 3,
    "mp3": [],
}


def mutate_once(rng, d: bytes, fmt: str, ctx) -> bytes:
    ops = SPECIFIC.get(fmt, []) + GENERIC
    if SPECIFIC.get(fmt) and rng.random() < 0.6:
        ops = SPECIFIC[fmt]
    return rng.choice(ops)(rng, d, ctx)


def _cut_tunes(d: bytes) -> bytes:
    starts = [m.start() for m in re.finditer(rb"(?m)^\s*X:", d)]
    return d[:starts[MAX_TUNES]] if len(starts) > MAX_TUNES else d


def mutate(rng, seed: bytes, fmt: str, ctx) -> bytes:
    d = seed
    for _ in range(rng.choice([1, 1, 2, 3, 4])):
        try:
            d = mutate_once(rng, d, fmt, ctx)[:MAX_MUTANT]
        except Exception:  # noqa: BLE001 - a format-aware mutation lost on bytes already damaged: a plain one
            d = m_flip(rng, d, ctx)
    return _cut_tunes(d) if fmt == "abc" else d


# -- the child: clamp's reading path -------------------------------------------------------------

ROUTES_MUSIC = ("embed-interleaved", "embed-clamp1", "convert")


def _limit_message(error: str) -> bool:
    return error.startswith(("conversion took longer than", "conversion needed more than", "conversion ran out of memory"))


def _judge_pieces(pieces) -> tuple[str, str]:
    for p in pieces:
        if p.error and "internal error" in p.error:
            return "crash", p.error
        if p.error and "converter crashed" in p.error:
            return "crash", p.error
    errors = [p.error for p in pieces if p.error]
    if any(_limit_message(e) for e in errors):
        return "limit", next(e for e in errors if _limit_message(e))
    if errors:
        return ("refused" if len(errors) == len(pieces) else "partial"), errors[0]
    return "ok", f"{len(pieces)} piece(s)"


def child_music(path: str, route: str, opts: dict) -> tuple[str, str]:
    from clamp_cli.errors import InputError
    from clamp_cli.formats.convert import conversion_crashed, convert_path, limit_hit
    from clamp_cli.formats.limits import conversion_limits
    from clamp_cli.formats.pool import map_files
    from clamp_cli.formats.reading import hash_input
    from clamp_cli.index.embedder import convert_file_and_melodies
    from clamp_cli.models.families import FAMILIES
    from clamp_cli.models.patching import clamp1_patches, m3_patches

    limits = conversion_limits()
    if route == "convert":
        to, family, full = opts["to"], opts["family"], opts["full"]
        [(_, pieces)] = list(map_files(convert_path, [path], 1, to, FAMILIES[family].music_text, full,
                                       on_crash=conversion_crashed, limits=limits, on_limit=limit_hit))
        return _judge_pieces(pieces)
    family = "clamp1" if route == "embed-clamp1" else "clamp3"
    try:
        _, digest = hash_input(path, "music")
    except InputError as exc:
        return "refused", str(exc)
    lay = FAMILIES[family]
    [(_, pieces)] = list(map_files(convert_file_and_melodies, [path], 1, lay.music_text, opts["whole"],
                                   on_crash=conversion_crashed, limits=limits, on_limit=limit_hit,
                                   per_file=[(digest, True)]))    # as the embedder runs it: melodies too
    verdict = _judge_pieces(pieces)
    for p in pieces:          # the encoder's music_ids (patching), as Embedder._embed_music runs it
        if p.error is None:
            try:
                if lay.patching == "bar":
                    clamp1_patches(p.text, max_patches=512, patch_size=64)
                else:
                    m3_patches(p.text, drop_default_length=lay.drop_default_length, patch_size=64)
            except InputError as exc:
                verdict = ("refused", str(exc)) if verdict[0] == "ok" else verdict
    return verdict


class _AudioModel:
    """What `Encoder.audio_frames` asks of a CLaMP 3 model (no weights needed)."""

    supports_audio = True
    family = "clamp3"

    class model:  # noqa: N801 - the attribute Encoder.audio_frames reads
        audio_input_size = 768


def child_audio(path: str, fmt: str) -> tuple[str, str]:
    from clamp_cli.errors import InputError
    from clamp_cli.formats import load_npy
    from clamp_cli.formats.audio import load_recording
    from clamp_cli.formats.reading import read_input
    from clamp_cli.models.encoder import Encoder

    try:
        if fmt == "npy":
            _, data = read_input(path, "audio")
            frames = Encoder.audio_frames(_AudioModel(), load_npy(data))
            return "ok", f"{frames.shape[0]} frames"
        _, data = read_input(path, "recording")
        x = load_recording(data)
        return "ok", f"{len(x)} samples"
    except InputError as exc:
        return "refused", str(exc)


def _cap_memory(mb: int) -> None:
    import resource

    with open("/proc/self/statm") as f:
        now = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    resource.setrlimit(resource.RLIMIT_AS, (now + mb * 2**20, resource.RLIM_INFINITY))


def child_main(group: str, cap_mb: int) -> None:
    """Tasks (JSON lines on stdin) in, one TAG line of JSON per task out."""
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)                 # anything a library prints goes to the stderr log, not the protocol
    if group == "audio":
        import torch  # noqa: F401 - loaded before the cap: its address-space reservations are not the file's
    _cap_memory(cap_mb)
    for line in sys.stdin:
        task = json.loads(line)
        print(f"{TAG}start {task['n']}", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        try:
            if group == "music":
                verdict = child_music(task["path"], task["route"], task["opts"])
            else:
                verdict = child_audio(task["path"], task["format"])
        except MemoryError:
            verdict = ("memory", traceback.format_exc())
        except Exception:  # noqa: BLE001 - exactly what the fuzzer looks for
            verdict = ("crash", traceback.format_exc())
        out.write(TAG + json.dumps({"n": task["n"], "outcome": verdict[0], "detail": verdict[1][-4000:],
                                    "seconds": time.monotonic() - t0}) + "\n")
        out.flush()


# -- the parent: supervision ---------------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return pids


def _rss_mb(pid: int) -> float:
    total = 0
    for p in _tree(pid):
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            pass
    return total / 2**20


class Child:
    def __init__(self, group: str, env: dict, cap_mb: int, log: Path):
        self.group, self.env, self.cap_mb, self.log_path = group, env, cap_mb, log
        self.proc = None

    def start(self) -> None:
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, __file__, "--child", self.group, "--cap-mb", str(self.cap_mb)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, env=self.env,
                                     start_new_session=True, bufsize=0)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        self.buf = b""
        self.baseline = None

    def stop(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)    # the child's own session: it and its workers
            except ProcessLookupError:
                pass
            self.proc.wait()
            self.sel.close()
            self.log.close()
            self.proc = None

    def run(self, task: dict, bound: float, rss_mb: float) -> dict:
        if self.proc is None:
            self.start()
        log_at = self.log_path.stat().st_size
        self.proc.stdin.write((json.dumps(task) + "\n").encode())
        deadline = time.monotonic() + bound
        peak = 0.0
        while True:
            for _ in self.sel.select(timeout=0.2):
                chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
                if not chunk:
                    self.stop()
                    return {"outcome": "crash", "detail": "the fuzz harness process died (exit "
                                                           f"{self.proc.returncode if self.proc else '?'})"}
                self.buf += chunk
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                if line.startswith(TAG.encode()):
                    result = json.loads(line[len(TAG):])
                    result["peak_mb"] = peak
                    result["stderr"] = self._new_stderr(log_at)
                    return result
            peak = max(peak, _rss_mb(self.proc.pid))
            if peak > rss_mb:
                self.stop()
                return {"outcome": "memory", "detail": f"RSS {peak:.0f} MB past the {rss_mb:.0f} MB bound", "peak_mb": peak}
            if time.monotonic() > deadline:
                self.stop()
                return {"outcome": "hang", "detail": f"no answer within {bound:g} s", "peak_mb": peak}

    def _new_stderr(self, at: int) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(at)
            text = f.read(1 << 20).decode("utf-8", "replace")
        return "\n".join(line for line in text.splitlines() if not line.startswith(TAG))


def _signature(result: dict) -> str:
    """What makes two findings the same bug: the outcome and the last clamp frame (or the message)."""
    detail = result.get("detail", "")
    if result["outcome"] == "crash" and detail.startswith("clamp could not convert it (internal error"):
        return "crash internal " + detail.split("internal error ", 1)[1].split(":")[0]
    if result["outcome"] == "crash" and "converter crashed" in detail:
        return "crash worker died"
    if result["outcome"] == "crash":
        frames = re.findall(r'File "([^"]*clamp_cli[^"]*)", line (\d+), in (\w+)', detail)
        last = detail.strip().splitlines()[-1] if detail.strip() else ""
        exc = last.split(":")[0]
        where = f"{Path(frames[-1][0]).name}:{frames[-1][2]}" if frames else re.sub(r"\d+", "N", last[:60])
        return f"crash {exc} {where}"
    if result["outcome"] == "noise":
        warning = _OUR_WARNING.search(result["stderr"])
        line = warning.group(0) if warning else result["stderr"].strip().splitlines()[-1]
        return "noise " + re.sub(r"\d+", "N", line[:80])
    return result["outcome"]


_OUR_WARNING = re.compile(r"clamp_cli/[\w/]+\.py:\d+: \w*Warning: ")


def judge(result: dict) -> dict:
    """A refusal or a success with a traceback on stderr is a crash too (the rule: never a traceback),
    and so is a Python warning raised in clamp's own code (a stray line the user cannot act on)."""
    stderr = result.get("stderr", "")
    if result["outcome"] in ("ok", "refused", "partial", "limit") and ("Traceback" in stderr or _OUR_WARNING.search(stderr)):
        result["outcome"] = "noise"
    return result


class Harness:
    def __init__(self, args, workdir: Path):
        env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT), TOKENIZERS_PARALLELISM="false",
                   CLAMP_CONVERT_TIMEOUT=str(args.timeout), CLAMP_CONVERT_MEMORY_MB=str(args.memory_mb),
                   CLAMP_CACHE_DIR=str(workdir / "cache"))
        self.args = args
        self.children = {g: Child(g, env, args.rss_mb, workdir / f"{g}.stderr.log") for g in ("music", "audio")}
        self.workdir = workdir
        self.n = 0

    def bound(self, fmt: str, data: bytes) -> float:
        if fmt in MUSIC:
            tunes = max(1, len(re.findall(rb"(?m)^\s*X:", data))) if fmt == "abc" else 1
            return tunes * (self.args.timeout + 6) + self.args.hang_seconds
        return self.args.hang_seconds

    def run(self, fmt: str, data: bytes, route: str, opts: dict) -> dict:
        self.n += 1
        name = "score" + (opts.get("ext") or EXT[fmt])
        folder = self.workdir / "files" / str(self.n % 4)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        path = folder / name
        path.write_bytes(data)
        group = "music" if fmt in MUSIC else "audio"
        task = {"n": self.n, "path": str(path), "format": fmt, "route": route, "opts": opts}
        return judge(self.children[group].run(task, self.bound(fmt, data), self.args.rss_mb))

    def close(self) -> None:
        for c in self.children.values():
            c.stop()


def pick_route(rng, fmt: str) -> tuple[str, dict]:
    if fmt not in MUSIC:
        return "read", {}
    opts = {"whole": rng.random() < 0.2, "ext": rng.choice([".xml", ".musicxml"]) if fmt == "musicxml" else None}
    route = rng.choice(ROUTES_MUSIC)
    if route == "convert":
        to = rng.choice(["abc", "iabc", "mtf", "musicxml", "midi"])
        family = "clamp1" if to == "abc" and rng.random() < 0.5 else "clamp3"
        opts.update(to=to, family=family, full=rng.random() < 0.3, whole=False)
    return route, opts


def minimise(harness: Harness, fmt: str, data: bytes, route: str, opts: dict, signature: str,
             seconds: float = 90.0) -> bytes:
    """Smaller bytes with the same signature: ddmin-style chunk removal, within `seconds`."""
    t0 = time.monotonic()
    chunk = max(1, len(data) // 2)
    while chunk >= 1 and time.monotonic() - t0 < seconds:
        i, changed = 0, False
        while i < len(data) and time.monotonic() - t0 < seconds:
            candidate = data[:i] + data[i + chunk:]
            if candidate and _signature(harness.run(fmt, candidate, route, opts)) == signature:
                data, changed = candidate, True
            else:
                i += chunk
        if not changed:
            chunk //= 2
    return data


def save_finding(folder: Path, fmt: str, data: bytes, small: bytes | None, result: dict, route: str, opts: dict,
                 signature: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()[:12]
    ext = opts.get("ext") or EXT[fmt]
    base = folder / f"{fmt}-{result['outcome']}-{digest}"
    base.with_suffix(ext).write_bytes(data)
    if small is not None:
        Path(f"{base}.min{ext}").write_bytes(small)
    Path(f"{base}.txt").write_text(f"signature: {signature}\nroute: {route} {json.dumps(opts)}\n"
                                   f"size: {len(data)} bytes (minimised: {len(small) if small else '-'})\n\n"
                                   f"{result.get('detail', '')}\n\nstderr:\n{result.get('stderr', '')}\n")
    return base


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=5.0, help="how long to fuzz (default 5)")
    ap.add_argument("--seed", type=int, default=0, help="random seed: the same seed tries the same files")
    ap.add_argument("--formats", default=",".join(FORMATS), help=f"comma-separated, of {','.join(FORMATS)}")
    ap.add_argument("--findings", type=Path, default=ROOT / "benchmarks" / "fuzz-findings",
                    help="where each finding's file is saved")
    ap.add_argument("--seeds", type=Path, default=Path(tempfile.gettempdir()) / "clamp-fuzz-seeds",
                    help="seed files, built here on the first run")
    ap.add_argument("--timeout", type=float, default=10.0, help="CLAMP_CONVERT_TIMEOUT for the run (s)")
    ap.add_argument("--memory-mb", type=int, default=2048, help="CLAMP_CONVERT_MEMORY_MB for the run")
    ap.add_argument("--hang-seconds", type=float, default=60.0,
                    help="a hang: no answer this long past the per-score time limit (default 60)")
    ap.add_argument("--rss-mb", type=int, default=3072, help="a memory blow-up: the harness and its workers past this")
    ap.add_argument("--no-minimise", action="store_true", help="save findings as found")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--cap-mb", type=int, default=3072, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child_main(args.child, args.cap_mb)
        return
    warnings.filterwarnings("ignore", "Duplicate name", UserWarning)     # m_mxl_entry's archives
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = set(formats) - set(FORMATS)
    if unknown:
        ap.error(f"unknown formats {', '.join(sorted(unknown))} (known: {', '.join(FORMATS)})")
    rng = random.Random(args.seed)
    seeds = load_seeds(args.seeds, formats, random.Random(0))
    for fmt in formats:
        if not seeds[fmt]:
            ap.error(f"no seed files for {fmt} in {args.seeds / fmt}")
    pool = [s for fmt in formats for s in seeds[fmt]]
    print("seeds: " + ", ".join(f"{fmt} {len(seeds[fmt])}" for fmt in formats), flush=True)
    tried, outcomes, reasons, strays = Counter(), defaultdict(Counter), defaultdict(Counter), defaultdict(Counter)
    findings: dict[str, dict] = {}
    t0 = time.monotonic()
    end = t0 + args.minutes * 60
    last_report = t0
    with tempfile.TemporaryDirectory(prefix="clamp-fuzz-") as tmp:
        harness = Harness(args, Path(tmp))
        try:
            while time.monotonic() < end:
                fmt = formats[sum(tried.values()) % len(formats)] if rng.random() < 0.5 else rng.choice(formats)
                same = seeds[fmt]
                ctx = {"pool": same if rng.random() < 0.8 else pool}
                data = mutate(rng, rng.choice(same), fmt, ctx)
                route, opts = pick_route(rng, fmt)
                result = harness.run(fmt, data, route, opts)
                tried[fmt] += 1
                outcomes[fmt][result["outcome"]] += 1
                stray = [line for line in result.get("stderr", "").splitlines() if line.strip()]
                if stray and result["outcome"] != "noise":
                    strays[fmt][re.sub(r"\d+", "N", stray[0])[:90]] += 1
                if result["outcome"] in ("refused", "partial", "limit"):
                    reasons[fmt][re.sub(r"\d+", "N", result.get("detail", ""))[:70]] += 1
                if result["outcome"] in ("crash", "hang", "memory", "noise"):
                    sig = f"{fmt} {_signature(result)}"
                    if sig not in findings:
                        small = None
                        if result["outcome"] in ("crash", "noise") and not args.no_minimise:
                            small = minimise(harness, fmt, data, route, opts, _signature(result))
                        base = save_finding(args.findings, fmt, data, small, result, route, opts, sig)
                        findings[sig] = {"count": 0, "file": str(base)}
                        print(f"FINDING {sig}: {base}", flush=True)
                    findings[sig]["count"] += 1
                if time.monotonic() - last_report > 60:
                    last_report = time.monotonic()
                    bad = Counter()
                    for f in formats:
                        bad.update(outcomes[f])
                    print(f"[{(last_report - t0) / 60:.1f} min] tried {sum(tried.values())}: "
                          + ", ".join(f"{f} {tried[f]}" for f in formats)
                          + f"; crashes {bad['crash'] + bad['noise']}, hangs {bad['hang']}, memory {bad['memory']}", flush=True)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        finally:
            harness.close()
    minutes = (time.monotonic() - t0) / 60
    report(formats, tried, outcomes, findings, minutes, args)
    print("most frequent refusals (how deep the mutants get):")
    for fmt in formats:
        for reason, k in reasons[fmt].most_common(3):
            print(f"  {fmt:<9}{k:>6}  {reason}")
    if any(strays.values()):
        print("stderr lines that are not a traceback (a library's own messages), first line of each:")
        for fmt in formats:
            for line, k in strays[fmt].most_common(3):
                print(f"  {fmt:<9}{k:>6}  {line}")


def report(formats, tried, outcomes, findings, minutes, args) -> None:
    cols = ("ok", "partial", "refused", "limit", "crash", "noise", "hang", "memory")
    print(f"\n{sum(tried.values())} files in {minutes:.1f} min (seed {args.seed}, time limit {args.timeout:g} s, "
          f"memory limit {args.memory_mb} MB, hang bound +{args.hang_seconds:g} s, RSS bound {args.rss_mb} MB)")
    print(f"{'format':<9}{'tried':>7}" + "".join(f"{c:>9}" for c in cols))
    for fmt in formats:
        print(f"{fmt:<9}{tried[fmt]:>7}" + "".join(f"{outcomes[fmt][c]:>9}" for c in cols))
    total = Counter()
    for fmt in formats:
        total.update(outcomes[fmt])
    print(f"crashes {total['crash'] + total['noise']} (of them a traceback or clamp's warning on stderr: {total['noise']}), "
          f"hangs {total['hang']}, "
          f"memory blow-ups {total['memory']}; distinct findings {len(findings)}")
    for sig, f in sorted(findings.items()):
        print(f"  {f['count']:>5}x {sig}\n         {f['file']}")


if __name__ == "__main__":
    main()
