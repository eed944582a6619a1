"""`clamp eval retrieval` and `clamp score`: the papers' numbers from two sets of items, one command each."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..errors import InputError, UsageError
from ..fsutil import os_reason
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
    output_format,
    values,
)

app = typer.Typer(help="Benchmarks: retrieval (MRR, Hit@K), zero-shot classification (accuracy, macro-F1) and "
                       "melody retrieval (MRR, MAP).",
                  no_args_is_help=True)

QueriesOpt = Annotated[str, typer.Option(
    "--queries", "-Q", help="Folder (or file, glob) of queries: texts (.txt), music of any format, .npy "
                            "feature vectors ((1, D), as clamp embed -O writes them) or MERT features; or a "
                            "JSONL of {\"id\", \"text\"}.")]
ReferencesOpt = Annotated[str, typer.Option(
    "--references", "-R", help="Folder (or file, glob) of references, in any of the same forms.")]
PairsOpt = Annotated[Optional[Path], typer.Option(
    "--pairs", help="Query id, reference id per line (TSV) or {\"query\", \"reference\"} (JSONL) "
                    "[default: equal ids: paths below each folder without extension, the authors' convention].")]
UnmatchedOpt = Annotated[bool, typer.Option(
    "--allow-unmatched", help="Drop queries without a reference (counted on stderr) instead of failing.")]


def gather_item_sets(args: list[str], reporter: Reporter) -> list:
    """Each item set read once, before the model is chosen: a JSONL of texts stays its path, anything
    else is walked (its problems reported; feature vectors are items too)."""
    return [Path(a) if Path(a).suffix.lower() == ".jsonl" and Path(a).is_file()
            else gather_inputs([a], reporter, vectors=True) for a in args]


def one_item_set(items: list[str] | None, why: str = "") -> list[str]:
    if len(items or []) != 1:
        raise UsageError(f"give one folder (or file, glob) of pieces{why}")
    return items


def item_sets_embedder(model, text_backbone, device, batch_size, cache_dir, quiet, whole_file, jobs, precision,
                       reporter,
                       item_sets: list = (), needs_model: bool = False):
    """The embedder for `item_sets` (from gather_item_sets): recordings among them make the default
    model the audio one, as for embed and search. None when no model is involved: every item is a
    feature vector, no --model is named and the command needs none (`needs_model`: label prompts)."""
    from .features import only_vectors, sort_npy

    walks = [s for s in item_sets if not isinstance(s, Path)]
    if model is None and not needs_model and len(walks) == len(item_sets) and only_vectors(walks):
        for walk in walks:
            sort_npy(walk, reporter, None, vectors=True)
        return None
    files = [f for w in walks for f in w.files]
    return open_embedder(Common(model, text_backbone, device, batch_size, cache_dir, quiet, precision=precision),
                         reporter, whole_file, jobs, files, walks=walks, vectors=True)


def vector_width(embedder, item_sets: list = ()):
    """What every feature vector read must match (cli.features.Width): the model's dimension if a
    model is involved, else the one most of the item sets' vectors have."""
    from .features import Width

    return Width(embedder.encoder if embedder is not None else None,
                 [s for s in item_sets if not isinstance(s, Path)])


def load_items(item_set, embedder, reporter: Reporter, quiet: bool, width=None):
    """One side of an evaluation (from gather_item_sets) as an ItemSet: ids from paths (or the JSONL's
    ids), vectors from the cache, or read as they are from feature vector files (`width` checks
    their dimension; one per command, so that both sides agree)."""
    import numpy as np

    from ..retrieval.evaluate import ItemSet, item_id
    from .features import item_results

    if isinstance(item_set, Path):
        ids, texts = _jsonl_texts(item_set)
        return ItemSet(ids, embedder.embed_strings(texts))
    walk = item_set
    width = width or vector_width(embedder, [walk])
    results = item_results(embedder, walk, reporter, quiet, width)
    ids = [item_id(walk.relative(r.path), r.item) for r in results]
    dim = width.dim or (embedder.encoder.dim if embedder is not None else 0)
    vectors = np.stack([r.vector for r in results]) if results else np.zeros((0, dim), np.float32)
    return ItemSet(ids, vectors)


