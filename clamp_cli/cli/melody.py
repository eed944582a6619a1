"""`clamp melody`: find the pieces that go like a tune, in any key, and the bars where they do."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import InputError, Reported, UsageError
from .common import (
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
    NullOpt,
    PrecisionOpt,
    QuietOpt,
    Reporter,
    WholeFileOpt,
    emit_records,
    gather_inputs,
    handle_errors,
    open_embedder,
    output_format,
    progress_bar,
    values,
    wanted_pieces,
)


def parse_bars(text: str | None) -> tuple[int, int] | None:
    """"5-8" -> (5, 8); "5" -> (5, 5)."""
    if text is None:
        return None
    first, dash, last = text.partition("-")
    try:
        a, b = int(first), int(last if dash else first)
    except ValueError:
        raise UsageError(f"--bars takes a bar or a range of bars (5, 5-8), not '{text}'") from None
    if a < 1 or b < a:
        raise UsageError(f"--bars: '{text}' is not a range of bars (they count from 1)")
    return a, b


def query_melody(notes: str | None, music: str | None, bars: tuple[int, int] | None, store, whole_file: bool):
    """The query's melody, and (for --music) the piece it came from (hash, item), to leave out."""
    from ..formats.melody import melody_from_abc_notes
    from ..formats.walk import piece_name, split_piece_ref
    from ..index.melodies import melodies_of

    if (notes is None) == (music is None):
        raise UsageError("give the tune to find: --notes 'ABC notes' or --music FILE[#X]")
    if notes is not None:
        if bars is not None:
            raise UsageError("--bars picks bars of the --music piece; type only those notes with --notes")
        try:
            return enough_notes(melody_from_abc_notes(notes)), None
        except InputError as exc:
            raise UsageError(str(exc)) from None
    from ..formats import kind_of

    if kind_of(music) == "recording":
        return recorded_melody(music, bars), None
    path, item = split_piece_ref(music)
    found = melodies_of(store, [path], whole_file=whole_file)
    unreadable = len(found) == 1 and found[0].item is None and found[0].melody is None
    if item is not None and not unreadable:
        if not any(r.item == item for r in found):
            raise UsageError(f"{piece_name(path, item)}: no tune X:{item} in the file")
        found = [r for r in found if r.item == item]
    if len(found) > 1:
        raise UsageError(f"{path} holds {len(found)} tunes: name one as {piece_name(path, found[0].item)}")
    query = found[0]
    if query.melody is None:
        raise InputError(f"{query.name}: {query.error}")
    melody = query.melody
    if bars is not None:
        inside = (melody.bars >= bars[0]) & (melody.bars <= bars[1])
        if not inside.any():
            raise UsageError(f"{query.name} has no bar {bars[0]}{'' if bars[0] == bars[1] else f'-{bars[1]}'} "
                             f"(its bars: 1-{int(melody.bars.max())})")
        picked = inside.nonzero()[0]
        melody = melody.excerpt(int(picked[0]), int(picked[-1]) + 1)
    try:
        return enough_notes(melody), (query.hash, query.item)
    except InputError as exc:
        raise UsageError(f"{query.name}{'' if bars is None else f' bars {bars[0]}-{bars[1]}'}: {exc}") from None


def library_scores(settings) -> list[str]:
    """The scores a library holds (its files of score formats, as it recorded them): what
    `clamp melody -L NAME` searches when no path is given. Their melodies come from the cache,
    where embedding the library kept them."""
    from .. import app
    from ..formats import kind_of
    from ..index.library import Library, path_of

    directory = app.library_dir(settings)
    with Library(directory, readonly=True) as lib:
        found = sorted(str(path_of(key)) for key in lib.file_table(hashes=False))
    scores = [p for p in found if kind_of(p) == "music"]
    if not scores:
        raise InputError(f"{directory}: the library holds no scores")
    return scores


def recorded_melody(path: str, bars):
    """A recording as the query: its pitch tracked (models.pitch), its notes (formats.melody)."""
    from ..formats.reading import read_input
    from ..models.pitch import recording_melody

    if bars is not None:
        raise UsageError("--bars picks bars of a score; a recording has none (trim it to the phrase)")
    _, data = read_input(path, "recording")
    try:
        melody = recording_melody(data)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    try:
        return enough_notes(melody)
    except InputError as exc:
        raise UsageError(f"{path}: {exc}: nothing clear enough to follow was heard (silence, noise, or "
                         "several sounds at once?)") from None


def enough_notes(melody):
    from ..retrieval.melody import MIN_QUERY_NOTES

    if len(melody) < MIN_QUERY_NOTES:
        raise InputError(f"a melody query needs at least {MIN_QUERY_NOTES} notes (this one has {len(melody)})")
    return melody


