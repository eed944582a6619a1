"""Options, messages, output formats and error handling shared by every subcommand.

Only typer and the standard library are imported here at module level, so
that `clamp --help` and `clamp --version` never import torch.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..app import AUDIO_KINDS, BEST_MODEL, BUNDLED_MODEL, Settings  # noqa: F401  (re-exported)
from ..errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SOME_FAILED,
    ClampError,
    InputError,
    Reported,
    UsageError,
)
from ..formats.walk import piece_name
from ..fsutil import disk_reason, os_reason, readable_name, storage

DEFAULT_MODEL = None  # resolved by app.default_model(): clamp3-c2 when cached, else the bundled clamp-mini


def model_names() -> list[str]:
    """Registry names, for shell completion of --model (reads the registry's JSON files only)."""
    from ..models.pretrained import registry

    return list(registry())


def values(*choices: str):
    """An autocompletion callback offering fixed values (bash, zsh and fish scripts are built from it)."""
    return lambda: list(choices)


ModelOpt = Annotated[Optional[str], typer.Option(
    "--model", "-m", envvar="CLAMP_MODEL", show_default=False, autocompletion=model_names, metavar="MODEL",
    help="Registry name (see `clamp models list`) or path to a checkpoint file or directory "
         "[default: clamp3-c2 when downloaded, else the bundled clamp-mini].")]
BackboneOpt = Annotated[Optional[str], typer.Option(
    "--text-backbone", envvar="CLAMP_TEXT_BACKBONE", metavar="BACKBONE",
    help="Tokenizer + config of the text encoder: a Hub id or a local directory.")]
DeviceOpt = Annotated[str, typer.Option("--device", metavar="DEVICE", help="cpu, cuda, cuda:N, mps or auto.",
                                        autocompletion=values("auto", "cpu", "cuda", "mps"))]
PrecisionOpt = Annotated[str, typer.Option(
    "--precision", envvar="CLAMP_PRECISION", metavar="P", autocompletion=values("fp32", "int8"),
    help="fp32 (the authors' numbers) or int8: the music encoder's transformer layers quantised, on the CPU "
         "(about 3x the throughput at CLaMP 3's size; its vectors are cached apart).")]
BatchOpt = Annotated[Optional[int], typer.Option("--batch-size", min=1, help="Segments per model call.")]
CacheOpt = Annotated[Optional[Path], typer.Option(
    "--cache-dir", envvar="CLAMP_CACHE_DIR", help="Feature cache directory [default: the user cache dir].")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or summaries on stderr.")]
FormatOpt = Annotated[Optional[str], typer.Option(
    "--format", metavar="FORMAT", autocompletion=values("table", "json", "jsonl", "paths", "files"),
    help="table, json, jsonl, paths (result names; FILE#X for a tune of a multi-tune file) or "
         "files (each file once) [default: table on a terminal, json otherwise].")]
RecordFormatOpt = Annotated[Optional[str], typer.Option(
    "--format", metavar="FORMAT", autocompletion=values("table", "json", "jsonl"),
    help="table, json or jsonl [default: table on a terminal, json otherwise].")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Write one JSON array to stdout.")]
JsonlOpt = Annotated[bool, typer.Option("--jsonl", help="Write one JSON object per line to stdout.")]
WholeFileOpt = Annotated[bool, typer.Option(
    "--whole-file", help="An ABC file with several X: tunes is one piece, not one per tune.")]
JobsOpt = Annotated[Optional[int], typer.Option(
    "--jobs", "-j", min=1, help="Processes converting scores [default: the number of cores].")]
StdinScoreOpt = Annotated[Optional[str], typer.Option(
    "--stdin-score", metavar="FORMAT", autocompletion=values("abc", "musicxml", "mxl", "midi", "mtf", "krn", "mei"),
    help="Read one score from stdin, in FORMAT (abc, musicxml, mxl, midi, mtf, krn or mei); it is named - in "
         "the output. Without it, - means a list of paths on stdin.", show_default=False)]
LibraryOpt = Annotated[Optional[str], typer.Option(
    "--library", "-L", envvar="CLAMP_LIBRARY", show_default=False, metavar="LIBRARY",
    help="The library to read and fill: a name (in the cache's libraries/ folder) or a folder "
         "[default: one library per model in the cache].")]
NoUpdateOpt = Annotated[bool, typer.Option(
    "--no-update", "-N", help="Search the library as it stands: no walk, no file read; new files are not added.")]
UniqueOpt = Annotated[bool, typer.Option(
    "--unique", "-u", help="One result per content: identical files collapse into one, with a count of copies.")]


def _correction(value: str) -> str:
    from ..retrieval import CORRECTIONS

    if value not in CORRECTIONS:
        raise typer.BadParameter(f"{value!r}: one of {', '.join(CORRECTIONS)}")
    return value


CorrectOpt = Annotated[str, typer.Option(
    "--correct", metavar="HOW", callback=_correction, autocompletion=values("auto", "center", "none"),
    help="Hub-label correction before choosing: none, center (each label's cosines less its mean over the "
         "pieces labelled), or auto (center for 50 pieces or more).")]
NullOpt = Annotated[bool, typer.Option(
    "--null", "-0", help="The list of paths read from - is NUL-separated (find -print0), "
                         "and printed paths end in NUL (xargs -0).")]


Common = Settings      # the options every model-using command takes (app.Settings)


def _readable(message: str) -> str:
    """A message holding a file name that is not UTF-8: each such byte as \\xNN (one line, any terminal)."""
    return message.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class Reporter:
    """stderr messages, and the one count of what failed: every place named on an error line is one
    failed input, however many lines name it (exit code 1, and the summary's "failed").

    `counts` are what a command's summary line counts before "skipped" and "failed" (embed: embedded,
    cached); `summary` prints it, and so does `gather_inputs` (with zeros) when no input is left to
    read. With `always=False` (search, classify: their results are the answer) it is printed only
    when an input was skipped or failed.
    """

    def __init__(self, quiet: bool = False, counts: tuple[str, ...] = (), always: bool = True):
        self.quiet, self.counts, self.always = quiet, counts, always
        self._failed: dict[str, None] = {}      # places named on error lines, in order, each once
        self._unnamed = 0                       # error lines naming no place

    def error(self, where: str | Path | None, reason: str) -> None:
        if where is None:
            self._unnamed += 1
        else:
            self._failed.setdefault(str(where))
        prefix = f"{readable_name(where)}: " if where is not None else ""
        print(f"clamp: error: {prefix}{_readable(reason)}", file=sys.stderr, flush=True)

    @property
    def failed(self) -> int:
        """Inputs named on error lines (each once), plus error lines naming none."""
        return len(self._failed) + self._unnamed

    def summary(self, skipped: int, **done: int) -> None:
        """`embedded 3, cached 2, skipped 1, failed 1` (the counts given, 0 for those not given)."""
        if not self.counts or (not self.always and not skipped and not self.failed):
            return
        parts = [f"{name} {done.get(name, 0)}" for name in self.counts]
        if skipped and not self.always:     # said once per run where it is not the main summary
            parts.append(f"skipped {skipped} file(s) with other extensions ({READABLE})")
        else:
            parts.append(f"skipped {skipped}")
        self.note(", ".join(parts + [f"failed {self.failed}"]))

    def note(self, message: str) -> None:
        if not self.quiet:
            print(f"clamp: {_readable(message)}", file=sys.stderr, flush=True)

    def warn(self, message: str) -> None:
        print(f"clamp: warning: {_readable(message)}", file=sys.stderr, flush=True)

    @property
    def exit_code(self) -> int:
        return EXIT_SOME_FAILED if self.failed else EXIT_OK


READABLE = "clamp reads ABC, MTF, MusicXML, MIDI, Humdrum, MEI, .txt, recordings (WAV, MP3, FLAC, OGG, Opus, M4A) and .npy"


class _Interrupts:
    """Remembers a Ctrl-C even when a library turns the KeyboardInterrupt into another error
    (an extension module interrupted while it initialises raises ImportError, for one)."""

    seen = False

    @classmethod
    def handler(cls, signum, frame):
        cls.seen = True
        raise KeyboardInterrupt


def handle_errors(func):
    """Turn clamp's exceptions into one line on stderr and the documented exit code."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        import signal
        import threading

        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, _Interrupts.handler) if main else None
        _Interrupts.seen = False
        try:
            code = func(*args, **kwargs)
        except ClampError as exc:
            if not isinstance(exc, Reported):
                print(f"clamp: error: {exc}", file=sys.stderr, flush=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            print("clamp: interrupted", file=sys.stderr, flush=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except BrokenPipeError:
            # e.g. `clamp search ... | head -1`: the reader left; not an error of ours
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(EXIT_OK) from None
        except Exception as exc:
            if _Interrupts.seen:
                print("clamp: interrupted", file=sys.stderr, flush=True)
                raise typer.Exit(EXIT_INTERRUPTED) from None
            reason = disk_reason(exc)
            if reason is None:
                raise
            # a full disk or an I/O error where no writer named its place (each names it: errors.StorageError)
            where = getattr(exc, "filename", None) or ("a database" if type(exc).__module__ == "sqlite3" else "a write")
            print(f"clamp: error: {os.fsdecode(where)}: {reason}", file=sys.stderr, flush=True)
            raise typer.Exit(EXIT_SOME_FAILED) from None
        finally:
            if main:
                signal.signal(signal.SIGINT, previous)
            _close_opened()
        raise typer.Exit(code or EXIT_OK)

    return wrapper


OUTPUT_FORMATS = ("table", "json", "jsonl", "paths", "files")
RECORD_FORMATS = ("table", "json", "jsonl")


def output_format(fmt: str | None, as_json: bool, as_jsonl: bool, paths_only: bool = False,
                  allowed: tuple[str, ...] = OUTPUT_FORMATS) -> str:
    chosen = [name for flag, name in ((as_json, "json"), (as_jsonl, "jsonl"), (paths_only, "paths")) if flag]
    if fmt:
        if fmt not in allowed:
            raise UsageError(f"--format must be {', '.join(allowed[:-1])} or {allowed[-1]}, not '{fmt}'")
        chosen.append(fmt)
    if len(set(chosen)) > 1:
        raise UsageError("choose one output format (--json, --jsonl, --paths-only or --format)")
    if chosen:
        return chosen[0]
    return "table" if stdout_is_terminal() else "json"


def stdout_is_terminal() -> bool:
    """Whether results go to a terminal (a table) or a pipe (JSON); `clamp serve` answers for its client's."""
    return sys.stdout.isatty()


def emit_records(records: list[dict[str, Any]], fmt: str, columns: list[tuple[str, str]],
                 path_key: str = "path", null: bool = False) -> None:
    """Write results to stdout as a table, a JSON array, JSON lines or bare paths.

    "paths" prints each result's name (FILE#X for a tune of a multi-tune file, which every
    clamp command accepts back); "files" prints each file once, in rank order, for tools
    that want real paths (xargs ls). With `null` each ends in NUL instead of a newline.
    """
    with storage("stdout"):       # redirected to a full disk: one line, not a traceback
        _write_records(sys.stdout, records, fmt, columns, path_key, null)


def _write_records(out, records: list[dict[str, Any]], fmt: str, columns: list[tuple[str, str]],
                   path_key: str, null: bool) -> None:
    if fmt == "json":
        out.write(json.dumps([json_safe(rec) for rec in records], ensure_ascii=False, indent=2) + "\n")
    elif fmt == "jsonl":
        for rec in records:
            out.write(json.dumps(json_safe(rec), ensure_ascii=False) + "\n")
    elif fmt in ("paths", "files"):
        end = b"\0" if null else b"\n"
        names = [str(rec.get(path_key, rec.get("text", ""))) for rec in records]
        if fmt == "files":
            from ..formats.walk import split_piece_ref

            names = list(dict.fromkeys(str(split_piece_ref(n)[0]) for n in names))
        out.flush()
        binary = getattr(out, "buffer", None)
        for name in names:         # the exact bytes of each name: xargs finds the file whatever its name
            if binary is not None:
                binary.write(os.fsencode(name) + end)
            else:
                out.write(name + end.decode())
        if binary is not None:
            binary.flush()
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(box=None, header_style="bold", pad_edge=False)
        for _, title in columns:
            table.add_column(title, no_wrap=True)
        for rec in records:
            table.add_row(*(_cell(rec.get(key)) for key, _ in columns))
        # Rows are never folded: a path cut in the middle cannot be copied (a terminal wraps long lines).
        console = Console(file=io.StringIO(), highlight=False, width=10_000, **console_colour(out))
        console.print(table)
        out.write("".join(line.rstrip(" ") + "\n" for line in console.file.getvalue().splitlines()))
    out.flush()


def json_safe(record: dict[str, Any]) -> dict[str, Any]:
    """A record whose text fields hold a name that is not UTF-8 (bytes decoded with surrogateescape):
    the field shows it readably (each such byte as \\xNN), and FIELD_bytes gives its exact bytes in
    base64 (`jq -r .path_bytes | base64 -d`). JSON must be UTF-8; this keeps it so, reversibly."""
    out = None
    for key, value in record.items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                import base64

                out = dict(record) if out is None else out
                out[key] = readable_name(value)
                out[f"{key}_bytes"] = base64.b64encode(os.fsencode(value)).decode("ascii")
    return record if out is None else out


def console_colour(stream=None) -> dict[str, Any]:
    """Styles only on a terminal; NO_COLOR (no-color.org) turns off every escape, bold included."""
    if os.environ.get("NO_COLOR"):
        return {"color_system": None}
    return {} if stream is None else {"force_terminal": stream.isatty()}


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 or value.is_integer() else f"{value:.4f}"
    return "" if value is None else readable_name(str(value))


def progress_bar(total: int, label: str, quiet: bool, before: str | None = None):
    """A rich progress bar on stderr (silent when quiet or stderr is not a terminal).

    With `before` (what runs first: the cache or the library is checked) the bar is drawn only once
    there is work: when files are left after those found done, or when the check takes longer than
    a second (labelled `before` until then). A run that embeds nothing draws no bar at all.
    Where such a late bar cannot show, rich is not even imported (a warm search into a pipe).
    """
    if before is not None and not _bar_can_show(quiet):
        return contextlib.nullcontext(), _no_progress
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True, **console_colour())
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeRemainingColumn(), console=console, transient=True,
                        disable=quiet or not console.is_terminal)
    task = progress.add_task(before or label, total=total)
    if before is None:
        def advance(k: int) -> None:
            progress.update(task, advance=k, description=label)

        return progress, advance
    bar = _LateBar(progress, task, total, label)
    return bar, bar.advance


def _bar_can_show(quiet: bool) -> bool:
    """Whether rich would draw a bar on stderr (a terminal, or one forced by its variables)."""
    return not quiet and bool(sys.stderr.isatty() or os.environ.get("FORCE_COLOR") or os.environ.get("TTY_INTERACTIVE"))


def _no_progress(k: int) -> None:
    """The advance of a bar that is not drawn."""


class _LateBar:
    """A progress bar started only when there is something left to do (see progress_bar)."""

    WAIT = 1.0      # seconds of checking before the bar shows anyway

    def __init__(self, progress, task, total: int, label: str):
        import threading

        self.progress, self.task, self.total, self.label = progress, task, total, label
        self.done, self.started, self.lock = 0, False, threading.Lock()
        self.timer = threading.Timer(self.WAIT, self._start)
        self.timer.daemon = True

    def _start(self) -> None:
        with self.lock:
            if not self.started and self.done < self.total:
                self.started = True
                self.progress.start()

    def __enter__(self):
        self.timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.timer.cancel()
        with self.lock:
            if self.started:
                self.progress.stop()
            self.started = True      # a late timer never starts it now

    def advance(self, k: int) -> None:
        self.done += k
        first = not self.started and self.done < self.total
        self.progress.update(self.task, advance=k, description=self.label, refresh=self.started)
        if first:
            self._start()


def _loading(model: str) -> None:
    if sys.stderr.isatty():
        print(f"clamp: loading model {model}", file=sys.stderr, flush=True)


def open_encoder(common: Common, reporter: Reporter, kinds: frozenset[str] = frozenset()):
    """The model, loaded only when something is not in the cache (see app.open_encoder)."""
    from .. import app

    return app.open_encoder(app.with_library_model(common), kinds, reporter.note, None if common.quiet else _loading)


_OPENED: list = []      # databases a command opened: closed when it ends, not whenever the GC runs


def _close_opened() -> None:
    while _OPENED:
        try:
            _OPENED.pop().close()
        except Exception:       # noqa: BLE001 - closing at the end must not turn an answer into an error
            pass


def open_store(common: Common, reporter: Reporter):
    from .. import app

    store = app.open_store(common, reporter.warn)
    _OPENED.append(store)
    return store


def open_embedder(common: Common, reporter: Reporter, whole_file: bool = False, jobs: int | None = None,
                  inputs: Iterable[Path] = (), walks: Iterable = (), vectors: bool = False):
    """The model, the cache and the embedder over both: what embed, search and classify share.

    The .npy files of `walks` are then sorted by their shape against the model (cli.features): MERT
    features stay, feature vectors stay only with `vectors`, the rest is skipped with a notice."""
    from .. import app
    from ..formats.features import feature_size
    from .features import default_inputs, sort_npy

    embedder = app.open_embedder(app.with_library_model(common), default_inputs(inputs), whole_file, jobs, reporter.note,
                                 reporter.warn, None if common.quiet else _loading)
    _OPENED.append(embedder.store)
    for walk in walks:
        sort_npy(walk, reporter, feature_size(embedder.encoder), vectors)
    return embedder


def sync_files(collection, walk, reporter: Reporter, quiet: bool):
    """Bring a library up to date with the walked files, with a progress bar; each failure and
    warning on its own line (what search and `library update` share). Returns the SyncReport."""
    progress, advance = progress_bar(len(walk.files), "embedding", quiet, before="checking the library")
    with progress:
        report = collection.sync(walk.files, walk.dirs, on_progress=advance)
    report_sync(collection, report, walk.shown, reporter)
    return report


def sync_scan(collection, scan, kinds, reporter: Reporter, quiet: bool):
    """sync_files for a folder scan (formats.walk.Scan): returns (report, rows to rank, file keys)."""
    from ..index.library import path_key

    progress, advance = progress_bar(len(scan.keys), "embedding", quiet, before="checking the library")
    with progress:
        report, rows, keys = collection.sync_scan(scan, kinds, on_progress=advance)
    report_sync(collection, report, lambda p: scan.shown(path_key(p)), reporter)
    return report, rows, keys


def report_sync(collection, report, shown, reporter: Reporter) -> None:
    """A sync's warnings and failures, each on its own line, and the library's notices."""
    for r in report.warned:
        for warning in r.warnings:
            reporter.warn(f"{piece_name(shown(r.path), r.item)}: {warning}")
    for r in report.failed:
        reporter.error(piece_name(shown(r.path), r.item), r.error or "failed")
    if report.skipped_readonly:
        reporter.note(f"{collection.library.dir}: library is read-only; {report.skipped_readonly} new, changed or "
                      "deleted file(s) not taken in (searching what it holds)")
    for notice in collection.embedder.store.notices:
        reporter.warn(notice)
    collection.embedder.store.notices.clear()


def _library_results(embedder, walk, advance, reporter: Reporter) -> list:
    from .. import app

    files = [f for f in walk.files if f != walk.stdin_file]     # a score from stdin is not a library's file
    collection = app.open_collection(Settings(cache_dir=embedder.store.dir), embedder, embedder.whole_file)
    with collection.library as lib:
        if not lib.writable:
            reporter.note(f"{lib.dir}: library is read-only; files not in it are embedded without it")
            return embedder.embed_files(walk.files, on_progress=advance)
        results = collection.results(files, walk.dirs, on_progress=advance)
    by_path: dict[Path, list] = {}
    for r in results:
        by_path.setdefault(r.path, []).append(r)
    if walk.stdin_file is not None:
        by_path[walk.stdin_file] = embedder.embed_files([walk.stdin_file])
    return [r for f in walk.files for r in by_path.get(f, ())]


def read_lines(path: Path) -> list[str]:
    """Non-empty, stripped lines of a UTF-8 text file given to an option (labels, text keys).

    A missing, unreadable or empty one is a usage error (exit 2), as no labels at all are.
    """
    from ..formats import decode_text

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: {os_reason(exc)}") from None
    try:
        lines = [line.strip() for line in decode_text(data).splitlines()]
    except InputError as exc:
        raise UsageError(f"{path}: {exc}") from None
    lines = [line for line in lines if line]
    if not lines:
        raise UsageError(f"{path}: no text lines")
    return lines


def gather_inputs(args: list[str], reporter: Reporter, what: str = "input", null: bool = False,
                  stdin_format: str | None = None, vectors: bool = False):
    """Expand paths; report the missing ones; fail when nothing readable is left. `vectors`: the
    command reads feature vectors, so the .npy files of folders `clamp embed -O` wrote are inputs."""
    from ..formats.walk import Walk, expand, stdin_score

    if stdin_format is not None:
        suffix = stdin_suffix(stdin_format)
        if null:
            raise UsageError("--stdin-score reads a score from stdin; -0 is for a list of paths there")
        args = [a for a in args if a != "-"]
    elif not args:
        raise UsageError(f"no {what} given (files, directories, globs, or - for a list on stdin)")
    walk = expand(args, null=null, features_too=vectors) if args else Walk()
    if stdin_format is not None:
        stdin_score(walk, suffix, sys.stdin.buffer, private_dir())
    _check_found(len(walk.files), walk.problems, walk.skipped, args, what, reporter)
    return walk


def gather_folders(args: list[str], reporter: Reporter, what: str = "input", unless_kinds: tuple[str, ...] = ()):
    """`gather_inputs` for arguments that are all folders, as a formats.walk.Scan (no Path object
    per file: what a search over a large library needs); None when some argument is not a folder,
    or a file of one of `unless_kinds` is found (nothing reported then: the general walk will)."""
    from ..formats.walk import scan

    found = scan(args)
    if found is None or any(kind in found.kinds for kind in unless_kinds):
        return None
    _check_found(len(found.keys), found.problems, found.skipped, args, what, reporter)
    return found


def _check_found(count: int, problems, skipped: int, args, what: str, reporter: Reporter) -> None:
    """Report the walk's problems; fail when nothing readable is left."""
    from ..formats import SUFFIX_FORMAT

    for where, reason in problems:
        reporter.error(where, reason)
    if not count and problems:
        reporter.summary(skipped)                   # nothing read: each problem counted as failed
        raise Reported("nothing else to read")     # each problem is already a line; no second, vaguer one
    if not count:
        extra = f" ({skipped} file(s) with other extensions skipped)" if skipped else ""
        raise InputError(f"no {what} files clamp can read in {', '.join(args)}{extra}; "
                         "readable: " + ", ".join(sorted(SUFFIX_FORMAT)))


def stdin_suffix(stdin_format: str) -> str:
    """--stdin-score FORMAT -> the file suffix of that score format (a usage error for another)."""
    from ..formats import MUSIC_FORMATS, SUFFIX_FORMAT

    suffix = "." + stdin_format.lower().lstrip(".")
    if SUFFIX_FORMAT.get(suffix) not in MUSIC_FORMATS:
        raise UsageError(f"--stdin-score takes a score format (abc, musicxml, mxl, midi, mtf, krn, mei), "
                         f"not '{stdin_format}'")
    return suffix


def private_dir() -> Path:
    """A temporary folder only this user can read, removed when the process exits."""
    import atexit
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="clamp-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def note_skipped(reporter: Reporter, walk) -> None:
    """map says what it left out, as embed's summary does."""
    if walk is not None and walk.skipped:
        reporter.note(f"skipped {walk.skipped} file(s) with other extensions ({READABLE})")


def wanted_pieces(walk, pieces: list, path_of, reporter: Reporter) -> list:
    """The pieces asked for: all of a file, or only the tunes named as FILE#X.

    A tune asked for that the file does not hold is one error line (FILE#X: reason); a file
    that could not be read at all keeps its own single error.
    """
    if not walk.items:
        return pieces
    by_path: dict[Path, list] = {}
    for p in pieces:
        by_path.setdefault(path_of(p), []).append(p)
    kept = []
    for path, found in by_path.items():
        unreadable = len(found) == 1 and found[0].item is None and found[0].error is not None
        if path not in walk.items or unreadable:
            kept += found
            continue
        kept += [p for p in found if p.item in walk.items[path]]
        have = {p.item for p in found}
        for item in walk.items[path]:
            if item not in have:
                hint = " (the file is read as one piece: name it without #)" if have == {None} else ""
                reporter.error(piece_name(path, item), f"no tune X:{item} in the file{hint}")
    return kept


def embed_files(embedder, walk, reporter: Reporter, quiet: bool, label: str = "embedding", library: bool = True):
    """The vectors of the walked files with a progress bar; each failure on its own line.

    With `library` they come through the model's default library (synced first: only new or
    changed files are read), as search's do; else straight from the embedder and its cache."""
    progress, advance = progress_bar(len(walk.files), label, quiet, before="checking the cache")
    with progress:
        if library:
            results = _library_results(embedder, walk, advance, reporter)
        else:
            results = embedder.embed_files(walk.files, on_progress=advance)
    results = wanted_pieces(walk, results, lambda r: r.path, reporter)
    for r in results:
        r.path = walk.shown(r.path)
    for r in results:
        for warning in r.warnings:
            reporter.warn(f"{r.name}: {warning}")
        if r.status == "failed":
            reporter.error(r.name, r.error or "failed")
    for notice in embedder.store.notices:
        reporter.warn(notice)
    embedder.store.notices.clear()
    return results
