"""Lay a split of a training JSONL out as folders that `clamp eval`, `clamp score`, `clamp probe`
and `clamp map` read: the same files the model card's figures come from, in the authors' layout.

    OUT/scores/ID.abc|.musicxml   the score of each piece (its ABC or MusicXML)
    OUT/midi/ID.mid               its MIDI rendering, where the data has one
    OUT/text/ID.txt               one English description combining its facts
    OUT/labels/KIND.csv           id,label for each kind of label (tune_type, region, composer, and
                                  collection: the corpus folder a piece comes from)

Files are hard links where the file system allows, else copies.
"""

from __future__ import annotations

import os
import shutil
from collections import defaultdict
from pathlib import Path

from ..errors import UsageError
from .trainer import Record, read_jsonl


def _piece_id(piece: str) -> str:
    """A file name without folders or dots, so that dropping the extension gives it back."""
    return piece.replace("/", "_").replace("#", "_").replace(".", "_")


def _description(rec: Record) -> str:
    """Its facts in English: the first phrasing of each fact (prepare writes English first), skipping
    the groups of ready-made combinations (their phrases hold commas, in random languages)."""
    firsts = [rec.texts[g[0]] for g in rec.groups if g and "," not in rec.texts[g[0]] and "，" not in rec.texts[g[0]]]
    return ", ".join(firsts) if firsts else rec.texts[0]


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


ENTRIES = ("scores", "midi", "text", "labels")   # what export_split writes into OUT, and nothing else


def split_records(data: str | Path, split: str) -> list[Record]:
    records = [r for r in read_jsonl(data) if r.split == split]
    if not records:
        raise UsageError(f"{data}: no records in the '{split}' split")
    return records


def export_split(data: str | Path, out: str | Path, split: str = "heldout") -> dict[str, int]:
    data, out = Path(data), Path(out)
    records = split_records(data, split)
    base = data.parent
    labels: dict[str, dict[str, str]] = defaultdict(dict)
    counts = {"scores": 0, "midi": 0, "text": 0}
    for rec in records:
        pid = _piece_id(rec.piece)
        src = rec.music if rec.music.is_absolute() else base / rec.music
        if rec.fmt == "midi":
            _link(src, out / "midi" / f"{pid}.mid")
            counts["midi"] += 1
            continue
        _link(src, out / "scores" / f"{pid}{src.suffix}")
        counts["scores"] += 1
        (out / "text").mkdir(parents=True, exist_ok=True)
        (out / "text" / f"{pid}.txt").write_text(_description(rec) + "\n", encoding="utf-8")
        counts["text"] += 1
        for kind, value in rec.labels.items():
            labels[kind][pid] = value
        labels["collection"][pid] = rec.piece.split("/", 1)[0]     # essen, bach, ryansMammoth, ...
    (out / "labels").mkdir(parents=True, exist_ok=True)
    for kind, table in labels.items():
        rows = "".join(f"{pid},{value}\n" for pid, value in sorted(table.items()) if "," not in value)
        (out / "labels" / f"{kind}.csv").write_text("id,label\n" + rows, encoding="utf-8")
        counts[f"labels/{kind}"] = len(table)
    return counts
