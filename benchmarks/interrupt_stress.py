"""Ctrl-C at random moments of a 200-file embed, N times: exit code, time to exit, children, cache.

First an uninterrupted run measures how long the embed takes (T). For each run: start
`clamp embed` on a fresh cache, wait a random 5-95% of T (model loading, conversion, encoding,
writing all fall in that range), send SIGINT, and measure how long the process takes to exit.
A run passes when: its exit status is 130 as a shell sees it (exit code 130, or death by the
re-raised SIGINT, which a shell also reports as 130), or 0 when every file had already been
committed (a SIGINT during shutdown, after the work, is ignored); it exits within 2 s; no child
process is left; the cache passes `PRAGMA integrity_check`; a rerun embeds exactly what was missing;
and stderr holds only clamp's own lines (no traceback, no "Exception ignored", no thread errors).

    python benchmarks/interrupt_stress.py [--runs 20] [--files 200]
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
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
        t0 = time.perf_counter()
        subprocess.run(cmd + ["embed", str(scores), "-q"], env=env0, capture_output=True, check=True)
        full = time.perf_counter() - t0
        print(f"uninterrupted embed of {args.files} files: {full:.1f} s")
        exits, ok = [], 0
        for run in range(args.runs):
            env = dict(os.environ, CLAMP_CACHE_DIR=str(tmp / f"cache{run}"), CLAMP_MODEL=str(model),
                       HF_HUB_OFFLINE="1")
            delay = rng.uniform(0.05 * full, 0.95 * full)
            proc = subprocess.Popen(cmd + ["embed", str(scores), "-q", "--out", str(tmp / f"out{run}")], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
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
            db = sqlite3.connect(tmp / f"cache{run}" / "clamp.sqlite3")
            integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
            done = db.execute("SELECT count(*) FROM features").fetchone()[0]
            db.close()
            rerun = subprocess.run(cmd + ["embed", str(scores), "-q", "--json"], env=env, capture_output=True,
                                   text=True)
            statuses = [r["status"] for r in json.loads(rerun.stdout or "[]")]
            finished = proc.returncode == 0 and done == len(statuses) and statuses.count("embedded") == 0
            # -SIGINT: Python ends a process whose Ctrl-C reached the top by re-raising the signal, and a
            # shell reports that status as 130 too; the message and the cleanup are the same
            noise = [line for line in err.splitlines() if not line.startswith("clamp: ")]  # tracebacks, thread noise
            good = ((proc.returncode in (130, -signal.SIGINT) or finished) and took <= 2.0 and not left and integrity == "ok"
                    and not noise and statuses.count("cached") == done)
            ok += good
            exits.append(took)
            print(f"run {run + 1:2d}: SIGINT after {delay:4.1f} s -> exit {proc.returncode} in {took:.2f} s, "
                  f"{len(kids)} children ({len(left)} left), integrity {integrity}, {done} committed, "
                  f"rerun embedded {statuses.count('embedded')} cached {statuses.count('cached')}"
                  f"{'' if good else '  <-- FAILED: ' + repr(err[-300:])}")
        print(f"{ok}/{args.runs} runs as required; exit after SIGINT: max {max(exits):.2f} s, "
              f"median {sorted(exits)[len(exits) // 2]:.2f} s")


if __name__ == "__main__":
    main()
