"""`clamp search`: rank music (or texts) against a query built from words and pieces."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import app
from ..errors import InputError, UsageError
from ..formats.features import feature_size, is_npy
from ..formats.walk import piece_name, split_piece_ref

# imported with the command, though only app uses them: a search of folders then imports them while
# formats.walk.list_ahead's child lists the folders, not after
from ..index.collection import Collection  # noqa: F401
from ..index.embedder import Embedder  # noqa: F401
from ..index.library import path_key
from ..retrieval import parse_query
from ..retrieval.search import is_piece_ref, query_vector, rank_texts
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
    LibraryOpt,
    ModelOpt,
    NoUpdateOpt,
    NullOpt,
    PrecisionOpt,
    QuietOpt,
    Reporter,
    UniqueOpt,
    WholeFileOpt,
    emit_records,
    gather_folders,
    gather_inputs,
    handle_errors,
    open_embedder,
    output_format,
    read_lines,
    sync_files,
    sync_scan,
    values,
)
from .features import sort_npy

KEY_KINDS = {"scores": ("music",), "recordings": ("recording", "audio"), "texts": ("text",)}
ALL_KINDS = tuple(kind for members in KEY_KINDS.values() for kind in members)


def choose_kind(file_kinds: list, wanted: str | None, reporter: Reporter) -> tuple[str, ...] | None:
    """Rank one kind of file unless told otherwise: a text query scores recordings and scores on
    scales of their own, so one mixed list would favour one kind. `file_kinds`: each file's
    formats.kind_of. Returns the kinds kept (None: all), after a note on what is left out."""
    if wanted is not None and wanted not in (*KEY_KINDS, "all"):
        raise UsageError(f"--keys-kind must be scores, recordings, texts or all, not '{wanted}'")
    if wanted == "all":
        return None
    from collections import Counter

    member_of = {kind: name for name, members in KEY_KINDS.items() for kind in members}
    counts = dict.fromkeys(KEY_KINDS, 0)
    for kind, n in Counter(file_kinds).items():
        if kind in member_of:
            counts[member_of[kind]] += n
    chosen = wanted or next((name for name, n in counts.items() if n), "scores")
    if not counts[chosen]:
        raise InputError(f"no {chosen} among the keys (--keys-kind all ranks every kind together)")
    if len(file_kinds) > counts[chosen]:
        others = ", ".join(f"{n} {name}" for name, n in counts.items() if name != chosen and n)
        reporter.note(f"ranking {chosen} only; left out {others} (--keys-kind all ranks them together)")
    return KEY_KINDS[chosen]


def keep_one_kind(walk, wanted: str | None, reporter: Reporter) -> None:
    """choose_kind over a Walk, keeping its files of that kind."""
    kinds = choose_kind([walk.kind(f) for f in walk.files], wanted, reporter)
    if kinds is not None:
        walk.files = [f for f in walk.files if walk.kind(f) in kinds]


def gather_scores(args: list[str], reporter: Reporter, keys_kind: str | None):
    """The folder scan (common.gather_folders) when it holds no .npy files: whether one is a
    recording's features or a vector is read from its header, which the general walk does."""
    return gather_folders(args, reporter, "music", unless_kinds=("audio",))


def library_kinds(lib, wanted: str | None) -> tuple[str, ...]:
    """Which kind of piece to rank in a whole library: as keep_one_kind, from what it holds."""
    if wanted is not None and wanted not in (*KEY_KINDS, "all"):
        raise UsageError(f"--keys-kind must be scores, recordings, texts or all, not '{wanted}'")
    if wanted == "all":
        return ALL_KINDS
    if wanted is not None:
        return KEY_KINDS[wanted]
    held = set(lib.kinds)
    return next((members for members in KEY_KINDS.values() if held & set(members)), KEY_KINDS["scores"])


def stored_walk(args: list[str]):
    """--no-update with paths: the library's files under them, read from its table (nothing walked)."""
    from ..formats.walk import Walk

    return Walk(dirs=[Path(a).expanduser() for a in args])


def sync_walk(collection, walk, reporter: Reporter, quiet: bool, no_update: bool) -> dict:
    """Bring the library up to date with the walked files (or, with --no-update, read what it holds
    of them) and return row -> files for the ranking; failures are one line each."""
    from ..index.library import path_of

    lib = collection.library
    if no_update:
        table = lib.file_table(walk.dirs)
        hashes = {path_of(p): h for p, (_, _, h) in table.items()}
        return collection.pieces_for(hashes)
    report = sync_files(collection, walk, reporter, quiet)
    hashes = {p: report.hashes[p] for p in walk.files if p in report.hashes}
    rows = collection.pieces_for(hashes, walk.items or None)
    if walk.items:
        held = lib.pieces_of({hashes[p] for p in walk.items if p in hashes})
        for path, items in walk.items.items():
            if path not in hashes:
                continue
            have = {piece.item for piece in held.get(hashes[path], [])}
            for item in items:
                if item not in have:
                    hint = " (the file is read as one piece: name it without #)" if have == {""} else ""
                    reporter.error(piece_name(walk.shown(path), item), f"no tune X:{item} in the file{hint}")
    return rows


