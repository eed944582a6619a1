"""Files to their melodies (formats.melody), cached by content like the vectors: only new or
changed files are read, in worker processes under the conversion limits, and committed in chunks
(an interrupted run keeps its work). The feature cache holds them under the model name
MELODY_MODEL, a file's pieces under the preprocessing key MELODY_PREP."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..formats.convert import Piece, conversion_crashed, internal_error, limit_hit
from ..formats.limits import conversion_limits, score_limit
from ..formats.melody import Melody, melodies
from ..formats.pool import map_files
from ..formats.reading import read_input
from ..fsutil import os_reason
from ..pause import pause_point
from .embedder import CHANGED, PieceResult, hash_files
from .store import FeatureStore, sha256_bytes

MELODY_MODEL = "melody/v2"       # a change to formats.melody's rule is a new version: the old rows are not read
MELODY_PREP = "melody/v2"
NO_MELODY = b"clamp:no-melody:"  # a row for a tune of a file that has none, and why (not re-read each run)
LIMITS = ("conversion took longer than", "conversion needed more than", "conversion ran out of memory")  # limits'



@dataclass
class MelodyResult(PieceResult):
    kind: str = "music"
    melody: Melody | None = None


def melody_file(path: str, whole_file: bool, expected: str | None = None) -> list[Piece]:
    """Worker: one file -> its pieces, each with its melody's bytes (or why it has none)."""
    try:
        _, data = read_input(path, "music")
        if expected is not None and sha256_bytes(data) != expected:
            raise InputError(CHANGED)
        with score_limit():
            found = melodies(data, Path(path).suffix, whole_file)
        return [Piece(item, m.to_bytes()) if isinstance(m, Melody) else Piece(item, error=m) for item, m in found]
    except InputError as exc:
        return [Piece(None, error=str(exc))]
    except OSError as exc:
        return [Piece(None, error=os_reason(exc))]
    except MemoryError:
        raise                   # the worker reports the memory limit (formats.pool)
    except Exception as exc:  # noqa: BLE001 - a bug of ours or a library's must cost one file, not the batch
        return internal_error(exc)


def melody_rows(content: str, pieces: Sequence[Piece], blobs: dict[str, bytes], lists: dict[str, list]) -> None:
    """What the cache keeps of one file's melodies (into `blobs` and `lists`, for put_blobs): each
    piece's melody, a NO_MELODY row for a tune of a book that has none (not a limit's, which a
    quieter machine may not hit), and the file's list of pieces unless the whole file failed."""
    for piece in pieces:
        key = f"{content}#{piece.item}" if piece.item else content
        if piece.melody is not None:
            blobs[key] = piece.melody
        elif piece.item is not None and piece.melody_error != CHANGED and not (piece.melody_error or "").startswith(LIMITS):
            blobs[key] = NO_MELODY + (piece.melody_error or "").encode("utf-8")
    if not (len(pieces) == 1 and pieces[0].item is None and pieces[0].melody is None):
        lists[content] = [p.item for p in pieces]


def prep_of(whole_file: bool) -> str:
    return MELODY_PREP + ("/whole-file" if whole_file else "")


def melodies_of(store: FeatureStore, paths: Sequence[Path], jobs: int | None = None, whole_file: bool = False,
                on_progress: Callable[[int], None] | None = None, chunk: int = 64) -> list[MelodyResult]:
    """One MelodyResult per piece of the files (a multi-tune ABC file gives several), in order."""
    prep = prep_of(whole_file)
    files = [MelodyResult(Path(p)) for p in paths]
    hash_files(store, files)
    pending = [f for f in files if f.status == "pending"]
    manifests = store.get_pieces(prep, {f.hash for f in pending})
    cached = store.get_blobs(MELODY_MODEL, prep, {MelodyResult(f.path, item=i, hash=f.hash).key
                                                   for f in pending for i in manifests.get(f.hash, [])})
    by_file: dict[int, list[MelodyResult]] = {i: [f] for i, f in enumerate(files)}
    first_of: dict[str, int] = {}            # one conversion for each content
    todo: list[int] = []
    damaged = []
    for i, f in enumerate(files):
        if f.status != "pending":
            continue
        items = manifests.get(f.hash)
        if items is not None:
            got = [MelodyResult(f.path, item=item, hash=f.hash, status="cached") for item in items]
            for r in got:
                blob = cached.get(r.key, b"")
                if isinstance(blob, bytes) and blob.startswith(NO_MELODY):
                    r.fail(blob[len(NO_MELODY):].decode("utf-8", "replace"))
                else:
                    r.melody = Melody.from_bytes(blob)
            if all(r.melody is not None or r.status == "failed" for r in got):
                by_file[i] = got
                continue
            damaged += [r.key for r in got if r.key in cached and r.melody is None and r.status != "failed"]
        if first_of.setdefault(f.hash, i) == i:
            todo.append(i)
    store.drop(MELODY_MODEL, prep, damaged)
    copies = {i: first_of[f.hash] for i, f in enumerate(files)
              if by_file[i][0] is f and f.status == "pending" and first_of[f.hash] != i}
    if on_progress:
        on_progress(len(files) - len(todo) - len(copies))
    made = map_files(melody_file, [str(files[i].path) for i in todo], jobs, whole_file, on_crash=conversion_crashed,
                     limits=conversion_limits(), on_limit=limit_hit, per_file=[files[i].hash for i in todo])
    try:
        blobs: dict[str, bytes] = {}
        pieces: dict[str, list] = {}
        for n, (i, (_, found)) in enumerate(zip(todo, made), start=1):
            pause_point("convert")
            f = files[i]
            results = []
            for piece in found:
                r = MelodyResult(f.path, item=piece.item, hash=f.hash)
                if piece.error:
                    r.fail(piece.error)
                else:
                    r.melody, r.status = Melody.from_bytes(piece.data), "made"
                results.append(r)
            by_file[i] = results
            melody_rows(f.hash, [Piece(p.item, melody=p.data, melody_error=p.error) for p in found], blobs, pieces)
            if n % chunk == 0 or n == len(todo):
                store.put_blobs(MELODY_MODEL, prep, blobs, pieces)
                blobs, pieces = {}, {}
            if on_progress:
                on_progress(1)
    finally:
        made.close()            # stops the workers now when we leave early (an error, Ctrl-C)
    for i, j in copies.items():                  # copies of a content: converted once
        by_file[i] = [MelodyResult(files[i].path, item=r.item, hash=r.hash, melody=r.melody, status=r.status,
                                   error=r.error) for r in by_file[j]]
    if on_progress and copies:
        on_progress(len(copies))
    return [r for i in range(len(files)) for r in by_file[i]]
