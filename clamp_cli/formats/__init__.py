"""Files in, model text out: which files clamp reads and how each becomes model input.

Kinds: "music" (model text: ABC or MTF), "text" (.txt documents) and "audio"
(.npy MERT features). Decoding errors are `InputError`s naming the reason;
callers add the file name.
"""

from __future__ import annotations

import io
from pathlib import Path

from ..errors import InputError

MUSIC_SUFFIXES = {".abc", ".mtf"}
TEXT_SUFFIXES = {".txt"}
AUDIO_SUFFIXES = {".npy"}
# Bump when the bytes -> model input path changes for a family: cached features are keyed by it.
PREP_VERSION = 1


def kind_of(path: str | Path) -> str | None:
    suffix = Path(path).suffix.lower()
    if suffix in MUSIC_SUFFIXES:
        return "music"
    if suffix in TEXT_SUFFIXES:
        return "text"
    if suffix in AUDIO_SUFFIXES:
        return "audio"
    return None


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


def music_text(data: bytes, suffix: str, family: str) -> str:
    """File bytes -> the text the family's patchifier reads."""
    text = decode_text(data)
    if suffix == ".mtf":
        if text.split("\n", 1)[0].split(" ")[0] != "ticks_per_beat":
            raise InputError("not MTF: the first line must be 'ticks_per_beat N'")
        return text
    if family == "clamp1":
        from ..models.patching import clamp1_filter_abc

        return clamp1_filter_abc(text)
    return text


def load_npy(data: bytes):
    import numpy as np

    if not data:
        raise InputError("empty file")
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"not a NumPy .npy array ({str(exc).splitlines()[0][:120]})") from None
