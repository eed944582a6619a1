"""Writing files so that no reader ever sees half of one (used by every layer that writes)."""

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
