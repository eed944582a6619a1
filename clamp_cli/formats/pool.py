"""Run a per-file function over many files in worker processes, results in input order.

Each worker is a process of our own with a pipe to the parent, not a `multiprocessing.Pool`:
the parent must be able to kill one worker (stuck past a time limit) and start another while
the rest of the batch goes on, which a Pool cannot do. A supervising thread in the parent
hands out one file at a time, so that tasks of very unequal cost balance and a crash loses one
file only, and keeps working while the consumer of the results is busy (embedding a chunk).

- a worker that dies on a file (a crash in a C extension, the OOM killer) gets
  `on_crash(path)` as that file's result;
- with `limits` (`formats.limits`: a time and a memory limit per score) every file goes to a
  worker, even a single one; a score past a limit gets `on_limit(path, message)` (or its own
  error, when the function catches the limit per score), and its worker is replaced;
- leaving the loop early (an error, Ctrl-C, a consumer that stops) kills the workers at once.
"""

from __future__ import annotations

import collections
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from multiprocessing import get_context
from multiprocessing.connection import wait

from . import limits as _limits_mod
from .limits import GRACE, ConversionTimeout, Limits

POOL_THRESHOLD = 8  # without limits, fewer files than this are handled in-process: a pool costs time to start
POLL_SECONDS = 0.25
PARKED_MAX = 1      # idle workers with limits kept for the next batch of this process


def _crashed(path: str) -> object:
    raise RuntimeError(f"{path}: a worker process died while handling this file")


def _limited(path: str, message: str) -> object:
    raise RuntimeError(f"{path}: {message}")


_CWD = "\0cwd"          # not an environment variable's name: the parent's working folder


def _settings() -> dict[str, str]:
    """clamp's own environment variables (size limits, ...) and the working folder, sent with each
    task: a worker kept for later batches (`prestart`) must read them, and resolve relative paths,
    as the parent has them now (`clamp serve` runs each request in its client's folder)."""
    out = {k: v for k, v in os.environ.items() if k.startswith("CLAMP_")}
    try:
        out[_CWD] = os.getcwd()
    except OSError:
        pass
    return out


def _use_settings(settings: dict[str, str]) -> None:
    env = {k: v for k, v in settings.items() if k != _CWD}
    for k in [k for k in os.environ if k.startswith("CLAMP_") and k not in env]:
        del os.environ[k]
    os.environ.update(env)
    if _CWD in settings:
        try:
            os.chdir(settings[_CWD])
        except OSError:
            pass


PARENT_CHECK = 1.0      # seconds between a worker's looks at whether its parent lives


def _watch_parent(parent: int) -> None:
    """End this worker once its parent is gone. A parent ended without its exit handlers (killed,
    or by a library's own _exit, as Ray's core ends a driver whose local instance died) stops no
    worker, and a forked worker holds both ends of its pipe (and its siblings' parent ends): it
    would wait for a task, or block sending a large result, for ever, holding the parent's stdout
    and stderr. A thread, so that a busy worker is ended too."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK)
    os._exit(1)


def _worker_main(conn, limits: Limits | None, parent: int) -> None:
    """A worker: tasks (i, fn, path, args, settings) in, ("beat" | "done" | "limit" | "error", i, payload) out."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the parent's to handle: it kills the workers
    threading.Thread(target=_watch_parent, args=(parent,), name="clamp-parent-watch", daemon=True).start()
    try:
        _serve(conn, limits)
    except BaseException:  # noqa: BLE001 - e.g. no memory left to read a task: the parent reports the file
        os._exit(1)        # as crashed, in one line; no traceback of ours on the user's terminal


