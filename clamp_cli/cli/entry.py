"""The `clamp` executable's entry point, apart from the commands: it starts (for a search of
folders) the listing of those folders in a child process before typer and the command's modules
are imported, and ends the process at once when the command is done."""

from __future__ import annotations


def run(argv: list[str] | None = None) -> None:
    """The console entry point: once the command is done (or interrupted), a late Ctrl-C must not
    turn the interpreter's shutdown into a traceback or change the exit code."""
    import signal
    import sys

    from ..errors import EXIT_INTERRUPTED

    args = sys.argv[1:] if argv is None else argv
    first = args[0] if args else None
    address, args = served_by(args)
    if address is not None:
        from .server import run_remote

        code = run_remote(address, args)
        if argv is None:
            exit_now(code)
        raise SystemExit(code)
    if argv is None and first == "search":
        from ..formats.walk import list_ahead

        list_ahead(search_folders(args[1:]))
    from .main import COMMANDS, GROUPS, build

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


def served_by(args: list[str]) -> tuple[str | None, list[str]]:
    """(the server to send the command to, the command line without --server): `--server ADDR`
    among a served command's options, else $CLAMP_SERVER; (None, args) otherwise."""
    import os

    from .server import SERVED_COMMANDS

    if not args or args[0] not in SERVED_COMMANDS:
        return None, args
    rest, address = [], None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest += args[i:]
            break
        if arg == "--server" and i + 1 < len(args):
            address, i = args[i + 1], i + 2
            continue
        if arg.startswith("--server="):
            address, i = arg.split("=", 1)[1], i + 1
            continue
        rest.append(arg)
        i += 1
    address = address or os.environ.get("CLAMP_SERVER") or None
    if address is not None and ("-h" in rest or "--help" in rest):
        return None, rest
    return address, rest


# `clamp search`'s options that take a value (tests/test_list_ahead.py keeps this in step with the command),
# and those that mean no folder is scanned
SEARCH_VALUE_OPTIONS = frozenset({
    "--batch-size", "--cache-dir", "--device", "--format", "--jobs", "--keys", "--keys-kind", "--keys-text",
    "--library", "--model", "--music", "--precision", "--stdin-score", "--sub", "--sub-music", "--text",
    "--text-backbone", "--top", "-L", "-j", "-k", "-m", "-n", "-t"})
SEARCH_UNSCANNED = frozenset({"--no-update", "-N", "--null", "-0", "--stdin-score", "--keys-text"})


def search_folders(args: list[str]) -> list[str]:
    """The words of a `clamp search` command line that may be the folders it ranks (its paths and
    --keys values), read before the command is built, for list_ahead: a guess (a word that only
    looks like one costs a listing nobody uses; one missed is listed when it is scanned)."""
    if SEARCH_UNSCANNED.intersection(a.split("=")[0] for a in args):
        return []
    words, value_of = [], None
    for i, arg in enumerate(args):
        if arg == "--":
            return words + args[i + 1:]
        if value_of is not None:
            if value_of in ("--keys", "-k"):
                words.append(arg)
            value_of = None
        elif arg.startswith("-") and arg != "-":
            if not arg.startswith("--") and len(arg) > 2:    # short flags together (-ft): the last may take a value
                arg = "-" + arg[-1]
            value_of = arg if arg in SEARCH_VALUE_OPTIONS else None
        else:
            words.append(arg)
    return words


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
