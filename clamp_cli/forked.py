"""Work done in a forked child, its result sent back through a pipe: what lets one clamp process
stat files on two cores (the stat calls of one Python process do not overlap: each returns into
the GIL, so threads make fewer calls than one thread). Only on Linux, in a process with one
thread (a fork copies no other); nothing of the parent's code runs in the child after its work:
it ends with os._exit.

A child of the clamp process leads a process group of its own, which the helpers it forks join:
stopping it (`stop`, or a `result` left by an exception such as Ctrl-C) ends them all at once,
and the terminal's Ctrl-C, which reaches only clamp's group, ends clamp, which ends them."""

from __future__ import annotations

import marshal
import os
import signal
import sys
from collections.abc import Callable

_pipe_ends: set[int] = set()     # the pipe ends this module holds open in this process
_unreaped: list[int] = []        # children that had not quite ended when their result was read
_in_child = False                # True in a child: the children it forks stay in its group


def available() -> bool:
    import threading

    return sys.platform.startswith("linux") and hasattr(os, "memfd_create") and threading.active_count() == 1


def _above_stdio(fd: int) -> int:
    """The same file at a descriptor above 2 (a process started with 0, 1 or 2 closed gets those
    first, and the child points 0-2 at /dev/null)."""
    if fd > 2:
        return fd
    import fcntl

    try:
        return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    finally:
        os.close(fd)


def start(work: Callable, *args) -> tuple[int, int, int]:
    """Run `work(*args)` in a forked child; returns what `result` takes. The result must be what
    marshal writes (lists, tuples, bytes, str, numbers, None). It goes into a memory file (a
    pipe's 64 KiB would cost a switch of process per 64 KiB: 50 ms for 5 MB here), and its length
    through a pipe, which the child closes at once, so the reader does not wait for its exit.
    OSError when no child can be forked (nothing is left open then)."""
    global _pipe_ends, _unreaped, _in_child
    opened: list[int] = []
    try:
        opened.append(_above_stdio(os.memfd_create("clamp-forked", os.MFD_CLOEXEC)))
        for fd in os.pipe():
            opened.append(_above_stdio(fd))
        memory, read_end, write_end = opened
        pid = os.fork()
    except OSError:                      # no descriptor or process to be had: the caller does the work itself
        for fd in opened:
            os.close(fd)
        raise
    if pid == 0:
        code = 1
        try:
            try:
                signal.signal(signal.SIGINT, signal.SIG_DFL)   # an interrupt ends it where it stands
                if not _in_child:
                    os.setpgid(0, 0)
                for fd in _pipe_ends | {read_end}:   # a pipe left open here would hold off its reader's end of file
                    os.close(fd)
                _pipe_ends, _unreaped, _in_child = {write_end}, [], True
                data = memoryview(marshal.dumps((work(*args),)))
                while data:
                    data = data[os.write(memory, data):]
                os.write(write_end, os.lseek(memory, 0, os.SEEK_CUR).to_bytes(8, "little"))
                os.close(write_end)
                code = 0
            finally:
                _reap_all()
        finally:
            os._exit(code)
    if not _in_child:
        try:
            os.setpgid(pid, pid)             # as the child does (whichever runs first): no window without it
        except OSError:
            pass
    os.close(write_end)
    if not _pipe_ends and not _unreaped:
        import atexit

        atexit.register(_reap_all)
    _pipe_ends.add(read_end)
    return pid, read_end, memory


def result(pid: int, fd: int, memory: int) -> tuple | None:
    """(what the child's work returned,), or None when the child failed. Left by an exception
    (an interrupt while waiting), the child and its helpers are ended."""
    done = False
    try:
        with os.fdopen(fd, "rb") as pipe:
            length = pipe.read()
        done = True
        if len(length) != 8:                     # it ended before its result was written
            return None
        return marshal.loads(os.pread(memory, int.from_bytes(length, "little"), 0))
    except (OSError, EOFError, ValueError, TypeError):
        return None
    finally:
        if not done:
            _kill(pid)
        _pipe_ends.discard(fd)
        os.close(memory)
        _reap(pid)


def stop(pid: int, fd: int, memory: int) -> None:
    """End a child whose result is not wanted, and the helpers it started."""
    _kill(pid)
    _pipe_ends.discard(fd)
    os.close(fd)
    os.close(memory)
    _reap(pid)


def _kill(pid: int) -> None:
    if not _in_child:
        try:
            os.killpg(pid, signal.SIGKILL)       # the child's group: its helpers too
            return
        except OSError:
            pass
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


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
