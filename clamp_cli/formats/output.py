"""Where `clamp convert` writes, decided and checked before anything is written.

Never overwrite an input; two inputs that would write the same output (song.abc and song.mid
both becoming song.abc) are a usage error naming both; an output that already exists is only
replaced with `force`. Every file is written atomically.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import InputError, UsageError
from ..fsutil import atomic_write, storage
from .convert import TARGETS, Piece


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


ONE_SCORE_TARGETS = {"musicxml", "midi", "mtf"}


def _tune_text(piece: Piece) -> bytes:
    """One tune of a tune book: its X: line numbered as in the source file, ending in a newline."""
    text = piece.data.rstrip(b"\n") + b"\n"
    head = b"X:" + (piece.item or "1").encode("utf-8")
    if text.startswith(b"X:"):
        return head + text[text.index(b"\n"):] if b"\n" in text else head + b"\n"
    return head + b"\n" + text


class ConvertOutput:
    """Targets for converted documents: stdout, one --output file, or a mirrored --out-dir tree."""

    def __init__(self, to: str, *, output: str | None, out_dir: Path | None, relative: Callable[[Path], Path],
                 whole_file: bool, force: bool):
        self.to, self.output, self.out_dir, self.relative = to, output, out_dir, relative
        self.whole_file, self.force = whole_file, force
        self.to_stdout = out_dir is None and output in (None, "-")
        self.inputs: list[Path] = []

    def base_target(self, path: Path) -> Path | None:
        if self.to_stdout:
            return None
        if self.output:
            return Path(self.output)
        rel = self.relative(path)
        return self.out_dir / rel.with_name(rel.stem + TARGETS[self.to])

    def check(self, inputs: Sequence[Path]) -> None:
        """Refuse, before writing anything: an output that is an input, two inputs on one output,
        an existing output without `force`, an --output whose folder does not exist."""
        self.inputs = list(inputs)
        if self.output and self.output != "-" and not Path(self.output).parent.is_dir():
            raise UsageError(f"{self.output}: its folder does not exist")
        seen: dict[Path, Path] = {}
        for path in inputs:
            target = self.base_target(path)
            if target is None:
                continue
            key = Path(os.path.abspath(target))
            if key in seen:
                raise UsageError(f"{seen[key]} and {path} would both be written to {target}; "
                                 "convert them in separate runs or into separate folders")
            seen[key] = path
            self._refuse(target)

    def _conflict(self, target: Path) -> str | None:
        """Why `target` must not be written, or None."""
        if any(_same(target, p) for p in self.inputs if target.name == p.name):
            return "is an input; clamp never overwrites its inputs"
        if target.exists() and not self.force:
            return "exists; --force replaces it"
        return None

    def _refuse(self, target: Path) -> None:
        reason = self._conflict(target)
        if reason:
            raise UsageError(f"{target}: {reason}")

    def documents(self, path: Path, good: list[Piece]) -> list[tuple[str | None, bytes]]:
        """(item, bytes) to write for one input (nothing when it failed).

        The tunes of a multi-tune ABC file are joined for stdout, --output and --whole-file
        as an ABC tune book: each tune opens with its own X: line, a blank line between
        them. MusicXML, MIDI and MTF hold one score per file, so there each tune needs a
        file of its own (--out-dir), and joining them raises InputError.
        """
        if not good:
            return []
        joined = self.whole_file or self.to_stdout or self.output
        if not joined or len(good) == 1:
            return [(p.item, p.data) for p in good] if len(good) > 1 else [(None, good[0].data)]
        if self.to in ONE_SCORE_TARGETS:
            raise InputError(f"holds {len(good)} tunes and {self.to} holds one score per file: give --out-dir "
                             f"(one file per tune) or name one tune as {path.name}#{good[0].item}")
        return [(None, b"\n".join(_tune_text(p) for p in good))]

    def write(self, path: Path, item: str | None, data: bytes) -> Path | None:
        """Write one document; returns its path (None for stdout). Raises OSError for this file, and
        StorageError for a full disk or an I/O error (every later file would fail the same way)."""
        if self.to_stdout:
            with storage("stdout"):      # redirected to a full disk
                sys.stdout.buffer.write(data)
                sys.stdout.flush()
            return None
        target = self.base_target(path)
        if item:
            target = target.with_name(f"{target.stem}#{item}{target.suffix}")
            reason = self._conflict(target)  # a tune's file, known only now: that file fails, the rest goes on
            if reason:
                raise FileExistsError(0, reason)
        if self.out_dir is not None:
            with storage(target.parent):
                target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, lambda f: f.write(data))
        return target
