"""`clamp classify`: zero-shot labels for pieces ("This piece is <>")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import Reported, UsageError
from .common import (
    DEFAULT_MODEL,
    RECORD_FORMATS,
    BackboneOpt,
    BatchOpt,
    CacheOpt,
    Common,
    CorrectOpt,
    DeviceOpt,
    JobsOpt,
    JsonlOpt,
    JsonOpt,
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
    read_lines,
)


@handle_errors
def classify(
    pieces: Annotated[Optional[list[str]], typer.Argument(
        metavar="PIECE", help="Pieces to label: files, directories, globs, or -.", show_default=False)] = None,
    labels_file: Annotated[Optional[Path], typer.Option("--labels", help="Labels, one per line.")] = None,
    label: Annotated[Optional[list[str]], typer.Option("--label", "-l", help="A label; repeatable.")] = None,
    prompt: Annotated[Optional[str], typer.Option(
        "--prompt", "-p", help="Template with <> where the label goes [default: the label alone].")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-n", min=1, help="Also list the K best labels.")] = 1,
    correct: CorrectOpt = "none",
    as_json: JsonOpt = False,
    as_jsonl: JsonlOpt = False,
    fmt: RecordFormatOpt = None,
    whole_file: WholeFileOpt = False,
    null: NullOpt = False,
    stdin_format: StdinScoreOpt = None,
    jobs: JobsOpt = None,
    model: ModelOpt = DEFAULT_MODEL,
    text_backbone: BackboneOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "fp32",
    batch_size: BatchOpt = None,
    cache_dir: CacheOpt = None,
    quiet: QuietOpt = False,
) -> int:
    """Label each piece with the best of the given labels (softmax of cosine x the model's scale)."""
    from ..retrieval.search import PLACEHOLDER, label_pieces

    fmt = output_format(fmt, as_json, as_jsonl, allowed=RECORD_FORMATS)
    reporter = Reporter(quiet, counts=("labelled",), always=False)
    labels = list(dict.fromkeys(list(label or []) + (read_lines(labels_file) if labels_file else [])))
    if len(labels) < 2:
        raise UsageError("give at least two labels (--labels FILE or --label L, repeated)")
    if prompt and PLACEHOLDER not in prompt:
        reporter.note(f"the prompt has no {PLACEHOLDER}: each label is appended after a space")
    walk = gather_inputs(pieces or [], reporter, "music", null, stdin_format)
    embedder = open_embedder(Common(model, text_backbone, device, batch_size, cache_dir, quiet, precision=precision),
                             reporter, whole_file, jobs, walk.files, walks=[walk])
    results = in_given_order(embed_files(embedder, walk, reporter, quiet), walk)
    if reporter.failed and all(r.vector is None for r in results):     # each failure is already a line
        reporter.summary(walk.skipped + len(walk.not_features))
        raise Reported("no piece could be embedded")
    labelled = label_pieces(results, labels, prompt, embedder, top_k, correct)
    emit_labels(labelled, fmt, top_k, embedder.encoder.model_id)
    reporter.summary(walk.skipped + len(walk.not_features), labelled=len(labelled))
    return reporter.exit_code


def in_given_order(results: list, walk) -> list:
    """Results in the order the pieces were given (`search -f` output piped in keeps its rank order):
    a tune named as FILE#X where it was named, the other pieces of a file where the file was."""
    first: dict[tuple, int] = {}
    for n, (path, item) in enumerate(walk.order):
        first.setdefault((walk.shown(path), item), n)
    return sorted(results, key=lambda r: first.get((r.path, r.item), first.get((r.path, None), -1)))  # -1: stdin


def emit_labels(labelled, fmt: str, top_k: int, model_id: str) -> None:
    records = []
    for item in labelled:
        best = item.best
        rec = {"path": item.key, "label": best.label, "probability": round(best.probability, 6),
               "score": round(best.score, 6), "model": model_id}
        if top_k > 1:
            rec["top"] = [{"label": t.label, "probability": round(t.probability, 6), "score": round(t.score, 6)}
                          for t in item.top]
        records.append(rec)
    columns = [("path", "path"), ("label", "label"), ("probability", "probability"), ("score", "score")]
    if top_k > 1 and fmt == "table":
        for rec in records:
            rec["others"] = ", ".join(f"{t['label']} {t['probability']:.3f}" for t in rec["top"][1:])
        columns.append(("others", "next"))
    emit_records(records, fmt, columns)
