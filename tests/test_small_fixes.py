"""The smaller items of issue 20 (item 7), each through the real CLI: a score on stdin as a search
query, a read-only cache that serves what it holds, classify's input order, `score -q`'s figures,
help without Python type names, the bundled-model notice, no progress bar for work not done,
readable plots."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .test_cli import ABC_A, ABC_B, run

BOOK = ABC_A + "\n" + ABC_B.replace("X:2", "X:5") + "\n" + ABC_A.replace("X:1", "X:9").replace("GABc", "BcdB") + "\n"


@pytest.fixture()
def tunes(tmp_path) -> Path:
    root = tmp_path / "tunes"
    root.mkdir()
    (root / "a.abc").write_text(ABC_A)
    (root / "b.abc").write_text(ABC_B)
    (root / "c.abc").write_text(ABC_A.replace("GABc", "BcdB"))
    (root / "book.abc").write_text(BOOK)
    return root


# -- help ----------------------------------------------------------------------------------------

PYTHON_TYPES = re.compile(r"<(list\[|int|str|float|bool|path|text)|list\[|int range|float range")


def test_help_names_values_without_python_types(env):
    from clamp_cli.cli.docs import command_tree

    for path, _ in command_tree():
        out = run([*path, "--help"], env, check=0).stdout
        assert not PYTHON_TYPES.search(out), (path, PYTHON_TYPES.search(out).group(0), out)
    search = run(["search", "--help"], env, check=0).stdout
    for shown in ("  PATH  Music to rank", "-n, --top N ", "--music FILE ", "--keys-text PATH ", "-m, --model MODEL ",
                  "--stdin-score FORMAT "):
        assert shown in search, shown
    assert "--val-share NUMBER " in run(["probe", "fit", "--help"], env, check=0).stdout
