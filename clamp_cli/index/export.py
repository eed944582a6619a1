"""Writing features out: one `.npy` of shape (1, D) per piece, mirroring the input tree.

That is the layout the CLaMP authors' evaluation scripts read. Every file is written
atomically (a temporary file, then a rename): an interrupted run leaves no partial file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..fsutil import atomic_write, os_reason, storage


def npy_target(out_dir: Path, relative: Path, item: str | None) -> Path:
    return out_dir / relative.with_name(relative.stem + (f"#{item}" if item else "") + ".npy")


MARKER = ".clamp-features"  # in a folder clamp wrote: its .npy files are features, not audio to embed


def _refuse_existing(targets: Sequence[Path]) -> None:
    from ..errors import UsageError

    existing = [t for t in targets if os.path.lexists(t)]
    if existing:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise UsageError(f"{existing[0]}: exists{more}; --force replaces it")


def check_npy_targets(paths: Sequence[Path], out_dir: Path, relative: Callable[[Path], Path],
                      force: bool = False) -> None:
    """Before writing: two inputs on one .npy (song.abc and song.mid), a target that is an input,
    or (without `force`) a target that exists already."""
    from ..errors import UsageError

    seen: dict[str, Path] = {}
    inputs = {os.path.abspath(p) for p in paths}
    for p in paths:
        target = os.path.abspath(npy_target(out_dir, relative(p), None))
        if target in inputs:
            raise UsageError(f"{target}: is an input; clamp never overwrites its inputs")
        if target in seen:
            raise UsageError(f"{seen[target]} and {p} would both be written to {target}; "
                             "embed them into separate --out folders")
        seen[target] = p
    if not force:
        _refuse_existing([Path(t) for t in seen])


def write_npy(results: Sequence, out_dir: Path, relative: Callable[[Path], Path],
              force: bool = False) -> list[tuple[object, Path, str]]:
    """Write each embedded result; returns (result, target, reason) for those that could not be written
    (a folder in the way, permissions); `out_dir` itself not writable is one InputError. A full disk or
    an I/O error stops at once (StorageError naming the file): every later file would fail the same way.
    Each file is whole or absent.

    The folder gets a marker file, so that a later walk over it does not read the features as audio.
    Without `force` an existing target (a tune's `name#X.npy`, which only the conversion names) stops
    it before anything is written.
    """
    if not force:
        _refuse_existing([npy_target(out_dir, relative(r.path), r.item) for r in results if r.vector is not None])
    failed = []
    try:
        with storage(out_dir / MARKER):
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / MARKER).touch()
    except OSError as exc:       # no file could go there: one line for the folder, not one per file
        from ..errors import InputError

        raise InputError(f"{out_dir}: cannot write ({os_reason(exc)})") from None
    for r in results:
        if r.vector is None:
            continue
        target = npy_target(out_dir, relative(r.path), r.item)
        try:
            with storage(target.parent):
                target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(target, lambda f, v=r.vector: np.save(f, v.reshape(1, -1).astype(np.float32)))
        except OSError as exc:
            failed.append((r, target, f"cannot write ({os_reason(exc)})"))
    return failed
