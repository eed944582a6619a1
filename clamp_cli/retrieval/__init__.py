"""Similarity, top-k and zero-shot classification over global vectors (numpy only)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def combine(parts: Sequence[tuple[float, np.ndarray]]) -> np.ndarray:
    """Query arithmetic: the weighted sum of unit vectors (negative weights subtract)."""
    if not parts:
        raise ValueError("empty query")
    total = np.zeros_like(np.asarray(parts[0][1], dtype=np.float32))
    for weight, vec in parts:
        total += np.float32(weight) * normalize(vec)
    return total


def top_k(rows: np.ndarray, query: np.ndarray, k: int, subset: np.ndarray | None = None
          ) -> list[tuple[int, float]]:
    """The k best (index, cosine) of unit `rows` (optionally only `subset` of them) for `query`.

    One matrix-vector product, then a partial sort: no per-key work in Python.
    """
    q = normalize(query)
    if subset is not None:
        rows = rows[subset]
    scores = np.asarray(rows @ q)
    k = min(k, scores.shape[0])
    if k <= 0:
        return []
    best = np.argpartition(-scores, k - 1)[:k]
    best = best[np.lexsort((best, -scores[best]))]  # score descending, ties by position
    return [(int(i), float(scores[i])) for i in best]


def zero_shot(pieces: np.ndarray, labels: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(cosine, probability) matrices, pieces x labels; softmax over labels of cosine * scale."""
    cos = normalize(pieces) @ normalize(labels).T
    logits = cos * np.float32(scale)
    logits = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    return cos, probs / probs.sum(axis=1, keepdims=True)
