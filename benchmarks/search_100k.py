"""Search over 100,000 cached keys: clamp's path vs a plain numpy baseline, same process.

clamp's path per query: resolve each key file's content hash through the stat
cache (one SQL pass, 100,000 stat calls), map the consolidated memory-mapped
matrix rows, one matrix-vector product, top-k. The baseline is the bare
product + top-k over the same matrix already in memory. The first query also
builds the consolidated matrix from the database (shown separately).

    python benchmarks/search_100k.py [--keys 100000] [--queries 20]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--queries", type=int, default=20)
    args = ap.parse_args()

    from clamp_cli.index.store import FeatureStore
    from clamp_cli.retrieval import normalize, top_k

    rng = np.random.default_rng(0)
    model, prep, n, dim = "bench-model", "music/clamp3/v1", args.keys, args.dim
    with tempfile.TemporaryDirectory() as tmp:
        files_dir = Path(tmp) / "files"
        files_dir.mkdir()
        paths = []
        for i in range(n):
            p = files_dir / f"{i:06d}.abc"
            p.write_bytes(b"X:%d\n" % i)
            paths.append(p)
        store = FeatureStore(Path(tmp) / "cache")
        hashes = [f"{i:064x}" for i in range(n)]
        store.remember_hashes((p, p.stat(), h) for p, h in zip(paths, hashes))
        vectors = rng.normal(size=(n, dim)).astype(np.float32)
        for start in range(0, n, 10_000):
            store.put(model, prep, dict(zip(hashes[start:start + 10_000], vectors[start:start + 10_000])))

        t0 = time.perf_counter()
        store.matrix(model, prep, dim)
        build = time.perf_counter() - t0

        queries = rng.normal(size=(args.queries, dim)).astype(np.float32)
        t0 = time.perf_counter()
        for q in queries:
            known = store.known_hashes(paths)
            index, rows = store.matrix(model, prep, dim)
            members = np.fromiter((index[known[p]] for p in paths), dtype=np.int64, count=n)
            scores = np.asarray(rows @ normalize(q))[members]
            best = np.argpartition(-scores, 9)[:10]
        ours = (time.perf_counter() - t0) / len(queries)

        t0 = time.perf_counter()
        for q in queries:
            index, rows = store.matrix(model, prep, dim)
            top_k(rows, q, 10)
        ranking_only = (time.perf_counter() - t0) / len(queries)

        plain = normalize(vectors)
        t0 = time.perf_counter()
        for q in queries:
            scores = plain @ normalize(q)
            best = np.argpartition(-scores, 9)[:10]
        base = (time.perf_counter() - t0) / len(queries)
        del best
        store.close()

    print(f"{n} keys of dim {dim}; {len(queries)} queries")
    print(f"consolidated matrix built once:          {build * 1000:8.1f} ms")
    print(f"numpy baseline (in-memory product+top-k):{base * 1000:8.1f} ms/query")
    print(f"clamp ranking (mmap matrix + top-k):     {ranking_only * 1000:8.1f} ms/query "
          f"({ranking_only / base:.2f}x baseline)")
    print(f"clamp full key resolution + ranking:     {ours * 1000:8.1f} ms/query ({ours / base:.2f}x baseline)")


if __name__ == "__main__":
    main()
