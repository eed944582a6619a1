"""Evaluation over two sets of items (queries and references) matched by id.

Ids are what the authors' scripts match on: a file's path below the folder given, without its
extension (`wikimt/0001.txt` <-> `wikimt/0001.abc` -> "0001"), "#X" added for a tune of a
multi-tune ABC file. Nothing here reads files or prints; `cli.evaluate` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..index.vectors import normalize
from .metrics import frechet_distance, group_cosine, pair_cosines, ranks, retrieval_metrics


def item_id(relative_path, item: str | None) -> str:
    """An item's id: its path below the folder given, without extension, "#X" for a tune."""
    return relative_path.with_suffix("").as_posix() + (f"#{item}" if item else "")


def some_of(names: Sequence[str], shown: int = 5) -> str:
    """The first few names of a list for a one-line message, with the count when some are left out."""
    return ", ".join(names[:shown]) + (f", ... ({len(names)} in all)" if len(names) > shown else "")


@dataclass
class ItemSet:
    ids: list[str]
    vectors: np.ndarray          # (n, dim)

    def __post_init__(self) -> None:
        seen: dict[str, int] = {}
        for i in self.ids:
            seen[i] = seen.get(i, 0) + 1
        twice = [i for i, n in seen.items() if n > 1]
        if twice:
            raise InputError(f"{len(twice)} id(s) occur more than once (e.g. '{twice[0]}'): the same name "
                             "with two extensions? give each item one file")


def match(queries: ItemSet, references: ItemSet, pairs: Sequence[tuple[str, str]] | None = None,
          allow_unmatched: bool = False) -> tuple[list[int], list[int], list[str]]:
    """(query rows, their reference rows, unmatched query ids) by equal ids or by `pairs`."""
    ref_row = {r: i for i, r in enumerate(references.ids)}
    q_row = {q: i for i, q in enumerate(queries.ids)}
    wanted = list(pairs) if pairs is not None else [(q, q) for q in queries.ids]
    qs, rs, unmatched = [], [], []
    for q, r in wanted:
        if q in q_row and r in ref_row:
            qs.append(q_row[q])
            rs.append(ref_row[r])
        else:
            unmatched.append(q if pairs is None or q not in q_row else f"{q} -> {r}")
    if unmatched and not allow_unmatched:
        raise InputError(f"{len(unmatched)} quer{'y has' if len(unmatched) == 1 else 'ies have'} no reference: "
                         f"{some_of(unmatched)}; --allow-unmatched drops them")
    if not qs:
        raise InputError("no query has a matching reference (ids are paths below each folder, without extension)")
    return qs, rs, unmatched


@dataclass
class RetrievalReport:
    metrics: dict[str, float]
    query_ids: list[str]
    ranks: list[int]
    correct: list[str]
    top: list[str]


def evaluate_retrieval(queries: ItemSet, references: ItemSet, qs: list[int], rs: list[int],
                       ties: str = "pessimistic", hits: Sequence[int] = (1, 10, 100)) -> RetrievalReport:
    """Every matched query ranks all references by cosine; MRR and Hit@K of its own."""
    scores = normalize(queries.vectors[qs]) @ normalize(references.vectors).T
    r = ranks(scores, rs, ties)
    top = scores.argmax(axis=1)
    metrics = retrieval_metrics(r, hits)
    metrics["references"] = len(references.ids)
    return RetrievalReport(metrics, [queries.ids[i] for i in qs], [int(x) for x in r],
                           [references.ids[i] for i in rs], [references.ids[i] for i in top])


def score_pairs(queries: ItemSet, references: ItemSet, qs: list[int], rs: list[int]) -> dict:
    """Cosine of each matched pair, their mean, and the cosine of the two mean vectors."""
    cos = pair_cosines(queries.vectors[qs], references.vectors[rs])
    return {"pairs": [{"query": queries.ids[q], "reference": references.ids[r], "score": float(c)}
                      for q, r, c in zip(qs, rs, cos)],
            "mean": float(cos.mean()), "group": group_cosine(queries.vectors, references.vectors),
            "n": len(qs)}


def distance(a: ItemSet, b: ItemSet) -> dict:
    """The Fréchet distance between the sets' feature distributions, and whether it is trustworthy."""
    if len(a.ids) < 2 or len(b.ids) < 2:
        raise InputError("the Fréchet distance needs at least 2 items in each set")
    dim = a.vectors.shape[1]
    return {"frechet_distance": frechet_distance(a.vectors, b.vectors), "queries": len(a.ids),
            "references": len(b.ids), "dim": dim, "stable": min(len(a.ids), len(b.ids)) > dim}