def model_of(embedder) -> str | None:
    """The model id a result names; None when the items were feature vectors read as they are."""
    return embedder.encoder.model_id if embedder is not None else None


def _jsonl_texts(path: Path) -> tuple[list[str], list[str]]:
    ids, texts = [], []
    for n, line in enumerate(_lines(path), start=1):
        try:
            rec = json.loads(line)
            ids.append(str(rec["id"]))
            texts.append(str(rec["text"]))
        except (ValueError, KeyError, TypeError):
            raise UsageError(f"{path}: line {n} is not a JSON object with \"id\" and \"text\"") from None
        if not texts[-1].strip():
            raise UsageError(f"{path}: line {n} has an empty text")
    if not ids:
        raise UsageError(f"{path}: no items")
    return ids, texts


def _lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: {os_reason(exc) if isinstance(exc, OSError) else 'not UTF-8 text'}") from None
    return [line for line in text.splitlines() if line.strip()]


def read_pairs(path: Path) -> list[tuple[str, str]]:
    pairs = []
    for n, line in enumerate(_lines(path), start=1):
        if line.lstrip().startswith("{"):
            try:
                rec = json.loads(line)
                pairs.append((str(rec["query"]), str(rec["reference"])))
                continue
            except (ValueError, KeyError, TypeError):
                raise UsageError(f"{path}: line {n} is not a JSON object with \"query\" and \"reference\"") from None
        cells = line.rstrip("\r").split("\t")
        if len(cells) != 2:
            raise UsageError(f"{path}: line {n} needs two tab-separated ids (query, reference)")
        pairs.append((cells[0], cells[1]))
    return pairs


def emit_summary(summary: dict[str, Any], fmt: str) -> None:
    """One result object: a two-column table on a terminal, one JSON object otherwise."""
    if fmt == "table":
        emit_records([{"metric": k, "value": v} for k, v in summary.items() if not isinstance(v, (list, dict))],
                     "table", [("metric", "metric"), ("value", "value")])
    else:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False, indent=2 if fmt == "json" else None) + "\n")
        sys.stdout.flush()


def _matched(queries, references, pairs_file, allow_unmatched, reporter):
    from ..retrieval.evaluate import match

    qs, rs, unmatched = match(queries, references, read_pairs(pairs_file) if pairs_file else None, allow_unmatched)
    if unmatched:
        reporter.note(f"{len(unmatched)} quer{'y' if len(unmatched) == 1 else 'ies'} without a reference left out")
    return qs, rs


