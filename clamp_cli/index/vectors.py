"""`VectorIndex`: what ranking needs from a set of vectors, and the exact (brute-force) index.

The interface is small on purpose: `add`, `get`, `keys`, `search(query, k, restrict=keys)`.
An approximate-nearest-neighbour index for libraries of millions (faiss, usearch) is a second
class with the same methods; `retrieval.rank` takes either.

Ranking cost follows the keys asked for, never the size of the cache: with `restrict`, only
those rows are gathered (or, when they are most of the index, one product over all rows and
a gather of the scores, whichever touches less memory).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

GATHER_SHARE = 0.5  # restrict to more than this share of the rows: score them all, then pick


@runtime_checkable
class VectorIndex(Protocol):
    dim: int

    def __len__(self) -> int: ...

    def add(self, keys: Sequence[str], vectors: np.ndarray) -> None: ...

    def get(self, keys: Iterable[str]) -> dict[str, np.ndarray]: ...

    def keys(self) -> list[str]: ...

    def search(self, query: np.ndarray, k: int, restrict: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """The k best (key, cosine) for a unit `query`, best first; ties in insertion order."""
        ...


def normalize(x: np.ndarray) -> np.ndarray:
    """Unit vectors along the last axis, float32 (a zero vector stays zero)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, best first; ties keep input order. One partial sort."""
    n = scores.shape[0]
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    best = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
    return best[np.lexsort((best, -scores[best]))]


class ExactIndex:
    """Unit vectors in memory (or memory-mapped), scored exactly by one matrix-vector product."""

    def __init__(self, dim: int, keys: Sequence[str] = (), rows: np.ndarray | None = None):
        self.dim = dim
        self._keys: list[str] = list(keys)
        self._pos = {key: i for i, key in enumerate(self._keys)}
        self._rows = rows if rows is not None else np.zeros((0, dim), dtype=np.float32)
        self._pending: list[np.ndarray] = []
        if len(self._pos) != len(self._keys):
            raise ValueError("duplicate keys")
        if self._rows.shape != (len(self._keys), dim):
            raise ValueError(f"rows of shape {self._rows.shape} for {len(self._keys)} keys of dim {dim}")

    @classmethod
    def from_vectors(cls, keys: Sequence[str], vectors: np.ndarray | Sequence[np.ndarray]) -> "ExactIndex":
        rows = normalize(np.stack(vectors) if not isinstance(vectors, np.ndarray) else vectors)
        return cls(rows.shape[1], keys, rows)

    def __len__(self) -> int:
        return len(self._keys)

    def keys(self) -> list[str]:
        return list(self._keys)

    def add(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Append new keys (a key already present is replaced in place)."""
        rows = normalize(np.asarray(vectors).reshape(len(keys), self.dim))
        self._flush()
        fresh = []
        for key, row in zip(keys, rows):
            if key in self._pos:
                if not self._rows.flags.writeable:
                    self._rows = np.array(self._rows)
                self._rows[self._pos[key]] = row
            else:
                self._pos[key] = len(self._keys)
                self._keys.append(key)
                fresh.append(row)
        if fresh:
            self._pending.append(np.stack(fresh))

    def _flush(self) -> None:
        if self._pending:
            self._rows = np.concatenate([self._rows, *self._pending])
            self._pending = []

    def get(self, keys: Iterable[str]) -> dict[str, np.ndarray]:
        self._flush()
        return {key: np.array(self._rows[self._pos[key]]) for key in keys if key in self._pos}

    def search(self, query: np.ndarray, k: int, restrict: Sequence[str] | None = None) -> list[tuple[str, float]]:
        self._flush()
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        if restrict is None:
            scores = self._rows @ q
            return [(self._keys[i], float(scores[i])) for i in top_k(scores, k)]
        idx = np.fromiter((self._pos[key] for key in restrict if key in self._pos), dtype=np.int64)
        if idx.size == 0:
            return []
        if idx.size > GATHER_SHARE * len(self._keys):
            scores = (self._rows @ q)[idx]
        else:
            scores = self._rows[idx] @ q
        return [(self._keys[idx[i]], float(scores[i])) for i in top_k(scores, k)]
