"""`clamp probe fit` / `clamp probe predict`: a linear classifier on frozen features."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import InputError
from .common import (
    DEFAULT_MODEL,
    RECORD_FORMATS,
    BackboneOpt,
    BatchOpt,
    CacheOpt,
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
    handle_errors,
    output_format,
    values,
)
from .evaluate import (
    emit_summary,
    gather_item_sets,
    item_sets_embedder,
    labelled_items,
    load_items,
    model_of,
    one_item_set,
)

app = typer.Typer(help="A linear probe on frozen features: fit on labelled pieces, predict new ones.",
                  no_args_is_help=True)


@app.command("fit")
@handle_errors
def fit(
    items: Annotated[Optional[list[str]], typer.Argument(
        metavar="PIECES", help="One folder (or file, glob) of music, texts or .npy feature vectors (as clamp "
                               "embed -O writes them).", show_default=False)] = None,
    labels_from: Annotated[str, typer.Option(
        "--labels-from", autocompletion=values("dirs", "prefix"),
        help="The labels: a CSV/TSV (id, label) or JSON file, dirs or prefix (as in clamp eval classify).")] = "dirs",
    output: Annotated[Path, typer.Option("--output", "-o", help="The probe to write (.safetensors).")] = Path("probe.safetensors"),
    force: Annotated[bool, typer.Option("--force", help="Replace the probe file if it exists (never an input).")] = False,
    val_share: Annotated[float, typer.Option("--val-share", min=0.05, max=0.5,
                                             help="Share of each class held out for validation.")] = 0.2,
    balanced: Annotated[bool, typer.Option("--balanced", help="Weigh classes inversely to their size.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split and the initialisation.")] = 0,
    allow_unmatched: Annotated[bool, typer.Option(
        "--allow-unmatched", help="Leave out items without a label instead of failing.")] = False,
    as_json: JsonOpt = False,
    fmt: RecordFormatOpt = None,
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
    """Train a softmax-regression probe (early stopping on the validation loss); print validation
    accuracy and macro-F1."""
    from ..retrieval.labels import PATH_SOURCES
    from ..retrieval.metrics import classification_metrics
    from ..retrieval.probe import fit_probe
    from .outputs import check_file

    fmt = output_format(fmt, as_json, False, allowed=RECORD_FORMATS)
    reporter = Reporter(quiet)
    sets = gather_item_sets(one_item_set(items, ": ids are paths below it"), reporter)
    inputs = [f for s in sets for f in ([s] if isinstance(s, Path) else s.files)]    # a JSONL of texts, or files
    check_file(output, force=force, inputs=inputs + ([] if labels_from in PATH_SOURCES else [Path(labels_from)]))
    embedder = item_sets_embedder(model, text_backbone, device, batch_size, cache_dir, quiet, whole_file, jobs, precision,
                                  reporter, sets)
    pieces, rows, labels = labelled_items(sets[0], labels_from, allow_unmatched, embedder, reporter, quiet)
    probe, val, predicted = fit_probe(pieces.vectors[rows], labels, model_of(embedder) or "", val_share=val_share,
                                      seed=seed, balanced=balanced)
    try:
        probe.save(output)
    except OSError as exc:
        raise InputError(f"{output}: cannot write ({exc.strerror or exc})") from None
    result = classification_metrics([labels[i] for i in val], [probe.labels[j] for j in predicted], probe.labels)
    emit_summary({"val_accuracy": round(result["accuracy"], 6), "val_macro_f1": round(result["macro_f1"], 6),
                  "train": len(rows) - len(val), "validation": len(val), "labels": probe.labels,
                  "probe": str(output), "model": probe.model_id or None}, fmt)
    return reporter.exit_code


@app.command("predict")
@handle_errors
def predict(
    items: Annotated[Optional[list[str]], typer.Argument(
        metavar="PIECES", help="One folder (or file, glob) of the same kind the probe was fitted on.",
        show_default=False)] = None,
    probe_path: Annotated[Path, typer.Option("--probe", help="A probe written by clamp probe fit.")] = Path(
        "probe.safetensors"),
    as_json: JsonOpt = False,
    fmt: RecordFormatOpt = None,
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
    """Label each piece with the probe's most probable class."""
    from ..retrieval.probe import Probe

    fmt = output_format(fmt, as_json, False, allowed=RECORD_FORMATS)
    probe = Probe.load(probe_path)
    reporter = Reporter(quiet)
    sets = gather_item_sets(one_item_set(items), reporter)
    embedder = item_sets_embedder(model, text_backbone, device, batch_size, cache_dir, quiet, whole_file, jobs, precision,
                                  reporter, sets)
    if embedder is not None and probe.model_id and embedder.encoder.model_id != probe.model_id:
        raise InputError(f"{probe_path}: fitted on features of {probe.model_id}, not {embedder.encoder.model_id}; "
                         f"pass --model for that model")
    pieces = load_items(sets[0], embedder, reporter, quiet)
    if not pieces.ids:
        raise InputError("no piece could be embedded")
    if pieces.vectors.shape[1] != probe.weight.shape[1]:
        raise InputError(f"{probe_path}: fitted on {probe.weight.shape[1]}-d features; these are "
                         f"{pieces.vectors.shape[1]}-d")
    probs = probe.probabilities(pieces.vectors)
    best = probs.argmax(axis=1)
    emit_records([{"id": i, "label": probe.labels[j], "probability": round(float(p[j]), 6)}
                  for i, j, p in zip(pieces.ids, best, probs)], fmt,
                 [("id", "id"), ("label", "label"), ("probability", "probability")])
    return reporter.exit_code
