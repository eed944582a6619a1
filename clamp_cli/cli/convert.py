"""`clamp convert`: scores to the models' text formats (and back), in parallel."""

from __future__ import annotations

import sys
from contextlib import closing
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import InputError, UsageError
from ..formats.walk import piece_name
from ..fsutil import os_reason
from ..models.families import FAMILIES
from .common import JobsOpt, NullOpt, QuietOpt, Reporter, StdinScoreOpt, gather_inputs, handle_errors, progress_bar, values, wanted_pieces


@handle_errors
def convert(
    inputs: Annotated[Optional[list[str]], typer.Argument(
        metavar="SCORE", help="Scores: files, directories, globs, or - to read paths from stdin.", show_default=False)] = None,
    to: Annotated[str, typer.Option("--to", autocompletion=values("abc", "iabc", "mtf", "musicxml", "midi", "mert"),
        help="abc, iabc (interleaved ABC), mtf, musicxml, midi; or mert: a recording's MERT features (.npy, "
             "the CLaMP 3 authors' layout).")] = "iabc",
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", help="Output file for a single input; - for stdout.")] = None,
    out_dir: Annotated[Optional[Path], typer.Option(
        "--out-dir", "-O", help="Write converted files here, mirroring the input tree.")] = None,
    family: Annotated[str, typer.Option(
        "--family", autocompletion=values("clamp1", "clamp2", "clamp3"),
        help="Whose xml2abc options for --to abc: clamp1 (-m 2 -c 6 -x + header filter) or clamp2/clamp3 (-d 8 -x).",
    )] = "clamp3",
    full: Annotated[bool, typer.Option(
        "--full", help="MTF with every MIDI message (default: the M3-compatible subset used for embedding).")] = False,
    whole_file: Annotated[bool, typer.Option(
        "--whole-file", help="Write the tunes of a multi-tune ABC file into one output, not one file per tune.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace outputs that already exist (never an input).")] = False,
    null: NullOpt = False,
    stdin_format: StdinScoreOpt = None,
    jobs: JobsOpt = None,
    quiet: QuietOpt = False,
) -> int:
    """Convert scores between ABC, interleaved ABC, MTF, MusicXML and MIDI (Humdrum, MEI in)."""
    from ..formats.convert import BINARY_TARGETS, conversion_crashed, convert_path, limit_hit
    from ..formats.limits import conversion_limits
    from ..formats.output import ConvertOutput
    from ..formats.pool import map_files

    _check_options(to, family, output, out_dir, whole_file)
    reporter = Reporter(quiet, counts=("converted",))
    walk = gather_inputs(inputs or [], reporter, "score", null, stdin_format)
    from ..formats import kind_of

    wanted = ("recording",) if to == "mert" else ("music",)
    files = [f for f in walk.files if kind_of(f) in wanted]
    walk.skipped += len(walk.files) - len(files)
    if not files:
        what = "recordings to convert (--to mert reads audio files)" if to == "mert" else \
            "scores to convert (convert reads scores, not .txt, .npy or recordings)"
        raise InputError(f"no {what} in {', '.join(inputs or ['-'])} ({walk.skipped} file(s) skipped)")
    if not out_dir and len(files) > 1:
        raise UsageError(f"{len(files)} inputs: give --out-dir DIR (stdout and --output take one input)")
    sink = ConvertOutput(to, output=output, out_dir=out_dir, relative=walk.relative, whole_file=whole_file,
                         force=force)
    if sink.to_stdout and to in BINARY_TARGETS and sys.stdout.isatty():
        raise UsageError(f"{'MIDI is' if to == 'midi' else 'MERT features are'} binary: give --output FILE or redirect stdout")
    sink.check(files)
    if to == "mert":
        return _recordings_to_mert(files, walk, sink, reporter, quiet)
    converted = 0
    progress, advance = progress_bar(len(files), "converting", quiet)
    results = map_files(convert_path, [str(f) for f in files], jobs, to, FAMILIES[family].music_text, full,
                        on_crash=conversion_crashed, limits=conversion_limits(), on_limit=limit_hit)
    with progress, closing(results):      # a full disk (StorageError) stops the workers at once
        for path, pieces in results:
            advance(1)
            shown = walk.shown(Path(path))
            pieces = wanted_pieces(walk, pieces, lambda _, file=Path(path): file, reporter)
            report_pieces(reporter, shown, pieces)
            try:
                documents = sink.documents(Path(path), [p for p in pieces if p.error is None])
            except InputError as exc:
                reporter.error(shown, str(exc))
                continue
            for item, data in documents:
                try:
                    sink.write(Path(path), item, data)
                    converted += 1
                except OSError as exc:
                    reporter.error(piece_name(shown, item), f"cannot write ({os_reason(exc)})")
    reporter.summary(walk.skipped, converted=converted)
    return reporter.exit_code


def _recordings_to_mert(files, walk, sink, reporter: Reporter, quiet: bool) -> int:
    """Recordings -> (1, W, 768) MERT features, in this process (the model is loaded once)."""
    import io

    import numpy as np

    from ..formats.audio import load_recording
    from ..formats.reading import read_input
    from ..models.mert import MertExtractor, mert_dir

    mert = MertExtractor(mert_dir())
    converted = 0
    progress, advance = progress_bar(len(files), "extracting MERT features", quiet)
    with progress:
        for path in files:
            shown = walk.shown(path)
            try:
                features = mert.features(load_recording(read_input(path, "recording")[1]))
                buf = io.BytesIO()
                np.save(buf, features)
                sink.write(path, None, buf.getvalue())
                converted += 1
            except InputError as exc:
                reporter.error(shown, str(exc))
            except OSError as exc:
                reporter.error(shown, os_reason(exc))
            advance(1)
    reporter.summary(walk.skipped, converted=converted)
    return reporter.exit_code


def _check_options(to: str, family: str, output: str | None, out_dir: Path | None, whole_file: bool) -> None:
    from ..formats.convert import TARGETS
    from ..formats.output import ONE_SCORE_TARGETS

    if to not in TARGETS:
        raise UsageError(f"--to must be one of {', '.join(TARGETS)}, not '{to}'")
    if family not in FAMILIES or FAMILIES[family].text_encoder != "transformer":
        raise UsageError("--family must be clamp1, clamp2 or clamp3")
    if to == "iabc" and FAMILIES[family].music_text != "interleaved":
        raise UsageError("interleaved ABC is CLaMP 2/3's format; CLaMP 1 reads --to abc --family clamp1")
    if output and out_dir:
        raise UsageError("give --output FILE or --out-dir DIR, not both")
    if whole_file and to in ONE_SCORE_TARGETS:
        raise UsageError(f"--whole-file joins the tunes of a file into one ABC tune book; {to} holds one score "
                         "per file (without --whole-file each tune gets its own file)")


def report_pieces(reporter: Reporter, path: Path, pieces) -> None:
    """Warnings and errors of one input's pieces on stderr (the reporter counts the failures)."""
    for p in pieces:
        name = piece_name(path, p.item)
        for w in p.warnings:
            reporter.warn(f"{name}: {w}")
        if p.error:
            reporter.error(name, p.error)
