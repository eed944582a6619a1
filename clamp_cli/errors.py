"""A small hierarchy of exceptions, and the exit codes the CLI maps them to.

Every message is written to be printed as it is, on one line, to a user.
The exit codes are defined here and nowhere else (README, man page and
`clamp --help` are generated from or checked against them).
"""

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_MODEL = 3
EXIT_INTERRUPTED = 130

EXIT_CODES = {
    EXIT_OK: "all inputs processed",
    EXIT_SOME_FAILED: "some inputs failed (each named on one stderr line) and the rest were processed; or a write "
                      "failed (disk full, I/O error: one line naming the place) and the run stopped there",
    EXIT_USAGE: "usage error",
    EXIT_MODEL: "model unavailable: unknown name, not cached while offline, or not loadable",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}


class ClampError(Exception):
    """Base of every error clamp raises on purpose."""

    exit_code = EXIT_SOME_FAILED


class InputError(ClampError):
    """One input (a file, a query) cannot be used; the rest of a batch goes on."""

    exit_code = EXIT_SOME_FAILED


class Reported(InputError):
    """Every failed input is already named on stderr; nothing is left to do (exit 1, no more lines)."""


class StorageError(ClampError):
    """A write failed in the disk itself (no space left, quota exceeded, an I/O error, a read-only file
    system): the run stops at the first one, with one line naming the place (exit 1). What was being
    written is removed or rolled back; what was committed before it stays."""

    exit_code = EXIT_SOME_FAILED


class UsageError(ClampError):
    """The command line itself is wrong."""

    exit_code = EXIT_USAGE


class ModelError(ClampError):
    """The model cannot be made available (exit code 3)."""

    exit_code = EXIT_MODEL


class ModelNotFoundError(ModelError):
    """An unknown registry name, or a path that does not exist."""


class ModelUnavailableError(ModelError):
    """Known model, but its files are not cached and cannot be downloaded now."""


class CheckpointFormatError(ModelError):
    """The file exists but is not a checkpoint clamp can load safely."""
