"""Re-running on an unchanged 1,000-file folder re-embeds nothing.

Writes 1,000 tunes from music21's ABC corpus as files, builds a tiny random
model (`clamp models random`), then times `clamp embed` cold, `clamp embed`
again and `clamp search` on the same folder, all as subprocesses. Prints how
many files each run embedded and the time ratio of the warm runs to the cold one.

    python benchmarks/rerun_unchanged.py [--files 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.embed_throughput import corpus_tunes  # noqa: E402


def clamp(args, env):
    """Run clamp; exit 1 (some inputs failed, e.g. a malformed tune) is an answer, not a crash."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "clamp_cli.cli.main", *args], env=env, capture_output=True,
                          text=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"clamp {' '.join(args)} failed ({proc.returncode}): {proc.stderr[-500:]}")
    return proc, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1000)
    n = ap.parse_args().files
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = tmp / "tunes"
        folder.mkdir()
        for i, tune in enumerate(corpus_tunes(n)):
            (folder / f"{i:04d}.abc").write_text(tune, encoding="utf-8")
        env = dict(os.environ, CLAMP_CACHE_DIR=str(tmp / "cache"), HF_HUB_OFFLINE="1",
                   CLAMP_MODEL=str(tmp / "model"))
        clamp(["models", "random", str(tmp / "model"), "-q"], env)
        cold, t_cold = clamp(["embed", str(folder), "--json"], env)
        warm, t_warm = clamp(["embed", str(folder), "--json"], env)
        _, t_search = clamp(["search", "--text", "a lively jig", str(folder), "-n", "5"], env)
        count = lambda proc, s: sum(r["status"] == s for r in json.loads(proc.stdout))  # noqa: E731
        print(f"{len(list(folder.iterdir()))} files")
        failed = cold.stderr.count("clamp: error:")
        print(f"cold embed:   {t_cold:6.2f} s, embedded {count(cold, 'embedded')}, failed {failed} "
              "(tunes whose ABC does not survive the authors' normalisation)")
        print(f"warm embed:   {t_warm:6.2f} s, embedded {count(warm, 'embedded')}, cached {count(warm, 'cached')} "
              f"({t_warm / t_cold:.2f}x the cold run)")
        print(f"warm search:  {t_search:6.2f} s ({t_search / t_cold:.2f}x the cold run; the query is new, "
              "so the model loads)")
        _, t_again = clamp(["search", "--text", "a lively jig", str(folder), "-n", "5"], env)
        print(f"same search:  {t_again:6.2f} s ({t_again / t_cold:.2f}x the cold run; all cached, no model load)")


if __name__ == "__main__":
    main()
