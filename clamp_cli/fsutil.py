"""File names and writes, shared by every layer: a path as the bytes the file system holds, a
name as a person can read it, writes no reader ever sees half of, and a failure of the disk
itself (full, I/O error) told from one of a single file."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import StorageError

# Failures of the disk, not of one file: every later write there would fail the same way, so the
# run stops at the first one (errors.StorageError) instead of reporting each file.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EFBIG})


def default_mode(directory: bool = False) -> int:
    """What open() or mkdir() would give: 0666 (0777 for a folder) minus the umask."""
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


def atomic_write(path: Path, write) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over `path`.

    The file gets the usual permissions (0666 minus the umask), not mkstemp's 0600. A full disk
    or an I/O error is a StorageError naming `path`; the temporary file is removed in every case.
    """
    with storage(path):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.fchmod(fd, default_mode())
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def os_reason(exc: OSError) -> str:
    """An OSError in a user's words: "permission denied", "not a directory"."""
    text = exc.strerror or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


def disk_reason(exc: BaseException, sniff: bool = False, where: str | os.PathLike | None = None) -> str | None:
    """The reason, in a user's words, when `exc` is a failure of the disk (no space left, quota
    exceeded, I/O error, read-only file system), else None.

    An OSError says so by its errno, SQLite by its error code (SQLITE_FULL, SQLITE_IOERR_*; SQLite
    says only "disk I/O error" when it cannot grow its shared-memory file, so a full disk at `where`
    is named as such). With `sniff`, the message of another library's exception is read for the system's words (faiss and
    safetensors put "No space left on device" in a RuntimeError of their own).
    """
    if isinstance(exc, OSError):
        return os_reason(exc) if exc.errno in DISK_ERRNOS else None
    if type(exc).__module__ == "sqlite3":
        name, text = getattr(exc, "sqlite_errorname", None) or "", str(exc)     # the name: Python 3.11+
        if name == "SQLITE_FULL" or text == "database or disk is full":
            return "no space left on device (database or disk is full)"
        if name.startswith("SQLITE_IOERR") or text.startswith("disk I/O error"):
            return "no space left on device (disk I/O error)" if where is not None and _no_room(where) \
                else "disk I/O error"
        return None
    if sniff:
        text = str(exc)
        for code in sorted(DISK_ERRNOS):
            words = os.strerror(code)
            if words in text:
                return words[:1].lower() + words[1:]
    return None


def _no_room(where: str | os.PathLike) -> bool:
    """Whether the file system holding `where` (or its nearest existing folder) has no block left."""
    path = os.path.abspath(os.fsdecode(where))
    while path and not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    try:
        return os.statvfs(path).f_bavail == 0
    except OSError:
        return False


@contextmanager
def storage(where: str | os.PathLike, sniff: bool = False) -> Iterator[None]:
    """`with storage(path):` a failure of the disk inside becomes one StorageError naming `path`;
    every other exception passes unchanged. Clean up (temporary files, rollback) inside it."""
    try:
        yield
    except StorageError:
        raise
    except Exception as exc:
        reason = disk_reason(exc, sniff, where)
        if reason is None:
            raise
        raise StorageError(f"{os.fsdecode(where)}: {reason}") from None


def path_key(path: str | bytes | os.PathLike) -> bytes:
    """A file's absolute path as the bytes the file system holds (any name, even not UTF-8): what
    the cache and the libraries store."""
    key = os.fsencode(path)
    if key[:1] == b"/" and b"/." not in key and b"//" not in key and key[-1:] != b"/":
        return key          # absolute and normal already (the common case: no normpath per file)
    return os.path.abspath(key)


def readable_name(name: str | os.PathLike) -> str:
    """A file name as a message or a table shows it: bytes that are not UTF-8 as \\xNN, control
    characters (a newline in a name) escaped; other names unchanged."""
    text = os.fspath(name)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if text.isprintable():
        return text
    shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii")
                   for ch in shown)
