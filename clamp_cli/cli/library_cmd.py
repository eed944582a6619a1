"""`clamp library`: build, update, inspect, check, tune, import into and remove libraries."""

from __future__ import annotations

import os
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
    JsonOpt,
    ModelOpt,
    PrecisionOpt,
    QuietOpt,
    RecordFormatOpt,
    Reporter,
    WholeFileOpt,
    emit_records,
    gather_inputs,
    handle_errors,
    open_embedder,
    open_encoder,
    output_format,
    sync_files,
)

app = typer.Typer(help="Persistent libraries: one collection, one model, answers in milliseconds.",
                  no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(metavar="LIBRARY", help="A name (kept in the cache) or a folder.")]


def _open(name: str, cache_dir, readonly: bool = False):
    from .. import app as application
    from ..index.library import Library

    return Library(application.library_dir(Common(cache_dir=cache_dir), name), readonly=readonly)


@app.command("create")
@handle_errors
def create(
    name: NameArg,
    roots: Annotated[Optional[list[str]], typer.Argument(
        metavar="FOLDER", help="Folders (or files) the library holds; `clamp library update` walks them again.",
        show_default=False)] = None,
    ann_threshold: Annotated[int, typer.Option(
        "--ann-threshold", min=1, help="Pieces above which search uses the approximate index.")] = 200_000,
    whole_file: WholeFileOpt = False,
    jobs: JobsOpt = None,
    model: ModelOpt = DEFAULT_MODEL,
    text_backbone: BackboneOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "fp32",
    batch_size: BatchOpt = None,
    cache_dir: CacheOpt = None,
    quiet: QuietOpt = False,
) -> int:
    """Make a library for one model (and fill it from FOLDER...)."""
    from .. import app as application
    from ..index.library import Library

    reporter = Reporter(quiet)
    model_name = model or application.default_model(note=reporter.note)
    settings = Common(model_name, text_backbone, device, batch_size, cache_dir, quiet, precision=precision)
    directory = application.library_dir(settings, name)
    folders = [Path(r).expanduser().absolute() for r in roots or []]
    encoder = open_encoder(settings, reporter)
    lib = Library.create(directory, encoder.model_id, encoder.dim, whole_file=whole_file, roots=folders,
                         ann_threshold=ann_threshold, model_name=model_name)
    reporter.note(f"created {directory} (model {encoder.model_id}, dim {encoder.dim})")
    lib.close()
    if folders:
        return _update(name, [], jobs, Common(model_name, text_backbone, device, batch_size, cache_dir, quiet, name,
                                              precision=precision),
                       reporter)
    return reporter.exit_code


@app.command("update")
@handle_errors
def update(
    name: NameArg,
    add: Annotated[Optional[list[str]], typer.Option(
        "--add", help="Folders to hold from now on, besides the library's own.")] = None,
    no_ann: Annotated[bool, typer.Option("--no-ann", help="Leave the approximate index as it is.")] = False,
    jobs: JobsOpt = None,
    text_backbone: BackboneOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "fp32",
    batch_size: BatchOpt = None,
    cache_dir: CacheOpt = None,
    quiet: QuietOpt = False,
) -> int:
    """Walk the library's folders: add new and changed files, follow renames, drop deleted ones."""
    reporter = Reporter(quiet)
    settings = Common(None, text_backbone, device, batch_size, cache_dir, quiet, name, precision=precision)
    return _update(name, add or [], jobs, settings, reporter, no_ann)


def _update(name: str, add: list[str], jobs, settings, reporter: Reporter, no_ann: bool = False) -> int:
    from .. import app as application

    lib = _open(name, settings.cache_dir)
    if add:
        lib.set_roots([*lib.roots, *(Path(a).expanduser().absolute() for a in add)])
    roots = [str(r) for r in lib.roots]
    whole = lib.whole_file
    lib.close()
    if not roots:
        reporter.note(f"{name}: the library holds no folders (`clamp library update {name} --add DIR`)")
        return reporter.exit_code
    walk = gather_inputs(roots, reporter, "music")
    embedder = open_embedder(settings, reporter, whole, jobs, walk.files, walks=[walk])
    collection = application.open_collection(settings, embedder, whole)
    report = sync_files(collection, walk, reporter, settings.quiet)
    lib = collection.library
    work = None if no_ann else lib.needs_ann_work()
    if work:
        reporter.note(f"{'building' if work == 'build' else 'extending'} the approximate index "
                      f"({lib.rows} rows)")
        lib.update_ann()
    reporter.note(f"unchanged {report.unchanged}, added {report.added}, renamed or copied {report.renamed}, "
                  f"removed {report.removed}, embedded {report.embedded} piece(s), "
                  f"skipped {walk.skipped + len(walk.not_features)}, failed {reporter.failed}")
    lib.close()
    return reporter.exit_code


def _info_record(lib) -> dict:
    from ..index.library import SCHEMA_VERSION

    counts = lib.counts()
    ann = lib.ann_state
    size = sum(p.stat().st_size for p in lib.dir.iterdir() if p.is_file())
    return {"library": str(lib.dir), "model": lib.model_id, "model_name": lib.meta.get("model_name") or None,
            "dim": lib.dim, "whole_file": lib.whole_file, "roots": [str(r) for r in lib.roots],
            **counts, "kinds": lib.kinds, "search": "approximate" if ann else "exact",
            "ann": ann, "ann_threshold": lib.ann_threshold, "schema": SCHEMA_VERSION,
            "size_mb": round(size / 2**20, 1),
            "writable": os.access(lib.dir, os.W_OK) and os.access(lib.db_path, os.W_OK)}


