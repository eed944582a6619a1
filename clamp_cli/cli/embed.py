"""`clamp embed`: fill the feature cache (and optionally write .npy files)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import (
    DEFAULT_MODEL,
    RECORD_FORMATS,
    BackboneOpt,
    BatchOpt,
    CacheOpt,
    Common,
    DeviceOpt,
    JobsOpt,
    JsonlOpt,
    JsonOpt,
    LibraryOpt,
    ModelOpt,
    NullOpt,
    PrecisionOpt,
    QuietOpt,
    RecordFormatOpt,
    Reporter,
    StdinScoreOpt,
    WholeFileOpt,
    embed_files,
    emit_records,
    gather_inputs,
    handle_errors,
    open_embedder,
    output_format,
)


@handle_errors
def embed(
    paths: Annotated[list[str], typer.Argument(metavar="PATH", help="Files, directories, globs, or - to read paths from stdin.",
                                               show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out-dir", "-O", "--out", help="Also write one .npy of shape (1, D) per input here, mirroring the input tree.")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace .npy files that already exist under --out-dir (never an input).")] = False,
    as_json: JsonOpt = False,
    as_jsonl: JsonlOpt = False,
    fmt_given: RecordFormatOpt = None,
    whole_file: WholeFileOpt = False,
    null: NullOpt = False,
    stdin_format: StdinScoreOpt = None,
    jobs: JobsOpt = None,
    library: LibraryOpt = None,
    model: ModelOpt = DEFAULT_MODEL,
    text_backbone: BackboneOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "fp32",
    batch_size: BatchOpt = None,
    cache_dir: CacheOpt = None,
    quiet: QuietOpt = False,
) -> int:
    """Embed scores (ABC, MTF, MusicXML, MIDI, Humdrum, MEI), text (.txt), recordings and MERT features (.npy)."""
    from ..index.export import check_npy_targets, write_npy

    fmt = output_format(fmt_given, as_json, as_jsonl, allowed=RECORD_FORMATS)
    if fmt == "table" and not (as_json or as_jsonl or fmt_given):
        fmt = None       # on a terminal the summary on stderr says it all; a pipe gets JSON
    reporter = Reporter(quiet, counts=("embedded", "cached"))
    walk = gather_inputs(paths or [], reporter, null=null, stdin_format=stdin_format)
    settings = Common(model, text_backbone, device, batch_size, cache_dir, quiet, library, precision=precision)
    embedder = open_embedder(settings, reporter, whole_file, jobs, walk.files, walks=[walk])
    if out is not None:
        check_npy_targets(walk.files, out, walk.relative, force)
    results = embed_files(embedder, walk, reporter, quiet, library=False)    # -O writes the model's own vectors
    from .. import app
    from ..index.collection import Collection, record

    with app.open_collection(settings, embedder, whole_file).library as lib:
        if lib.writable:
            record(Collection(lib, embedder), [r for r in results if r.path != walk.stdin_file], walk.dirs)
        elif not embedder.store.readonly:       # a read-only cache says so itself, when it has to
            reporter.note(f"{lib.dir}: library is read-only; the features went to the cache only")
    if out is not None:
        for r, target, reason in write_npy(results, out, walk.relative, force):
            reporter.error(target, reason)
            r.fail(reason)         # in the cache, but not where it was asked for: failed, as the line says
    if fmt:
        enc = embedder.encoder
        records = [{"path": r.name, "hash": r.key, "model": enc.model_id, "dim": enc.dim, "status": r.status}
                   for r in results if r.status != "failed"]
        emit_records(records, fmt, [("path", "path"), ("status", "status"), ("hash", "hash")])
    reporter.summary(walk.skipped + len(walk.not_features),
                     **{s: sum(r.status == s for r in results) for s in ("embedded", "cached")})
    return reporter.exit_code