@handle_errors
def melody(
    paths: Annotated[Optional[list[str]], typer.Argument(
        metavar="PATH", help="Music to search: files, directories, globs, or - for a list of paths on stdin.",
        show_default=False)] = None,
    notes: Annotated[Optional[str], typer.Option(
        "--notes", metavar="ABC", help="The tune as ABC notes (\"DFA dAF|GBd gfe\"); K:, L: and M: lines may "
                                       "come first (K:C, L:1/8 by default; \\n separates lines).")] = None,
    music: Annotated[Optional[str], typer.Option(
        "--music", metavar="FILE", help="A piece whose melody is the tune to find (FILE, or FILE#X for a tune "
                                        "of a multi-tune file), or a recording of the tune (hummed, sung, "
                                        "whistled or played: WAV, FLAC, MP3, ...).")] = None,
    bars: Annotated[Optional[str], typer.Option(
        "--bars", metavar="A-B", help="Only these bars of the --music piece (5, or 5-8).")] = None,
    mode: Annotated[str, typer.Option(
        "--mode", metavar="MODE", autocompletion=values("intervals", "contour", "exact"),
        help="intervals (any key; ornaments, passing and repeated notes allowed), contour (only up, down, "
             "repeat) or exact (the same intervals in a row).")] = "intervals",
    top: Annotated[int, typer.Option("--top", "-n", min=1, help="Number of results.")] = 10,
    candidates: Annotated[int, typer.Option(
        "--candidates", min=1, help="Pieces aligned after the n-gram pass (more: slower, finds more distant "
                                    "variants).")] = 200,
    text: Annotated[Optional[str], typer.Option(
        "--text", metavar="WORDS", help="Also rank by what the pieces are, as words (\"a reel\"): the model's "
                                        "similarity reorders pieces that go alike (see --text-weight).")] = None,
    text_weight: Annotated[Optional[float], typer.Option(
        "--text-weight", min=0.0, metavar="W", help="What a standard deviation of --text similarity adds to the "
                                                    "melody score (1.0: the whole query matched) [default: 0.1].",
        show_default=False)] = None,
    group: Annotated[bool, typer.Option(
        "--group", help="No query: group the pieces into families of variants (each piece's first notes "
                        "searched for in the others; see --threshold). Families of two or more, largest first.")] = False,
    threshold: Annotated[Optional[float], typer.Option(
        "--threshold", min=0.0, metavar="S", help="With --group: the match score, each piece's incipit in the "
                                                  "other, that joins two pieces (1.0: note for note) [default: "
                                                  "0.8].", show_default=False)] = None,
    include_query: Annotated[bool, typer.Option(
        "--include-query", help="Keep the --music piece itself in the results (left out by default, and so are "
                                "files of the same content).")] = False,
    paths_only: Annotated[bool, typer.Option(
        "--paths-only", "-f", help="Print only the results' names, one per line (same as --format paths).")] = False,
    as_json: JsonOpt = False,
    as_jsonl: JsonlOpt = False,
    fmt: FormatOpt = None,
    null: NullOpt = False,
    whole_file: WholeFileOpt = False,
    jobs: JobsOpt = None,
    library: LibraryOpt = None,
    model: ModelOpt = None,
    text_backbone: BackboneOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "fp32",
    batch_size: BatchOpt = None,
    cache_dir: CacheOpt = None,
    quiet: QuietOpt = False,
) -> int:
    """Rank pieces by how closely they hold the tune (in any key), with the bars that match."""
    from .. import app
    from ..retrieval.melody import GROUP_THRESHOLD, MODES, TEXT_WEIGHT, MelodyIndex, blend, families

    fmt = output_format(fmt, as_json, as_jsonl, paths_only)
    if mode not in MODES:
        raise UsageError(f"--mode must be {', '.join(MODES)}, not '{mode}'")
    span = parse_bars(bars)
    if text is not None and not text.strip():
        raise UsageError("--text: no words given")
    if text_weight is not None and text is None:
        raise UsageError("--text-weight weighs the --text words: give them too")
    if threshold is not None and not group:
        raise UsageError("--threshold is --group's: give --group too")
    reporter = Reporter(quiet, counts=("ranked",), always=False)
    if not paths and library is None:
        raise UsageError("no music given to search (files, directories, globs, - for a list on stdin, or "
                         "--library NAME)")
    if not paths:
        paths = library_scores(app.Settings(cache_dir=cache_dir, library=library))
    store = app.open_store(app.Settings(cache_dir=cache_dir), reporter.warn)
    if group:
        if notes is not None or music is not None or text is not None:
            raise UsageError("--group finds the families of the pieces given: no --notes, --music or --text with it")
        query, own = None, None
    else:
        query, own = query_melody(notes, music, span, store, whole_file)
    walk = gather_inputs(paths, reporter, "music", null)
    files = [f for f in walk.files if walk.kind(f) == "music"]
    others = len(walk.files) - len(files)
    if not files:
        where = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        raise InputError(f"no scores in {where} (melody search reads scores: ABC, MusicXML, MIDI, MTF, "
                         f"Humdrum, MEI; {others} recording(s) or text(s) left out)")
    if others:
        reporter.note(f"{others} recording(s) or text(s) left out: melody search reads scores")
    found = _melodies(store, files, jobs, whole_file, quiet, reporter)
    found = wanted_pieces(walk, found, lambda r: r.path, reporter)
    for r in found:
        if r.status == "failed":
            reporter.error(r.name, r.error or "failed")
    pieces = [r for r in found if r.melody is not None and (include_query or (r.hash, r.item) != own)]
    if not pieces and reporter.failed:
        reporter.summary(walk.skipped)
        raise Reported("no piece had a melody to search")
    index = MelodyIndex([r.melody for r in pieces], mode=mode)
    if group:
        grouped = families(index, GROUP_THRESHOLD if threshold is None else threshold) if pieces else []
        records = [{"family": k, "size": len(members), "path": pieces[i].name}
                   for k, members in enumerate(grouped, start=1) for i in members]
        emit_records(records, fmt, [("family", "family"), ("size", "size"), ("path", "path")], null=null)
        reporter.summary(walk.skipped, ranked=len(pieces))
        reporter.note(f"{len(grouped)} families of variants, {len(records)} of {len(pieces)} pieces")
        return reporter.exit_code
    matches = index.search(query, top=candidates if text is not None else top, candidates=candidates) \
        if pieces else []
    columns = [("rank", "rank"), ("score", "score"), ("path", "path"), ("bars", "bars")]
    records = []
    if text is not None:
        settings = Common(model, text_backbone, device, batch_size, cache_dir, quiet, library, precision=precision)
        similarity = _similarity(text, pieces, settings, reporter, whole_file, jobs, quiet)
        found_matches = [(b.match, {"score": round(b.score, 6), "melody": round(b.match.score, 6),
                                    "similarity": round(b.similarity, 6)})
                         for b in blend(matches, similarity, TEXT_WEIGHT if text_weight is None else text_weight, top)]
        columns[2:2] = [("melody", "melody"), ("similarity", "similarity")]
    else:
        found_matches = [(m, {"score": round(m.score, 6)}) for m in matches]
    for rank, (m, scores) in enumerate(found_matches, start=1):
        r = pieces[m.piece]
        first_bar, last_bar = int(r.melody.bars[m.first_note]), int(r.melody.bars[m.last_note])
        records.append({"rank": rank, **scores, "path": r.name,
                        "bars": f"{first_bar}" if first_bar == last_bar else f"{first_bar}-{last_bar}",
                        "notes": [m.first_note + 1, m.last_note + 1]})
    emit_records(records, fmt, columns, null=null)
    reporter.summary(walk.skipped, ranked=len(pieces))
    return reporter.exit_code