def _serve(conn, limits: Limits | None) -> None:
    current = [-1]

    def beat() -> None:
        conn.send(("beat", current[0], time.monotonic(), False))

    if limits is not None:
        _limits_mod.enter_worker(limits, beat)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        i, fn, path, args, settings = task
        current[0] = i
        _use_settings(settings)
        _limits_mod.start_task()
        try:
            message = ("done", i, fn(path, *args))
        except ConversionTimeout:
            message = ("limit", i, limits.timeout_message())
        except MemoryError:
            message = ("limit", i, (limits or Limits(None, None)).memory_message())
        except Exception as exc:  # noqa: BLE001 - the function's own error: raised again in the parent
            message = ("error", i, exc)
        finally:
            tripped = _limits_mod.end_task()
        # a worker that hit a limit may hold a half-changed state: it says so and leaves, and the
        # parent starts another
        last = tripped or message[0] == "limit"
        try:
            conn.send((*message, last))
        except MemoryError:   # the result is too large to send within the memory limit
            last = True
            conn.send(("limit", i, (limits or Limits(None, None)).memory_message(), last))
        except Exception as exc:  # noqa: BLE001 - a result or an error that cannot be pickled
            conn.send(("error", i, RuntimeError(f"{path}: {type(exc).__name__}: {exc}"), last))
        if last:
            return


class _Worker:
    def __init__(self, ctx, limits: Limits | None):
        self.limits = limits
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, limits, os.getpid()), daemon=True)
        self.proc.start()
        child.close()
        self.task: int | None = None
        self.deadline: float | None = None
        self.leaving = False        # it said its last result: no more tasks for it

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()
        self.conn.close()


class _Supervisor(threading.Thread):
    """Hands out the tasks, collects the results, replaces workers that die or overrun."""

    def __init__(self, ctx, fn, paths: Sequence[str], args_of: Callable[[int], tuple], workers: int,
                 limits: Limits | None):
        super().__init__(name="clamp-pool", daemon=True)
        self.ctx, self.fn, self.paths, self.args_of = ctx, fn, paths, args_of
        self.size, self.limits = workers, limits
        self.results: dict[int, tuple[str, object]] = {}
        self.cond = threading.Condition()
        self.stopping = threading.Event()
        self.failure: BaseException | None = None
        self.settings = _settings()     # read now, in the consumer's thread

    def _put(self, i: int, kind: str, payload: object = None) -> None:
        with self.cond:
            self.results[i] = (kind, payload)
            self.cond.notify_all()

    def take(self, i: int) -> tuple[str, object]:
        with self.cond:
            while i not in self.results:
                if self.failure is not None:
                    raise self.failure
                if not self.is_alive():
                    raise RuntimeError("the worker pool stopped before every file was handled")
                self.cond.wait(POLL_SECONDS)
            return self.results.pop(i)

    def stop(self) -> None:
        self.stopping.set()
        if self.is_alive():
            self.join()

    def run(self) -> None:
        workers: list[_Worker] = _unpark(self.limits, self.size)
        try:
            self._loop(workers)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            with self.cond:
                self.failure = exc
                self.cond.notify_all()
        finally:
            done = self.failure is None and not any(w.task is not None for w in workers)
            _park([w for w in workers if done and not w.leaving], workers)

    def _loop(self, workers: list[_Worker]) -> None:
        pending = collections.deque(range(len(self.paths)))
        seconds = self.limits.seconds if self.limits else None
        settings = self.settings
        while (pending or any(w.task is not None for w in workers)) and not self.stopping.is_set():
            while pending and len(workers) < self.size:
                workers.append(_Worker(self.ctx, self.limits))
            for w in workers:
                if w.task is None and pending:
                    i = pending.popleft()
                    try:
                        w.conn.send((i, self.fn, self.paths[i], self.args_of(i), settings))
                        w.task = i
                    except OSError:         # the worker is gone: its file counts as crashed
                        self._put(i, "crash")
                    except Exception as exc:  # noqa: BLE001 - a task that cannot be pickled
                        self._put(i, "error", exc)
            busy = [w for w in workers if w.task is not None]
            now = time.monotonic()
            deadlines = [w.deadline for w in busy if w.deadline is not None]
            timeout = max(0.0, min([POLL_SECONDS, *(d - now for d in deadlines)]))
            wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout)
            for w in list(workers):
                if not self._drain(w, seconds) or w.leaving:
                    w.kill()
                    workers.remove(w)
                    if w.task is not None:
                        self._put(w.task, "crash")
                elif w.deadline is not None and time.monotonic() > w.deadline:
                    w.kill()        # stuck where the worker's own timer cannot interrupt it
                    workers.remove(w)
                    self._put(w.task, "limit", self.limits.timeout_message())

    def _drain(self, w: _Worker, seconds: float | None) -> bool:
        """Read what the worker said; False when it is gone (its process exited or died)."""
        try:
            while w.conn.poll():
                kind, i, payload, last = w.conn.recv()
                if kind == "beat":
                    w.deadline = payload + seconds + GRACE if seconds else None
                    continue
                self._put(i, kind, payload)
                w.task, w.deadline, w.leaving = None, None, last
        except Exception:  # noqa: BLE001 - the pipe closed, or a message cut short: the worker is gone
            return False
        return w.proc.is_alive()


