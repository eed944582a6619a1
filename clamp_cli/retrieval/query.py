"""Parsed, validated queries: weighted words and pieces, added or subtracted (as in rclip).

One weight syntax, anchored: a part is weighted only when it starts with a plain number
immediately followed by a colon and then neither a space nor a digit ("2:jazz", "0.5:tune.abc").
So "10:30 train" and "5: Allegro" are words, not weights. A leading backslash turns weighting
off for that part ("\\\\2:jazz" searches for the words "2:jazz"). NaN, infinite and zero weights,
empty parts and queries whose parts cancel out are usage errors.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import UsageError

_WEIGHT = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+)):(?=[^\s\d])(.*)$", re.S)
_NON_FINITE = re.compile(r"^[+-]?(nan|inf|infinity):", re.I)


@dataclass(frozen=True)
class QueryPart:
    weight: float
    kind: str          # "text" or "music"
    value: str         # words, or a path (path#X for one tune of a file)


@dataclass(frozen=True)
class Query:
    parts: tuple[QueryPart, ...]

    @property
    def texts(self) -> list[QueryPart]:
        return [p for p in self.parts if p.kind == "text"]

    @property
    def music(self) -> list[QueryPart]:
        return [p for p in self.parts if p.kind == "music"]


def split_weight(item: str, *, is_path=None) -> tuple[float, str]:
    """"2:jazz" -> (2.0, "jazz"); "\\\\2:jazz" -> (1.0, "2:jazz"); validates the weight.

    `is_path(item)` (for music parts): an existing file name is never read as weighted.
    """
    if item.startswith("\\"):
        return 1.0, item[1:]
    if _NON_FINITE.match(item):
        raise UsageError(f"'{item}': a weight must be a finite number")
    if is_path is not None and is_path(item):
        return 1.0, item
    m = _WEIGHT.match(item)
    if not m:
        return 1.0, item
    weight = float(m.group(1))
    if not math.isfinite(weight):
        raise UsageError(f"'{item}': a weight must be a finite number")
    if weight == 0:
        raise UsageError(f"'{item}': a weight of 0 removes the part; leave it out instead")
    return weight, m.group(2)


def parse_query(texts: Sequence[str] = (), music: Sequence[str] = (), sub_texts: Sequence[str] = (),
                sub_music: Sequence[str] = (), is_path=None) -> Query:
    """Command-line parts -> a Query; raises UsageError for anything that cannot rank."""
    parts: list[QueryPart] = []
    for items, kind, sign in ((texts, "text", 1), (sub_texts, "text", -1), (music, "music", 1),
                              (sub_music, "music", -1)):
        for item in items:
            weight, value = split_weight(item, is_path=is_path if kind == "music" else None)
            if not value.strip():
                what = "--text/--sub" if kind == "text" else "--music/--sub-music"
                raise UsageError(f"an empty query part was given ({what} '{item}')")
            parts.append(QueryPart(sign * weight, kind, value if kind == "music" else value.strip()))
    if not parts:
        raise UsageError("give a query: --text WORDS and/or --music FILE")
    total: dict[tuple[str, str], float] = {}
    for p in parts:
        total[(p.kind, p.value)] = total.get((p.kind, p.value), 0.0) + p.weight
    if all(abs(w) < 1e-12 for w in total.values()):
        raise UsageError("the query's parts cancel out (the same part added and subtracted)")
    if all(w <= 0 for w in total.values()):
        raise UsageError("the query only subtracts: add at least one part with --text or --music")
    return Query(tuple(parts))
