"""Searching and labelling with an `Embedder`: what `clamp search` and `clamp classify` do, as functions.

The CLI parses arguments, calls these, and prints what they return; benchmarks and
other commands (eval, score) call the same functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..formats.walk import names_file, split_piece_ref
from ..index.vectors import ExactIndex
from . import Hit, Labelled, Query, classify, combine, rank


def is_piece_ref(ref: str) -> bool:
    path, _ = split_piece_ref(ref)
    return names_file(path)


@dataclass
class QueryVector:
    vector: np.ndarray
    own_keys: frozenset[str]        # content keys of the query's pieces (excluded from results by default)


def query_vector(query: Query, embedder) -> QueryVector:
    """Embed every part (cached) and combine them; a multi-tune query file counts each tune once."""
    parts: list[tuple[float, np.ndarray]] = []
    own: set[str] = set()
    if query.texts:
        vecs = embedder.embed_strings([p.value for p in query.texts])
        parts += [(p.weight, v) for p, v in zip(query.texts, vecs)]
    for part in query.music:
        path, item = split_piece_ref(part.value)
        results = embedder.embed_files([path])
        if item is not None:
            results = [r for r in results if r.item == item]
            if not results:
                raise InputError(f"{path}: no tune X:{item} in the file (query piece)")
        bad = [r for r in results if r.vector is None]
        if bad:
            raise InputError(f"{bad[0].name}: {bad[0].error or 'cannot be embedded'} (query piece)")
        for r in results:
            parts.append((part.weight / len(results), r.vector))
            if part.weight > 0:
                own.add(r.key)
    vec = combine(parts)
    if not np.isfinite(vec).all() or float(np.linalg.norm(vec)) < 1e-6:
        raise InputError("the query's parts cancel out: its vector is zero")
    return QueryVector(vec, frozenset(own))


def rank_pieces(query: QueryVector, results: Sequence, k: int, include_query: bool = False) -> list[tuple[Hit, object]]:
    """Rank embedded pieces (the vectors in hand; nothing else in the cache is touched)."""
    usable = [r for r in results if r.vector is not None]
    if not usable:
        return []
    names = [r.name for r in usable]
    index = ExactIndex.from_vectors(names, np.stack([r.vector for r in usable]))
    by_name = dict(zip(names, usable))
    exclude = set() if include_query else {r.name for r in usable if r.key in query.own_keys}
    return [(hit, by_name[hit.key]) for hit in rank(query.vector, index, k, exclude=exclude)]


def rank_texts(query: QueryVector, lines: Sequence[str], embedder, k: int) -> list[Hit]:
    """Music-to-text search: rank lines of text (cached under the text encoder's id)."""
    keys = [str(i) for i in range(len(lines))]
    index = ExactIndex.from_vectors(keys, embedder.embed_strings(list(lines)))
    return rank(query.vector, index, k)


PLACEHOLDER = "<>"


def label_prompts(labels: Sequence[str], prompt: str | None) -> list[str]:
    """Fill the template; a template without "<>" gets the label appended after a space."""
    if not prompt:
        return list(labels)
    if PLACEHOLDER in prompt:
        return [prompt.replace(PLACEHOLDER, label) for label in labels]
    return [f"{prompt} {label}" for label in labels]


def label_pieces(results: Sequence, labels: Sequence[str], prompt: str | None, embedder, k: int,
                 correct: str = "none") -> list[Labelled]:
    """Zero-shot: each embedded piece against "prompt(label)" for every label (`correct`: see correct_hubs)."""
    usable = [r for r in results if r.vector is not None]
    if not usable:
        raise InputError("no piece could be embedded")
    label_vecs = embedder.embed_strings(label_prompts(labels, prompt))
    return classify([r.name for r in usable], np.stack([r.vector for r in usable]), labels, label_vecs,
                    embedder.encoder.logit_scale, k, correct)
