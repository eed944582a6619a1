"""File names and writes, shared by every layer: a path as the bytes the file system holds,
a name as a person can read it, and writes no reader ever sees half of."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def default_mode(directory: bool = False) -> int:
    """What open() or mkdir() would give: 0666 (0777 for a folder) minus the umask."""
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


def atomic_write(path: Path, write) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over `path`.

    The file gets the usual permissions (0666 minus the umask), not mkstemp's 0600.
    """
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

