"""`clamp embed`: fill the feature cache (and optionally write .npy files)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import UsageError
from .common import (
    DEFAULT_MODEL,
    BackboneOpt,
    BatchOpt,
    CacheOpt,
    Common,
    DeviceOpt,
    JobsOpt,
    JsonlOpt,
    JsonOpt,
    ModelOpt,
    NullOpt,
    QuietOpt,
    Reporter,
    StdinScoreOpt,
    WholeFileOpt,
    embed_files,
    emit_records,
    gather_inputs,
    handle_errors,
    open_embedder,
)


@handle_errors
def embed(
    paths: Annotated[list[str], typer.Argument(help="Files, directories, globs, or - to read paths from stdin.",
                                               show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="Also write one .npy of shape (1, D) per input here, mirroring the input tree.")] = None,
    as_json: JsonOpt = False,
    as_jsonl: JsonlOpt = False,
    whole_file: WholeFileOpt = False,
    null: NullOpt = False,
    stdin_format: StdinScoreOpt = None,
    jobs: JobsOpt = None,
    model: ModelOpt = DEFAULT_MODEL,
    text_backbone: BackboneOpt = None,
    device: DeviceOpt = "auto",
    batch_size: BatchOpt = None,
    cache_dir: CacheOpt = None,
    quiet: QuietOpt = False,
) -> int:
    """Embed scores (ABC, MTF, MusicXML, MIDI, Humdrum, MEI), text (.txt) and audio features (.npy)."""
    from ..index.export import check_npy_targets, write_npy

    if as_json and as_jsonl:
        raise UsageError("choose one of --json and --jsonl")
    reporter = Reporter(quiet)
    walk = gather_inputs(paths or [], reporter, null=null, stdin_format=stdin_format)
    if out is not None:
        check_npy_targets(walk.files, out, walk.relative)
    embedder = open_embedder(Common(model, text_backbone, device, batch_size, cache_dir, quiet), reporter,
                             whole_file, jobs)
    results = embed_files(embedder, walk, reporter, quiet)
    if out is not None:
        for target, reason in write_npy(results, out, walk.relative):
            reporter.error(target, reason)
    if as_json or as_jsonl:
        enc = embedder.encoder
        records = [{"path": r.name, "hash": r.key, "model": enc.model_id, "dim": enc.dim, "status": r.status}
                   for r in results if r.status != "failed"]
        emit_records(records, "json" if as_json else "jsonl", [])
    counts = {s: sum(r.status == s for r in results) for s in ("embedded", "cached", "failed")}
    reporter.note(f"embedded {counts['embedded']}, cached {counts['cached']}, skipped {walk.skipped}, "
                  f"failed {counts['failed'] + len(walk.problems)}")
    return reporter.exit_code
