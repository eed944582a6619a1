"""A small hierarchy of exceptions; the CLI maps each branch to one exit code.

Every message is written to be printed as it is, on one line, to a user.
"""


class ClampError(Exception):
    """Base of every error clamp raises on purpose."""

    exit_code = 1


class InputError(ClampError):
    """One input (a file, a query) cannot be used; the rest of a batch goes on."""

    exit_code = 1


class UsageError(ClampError):
    """The command line itself is wrong."""

    exit_code = 2


class ModelError(ClampError):
    """The model cannot be made available (exit code 3)."""

    exit_code = 3


class ModelNotFoundError(ModelError):
    """An unknown registry name, or a path that does not exist."""


class ModelUnavailableError(ModelError):
    """Known model, but its files are not cached and cannot be downloaded now."""


class CheckpointFormatError(ModelError):
    """The file exists but is not a checkpoint clamp can load safely."""
