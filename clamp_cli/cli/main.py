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
from .entry import exit_now, run  # noqa: F401  (the entry point, and `python -m clamp_cli.cli.main`)
from .helptext import plain_value_names

plain_value_names()      # help names values PATH, N, TEXT..., not by their Python types

# name -> (module in clamp_cli.cli, attribute): a command, or a group of them (a typer app)
COMMANDS = {"embed": ("embed", "embed"), "search": ("search", "search"), "classify": ("classify", "classify"),
            "convert": ("convert", "convert"), "score": ("evaluate", "score"), "map": ("map_cmd", "map_cmd"),
            "melody": ("melody", "melody"), "serve": ("serve_cmd", "serve")}
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


if __name__ == "__main__":
    run()
