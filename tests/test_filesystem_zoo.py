"""Any file a file system can hold (issue 20, item 1): read, or refused with one line, never a stop.

The "filesystem zoo" is a folder of things that are not scores a reader can simply open (a FIFO,
a socket, links to devices, a sparse 10 GB file, a one-line 2 MB ABC tune, a 50 MB MIDI track,
a file that grows while it is read, a folder named like a score) next to two good tunes. Each
command runs over it as a real process. The unit tests below it check the parts one at a time:
what is opened, the size limits, the time and memory limits of a conversion, a file that
changes or vanishes during the run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from clamp_cli.errors import InputError
from clamp_cli.formats import pool
from clamp_cli.formats.convert import conversion_crashed, limit_hit
from clamp_cli.formats.limits import Limits
from clamp_cli.formats.pool import map_files
from clamp_cli.formats.reading import hash_input, read_input
from clamp_cli.formats.walk import expand
from clamp_cli.fsutil import readable_name
from clamp_cli.index.embedder import CHANGED, convert_file
from clamp_cli.index.store import sha256_bytes
from clamp_cli.train.prepare import corpus_root

REPO = Path(__file__).resolve().parents[1]
COMMAND_TIMEOUT = 120
LIMIT_HIT = ("conversion took longer than", "conversion needed more than")


def one_line_abc(size: int) -> str:
    """One tune whose body is a single line of `size` characters."""
    return "X:1\nT:One line\nM:4/4\nL:1/8\nK:D\n" + "abcd efga " * (size // 10) + "|\n"


def one_track_midi(size: int) -> bytes:
    """A format-0 MIDI file of about `size` bytes: one track of note on / note off pairs."""
    events = bytes([0x00, 0x90, 60, 64, 0x01, 0x80, 60, 0x00]) * (size // 8) + b"\x00\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, 96) + b"MTrk" + struct.pack(">I", len(events)) + events


@dataclass
class Zoo:
    root: Path
    bad: dict[Path, tuple[str, ...]] = field(default_factory=dict)    # file -> what its one line may say
    good: list[Path] = field(default_factory=list)
    growing: Path | None = None


def build_zoo(root: Path) -> Zoo:
    root.mkdir()
    zoo = Zoo(root)
    tunes = corpus_root() / "ryansMammoth"
    zoo.good.append(root / "AnnieHughesJig.abc")
    shutil.copy(tunes / "AnnieHughesJig.abc", zoo.good[-1])
    (root / "x.abc").mkdir()                 # a folder named like a score: walked, not read
    zoo.good.append(root / "x.abc" / "7thRegimentReel.abc")
    shutil.copy(tunes / "7thRegimentReel.abc", zoo.good[-1])

    os.mkfifo(root / "fifo.abc")             # open() would wait for a writer forever
    zoo.bad[root / "fifo.abc"] = ("a FIFO, not a regular file",)
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(root / "socket.mid"))
    zoo.bad[root / "socket.mid"] = ("a socket, not a regular file",)
    for name, device in (("zero.mid", "/dev/zero"), ("urandom.abc", "/dev/urandom")):
        (root / name).symlink_to(device)     # read forever
        zoo.bad[root / name] = ("a symbolic link to a character device, not a regular file",)
    with open(root / "sparse.mid", "wb") as f:
        f.truncate(10 * 2**30)               # 10 GB that take no disk
    zoo.bad[root / "sparse.mid"] = ("10.0 GB, above the 64 MB limit for scores",)
    (root / "oneline.abc").write_text(one_line_abc(2 * 2**20))
    zoo.bad[root / "oneline.abc"] = LIMIT_HIT
    (root / "long.mid").write_bytes(one_track_midi(50 * 2**20))
    zoo.bad[root / "long.mid"] = LIMIT_HIT
    for name in (b"lat\xe9.abc", b"new\nline.abc"):    # not UTF-8 (an old archive's Latin-1); a newline
        zoo.good.append(Path(os.fsdecode(os.path.join(os.fsencode(root), name))))
        shutil.copy(tunes / "AbithaMugginsFavoriteReel.abc", zoo.good[-1])
    zoo.growing = root / "growing.abc"
    return zoo


def names_in(jsonl: str) -> set[str]:
    """The exact names a JSONL output gives (FIELD_bytes, base64, where a name is not UTF-8)."""
    import base64
    import json

    out = set()
    for line in jsonl.splitlines():
        rec = json.loads(line)
        out.add(os.fsdecode(base64.b64decode(rec["path_bytes"])) if "path_bytes" in rec else rec["path"])
    return out


@contextlib.contextmanager
def growing(path: Path):
    """A tune that grows by 4 KB of ABC comments every 10 ms while the block runs."""
    path.write_text((corpus_root() / "ryansMammoth" / "AcaciaReel.abc").read_text())
    stop = threading.Event()

    def grow():
        with open(path, "a") as f:
            while not stop.wait(0.01):
                f.write("% more\n" * 585)
                f.flush()

    writer = threading.Thread(target=grow, daemon=True)
    writer.start()
    try:
        yield
    finally:
        stop.set()
        writer.join()


def clamp(args: list, env: dict) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "clamp_cli.cli.main", *map(str, args)], env=env, cwd=REPO,
                          capture_output=True, timeout=COMMAND_TIMEOUT)
    # stdout is JSON: UTF-8 whatever the file names (strict: a raw Latin-1 byte fails here)
    proc.stdout, proc.stderr = proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8", "surrogateescape")
    return proc, time.monotonic() - start


def check(command: str, proc: subprocess.CompletedProcess, elapsed: float, zoo: Zoo, processed: set[str]) -> None:
    """Every bad file named on exactly one stderr line saying why, both good tunes in `processed`,
    exit 1, no traceback."""
    lines = proc.stderr.splitlines()
    print(f"{command}: {elapsed:.1f} s, exit {proc.returncode}")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    for path, reasons in zoo.bad.items():
        named = [line for line in lines if str(path) in line]
        assert len(named) == 1, (command, path, named)
        assert named[0].startswith(f"clamp: error: {path}: ") and any(r in named[0] for r in reasons), named
    for path in zoo.good:
        assert str(path) in processed, (command, path, processed, proc.stderr)
        assert not [line for line in lines if line.startswith(f"clamp: error: {readable_name(path)}")], proc.stderr
    # the growing file: refused with one line (it changed while read), or read whole at some moment
    named = [line for line in lines if str(zoo.growing) in line]
    print(f"  growing.abc: {named[0] if named else 'read consistently and processed'}")
    assert len(named) <= 1, named
    assert named or str(zoo.growing) in processed, (proc.stderr, processed)


def test_filesystem_zoo(tmp_path):
    zoo = build_zoo(tmp_path / "zoo")
    env = dict(os.environ, HF_HUB_OFFLINE="1", CLAMP_MODEL="clamp-mini", CLAMP_CACHE_DIR=str(tmp_path / "cache"),
               NO_COLOR="1", PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    for name in ("CLAMP_MAX_FILE_MB", "CLAMP_CONVERT_TIMEOUT", "CLAMP_CONVERT_MEMORY_MB", "CLAMP_TEXT_BACKBONE"):
        env.pop(name, None)          # the documented defaults
    out = tmp_path / "converted"
    commands = {
        "embed": ["embed", zoo.root, "--format", "jsonl"],
        "search -t jig": ["search", "-t", "jig", zoo.root, "--format", "jsonl"],
        "classify -l jig -l reel": ["classify", "-l", "jig", "-l", "reel", zoo.root, "--format", "jsonl"],
        "convert --to iabc -O": ["convert", "--to", "iabc", zoo.root, "-O", out],
    }
    for command, args in commands.items():
        with growing(zoo.growing):
            proc, elapsed = clamp(args, env)
        if command.startswith("convert"):   # what it wrote, named as the inputs are
            processed = {str(zoo.root / p.relative_to(out)) for p in out.rglob("*.abc")}
        else:
            processed = names_in(proc.stdout)
        check(command, proc, elapsed, zoo, processed)
        assert elapsed < COMMAND_TIMEOUT
        zoo.growing.unlink()


# -- what is opened ------------------------------------------------------------------------------

def test_special_files_are_refused_by_the_walk_without_being_opened(tmp_path):
    os.mkfifo(tmp_path / "pipe.mid")
    (tmp_path / "dev.abc").symlink_to("/dev/null")
    (tmp_path / "gone.abc").symlink_to(tmp_path / "nowhere.abc")
    (tmp_path / "d.abc").mkdir()
    (tmp_path / "d.abc" / "t.abc").write_text("X:1\nK:C\nC|\n")
    walk = expand([str(tmp_path)])
    assert walk.files == [tmp_path / "d.abc" / "t.abc"]       # the folder named x.abc is walked
    problems = dict(walk.problems)
    assert problems[str(tmp_path / "pipe.mid")] == "a FIFO, not a regular file"
    assert problems[str(tmp_path / "dev.abc")] == "a symbolic link to a character device, not a regular file"
    assert "no such file" in problems[str(tmp_path / "gone.abc")]
    # named as an argument: the same
    assert dict(expand([str(tmp_path / "pipe.mid")]).problems) == {str(tmp_path / "pipe.mid"): "a FIFO, not a regular file"}


def test_a_fifo_swapped_in_after_the_walk_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "late.abc")
    done = []
    reader = threading.Thread(target=lambda: done.append(_refusal(read_input, tmp_path / "late.abc")), daemon=True)
    reader.start()
    reader.join(10)
    assert done == ["a FIFO, not a regular file"]
    assert _refusal(hash_input, tmp_path / "late.abc") == "a FIFO, not a regular file"


def _refusal(read, path) -> str | None:
    try:
        read(path, "music")
    except InputError as exc:
        return str(exc)
    return None


def test_sizes_are_checked_before_reading(tmp_path, monkeypatch):
    with open(tmp_path / "big.mid", "wb") as f:
        f.truncate(65 * 2**20)
    assert dict(expand([str(tmp_path)]).problems) == {
        str(tmp_path / "big.mid"): "65.0 MB, above the 64 MB limit for scores ($CLAMP_MAX_FILE_MB changes it)"}
    (tmp_path / "big.mid").unlink()
    (tmp_path / "t.abc").write_text("X:1\nK:C\n" + "C" * 3000 + "|\n")
    (tmp_path / "r.wav").write_bytes(b"RIFF" + bytes(3000))
    monkeypatch.setenv("CLAMP_MAX_FILE_MB", "music=0.001")     # about 1 KB for scores; recordings as they were
    assert "above the 0.001 MB limit for scores" in _refusal(read_input, tmp_path / "t.abc")
    assert list(dict(expand([str(tmp_path)]).problems)) == [str(tmp_path / "t.abc")]
    monkeypatch.setenv("CLAMP_MAX_FILE_MB", "0.001")           # every kind
    assert list(dict(expand([str(tmp_path)]).problems)) == [str(tmp_path / "r.wav"), str(tmp_path / "t.abc")]


def test_a_file_that_vanishes_or_changes_during_the_run_is_one_error(tmp_path):
    tune = tmp_path / "t.abc"
    tune.write_text("X:1\nT:T\nL:1/8\nK:G\nGABc dedB|\n")
    _, data = read_input(tune, "music")
    assert data == tune.read_bytes()
    # its bytes are not those the parent hashed: left out, not cached under the other content
    [piece] = convert_file(str(tune), "interleaved", False, sha256_bytes(b"what was there before"))
    assert piece.error == CHANGED
    [piece] = convert_file(str(tune), "interleaved", False, sha256_bytes(data))
    assert piece.error is None
    tune.unlink()
    assert _refusal(read_input, tune) == "no such file or directory"
    [piece] = convert_file(str(tune), "interleaved", False)
    assert piece.error == "no such file or directory"


# -- conversion limits ---------------------------------------------------------------------------

def _sleep_where_no_alarm_reaches(path: str) -> str:
    if path == "stuck":
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})   # as C code that never returns to Python
        time.sleep(60)
    return f"ok {path} {os.getpid()}"


def _allocate(path: str) -> str:
    if path == "hungry":
        blocks = [bytearray(2**20) for _ in range(3072)]             # 3 GB (untouched pages: no RSS without the limit)
        return f"allocated {len(blocks)} MB"
    return f"ok {path} {os.getpid()}"


def test_a_worker_stuck_past_the_time_limit_is_replaced_and_the_batch_goes_on(monkeypatch):
    monkeypatch.setattr(pool, "GRACE", 0.5)
    start = time.monotonic()
    got = dict(map_files(_sleep_where_no_alarm_reaches, ["stuck", "a", "b"], 1, limits=Limits(1, None),
                         on_limit=lambda p, m: m))
    assert time.monotonic() - start < 30
    assert got["stuck"].startswith("conversion took longer than 1 s")
    assert got["a"].startswith("ok a") and got["b"].startswith("ok b")


def test_a_conversion_past_the_memory_limit_is_one_error_and_its_worker_is_replaced():
    # 600 MB: room for what a spawned worker imports before its first task (numpy, the converters)
    got = dict(map_files(_allocate, ["hungry", "a"], 1, limits=Limits(None, 600), on_limit=lambda p, m: m))
    assert got["hungry"].startswith("conversion needed more than 600 MB")
    assert got["a"].startswith("ok a")


def test_each_tune_of_a_tune_book_has_its_own_time(tmp_path):
    """A slow tune fails alone, by name; the book's other tunes are converted."""
    book = tmp_path / "book.abc"
    book.write_text("X:1\nT:Quick\nL:1/8\nK:G\nGABc dedB|\n\n" + one_line_abc(40_000).replace("X:1", "X:2") +
                    "\nX:3\nT:Quick too\nL:1/8\nK:D\nDEFG ABcd|\n")
    [(_, pieces)] = map_files(convert_file, [str(book)], 1, "interleaved", False, limits=Limits(2, None),
                              on_crash=conversion_crashed, on_limit=limit_hit)
    assert [(p.item, p.error and p.error.split(" (")[0]) for p in pieces] == [
        ("1", None), ("2", "conversion took longer than 2 s"), ("3", None)]


