"""`clamp embed` N times over a folder of many broken files: any stderr line that is not clamp's own
(a traceback, "Exception ignored in ...", a thread's InvalidStateError) fails the run.

The folder holds the hostile corpus of tests/hostile_corpus.py K times over. Broken files are never
cached, so every run converts them again in the worker pool (where the noise used to come from).

    python benchmarks/broken_runs.py [--runs 100] [--copies 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--copies", type=int, default=5)
    args = ap.parse_args()
    from tests.hostile_corpus import build

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bad = {}
        for k in range(args.copies):
            bad.update({f"copy{k}/{name}": why for name, why in build(tmp / "broken" / f"copy{k}").items()})
        env = dict(os.environ, CLAMP_CACHE_DIR=str(tmp / "cache"), HF_HUB_OFFLINE="1")
        codes, foreign, named_once = Counter(), [], 0
        t0 = time.perf_counter()
        for run in range(args.runs):
            proc = subprocess.run([sys.executable, "-m", "clamp_cli.cli.main", "embed", str(tmp / "broken"), "-q"],
                                  env=env, capture_output=True, text=True, timeout=600)
            codes[proc.returncode] += 1
            lines = proc.stderr.splitlines()
            noise = [line for line in lines if not line.startswith("clamp: ")]
            if noise:
                foreign.append((run, noise[:5]))
            errors = [line for line in lines if line.startswith("clamp: error: ")]
            named_once += all(sum(f"/{name}: " in line for line in errors) == 1 for name in bad)
        took = time.perf_counter() - t0
        print(f"{args.runs} runs over {len(bad)} broken files ({args.copies} copies of the corpus) in {took:.0f} s")
        print(f"exit codes: {dict(codes)}; runs naming every bad file exactly once: {named_once}/{args.runs}")
        print(f"runs with a stderr line that is not clamp's: {len(foreign)}")
        for run, noise in foreign[:5]:
            print(f"  run {run}: {noise}")


if __name__ == "__main__":
    main()
