"""A full disk under the cache, a library, `embed -O`, `convert -O`, `map -o`, `eval --ranks`,
`probe fit -o` and a training checkpoint: one line naming the place and the reason, the run stops there (not one line
per file), exit 1, no traceback, nothing half-written (no temporary file, the SQLite transaction
rolled back, the library's vector files cut back to the committed rows), and a later run, once
there is room, completes the work.

The tiny disk is a real tmpfs mounted for the test (`mount -t tmpfs -o size=...`), pre-filled by a
filler file so that only a few kilobytes are free: the writes fail with ENOSPC from the kernel, as
on a full disk. It needs root (or CAP_SYS_ADMIN); elsewhere the tests are skipped, saying why.
"""

from __future__ import annotations

import errno
import json
import os
import random
import re
import sqlite3
import subprocess
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from .test_cli import error_lines, run, run_process

FULL = "no space left on device"


@contextmanager
def mounted(path: Path, size_kb: int):
    """A tmpfs of `size_kb` at `path`, unmounted (with whatever is on it) when the block ends."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs (a tiny disk) needs root")
    path.mkdir(parents=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0755", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=True)


def free_kb(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize // 1024


def fill(disk: Path, leave_kb: int) -> Path:
    """Take every free block of `disk` with a filler file, then give back `leave_kb` of them."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    block = b"\0" * 4096
    try:
        while True:
            os.write(fd, block)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)
    assert free_kb(disk) == 0
    os.truncate(filler, max(0, filler.stat().st_size - leave_kb * 1024))
    assert abs(free_kb(disk) - leave_kb) <= 4, free_kb(disk)
    return filler


