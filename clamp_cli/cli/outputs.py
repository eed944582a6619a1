"""The rule every command that writes follows, checked before anything is written.

Never overwrite an input (not even with `--force`); an output that already exists is replaced
only with `--force`, and then replaced whole (no file of the earlier output is left beside the
new one); the new output takes the old one's place only once it is complete. `clamp convert`
and `clamp embed -O` plan their many files themselves (formats/output.py, index/export.py);
the writers of one file or one model folder use these helpers.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import UsageError

FORCE_HINT = "--force replaces it"


def _real(path: Path | str) -> str:
    return os.path.realpath(os.path.abspath(path))


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def refuse_inputs(target: Path, inputs: Iterable[Path | str]) -> None:
    """UsageError when `target` is one of `inputs` or, as a folder to be replaced, holds one."""
    where = _real(target)
    folders: dict[str, str] = {}       # each input's folder resolved once: a training set names 30,000 files
    for p in inputs:
        head, name = os.path.split(os.path.abspath(p))
        if head not in folders:
            folders[head] = _real(head)
        real = os.path.join(folders[head], name)
        if os.path.islink(real):
            real = _real(real)
        if _inside(real, where):
            what = "is an input" if real == where else f"holds an input ({p})"
            raise UsageError(f"{target}: {what}; clamp never overwrites its inputs")


def check_file(target: Path, *, force: bool, inputs: Iterable[Path | str] = ()) -> None:
    """One output file (a probe): not an input, its folder there, replaced only with `force`."""
    refuse_inputs(target, inputs)
    if target.is_dir():
        raise UsageError(f"{target}: is a folder; give the name of the file to write")
    if not target.parent.is_dir():
        raise UsageError(f"{target}: its folder does not exist")
    if os.path.lexists(target) and not force:
        raise UsageError(f"{target}: exists; {FORCE_HINT}")


def check_folder(target: Path, *, force: bool, inputs: Iterable[Path | str] = (), what: str = "folder") -> None:
    """A folder written whole (a model): not an input nor holding one, not a file; when it holds
    anything, replaced only with `force`."""
    refuse_inputs(target, inputs)
    if os.path.lexists(target) and not target.is_dir():
        raise UsageError(f"{target}: exists and is a file, not a {what}")
    if not force and target.is_dir() and any(target.iterdir()):
        raise UsageError(f"{target}: exists and is not empty; {FORCE_HINT}")

