"""Counts agree with the error lines: every input named on an error line is counted as failed in
the summary (once, however many lines name it), and the summary is printed whenever inputs were
gathered, even when none could be read (unless -q). embed and convert always print theirs;
search and classify, whose results are the answer, print theirs when an input was skipped or failed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .test_cli import ABC_A, ABC_B, error_lines, fresh_cache, locked, run, run_unprivileged  # noqa: F401

SUMMARY = re.compile(r"^clamp: ((?:\w+ \d+, )+)skipped (\d+)(?: file\(s\) with other extensions \(.*\))?, failed (\d+)$")


def summary(stderr: str) -> dict[str, int] | None:
    """The counts of the summary line (`embedded 3, cached 0, skipped 1, failed 2`), None without one."""
    lines = [m for m in map(SUMMARY.match, stderr.splitlines()) if m]
    assert len(lines) <= 1, stderr
    if not lines:
        return None
    m = lines[0]
    counts = {name: int(n) for name, n in re.findall(r"(\w+) (\d+), ", m.group(1))}
    return {**counts, "skipped": int(m.group(2)), "failed": int(m.group(3))}


def named(stderr: str) -> set[str]:
    """The places the error lines name (each line: `clamp: error: PLACE: reason`)."""
    return {line[len("clamp: error: "):].split(": ")[0] for line in error_lines(stderr)}


@pytest.fixture()
def book(tmp_path) -> Path:
    """A file of two tunes, X:1 and X:2."""
    path = tmp_path / "xmas.abc"
    path.write_text(ABC_A + "\n" + ABC_B)
    return path


def test_a_tune_that_does_not_exist_is_counted_as_failed_by_every_command(env, tmp_path, book):
    """The issue's case: `embed "xmas.abc#99"` said `failed 0` under its one error line."""
    env = fresh_cache(env, tmp_path)
    line = f"clamp: error: {book}#99: no tune X:99 in the file"
    proc = run(["embed", f"{book}#99"], env, check=1)
    assert error_lines(proc.stderr) == [line] and proc.stdout.strip() == "[]"
    assert summary(proc.stderr) == {"embedded": 0, "cached": 0, "skipped": 0, "failed": 1}
    proc = run(["embed", f"{book}#99", f"{book}#1", "--jsonl"], env, check=1)
    assert error_lines(proc.stderr) == [line] and len(proc.stdout.splitlines()) == 1
    assert summary(proc.stderr) == {"embedded": 0, "cached": 1, "skipped": 0, "failed": 1}
    proc = run(["convert", f"{book}#99", f"{book}#2", "--to", "abc", "-O", tmp_path / "out"], env, check=1)
    assert error_lines(proc.stderr) == [line] and "T:B" in (tmp_path / "out" / "xmas.abc").read_text()
    assert summary(proc.stderr) == {"converted": 1, "skipped": 0, "failed": 1}
    proc = run(["classify", f"{book}#99", "-l", "a", "-l", "b"], env, check=1)
    assert error_lines(proc.stderr) == [line], proc.stderr         # not a second, vaguer "no piece could be embedded"
    assert summary(proc.stderr) == {"labelled": 0, "skipped": 0, "failed": 1}
    proc = run(["classify", f"{book}#99", f"{book}#1", "-l", "a", "-l", "b"], env, check=1)
    assert [r["path"] for r in json.loads(proc.stdout)] == [f"{book}#1"]
    assert error_lines(proc.stderr) == [line] and summary(proc.stderr) == {"labelled": 1, "skipped": 0, "failed": 1}
    proc = run(["search", "-t", "a jig", f"{book}#99", f"{book}#1", "-f"], env, check=1)
    assert proc.stdout.splitlines() == [f"{book}#1"]
    assert error_lines(proc.stderr) == [line] and summary(proc.stderr) == {"ranked": 1, "skipped": 0, "failed": 1}


def test_the_summary_is_printed_when_no_input_could_be_read(env, tmp_path):
    """A missing path alone (or beside a skipped file) was one error line and no summary at all."""
    env = fresh_cache(env, tmp_path)
    missing = tmp_path / "nothere.abc"
    (tmp_path / "cover.png").write_bytes(b"\x89PNG")
    line = f"clamp: error: {missing}: no such file or directory"
    for args, counts in (
            (["embed", missing], {"embedded": 0, "cached": 0, "skipped": 0, "failed": 1}),
            (["embed", missing, tmp_path / "cover.png"], {"embedded": 0, "cached": 0, "skipped": 1, "failed": 1}),
            (["convert", missing, "--to", "abc"], {"converted": 0, "skipped": 0, "failed": 1}),
            (["classify", missing, "-l", "a", "-l", "b"], {"labelled": 0, "skipped": 0, "failed": 1}),
            (["search", "-t", "a jig", missing], {"ranked": 0, "skipped": 0, "failed": 1})):
        proc = run(args, env, check=1)
        assert error_lines(proc.stderr) == [line], (args, proc.stderr)
        assert summary(proc.stderr) == counts, (args, proc.stderr)
        quiet = run([*args, "-q"], env, check=1)                   # -q: the error line, no summary
        assert quiet.stderr.splitlines() == [line], (args, quiet.stderr)


