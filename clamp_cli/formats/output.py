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

from ..errors import UsageError
from ..fsutil import atomic_write
from .convert import BINARY_TARGETS, TARGETS, Piece


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


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
        """(item, bytes) to write for one input; the tunes of a multi-tune ABC file are joined
        for stdout, --output and --whole-file, except in formats that hold one score per file."""
        one_per_file = self.to in BINARY_TARGETS | {"musicxml"}
        if (self.whole_file or self.to_stdout or self.output) and not (len(good) > 1 and one_per_file):
            return [(None, b"".join(p.data if p.data.endswith(b"\n") or self.to in BINARY_TARGETS else p.data + b"\n"
                                    for p in good))]
        return [(p.item, p.data) for p in good]

    def write(self, path: Path, item: str | None, data: bytes) -> Path | None:
        """Write one document; returns its path (None for stdout). Raises OSError."""
        if self.to_stdout:
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
            target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, lambda f: f.write(data))
        return target
