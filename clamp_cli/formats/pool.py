"""Run a per-file function over many files in worker processes, results in input order.

`multiprocessing.Pool` rather than `concurrent.futures`: it has a public `terminate()`, so
leaving the loop early (an error, Ctrl-C) stops the workers at once, and no executor thread
is left for the interpreter to wait on at exit. A worker that dies on a file (a crash in a
C extension, the OOM killer) would leave its task unanswered forever; each worker therefore
reports which file it starts, and a file whose worker died gets `on_crash(path)` as its
result while the rest of the batch goes on.
"""

from __future__ import annotations

import os
import queue
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from multiprocessing import TimeoutError as PoolTimeout
from multiprocessing import get_context

POOL_THRESHOLD = 8  # fewer files than this are handled in-process: a pool costs time to start
POLL_SECONDS = 0.25

_report = None  # in a worker: where it says which task it starts


def _init_worker(report) -> None:
    global _report
    # Ctrl-C is the parent's to handle: workers stay quiet and are terminated by it
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _report = report


def _call(task: tuple) -> tuple[int, object]:
    i, fn, path, args = task
    _report.put((os.getpid(), i))
    return i, fn(path, *args)


def _crashed(path: str) -> object:
    raise RuntimeError(f"{path}: a worker process died while handling this file")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def map_files(fn: Callable, paths: Sequence[str], jobs: int | None, *args,
              on_crash: Callable[[str], object] = _crashed) -> Iterator[tuple[str, object]]:
    """Yield (path, fn(path, *args)) in order; `fn` must be a top-level function (it is pickled).

    Leaving the loop early (an error, Ctrl-C, a consumer that stops) terminates the workers.
    """
    jobs = jobs or os.cpu_count() or 1
    if jobs <= 1 or len(paths) < POOL_THRESHOLD:
        for p in paths:
            yield p, fn(p, *args)
        return
    # fork starts workers at once; but once torch is loaded its thread pools do not survive a fork
    ctx = get_context("spawn" if "torch" in sys.modules else "fork")
    report = ctx.SimpleQueue()
    pool = ctx.Pool(min(jobs, len(paths)), initializer=_init_worker, initargs=(report,))
    try:
        # one file per task: tasks of very unequal cost balance, and a crash loses one file only
        results = pool.imap_unordered(_call, ((i, fn, p, args) for i, p in enumerate(paths)), chunksize=1)
        done: dict[int, object] = {}
        running: dict[int, int] = {}    # worker pid -> task it started
        following = 0
        while following < len(paths):
            if following in done:
                yield paths[following], done.pop(following)
                following += 1
                continue
            try:
                i, value = results.next(timeout=POLL_SECONDS)
                done[i] = value
                continue
            except (PoolTimeout, queue.Empty):
                pass
            while not report.empty():
                pid, i = report.get()
                running[pid] = i
            for pid, i in list(running.items()):
                if i not in done and i >= following and not _pid_alive(pid):
                    done[i] = on_crash(paths[i])
                    del running[pid]
    finally:
        # every result is in (or no longer wanted): stop the workers now. close() would wait for
        # the task of a crashed worker, which never answers.
        pool.terminate()
        pool.join()
