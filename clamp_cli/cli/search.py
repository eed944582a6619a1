"""`clamp search`: rank music (or texts) against a query built from words and pieces."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import InputError, UsageError
from .common import (DEFAULT_MODEL, BackboneOpt, BatchOpt, CacheOpt, Common, DeviceOpt, FormatOpt, JobsOpt, JsonlOpt,
                     JsonOpt, ModelOpt, QuietOpt, Reporter, WholeFileOpt, embed_files, emit_records, gather_inputs,
                     handle_errors, open_embedder, output_format, parse_weighted, read_lines)


@handle_errors
def search(
    paths: Annotated[Optional[list[str]], typer.Argument(
        help="Music to rank (same as --keys): files, directories, globs, or -.", show_default=False)] = None,
    text: Annotated[Optional[list[str]], typer.Option(
        "--text", "-t", help="Query words; repeatable; \"2:jazz\" weighs a part.")] = None,
    music: Annotated[Optional[list[str]], typer.Option(
        "--music", help="Query piece (file); repeatable; \"2:tune.abc\" weighs it.")] = None,
    sub: Annotated[Optional[list[str]], typer.Option("--sub", help="Words to subtract from the query.")] = None,
    sub_music: Annotated[Optional[list[str]], typer.Option(
        "--sub-music", help="A piece to subtract from the query.")] = None,
    keys: Annotated[Optional[list[str]], typer.Option(
        "--keys", "-k", help="Music to rank; repeatable (positional paths work too).")] = None,
    keys_text: Annotated[Optional[Path], typer.Option(
        "--keys-text", help="Rank the lines of this text file instead (music-to-text search).")] = None,
    top: Annotated[int, typer.Option("--top", "-n", min=1, help="Number of results.")] = 10,
    paths_only: Annotated[bool, typer.Option("--paths-only", "-f", help="Print only paths, one per line.")] = False,
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
    """Rank keys by cosine similarity to the query (text and/or music, with arithmetic)."""
    import numpy as np

    from ..retrieval import combine, normalize, top_k

    fmt = output_format(fmt, as_json, as_jsonl, paths_only)
    reporter = Reporter(quiet)
    key_args = list(paths or []) + list(keys or [])
    if not (text or music):
        raise UsageError("give a query: --text WORDS and/or --music FILE")
    if key_args and keys_text:
        raise UsageError("rank either music (--keys/paths) or texts (--keys-text), not both")
    if not key_args and not keys_text:
        raise UsageError("nothing to rank: give music paths (or --keys) or --keys-text FILE")
    walk = gather_inputs(key_args, reporter, "music") if key_args else None
    key_lines = read_lines(keys_text) if keys_text else None

    common = Common(model, text_backbone, device, batch_size, cache_dir, quiet)
    embedder = open_embedder(common, reporter, whole_file, jobs)
    encoder, store = embedder.encoder, embedder.store

    # -- the query ---------------------------------------------------------------
    text_parts = [parse_weighted(t) for t in text or []] + [(-w, s) for w, s in map(parse_weighted, sub or [])]
    music_parts = [_weighted_path(m) for m in music or []] + [(-w, p) for w, p in map(_weighted_path, sub_music or [])]
    parts = []
    if text_parts:
        for (w, _), vec in zip(text_parts, embedder.embed_strings([s for _, s in text_parts])):
            parts.append((w, vec))
    if music_parts:
        for w, path in music_parts:
            pieces = embedder.embed_files([path])
            bad = [r for r in pieces if r.vector is None]
            if bad:
                raise InputError(f"{bad[0].name}: {bad[0].error or 'cannot be embedded'} (query piece)")
            for r in pieces:  # a multi-tune query file: every tune counts once
                parts.append((w / len(pieces), r.vector))
    query = combine(parts)

    # -- the keys ------------------------------------------------------------------
    if key_lines is not None:
        vectors = normalize(embedder.embed_strings(key_lines))
        ranked = top_k(vectors, query, top)
        records = [{"rank": i + 1, "score": round(s, 6), "text": key_lines[row]} for i, (row, s) in enumerate(ranked)]
        columns = [("rank", "rank"), ("score", "score"), ("text", "text")]
    else:
        results = [r for r in embed_files(embedder, walk.files, reporter, quiet) if r.vector is not None]
        scores = np.full(len(results), -np.inf, dtype=np.float32)
        q = normalize(query)
        for kind in sorted({r.kind for r in results}):
            index, rows = store.matrix(encoder.model_id, embedder.prep(kind), encoder.dim)
            members = [i for i, r in enumerate(results) if r.kind == kind and r.key in index]
            all_scores = np.asarray(rows @ q)  # one product over the consolidated matrix
            scores[members] = all_scores[[index[results[i].key] for i in members]]
            for i, r in enumerate(results):  # not in the snapshot (changed under our feet): score directly
                if r.kind == kind and r.key not in index:
                    scores[i] = float(normalize(r.vector) @ q)
        order = np.lexsort((np.arange(len(scores)), -scores))[:top]
        records = [{"rank": i + 1, "score": round(float(scores[j]), 6), "path": results[j].name}
                   for i, j in enumerate(order)]
        columns = [("rank", "rank"), ("score", "score"), ("path", "path")]
    emit_records(records, fmt, columns)
    return reporter.exit_code


def _weighted_path(item: str) -> tuple[float, Path]:
    if Path(item).exists():
        return 1.0, Path(item)
    weight, rest = parse_weighted(item)
    return weight, Path(rest)
