"""Run a per-file function over many files in a process pool, results in input order."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

POOL_THRESHOLD = 8  # fewer files than this are handled in-process: a pool costs time to start


def _ignore_sigint() -> None:
    # Ctrl-C is the parent's to handle: workers stay quiet instead of printing tracebacks
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def map_files(fn: Callable, paths: Sequence[str], jobs: int | None, *args) -> Iterator[tuple[str, object]]:
    """Yield (path, fn(path, *args)) in order; `fn` must be a top-level function (it is pickled).

    Leaving the loop early (an error, Ctrl-C) cancels the work not yet started.
    """
    jobs = jobs or os.cpu_count() or 1
    if jobs <= 1 or len(paths) < POOL_THRESHOLD:
        for p in paths:
            yield p, fn(p, *args)
        return
    # fork starts workers at once; but once torch is loaded its thread pools do not survive a fork
    method = "spawn" if "torch" in sys.modules else "fork"
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(paths)), mp_context=get_context(method),
                               initializer=_ignore_sigint)
    finished = False
    try:
        chunk = max(1, min(16, len(paths) // (jobs * 4)))
        repeated = [[a] * len(paths) for a in args]
        yield from zip(paths, pool.map(fn, paths, *repeated, chunksize=chunk))
        finished = True
    finally:
        if not finished:  # stop now, not after the files being converted: Ctrl-C must be prompt
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                proc.terminate()
        pool.shutdown(wait=finished, cancel_futures=not finished)
