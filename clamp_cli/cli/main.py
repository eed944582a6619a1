"""The `clamp` executable: the typer app and its subcommands (exit codes: `errors.EXIT_CODES`).

`app` holds every command (the docs, completions and tests read it). The executable builds only
the command it is asked for: typer builds each command's parameters when the app is built, and
importing and building all of them would cost every search the start-up of every other command.
"""

from __future__ import annotations

import importlib
from typing import Annotated, Optional

import typer

from .. import __version__
from .helptext import plain_value_names

plain_value_names()      # help names values PATH, N, TEXT..., not by their Python types

# name -> (module in clamp_cli.cli, attribute): a command, or a group of them (a typer app)
COMMANDS = {"embed": ("embed", "embed"), "search": ("search", "search"), "classify": ("classify", "classify"),
            "convert": ("convert", "convert"), "score": ("evaluate", "score"), "map": ("map_cmd", "map_cmd")}
GROUPS = {"eval": ("evaluate", "app"), "probe": ("probe_cmd", "app"), "models": ("models_cmd", "app"),
          "library": ("library_cmd", "app"), "train": ("train", "app")}


def _version(value: bool) -> None:
    if value:
        print(f"clamp {__version__}")
        raise typer.Exit()


def main(
    version: Annotated[Optional[bool], typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None,
) -> None:
    """grep for music: search and label scores by meaning with the CLaMP models.

    Exit codes: 0 all good; 1 some inputs failed, the rest were processed (or a write
    failed: disk full, I/O error); 2 usage error; 3 model unavailable; 130 interrupted.
    """


def build(only: str | None = None) -> typer.Typer:
    """The app with every command, or with only the command (or group) named `only`."""
    root = typer.Typer(
        name="clamp",
        help="grep for music: search and label scores by meaning with the CLaMP models.",
        no_args_is_help=True,
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    root.callback()(main)
    for name, (module, attr) in COMMANDS.items():
        if only in (None, name):
            root.command(name)(getattr(importlib.import_module(f"{__package__}.{module}"), attr))
    for name, (module, attr) in GROUPS.items():
        if only in (None, name):
            root.add_typer(getattr(importlib.import_module(f"{__package__}.{module}"), attr), name=name)
    return root


def __getattr__(name: str):
    if name == "app":           # built on first use: `clamp search` never builds the others
        global app
        app = build()
        return app
    raise AttributeError(name)


def run(argv: list[str] | None = None) -> None:
    """The console entry point: once the command is done (or interrupted), a late Ctrl-C must not
    turn the interpreter's shutdown into a traceback or change the exit code."""
    import signal
    import sys

    from ..errors import EXIT_INTERRUPTED

    args = sys.argv[1:] if argv is None else argv
    first = args[0] if args else None
    try:
        build(first if first in COMMANDS or first in GROUPS else None)(args, prog_name="clamp")
    except SystemExit as exc:
        code = 0 if exc.code is None else exc.code
        if code == EXIT_INTERRUPTED or (argv is None and isinstance(code, int)):
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            exit_now(code)
        raise
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def exit_now(code: int) -> None:
    """End the process at once when its command is done (the console entry point) or
    interrupted: its work is committed or rolled back, its databases closed and its message
    printed, and the interpreter's own shutdown (collecting the objects of torch, music21, a
    100,000-file walk) is all that is left: 0.1 s of a warm search, and 1-5 s of an interrupted
    run on 2 busy cores, where Ctrl-C must end clamp within 2 s. The exit handlers still run
    (temporary folders go, worker processes are reaped) and the streams are flushed; a flush
    that fails (the reader of a pipe left) changes nothing."""
    import atexit
    import os
    import sys

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    run()
