"""Ctrl-C at random moments of a 200-file embed (or library create, update, import), N times.

First an uninterrupted run measures how long the embed takes (T). For each run: start
`clamp embed` on a fresh cache, wait a random 5-95% of T (model loading, conversion, encoding,
writing all fall in that range), send SIGINT, and measure how long the process takes to exit.
A run passes when: its exit status is 130 as a shell sees it (exit code 130, or death by the
re-raised SIGINT, which a shell also reports as 130), or 0 when every file had already been
committed (a SIGINT during shutdown, after the work, is ignored); it exits within 2 s; no child
process is left; the cache passes `PRAGMA integrity_check`; a rerun embeds exactly what was missing;
and stderr holds only clamp's own lines (no traceback, no "Exception ignored", no thread errors).

With `--target library-create|library-update|library-import` the interrupted command is
`clamp library create L scores`, `clamp library update L` or `clamp library import L shards/`,
and the rerun is `clamp library update L` (or the same import); a run then also passes only
when `clamp library check L` is clean before and after the rerun, and the rerun leaves the
library holding every file (or every imported row) exactly once.

    python benchmarks/interrupt_stress.py [--runs 20] [--files 200] [--target embed]
"""

from __future__ import annotations

import argparse
import json
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


def children(pid: int) -> set[int]:
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.add(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return out


def commands(target: str, cmd: list[str], scores: Path, shards: Path) -> tuple[list[list[str]], list[str]]:
    """(the steps of a run, the last one interrupted; the command that completes the work)."""
    if target == "embed":
        return [cmd + ["embed", str(scores), "-q"]], cmd + ["embed", str(scores), "-q"]
    create = cmd + ["library", "create", "L", "-q"]
    update = cmd + ["library", "update", "L", "-q"]
    if target == "library-create":
        return [cmd + ["library", "create", "L", str(scores), "-q"]], update
    if target == "library-update":
        return [create, cmd + ["library", "update", "L", "--add", str(scores), "-q"]], update
    return [create, cmd + ["library", "import", "L", str(shards), "-q"]], cmd + ["library", "import", "L", str(shards), "-q"]


def write_shards(shards: Path, model: Path, env: dict, cmd: list[str], files: int) -> int:
    """Parquet shards of random vectors of the model's id and dimension (1,000 rows per file given)."""
    import numpy as np

    from clamp_cli.index.imports import write_parquet_shard
    from clamp_cli.models import load_model

    enc = load_model(str(model), lazy=True, download=False)
    shards.mkdir()
    rng = np.random.default_rng(0)
    n = 1000 * files
    for s, lo in enumerate(range(0, n, 50_000)):
        m = min(50_000, n - lo)
        write_parquet_shard(shards / f"part-{s:03d}.parquet", [f"{lo + i:064x}" for i in range(m)],
                            [f"/far/{lo + i}.abc" for i in range(m)], enc.model_id, [f"music/{enc.family}/v3"] * m,
                            rng.normal(size=(m, enc.dim)).astype(np.float32))
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--target", default="embed",
                    choices=["embed", "library-create", "library-update", "library-import"])
    args = ap.parse_args()
    from clamp_cli.models.random_init import build_text_backbone, make_random_checkpoint

    rng = random.Random(args.seed)
    cmd = [sys.executable, "-m", "clamp_cli.cli.main"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        backbone = build_text_backbone(tmp / "backbone")
        model = make_random_checkpoint("clamp3", tmp / "model", backbone, layout="ours", hidden_size=128)
        scores = tmp / "scores"
        scores.mkdir()
        import music21

        tunes = sorted((Path(music21.__file__).parent / "corpus" / "ryansMammoth").glob("*.abc"))
        for i in range(args.files):
            (scores / f"{i:03d}.abc").write_bytes(tunes[i % len(tunes)].read_bytes() + f"%{i}\n".encode())
        env0 = dict(os.environ, CLAMP_CACHE_DIR=str(tmp / "cache-full"), CLAMP_MODEL=str(model), HF_HUB_OFFLINE="1")
        shards = tmp / "shards"
        if args.target == "library-import":
            rows = write_shards(shards, model, env0, cmd, args.files)
        first, rerun_cmd = commands(args.target, cmd, scores, shards)
        for step in first[:-1]:
            subprocess.run(step, env=env0, capture_output=True, check=True)
        t0 = time.perf_counter()
        subprocess.run(first[-1], env=env0, capture_output=True, check=True)
        full = time.perf_counter() - t0
        print(f"uninterrupted {args.target} of {args.files} files: {full:.1f} s")
        exits, ok = [], 0
        for run in range(args.runs):
            env = dict(os.environ, CLAMP_CACHE_DIR=str(tmp / f"cache{run}"), CLAMP_MODEL=str(model),
                       HF_HUB_OFFLINE="1")
            for step in first[:-1]:
                subprocess.run(step, env=env, capture_output=True, check=True)
            delay = rng.uniform(0.05 * full, 0.95 * full)
            argv = first[-1] + (["--out", str(tmp / f"out{run}")] if args.target == "embed" else [])
            proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            time.sleep(delay)
            kids = children(proc.pid)
            proc.send_signal(signal.SIGINT)
            t0 = time.perf_counter()
            try:
                _, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
            took = time.perf_counter() - t0
            left = [k for k in kids if (Path("/proc") / str(k)).exists()]
            cache_db = tmp / f"cache{run}" / "clamp.sqlite3"
            integrity, done = "ok (no cache: the import does not use one)", 0
            if cache_db.exists():
                db = sqlite3.connect(f"file:{cache_db}?mode=ro", uri=True)
                integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
                has_features = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'features'").fetchone()
                done = db.execute("SELECT count(*) FROM features").fetchone()[0] if has_features else 0
                db.close()
            noise = [line for line in err.splitlines() if not line.startswith("clamp: ")]  # tracebacks, thread noise
            if args.target == "embed":
                rerun = subprocess.run(cmd + ["embed", str(scores), "-q", "--json"], env=env, capture_output=True,
                                       text=True)
                statuses = [r["status"] for r in json.loads(rerun.stdout or "[]")]
                finished = proc.returncode == 0 and done == len(statuses) and statuses.count("embedded") == 0
                complete = statuses.count("cached") == done
                summary = f"{done} committed, rerun embedded {statuses.count('embedded')} cached {statuses.count('cached')}"
            else:
                before = subprocess.run(cmd + ["library", "check", "L", "-q"], env=env, capture_output=True, text=True)
                if before.returncode == 2 and "no library here" in before.stderr:
                    subprocess.run(first[0], env=env, capture_output=True)  # interrupted before it existed
                    before = subprocess.run(cmd + ["library", "check", "L", "-q"], env=env, capture_output=True)
                rerun = subprocess.run(rerun_cmd, env=env, capture_output=True, text=True)
                after = subprocess.run(cmd + ["library", "check", "L", "-q"], env=env, capture_output=True, text=True)
                info = json.loads(subprocess.run(cmd + ["library", "info", "L", "--json"], env=env,
                                                 capture_output=True, text=True).stdout)[0]
                want = rows if args.target == "library-import" else args.files
                got = info["rows"] if args.target == "library-import" else info["files"]
                finished = proc.returncode == 0
                complete = before.returncode == 0 and after.returncode == 0 and rerun.returncode == 0 and got == want
                summary = f"library check {before.returncode}/{after.returncode}, after the rerun {got}/{want}"
            good = ((proc.returncode in (130, -signal.SIGINT) or finished) and took <= 2.0 and not left
                    and integrity.startswith("ok") and not noise and complete)
            ok += good
            exits.append(took)
            print(f"run {run + 1:2d}: SIGINT after {delay:4.1f} s -> exit {proc.returncode} in {took:.2f} s, "
                  f"{len(kids)} children ({len(left)} left), integrity {integrity}, {summary}"
                  f"{'' if good else '  <-- FAILED: ' + repr(err[-300:])}")
        print(f"{ok}/{args.runs} runs as required; exit after SIGINT: max {max(exits):.2f} s, "
              f"median {sorted(exits)[len(exits) // 2]:.2f} s")


if __name__ == "__main__":
    main()