def stdin_query_score(query, stdin_format: str):
    """`--music - --stdin-score FMT`: the query piece is the score on stdin, copied to a private
    file. Returns the query with its "-" parts naming that copy, and the copy."""
    import sys

    from ..formats.walk import Walk, stdin_score
    from ..retrieval import Query, QueryPart
    from .common import private_dir, stdin_suffix

    walk = Walk()
    stdin_score(walk, stdin_suffix(stdin_format), sys.stdin.buffer, private_dir())
    copy = walk.stdin_file
    parts = tuple(QueryPart(p.weight, p.kind, str(copy)) if p.kind == "music" and p.value == "-" else p
                  for p in query.parts)
    return Query(parts), copy


@handle_errors
def search(
    paths: Annotated[Optional[list[str]], typer.Argument(
        metavar="PATH", help="Music to rank (same as --keys): files, directories, globs, or -.", show_default=False)] = None,
    text: Annotated[Optional[list[str]], typer.Option(
        "--text", "-t", help="Query words; repeatable; \"2:jazz\" weighs a part; a leading backslash turns that off.")] = None,
    music: Annotated[Optional[list[str]], typer.Option(
        "--music", metavar="FILE", help="Query piece (file); repeatable; \"2:tune.abc\" weighs it; - is the score on stdin "
                        "(with --stdin-score).")] = None,
    sub: Annotated[Optional[list[str]], typer.Option("--sub", help="Words to subtract from the query.")] = None,
    sub_music: Annotated[Optional[list[str]], typer.Option(
        "--sub-music", metavar="FILE", help="A piece to subtract from the query.")] = None,
    keys: Annotated[Optional[list[str]], typer.Option(
        "--keys", "-k", metavar="PATH", help="Music to rank; repeatable (positional paths work too).")] = None,
    keys_text: Annotated[Optional[Path], typer.Option(
        "--keys-text", help="Rank the lines of this text file instead (music-to-text search).")] = None,
    top: Annotated[int, typer.Option("--top", "-n", min=1, help="Number of results.")] = 10,
    paths_only: Annotated[bool, typer.Option(
        "--paths-only", "-f", help="Print only the results' names, one per line (same as --format paths).")] = False,
    keys_kind: Annotated[Optional[str], typer.Option(
        "--keys-kind", metavar="KIND", autocompletion=values("scores", "recordings", "texts", "all"),
        help="Which files to rank: scores (ABC, MusicXML, MIDI, ...), recordings (audio and .npy features), texts "
             "(.txt), or all in one list (their scores are not calibrated against each other) [default: scores "
             "when there are any, else recordings, else texts].")] = None,
    include_query: Annotated[bool, typer.Option(
        "--include-query", help="Keep the --music query's own pieces in the results (left out by default).")] = False,
    library: LibraryOpt = None,
    no_update: NoUpdateOpt = False,
    unique: UniqueOpt = False,
    as_json: JsonOpt = False,
    as_jsonl: JsonlOpt = False,
    fmt: FormatOpt = None,
    whole_file: WholeFileOpt = False,
    null: NullOpt = False,
    stdin_format: Annotated[Optional[str], typer.Option(
        "--stdin-score", metavar="FORMAT", autocompletion=values("abc", "musicxml", "mxl", "midi", "mtf", "krn", "mei"),
        help="Read one score from stdin, in FORMAT (abc, musicxml, mxl, midi, mtf, krn or mei), named - in the "
             "output: the query with --music -, else one of the keys. Without it, - means a list of paths on "
             "stdin.", show_default=False)] = None,
    jobs: JobsOpt = None,
    model: ModelOpt = DEFAULT_MODEL,
    text_backbone: BackboneOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "fp32",
    batch_size: BatchOpt = None,
    cache_dir: CacheOpt = None,
    quiet: QuietOpt = False,
) -> int:
    """Rank keys by cosine similarity to the query (text and/or music, with arithmetic)."""
    fmt = output_format(fmt, as_json, as_jsonl, paths_only)
    reporter = Reporter(quiet, counts=("ranked",), always=False)
    query = parse_query(text or [], music or [], sub or [], sub_music or [], is_path=is_piece_ref)
    key_args = list(paths or []) + list(keys or [])
    if keys_text and fmt == "files":
        raise UsageError("--format files lists music files; the lines of --keys-text print with --format paths")
    stdin_query = any(p.value == "-" for p in query.music)      # --music -: the query score is on stdin
    if stdin_query and stdin_format is None:
        raise UsageError("--music -: a query score on stdin needs --stdin-score FORMAT (abc, musicxml, midi, ...)")
    if stdin_query and "-" in key_args:
        raise UsageError("stdin holds the query score (--music - --stdin-score); name the keys as arguments")
    stdin_key = stdin_format is not None and not stdin_query   # else --stdin-score gives one of the keys
    if (key_args or stdin_key) and keys_text:
        raise UsageError("rank either music (--keys/paths) or texts (--keys-text), not both")
    if not key_args and not keys_text and not stdin_key and library is None:
        raise UsageError("nothing to rank: give music paths (or --keys), --library NAME or --keys-text FILE")
    if no_update and (stdin_key or keys_text):
        raise UsageError("--no-update searches a library; it cannot take --stdin-score keys or --keys-text")
    stdin_copy = None
    if stdin_query:
        query, stdin_copy = stdin_query_score(query, stdin_format)
    walk = folders = None
    scan_kinds: tuple[str, ...] = ()
    if key_args and not no_update and not stdin_key and not null:
        folders = gather_scores(key_args, reporter, keys_kind)     # only folders of scores: no Path per file
        if folders is not None:
            scan_kinds = choose_kind(folders.kinds, keys_kind, reporter) or ALL_KINDS
            folders.keep(scan_kinds)
    if folders is None and ((key_args and not no_update) or stdin_key):
        walk = gather_inputs(key_args, reporter, "music", null, stdin_format if stdin_key else None)
    elif folders is None and key_args:
        walk = stored_walk(key_args)
    key_lines = read_lines(keys_text) if keys_text else None

    settings = Common(model, text_backbone, device, batch_size, cache_dir, quiet, library, precision=precision)
    inputs = [*(split_piece_ref(p.value)[0] for p in query.music)]
    if walk is not None:       # the default model follows the kinds: one file of each stands for them all
        inputs += [f for f in walk.files if is_npy(f)] + list({walk.kind(f): f for f in walk.files}.values())
    if folders is not None:
        inputs += [Path(os.fsdecode(folders.keys[folders.kinds.index(kind)])) for kind in set(folders.kinds)]
    embedder = open_embedder(settings, reporter, whole_file, jobs, inputs, walks=[walk] if walk and walk.files else [])
    if walk is not None and walk.files:
        keep_one_kind(walk, keys_kind, reporter)
    try:
        qvec = query_vector(query, embedder)
    except InputError as exc:
        if stdin_copy is None:
            raise
        raise InputError(str(exc).replace(str(stdin_copy), "-")) from None     # the copy is named - to the user
    model_id = embedder.encoder.model_id
    if key_lines is not None:
        hits = rank_texts(qvec, key_lines, embedder, top)
        records = [{"rank": h.rank, "score": round(h.score, 6), "text": key_lines[int(h.key)], "model": model_id}
                   for h in hits]
        emit_records(records, fmt, [("rank", "rank"), ("score", "score"), ("text", "text")], path_key="text",
                     null=null)
        reporter.summary(0, ranked=len(key_lines))
        return reporter.exit_code
    collection = app.open_collection(settings, embedder, whole_file)
    ranked = 0
    try:
        exclude = frozenset() if include_query else qvec.own_keys
        if walk is None and folders is None and not no_update and collection.library.roots:
            roots = [str(r) for r in collection.library.roots]
            folders = gather_scores(roots, reporter, keys_kind)
            if folders is None:        # a root that is a file, or gone, or feature files: the general walk
                walk = gather_inputs(roots, reporter, "music")
                sort_npy(walk, reporter, feature_size(embedder.encoder))
                keep_one_kind(walk, keys_kind, reporter)
            else:
                scan_kinds = choose_kind(folders.kinds, keys_kind, reporter) or ALL_KINDS
                folders.keep(scan_kinds)
        if folders is not None:
            report, candidates, scanned = sync_scan(collection, folders, scan_kinds, reporter, quiet)
            ranked = report.unchanged + report.added + report.renamed
            matches = collection.similar(qvec.vector, top, candidates=candidates, exclude=exclude, unique=unique,
                                         within=scanned)
            shown = lambda p: folders.shown(path_key(p))  # noqa: E731
        elif walk is None:       # the library as it stands, every piece of one kind
            kinds = library_kinds(collection.library, keys_kind)
            matches = collection.similar(qvec.vector, top, kinds=kinds, exclude=exclude, unique=unique)
            shown = str
        else:
            rows = sync_walk(collection, walk, reporter, quiet, no_update)
            ranked = sum(len(files) for files in rows.values())
            matches = collection.similar(qvec.vector, top, rows, exclude=exclude, unique=unique)
            if walk.stdin_file is not None and collection.library.writable:   # a private copy: not kept
                collection.library.remove_files([path_key(walk.stdin_file)])
            shown = lambda p: str(walk.shown(p))  # noqa: E731
    finally:
        collection.library.close()
    records = []
    for m in matches:
        name = piece_name(shown(m.paths[0]), m.item)
        rec = {"rank": m.rank, "score": round(m.score, 6), "path": name, "model": model_id}
        if unique:
            rec["copies"] = len(m.paths)
        records.append(rec)
    columns = [("rank", "rank"), ("score", "score"), ("path", "path")] + ([("copies", "copies")] if unique else [])
    emit_records(records, fmt, columns, null=null)
    reporter.summary((walk or folders).skipped if (walk or folders) is not None else 0, ranked=ranked)
    return reporter.exit_code
