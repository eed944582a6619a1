"""Search over 100,000 cached keys: clamp's functions vs a plain numpy baseline, same process.

- ranking: `retrieval.rank` over an `ExactIndex` (what `clamp search` calls) vs the bare
  product + partial sort over the same unit matrix in memory;
- full key resolution: `Embedder.embed_files` on 100,000 unchanged files (stat cache, cached
  vectors read back) + `rank_pieces`, the whole of a warm `clamp search` but the printing.

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


class _FactsOnly:
    """The facts the embedder needs; every vector comes from the cache, so nothing is encoded."""

    family, dim, model_id, text_id = "clamp3", 768, "bench-model", "bench-model+text"

    @property
    def layout(self):
        from clamp_cli.models.families import FAMILIES

        return FAMILIES["clamp3"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=20)
    args = ap.parse_args()

    from clamp_cli.index.embedder import Embedder
    from clamp_cli.index.store import FeatureStore
    from clamp_cli.index.vectors import ExactIndex
    from clamp_cli.retrieval import normalize, rank
    from clamp_cli.retrieval.search import QueryVector, rank_pieces

    rng = np.random.default_rng(0)
    n, dim = args.keys, _FactsOnly.dim
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    queries = rng.normal(size=(args.queries, dim)).astype(np.float32)
    keys = [f"{i:064x}" for i in range(n)]

    # ranking: the same unit matrix, our function vs the bare numpy lines
    index = ExactIndex.from_vectors(keys, vectors)
    plain = normalize(vectors)
    for q in queries[:2]:  # warm up both
        rank(q, index, 10)
        np.argpartition(-(plain @ normalize(q)), 9)[:10]
    t0 = time.perf_counter()
    for q in queries:
        rank(q, index, 10)
    ours = (time.perf_counter() - t0) / len(queries)
    t0 = time.perf_counter()
    for q in queries:
        scores = plain @ normalize(q)
        best = np.argpartition(-scores, 9)[:10]
        best[np.argsort(-scores[best])]
    base = (time.perf_counter() - t0) / len(queries)

    with tempfile.TemporaryDirectory() as tmp:
        files_dir = Path(tmp) / "files"
        files_dir.mkdir()
        paths = []
        for i in range(n):
            p = files_dir / f"{i:06d}.mtf"
            p.write_bytes(b"ticks_per_beat %d\n" % i)
            paths.append(p)
        store = FeatureStore(Path(tmp) / "cache")
        embedder = Embedder(_FactsOnly(), store)
        prep = embedder.prep("music")
        store.remember_hashes((p, p.stat(), h) for p, h in zip(paths, keys))
        store.put_pieces(prep, {h: [None] for h in keys})
        for start in range(0, n, 10_000):
            store.put(_FactsOnly.model_id, prep, dict(zip(keys[start:start + 10_000], vectors[start:start + 10_000])))
        t0 = time.perf_counter()
        for q in queries[:5]:
            results = embedder.embed_files(paths)
            rank_pieces(QueryVector(q, frozenset()), results, 10)
        full = (time.perf_counter() - t0) / 5
        assert all(r.status == "cached" for r in results)
        store.close()

    print(f"{n} keys of dim {dim}; {len(queries)} queries")
    print(f"numpy baseline (product + top-k):        {base * 1000:8.1f} ms/query")
    print(f"clamp rank() over an ExactIndex:         {ours * 1000:8.1f} ms/query ({ours / base:.2f}x baseline)")
    print(f"clamp full key resolution + ranking:     {full * 1000:8.1f} ms/query ({full / base:.2f}x baseline)")


if __name__ == "__main__":
    main()
