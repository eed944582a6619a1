"""A library of a million pieces: build, open, query (approximate vs exact, same process), add, memory.

- synthetic: N vectors (default 1,000,000 x 768) drawn around 1,000 cluster centres, queries drawn
  from the same mixture (not in the library);
- real: every vector the bundled clamp-mini gave for music21's corpus (a library filled by
  `clamp library create corpus $CORPUS -m clamp-mini`, given with --real), each query one of its
  own vectors left out of both answer lists; reported apart.

For each probe count it prints `nprobe N  recall@10 X  p50 Y ms`, and the exact search's p50 in
the same process as the baseline (the ratio is exact / approximate).

    python benchmarks/library_1m.py [--rows 1000000] [--dim 768] [--workdir DIR] [--real LIBRARY_DIR]
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
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from clamp_cli.index.library import Library  # noqa: E402


class FakeStat(NamedTuple):
    st_size: int
    st_mtime_ns: int


def mixture(rng, centres: np.ndarray, n: int, noise: float) -> np.ndarray:
    picks = rng.integers(0, centres.shape[0], n)
    return (centres[picks] + noise * rng.normal(size=(n, centres.shape[1]))).astype(np.float32)


def fill(lib: Library, n: int, dim: int, rng, centres, noise: float, start: int = 0, batch: int = 100_000) -> None:
    for lo in range(0, n, batch):
        hi = min(lo + batch, n)
        block = mixture(rng, centres, hi - lo, noise)
        hashes = [f"{start + i:064x}" for i in range(lo, hi)]
        lib.add([(Path(f"/bench/{h[-12:]}.abc"), FakeStat(1, 1), h) for h in hashes],
                {h: [("", "music", v)] for h, v in zip(hashes, block)})


def exact_truth(vectors: np.ndarray, queries: np.ndarray, k: int, leave_out: np.ndarray | None = None) -> list[set]:
    """Top-k rows of each query by one chunked product over the memory-mapped rows."""
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    best_scores = np.full((len(q), k), -np.inf, dtype=np.float32)
    best_rows = np.zeros((len(q), k), dtype=np.int64)
    for lo in range(0, vectors.shape[0], 200_000):
        block = np.asarray(vectors[lo:lo + 200_000]) @ q.T           # (rows, queries)
        if leave_out is not None:
            for j, row in enumerate(leave_out):
                if lo <= row < lo + block.shape[0]:
                    block[row - lo, j] = -np.inf
        top = np.argpartition(-block, k - 1, axis=0)[:k].T             # (queries, k)
        cand_scores = np.concatenate([best_scores, np.take_along_axis(block.T, top, axis=1)], axis=1)
        cand_rows = np.concatenate([best_rows, top + lo], axis=1)
        order = np.argsort(-cand_scores, axis=1)[:, :k]
        best_scores = np.take_along_axis(cand_scores, order, axis=1)
        best_rows = np.take_along_axis(cand_rows, order, axis=1)
    return [set(r.tolist()) for r in best_rows]


def measure(lib: Library, queries: np.ndarray, truth: list[set], k: int, settings, leave_out=None) -> list[tuple]:
    index = lib._open_ann()
    out = []
    for nprobe in settings:
        times, recalls = [], []
        for j, q in enumerate(queries):
            t0 = time.perf_counter()
            hits = lib._search_ann(index, q / np.linalg.norm(q), k + (leave_out is not None), nprobe)
            times.append(time.perf_counter() - t0)
            skip = int(leave_out[j]) if leave_out is not None else -1
            got = [h.row for h in hits if h.row != skip][:k]
            recalls.append(len(set(got) & truth[j]) / k)
        out.append((nprobe, float(np.mean(recalls)), 1000 * float(np.median(times))))
    return out


def exact_p50(lib: Library, queries: np.ndarray, k: int, n: int = 7) -> float:
    times = []
    for q in queries[:n]:
        t0 = time.perf_counter()
        lib.search(q, k, exact=True)
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


CHILD = """
import sys, time, json

