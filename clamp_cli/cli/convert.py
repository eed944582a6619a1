"""`clamp convert`: scores to the models' text formats (and back), in parallel."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import UsageError
from .common import JobsOpt, QuietOpt, Reporter, gather_inputs, handle_errors, progress_bar


@handle_errors
def convert(
    inputs: Annotated[Optional[list[str]], typer.Argument(
        help="Scores: files, directories, globs, or - to read paths from stdin.", show_default=False)] = None,
    to: Annotated[str, typer.Option("--to", "-t", help="abc, iabc (interleaved ABC), mtf, musicxml or midi.")] = "iabc",
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", help="Output file for a single input; - for stdout.")] = None,
    out_dir: Annotated[Optional[Path], typer.Option(
        "--out-dir", "-O", help="Write converted files here, mirroring the input tree.")] = None,
    family: Annotated[str, typer.Option(
        "--family", help="Whose xml2abc options for --to abc: clamp1 (-m 2 -c 6 -x + header filter) "
                         "or clamp2/clamp3 (-d 8 -x).")] = "clamp3",
    full: Annotated[bool, typer.Option(
        "--full", help="MTF with every MIDI message (default: the M3-compatible subset used for embedding).")] = False,
    whole_file: Annotated[bool, typer.Option(
        "--whole-file", help="Write the tunes of a multi-tune ABC file into one output, not one file per tune.")] = False,
    jobs: JobsOpt = None,
    quiet: QuietOpt = False,
) -> int:
    """Convert scores between ABC, interleaved ABC, MTF, MusicXML and MIDI (Humdrum, MEI in)."""
    from ..formats.convert import BINARY_TARGETS, TARGETS, conversion_crashed, convert_path
    from ..formats.pool import map_files
    from ..index.store import atomic_write

    if to not in TARGETS:
        raise UsageError(f"--to must be one of {', '.join(TARGETS)}, not '{to}'")
    if family not in ("clamp1", "clamp2", "clamp3"):
        raise UsageError("--family must be clamp1, clamp2 or clamp3")
    if to == "iabc" and family == "clamp1":
        raise UsageError("interleaved ABC is CLaMP 2/3's format; CLaMP 1 reads --to abc --family clamp1")
    if output and out_dir:
        raise UsageError("give --output FILE or --out-dir DIR, not both")
    reporter = Reporter(quiet)
    walk = gather_inputs(inputs or [], reporter, "score")
    files = [f for f in walk.files if f.suffix.lower() not in (".txt", ".npy")]
    if len(files) != len(walk.files):
        walk.skipped += len(walk.files) - len(files)
    if not out_dir and len(files) > 1:
        raise UsageError("several inputs: give --out-dir DIR (or convert one file with --output)")
    to_stdout = not out_dir and (output in (None, "-"))
    if to_stdout and to in BINARY_TARGETS and sys.stdout.isatty():
        raise UsageError("MIDI is binary: give --output FILE or redirect stdout")

    converted = failed = 0
    progress, advance = progress_bar(len(files), "converting", quiet)
    with progress:
        flavour = "clamp1" if family == "clamp1" else None
        for path, results in map_files(convert_path, [str(f) for f in files], jobs, to, flavour, full,
                                       on_crash=conversion_crashed):
            advance(1)
            path = Path(path)
            good = [r for r in results if r.error is None]
            for r in results:
                name = f"{path}#{r.item}" if r.item else str(path)
                for w in r.warnings:
                    reporter.warn(f"{name}: {w}")
                if r.error:
                    reporter.error(name, r.error)
                    failed += 1
            if not good:
                continue
            if whole_file or to_stdout or output:
                docs = [(None, b"".join(r.data if r.data.endswith(b"\n") or to in BINARY_TARGETS
                                         else r.data + b"\n" for r in good))]
                if len(good) > 1 and to in BINARY_TARGETS | {"musicxml"}:
                    docs = [(r.item, r.data) for r in good]  # these formats hold one score per file
            else:
                docs = [(r.item, r.data) for r in good]
            for item, data in docs:
                if to_stdout:
                    sys.stdout.buffer.write(data)
                    sys.stdout.flush()
                    converted += 1
                    continue
                if output:
                    target = Path(output)
                    if item:
                        target = target.with_name(f"{target.stem}#{item}{target.suffix}")
                else:
                    rel = walk.relative(path)
                    target = out_dir / rel.with_name(rel.stem + (f"#{item}" if item else "") + TARGETS[to])
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    atomic_write(target, lambda f, d=data: f.write(d))
                    converted += 1
                except OSError as exc:
                    reporter.error(target, f"cannot write ({exc.strerror or exc})")
    reporter.note(f"converted {converted}, skipped {walk.skipped}, failed {failed + len(walk.missing)}")
    return reporter.exit_code
