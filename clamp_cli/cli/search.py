"""`clamp search`: rank music (or texts) against a query built from words and pieces."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import InputError, UsageError
from .common import (
    DEFAULT_MODEL,
    BackboneOpt,
    BatchOpt,
    CacheOpt,
    Common,
    DeviceOpt,
    FormatOpt,
    JobsOpt,
    JsonlOpt,
    JsonOpt,
    ModelOpt,
    NullOpt,
    QuietOpt,
    Reporter,
    StdinScoreOpt,
    WholeFileOpt,
    embed_files,
    emit_records,
    gather_inputs,
    handle_errors,
    note_skipped,
    open_embedder,
    output_format,
    read_lines,
    values,
)

KEY_KINDS = {"scores": ("music",), "recordings": ("recording", "audio"), "texts": ("text",)}


def keep_one_kind(walk, wanted: str | None, reporter: Reporter) -> None:
    """Rank one kind of file unless told otherwise: a text query scores recordings and scores on
    scales of their own, so one mixed list would favour one kind."""
    from ..formats import kind_of

    if wanted is not None and wanted not in (*KEY_KINDS, "all"):
        raise UsageError(f"--keys-kind must be scores, recordings, texts or all, not '{wanted}'")
    if wanted == "all":
        return
    kinds = {name: [f for f in walk.files if kind_of(f) in members] for name, members in KEY_KINDS.items()}
    chosen = wanted or next((name for name, files in kinds.items() if files), "scores")
    left = len(walk.files) - len(kinds[chosen])
    if not kinds[chosen]:
        raise InputError(f"no {chosen} among the keys (--keys-kind all ranks every kind together)")
    if left:
        others = ", ".join(f"{len(f)} {n}" for n, f in kinds.items() if n != chosen and f)
        reporter.note(f"ranking {chosen} only; left out {others} (--keys-kind all ranks them together)")
        walk.files = kinds[chosen]


@handle_errors
def search(
    paths: Annotated[Optional[list[str]], typer.Argument(
        metavar="PATH", help="Music to rank (same as --keys): files, directories, globs, or -.", show_default=False)] = None,
    text: Annotated[Optional[list[str]], typer.Option(
        "--text", "-t", help="Query words; repeatable; \"2:jazz\" weighs a part; a leading backslash turns that off.")] = None,
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
    paths_only: Annotated[bool, typer.Option(
        "--paths-only", "-f", help="Print only the results' names, one per line (same as --format paths).")] = False,
    keys_kind: Annotated[Optional[str], typer.Option(
        "--keys-kind", autocompletion=values("scores", "recordings", "texts", "all"),
        help="Which files to rank: scores (ABC, MusicXML, MIDI, ...), recordings (audio and .npy features), texts "
             "(.txt), or all in one list (their scores are not calibrated against each other) [default: scores "
             "when there are any, else recordings, else texts].")] = None,
    include_query: Annotated[bool, typer.Option(
        "--include-query", help="Keep the --music query's own pieces in the results (left out by default).")] = False,
    as_json: JsonOpt = False,
    as_jsonl: JsonlOpt = False,
    fmt: FormatOpt = None,
    whole_file: WholeFileOpt = False,
    null: NullOpt = False,
    stdin_format: StdinScoreOpt = None,
    jobs: JobsOpt = None,
    model: ModelOpt = DEFAULT_MODEL,
    text_backbone: BackboneOpt = None,
    device: DeviceOpt = "auto",
    batch_size: BatchOpt = None,
    cache_dir: CacheOpt = None,
    quiet: QuietOpt = False,
) -> int:
    """Rank keys by cosine similarity to the query (text and/or music, with arithmetic)."""
    from ..formats.walk import split_piece_ref
    from ..retrieval import parse_query
    from ..retrieval.search import is_piece_ref, query_vector, rank_pieces, rank_texts

    fmt = output_format(fmt, as_json, as_jsonl, paths_only)
    reporter = Reporter(quiet)
    query = parse_query(text or [], music or [], sub or [], sub_music or [], is_path=is_piece_ref)
    key_args = list(paths or []) + list(keys or [])
    if keys_text and fmt == "files":
        raise UsageError("--format files lists music files; the lines of --keys-text print with --format paths")
    if (key_args or stdin_format) and keys_text:
        raise UsageError("rank either music (--keys/paths) or texts (--keys-text), not both")
    if not key_args and not keys_text and not stdin_format:
        raise UsageError("nothing to rank: give music paths (or --keys) or --keys-text FILE")
    walk = gather_inputs(key_args, reporter, "music", null, stdin_format) if key_args or stdin_format else None
    if walk is not None:
        keep_one_kind(walk, keys_kind, reporter)
    key_lines = read_lines(keys_text) if keys_text else None

    inputs = [*(walk.files if walk is not None else ()), *(split_piece_ref(p.value)[0] for p in query.music)]
    embedder = open_embedder(Common(model, text_backbone, device, batch_size, cache_dir, quiet), reporter,
                             whole_file, jobs, inputs)
    qvec = query_vector(query, embedder)
    if key_lines is not None:
        hits = rank_texts(qvec, key_lines, embedder, top)
        records = [{"rank": h.rank, "score": round(h.score, 6), "text": key_lines[int(h.key)],
                    "model": embedder.encoder.model_id} for h in hits]
        emit_records(records, fmt, [("rank", "rank"), ("score", "score"), ("text", "text")], path_key="text",
                     null=null)
    else:
        results = embed_files(embedder, walk, reporter, quiet)
        hits = rank_pieces(qvec, results, top, include_query)
        records = [{"rank": h.rank, "score": round(h.score, 6), "path": h.key, "model": embedder.encoder.model_id}
                   for h, _ in hits]
        emit_records(records, fmt, [("rank", "rank"), ("score", "score"), ("path", "path")], null=null)
    note_skipped(reporter, walk)
    return reporter.exit_code
