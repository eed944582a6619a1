"""What a `.npy` file holds, told by its header alone: a recording's MERT features, a global
feature vector, or neither.

The shapes the CLaMP 3 authors write (docs/MODELS.md section 9, and `clamp embed -O`):
- MERT features, what CLaMP 3's audio branch reads: `extract_mert.py --mean_features` writes
  (1, W, 768), one 768-d frame per 5 s window; without --mean_features (13, W, 768), every
  layer. clamp also takes (W, 768) with W >= 2 (the same frames without the leading axis).
  768 is MERT-v1-95M's hidden size; a CLaMP 3 model whose audio branch reads another width
  (a smaller test model) takes that width instead.
- a global feature vector, what `extract_clamp3.py --get_global` and `clamp embed -O` write:
  (1, D), or (D,).
Any other `.npy` (numbers of another shape, strings, booleans, an empty array) is not an input:
it is skipped with its shape as the reason, never embedded as a recording. A (1, 768) array is
a vector: a recording of one window is (1, 1, 768), as the authors' script writes it.

Only the header is read here (a few hundred bytes); a file whose header cannot be read is left
to the reader, which says what is wrong with it.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

MERT_SIZE = 768                 # MERT-v1-95M's hidden size: the feature width CLaMP 3 reads
HEAD_BYTES = 64 * 1024          # more than any .npy header numpy writes
VECTOR, FEATURES = "vector", "audio"


def header_of(data: bytes) -> tuple[tuple[int, ...], np.dtype] | None:
    """(shape, dtype) from the first bytes of a .npy file; None when they are not a plain numeric
    or text array's header (not NumPy, damaged, or pickled objects: the reader says which)."""
    from numpy.lib import format as npf

    buf = io.BytesIO(data)
    try:
        version = npf.read_magic(buf)
        if version == (1, 0):
            shape, _, dtype = npf.read_array_header_1_0(buf)
        elif version == (2, 0):
            shape, _, dtype = npf.read_array_header_2_0(buf)
        else:       # 3.0 (a UTF-8 header): numpy's own reader, where this numpy has one
            from numpy.lib import _format_impl

            shape, _, dtype = _format_impl._read_array_header(buf, version)
    except Exception:  # noqa: BLE001 - numpy raises several types for a bad header
        return None
    if dtype.hasobject:
        return None
    return tuple(int(n) for n in shape), dtype


def npy_header(path: str | Path) -> tuple[tuple[int, ...], np.dtype] | None:
    """The header of a .npy file (regular files only, never blocking; see formats.reading)."""
    from ..errors import InputError
    from .reading import read_head

    try:
        return header_of(read_head(path, "audio", HEAD_BYTES))
    except InputError:
        return None


def role(shape: tuple[int, ...], dtype: np.dtype, feature_size: int | None = MERT_SIZE) -> str:
    """VECTOR, FEATURES, or in a few words what the array is instead ("shape (4, 7)").

    `feature_size` is the frame width of MERT features (None: any width, when no model is known).
    """
    if dtype.kind not in "iuf":
        return f"{dtype} values, not numbers"
    if not shape:
        return "a single number"
    if 0 in shape:
        return f"an empty array {shape}"
    if len(shape) == 1 or (len(shape) == 2 and shape[0] == 1):
        return VECTOR
    if len(shape) in (2, 3) and (feature_size is None or shape[-1] == feature_size):
        return FEATURES
    return f"shape {shape}"


def rule(feature_size: int | None) -> str:
    """The shapes clamp reads, for a message."""
    size = feature_size or MERT_SIZE
    return f"no MERT features ((1, W, {size}) or (W, {size})) and no feature vector ((1, D) or (D,))"


def role_of(path: str | Path, feature_size: int | None = MERT_SIZE) -> str | None:
    """The role of a .npy file by its header; None when the header cannot be read (the reader
    reports that file)."""
    head = npy_header(path)
    return None if head is None else role(*head, feature_size)


def is_npy(path: str | Path) -> bool:
    return str(path).lower().endswith(".npy")


def feature_size(encoder) -> int:
    """The MERT frame width this model reads: its audio branch's input size, else MERT's."""
    return getattr(encoder, "audio_size", None) or MERT_SIZE
