"""`clamp embed`: fill the feature cache (and optionally write .npy files)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ..errors import UsageError
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
    progress_bar,
    wanted_pieces,
)

if TYPE_CHECKING:
    from ..index.ray_engine import ModelRef


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
    engine: Annotated[str, typer.Option(
        "--engine", envvar="CLAMP_ENGINE", metavar="ENGINE", autocompletion=lambda: ["local", "ray"],
        help="local (this process and its workers) or ray: scores converted and embedded on a Ray cluster "
             "(Ray Data), written as Parquet shards, imported into the library (needs clamp-cli[ray]).")] = "local",
    address: Annotated[Optional[str], typer.Option(
        "--address", metavar="ADDR", help="With --engine ray: the cluster to use (ray://host:10001, host:6379 or "
                                          "auto) [default: a local Ray instance, or $RAY_ADDRESS].")] = None,
    shards: Annotated[Optional[Path], typer.Option(
        "--shards", metavar="DIR", help="With --engine ray: keep the Parquet shards here (the library's interchange "
                                       "format) [default: a folder in the library, emptied as they are imported].")] = None,
    batch_size: BatchOpt = None,
    cache_dir: CacheOpt = None,
    quiet: QuietOpt = False,
) -> int:
    """Embed scores (ABC, MTF, MusicXML, MIDI, Humdrum, MEI), text (.txt), recordings and MERT features (.npy)."""
    from ..index.export import check_npy_targets, write_npy

    fmt = output_format(fmt_given, as_json, as_jsonl, allowed=RECORD_FORMATS)
    if engine not in ("local", "ray"):
        raise UsageError(f"--engine must be local or ray, not '{engine}'")
    if engine == "local" and (address or shards):
        raise UsageError(f"{'--address' if address else '--shards'} goes with --engine ray")
    if engine == "ray":
        from ..index.ray_engine import INSTALL, ray_available

        if not ray_available():
            raise UsageError(INSTALL)
    if fmt == "table" and not (as_json or as_jsonl or fmt_given):
        fmt = None       # on a terminal the summary on stderr says it all; a pipe gets JSON
    reporter = Reporter(quiet, counts=("embedded", "cached"))
    walk = gather_inputs(paths or [], reporter, null=null, stdin_format=stdin_format)
    settings = Common(model, text_backbone, device, batch_size, cache_dir, quiet, library, precision=precision)
    embedder = open_embedder(settings, reporter, whole_file, jobs, walk.files, walks=[walk])
    if out is not None:
        check_npy_targets(walk.files, out, walk.relative, force)
    from .. import app
    from ..index.collection import Collection, record

    if engine == "ray":
        results = embed_on_ray(settings, embedder, walk, reporter, whole_file, address, shards)
    else:
        results = embed_files(embedder, walk, reporter, quiet, library=False)    # -O writes the model's own vectors
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


def model_ref(settings: Common, embedder, inputs) -> "ModelRef":
    """What the workers load: the model the embedder was opened with (a library's own, or the
    default for these inputs, as app.open_embedder chose it), a local path made absolute (the
    workers' working folder is not ours)."""
    import os

    from .. import app
    from ..formats import kind_of
    from ..index.ray_engine import ModelRef
    from ..models.pretrained import registry
    from .features import default_inputs

    chosen = app.with_library_model(settings)
    name = chosen.model or app.default_model(frozenset(kind_of(f) for f in default_inputs(inputs)))

    def absolute(where: str | None) -> str | None:
        return os.path.abspath(where) if where and where not in registry() and os.path.exists(where) else where

    return ModelRef(absolute(name), absolute(chosen.text_backbone), chosen.device, chosen.precision, chosen.batch_size,
                    embedder.encoder.model_id, embedder.prep("music"))


def embed_on_ray(settings: Common, embedder, walk, reporter: Reporter, whole_file: bool, address: str | None,
                 shards: Path | None):
    """`embed --engine ray`: the scores through the cluster into the library (index.ray_engine); texts,
    recordings, feature files and a score read from stdin on this machine, as without it."""
    from .. import app
    from ..index.collection import Collection, record
    from ..index.ray_engine import ray_results

    scores = [p for p in walk.files if walk.kind(p) == "music" and p != walk.stdin_file]
    chosen = set(scores)
    others = [p for p in walk.files if p not in chosen]
    collection = app.open_collection(settings, embedder, whole_file)
    with collection.library as lib:
        if not lib.writable:
            raise UsageError(f"{lib.dir}: library is read-only; the Ray engine writes into it")
        folder = shards if shards is not None else lib.dir / "shards"
        ref = model_ref(settings, embedder, walk.files)
        by_path: dict = {}
        if scores:
            progress, advance = progress_bar(len(scores), "embedding on ray", settings.quiet, before="checking the library")
            def started(how: str) -> None:
                embedder._model_runs()          # the bundled-model notice, when it stands in
                reporter.note(f"ray: {how}")

            with progress:
                found, report = ray_results(collection, scores, walk.dirs, ref, folder, address, shards is not None,
                                            on_progress=advance, on_start=started)
            for where, reason in report.problems:
                reporter.error(where, reason)
            for r in wanted_pieces(walk, found, lambda r: r.path, reporter):
                by_path.setdefault(r.path, []).append(r)
        if others:
            local = embed_files(embedder, replace(walk, files=others), reporter, settings.quiet, library=False)
            record(Collection(lib, embedder), [r for r in local if r.path != walk.stdin_file])
            for r in local:
                by_path.setdefault(r.path, []).append(r)
    results = []
    for p in walk.files:
        results += by_path.get(p, [])
    for r in results:
        if r.path in chosen:
            r.path = walk.shown(r.path)
            for warning in r.warnings:
                reporter.warn(f"{r.name}: {warning}")
            if r.status == "failed":
                reporter.error(r.name, r.error or "failed")
    return results
