"""Start-up time of `clamp --help` and `clamp --version` (they must not import torch).

Baseline, measured the same way in the same process: a bare `python -c pass`.

    python benchmarks/cli_startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def median_seconds(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    runs = ap.parse_args().runs
    base = median_seconds([sys.executable, "-c", "pass"], runs)
    print(f"python -c pass:   {base * 1000:7.1f} ms (baseline)")
    for args in (["--help"], ["--version"], ["search", "--help"]):
        t = median_seconds([sys.executable, "-m", "clamp_cli.cli.main", *args], runs)
        print(f"clamp {' '.join(args):<13} {t * 1000:7.1f} ms  ({t / base:.1f}x the bare interpreter; target < 300 ms)")


if __name__ == "__main__":
    main()
