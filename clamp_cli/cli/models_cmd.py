"""`clamp models`: the registry, downloads, and what a checkpoint holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import (
    RECORD_FORMATS,
    JsonOpt,
    QuietOpt,
    RecordFormatOpt,
    Reporter,
    emit_records,
    handle_errors,
    output_format,
    values,
)

app = typer.Typer(help="List, download and inspect models.", no_args_is_help=True)


@app.command("list")
@handle_errors
def list_models(as_json: JsonOpt = False, fmt: Annotated[Optional[str], typer.Option(
        "--format", autocompletion=values("table", "json", "jsonl", "paths"),
        help="table, json, jsonl or paths (the names) [default: table on a terminal, json otherwise].")] = None,
) -> int:
    """The registry: names, families, Hub repos, and what is already cached."""
    from ..models.pretrained import cached_size, registry

    fmt = output_format(fmt, as_json, False, allowed=("table", "json", "jsonl", "paths"))
    records = []
    for entry in registry().values():
        size = cached_size(entry)
        records.append({"name": entry.name, "family": entry.family, "hub_repo": entry.hub_repo or "(in the package)",
                        "cached": size is not None, "size_mb": round(size / 2**20, 1) if size else None,
                        "description": entry.description})
    emit_records(records, fmt, [("name", "name"), ("family", "family"), ("cached", "cached"),
                                ("size_mb", "MB"), ("hub_repo", "hub repo"), ("description", "description")],
                 path_key="name")
    return 0


@app.command("pull")
@handle_errors
def pull(names: Annotated[list[str], typer.Argument(metavar="NAME", help="Registry names.")],
         quiet: QuietOpt = False) -> int:
    """Download registry models into the Hugging Face cache; print their files' paths."""
    from ..errors import ModelUnavailableError
    from ..models.families import FAMILIES
    from ..models.mert import MERT_REPO, mert_cached
    from ..models.pretrained import download, get_entry

    entries = [get_entry(name) for name in dict.fromkeys(names)]    # every name checked before a download
    reporter = Reporter(quiet)
    for entry in entries:
        try:
            paths = download(entry)
        except ModelUnavailableError as exc:
            if FAMILIES[entry.family].audio:     # what audio also needs, so one retry fetches both
                raise ModelUnavailableError(f"{exc}; that also fetches MERT ({MERT_REPO}), the audio front end, "
                                            "missing too" if not mert_cached() else str(exc)) from None
            raise
        reporter.note(f"{entry.name}: cached")
        for path in paths.values():
            print(path, flush=True)
        if FAMILIES[entry.family].audio:         # audio needs MERT in front of CLaMP 3's audio encoder
            from ..models.mert import mert_dir

            reporter.note(f"MERT (for audio): cached in {mert_dir(download=True)}")
    return 0


@app.command("info")
@handle_errors
def info(name_or_path: Annotated[str, typer.Argument(metavar="NAME_OR_PATH", help="Registry name or checkpoint path.")],
         as_json: JsonOpt = False, fmt: RecordFormatOpt = None) -> int:
    """The layout clamp infers from a checkpoint: family, sizes, parameters."""
    from ..errors import ModelUnavailableError
    from ..models.factory import infer_layout, locate
    from ..models.pretrained import get_entry, registry

    fmt = output_format(fmt, as_json, False, allowed=RECORD_FORMATS)
    record: dict = {}
    if name_or_path in registry():
        entry = get_entry(name_or_path)
        record.update(name=entry.name, hub_repo=entry.hub_repo, weights=entry.weights,
                      text_backbone=entry.text_backbone)
        from ..models.pretrained import cached_size
        if cached_size(entry) is None:
            raise ModelUnavailableError(f"model '{entry.name}' is not cached: `clamp models pull {entry.name}` "
                                        "downloads it; its layout is read from the weights")
    record.update(infer_layout(locate(name_or_path)))
    if fmt in ("json", "jsonl"):
        emit_records([record] if fmt == "json" else [record], fmt, [])
    else:
        rows = [{"key": k, "value": v} for k, v in record.items()]
        emit_records(rows, "table", [("key", "key"), ("value", "value")])
    return 0


@app.command("random")
@handle_errors
def random_model(
    out_dir: Annotated[Path, typer.Argument(metavar="DIR", help="Directory to create.")],
    family: Annotated[str, typer.Option(help="clamp1, clamp2 or clamp3.",
                                                  autocompletion=values("clamp1", "clamp2", "clamp3"))] = "clamp3",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Replace DIR if it exists and is not empty.")] = False,
    quiet: QuietOpt = False,
) -> int:
    """Write a tiny random model (self-contained, offline) for trying clamp out.

    Its rankings are meaningless: it exercises the whole pipeline, nothing more.
    """
    import tempfile

    from ..errors import UsageError
    from .outputs import check_folder

    if family not in ("clamp1", "clamp2", "clamp3"):
        raise UsageError("--family must be clamp1, clamp2 or clamp3")
    check_folder(out_dir, force=force, what="model folder")      # before torch is loaded: a refusal is quick

    from ..models.families import FAMILIES
    from ..models.random_init import build_text_backbone, make_random_checkpoint
    with tempfile.TemporaryDirectory() as tmp:
        model_type = FAMILIES[family].text_model_type
        backbone = build_text_backbone(Path(tmp) / "backbone", model_type=model_type)
        make_random_checkpoint(family, out_dir, backbone, seed=seed, layout="ours")
    Reporter(quiet).note(f"wrote a random {family} model to {out_dir} (meaningless rankings; for trying clamp)")
    print(out_dir)
    return 0
