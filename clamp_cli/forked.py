"""Work done in a forked child, its result sent back through a pipe: what lets one clamp process
stat files on two cores (the stat calls of one Python process do not overlap: each returns into
the GIL, so threads make fewer calls than one thread). Only on Linux, in a process with one
thread (a fork copies no other); nothing of the parent's code runs in the child after its work:
it ends with os._exit."""

from __future__ import annotations

import marshal
import os
import sys
from collections.abc import Callable

_pipe_ends: set[int] = set()     # the pipe ends this module holds open in this process
_unreaped: list[int] = []        # children that had not quite ended when their result was read


def available() -> bool:
    import threading

    return sys.platform.startswith("linux") and hasattr(os, "memfd_create") and threading.active_count() == 1


def start(work: Callable, *args) -> tuple[int, int, int]:
    """Run `work(*args)` in a forked child; returns what `result` takes. The result must be what
    marshal writes (lists, tuples, bytes, str, numbers, None). It goes into a memory file (a
    pipe's 64 KiB would cost a switch of process per 64 KiB: 50 ms for 5 MB here), and its length
    through a pipe, which the child closes at once, so the reader does not wait for its exit.
    OSError when no child can be forked (nothing is left open then)."""
    global _pipe_ends, _unreaped
    memory = os.memfd_create("clamp-forked", os.MFD_CLOEXEC)
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:                      # no process to be had (a limit): the caller does the work itself
        for fd in (memory, read_end, write_end):
            os.close(fd)
        raise
    if pid == 0:
        code = 1
        try:
            for fd in _pipe_ends | {read_end}:   # a pipe left open here would hold off its reader's end of file
                os.close(fd)
            _pipe_ends, _unreaped = {write_end}, []
            data = memoryview(marshal.dumps((work(*args),)))
            while data:
                data = data[os.write(memory, data):]
            os.write(write_end, os.lseek(memory, 0, os.SEEK_CUR).to_bytes(8, "little"))
            os.close(write_end)
            code = 0
        finally:
            _reap_all()
            os._exit(code)
    os.close(write_end)
    if not _pipe_ends and not _unreaped:
        import atexit

        atexit.register(_reap_all)
    _pipe_ends.add(read_end)
    return pid, read_end, memory


def result(pid: int, fd: int, memory: int) -> tuple | None:
    """(what the child's work returned,), or None when the child failed."""
    try:
        with os.fdopen(fd, "rb") as pipe:
            length = pipe.read()
        if len(length) != 8:                     # it ended before its result was written
            return None
        return marshal.loads(os.pread(memory, int.from_bytes(length, "little"), 0))
    except (OSError, EOFError, ValueError, TypeError):
        return None
    finally:
        _pipe_ends.discard(fd)
        os.close(memory)
        _reap(pid)


def stop(pid: int, fd: int, memory: int) -> None:
    """End a child whose result is not wanted."""
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    _pipe_ends.discard(fd)
    os.close(fd)
    os.close(memory)
    _reap(pid)


def _reap(pid: int) -> None:
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == 0:
            _unreaped.append(pid)
    except ChildProcessError:
        pass


def _reap_all() -> None:
    """At exit: the children still ending are waited for (none is left a zombie)."""
    while _unreaped:
        try:
            os.waitpid(_unreaped.pop(), 0)
        except ChildProcessError:
            pass