def _similarity(text: str, pieces, settings, reporter: Reporter, whole_file: bool, jobs, quiet: bool):
    """Each piece's cosine to the words, by the model (its vectors from the cache, as search's);
    NaN for a piece the model could not read (its melody alone ranks it, with a warning)."""
    import numpy as np

    from ..index.vectors import normalize

    files = list(dict.fromkeys(r.path for r in pieces))
    embedder = open_embedder(settings, reporter, whole_file, jobs, inputs=files)
    progress, advance = progress_bar(len(files), "embedding", quiet, before="checking the cache")
    with progress:
        results = embedder.embed_files(files, on_progress=advance)
    vectors = {(r.hash, r.item): r.vector for r in results if r.vector is not None}
    words = normalize(embedder.encoder.embed_text([text])[0])
    out = np.full(len(pieces), np.nan)
    for k, r in enumerate(pieces):
        v = vectors.get((r.hash, r.item))
        if v is None:
            reporter.warn(f"{r.name}: the model could not read it; ranked by its melody alone")
            continue
        out[k] = float(normalize(v) @ words)
    return out


def _melodies(store, files: list[Path], jobs, whole_file: bool, quiet: bool, reporter: Reporter):
    from ..index.melodies import melodies_of

    progress, advance = progress_bar(len(files), "reading melodies", quiet, before="checking the cache")
    with progress:
        found = melodies_of(store, files, jobs, whole_file, on_progress=advance)
    for notice in store.notices:
        reporter.warn(notice)
    store.notices.clear()
    return found
