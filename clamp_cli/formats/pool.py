"""Run a per-file function over many files in worker processes, results in input order.

`multiprocessing.Pool` rather than `concurrent.futures`: it has a public `terminate()`, so
leaving the loop early (an error, Ctrl-C) stops the workers at once, and no executor thread
is left for the interpreter to wait on at exit.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from multiprocessing import get_context

POOL_THRESHOLD = 8  # fewer files than this are handled in-process: a pool costs time to start


def _ignore_sigint() -> None:
    # Ctrl-C is the parent's to handle: workers stay quiet and are terminated by it
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _call(task: tuple) -> object:
    fn, path, args = task
    return fn(path, *args)


def map_files(fn: Callable, paths: Sequence[str], jobs: int | None, *args) -> Iterator[tuple[str, object]]:
    """Yield (path, fn(path, *args)) in order; `fn` must be a top-level function (it is pickled).

    Leaving the loop early (an error, Ctrl-C, a consumer that stops) terminates the workers.
    """
    jobs = jobs or os.cpu_count() or 1
    if jobs <= 1 or len(paths) < POOL_THRESHOLD:
        for p in paths:
            yield p, fn(p, *args)
        return
    # fork starts workers at once; but once torch is loaded its thread pools do not survive a fork
    method = "spawn" if "torch" in sys.modules else "fork"
    pool = get_context(method).Pool(min(jobs, len(paths)), initializer=_ignore_sigint)
    finished = False
    try:
        chunk = max(1, min(16, len(paths) // (jobs * 4)))
        yield from zip(paths, pool.imap(_call, ((fn, p, args) for p in paths), chunksize=chunk))
        finished = True
    finally:
        if finished:
            pool.close()
        else:
            pool.terminate()
        pool.join()