_parked: list[_Worker] = []
_parked_lock = threading.Lock()


def prestart(limits: Limits | None) -> None:
    """Fork one conversion worker now, while this process is small and torch is not loaded, for
    `map_files` to use later: once torch is loaded, a new worker must be spawned (a fresh
    interpreter that imports the converters again: seconds, not milliseconds)."""
    if limits is None or "torch" in sys.modules:
        return
    with _parked_lock:
        if not any(w.limits == limits for w in _parked):
            _parked.append(_Worker(get_context("fork"), limits))


def _unpark(limits: Limits | None, most: int) -> list[_Worker]:
    with _parked_lock:
        fit = [w for w in _parked if w.limits == limits and w.proc.is_alive()][:most]
        for w in fit:
            _parked.remove(w)
    return fit


def _park(idle: list[_Worker], workers: list[_Worker]) -> None:
    """Keep up to PARKED_MAX idle workers with limits for the next batch; stop the others."""
    with _parked_lock:
        for w in workers:
            if w in idle and w.limits is not None and len(_parked) < PARKED_MAX and w.proc.is_alive():
                _parked.append(w)
            else:
                w.kill()


def map_files(fn: Callable, paths: Sequence[str], jobs: int | None, *args,
              on_crash: Callable[[str], object] = _crashed, limits: Limits | None = None,
              on_limit: Callable[[str, str], object] = _limited,
              per_file: Sequence | None = None) -> Iterator[tuple[str, object]]:
    """Yield (path, fn(path, *args)) in order; `fn` must be a top-level function (it is pickled).

    `per_file`, when given, is one more argument for each file: fn(path, *args, per_file[i]).
    Leaving the loop early (an error, Ctrl-C, a consumer that stops) kills the workers.
    """
    jobs = jobs or os.cpu_count() or 1

    def args_of(i: int) -> tuple:
        return args if per_file is None else (*args, per_file[i])

    if not paths:
        return
    if limits is None and (jobs <= 1 or len(paths) < POOL_THRESHOLD):
        for i, p in enumerate(paths):
            yield p, fn(p, *args_of(i))
        return
    # fork starts workers at once; but once torch is loaded its thread pools do not survive a fork
    spawn = "torch" in sys.modules
    ctx = get_context("spawn" if spawn else "fork")
    size = min(jobs, len(paths))
    if spawn and len(paths) < POOL_THRESHOLD:
        size = 1        # a small batch: one worker (a parked one when there is one) rather than spawning several
    supervisor = _Supervisor(ctx, fn, paths, args_of, size, limits)
    supervisor.start()
    try:
        for i, p in enumerate(paths):
            kind, payload = supervisor.take(i)
            if kind == "error":
                raise payload
            if kind == "crash":
                yield p, on_crash(p)
            elif kind == "limit":
                yield p, on_limit(p, payload)
            else:
                yield p, payload
    finally:
        supervisor.stop()
