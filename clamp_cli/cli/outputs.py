"""The rule every command that writes follows, checked before anything is written.

Never overwrite an input (not even with `--force`); an output that already exists is replaced
only with `--force`, and then replaced whole (no file of the earlier output is left beside the
new one); the new output takes the old one's place only once it is complete. `clamp convert`
and `clamp embed -O` plan their many files themselves (formats/output.py, index/export.py);
the writers of one file, one model folder or a few named entries in a folder use these helpers.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..errors import UsageError
from ..fsutil import default_mode, os_reason, storage

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


class Entries:
    """Named entries (files, subfolders) a command writes into a folder that may hold other things:
    `clamp train prepare` writes abc/, scores/, midi/ and data.jsonl; `clamp train export` scores/,
    midi/, text/ and labels/. Only those are the output: the rest of the folder is never touched.

    `check` before any work; then `with entries.build() as tmp:` the command writes into `tmp` (a
    hidden folder inside, so that the moves are renames); when it finishes, each entry replaces
    its earlier self whole, in the order of `names` (an index last), and an entry of the earlier
    output that the new one lacks is removed. On failure nothing is moved and `tmp` is removed.
    """

    def __init__(self, folder: Path, names: Sequence[str]):
        self.folder, self.names = Path(folder), list(names)

    def existing(self) -> list[Path]:
        return [self.folder / n for n in self.names if os.path.lexists(self.folder / n)]

    def check(self, *, force: bool, inputs: Iterable[Path | str] = (), hint: str = FORCE_HINT) -> None:
        inputs = list(inputs)
        for name in self.names:
            refuse_inputs(self.folder / name, inputs)
        if os.path.lexists(self.folder) and not self.folder.is_dir():
            raise UsageError(f"{self.folder}: exists and is a file, not a folder")
        existing = sorted(self.existing(), key=Path.is_dir)        # an index file (data.jsonl) first
        if existing and not force:
            beside = ", ".join(f"{p.name}/" if p.is_dir() else p.name for p in existing[1:])
            raise UsageError(f"{existing[0]}: exists{f', with {beside} beside it' if beside else ''}; {hint}")

    @contextmanager
    def build(self) -> Iterator[Path]:
        created = not self.folder.exists()
        try:
            with storage(self.folder):
                self.folder.mkdir(parents=True, exist_ok=True)
                tmp = Path(tempfile.mkdtemp(dir=self.folder, prefix=".clamp-tmp-"))
                os.chmod(tmp, default_mode(directory=True))
        except OSError as exc:
            blocker = next((p for p in reversed(self.folder.parents) if p.exists() and not p.is_dir()), None)
            why = f"{blocker} is a file, not a folder" if blocker else os_reason(exc)
            raise UsageError(f"{self.folder}: cannot write here ({why})") from None
        try:
            with storage(self.folder):      # a full disk while the command writes: one line naming the folder
                yield tmp
                self._swap(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            if created:
                try:
                    self.folder.rmdir()       # only if empty: what we made and nothing else
                except OSError:
                    pass
            raise
        shutil.rmtree(tmp, ignore_errors=True)

    def _swap(self, tmp: Path) -> None:
        """Each entry of `tmp` into the folder, the earlier one moved aside into `tmp` first; when a
        rename fails, every entry is put back as it was."""
        old = tmp / ".old"
        old.mkdir()
        moved, placed = [], []
        try:
            for name in self.names:
                if os.path.lexists(self.folder / name):
                    os.replace(self.folder / name, old / name)
                    moved.append(name)
                if os.path.lexists(tmp / name):
                    os.replace(tmp / name, self.folder / name)
                    placed.append(name)
        except BaseException:
            for name in reversed(placed):
                os.replace(self.folder / name, tmp / name)
            for name in reversed(moved):
                os.replace(old / name, self.folder / name)
            raise
