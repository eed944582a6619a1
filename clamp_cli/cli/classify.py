"""`clamp classify`: zero-shot labels for pieces ("This piece is <>")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import InputError, UsageError
from .common import (DEFAULT_MODEL, BackboneOpt, BatchOpt, CacheOpt, Common, DeviceOpt, FormatOpt, JobsOpt, JsonlOpt,
                     JsonOpt, ModelOpt, QuietOpt, Reporter, WholeFileOpt, embed_files, emit_records, gather_inputs,
                     handle_errors, open_embedder, output_format, read_lines)

PLACEHOLDER = "<>"


def label_prompts(labels: list[str], prompt: str | None) -> list[str]:
    """Fill the template; a template without "<>" gets the label appended after a space."""
    if not prompt:
        return list(labels)
    if PLACEHOLDER in prompt:
        return [prompt.replace(PLACEHOLDER, label) for label in labels]
    return [f"{prompt} {label}" for label in labels]


@handle_errors
def classify(
    pieces: Annotated[Optional[list[str]], typer.Argument(
        help="Pieces to label: files, directories, globs, or -.", show_default=False)] = None,
    labels_file: Annotated[Optional[Path], typer.Option("--labels", help="Labels, one per line.")] = None,
    label: Annotated[Optional[list[str]], typer.Option("--label", "-l", help="A label; repeatable.")] = None,
    prompt: Annotated[Optional[str], typer.Option(
        "--prompt", "-p", help="Template with <> where the label goes [default: the label alone].")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Also list the K best labels.")] = 1,
    as_json: JsonOpt = False,
    as_jsonl: JsonlOpt = False,
    fmt: FormatOpt = None,
    whole_file: WholeFileOpt = False,
    jobs: JobsOpt = None,
    model: ModelOpt = DEFAULT_MODEL,
    text_backbone: BackboneOpt = None,
    device: DeviceOpt = "auto",
    batch_size: BatchOpt = None,
    cache_dir: CacheOpt = None,
    quiet: QuietOpt = False,
) -> int:
    """Label each piece with the best of the given labels (softmax of cosine x the model's scale)."""
    from ..retrieval import zero_shot

    fmt = output_format(fmt, as_json, as_jsonl)
    if fmt == "paths":
        raise UsageError("classify prints labels: use table, json or jsonl")
    reporter = Reporter(quiet)
    labels = list(label or [])
    if labels_file:
        labels += read_lines(labels_file)
    labels = list(dict.fromkeys(labels))
    if len(labels) < 2:
        raise UsageError("give at least two labels (--labels FILE or --label L, repeated)")
    if prompt and PLACEHOLDER not in prompt:
        reporter.note(f"the prompt has no {PLACEHOLDER}: each label is appended after a space")
    walk = gather_inputs(pieces or [], reporter, "music")

    common = Common(model, text_backbone, device, batch_size, cache_dir, quiet)
    embedder = open_embedder(common, reporter, whole_file, jobs)
    encoder = embedder.encoder
    label_vecs = embedder.embed_strings(label_prompts(labels, prompt))
    results = [r for r in embed_files(embedder, walk.files, reporter, quiet) if r.vector is not None]
    if not results:
        raise InputError("no piece could be embedded")
    import numpy as np

    cos, probs = zero_shot(np.stack([r.vector for r in results]), label_vecs, encoder.logit_scale)
    k = min(top_k, len(labels))
    records = []
    for r, c, p in zip(results, cos, probs):
        order = np.lexsort((np.arange(len(labels)), -p))[:k]
        rec = {"path": r.name, "label": labels[order[0]], "probability": round(float(p[order[0]]), 6),
               "score": round(float(c[order[0]]), 6)}
        if top_k > 1:
            rec["top"] = [{"label": labels[j], "probability": round(float(p[j]), 6), "score": round(float(c[j]), 6)}
                          for j in order]
        records.append(rec)
    columns = [("path", "path"), ("label", "label"), ("probability", "probability"), ("score", "cosine")]
    if top_k > 1 and fmt == "table":
        for rec in records:
            rec["others"] = ", ".join(f"{t['label']} {t['probability']:.3f}" for t in rec["top"][1:])
        columns.append(("others", f"next {k - 1}"))
    emit_records(records, fmt, columns)
    return reporter.exit_code
