"""What clamp opens, and how much of it it reads: regular files only, each within a size limit.

Anything else a file system can hold is refused with one reason, without blocking and
without being read: a FIFO (open() would wait for a writer), a socket, a device (a link
to /dev/zero reads forever), a file larger than its kind's limit (a sparse 10 GB file is
refused by its size). The walk checks each input's `os.stat` before anything reads it;
`read_input` checks again on the open descriptor (the file may have been replaced since),
opens with O_NONBLOCK (a FIFO swapped in is never waited for), reads at most limit + 1
bytes (a file that grows while read cannot make a read unbounded) and refuses a file
whose size changed while it was read.

Limits, in MB, by kind (`formats.kind_of`): scores and texts 64, MERT feature files
(.npy) 256, recordings 1024. $CLAMP_MAX_FILE_MB changes them: one number for every kind
(`CLAMP_MAX_FILE_MB=200`), or per kind (`CLAMP_MAX_FILE_MB=music=200,recording=4096`).
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from ..errors import InputError, UsageError
from ..fsutil import os_reason

MB = 2**20
MAX_FILE_MB = {"music": 64, "text": 64, "audio": 256, "recording": 1024}
ENV_MAX_FILE_MB = "CLAMP_MAX_FILE_MB"
BLOCK = MB

_NOT_REGULAR = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def max_file_mb() -> dict[str, float]:
    """The size limit of each kind, in MB, with $CLAMP_MAX_FILE_MB applied."""
    limits = dict(MAX_FILE_MB)
    value = os.environ.get(ENV_MAX_FILE_MB, "").strip()
    if not value:
        return limits
    if "=" not in value:
        number = _megabytes(value)
        return dict.fromkeys(limits, number)
    for part in value.split(","):
        kind, _, number = part.partition("=")
        kind = kind.strip()
        if kind not in limits:
            raise UsageError(f"{ENV_MAX_FILE_MB}: unknown kind '{kind}' (one of {', '.join(limits)})")
        limits[kind] = _megabytes(number)
    return limits


def _megabytes(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        number = -1.0
    if not number > 0 or number == float("inf"):
        raise UsageError(f"{ENV_MAX_FILE_MB} must be a number of MB above 0 (or KIND=MB,...), not '{text.strip()}'")
    return number


def limit_bytes(kind: str | None) -> int:
    return int(max_file_mb().get(kind or "music", MAX_FILE_MB["music"]) * MB)


def size_words(n: int) -> str:
    """1536 -> "1.5 KB"; 10 * 2**30 -> "10.0 GB"."""
    for unit, scale in (("GB", 2**30), ("MB", MB), ("KB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def _limit_words(kind: str | None) -> str:
    mb = max_file_mb().get(kind or "music", MAX_FILE_MB["music"])
    what = {"music": "scores", "text": "texts", "audio": "feature files", "recording": "recordings"}.get(kind, "files")
    return f"the {mb:g} MB limit for {what} (${ENV_MAX_FILE_MB} changes it)"


def not_regular(mode: int) -> str | None:
    """Why a file of this mode is not read ("a FIFO, not a regular file"), or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    what = next((name for test, name in _NOT_REGULAR if test(mode)), "a special file")
    return f"{what}, not a regular file"


def refusal(st: os.stat_result, kind: str | None) -> str | None:
    """Why a file with this stat is not read (not a regular file, or too large), or None."""
    reason = not_regular(st.st_mode)
    if reason is None and st.st_size > limit_bytes(kind):
        reason = f"{size_words(st.st_size)}, above {_limit_words(kind)}"
    return reason


def check_path(path: Path, kind: str | None) -> str | None:
    """Why the walk leaves this input out (stat only: nothing is opened), or None to keep it."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            return f"a symbolic link to a missing file ({os.readlink(path)}): no such file or directory"
        return "no such file or directory"
    except OSError as exc:
        return os_reason(exc)
    reason = refusal(st, kind)
    if reason and os.path.islink(path):
        reason = f"a symbolic link to {reason}"
    return reason


def _open(path: str | Path, kind: str | None) -> tuple[int, os.stat_result]:
    """An open descriptor of a regular file within its limit, and its stat (InputError otherwise)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:      # gone since the walk listed it, or never there (a query file)
        raise InputError(os_reason(exc)) from None
    try:
        st = os.fstat(fd)
        reason = refusal(st, kind)
    except OSError as exc:
        os.close(fd)
        raise InputError(os_reason(exc)) from None
    except BaseException:
        os.close(fd)
        raise
    if reason:
        os.close(fd)
        raise InputError(reason)
    return fd, st


def _blocks(fd: int, most: int):
    """The file's bytes from its start, in blocks, at most `most` of them."""
    got = 0
    while got < most:
        block = os.read(fd, min(BLOCK, most - got))
        if not block:
            return
        got += len(block)
        yield block


def _changed(st: os.stat_result, got: int, fd: int) -> str | None:
    after = os.fstat(fd)
    if got != st.st_size or after.st_size != st.st_size or after.st_mtime_ns != st.st_mtime_ns:
        return (f"changed while it was read ({size_words(st.st_size)} when opened, {size_words(got)} read, "
                f"{size_words(after.st_size)} after); left out, run again when it is complete")
    return None


def read_input(path: str | Path, kind: str | None) -> tuple[os.stat_result, bytes]:
    """A regular file's stat and bytes, read at most limit + 1 bytes; InputError naming why otherwise."""
    blocks: list[bytes] = []
    st = _read_bounded(path, kind, blocks.append)
    return st, b"".join(blocks)


def _read_bounded(path: str | Path, kind: str | None, consume) -> os.stat_result:
    """Open a regular file within its limit and give its blocks to `consume`, at most limit + 1
    bytes (one byte more than the size it has: enough to see that it grew); InputError naming why."""
    limit = limit_bytes(kind)
    fd, st = _open(path, kind)
    got = 0
    try:
        for block in _blocks(fd, min(st.st_size, limit) + 1):
            consume(block)
            got += len(block)
        if got > limit:
            raise InputError(f"grew while it was read, past {_limit_words(kind)}")
        reason = _changed(st, got, fd)
    except OSError as exc:
        raise InputError(os_reason(exc)) from None
    finally:
        os.close(fd)
    if reason:
        raise InputError(reason)
    return st


def read_head(path: str | Path, kind: str | None, n: int) -> bytes:
    """The first `n` bytes of a regular file within its kind's limit (a header); InputError otherwise."""
    fd, _ = _open(path, kind)
    try:
        return os.read(fd, n)
    except OSError as exc:
        raise InputError(os_reason(exc)) from None
    finally:
        os.close(fd)


def hash_input(path: str | Path, kind: str | None) -> tuple[os.stat_result, str]:
    """A regular file's stat and sha256, read in blocks, at most limit + 1 bytes (as `read_input`)."""
    digest = hashlib.sha256()
    st = _read_bounded(path, kind, digest.update)
    return st, digest.hexdigest()
