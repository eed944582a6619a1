"""Whole `clamp search` processes over big libraries, against baselines run in the same script.

1. a warm search over 100,000 unchanged files (walk + reconciliation + ranking + printing): the
   first one after the library was filled compares every file with the library's table and
   records the scan; the next ones stat every file and compare the scan's digest with the record;
2. `--no-update` over a library of 1,000,000 pieces (the approximate index);
3. a new text question with the bundled model over a warm folder of real tunes (music21's
   ryansMammoth, 1,000+ files), and whether torch was imported.

Baselines: a bare `python3 -c "import numpy"` process (the floor of any Python tool) and, for 1,
the same search with the folder listed in the clamp process itself (the executable forks a child
that lists it while the process imports: formats.walk.list_ahead), the stat of each file in this
process, and the numpy product + top-k over the same vectors.

The processes run with compiled bytecode, as an installed package has it (pip compiles at
install): where the environment sets PYTHONDONTWRITEBYTECODE (this machine does), every process
would compile clamp's modules from source again, so the script points PYTHONPYCACHEPREFIX at a
folder of its own and lets the first run write there.

    python benchmarks/search_100k.py [--files 100000] [--big 1000000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

# runs the CLI in this process, then (an exit handler: the CLI ends with os._exit) says on stderr whether
# torch was imported
WRAPPER = ("import atexit, sys\nfrom clamp_cli.cli.entry import run\n"
           "atexit.register(lambda: print('torch imported: %s' % ('torch' in sys.modules), file=sys.stderr))\n"
           "run()\n")
# the same, with the folders listed in the clamp process itself (no child listing them ahead)
SERIAL = WRAPPER.replace("run()\n", "import clamp_cli.formats.walk as walk\nwalk.list_ahead = lambda args: None\nrun()\n")


def wall(argv: list[str], env: dict, runs: int) -> tuple[float, subprocess.CompletedProcess]:
    times, proc = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise SystemExit(f"{argv}: exit {proc.returncode}\n{proc.stderr}")
    return float(np.median(times)), proc


def mini_facts() -> tuple[str, int]:
    """The bundled model's id and dimension, read from its clamp.json (nothing loaded)."""
    from clamp_cli.models import load_model

    enc = load_model("clamp-mini", lazy=True, download=False)
    return enc.model_id, enc.dim


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--big", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--corpus-cache", type=Path, default=None,
                    help="a cache where music21's ryansMammoth is already embedded with clamp-mini (step 3)")
    args = ap.parse_args()

    from clamp_cli import app
    from clamp_cli.index.library import Library

    model_id, dim = mini_facts()
    work = Path(tempfile.mkdtemp(prefix="clamp-search100k-", dir=args.workdir))
    env = dict(os.environ, HF_HUB_OFFLINE="1", CLAMP_CACHE_DIR=str(work / "cache"), CLAMP_MODEL="clamp-mini",
               NO_COLOR="1", PYTHONPYCACHEPREFIX=str(work / "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    clamp = [sys.executable, "-c", WRAPPER]
    try:
        floor, _ = wall([sys.executable, "-c", "import numpy"], env, args.runs)
        print(f"baseline: a bare `python3 -c 'import numpy'` process {floor * 1000:.0f} ms")

        # 1. 100,000 unchanged files
        files = work / "files"
        files.mkdir()
        rng = np.random.default_rng(0)
        vectors = rng.normal(size=(args.files, dim)).astype(np.float32)
        lib = Library.create(app.default_library_dir(app.Settings(cache_dir=work / "cache"), model_id, False),
                             model_id, dim)
        batch = []
        for i in range(args.files):
            p = files / f"{i:06d}.mtf"
            p.write_bytes(b"ticks_per_beat %d\n" % i)
            batch.append((p, p.stat(), f"{i:064x}"))
        lib.add(batch, {h: [("", "music", v)] for (_, _, h), v in zip(batch, vectors)})
        lib.close()
        query = ["search", "-t", "a lively jig", str(files), "-n", "10", "--json"]
        wall(clamp + ["search", "-t", "a lively jig", str(files / "000000.mtf"),
                      "--json"], env, 1)                                # the query's vector is cached now
        checked, _ = wall(clamp + query, env, 1)       # every file compared with the table; the scan recorded
        warm, proc = wall(clamp + query, env, args.runs)
        assert len(json.loads(proc.stdout)) == 10, proc.stdout
        serial, serial_proc = wall([sys.executable, "-c", SERIAL] + query, env, args.runs)
        assert serial_proc.stdout == proc.stdout
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        q = unit[0]
        t0 = time.perf_counter()
        for _ in range(20):
            scores = unit @ q
            np.argpartition(-scores, 9)[:10]
        product = (time.perf_counter() - t0) / 20
        t0 = time.perf_counter()
        for _ in range(3):
            for entry in os.scandir(files):
                entry.stat()
        listing = (time.perf_counter() - t0) / 3
        print(f"1. warm `clamp search` over {args.files} unchanged files: {warm * 1000:.0f} ms wall "
              f"(median of {args.runs}; {warm / floor:.1f}x the bare Python process; the first search after the "
              f"library was filled, which compares every file with its table and records the scan, "
              f"{checked * 1000:.0f} ms; with the folder listed in the clamp process, not by a child "
              f"forked at start, {serial * 1000:.0f} ms, {serial / warm:.2f}x; the stat of each file alone, "
              f"one os.scandir loop in this process, {listing * 1000:.0f} ms; the numpy product alone "
              f"{product * 1000:.1f} ms)  [{proc.stderr.strip().splitlines()[-1]}]")

        # 2. --no-update over a library of a million pieces
        big = Library.create(app.library_dir(app.Settings(cache_dir=work / "cache"), "big"), model_id, dim,
                             model_name="clamp-mini")
        centres = rng.normal(size=(1000, dim)).astype(np.float32)

        class Stat:
            st_size = st_mtime_ns = 1

        t0 = time.perf_counter()
        for lo in range(0, args.big, 100_000):
            hi = min(lo + 100_000, args.big)
            block = centres[rng.integers(0, 1000, hi - lo)] + 0.6 * rng.normal(size=(hi - lo, dim)).astype(np.float32)
            hashes = [f"{10 ** 8 + i:064x}" for i in range(lo, hi)]
            big.add([(Path(f"/archive/{h[-10:]}.abc"), Stat, h) for h in hashes],
                    {h: [("", "music", v)] for h, v in zip(hashes, block)})
        big.update_ann()
        print(f"   (a {args.big}-piece library filled and indexed in {time.perf_counter() - t0:.0f} s)")
        big.close()
        query = ["search", "-L", "big", "--no-update", "-t", "a lively jig", "-n", "10", "--json"]
        wall(clamp + query, env, 1)
        stale, proc = wall(clamp + query, env, args.runs)
        print(f"2. `clamp search --no-update` over {args.big} pieces: {stale * 1000:.0f} ms wall "
              f"({stale / floor:.1f}x the bare Python process)  [{proc.stderr.strip().splitlines()[-1]}]")

        # 3. a new question over real tunes, bundled model
        if args.corpus_cache:
            import music21

            tunes = Path(music21.__file__).parent / "corpus" / "ryansMammoth"
            real_env = dict(env, CLAMP_CACHE_DIR=str(args.corpus_cache))
            times = []
            for n in range(args.runs):
                question = ["search", "-t", f"a fiddle tune for dancing, number {time.time_ns()}-{n}", str(tunes),
                            "-n", "5", "--json"]
                t, proc = wall(clamp + question, real_env, 1)
                times.append(t)
            print(f"3. a new text question over {len(list(tunes.glob('*.abc')))} warm tunes (bundled model): "
                  f"{np.median(times) * 1000:.0f} ms wall ({np.median(times) / floor:.1f}x the bare Python "
                  f"process)  [{proc.stderr.strip().splitlines()[-1]}]")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