def peak_mb():   # VmHWM: this process's own peak (ru_maxrss would carry the forking parent's over exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
t0 = time.perf_counter()
import numpy as np
import faiss
from clamp_cli.index.library import Library
imported = time.perf_counter() - t0
t0 = time.perf_counter()
lib = Library(sys.argv[1], readonly=True)
index = lib._open_ann()
opened = time.perf_counter() - t0
rng = np.random.default_rng(5)
q = rng.normal(size=lib.dim).astype(np.float32)
t1 = time.perf_counter()
lib.search(q, 10)
first = time.perf_counter() - t1
one = peak_mb()
for _ in range(int(sys.argv[2])):
    lib.search(rng.normal(size=lib.dim).astype(np.float32), 10)
many = peak_mb()
print(json.dumps({"import_ms": 1000 * imported, "open_ms": 1000 * opened, "first_ms": 1000 * first,
                  "rss_one_mb": one, "rss_many_mb": many}))
"""


def child_figures(directory: Path, queries: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    out = subprocess.run([sys.executable, "-c", CHILD, str(directory), str(queries)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def report(title: str, rows: list[tuple], exact_ms: float) -> None:
    print(title)
    for nprobe, recall, p50 in rows:
        print(f"  nprobe {nprobe:4d}  recall@10 {recall:.4f}  p50 {p50:7.2f} ms  "
              f"(exact p50 {exact_ms:.1f} ms: {exact_ms / p50:.0f}x)")


def synthetic(args, work: Path) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(args.clusters, args.dim)).astype(np.float32)
    lib = Library.create(work / "synthetic", "bench-model", args.dim, ann_threshold=args.threshold)
    t0 = time.perf_counter()
    fill(lib, args.rows, args.dim, rng, centres, args.noise)
    filled = time.perf_counter() - t0
    t0 = time.perf_counter()
    lib.update_ann()
    built = time.perf_counter() - t0
    print(f"synthetic: {args.rows} rows of dim {args.dim}, {args.clusters} clusters")
    print(f"  fill (tables + vector file) {filled:.1f} s; build the approximate index {built:.1f} s "
          f"(nlist {lib.ann_state['nlist']})")
    queries = mixture(rng, centres, args.queries, args.noise)
    t0 = time.perf_counter()
    truth = exact_truth(lib.vectors(), queries, 10)
    print(f"  exact answers for {args.queries} queries: {time.perf_counter() - t0:.1f} s")
    base = exact_p50(lib, queries, 10)
    report("  approximate (IVF, 8-bit codes, re-ranked exactly):", measure(lib, queries, truth, 10, args.nprobe), base)
    tried = lib.tune(0.95, queries=200)
    print(f"  library tune: {' '.join(f'{n}:{r:.3f}' for n, r in tried)} -> nprobe {lib.ann_state['nprobe']}")
    lib.close()
    figures = child_figures(work / "synthetic", 100)
    print(f"  fresh process: imports {figures['import_ms']:.0f} ms, open {figures['open_ms']:.1f} ms, "
          f"first query {figures['first_ms']:.1f} ms, "
          f"resident {figures['rss_one_mb']:.0f} MB after 1 query, {figures['rss_many_mb']:.0f} MB after 101")
    lib = Library(work / "synthetic")
    t0 = time.perf_counter()
    fill(lib, 10_000, args.dim, rng, centres, args.noise, start=10 ** 9)
    added = time.perf_counter() - t0
    q = lib.vectors()[-1]
    found = lib.search(q, 1)[0].row == lib.rows - 1
    print(f"  add 10,000 pieces: {added:.2f} s (found by the next search: {found})")
    t0 = time.perf_counter()
    work_done = lib.update_ann(force="merge")
    print(f"  {work_done} them into the approximate index: {time.perf_counter() - t0:.1f} s")
    lib.close()
    sizes = {p.name: p.stat().st_size for p in (work / "synthetic").iterdir()}
    print("  on disk: " + ", ".join(f"{k} {v / 2**20:.0f} MB" for k, v in sorted(sizes.items()) if v > 2**20))


def parquet_import(args, work: Path) -> None:
    """Write N vectors as Parquet shards (the cluster engine's interchange), import, import again."""
    import pyarrow.parquet as pq

    from clamp_cli.index.imports import import_parquet, write_parquet_shard

    shards = work / "shards"
    shards.mkdir()
    rng = np.random.default_rng(3)
    t0 = time.perf_counter()
    per = 100_000
    for s, lo in enumerate(range(0, args.rows, per)):
        m = min(per, args.rows - lo)
        write_parquet_shard(shards / f"part-{s:04d}.parquet", [f"{lo + i:064x}" for i in range(m)],
                            [f"/far/{lo + i}.mxl" for i in range(m)], "bench-model", ["music/clamp3/v3"] * m,
                            rng.normal(size=(m, args.dim)).astype(np.float32))
    print(f"parquet: {args.rows} vectors in {len(list(shards.iterdir()))} shards written in "
          f"{time.perf_counter() - t0:.0f} s")
    lib = Library.create(work / "imported", "bench-model", args.dim, ann_threshold=args.threshold)
    paths = sorted(shards.iterdir())
    # the floor: reading the shards' columns and writing their vectors to a file, nothing else
    t0 = time.perf_counter()
    with open(work / "floor.f32", "wb") as sink:
        for shard in paths:
            for batch in pq.ParquetFile(str(shard)).iter_batches(batch_size=100_000, columns=["key", "path", "prep",
                                                                                               "vector"]):
                batch.column("key").to_pylist()
                sink.write(batch.column("vector").values.to_numpy(zero_copy_only=False).tobytes())
        sink.flush()
        os.fsync(sink.fileno())
    floor = time.perf_counter() - t0
    (work / "floor.f32").unlink()
    print(f"  floor: reading the shards and writing their vectors to one file: {floor:.1f} s")
    t0 = time.perf_counter()
    first = import_parquet(lib, paths)
    took = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = import_parquet(lib, paths)
    took_again = time.perf_counter() - t0
    print(f"  import: {first.rows_added} rows in {took:.1f} s ({first.rows_added / took:.0f} rows/s, "
          f"{took / floor:.1f}x the floor); "
          f"again: {again.rows_added} new rows in {took_again:.1f} s; library rows {lib.rows}, "
          f"check {lib.check() or 'ok'}")
    lib.close()
    shutil.rmtree(shards)


def real(args, work: Path) -> None:
    source = Library(args.real, readonly=True)
    vectors = np.array(source.vectors())
    dead = source.dead_rows()
    vectors = np.delete(vectors, dead, axis=0) if dead.size else vectors
    source.close()
    lib = Library.create(work / "real", "bench-real", vectors.shape[1], ann_threshold=1)
    st = FakeStat(1, 1)
    hashes = [f"{i:064x}" for i in range(len(vectors))]
    lib.add([(Path(f"/real/{h[-12:]}"), st, h) for h in hashes], {h: [("", "music", v)] for h, v in zip(hashes, vectors)})
    t0 = time.perf_counter()
    lib.update_ann()
    built = time.perf_counter() - t0
    print(f"real: {len(vectors)} clamp-mini vectors of music21's corpus (dim {vectors.shape[1]}), "
          f"index built in {built:.2f} s (nlist {lib.ann_state['nlist']})")
    rng = np.random.default_rng(2)
    picks = np.sort(rng.choice(len(vectors), size=min(args.queries, len(vectors)), replace=False))
    queries = np.asarray(lib.vectors()[picks])
    truth = exact_truth(lib.vectors(), queries, 10, leave_out=picks)
    base = exact_p50(lib, queries, 10)
    report("  approximate, each query one of the library's own vectors (left out):",
           measure(lib, queries, truth, 10, args.nprobe, leave_out=picks), base)
    lib.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--noise", type=float, default=0.6)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--nprobe", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
    ap.add_argument("--threshold", type=int, default=200_000, help="rows above which the index is built")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--real", type=Path, default=None, help="a library of real vectors (clamp library create ...)")
    ap.add_argument("--skip-synthetic", action="store_true")
    ap.add_argument("--parquet", action="store_true", help="also time importing N vectors from Parquet shards")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="clamp-lib1m-", dir=args.workdir))
    try:
        if not args.skip_synthetic:
            synthetic(args, work)
        if args.parquet:
            parquet_import(args, work)
        if args.real is not None:
            real(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