@app.command("info")
@handle_errors
def info(name: NameArg, as_json: JsonOpt = False, fmt: RecordFormatOpt = None, cache_dir: CacheOpt = None) -> int:
    """What a library holds: model, files, contents, pieces, its index and its size."""
    fmt = output_format(fmt, as_json, False, allowed=RECORD_FORMATS)
    with _open(name, cache_dir, readonly=True) as lib:
        record = _info_record(lib)
    if fmt == "table":
        for key, value in record.items():
            print(f"{key:14} {value if value is not None else ''}")
    else:
        emit_records([record], fmt, [])
    return 0


@app.command("list")
@handle_errors
def list_libraries(as_json: JsonOpt = False, fmt: RecordFormatOpt = None, cache_dir: CacheOpt = None) -> int:
    """The libraries kept in the cache (named ones and each model's default one)."""
    from .. import app as application
    from ..index.library import Library

    fmt = output_format(fmt, as_json, False, allowed=RECORD_FORMATS)
    records = []
    for directory in application.list_libraries(Common(cache_dir=cache_dir)):
        with Library(directory, readonly=True) as lib:
            counts = lib.counts()
            records.append({"name": directory.name, "model": lib.model_id, "files": counts["files"],
                            "pieces": counts["pieces"], "search": "approximate" if lib.ann_state else "exact",
                            "library": str(directory)})
    emit_records(records, fmt, [("name", "name"), ("model", "model"), ("files", "files"), ("pieces", "pieces"),
                                ("search", "search")], path_key="library")
    return 0


@app.command("check")
@handle_errors
def check(name: NameArg, cache_dir: CacheOpt = None, quiet: QuietOpt = False) -> int:
    """Check the tables (SQLite's integrity check), the vector file and the row count; exit 1 on a problem."""
    reporter = Reporter(quiet)
    with _open(name, cache_dir, readonly=True) as lib:
        problems = lib.check()
        for problem in problems:
            reporter.error(lib.dir, problem)
        if not problems:
            reporter.note(f"{lib.dir}: ok ({lib.rows} rows)")
    return reporter.exit_code


@app.command("tune")
@handle_errors
def tune(
    name: NameArg,
    target: Annotated[float, typer.Option("--target", min=0.0, max=1.0, help="Recall@10 to reach.")] = 0.95,
    queries: Annotated[int, typer.Option("--queries", min=10, help="Sample of the library's own vectors.")] = 200,
    cache_dir: CacheOpt = None,
    quiet: QuietOpt = False,
) -> int:
    """Measure recall@10 of the approximate index against exact search on the library's vectors and
    raise the probe count until it reaches --target; the setting is recorded in the library."""
    reporter = Reporter(quiet)
    with _open(name, cache_dir) as lib:
        tried = lib.tune(target, queries)
    for nprobe, recall in tried:
        print(f"nprobe {nprobe}\trecall@10 {recall:.4f}")
    reporter.note(f"recorded nprobe {tried[-1][0]} (recall@10 {tried[-1][1]:.4f}, target {target})")
    return 0 if tried[-1][1] >= target else 1


@app.command("import")
@handle_errors
def import_features(
    name: NameArg,
    sources: Annotated[list[str], typer.Argument(
        metavar="SOURCE", help="Parquet shards (files or folders of *.parquet), or a folder of .npy features.")],
    scores: Annotated[Optional[Path], typer.Option(
        "--scores", help="The scores the .npy tree mirrors: vectors are filed under them.")] = None,
    kind: Annotated[str, typer.Option("--kind", help="What the .npy vectors are of: music, text or audio.")] = "music",
    cache_dir: CacheOpt = None,
    quiet: QuietOpt = False,
) -> int:
    """Add features computed elsewhere (`clamp embed -O`, the authors' scripts, the cluster engine)."""
    from ..errors import UsageError
    from ..index.imports import import_npy_tree, import_parquet

    reporter = Reporter(quiet)
    with _open(name, cache_dir) as lib:
        total_files = total_rows = 0
        for source in sources:
            path = Path(source).expanduser()
            shards = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
            if path.is_dir() and not shards:
                report = import_npy_tree(lib, path, scores, kind)
            elif path.exists():
                report = import_parquet(lib, shards)
            else:
                raise UsageError(f"{source}: no such file or directory")
            for where, reason in report.problems:
                reporter.error(where, reason)
            total_files += report.files
            total_rows += report.rows_added
        if lib.needs_ann_work():
            reporter.note("building the approximate index")
            lib.update_ann()
    reporter.note(f"imported {total_files} file(s), {total_rows} new row(s)")
    return reporter.exit_code


@app.command("remove")
@handle_errors
def remove(names: Annotated[list[str], typer.Argument(metavar="LIBRARY", help="Names or folders.")],
           cache_dir: CacheOpt = None, quiet: QuietOpt = False) -> int:
    """Delete libraries (only folders that are libraries; the feature cache is kept)."""
    import shutil

    from ..errors import ClampError

    reporter = Reporter(quiet)
    for name in names:
        try:
            lib = _open(name, cache_dir, readonly=True)
        except ClampError as exc:       # one line; the other names go on
            reporter.error(None, str(exc))
            continue
        directory = lib.dir
        lib.close()
        shutil.rmtree(directory)
        reporter.note(f"removed {directory}")
    return reporter.exit_code