def tunes(folder: Path, n: int, seed: int = 0) -> Path:
    """`n` distinct one-line ABC tunes (each a different content: each is embedded)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    for i in range(n):
        bars = "|".join("".join(rng.choice("CDEFGABcdef") for _ in range(8)) for _ in range(4))
        (folder / f"t{i:03d}.abc").write_text(f"X:1\nT:tune {i}\nL:1/8\nM:4/4\nK:G\n|:{bars}:|\n")
    return folder


def leftovers(root: Path) -> list[Path]:
    """Temporary files or folders of an interrupted write: none may remain."""
    return [p for p in root.rglob("*") if p.name.endswith(".tmp") or ".clamp-tmp" in p.name
            or p.name.endswith("-journal") or (p.name.startswith(".") and ".old" in p.name)]


def integrity(db: Path) -> str:
    con = sqlite3.connect(db)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def one_line(proc, place: Path, reason: str = FULL) -> None:
    """stderr is exactly one line, `clamp: error: PLACE: REASON...`, and stdout holds nothing."""
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert proc.stderr.splitlines() == error_lines(proc.stderr), proc.stderr
    assert len(error_lines(proc.stderr)) == 1, proc.stderr
    assert proc.stderr.startswith(f"clamp: error: {place}: {reason}"), proc.stderr
    assert proc.stdout == "", proc.stdout


# -- the feature cache ---------------------------------------------------------------------

def test_a_full_disk_under_the_cache_is_one_line_and_the_database_stays_sound(env, tmp_path):
    """A real process (the traceback the issue saw was the process's): the cache on a tmpfs that fills
    up while 300 new tunes are embedded."""
    scores = tunes(tmp_path / "scores", 300)
    first = tunes(tmp_path / "first", 5, seed=1)
    with mounted(tmp_path / "disk", 4096) as disk:          # room for the 300 tunes' vectors and melodies
        cache = disk / "cache"
        e = {**env, "CLAMP_CACHE_DIR": str(cache)}
        run(["embed", first, "-q"], e, check=0)                 # a cache in use, with its tables
        filler = fill(disk, 64)
        proc = run_process(["embed", scores], e)
        one_line(proc, cache / "clamp.sqlite3", f"{FULL} (database or disk is full)")
        assert leftovers(disk) == []
        filler.unlink()                                          # room again: the cache is sound
        assert integrity(cache / "clamp.sqlite3") == "ok"
        con = sqlite3.connect(cache / "clamp.sqlite3")
        kept = con.execute("SELECT count(*) FROM features WHERE model != 'melody/v2'").fetchone()[0]
        con.close()
        assert kept >= 5         # what was committed before the disk filled stays
        # the next run completes the work, and the default library it fills checks out
        again = run(["embed", scores, "--jsonl"], e, check=0)
        assert len(again.stdout.splitlines()) == 300 and "failed 0" in again.stderr
        library = next((cache / "libraries").glob("default-*"))
        assert run(["library", "check", library], e, check=0).stderr.strip().endswith("ok (305 rows)")
        assert integrity(cache / "clamp.sqlite3") == "ok"


def test_a_cache_on_a_disk_with_no_room_for_its_tables_is_one_line(env, tmp_path):
    """A new cache on a full disk: its schema cannot be written (SQLite rolls the transaction back by
    itself; that must not come out as "cannot rollback - no transaction is active")."""
    with mounted(tmp_path / "disk", 256) as disk:
        fill(disk, 0)
        e = {**env, "CLAMP_CACHE_DIR": str(disk / "cache")}
        proc = run(["embed", tunes(tmp_path / "scores", 3)], e)
        one_line(proc, disk / "cache" / "clamp.sqlite3", f"{FULL} (database or disk is full)")
        assert "rollback" not in proc.stderr


# -- a library --------------------------------------------------------------------------

def test_a_full_disk_under_a_library_is_one_line_and_its_files_are_cut_back(env, tmp_path):
    scores = tunes(tmp_path / "scores", 300)
    e = {**env, "CLAMP_CACHE_DIR": str(tmp_path / "cache")}       # the cache has room; the library has not
    with mounted(tmp_path / "disk", 1024) as disk:
        lib = disk / "folk"
        run(["library", "create", lib, "-q"], e, check=0)
        filler = fill(disk, 40)           # 300 rows of 64 floats need 75 KB
        proc = run(["search", "-L", lib, "-t", "a jig", scores], e)
        one_line(proc, lib / "vectors.f32")
        # the rows that were written past the committed count (0) are cut off: the space is free again
        assert (lib / "vectors.f32").stat().st_size == 0 and (lib / "norms.f32").stat().st_size == 0
        assert leftovers(disk) == []
        assert integrity(lib / "library.sqlite3") == "ok"
        assert run(["library", "check", lib], e, check=0).stderr.strip().endswith("ok (0 rows)")
        # a library cannot be made on a disk with no room: one line, and no half-made folder stays
        fill(disk, 0)
        proc = run(["library", "create", disk / "other", "-q"], e)
        one_line(proc, disk / "other", f"{FULL} (database or disk is full)")
        assert not (disk / "other").exists()
        # once there is room, the same search fills the library and answers
        filler.unlink()
        (disk / "filler").unlink(missing_ok=True)
        found = json.loads(run(["search", "-L", lib, "-t", "a jig", scores, "-n", "3"], e, check=0).stdout)
        assert len(found) == 3
        assert run(["library", "check", lib], e, check=0).stderr.strip().endswith("ok (300 rows)")


def test_a_full_disk_while_the_approximate_index_is_written_is_one_line(env, tmp_path):
    """faiss reports a short write in a RuntimeError of its own: still one line naming the index file,
    and its temporary file removed; the library keeps answering (exactly)."""
    scores = tunes(tmp_path / "scores", 300)
    e = {**env, "CLAMP_CACHE_DIR": str(tmp_path / "cache")}
    with mounted(tmp_path / "disk", 1024) as disk:
        lib = disk / "folk"
        run(["library", "create", lib, scores, "--ann-threshold", "100", "-q"], e, check=0)
        built = list(lib.glob("ann-*.faiss"))
        assert len(built) == 1 and built[0].stat().st_size > (44 - 32) * 1024
        built[0].unlink()                # gone: the next update builds it again
        # room for SQLite's shared-memory file (32 KB: opening the library makes it), not for the index
        fill(disk, 44)
        proc = run(["library", "update", lib, "-q"], e)
        assert proc.returncode == 1 and proc.stdout == ""
        [line] = error_lines(proc.stderr)
        assert re.fullmatch(rf"clamp: error: {re.escape(str(lib))}/ann-300-\d+-\d+\.faiss: {FULL}", line), line
        assert "Traceback" not in proc.stderr and leftovers(disk) == [] and list(lib.glob("ann-*")) == []
        assert run(["library", "check", lib], e, check=0).stderr.strip().endswith("ok (300 rows)")
        assert len(json.loads(run(["search", "-L", lib, "-N", "-t", "a jig", "-n", "5"], e, check=0).stdout)) == 5


# -- embed -O, convert -O ------------------------------------------------------------------

def test_a_full_disk_under_embed_out_stops_at_the_first_file_it_cannot_write(env, tmp_path):
    """The issue: 959 error lines, one per file. Now one, and every .npy that is there is whole."""
    scores = tunes(tmp_path / "scores", 200)
    e = {**env, "CLAMP_CACHE_DIR": str(tmp_path / "cache")}
    with mounted(tmp_path / "disk", 512) as disk:
        fill(disk, 48)                    # a tmpfs gives each small file a 4 KB page: about 11 fit
        out = disk / "features"
        proc = run(["embed", scores, "-O", out], e)
        assert proc.returncode == 1 and len(error_lines(proc.stderr)) == 1, proc.stderr
        line = error_lines(proc.stderr)[0]
        assert line.startswith(f"clamp: error: {out}/t") and line.endswith(f".npy: {FULL}"), line
        assert proc.stderr.splitlines() == [line] and proc.stdout == ""
        written = sorted(out.glob("*.npy"))
        assert 0 < len(written) < 200
        assert Path(line.split(": ")[2]) not in written          # the one that failed is not there at all
        for f in written:
            assert np.load(f).shape == (1, 64)
        assert leftovers(disk) == []


def test_a_full_disk_under_convert_out_is_one_line(tmp_path):
    scores = tunes(tmp_path / "scores", 40)
    with mounted(tmp_path / "disk", 256) as disk:
        fill(disk, 16)
        out = disk / "abc"
        proc = run(["convert", scores, "--to", "abc", "-O", out, "-j", "1"], {"NO_COLOR": "1"})
        assert proc.returncode == 1 and len(error_lines(proc.stderr)) == 1, proc.stderr
        line = error_lines(proc.stderr)[0]
        assert line.startswith(f"clamp: error: {out}/t") and line.endswith(f".abc: {FULL}"), line
        assert proc.stderr.splitlines() == [line]
        assert 0 < len(list(out.glob("*.abc"))) < 40 and leftovers(disk) == []


# -- -o of probe fit and map, and a training checkpoint ----------------------------------------

def test_a_full_disk_under_probe_map_and_eval_outputs_is_one_line(env, tmp_path):
    from .test_eval import _labelled_folder

    root = _labelled_folder(tmp_path)
    e = {**env, "CLAMP_CACHE_DIR": str(tmp_path / "cache")}
    run(["embed", root, "-q"], e, check=0)
    with mounted(tmp_path / "disk", 128) as disk:
        fill(disk, 0)
        png = disk / "map.png"
        one_line(run(["map", root, "-o", png, "-q"], e), png)
        ranks = disk / "ranks.tsv"
        one_line(run(["eval", "retrieval", "-Q", root, "-R", root, "--ranks", ranks, "-q"], e), ranks)
        probe = disk / "tunes.safetensors"
        proc = run(["probe", "fit", root, "--labels-from", "dirs", "-o", probe, "--val-share", "0.34", "-q"], e)
        one_line(proc, probe)
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]


def test_a_full_disk_under_a_training_checkpoint_is_one_line(tmp_path):
    from .test_writers import PLAIN, TINY_FIT, _training_set

    data = _training_set(tmp_path / "data")
    with mounted(tmp_path / "disk", 4096) as disk:
        out = disk / "model"
        run(["train", "fit", data, "-o", out, *TINY_FIT], PLAIN, check=0)
        before = {p: p.read_bytes() for p in [*out.rglob("*"), *(disk / "model.work").rglob("*")] if p.is_file()}
        fill(disk, 0)
        proc = run(["train", "fit", data, "-o", out, *TINY_FIT, "--seed", "1", "--force"], PLAIN)
        one_line(proc, disk / "model.work" / "train_state.pt")
        assert leftovers(disk) == []
        after = {p: p.read_bytes() for p in [*out.rglob("*"), *(disk / "model.work").rglob("*")] if p.is_file()}
        assert after == before           # the earlier model and its state, untouched