def test_unreadable_files_and_folders_are_counted_in_the_summary(env, tmp_path, locked):  # noqa: F811
    """A real process without root's powers over permissions (setpriv), so that chmod 000 holds."""
    env = fresh_cache(env, tmp_path)
    secret = locked / "secret.abc"
    line = f"clamp: error: {secret}: permission denied"
    proc = run_unprivileged(["embed", secret], env, check=1)
    assert error_lines(proc.stderr) == [line]
    assert summary(proc.stderr) == {"embedded": 0, "cached": 0, "skipped": 0, "failed": 1}
    proc = run_unprivileged(["convert", secret, "--to", "abc"], env, check=1)
    assert error_lines(proc.stderr) == [line] and summary(proc.stderr) == {"converted": 0, "skipped": 0, "failed": 1}
    folder = locked / "locked"                      # a folder nobody may enter: nothing at all to read
    proc = run_unprivileged(["embed", folder], env, check=1)
    assert error_lines(proc.stderr) == [f"clamp: error: {folder}: permission denied"]
    assert summary(proc.stderr) == {"embedded": 0, "cached": 0, "skipped": 0, "failed": 1}
    proc = run_unprivileged(["embed", locked, "--jsonl"], env, check=1)
    assert named(proc.stderr) == {str(secret), str(locked / "locked")}
    assert summary(proc.stderr) == {"embedded": 1, "cached": 0, "skipped": 0, "failed": 2}


def test_an_output_that_cannot_be_written_is_counted_as_failed(env, tmp_path):
    """A file the command could not write (a folder in its place) is one line and one failure; the
    rest are written (not a disk error: the run goes on)."""
    env = fresh_cache(env, tmp_path)
    scores = tmp_path / "scores"
    scores.mkdir()
    for name, abc in (("a.abc", ABC_A), ("b.abc", ABC_B)):
        (scores / name).write_text(abc)
    out = tmp_path / "features"
    (out / "b.npy").mkdir(parents=True)                # in the way of b's features
    proc = run(["embed", scores, "-O", out, "--jsonl", "--force"], env, check=1)    # --force: past the writers' rule
    assert error_lines(proc.stderr) == [f"clamp: error: {out / 'b.npy'}: cannot write (is a directory)"]
    assert summary(proc.stderr) == {"embedded": 1, "cached": 0, "skipped": 0, "failed": 1}
    assert [Path(json.loads(x)["path"]).name for x in proc.stdout.splitlines()] == ["a.abc"]
    assert (out / "a.npy").is_file()
    converted = tmp_path / "abc"
    (converted / "b.abc").mkdir(parents=True)
    proc = run(["convert", scores, "--to", "abc", "-O", converted, "--force", "-j", "1"], env, check=1)
    assert error_lines(proc.stderr) == [f"clamp: error: {scores / 'b.abc'}: cannot write (is a directory)"]
    assert summary(proc.stderr) == {"converted": 1, "skipped": 0, "failed": 1}     # it said failed 0


def test_every_place_named_on_an_error_line_is_one_failure_in_every_command(env, tmp_path, book):
    """A batch of good and bad inputs of several kinds: the failed count is the number of places the
    error lines name, in embed, convert, classify and search alike; a clean run of search or classify
    prints nothing on stderr."""
    env = fresh_cache(env, tmp_path)
    d = tmp_path / "batch"
    d.mkdir()
    (d / "good.abc").write_text(ABC_A)
    (d / "empty.abc").write_text("")
    (d / "garbage.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01")
    (d / "notes.md").write_text("not music")
    args = [d, tmp_path / "missing.abc", f"{book}#99", f"{book}#2"]
    bad = {str(d / "empty.abc"), str(d / "garbage.mid"), str(tmp_path / "missing.abc"), f"{book}#99"}
    for command in (["embed"], ["convert", "--to", "abc", "-O", tmp_path / "converted"],
                    ["classify", "-l", "a", "-l", "b"], ["search", "-t", "a jig"]):
        proc = run([*command, *args], env, check=1)
        assert named(proc.stderr) == bad, (command, proc.stderr)
        counts = summary(proc.stderr)
        assert counts is not None and counts["failed"] == len(bad) and counts["skipped"] == 1, (command, proc.stderr)
        assert sum(v for k, v in counts.items() if k not in ("skipped", "failed")) == 2, (command, proc.stderr)
    for command in (["classify", "-l", "a", "-l", "b"], ["search", "-t", "a jig"]):
        assert run([*command, d / "good.abc", book], env, check=0).stderr == ""