IDLE_WORKER = """
import os
from clamp_cli.formats import pool
from clamp_cli.formats.limits import Limits
pool.prestart(Limits(30, None))
print(pool._parked[0].proc.pid, flush=True)
os._exit(1)
"""
BUSY_WORKER = """
import os, sys, threading, time
from clamp_cli.formats import pool
from clamp_cli.formats.limits import Limits
def big(path):                     # a long conversion with a result larger than a pipe's buffer
    print(os.getpid(), flush=True)
    time.sleep(1.5)
    return "x" * 5_000_000
threading.Timer(0.5, os._exit, (1,)).start()
list(pool.map_files(big, ["a"], 1, limits=Limits(30, None)))
"""


@pytest.mark.parametrize("code", [IDLE_WORKER, BUSY_WORKER], ids=["idle", "busy"])
def test_a_worker_leaves_when_its_parent_ends_without_exit_handlers(code):
    """A parent ended by _exit (as Ray's core ends a driver whose local instance died) or killed
    runs no handler to stop its workers, whose copies of the parents' pipe ends keep the pipes
    open: a worker, idle or at work, must see that its parent is gone and leave, not hold the
    parent's stdout and stderr (a caller reading them to the end would wait for ever)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                      os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1, done.stderr     # returns only once the worker let go of the pipes
    worker = int(done.stdout.split()[0])

    def gone() -> bool:
        try:
            with open(f"/proc/{worker}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
        except FileNotFoundError:
            return True

    deadline = time.monotonic() + 30        # its pipes close as it exits, a moment before it is a zombie
    while not gone() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone()


def test_a_single_file_is_converted_in_a_worker_when_limits_apply():
    [(_, pid)] = map_files(_sleep_where_no_alarm_reaches, ["a"], 1, limits=Limits(30, None))
    assert pid.split()[-1] != str(os.getpid())
    [(_, pid)] = map_files(_sleep_where_no_alarm_reaches, ["a"], 1)          # no limits: in-process
    assert pid.split()[-1] == str(os.getpid())


def test_stat_modes_have_words():
    from clamp_cli.formats.reading import not_regular

    assert not_regular(stat.S_IFREG) is None
    assert not_regular(stat.S_IFBLK) == "a block device, not a regular file"
    assert not_regular(stat.S_IFDIR) == "a directory, not a regular file"


def test_any_file_name_is_read_and_given_back_exactly(tmp_path):
    """Names that are not UTF-8 or hold a newline: read, stored, and printed back as the same bytes
    (-0 for xargs, path_bytes in JSON), shown readably in messages (\\xNN), never a traceback."""
    import base64
    import json

    root = os.fsencode(tmp_path / "names")
    os.mkdir(root)
    tune = (corpus_root() / "ryansMammoth" / "AcaciaReel.abc").read_bytes()
    good = [os.path.join(root, n) for n in (b"lat\xe9.abc", b"new\nline.abc", b"plain.abc")]
    for name in good:
        with open(name, "wb") as f:
            f.write(tune)
    with open(os.path.join(root, b"bad\xff.mid"), "wb") as f:
        f.write(b"MThd not really")
    env = dict(os.environ, HF_HUB_OFFLINE="1", CLAMP_MODEL="clamp-mini", CLAMP_CACHE_DIR=str(tmp_path / "cache"),
               NO_COLOR="1", PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    folder = os.fsdecode(root)
    bad_line = f"clamp: error: {folder}/bad\\xff.mid: not a readable MIDI file"
    for args in (["embed", folder, "--format", "jsonl"], ["classify", "-l", "jig", "-l", "reel", folder, "--format", "jsonl"],
                 ["search", "-t", "a reel", folder, "--format", "jsonl"]):
        proc, _ = clamp(args, env)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        named = [line for line in proc.stderr.splitlines() if "bad" in line]
        assert len(named) == 1 and named[0].startswith(bad_line), proc.stderr      # one line, readable
        records = [json.loads(line) for line in proc.stdout.splitlines()]
        exact = {base64.b64decode(r["path_bytes"]) if "path_bytes" in r else os.fsencode(r["path"]) for r in records}
        assert exact == set(good), (args, records)
        latin = next(r for r in records if "path_bytes" in r)
        assert latin["path"] == f"{folder}/lat\\xe9.abc"                    # readable, and valid UTF-8
    # -0 prints the exact bytes: what xargs -0 needs to open the files
    run = subprocess.run([sys.executable, "-m", "clamp_cli.cli.main", "search", "-t", "a reel", folder, "-f", "-0"],
                         env=env, cwd=REPO, capture_output=True, timeout=COMMAND_TIMEOUT)
    assert set(run.stdout.split(b"\0")[:-1]) == set(good) and run.stdout.endswith(b"\0")
    # convert writes each output under the input's own name
    out = tmp_path / "out"
    proc, _ = clamp(["convert", "--to", "mtf", folder, "-O", out], env)
    assert proc.returncode == 1
    assert sorted(os.listdir(os.fsencode(out))) == [b"lat\xe9.mtf", b"new\nline.mtf", b"plain.mtf"]
