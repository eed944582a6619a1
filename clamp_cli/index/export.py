"""Writing features out: one `.npy` of shape (1, D) per piece, mirroring the input tree.

That is the layout the CLaMP authors' evaluation scripts read. Every file is written
atomically (a temporary file, then a rename): an interrupted run leaves no partial file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .store import atomic_write


def npy_target(out_dir: Path, relative: Path, item: str | None) -> Path:
    return out_dir / relative.with_name(relative.stem + (f"#{item}" if item else "") + ".npy")


def write_npy(results: Sequence, out_dir: Path, relative: Callable[[Path], Path]) -> list[tuple[Path, str]]:
    """Write each embedded result; returns (target, reason) for those that could not be written."""
    failed = []
    for r in results:
        if r.vector is None:
            continue
        target = npy_target(out_dir, relative(r.path), r.item)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(target, lambda f, v=r.vector: np.save(f, v.reshape(1, -1).astype(np.float32)))
        except OSError as exc:
            failed.append((target, f"cannot write ({exc.strerror or exc})"))
    return failed
