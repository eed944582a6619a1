"""Files and strings to cached global vectors: only new or changed inputs reach the model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..formats import decode_text, kind_of, load_npy, music_text, prep_key
from .store import FeatureStore, sha256_bytes

QUERY_PREP = "query/v1"


@dataclass
class Result:
    path: Path
    kind: str
    hash: str | None = None
    vector: np.ndarray | None = None
    status: str = "pending"          # embedded | cached | failed
    error: str | None = None

    def fail(self, reason: str) -> None:
        self.status, self.error = "failed", reason


class Embedder:
    """Embeds files and strings with one encoder, reading and writing one FeatureStore.

    Work is committed to the store every `chunk` inputs, so an interrupted run
    keeps what it finished and leaves nothing half-written.
    """

    def __init__(self, encoder, store: FeatureStore, batch_size: int | None = None, chunk: int = 32):
        self.encoder, self.store, self.batch_size, self.chunk = encoder, store, batch_size, chunk

    def embed_files(self, paths: Sequence[Path],
                    on_progress: Callable[[int], None] | None = None) -> list[Result]:
        enc = self.encoder
        results = [Result(Path(p), kind_of(p) or "unknown") for p in paths]
        known = self.store.known_hashes(r.path for r in results)
        data: dict[int, bytes] = {}
        fresh = []
        for i, r in enumerate(results):
            if r.path in known:
                r.hash = known[r.path]
                continue
            try:
                st = r.path.stat()
                data[i] = r.path.read_bytes()
            except OSError as exc:
                r.fail(exc.strerror or str(exc))
                continue
            r.hash = sha256_bytes(data[i])
            fresh.append((r.path, st, r.hash))
        self.store.remember_hashes(fresh)

        pending: dict[str, list[int]] = {}
        for kind in ("music", "text", "audio"):
            idx = [i for i, r in enumerate(results) if r.kind == kind and r.status == "pending"]
            if not idx:
                continue
            prep = prep_key(kind, enc.family)
            model = enc.model_id
            cached = self.store.get(model, prep, {results[i].hash for i in idx}, enc.dim)
            for i in idx:
                r = results[i]
                if r.hash in cached:
                    r.vector, r.status = cached[r.hash], "cached"
            pending[kind] = [i for i in idx if results[i].status == "pending"]
        if on_progress:
            done = sum(r.status != "pending" for r in results)
            if done:
                on_progress(done)

        for kind, idx in pending.items():
            self._embed_kind(kind, idx, results, data, on_progress)
        return results

    def _prepare(self, kind: str, r: Result, raw: bytes | None):
        enc = self.encoder
        if raw is None:
            raw = r.path.read_bytes()
            if sha256_bytes(raw) != r.hash:  # changed since it was hashed
                r.hash = sha256_bytes(raw)
        if kind == "music":
            return enc.music_ids(music_text(raw, r.path.suffix.lower(), enc.family))
        if kind == "text":
            return enc.text_file_ids(decode_text(raw))
        return enc.audio_frames(load_npy(raw))

    def _embed_kind(self, kind, idx, results, data, on_progress) -> None:
        prep = prep_key(kind, self.encoder.family)
        by_hash: dict[str, list[int]] = {}
        for i in idx:
            by_hash.setdefault(results[i].hash, []).append(i)  # identical files: embed once
        groups = list(by_hash.values())
        for start in range(0, len(groups), self.chunk):
            batch, seqs = [], []
            for group in groups[start:start + self.chunk]:
                r = results[group[0]]
                try:
                    seqs.append(self._prepare(kind, r, data.get(group[0])))
                    batch.append(group)
                except InputError as exc:
                    for i in group:
                        results[i].fail(str(exc))
                except OSError as exc:
                    for i in group:
                        results[i].fail(exc.strerror or str(exc))
            failed = sum(len(g) for g in groups[start:start + self.chunk]) - sum(len(g) for g in batch)
            if on_progress and failed:
                on_progress(failed)
            if not batch:
                continue
            vectors = self.encoder.embed_prepared(kind, seqs, self.batch_size, on_progress)
            duplicates = sum(len(g) - 1 for g in batch)
            if on_progress and duplicates:
                on_progress(duplicates)
            self.store.put(self.encoder.model_id, prep,
                           {results[g[0]].hash: v for g, v in zip(batch, vectors)})
            for group, vec in zip(batch, vectors):
                for i in group:
                    results[i].vector, results[i].status = vec, "embedded"
                    results[i].hash = results[group[0]].hash

    def embed_strings(self, strings: Sequence[str]) -> np.ndarray:
        """Query strings and text keys, cached by their sha256 under the text encoder's id."""
        enc = self.encoder
        hashes = [sha256_bytes(s.encode("utf-8")) for s in strings]
        cached = self.store.get(enc.text_id, QUERY_PREP, hashes, enc.dim)
        missing = sorted({h: s for h, s in zip(hashes, strings) if h not in cached}.items())
        if missing:
            vecs = enc.embed_text([s for _, s in missing], self.batch_size)
            new = {h: v for (h, _), v in zip(missing, vecs)}
            self.store.put(enc.text_id, QUERY_PREP, new)
            cached.update(new)
        out = np.zeros((len(strings), enc.dim), dtype=np.float32)
        for row, h in enumerate(hashes):
            out[row] = cached[h]
        return out
