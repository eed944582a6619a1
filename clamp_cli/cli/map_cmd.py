"""`clamp map`: a 2-D picture of the embedding space, for a slide or a first look at a collection."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import InputError, UsageError
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
    NullOpt,
    PrecisionOpt,
    QuietOpt,
    RecordFormatOpt,
    Reporter,
    WholeFileOpt,
    emit_records,
    gather_inputs,
    handle_errors,
    note_skipped,
    output_format,
)
from .evaluate import item_sets_embedder, model_of, vector_width
from .features import item_results


def pca_2d(vectors):
    """The first two principal components of unit vectors (signs fixed, so a rerun draws the same map)."""
    import numpy as np

    x = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    x = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    comps = vt[:2]
    signs = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])
    xy = x @ (comps * signs[:, None]).T
    total = float((s ** 2).sum())
    explained = ((s[:2] ** 2 / total).tolist() if total > 0 else []) + [0.0, 0.0]
    explained = explained[:2]
    if xy.shape[1] < 2:
        xy = np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))
    return xy, explained


@handle_errors
def map_cmd(
    paths: Annotated[Optional[list[str]], typer.Argument(
        metavar="PATH", help="Music, texts or .npy feature vectors: files, directories, globs, or -.", show_default=False)] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="The PNG to draw.")] = None,
    labels_from: Annotated[Optional[Path], typer.Option(
        "--labels-from", help="Colour by a CSV/TSV (id, label) or JSON file [default: by top-level folder].")] = None,
    annotate: Annotated[Optional[list[str]], typer.Option(
        "--annotate", "-a", help="Write this item's name beside its point (an id, a file name or a "
                                 "unique part of one); repeatable.")] = None,
    size: Annotated[str, typer.Option("--size", help="The PNG's size in pixels.")] = "1200x900",
    title: Annotated[str, typer.Option("--title", help="A title for the picture.")] = "",
    as_json: JsonOpt = False,
    fmt: RecordFormatOpt = None,
    whole_file: WholeFileOpt = False,
    null: NullOpt = False,
    jobs: JobsOpt = None,
    model: ModelOpt = DEFAULT_MODEL,
    text_backbone: BackboneOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "fp32",
    batch_size: BatchOpt = None,
    cache_dir: CacheOpt = None,
    quiet: QuietOpt = False,
) -> int:
    """A 2-D map (PCA) of the pieces' embeddings, coloured by folder or label, as a PNG and/or
    coordinates (--json)."""
    import numpy as np

    from ..retrieval.evaluate import item_id
    from ..retrieval.labels import attach, labels_from_table
    from .common import read_lines
    from .plots import map_png, parse_size

    png_size = parse_size(size)
    wants_records = as_json or fmt is not None or output is None
    fmt = output_format(fmt, as_json, False, allowed=RECORD_FORMATS) if wants_records else None
    table = labels_from_table("\n".join(read_lines(labels_from)), str(labels_from)) if labels_from else None
    reporter = Reporter(quiet)
    walk = gather_inputs(paths or [], reporter, "input", null, vectors=True)
    embedder = item_sets_embedder(model, text_backbone, device, batch_size, cache_dir, quiet, whole_file, jobs, precision,
                                  reporter, [walk])
    results = item_results(embedder, walk, reporter, quiet, vector_width(embedder, [walk]))
    if len(results) < 3:
        raise InputError(f"a map needs at least 3 items, {len(results)} could be embedded")
    ids, groups = [], []
    for r in results:
        rel = walk.relative(r.path)
        ids.append(item_id(rel, r.item))
        root = walk.roots.get(r.path, r.path.parent)
        groups.append(rel.parts[0] if len(rel.parts) > 1 else (root.name or str(root)))
    if table is not None:
        rows, labels, missing = attach(ids, table)
        if missing:
            reporter.note(f"{len(missing)} item(s) without a label drawn as 'unlabelled'")
        groups = ["unlabelled"] * len(ids)
        for row, label in zip(rows, labels):
            groups[row] = label
    xy, explained = pca_2d(np.stack([r.vector for r in results]).astype(np.float64))
    names = {}
    for wanted in annotate or []:
        found = [i for i, (item, r) in enumerate(zip(ids, results)) if wanted in (item, r.name, r.path.name)]
        found = found or [i for i, item in enumerate(ids) if wanted in item]
        if len(found) != 1:
            raise UsageError(f"--annotate {wanted}: {'no item' if not found else f'{len(found)} items'} match")
        names[found[0]] = ids[found[0]].rsplit("/", 1)[-1]
    model_id = model_of(embedder)
    if output is not None:
        what = f"{model_id} embeddings" if model_id else "feature vectors"
        axes = f"PCA of {what}"      # each axis says its share of the variance
        map_png(output, xy, groups, names, png_size, title or axes, explained)
    if fmt:
        emit_records([{"path": r.name, "id": i, "group": g, "x": round(float(p[0]), 6), "y": round(float(p[1]), 6),
                       "model": model_id} for r, i, g, p in zip(results, ids, groups, xy)], fmt,
                     [("path", "path"), ("group", "group"), ("x", "x"), ("y", "y")])
    note_skipped(reporter, walk)
    return reporter.exit_code
