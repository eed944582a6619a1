"""Retrieval: queries, similarity, top-k and zero-shot classification over global vectors.

Every command that ranks or labels calls these functions (and so do the
benchmarks): the CLI parses arguments, calls one of them, and prints.
Nothing here imports the CLI; vectors come from `index` (a `VectorIndex`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..index.vectors import normalize, top_k
from .query import Query, QueryPart, parse_query, split_weight

__all__ = ["CORRECTIONS", "Hit", "LabelScore", "Labelled", "Query", "QueryPart", "classify", "combine",
           "correct_hubs", "normalize", "parse_query", "rank", "split_weight", "top_k", "zero_shot"]

# how zero-shot treats labels that score high for every piece ("hubs"): see `correct_hubs`
CORRECTIONS = ("auto", "center", "none")
AUTO_CENTER_MIN = 50     # "auto" centres sets of at least this many pieces (fewer: a label's mean is noise)


def combine(parts: Sequence[tuple[float, np.ndarray]]) -> np.ndarray:
    """Query arithmetic: the weighted sum of unit vectors (negative weights subtract)."""
    if not parts:
        raise ValueError("empty query")
    total = np.zeros_like(np.asarray(parts[0][1], dtype=np.float32))
    for weight, vec in parts:
        total += np.float32(weight) * normalize(vec)
    return total


@dataclass(frozen=True)
class Hit:
    rank: int
    score: float
    key: str


def rank(query: np.ndarray, index, k: int, restrict: Sequence[str] | None = None,
         exclude: set[str] | frozenset = frozenset()) -> list[Hit]:
    """The k keys of `index` (a VectorIndex) most similar to `query`, by cosine.

    `restrict` limits the ranking to those keys; `exclude` drops keys (a query's own piece).
    """
    if not np.isfinite(query).all():
        raise ValueError("the query vector is not finite")
    keys = list(restrict) if restrict is not None else None
    if exclude:
        keys = [key for key in (keys if keys is not None else index.keys()) if key not in exclude]
    found = index.search(normalize(query), k, restrict=keys)
    return [Hit(i + 1, score, key) for i, (key, score) in enumerate(found)]


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    """Softmax of each row, shifted by its maximum so that large logits cannot overflow."""
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def correct_hubs(cos: np.ndarray, how: str = "center") -> np.ndarray:
    """Each label's cosines less that label's mean over the set being classified, plus the set's mean.

    Some label texts sit close to every piece and win everywhere; subtracting each label's mean
    over the set (a prior estimated on the set) lets the piece's own signal decide. The overall
    mean is added back so that scores stay on the cosine scale. "auto" centres a set of at least
    AUTO_CENTER_MIN pieces and leaves a smaller one alone; "none" changes nothing.
    """
    if how not in CORRECTIONS:
        raise ValueError(f"unknown correction {how!r}")
    if how == "none" or len(cos) == 0 or (how == "auto" and len(cos) < AUTO_CENTER_MIN):
        return cos
    return cos - cos.mean(axis=0, keepdims=True) + cos.mean()


def zero_shot(pieces: np.ndarray, labels: np.ndarray, scale: float,
              correct: str = "none") -> tuple[np.ndarray, np.ndarray]:
    """(cosine, probability) matrices, pieces x labels; softmax over labels of the (hub-corrected)
    cosine * scale. The cosines returned are the plain ones."""
    cos = normalize(pieces) @ normalize(labels).T
    return cos, softmax_rows(correct_hubs(cos, correct) * np.float32(scale))


@dataclass(frozen=True)
class LabelScore:
    label: str
    probability: float
    score: float


@dataclass(frozen=True)
class Labelled:
    key: str
    top: tuple[LabelScore, ...]     # best first

    @property
    def best(self) -> LabelScore:
        return self.top[0]


def classify(keys: Sequence[str], pieces: np.ndarray, labels: Sequence[str], label_vectors: np.ndarray,
             scale: float, k: int = 1, correct: str = "none") -> list[Labelled]:
    """Zero-shot labels: for each piece the k most probable labels."""
    cos, probs = zero_shot(pieces, label_vectors, scale, correct)
    out = []
    for key, c, p in zip(keys, cos, probs):
        order = top_k(p, k)
        out.append(Labelled(key, tuple(LabelScore(labels[j], float(p[j]), float(c[j])) for j in order)))
    return out
