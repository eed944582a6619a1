"""Files in, model text out: which files clamp reads and how each becomes model input.

Kinds: "music" (scores: converted to the family's model text, ABC or MTF, by
`convert.music_pieces`), "text" (.txt documents) and "audio" (.npy MERT
features). One music file can hold several pieces (an ABC file with several X:
tunes): each is a `convert.Piece` with its own id. Decoding errors are
`InputError`s naming the reason; callers add the file name.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

from ..errors import InputError

# Source format by extension.
SUFFIX_FORMAT = {
    ".abc": "abc", ".mtf": "mtf",
    ".xml": "musicxml", ".musicxml": "musicxml", ".mxl": "musicxml",
    ".mid": "midi", ".midi": "midi",
    ".krn": "humdrum", ".mei": "mei",
    ".txt": "text", ".npy": "audio",
    ".wav": "recording", ".mp3": "recording", ".flac": "recording", ".ogg": "recording", ".opus": "recording",
    ".m4a": "recording",
}
MUSIC_FORMATS = {"abc", "mtf", "musicxml", "midi", "humdrum", "mei"}
# Read through music21 (to MusicXML first): formats xml2abc does not read.
MUSIC21_FORMATS = {"humdrum": "humdrum", "mei": "mei"}
# Bump when the bytes -> model input path changes: cached features are keyed by it.
PREP_VERSION = 3  # 3: newlines normalised as text mode does; xml2abc 143's stemless notes


def format_of(path: str | Path) -> str | None:
    name = os.path.basename(os.fspath(path))
    dot = name.rfind(".")
    return SUFFIX_FORMAT.get(name[dot:].lower()) if dot > 0 else None


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
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (invalid byte at offset {exc.start})") from None
    # Quirk: the authors' scripts read every text input in Python's text mode, where "\r\n" and a
    # lone "\r" become "\n" before anything else; a kept "\r" would be one more token per line.
    return text.replace("\r\n", "\n").replace("\r", "\n")


_CHARSET = re.compile(rb"^(?:I:|%%)abc-charset\s+([A-Za-z0-9._-]+)", re.MULTILINE)


def decode_score_text(data: bytes, fmt: str) -> tuple[str, str | None]:
    """ABC and Humdrum text, and a warning when it was not UTF-8.

    Both formats predate UTF-8 and files in the wild are often Latin-1: UTF-8 first, else the
    charset an ABC file declares (`I:abc-charset` / `%%abc-charset`, ABC 2.1), else Latin-1,
    which every byte sequence decodes as; the warning says so, so nothing is mangled silently.
    """
    try:
        return decode_text(data), None
    except InputError as exc:
        if "not UTF-8" not in str(exc):
            raise
    declared = _CHARSET.search(data) if fmt == "abc" else None
    if declared:
        name = declared.group(1).decode("ascii")
        try:
            return decode_text(data.decode(name).encode("utf-8")), None
        except (LookupError, UnicodeDecodeError):
            pass
    return decode_text(data.decode("latin-1").encode("utf-8")), \
        "not UTF-8; read as Latin-1 (ISO-8859-1), the usual encoding of older ABC and Humdrum files"


def load_npy(data: bytes):
    import numpy as np

    if not data:
        raise InputError("empty file")
    if not data.startswith(b"\x93NUMPY"):
        raise InputError("not a NumPy .npy file")
    _check_npy_size(data)
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise InputError("a NumPy file of pickled Python objects (never loaded: pickle can run code)") from None
        raise InputError(f"a damaged NumPy .npy file ({str(exc).splitlines()[0][:120]})") from None
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - numpy's header parser raises more than ValueError (tokenize.TokenError)
        raise InputError(f"a damaged NumPy .npy file (its header or data cannot be read: {type(exc).__name__})") from None


def _check_npy_size(data: bytes) -> None:
    """Refuse a .npy whose header describes more data than the file holds, before numpy allocates
    the array the header asks for (a damaged shape can ask for terabytes)."""
    import math

    from numpy.lib import format as npformat

    fp = io.BytesIO(data)
    try:
        version = npformat.read_magic(fp)
        # version 3.0 differs from 2.0 only in its header's encoding (UTF-8, not Latin-1): the same reader
        # gets its shape and dtype right (a non-ASCII field name read as Latin-1 keeps its size)
        read = {(1, 0): npformat.read_array_header_1_0, (2, 0): npformat.read_array_header_2_0,
                (3, 0): npformat.read_array_header_2_0}.get(version)
        if read is None:
            return                      # a version this check does not read: np.load decides
        shape, _, dtype = read(fp)
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - a header numpy cannot read: np.load says why
        return
    if dtype.hasobject:
        return                          # refused by np.load (pickle)
    need = math.prod(shape) * dtype.itemsize
    held = len(data) - fp.tell()
    if need > held:
        raise InputError(f"a damaged NumPy .npy file (its header describes {need:,} bytes of data, "
                         f"the file holds {held:,})")


def via_music21(data: bytes, fmt: str) -> bytes:
    """Formats xml2abc does not read -> MusicXML bytes, through music21."""
    import music21
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    try:
        source = data if fmt == "midi" else decode_text(data)
        with contextlib.redirect_stderr(io.StringIO()):     # music21's parser warnings are not ours to print
            score = music21.converter.parseData(source, format=fmt)
            return GeneralObjectExporter(score).parse()
    except InputError:
        raise
    except MemoryError:   # past a worker's memory limit (formats.limits): not the file's fault
        raise
    except Exception as exc:  # noqa: BLE001 - music21 raises many types on bad input
        from .abc import in_words

        raise InputError(f"music21 could not read it as {fmt}: {in_words(exc)}") from None


def score_to_musicxml(data: bytes, fmt: str, suffix: str) -> bytes:
    """One score in any format but ABC -> MusicXML (xml2abc reads partwise MusicXML only).
    Within formats.memo.one_file() each score is converted once (model text and melody)."""
    from .memo import remembered

    return remembered(("musicxml", data, fmt, suffix.lower()), lambda: _score_to_musicxml(data, fmt, suffix))


def _score_to_musicxml(data: bytes, fmt: str, suffix: str) -> bytes:
    from .midi import mtf_to_midi, read_midi
    from .musicxml import as_utf8, read_musicxml, root_tag

    if fmt == "musicxml":
        xml = read_musicxml(data, suffix.lower())
        return via_music21(xml, "musicxml") if root_tag(xml) == "score-timewise" else xml
    if fmt == "midi":
        read_midi(data)  # a clear error for a broken file before music21 sees it
        return via_music21(data, "midi")
    if fmt == "mtf":
        return via_music21(mtf_to_midi(decode_text(data)), "midi")
    if fmt == "mei":        # XML: UTF-16 as MusicXML's reader takes it (music21's own MEI test file is UTF-16)
        return via_music21(as_utf8(data), "mei")
    if fmt in MUSIC21_FORMATS:
        return via_music21(data, MUSIC21_FORMATS[fmt])
    raise InputError(f"cannot convert {suffix or 'files without an extension'}")
