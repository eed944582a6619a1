"""Time and memory limits of each score's conversion, enforced in the worker process converting it.

A score whose conversion runs past the time limit, or needs more memory than the memory limit,
is one error line naming the limit ("conversion took longer than 30 s"); its worker process is
replaced (`pool.map_files`) and the batch goes on. The limits apply to each score: each tune of
a multi-tune ABC file has its own time, so a tune book of a thousand tunes is not refused for
its length; a file of another format is one score.

- time: a timer in the worker (SIGALRM, which interrupts the pure-Python converters) raises
  `ConversionTimeout`; a worker stuck where Python cannot interrupt it (inside C code) is killed
  by its parent a few seconds later (`GRACE`) and gets the same message;
- memory: the worker's address space is capped (RLIMIT_AS) at what it holds when it starts plus
  the limit, so an allocation past it fails with MemoryError instead of the machine running out.

$CLAMP_CONVERT_TIMEOUT (seconds, default 30) and $CLAMP_CONVERT_MEMORY_MB (default 2048) change
them; 0 turns a limit off. With both off, small batches are converted in-process as before.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..errors import InputError, UsageError

ENV_TIMEOUT = "CLAMP_CONVERT_TIMEOUT"
ENV_MEMORY = "CLAMP_CONVERT_MEMORY_MB"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MEMORY_MB = 2048
GRACE = 5.0          # a worker not answering this long past the time limit is killed by its parent
REPEAT = 1.0         # the timer fires again every second until the conversion gives up (a swallowed alarm)


@dataclass(frozen=True)
class Limits:
    seconds: float | None       # per score; None: no time limit
    memory_mb: float | None     # per worker, above what it holds when it starts; None: no memory limit

    def timeout_message(self) -> str:
        return f"conversion took longer than {self.seconds:g} s (the time limit; ${ENV_TIMEOUT} changes it)"

    def memory_message(self) -> str:
        if not self.memory_mb:
            return "conversion ran out of memory"
        return f"conversion needed more than {self.memory_mb:g} MB (the memory limit; ${ENV_MEMORY} changes it)"


class ConversionTimeout(BaseException):
    """Raised in a worker by the timer. A BaseException, so that a converter's `except Exception`
    does not swallow it."""


class LimitError(InputError):
    """A score hit a conversion limit; the message names the limit."""


def _number(name: str, default: float) -> float | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise UsageError(f"{name} must be a number (0 turns the limit off), not '{text}'")
    return value or None


def conversion_limits() -> Limits | None:
    """The limits in force ($CLAMP_CONVERT_TIMEOUT, $CLAMP_CONVERT_MEMORY_MB), or None when both are off."""
    limits = Limits(_number(ENV_TIMEOUT, DEFAULT_TIMEOUT), _number(ENV_MEMORY, DEFAULT_MEMORY_MB))
    return limits if limits.seconds or limits.memory_mb else None


# -- inside a worker process ---------------------------------------------------------------------

_limits: Limits | None = None
_beat: Callable[[], None] | None = None
_tripped = False


def _on_alarm(signum, frame):
    raise ConversionTimeout


def _address_space() -> int | None:
    """Bytes of address space this process maps now (Linux), else None."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def enter_worker(limits: Limits, beat: Callable[[], None]) -> None:
    """Install the limits in this (worker) process; `beat` tells the parent a score starts."""
    global _limits, _beat
    _limits, _beat = limits, beat
    if limits.seconds:
        signal.signal(signal.SIGALRM, _on_alarm)
    if limits.memory_mb:
        import resource

        now = _address_space()
        if now is not None:
            soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            cap = now + int(limits.memory_mb * 2**20)
            if hard != resource.RLIM_INFINITY:
                cap = min(cap, hard)
            with contextlib.suppress(ValueError, OSError):   # not enforceable here (macOS): no cap
                resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def _arm() -> None:
    if _limits is not None and _limits.seconds:
        signal.setitimer(signal.ITIMER_REAL, _limits.seconds, REPEAT)


def _disarm() -> None:
    if _limits is not None and _limits.seconds:
        signal.setitimer(signal.ITIMER_REAL, 0)


def next_score() -> None:
    """A score starts: its own time from now on (and the parent's watchdog told)."""
    if _limits is not None:
        _arm()
        if _beat is not None:
            _beat()


def start_task() -> None:
    global _tripped
    _tripped = False
    next_score()


def end_task() -> bool:
    """The task is over: the timer off. True when a limit was hit (the worker should be replaced)."""
    _disarm()
    return _tripped


def trip() -> None:
    global _tripped
    _disarm()
    _tripped = True


@contextlib.contextmanager
def score_limit() -> Iterator[None]:
    """Around one score's conversion: its own time, and a limit hit becomes a LimitError naming it.

    Outside a worker with limits (conversions in-process) it does nothing.
    """
    if _limits is None:
        yield
        return
    next_score()
    try:
        yield
    except ConversionTimeout:
        trip()
        raise LimitError(_limits.timeout_message()) from None
    except MemoryError:
        trip()
        raise LimitError(_limits.memory_message()) from None
