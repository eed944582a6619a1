"""Patchifiers: model text (ABC, MTF) to the integer patches each family reads.

Two schemes exist (MODELS.md sections 2 and 3). Both reproduce the authors'
scripts exactly, quirks included, because the published weights were trained
on exactly these patches; every quirk is marked "quirk:" below.
"""

from __future__ import annotations

import re

import numpy as np
from unidecode import unidecode

from ..errors import InputError

PATCH_SIZE = 64
BAR_DELIMITERS = ("|:", "::", ":|", "[|", "||", "|]", "|")
_BAR_SPLIT = re.compile("(" + "|".join(map(re.escape, BAR_DELIMITERS)) + ")")


def split_bars(text: str) -> list[str]:
    """Split text into bars, each ending with the delimiter that closes it.

    A leading delimiter joins the first bar. Quirk (both families): text after
    the last delimiter is dropped, because the authors pair pieces two by two.
    Where the authors' code would crash (a lone delimiter and nothing else) we
    return no bars instead.
    """
    pieces = [p for p in _BAR_SPLIT.split(text) if p]
    if pieces and pieces[0] in BAR_DELIMITERS:
        if len(pieces) == 1:
            return []
        pieces = [pieces[0] + pieces[1]] + pieces[2:]
    return [pieces[2 * i] + pieces[2 * i + 1] for i in range(len(pieces) // 2)]


def _lines_keep_newline(text: str) -> list[str]:
    """Split on "\\n" only (not str.splitlines: \\r, \\f, ... stay inside lines)."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]] + [parts[-1]]
    return [line for line in lines if line]


# ---------------------------------------------------------------------------
# M3 (CLaMP 2 and CLaMP 3 symbolic branch), MODELS.md section 3
# ---------------------------------------------------------------------------

M3_PAD, M3_BOS, M3_EOS, M3_MASK = 0, 1, 2, 3
M3_VOCAB = 128


def m3_patch_strings(text: str, *, drop_default_length: bool, patch_size: int = PATCH_SIZE) -> list[str]:
    """Model text -> patch strings, without the special first and last patches.

    `drop_default_length` is CLaMP 3's removal of every "L:1/8\\n" (CLaMP 2 keeps it).
    """
    if drop_default_length:
        text = text.replace("L:1/8\n", "")
    lines = _lines_keep_newline(unidecode(text))
    if not lines:
        raise InputError("no music in the input (empty text)")
    patches: list[str] = []
    if lines[0].split(" ")[0] == "ticks_per_beat":
        patch = ""
        limit = patch_size - 2
        for line in lines:
            word, _, rest = line.partition(" ")
            if patch.startswith(word) and len(patch) + len(rest) <= limit:
                # quirk: drops the patch's last character (normally its "\n")
                patch = patch[:-1] + "\t" + rest
            else:
                if patch:
                    patches.append(patch)
                patch = line
        if patch:
            patches.append(patch)
        return patches
    for line in lines:
        if len(line) > 1 and ((line[0].isalpha() and line[1] == ":") or line.startswith("%%")):
            patches.append(line)
        else:
            bars = split_bars(line)
            if bars:
                bars[-1] += "\n"
                patches.extend(bars)
    return patches


def m3_patches(text: str, *, drop_default_length: bool, patch_size: int = PATCH_SIZE) -> np.ndarray:
    """Model text -> int64 array (n_patches, patch_size) for feature extraction.

    Adds the first patch of chr(1) and the last of chr(2) (section 3, step 5).
    """
    strings = m3_patch_strings(text, drop_default_length=drop_default_length, patch_size=patch_size)
    strings = [chr(M3_BOS) * patch_size] + strings + [chr(M3_EOS) * patch_size]
    out = np.zeros((len(strings), patch_size), dtype=np.int64)
    for row, patch in enumerate(strings):
        ids = [M3_BOS] + [ord(c) for c in patch[: patch_size - 1]] + [M3_EOS]
        ids = ids[:patch_size]
        out[row, : len(ids)] = ids
    if out.max() >= M3_VOCAB:  # unidecode guarantees ASCII; this guards the one-hot
        raise InputError("non-ASCII character survived transliteration")
    return out


# ---------------------------------------------------------------------------
# CLaMP 1 bar patching, MODELS.md section 2
# ---------------------------------------------------------------------------

C1_PAD, C1_MASK, C1_EOS = 0, 96, 97
C1_VOCAB = 98
def _clamp1_bar_ids(bar: str, patch_size: int) -> list[int]:
    ids = [C1_PAD] * patch_size
    n = min(patch_size, len(bar))
    for i in range(n):
        code = ord(bar[i])
        if 32 <= code < 127:
            ids[i] = code - 31
    if n < patch_size:
        ids[n] = C1_EOS
    return ids


def clamp1_patches(text: str, *, max_patches: int, patch_size: int = PATCH_SIZE) -> np.ndarray:
    """Filtered ABC -> int64 array (n_patches, patch_size), cut to max_patches.

    Header lines are patches of their own; everything else is joined without
    newlines and split into bars; a patch of all eos closes the piece.
    """
    if not text.strip():
        raise InputError("no music in the input (empty text)")
    lines = unidecode(text).split("\n")
    if "" in lines:
        lines.remove("")  # quirk: only the first empty line is removed (harmless)
    patches: list[list[int]] = []
    body = ""

    def flush() -> None:
        patches.extend(_clamp1_bar_ids(bar, patch_size) for bar in split_bars(body))

    for line in lines:
        if len(line) > 1 and ((line[0].isalpha() and line[1] == ":") or line.startswith("%%score")):
            if body:
                flush()
                body = ""
            patches.append(_clamp1_bar_ids(line, patch_size))
        else:
            body += line
    if body:
        flush()
    patches.append([C1_EOS] * patch_size)
    return np.asarray(patches[:max_patches], dtype=np.int64)
