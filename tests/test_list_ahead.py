"""Folders listed ahead in a forked child (formats.walk.list_ahead, clamp_cli.forked): the
listing a search then uses is the one it would have made itself, a child that fails costs
nothing but time, and the command-line guess follows `clamp search`'s options.

Forks happen in their own Python processes here (a pytest process may hold threads), as they do
in the `clamp` executable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from clamp_cli.cli.entry import SEARCH_UNSCANNED, SEARCH_VALUE_OPTIONS, search_folders

REPO = Path(__file__).resolve().parents[1]
TUNE = "X:1\nT:Tune {n}\nM:6/8\nL:1/8\nK:D\n|:dfa afd|gbg faf|edc dcB|A3 A2:|\n"


def python(code: str, *args: str, env: dict | None = None) -> dict:
    """Run `code` in a new Python process; it prints one JSON object."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def tree(tmp_path) -> Path:
    """A plain folder (split between two processes below), a mixed one (a file clamp does not
    read, a hidden file, a FIFO, a file over the size limit, a dangling link, a link back up to
    the top, and a name that is not UTF-8)."""
    root = tmp_path / "music"
    plain = root / "plain"
    plain.mkdir(parents=True)
    for n in range(40):
        (plain / f"{n:02d}.abc").write_text(TUNE.format(n=n))
    mixed = root / "mixed"
    mixed.mkdir()
    (mixed / "a.abc").write_text(TUNE.format(n="a"))
    (mixed / "notes.doc").write_text("words")
    (mixed / ".hidden.abc").write_text(TUNE.format(n="h"))
    (mixed / "big.abc").write_text(TUNE.format(n="big") + "% pad\n" * 400_000)   # 2.4 MB: over the limit below
    os.mkfifo(mixed / "pipe.abc")
    os.symlink(mixed / "gone.abc", mixed / "dangling.abc")
    os.symlink(root, mixed / "loop")
    with open(os.path.join(os.fsencode(mixed), b"lat\xe9.abc"), "w") as f:
        f.write(TUNE.format(n="latin"))
    return root


LISTED = """
    import json, os, sys
    from clamp_cli import forked
    from clamp_cli.formats import walk
    walk._SPLIT_FROM = 4                  # the helper splits even a folder of 40 files
    args = sys.argv[1:]
    walk.list_ahead(args)
    started = "child" in walk._ahead
    sent = []
    result = forked.result
    forked.result = lambda *a: sent.append(result(*a)) or sent[-1]
    ahead = walk.scan(args)
    used = len(sent) == 1 and sent[0] is not None and walk._ahead == {"listings": {}}
    walk._ahead.clear()
    here = walk.scan(args)
    print(json.dumps({"started": started, "used": used, "same": ahead == here, "files": len(here.keys),
                      "problems": len(here.problems), "skipped": here.skipped}))
"""


def test_a_listing_made_ahead_is_the_one_made_here(tree):
    env = dict(os.environ, CLAMP_MAX_FILE_MB="music=1")
    got = python(LISTED, str(tree / "plain"), str(tree), str(tree / "mixed"), env=env)
    # 40 + a.abc + lat\xe9.abc, and the 40 again below mixed/loop (listed from mixed: another path);
    # the FIFO, the big file and the dangling link are problems; notes.doc is skipped
    assert got == {"started": True, "used": True, "same": True, "files": 82, "problems": 3, "skipped": 1}


def test_a_helper_that_fails_leaves_its_half_to_the_child(tree):
    code = """
        import json, os, sys
        from clamp_cli import forked
        from clamp_cli.formats import walk
        first = os.getpid()
        plain_stats = walk._plain_stats
        def failing(paths, limit):       # fails in the helper, not in the process that forked it
            if os.getpid() != first:
                raise OSError("helper lost")
            return plain_stats(paths, limit)
        walk._plain_stats = failing
        walk._helpers, walk._SPLIT_FROM = True, 4
        started = []
        start = forked.start
        forked.start = lambda *a: started.append(a[0]) or start(*a)
        problems = []
        split = walk.list_tree(os.fsencode(sys.argv[1]), problems, ordered=False)
        walk._helpers = False
        alone = walk.list_tree(os.fsencode(sys.argv[1]), problems, ordered=False)
        def nothing():
            return None
        def broken():
            raise ValueError("no result")
        forked.start = start
        got = {"same": split == alone, "files": len(alone.paths), "helpers": len(started),
               "none": forked.result(*forked.start(nothing)), "failed": forked.result(*forked.start(broken))}
        forked._reap_all()
        try:
            os.waitpid(-1, os.WNOHANG)
            got["children left"] = True
        except ChildProcessError:
            got["children left"] = False
        print(json.dumps(got))
    """
    assert python(code, str(tree / "plain")) == {"same": True, "files": 40, "helpers": 1, "none": [None],
                                                "failed": None, "children left": False}