@app.command("retrieval")
@handle_errors
def retrieval(
    queries: QueriesOpt,
    references: ReferencesOpt,
    pairs: PairsOpt = None,
    hits: Annotated[Optional[list[int]], typer.Option(
        "--hits", min=1, help="K for Hit@K; repeatable [default: 1, 10, 100].")] = None,
    ties: Annotated[str, typer.Option(
        "--ties", autocompletion=values("pessimistic", "optimistic"),
        help="pessimistic: a query's rank is 1 + the references scoring at least as high as its own (ties count "
             "against it); optimistic: 1 + those scoring strictly higher, as the authors' clamp3_eval.py "
             "counts (it flatters models that give many references the same score).")] = "pessimistic",
    ranks_file: Annotated[Optional[Path], typer.Option(
        "--ranks", help="Also write each query's rank here (TSV: query, rank, its reference, the top one).")] = None,
    allow_unmatched: UnmatchedOpt = False,
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
    """MRR and Hit@K of each query finding its own reference among all references (text-to-music,
    music-to-text, music-to-music)."""
    from ..fsutil import atomic_write
    from ..retrieval.evaluate import evaluate_retrieval

    fmt = output_format(fmt, as_json, False, allowed=RECORD_FORMATS)
    if ties not in ("pessimistic", "optimistic"):
        raise UsageError(f"--ties must be pessimistic or optimistic, not '{ties}'")
    reporter = Reporter(quiet)
    sets = gather_item_sets([queries, references], reporter)
    embedder = item_sets_embedder(model, text_backbone, device, batch_size, cache_dir, quiet, whole_file, jobs, precision,
                                  reporter, sets)
    width = vector_width(embedder, sets)
    q = load_items(sets[0], embedder, reporter, quiet, width)
    r = load_items(sets[1], embedder, reporter, quiet, width)
    qs, rs = _matched(q, r, pairs, allow_unmatched, reporter)
    report = evaluate_retrieval(q, r, qs, rs, ties, sorted(set(hits)) if hits else (1, 10, 100))
    if ranks_file is not None:
        rows = "".join(f"{a}\t{b}\t{c}\t{d}\n" for a, b, c, d in zip(report.query_ids, report.ranks, report.correct,
                                                                      report.top))
        try:
            atomic_write(ranks_file, lambda f: f.write(rows.encode("utf-8")))
        except OSError as exc:
            raise InputError(f"{ranks_file}: cannot write ({os_reason(exc)})") from None
    summary = {**{k: round(v, 6) if isinstance(v, float) else v for k, v in report.metrics.items()},
               "ties": ties, "model": model_of(embedder)}
    emit_summary(summary, fmt)
    return reporter.exit_code


@handle_errors
def score(
    queries: QueriesOpt,
    references: ReferencesOpt,
    pairs: PairsOpt = None,
    group: Annotated[bool, typer.Option("--group", help="Only the cosine of the two sets' mean vectors.")] = False,
    fmd: Annotated[bool, typer.Option(
        "--fmd", help="The Fréchet distance between the two sets' feature distributions (like FID; "
                      "no pairing needed): e.g. generated music against a reference corpus.")] = False,
    outliers: Annotated[bool, typer.Option(
        "--outliers", help="Instead, each query's distance from the references' distribution (Mahalanobis, "
                           "shrunk covariance), farthest first: which generated pieces stray from the corpus.")] = False,
    allow_unmatched: UnmatchedOpt = False,
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
    """Similarity of matched pairs (each pair's cosine and their mean), of two sets (--group), or the
    distance between two sets (--fmd)."""
    from ..retrieval.evaluate import distance, score_pairs

    fmt = output_format(fmt, as_json, False, allowed=RECORD_FORMATS)
    if sum((group, fmd, outliers)) > 1:
        raise UsageError("choose one of --group, --fmd and --outliers")
    reporter = Reporter(quiet)
    sets = gather_item_sets([queries, references], reporter)
    embedder = item_sets_embedder(model, text_backbone, device, batch_size, cache_dir, quiet, whole_file, jobs, precision,
                                  reporter, sets)
    width = vector_width(embedder, sets)
    q = load_items(sets[0], embedder, reporter, quiet, width)
    r = load_items(sets[1], embedder, reporter, quiet, width)
    model_id = model_of(embedder)
    if outliers:
        import numpy as np

        from ..index.vectors import normalize
        from ..retrieval.metrics import outlier_scores

        if len(r.ids) < 2 or not q.ids:
            raise InputError("--outliers needs queries and at least 2 references")
        d = outlier_scores(normalize(q.vectors), normalize(r.vectors))
        emit_records([{"id": q.ids[i], "outlier": round(float(d[i]), 6), "model": model_id}
                      for i in np.argsort(-d, kind="stable")], fmt, [("id", "id"), ("outlier", "outlier")])
        return reporter.exit_code
    if fmd:
        result = distance(q, r)
        if not result["stable"]:
            reporter.warn(f"{min(result['queries'], result['references'])} items per set for {result['dim']} "
                          "dimensions: the covariance is singular and the distance unstable; compare only "
                          "distances computed on sets of the same sizes")
        emit_summary({**result, "model": model_id}, fmt)
        return reporter.exit_code
    from ..retrieval.metrics import group_cosine

    if group:
        emit_summary({"group": round(group_cosine(q.vectors, r.vectors), 6), "queries": len(q.ids),
                      "references": len(r.ids), "model": model_id}, fmt)
        return reporter.exit_code
    qs, rs = _matched(q, r, pairs, allow_unmatched, reporter)
    result = score_pairs(q, r, qs, rs)
    if fmt == "table":
        emit_records([{**p, "score": round(p["score"], 6)} for p in result["pairs"]], "table",
                     [("query", "query"), ("reference", "reference"), ("score", "score")])
        sys.stdout.write("\n")       # the figures themselves are results: on stdout, -q or not
        emit_summary({"mean": round(result["mean"], 6), "pairs": result["n"], "group": round(result["group"], 6)},
                     "table")
    else:
        emit_summary({**result, "model": model_id}, fmt)
    return reporter.exit_code


@app.command("melody")
@handle_errors
def melody_eval(
    references: ReferencesOpt,
    queries: Annotated[Optional[str], typer.Option(
        "--queries", "-Q", help="Folder (or file, glob) of query pieces (excerpts, variants, performances), each "
                                "finding its reference [default: with --families, each reference queries the rest].")] = None,
    families: Annotated[Optional[str], typer.Option(
        "--families", metavar="SOURCE", help="Tune families of the references: a CSV/TSV/JSON table (id, family), "
                                             "dirs or prefix (as eval classify's --labels-from); relevant = the "
                                             "same family.")] = None,
    pairs: PairsOpt = None,
    hits: Annotated[Optional[list[int]], typer.Option(
        "--hits", min=1, help="K for Hit@K; repeatable [default: 1, 10, 100].")] = None,
    mode: Annotated[str, typer.Option(
        "--mode", metavar="MODE", autocompletion=values("intervals", "contour", "exact"),
        help="intervals, contour or exact (as clamp melody).")] = "intervals",
    candidates: Annotated[int, typer.Option(
        "--candidates", min=1, help="Pieces aligned after the n-gram pass; one not among them counts as not "
                                    "found.")] = 200,
    allow_unmatched: UnmatchedOpt = False,
    as_json: JsonOpt = False,
    fmt: RecordFormatOpt = None,
    whole_file: WholeFileOpt = False,
    jobs: JobsOpt = None,
    cache_dir: CacheOpt = None,
    quiet: QuietOpt = False,
) -> int:
    """Melody retrieval as clamp melody ranks it: MRR and Hit@K of each query finding its reference,
    and MAP when relevance is a tune family."""
    import numpy as np

    from .. import app as application
    from ..retrieval.evaluate import ItemSet, item_id, match
    from ..retrieval.labels import PATH_SOURCES, attach, labels_from_paths, labels_from_table
    from ..retrieval.melody import MIN_QUERY_NOTES, MODES, MelodyIndex
    from ..retrieval.metrics import ranked_list_metrics
    from .common import read_lines
    from .melody import _melodies, recorded_melody

    fmt = output_format(fmt, as_json, False, allowed=RECORD_FORMATS)
    if mode not in MODES:
        raise UsageError(f"--mode must be {', '.join(MODES)}, not '{mode}'")
    if queries is None and families is None:
        raise UsageError("give --queries (each finds its reference) or --families (each piece queries the rest)")
    reporter = Reporter(quiet)
    store = application.open_store(Common(cache_dir=cache_dir), reporter.warn)

    def melodies_of_set(arg: str, recordings: bool = False) -> tuple[list[str], list]:
        """Ids and melodies of one side; the queries' recordings are transcribed (as clamp melody's)."""
        walk = gather_inputs([arg], reporter, "music")
        found = _melodies(store, [f for f in walk.files if walk.kind(f) == "music"], jobs, whole_file, quiet,
                          reporter)
        for r in found:
            if r.status == "failed":
                reporter.error(r.name, r.error or "failed")
        kept = [r for r in found if r.melody is not None]
        ids, melodies = [item_id(walk.relative(r.path), r.item) for r in kept], [r.melody for r in kept]
        heard = [f for f in walk.files if walk.kind(f) == "recording"]
        if heard and not recordings:
            reporter.note(f"{len(heard)} recording(s) among the references left out: melody search reads scores")
        for f in heard if recordings else ():
            try:
                melodies.append(recorded_melody(str(f), None))
                ids.append(item_id(walk.relative(f), None))
            except (InputError, UsageError) as exc:
                reporter.error(str(f), str(exc).removeprefix(f"{f}: "))
        return ids, melodies

    def searched(melody, leave_out: int | None = None) -> list[int]:
        if len(melody) < MIN_QUERY_NOTES:
            return []
        return [m.piece for m in index.search(melody, top=candidates + 1, candidates=candidates + 1)
                if m.piece != leave_out][:candidates]

    ref_ids, ref_melodies = melodies_of_set(references)
    if not ref_ids:
        raise InputError(f"{references}: no piece with a melody")
    index = MelodyIndex(ref_melodies, mode=mode)
    members: dict[str, set[int]] = {}
    family_of: dict[int, str] = {}
    if families is not None:
        table = None if families in PATH_SOURCES else labels_from_table("\n".join(read_lines(Path(families))),
                                                                        families)
        rows, labels, missing = attach(ref_ids, labels_from_paths(ref_ids, families) if table is None else table)
        if missing and not allow_unmatched:
            raise InputError(f"{len(missing)} piece(s) have no family: {', '.join(missing[:5])}; "
                             "--allow-unmatched leaves them out")
        family_of = dict(zip(rows, labels))
        for row, family in family_of.items():
            members.setdefault(family, set()).add(row)
    if queries is not None:
        q_ids, q_melodies = melodies_of_set(queries, recordings=True)
        qs, rs, unmatched = match(ItemSet(q_ids, np.zeros((len(q_ids), 0))),
                                  ItemSet(ref_ids, np.zeros((len(ref_ids), 0))),
                                  read_pairs(pairs) if pairs else None, allow_unmatched)
        if unmatched:
            reporter.note(f"{len(unmatched)} quer{'y' if len(unmatched) == 1 else 'ies'} without a reference left out")
        # with --families too, a query's relevant pieces are its reference's family
        relevant = [members.get(family_of.get(r, ""), set()) | {r} for r in rs]
        ranked = [searched(q_melodies[i]) for i in qs]
    else:
        qs = [row for row in sorted(family_of) if len(members[family_of[row]]) > 1]
        if not qs:
            raise InputError("no family has two pieces: nothing to find")
        relevant = [members[family_of[i]] - {i} for i in qs]
        ranked = [searched(ref_melodies[i], leave_out=i) for i in qs]
    report = ranked_list_metrics(ranked, relevant, sorted(set(hits)) if hits else (1, 10, 100))
    summary = {**{k: round(v, 6) if isinstance(v, float) else v for k, v in report.items()},
               "references": len(ref_ids), "mode": mode, "candidates": candidates}
    emit_summary(summary, fmt)
    return reporter.exit_code


def labelled_items(item_set, labels_from: str, allow_unmatched: bool, embedder, reporter: Reporter,
                   quiet: bool):
    """(ItemSet of one folder, rows that have a true label, those labels): shared by eval classify and probe."""
    from ..retrieval.evaluate import some_of
    from ..retrieval.labels import PATH_SOURCES, attach, labels_from_paths, labels_from_table
    from .common import read_lines

    table = None
    if labels_from not in PATH_SOURCES:
        source = Path(labels_from)
        table = labels_from_table("\n".join(read_lines(source)), str(source))
    pieces = load_items(item_set, embedder, reporter, quiet)
    truth = labels_from_paths(pieces.ids, labels_from) if table is None else table
    rows, true_labels, missing = attach(pieces.ids, truth)
    if missing and not allow_unmatched:
        raise InputError(f"{len(missing)} item(s) have no true label: {some_of(missing)}; "
                         "--allow-unmatched leaves them out")
    if missing:
        reporter.note(f"{len(missing)} item(s) without a true label left out")
    if not rows:
        raise InputError("no item has a true label")
    return pieces, rows, true_labels


@app.command("classify")
@handle_errors
def classify_eval(
    items: Annotated[Optional[list[str]], typer.Argument(
        metavar="PIECE", help="Pieces to label: files, directories, globs, or -.", show_default=False)] = None,
    labels_from: Annotated[str, typer.Option(
        "--labels-from", help="The true labels: a CSV/TSV (id, label) or JSON ({id: label}) file; dirs (each "
                              "item's top-level folder); prefix (its file name before the first _, as the "
                              "authors name files). Ids are paths below the folder given, without extension.",
        autocompletion=values("dirs", "prefix"))] = "dirs",
    label_set: Annotated[Optional[Path], typer.Option(
        "--label-set", help="The candidate labels, one per line [default: the true labels found].")] = None,
    prompt: Annotated[Optional[str], typer.Option(
        "--prompt", "-p", help="Template with <> where the label goes [default: the label alone].")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Also draw the confusion matrix into this PNG.")] = None,
    size: Annotated[str, typer.Option("--size", help="The PNG's size in pixels.")] = "900x800",
    allow_unmatched: Annotated[bool, typer.Option(
        "--allow-unmatched", help="Leave out items without a true label (counted) instead of failing.")] = False,
    correct: CorrectOpt = "none",
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
    """Zero-shot classification accuracy, macro-F1, per-class scores and the confusion matrix
    (for the --correct rule; the plain and the hub-centred figures are both reported)."""
    from ..retrieval import zero_shot
    from ..retrieval.metrics import classification_metrics
    from ..retrieval.search import label_prompts
    from .common import read_lines
    from .plots import confusion_png, parse_size

    fmt = output_format(fmt, as_json, False, allowed=RECORD_FORMATS)
    png_size = parse_size(size)
    candidates = read_lines(label_set) if label_set else None
    reporter = Reporter(quiet)
    sets = gather_item_sets(one_item_set(items, ": ids are paths below it"), reporter)
    embedder = item_sets_embedder(model, text_backbone, device, batch_size, cache_dir, quiet, whole_file, jobs, precision,
                                  reporter, sets, needs_model=True)
    pieces, rows, true_labels = labelled_items(sets[0], labels_from, allow_unmatched, embedder, reporter, quiet)
    labels = list(dict.fromkeys(candidates if candidates else sorted(set(true_labels))))
    outside = sorted(set(true_labels) - set(labels))
    if outside:
        raise InputError(f"true labels not among the candidates: {', '.join(outside[:5])}; add them to --label-set")
    if len(labels) < 2:
        raise InputError(f"only one label ({labels[0]}): zero-shot classification needs at least two")
    label_vecs = embedder.embed_strings(label_prompts(labels, prompt))
    scale = embedder.encoder.logit_scale
    both = {}
    for how in ("none", "center"):
        _, p = zero_shot(pieces.vectors[rows], label_vecs, scale, how)
        m = classification_metrics(true_labels, [labels[j] for j in p.argmax(axis=1)], labels)
        both[how] = {"accuracy": round(m["accuracy"], 6), "macro_f1": round(m["macro_f1"], 6)}
    _, probs = zero_shot(pieces.vectors[rows], label_vecs, scale, correct)
    predicted = [labels[j] for j in probs.argmax(axis=1)]
    result = classification_metrics(true_labels, predicted, labels)
    if plot is not None:
        confusion_png(plot, labels, result["confusion"], png_size,
                      f"accuracy {result['accuracy']:.3f}, macro-F1 {result['macro_f1']:.3f} (n={result['n']})")
    summary = {"accuracy": round(result["accuracy"], 6), "macro_f1": round(result["macro_f1"], 6),
               "n": result["n"], "labels": labels, "prompt": prompt, "model": embedder.encoder.model_id,
               "correct": correct, **{f"{m}_{name}": both[how][m] for how, name in (("none", "plain"), ("center", "centred"))
                                      for m in ("accuracy", "macro_f1")}}
    if fmt == "table":
        emit_summary(summary, "table")
        sys.stdout.write("\n")
        emit_records([{"label": k, **{m: round(v, 4) if isinstance(v, float) else v for m, v in c.items()}}
                      for k, c in result["per_class"].items()], "table",
                     [("label", "label"), ("precision", "precision"), ("recall", "recall"), ("f1", "F1"),
                      ("support", "support")])
        sys.stdout.write("\n")
        emit_records([{"true": k, **{f"c{j}": n for j, n in enumerate(row)}}
                      for k, row in zip(labels, result["confusion"])], "table",
                     [("true", "true \\ predicted")] + [(f"c{j}", lab) for j, lab in enumerate(labels)])
    else:
        emit_summary({**summary, "per_class": result["per_class"], "confusion": result["confusion"]}, fmt)
    return reporter.exit_code
