"""Files and strings to cached global vectors: only new or changed inputs reach the model.

A file is hashed (through the stat cache), its pieces and their vectors are
looked up in the store, and only what is missing is converted (in a process
pool when there is much of it) and embedded, in chunks that are committed as
they finish: an interrupted run keeps its work and leaves nothing half-written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..formats import decode_text, kind_of, load_npy, prep_key
from ..formats.convert import Piece, conversion_crashed, internal_error, limit_hit, music_pieces
from ..formats.limits import conversion_limits, score_limit
from ..formats.pool import map_files, prestart
from ..formats.reading import hash_input, read_input
from ..formats.walk import piece_name
from ..fsutil import os_reason
from ..pause import pause_point
from .store import FeatureStore, sha256_bytes

QUERY_PREP = "query/v1"
CHANGED = "changed during the run (its bytes are not those hashed a moment before); left out, run again"


@dataclass(frozen=True)
class Modality:
    """How files of one kind (formats.kind_of) become model input.

    `read`: file bytes -> the sequence the encoder embeds; None for scores, which are converted
    in worker processes (one file may hold several pieces). The cache key's preprocessing part
    is `formats.prep_key(kind, family)`; batch sizes and segment lengths are the encoder's.
    Recordings are audio through MERT (`models.mert`), embedded by the encoder's audio branch.
    """

    kind: str
    read: Callable[[Embedder, bytes], np.ndarray] | None
    branch: str = ""                 # the encoder branch that embeds it [default: kind]


NO_AUDIO = ("model family {model} has no audio encoder: recordings need a CLaMP 3 model "
            "(`clamp models pull clamp3-saas` fetches it and MERT; then --model clamp3-saas)")


def _read_recording(embedder: Embedder, data: bytes) -> np.ndarray:
    from ..formats.audio import load_recording

    return embedder.encoder.audio_frames(embedder.mert.features(load_recording(data), in_place=True))


MODALITIES: dict[str, Modality] = {
    "music": Modality("music", None),
    "text": Modality("text", lambda e, data: e.encoder.text_file_ids(decode_text(data))),
    "audio": Modality("audio", lambda e, data: e.encoder.audio_frames(load_npy(data))),
    "recording": Modality("recording", _read_recording, branch="audio"),
}


@dataclass
class PieceResult:
    """What becomes of one piece of a file (a vector: Result; a melody: index.melodies.MelodyResult)."""

    path: Path
    kind: str
    item: str | None = None          # tune id within a multi-piece file
    hash: str | None = None          # sha256 of the file's bytes
    status: str = "pending"          # embedded | made | cached | failed
    error: str | None = None

    @property
    def name(self) -> str:
        return piece_name(self.path, self.item)

    @property
    def key(self) -> str:
        return f"{self.hash}#{self.item}" if self.item else str(self.hash)

    def fail(self, reason: str) -> None:
        self.status, self.error = "failed", reason


@dataclass
class Result(PieceResult):
    vector: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)


def hash_files(store: FeatureStore, files: list[PieceResult], given: dict[Path, str] | None = None) -> None:
    """Each file's content hash: given, or from the store's stat cache, or read (and remembered);
    a file that cannot be read fails with the reason."""
    known = dict(given or {})
    known.update(store.known_hashes(f.path for f in files if f.path not in known))
    fresh = []
    for f in files:
        if f.path in known:
            f.hash = known[f.path]
            continue
        try:
            st, f.hash = hash_input(f.path, f.kind)
        except InputError as exc:
            f.fail(str(exc))
            continue
        fresh.append((f.path, st, f.hash))
    store.remember_hashes(fresh)


def convert_file(path: str, style: str, whole_file: bool, expected: str | None = None) -> list[Piece]:
    """Worker: one file -> its pieces in the model's text style (errors inside the pieces).

    `expected` is the content hash the parent read: a file whose bytes differ now changed during
    the run, and is left out rather than cached under the other content's hash.
    """
    return _converted(path, style, whole_file, expected, False)


def convert_file_and_melodies(path: str, style: str, whole_file: bool, job: tuple[str | None, bool]) -> list[Piece]:
    """Worker: convert_file, and when `job` = (expected hash, True) each piece's melody too, made
    from the same MusicXML (abc2xml or music21 runs once for both: formats.memo)."""
    expected, with_melody = job
    return _converted(path, style, whole_file, expected, with_melody)


def _converted(path: str, style: str, whole_file: bool, expected: str | None, with_melody: bool) -> list[Piece]:
    from ..formats.memo import one_file

    try:
        _, data = read_input(path, "music")
        if expected is not None and sha256_bytes(data) != expected:
            raise InputError(CHANGED)
        with one_file():
            with score_limit():
                pieces = music_pieces(data, Path(path).suffix, style, whole_file)
            if with_melody:
                _add_melodies(pieces, data, Path(path).suffix, whole_file)
        return pieces
    except InputError as exc:
        return [Piece(None, error=str(exc))]
    except OSError as exc:
        return [Piece(None, error=os_reason(exc))]
    except MemoryError:
        raise                   # the worker reports the memory limit (formats.pool)
    except Exception as exc:  # noqa: BLE001 - a bug of ours or a library's must cost one file, not the batch
        return internal_error(exc)


def _add_melodies(pieces: list[Piece], data: bytes, suffix: str, whole_file: bool) -> None:
    """Each piece's melody, or why it has none (formats.melody.melodies on the same bytes). A
    failure of the melody alone never costs the piece its vector: then no piece gets a melody
    here, and `clamp melody` makes them itself (and says why). A file whose conversion hit a
    limit is not converted again for its melody."""
    from ..formats.melody import Melody, melodies
    from .melodies import LIMITS

    if any(p.error and p.error.startswith(LIMITS) for p in pieces):
        return
    try:
        with score_limit():
            found = dict(melodies(data, suffix, whole_file))
    except InputError as exc:
        found = {p.item: str(exc) for p in pieces}
    except Exception:  # noqa: BLE001 - a bug in the melody route, or its memory: the vectors go on without
        return
    if any(p.item not in found for p in pieces):
        return
    for p in pieces:
        m = found[p.item]
        if isinstance(m, Melody):
            p.melody = m.to_bytes()
        else:
            p.melody_error = m


class Embedder:
    """Embeds files and strings with one encoder, reading and writing one FeatureStore."""

    def __init__(self, encoder, store: FeatureStore, batch_size: int | None = None, chunk: int = 32,
                 whole_file: bool = False, jobs: int | None = None):
        self.encoder, self.store, self.batch_size, self.chunk = encoder, store, batch_size, chunk
        self.whole_file, self.jobs = whole_file, jobs
        self.melodies = True            # keep each converted piece's melody too (for clamp melody)
        self._mert = None
        self.before_model: Callable[[], object] | None = None    # called once, before the model first computes
        prestart(conversion_limits())   # a worker forked before the model loads torch (formats.pool)

    def _model_runs(self) -> None:
        if self.before_model is not None:
            call, self.before_model = self.before_model, None
            call()

    def prep(self, kind: str) -> str:
        key = prep_key(kind, self.encoder.family)
        if kind == "recording":
            return f"{key}/{self.mert.id}"       # the features depend on the MERT weights too
        return key + "/whole" if kind == "music" and self.whole_file else key

    @property
    def mert(self):
        """The MERT extractor, located (not loaded) on first use: only recordings need it."""
        if self._mert is None:
            from ..models.mert import MertExtractor, mert_dir

            self._mert = MertExtractor(mert_dir(), device=getattr(self.encoder, "device", "cpu"))
        return self._mert

    def embed_files(self, paths: Sequence[Path], on_progress: Callable[[int], None] | None = None,
                    known: dict[Path, str] | None = None) -> list[Result]:
        """One Result per piece (a multi-tune ABC file gives several), in input order.

        `known` gives content hashes already computed (a library's reconciliation), so those
        files are not read twice. Copies of one content are converted and embedded once.
        `on_progress(k)` counts files: k more files are done (cached, embedded or failed).
        """
        files = [Result(p if isinstance(p, Path) else Path(p), kind_of(p) or "unknown") for p in paths]
        self._hash(files, known or {})
        by_file: list[list[Result]] = [[f] for f in files]
        # identical files (same bytes, same kind) are read, converted and embedded once
        first: dict[tuple[str, str], int] = {}
        copies: dict[int, int] = {}
        for i, f in enumerate(files):
            if f.status == "pending":
                j = first.setdefault((f.kind, f.hash), i)
                if j != i:
                    copies[i] = j
        todo: dict[str, list[int]] = {kind: [] for kind in MODALITIES}
        for kind in todo:
            idx = [i for i, f in enumerate(files) if f.kind == kind and f.status == "pending" and i not in copies]
            if not idx:
                continue
            if kind == "recording" and not self.encoder.layout.audio:   # before MERT is looked for
                for i in idx:
                    files[i].fail(NO_AUDIO.format(model=self.encoder.family))
                continue
            prep = self.prep(kind)
            manifests = self.store.get_pieces(prep, {files[i].hash for i in idx}) if kind == "music" else {}
            for i in idx:
                items = manifests.get(files[i].hash, [None])
                by_file[i] = [Result(files[i].path, kind, item, files[i].hash) for item in items]
            wanted = {r.key for i in idx for r in by_file[i]}
            cached = self.store.get(self.encoder.model_id, prep, wanted, self.encoder.dim)
            for i in idx:
                if all(r.key in cached for r in by_file[i]) and (kind != "music" or files[i].hash in manifests):
                    for r in by_file[i]:
                        r.vector, r.status = cached[r.key], "cached"
                else:
                    by_file[i] = [files[i]]
                    todo[kind].append(i)
        if on_progress:
            done = sum(all(r.status != "pending" for r in rs) for rs in by_file)
            if done:
                on_progress(done)
        for kind, modality in MODALITIES.items():
            if modality.read is None:
                self._embed_music(todo[kind], files, by_file, on_progress)
            else:
                self._embed_simple(kind, todo[kind], files, on_progress)
        for i, j in copies.items():
            by_file[i] = [replace(r, path=files[i].path, warnings=list(r.warnings)) for r in by_file[j]]
        if on_progress and copies:
            on_progress(len(copies))
        return [r for rs in by_file for r in rs]

    def _hash(self, files: list[Result], given: dict[Path, str]) -> None:
        hash_files(self.store, files, given)

    def _embed_music(self, idx: list[int], files, by_file, on_progress) -> None:
        """Convert every pending file through one pool; embed and commit every `chunk` files."""
        if not idx:
            return
        from .melodies import MELODY_MODEL, melody_rows, prep_of

        enc, prep = self.encoder, self.prep("music")
        melody_prep = prep_of(self.whole_file)
        have = self.store.get_pieces(melody_prep, {files[i].hash for i in idx}) if self.melodies else {}
        jobs = [(files[i].hash, self.melodies and files[i].hash not in have) for i in idx]
        converted = map_files(convert_file_and_melodies, [str(files[i].path) for i in idx], self.jobs,
                              enc.layout.music_text, self.whole_file, on_crash=conversion_crashed,
                              limits=conversion_limits(), on_limit=limit_hit, per_file=jobs)
        try:
            ready: list[Result] = []
            seqs, manifests, files_in_chunk = [], {}, 0
            tunes: dict[str, bytes] = {}
            tune_lists: dict[str, list] = {}
            for n, (i, (_, pieces)) in enumerate(zip(idx, converted), start=1):
                pause_point("convert")
                files_in_chunk += 1
                results = []
                for piece in pieces:
                    r = Result(files[i].path, "music", piece.item, files[i].hash, warnings=piece.warnings)
                    results.append(r)
                    if piece.error:
                        r.fail(piece.error)
                        continue
                    try:
                        seqs.append(enc.music_ids(piece.text))
                        ready.append(r)
                    except InputError as exc:
                        r.fail(str(exc))
                by_file[i] = results
                if not (len(pieces) == 1 and pieces[0].item is None and pieces[0].error):
                    manifests[files[i].hash] = [p.item for p in pieces]
                if all(p.melody is not None or p.melody_error is not None for p in pieces):
                    melody_rows(files[i].hash, pieces, tunes, tune_lists)
                if n % self.chunk == 0 or n == len(idx):
                    self._embed_and_store("music", prep, ready, seqs, manifests)
                    if tunes or tune_lists:         # after the vectors: an interrupted chunk leaves neither
                        self.store.put_blobs(MELODY_MODEL, melody_prep, tunes, tune_lists)
                        tunes, tune_lists = {}, {}
                    if on_progress:
                        on_progress(files_in_chunk)
                    ready, seqs, manifests, files_in_chunk = [], [], {}, 0
        finally:
            converted.close()  # stops the workers now when we leave early (an error, Ctrl-C)

    def _embed_simple(self, kind: str, idx: list[int], files, on_progress) -> None:
        for start in range(0, len(idx), self.chunk):
            ready, seqs = [], []
            for i in idx[start:start + self.chunk]:
                r = files[i]
                try:
                    _, data = read_input(r.path, kind)
                    seqs.append(MODALITIES[kind].read(self, data))
                    ready.append(r)
                except InputError as exc:
                    r.fail(str(exc))
                except OSError as exc:
                    r.fail(os_reason(exc))
            self._embed_and_store(kind, self.prep(kind), ready, seqs)
            if on_progress:
                on_progress(len(idx[start:start + self.chunk]))

    def _embed_and_store(self, kind, prep, ready: list[Result], seqs, pieces: dict[str, list] | None = None) -> None:
        """Embed each distinct key once (identical files share it), then commit them with the files'
        piece lists (one transaction)."""
        first: dict[str, int] = {}
        unique_seqs = []
        for r, seq in zip(ready, seqs):
            if r.key not in first:
                first[r.key] = len(unique_seqs)
                unique_seqs.append(seq)
        if not unique_seqs:
            self.store.put_pieces(prep, pieces or {})
            return
        pause_point("encode")
        self._model_runs()
        vectors = self.encoder.embed_prepared(MODALITIES[kind].branch or kind, unique_seqs, self.batch_size)
        pause_point("write")
        self.store.put(self.encoder.model_id, prep, {k: vectors[n] for k, n in first.items()}, pieces)
        for r in ready:
            r.vector, r.status = vectors[first[r.key]], "embedded"

    def embed_strings(self, strings: Sequence[str]) -> np.ndarray:
        """Query strings and text keys, cached by their sha256 under the text encoder's id."""
        enc = self.encoder
        hashes = [sha256_bytes(s.encode("utf-8")) for s in strings]
        cached = self.store.get(enc.text_id, QUERY_PREP, hashes, enc.dim)
        missing = sorted({h: s for h, s in zip(hashes, strings) if h not in cached}.items())
        if missing:
            self._model_runs()
            vecs = enc.embed_text([s for _, s in missing], self.batch_size)
            new = {h: v for (h, _), v in zip(missing, vecs)}
            self.store.put(enc.text_id, QUERY_PREP, new)
            cached.update(new)
        out = np.zeros((len(strings), enc.dim), dtype=np.float32)
        for row, h in enumerate(hashes):
            out[row] = cached[h]
        return out
