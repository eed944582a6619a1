"""One conversion for two uses: inside `one_file()`, the MusicXML that abc2xml or music21 makes
of a score is remembered, so that the embedding's model text and the piece's melody (asked for
together by index.embedder) are made from the same conversion. Outside it nothing is kept, and
what is kept goes when the file is done."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Iterator
from typing import TypeVar

T = TypeVar("T")
_kept: dict[Hashable, object] | None = None


@contextlib.contextmanager
def one_file() -> Iterator[None]:
    global _kept
    outer, _kept = _kept, {}
    try:
        yield
    finally:
        _kept = outer


def remembered(key: Hashable, make: Callable[[], T]) -> T:
    """make(), or what it gave for `key` earlier within the same one_file() (failures are not kept:
    the second use meets the same error, from the same input)."""
    if _kept is None:
        return make()
    if key not in _kept:
        _kept[key] = make()
    return _kept[key]  # type: ignore[return-value]
