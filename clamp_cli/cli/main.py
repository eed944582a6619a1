"""The `clamp` executable: the typer app and its subcommands (exit codes: `errors.EXIT_CODES`)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .. import __version__
from . import classify, convert, embed, evaluate, library_cmd, map_cmd, models_cmd, probe_cmd, search, train
from .helptext import plain_value_names

plain_value_names()      # help names values PATH, N, TEXT..., not by their Python types

app = typer.Typer(
    name="clamp",
    help="grep for music: search and label scores by meaning with the CLaMP models.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        print(f"clamp {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[Optional[bool], typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None,
) -> None:
    """grep for music: search and label scores by meaning with the CLaMP models.

    Exit codes: 0 all good; 1 some inputs failed, the rest were processed;
    2 usage error; 3 model unavailable; 130 interrupted.
    """


app.command("embed")(embed.embed)
app.command("search")(search.search)
app.command("classify")(classify.classify)
app.command("convert")(convert.convert)
app.command("score")(evaluate.score)
app.command("map")(map_cmd.map_cmd)
app.add_typer(evaluate.app, name="eval")
app.add_typer(probe_cmd.app, name="probe")
app.add_typer(models_cmd.app, name="models")
app.add_typer(library_cmd.app, name="library")
app.add_typer(train.app, name="train")


def run() -> None:
    """The console entry point: once the command is done (or interrupted), a late Ctrl-C must not
    turn the interpreter's shutdown into a traceback or change the exit code."""
    import signal

    try:
        app()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    run()
