"""Sequence bookkeeping shared by the torch `Encoder` and the numpy text branch (no torch here)."""

from __future__ import annotations

from ..errors import InputError


def segment_plan(n: int, length: int) -> list[tuple[int, int, int]]:
    """(start, end, weight) of each segment of a sequence of n items (section 4)."""
    if n <= 0:
        raise InputError("nothing to encode (empty sequence)")
    bounds = [(s, min(s + length, n)) for s in range(0, n, length)]
    bounds[-1] = (max(n - length, 0), n)
    weights = [length] * (n // length) + ([n % length] if n % length else [])
    return [(s, e, w) for (s, e), w in zip(bounds, weights)]


def text_file_lines(content: str, sep: str) -> str:
    """A .txt file's content -> the one string its vector is computed from (section 4): non-empty
    lines deduplicated and joined with `sep`. The authors deduplicate with an unordered set;
    first-occurrence order is the deterministic equivalent."""
    lines = [line for line in dict.fromkeys(content.split("\n")) if line]
    if not lines:
        raise InputError("empty text (no non-empty line)")
    return sep.join(lines)
