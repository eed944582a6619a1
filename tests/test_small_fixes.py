"""The smaller items of issue 20 (item 7), each through the real CLI: a score on stdin as a search
query, a read-only cache that serves what it holds, classify's input order, `score -q`'s figures,
help without Python type names, the bundled-model notice, no progress bar for work not done,
readable plots."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .test_cli import ABC_A, ABC_B, error_lines, fresh_cache, run, run_unprivileged

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


# -- a score on stdin as the query -----------------------------------------------------------

def test_a_score_on_stdin_is_a_search_query(env, tunes, tmp_path):
    e = fresh_cache(env, tmp_path)
    query = tmp_path / "query.abc"
    query.write_text(ABC_B.replace("faf", "fef"))
    by_file = json.loads(run(["search", "--music", query, tunes, "--json"], e, check=0).stdout)
    proc = run(["search", "--music", "-", "--stdin-score", "abc", tunes, "--json"], e, stdin=query.read_text(),
               check=0)
    assert json.loads(proc.stdout) == by_file and len(by_file) == 6
    # weighted and mixed with words, as a query file is
    mixed = ["--text", "a jig", tunes, "--json"]
    assert json.loads(run(["search", "--music", "2:-", "--stdin-score", "abc", *mixed], e, stdin=query.read_text(),
                          check=0).stdout) == json.loads(run(["search", "--music", f"2:{query}", *mixed], e,
                                                             check=0).stdout)
    # a query piece among the keys is left out, as a --music file's own piece is
    same = run(["search", "--music", "-", "--stdin-score", "abc", tunes, "-f"], e, stdin=ABC_B, check=0)
    assert str(tunes / "b.abc") not in same.stdout.split() and len(same.stdout.split()) == 5
    # what goes wrong names "-", the score on stdin, not clamp's private copy of it
    proc = run(["search", "--music", "-", "--stdin-score", "abc", tunes], e, stdin="X:1\nK:C\n\x00\x01\n", check=1)
    assert error_lines(proc.stderr) == ["clamp: error: -: binary data, not text (query piece)"]
    proc = run(["search", "--music", "-", "--stdin-score", "abc", tunes], e, stdin="", check=1)
    assert error_lines(proc.stderr) == ["clamp: error: -: stdin is empty (--stdin-score reads one score from it)"]
    proc = run(["search", "--music", "-", tunes], e, stdin=ABC_B, check=2)
    assert error_lines(proc.stderr) == ["clamp: error: --music -: a query score on stdin needs --stdin-score FORMAT "
                                        "(abc, musicxml, midi, ...)"]
    proc = run(["search", "--music", "-", "--stdin-score", "abc", "-"], e, stdin=ABC_B, check=2)
    assert error_lines(proc.stderr) == ["clamp: error: stdin holds the query score (--music - --stdin-score); name "
                                        "the keys as arguments"]
    # without --music -, --stdin-score still gives one of the keys
    keys = run(["search", "--text", "a jig", "--stdin-score", "abc", tunes, "-f"], e, stdin=ABC_B, check=0)
    assert "-" in keys.stdout.split()


# -- a read-only cache -----------------------------------------------------------------------

def _read_only(root: Path) -> None:
    for p in [root, *root.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)


def _writable(root: Path) -> None:
    for p in [root, *root.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_a_read_only_cache_serves_cached_searches(env, tunes, tmp_path):
    e = fresh_cache(env, tmp_path)
    cache = Path(e["CLAMP_CACHE_DIR"])
    warm = run(["search", "-t", "a jig", tunes, "--json"], e, check=0).stdout
    labels = run(["classify", tunes, "-l", "jig", "-l", "reel"], e, check=0).stdout
    bare = tmp_path / "bare-cache"               # the same cache without its libraries: one is made aside
    shutil.copytree(cache, bare, ignore=shutil.ignore_patterns("libraries"))
    before = {c: _digest(c) for c in (cache, bare)}
    for c in (cache, bare):
        _read_only(c)
    try:
        for c in (cache, bare):
            ro = dict(e, CLAMP_CACHE_DIR=str(c))
            proc = run_unprivileged(["search", "-t", "a jig", tunes, "--json"], ro, check=0)
            assert (proc.stdout, proc.stderr) == (warm, ""), c          # served as it is, not one line more
            assert run_unprivileged(["classify", tunes, "-l", "jig", "-l", "reel"], ro, check=0).stdout == labels
            proc = run_unprivileged(["search", "-t", "a new question", tunes, "-f"], ro, check=0)
            assert sorted(proc.stdout.split()) == sorted(r["path"] for r in json.loads(warm))
            assert proc.stderr.splitlines() == [
                f"clamp: warning: {c}: the cache is read-only; what this run computes is not saved in it"]
            assert _digest(c) == before[c]
    finally:
        for c in (cache, bare):
            _writable(c)


# -- classify keeps the order it was given ------------------------------------------------------

def test_classify_keeps_the_input_order(env, tunes, tmp_path):
    e = fresh_cache(env, tmp_path)
    ranked = [f"{tunes / 'book.abc'}#9", str(tunes / "b.abc"), f"{tunes / 'book.abc'}#1", str(tunes / "a.abc")]
    proc = run(["classify", "-", "-l", "jig", "-l", "reel", "--jsonl"], e, stdin="\n".join(ranked) + "\n", check=0)
    assert [json.loads(line)["path"] for line in proc.stdout.splitlines()] == ranked
    # as `search -f` prints them: its rank order survives the pipe
    order = run(["search", "-t", "a reel", tunes, "-f"], e, check=0).stdout
    proc = run(["classify", "-", "-l", "jig", "-l", "reel", "--jsonl"], e, stdin=order, check=0)
    assert [json.loads(line)["path"] for line in proc.stdout.splitlines()] == order.split()
    # arguments too; a folder's files in the folder's order where the folder was named
    proc = run(["classify", tunes / "c.abc", tunes, "-l", "jig", "-l", "reel", "--jsonl"], e, check=0)
    assert [json.loads(line)["path"] for line in proc.stdout.splitlines()] == [
        str(tunes / "c.abc"), str(tunes / "a.abc"), str(tunes / "b.abc"),
        *(f"{tunes / 'book.abc'}#{x}" for x in (1, 5, 9))]


# -- score -q keeps its figures ------------------------------------------------------------------

def test_score_table_prints_its_mean_on_stdout_even_quiet(env, tmp_path):
    from .test_eval import _pairs_on_disk

    texts, music = _pairs_on_disk(tmp_path)
    e = fresh_cache(env, tmp_path)
    figures = json.loads(run(["score", "-Q", texts, "-R", music], e, check=0).stdout)
    proc = run(["score", "-Q", texts, "-R", music, "--format", "table", "-q"], e, check=0)
    assert proc.stderr == ""
    rows = [line.split() for line in proc.stdout.splitlines()]
    assert ["mean", f"{figures['mean']:.4f}"] in rows and ["group", f"{figures['group']:.4f}"] in rows
    assert ["pairs", "4"] in rows and ["sub/03", "sub/03", f"{figures['pairs'][3]['score']:.4f}"] in rows


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


# -- the bundled-model notice ------------------------------------------------------------------------

NOTICE = "using the bundled clamp-mini"


def test_bundled_model_notice_only_when_the_model_computes(env, tunes, tmp_path):
    """Said when the bundled model stands in and computes something; not on a warm run answered
    from the cache, nor on a run that fails before the model does anything."""
    mini = fresh_cache(env, tmp_path) | {"HF_HOME": str(tmp_path / "hf")}     # nothing downloaded
    mini.pop("CLAMP_MODEL")
    cold = run(["search", "-t", "a jig", tunes, "-f"], mini, check=0)
    assert [line for line in cold.stderr.splitlines() if NOTICE in line] == [
        "clamp: using the bundled clamp-mini (small; knows folk, early and classical scores); `clamp models pull "
        "clamp3-c2` fetches the better model, used from then on"]
    warm = run(["search", "-t", "a jig", tunes, "-f"], mini, check=0)
    assert warm.stdout == cold.stdout and NOTICE not in warm.stderr
    assert NOTICE in run(["search", "-t", "a question not asked yet", tunes, "-f"], mini, check=0).stderr
    (tmp_path / "empty.abc").write_text("")
    failed = run(["classify", tmp_path / "empty.abc", "-l", "jig", "-l", "reel"], mini, check=1)
    assert NOTICE not in failed.stderr and error_lines(failed.stderr)[0] == f"clamp: error: {tmp_path / 'empty.abc'}: " \
        "empty file"


# -- progress bars -----------------------------------------------------------------------------------

def _stderr_on_a_terminal(args, env) -> str:
    """Run clamp as a process whose stderr is a terminal (a pty); what it drew there."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "clamp_cli.cli.main", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:        # EIO: the process closed its end
            break
        if not data:
            break
        chunks.append(data)
    proc.communicate(timeout=300)
    os.close(master)
    assert proc.returncode == 0, b"".join(chunks)
    return b"".join(chunks).decode("utf-8", "replace")


