"""Where the true labels of items come from: a table (CSV, TSV, JSON) or the items' own paths.

Ids are an item's path below the folder given, without extension (see retrieval.evaluate);
"dirs" takes the top-level folder of that path as the label, "prefix" the file name before its
first "_" (the authors' convention in their classification scripts).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

from ..errors import InputError

PATH_SOURCES = ("dirs", "prefix")


def labels_from_paths(ids: Sequence[str], source: str) -> dict[str, str]:
    out = {}
    for item in ids:
        if source == "dirs":
            if "/" not in item:
                raise InputError(f"{item}: not inside a folder, so --labels-from dirs gives it no label")
            out[item] = item.split("/", 1)[0]
        else:
            name = item.rsplit("/", 1)[-1]
            if "_" not in name:
                raise InputError(f"{item}: no '_' in its name, so --labels-from prefix gives it no label")
            out[item] = name.split("_", 1)[0]
    return out


def labels_from_table(text: str, name: str) -> dict[str, str]:
    """{id: label} from JSON ({id: label} or [{"id", "label"}]), TSV or CSV (id, label; a header is skipped)."""
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InputError(f"{name}: not valid JSON ({exc})") from None
        if isinstance(data, dict):
            return {str(k): str(v) for k, v in data.items()}
        try:
            return {str(d["id"]): str(d["label"]) for d in data}
        except (TypeError, KeyError):
            raise InputError(f"{name}: a JSON list must hold {{\"id\", \"label\"}} objects") from None
    first = stripped.split("\n", 1)[0]
    dialect = "excel-tab" if "\t" in first else "excel"
    rows = [r for r in csv.reader(io.StringIO(text), dialect=dialect) if any(c.strip() for c in r)]
    if rows and [c.strip().lower() for c in rows[0][:2]] in (["id", "label"], ["path", "label"], ["file", "label"]):
        rows = rows[1:]
    out = {}
    for n, row in enumerate(rows, start=1):
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise InputError(f"{name}: row {n} needs an id and a label")
        out[row[0].strip()] = row[1].strip()
    if not out:
        raise InputError(f"{name}: no labels")
    return out


def attach(ids: Sequence[str], table: dict[str, str]) -> tuple[list[int], list[str], list[str]]:
    """(rows with a label, their labels, ids without one). A table may name an item by its id, by
    its file (a tune "book#3" takes the label of "book"), or by its bare file name."""
    rows, labels, missing = [], [], []
    for i, item in enumerate(ids):
        whole = item.split("#", 1)[0]
        candidates = (item, whole, whole.rsplit("/", 1)[-1])
        label = next((table[c] for c in candidates if c in table), None)
        if label is None:
            missing.append(item)
        else:
            rows.append(i)
            labels.append(label)
    return rows, labels, missing