WAITED = """
    import json, os, signal, sys, time
    from clamp_cli import forked
    from clamp_cli.formats import walk
    walk._SPLIT_FROM = 4
    plain_stats = walk._plain_stats
    first = os.getpid()
    def slow(paths, limit):              # the child and its helper each take 20 s over their half
        if os.getpid() != first:
            with open(sys.argv[2] + "/" + str(os.getpid()), "w"):
                pass
            time.sleep(20)
        return plain_stats(paths, limit)
    walk._plain_stats = slow
    walk.list_ahead([sys.argv[1]])
    child = walk._ahead["child"][0]
    while len(os.listdir(sys.argv[2])) < 2:       # both at work
        time.sleep(0.01)
    t = time.monotonic()
    if sys.argv[3] == "interrupt":                # Ctrl-C sent to clamp alone, while it waits for the listing
        import threading                          # SIGINT itself, to the main thread (raised from a SIGALRM
        main = threading.main_thread().ident      # handler it came after a blocked read had been resumed),
        signal.signal(signal.SIGINT, signal.default_int_handler)   # as a terminal's clamp has it (a shell
                                                  # starts a background job, as pytest may be, ignoring it)
        threading.Timer(0.2, signal.pthread_kill, (main, signal.SIGINT)).start()
        try:
            walk.scan([sys.argv[1]])
        except KeyboardInterrupt:
            pass
    else:                                         # a listing nobody asks for
        walk._end_ahead()
    forked._reap_all()
    def gone(pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")    # killed, not yet reaped by init
        except FileNotFoundError:
            return True
    helpers = [int(p) for p in os.listdir(sys.argv[2])]
    while not all(map(gone, helpers)) and time.monotonic() - t < 10:
        time.sleep(0.01)
    print(json.dumps({"seconds": time.monotonic() - t, "gone": all(map(gone, helpers)), "processes": len(helpers)}))
"""


@pytest.mark.parametrize("how", ["interrupt", "not asked"])
def test_a_stopped_listing_ends_its_child_and_helper(tree, tmp_path, how):
    """Interrupted while it waits (a signal to clamp alone), or never asked for: clamp does not
    wait for the listing, and no process of it is left running."""
    marks = tmp_path / "marks"
    marks.mkdir()
    got = python(WAITED, str(tree / "plain"), str(marks), how)
    assert got["processes"] == 2 and got["gone"] and got["seconds"] < 5, got


def test_a_listing_nobody_asks_for_is_stopped(tree):
    """A search whose arguments are not all folders never uses the listing: the child is ended."""
    code = """
        import json, os, sys
        from clamp_cli import forked
        from clamp_cli.formats import walk
        walk.list_ahead(sys.argv[1:])
        pid = walk._ahead["child"][0]
        walk._end_ahead()
        forked._reap_all()
        try:
            os.kill(pid, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        print(json.dumps({"alive": alive, "scan": walk.scan(sys.argv[1:]) is None}))
    """
    assert python(code, str(tree / "plain"), str(tree / "mixed" / "a.abc")) == {"alive": False, "scan": True}


def test_the_guess_of_the_folders_follows_the_search_options(tree):
    from typer.main import get_command

    from clamp_cli.cli.main import build

    command = get_command(build("search")).commands["search"]
    takes_value = {opt for p in command.params if p.param_type_name == "option" and not (p.is_flag or p.count)
                   for opt in (*p.opts, *p.secondary_opts)}
    assert SEARCH_VALUE_OPTIONS == takes_value
    assert SEARCH_UNSCANNED <= {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
    assert search_folders(["-t", "a jig", "tunes", "-n", "5", "--json", "more", "-k", "keys", "--model", "m"]) \
        == ["tunes", "more", "keys"]
    assert search_folders(["-t", "x", "--", "-odd-name"]) == ["-odd-name"]
    assert search_folders(["-t", "x", "tunes", "--no-update"]) == []
    assert search_folders(["-t", "x", "tunes", "--stdin-score=abc"]) == []
    assert search_folders(["-ft", "a jig", "tunes", "-qn", "5"]) == ["tunes"]      # short flags together


def test_a_search_process_ranks_as_the_search_in_this_process(tree, tmp_path):
    """The executable lists ahead; the in-process runner (tests, the Python API) does not: the
    same results, with the helper splitting the folder."""
    from typer.testing import CliRunner

    from clamp_cli.cli.main import app

    env = dict(os.environ, HF_HUB_OFFLINE="1", CLAMP_MODEL="clamp-mini", CLAMP_CACHE_DIR=str(tmp_path / "cache"),
               NO_COLOR="1")
    args = ["search", "-t", "a jig", str(tree / "plain"), "-n", "50", "--json"]
    code = """
        import sys
        from clamp_cli.formats import walk
        walk._SPLIT_FROM = 4
        from clamp_cli.cli.entry import run
        run()
    """
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    first = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], env=env, capture_output=True,
                           text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    (tree / "plain" / "00.abc").write_text(TUNE.format(n="changed") + "|:ABc dBA:|\n")    # a change it must see
    again = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], env=env, capture_output=True,
                           text=True, timeout=300)
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(again.stdout) == json.loads(result.stdout) != json.loads(first.stdout)
