"""Run a per-file function over many files in a process pool, results in input order."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

POOL_THRESHOLD = 8  # fewer files than this are handled in-process: a pool costs ~0.5 s to start


def map_files(fn: Callable, paths: Sequence[str], jobs: int | None, *args) -> Iterator[tuple[str, object]]:
    """Yield (path, fn(path, *args)) in order; `fn` must be a top-level function (it is pickled)."""
    jobs = jobs or os.cpu_count() or 1
    if jobs <= 1 or len(paths) < POOL_THRESHOLD:
        for p in paths:
            yield p, fn(p, *args)
        return
    # fork starts workers at once; but once torch is loaded its thread pools do not survive a fork
    method = "spawn" if "torch" in sys.modules else "fork"
    with ProcessPoolExecutor(max_workers=min(jobs, len(paths)), mp_context=get_context(method)) as pool:
        chunk = max(1, min(16, len(paths) // (jobs * 4)))
        repeated = [[a] * len(paths) for a in args]
        yield from zip(paths, pool.map(fn, paths, *repeated, chunksize=chunk))