def test_no_progress_bar_when_nothing_is_embedded(env, tmp_path):
    d = tmp_path / "many"
    d.mkdir()
    for i in range(40):
        (d / f"t{i}.abc").write_text(f"X:1\nL:1/8\nK:C\n[V:1]abc{i % 10}|[V:2]C,{i % 7}|\n%{i}\n")
    e = fresh_cache(env, tmp_path) | {"TERM": "xterm", "COLUMNS": "100"}
    e.pop("NO_COLOR", None)
    cold = _stderr_on_a_terminal(["search", "-t", "a jig", d, "-f", "-j", "1", "--batch-size", "1"], e)
    assert "embedding" in cold              # work to do: a bar (so this test can see one)
    warm = _stderr_on_a_terminal(["search", "-t", "a jig", d, "-f"], e)
    assert "embedding" not in warm and "checking" not in warm and "━" not in warm, warm
    warm = _stderr_on_a_terminal(["embed", d], e)
    assert "embedding" not in warm and "━" not in warm and "embedded 0, cached 40" in warm, warm


# -- plots -----------------------------------------------------------------------------------------

def test_confusion_matrix_numbers_read_on_their_cells(tmp_path):
    from matplotlib.colors import to_rgba

    from clamp_cli.cli.plots import confusion_figure, text_colour

    assert text_colour(to_rgba("navy")) == "white" and text_colour(to_rgba("white")) == "black"
    assert text_colour(to_rgba("#08306b")) == "white" and text_colour(to_rgba("#f7fbff")) == "black"   # Blues' ends
    # no zero: the lightest cell is 6, drawn near white (a rule by count alone made its number white)
    plt, fig = confusion_figure(["jig", "reel"], [[10, 6], [6, 10]])
    ax = fig.axes[0]
    colours = {t.get_text(): t.get_color() for t in ax.texts}
    plt.close(fig)
    assert colours == {"10": "white", "6": "black"}


def test_map_axes_name_the_components_and_their_variance(tmp_path):
    from clamp_cli.cli.map_cmd import pca_2d
    from clamp_cli.cli.plots import map_figure

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(20, 8)) * np.array([5, 2, 1, 1, 1, 1, 1, 1])
    xy, explained = pca_2d(vectors)
    plt, fig = map_figure(xy, ["a"] * 10 + ["b"] * 10, {}, explained=explained)
    ax = fig.axes[0]
    labels = ax.get_xlabel(), ax.get_ylabel()
    plt.close(fig)
    assert labels == (f"PC1 ({explained[0]:.1%} of variance)", f"PC2 ({explained[1]:.1%} of variance)")
    assert explained[0] > explained[1] > 0 and re.fullmatch(r"PC1 \(\d+\.\d% of variance\)", labels[0])
