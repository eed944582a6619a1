"""`clamp embed --engine ray` against the local engine, and runs killed at random moments.

Inputs: real tunes from the ABC collections inside music21's corpus, one tune per file. Each
engine embeds the same files into a fresh cache in a process of its own (`clamp embed DIR -O`,
the bundled clamp-mini unless --model), timed end to end (model load and, for Ray, starting a
local instance included). Prints files/s of both, the Ray/local ratio, the largest absolute
difference between the two engines' vectors, and the Ray library's key count and duplicates.

Fault runs: each run is killed at a random moment, by turns one of Ray's processes below the
driver (SIGKILL: a task's or an actor's worker, or one of Ray's agents) and the driver (SIGINT,
as Ctrl-C); then the same command is run again to completion; the library must then hold every
key once.

    python benchmarks/ray_engine.py [--files 2000] [--faults 10] [--fault-files 400] [--model NAME]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks.embed_throughput import corpus_tunes  # noqa: E402


def write_files(folder: Path, count: int) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    tunes = corpus_tunes(count)
    for n, tune in enumerate(tunes):
        (folder / f"{n:05d}.abc").write_text(tune, encoding="utf-8")
    return len(tunes)


def env_for(cache: Path, model: str | None) -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", CLAMP_CACHE_DIR=str(cache), NO_COLOR="1")
    env.pop("RAY_ADDRESS", None)
    if model:
        env["CLAMP_MODEL"] = model
    return env


def clamp(args: list, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "clamp_cli", *map(str, args)], env=env, capture_output=True, text=True)
    return done, time.perf_counter() - start


def library_keys(cache: Path) -> list[str]:
    (db,) = list(cache.glob("libraries/*/library.sqlite3"))
    with sqlite3.connect(db) as con:
        return [h + ("#" + i if i else "") for h, i in con.execute("SELECT hash, item FROM pieces")]


def library_check(cache: Path, files: int) -> tuple[bool, str]:
    """Each key once, as the vectors file holds it: one row appended per piece (the rows the meta
    counts, which a doubled import would raise past the pieces table), the row numbers 0..n-1 with
    no gap, and every input file recorded."""
    (db,) = list(cache.glob("libraries/*/library.sqlite3"))
    with sqlite3.connect(db) as con:
        rows = int(con.execute("SELECT value FROM meta WHERE key = 'rows'").fetchone()[0])
        pieces, top = con.execute("SELECT count(*), coalesce(max(row), -1) FROM pieces").fetchone()
        recorded = con.execute("SELECT count(*) FROM files").fetchone()[0]
    size = (db.parent / "vectors.npy").stat().st_size if (db.parent / "vectors.npy").exists() else None
    ok = rows == pieces == top + 1 and recorded == files
    return ok, (f"{rows} rows, {pieces} pieces, last row {top}, {recorded} of {files} files recorded"
                + (f", vectors file {size} bytes" if size is not None else ""))


def vectors(folder: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(folder)): np.load(p) for p in folder.rglob("*.npy")}


def ray_workers(driver: int) -> list[int]:
    """Ray's worker processes (their titles start with ray::) below the driver."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if cmd.startswith(b"ray::") and _descends(int(entry.name), driver, stat):
            found.append(int(entry.name))
    return found


def _descends(pid: int, ancestor: int, stat: str) -> bool:
    for _ in range(12):
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == ancestor:
            return True
        if ppid <= 1:
            return False
        try:
            stat = Path(f"/proc/{ppid}/stat").read_text()
        except OSError:
            return False
    return False


def throughput(tmp: Path, files: int, model: str | None) -> None:
    scores = tmp / "scores"
    n = write_files(scores, files)
    local, t_local = clamp(["embed", scores, "-O", tmp / "out-local", "-q"], env_for(tmp / "cache-local", model))
    ray, t_ray = clamp(["embed", scores, "--engine", "ray", "-O", tmp / "out-ray", "-q"], env_for(tmp / "cache-ray", model))
    for name, done in (("local", local), ("ray", ray)):
        if done.returncode not in (0, 1):
            sys.exit(f"{name} engine failed ({done.returncode}): {done.stderr[-2000:]}")
    a, b = vectors(tmp / "out-local"), vectors(tmp / "out-ray")
    common = sorted(set(a) & set(b))
    diff = max(float(np.abs(a[k] - b[k]).max()) for k in common) if common else float("nan")
    keys = library_keys(tmp / "cache-ray")
    print(f"files: {n} ABC tunes, one per file ({len(a)} vectors local, {len(b)} Ray, {len(common)} in both)")
    print(f"local engine: {t_local:.1f} s, {n / t_local:.1f} files/s")
    print(f"ray engine:   {t_ray:.1f} s, {n / t_ray:.1f} files/s (a local Ray instance on {os.cpu_count()} CPUs)")
    print(f"ray/local throughput ratio: {t_local / t_ray:.2f}")
    print(f"max abs difference of the vectors: {diff:.2e}")
    ok, state = library_check(tmp / "cache-ray", n)
    print(f"ray library: {len(keys)} keys, {len(keys) - len(set(keys))} duplicates; {state}: "
          f"{'ok' if ok else 'WRONG'}; stderr lines: {len(ray.stderr.splitlines())}")


def faults(tmp: Path, runs: int, files: int, model: str | None, seed: int) -> None:
    scores = tmp / "fault-scores"
    n = write_files(scores, files)
    reference, _ = clamp(["embed", scores, "-q"], env_for(tmp / "fault-reference", model))
    expected = sorted(set(library_keys(tmp / "fault-reference")))
    rng = random.Random(seed)
    good = 0
    for run in range(runs):
        cache = tmp / f"fault-{run}"
        env = env_for(cache, model)
        how = "worker" if run % 2 == 0 else "driver"
        proc = subprocess.Popen([sys.executable, "-m", "clamp_cli", "embed", scores, "--engine", "ray", "-q"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        at = rng.uniform(4.0, 25.0)
        time.sleep(at)
        victim = None
        if proc.poll() is None:
            if how == "worker":
                workers = ray_workers(proc.pid)
                if workers:
                    victim = rng.choice(workers)
                    os.kill(victim, signal.SIGKILL)
            else:
                proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=600)
        first = proc.returncode
        rerun, _ = clamp(["embed", scores, "--engine", "ray", "-q"], env)
        keys = library_keys(cache)
        whole, state = library_check(cache, n)
        ok = rerun.returncode == 0 and sorted(set(keys)) == expected and len(keys) == len(set(keys)) and whole
        good += ok
        tail = (err.strip().splitlines() or [""])[-1][:120]
        print(f"run {run + 1}: {how} {'killed' if how == 'worker' else 'interrupted'} at {at:.1f} s"
              f"{'' if victim or how == 'driver' else ' (no worker found: the job had finished)'}; exit {first} "
              f"({tail!r}); rerun exit {rerun.returncode}; {len(keys)} keys of {len(expected)}, "
              f"{len(keys) - len(set(keys))} duplicates, {state}: {'ok' if ok else 'WRONG'}")
    print(f"fault runs: {good}/{runs} complete with the right keys and no duplicate ({n} files each)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--faults", type=int, default=10)
    ap.add_argument("--fault-files", type=int, default=400)
    ap.add_argument("--model", default=None, help="a registry name or checkpoint [default: the bundled clamp-mini]")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.files:
            throughput(Path(tmp), args.files, args.model)
        if args.faults:
            faults(Path(tmp), args.faults, args.fault_files, args.model, args.seed)


if __name__ == "__main__":
    main()
