"""Features computed elsewhere, into a library.

Two layouts:
- the CLaMP authors' (and `clamp embed -O`'s): one `.npy` per piece, shape (1, D) or (D,), in a
  tree mirroring the scores' (`folk/a.npy` for `folk/a.mxl`, `tunes#3.npy` for tune 3 of
  `tunes.abc`). With the scores' folder given, each vector is filed under its score (so a later
  update of that folder finds it unchanged); without it, under the `.npy` itself.
- Parquet shards with columns `key` (content key: sha256 of the file, `#X` for tune X), `path`,
  `model`, `prep`, `vector` (`fixed_size_list<float32>[D]`): what the cluster engine writes.
A vector of another model or dimension is refused with one line; importing the same data twice
changes nothing (contents already held keep their rows).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..formats import SUFFIX_FORMAT
from ..fsutil import os_reason
from .library import Library, path_key

PARQUET_COLUMNS = ("key", "path", "model", "prep", "vector")
ROW_GROUP = 100_000          # rows per row group in the shards clamp writes (a group is read whole)


@dataclass
class ImportReport:
    files: int = 0
    rows_added: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)   # (where, reason)


class _Missing:
    """The stat of a path that is not on this machine: a later update re-reads it if it appears."""

    st_size = -1
    st_mtime_ns = -1


def _stat(path: str):
    try:
        return os.stat(os.fsencode(path))
    except OSError:
        return _Missing()


def write_parquet_shard(path: Path, keys: list[str], paths: list[str], model: str, preps: list[str],
                        vectors: np.ndarray) -> None:
    """One shard of the interchange (what `import_parquet` reads), written the way that reads
    fastest: the vector column not null and uncompressed (float vectors do not compress, and a
    nullable list column costs a definition level per value to decode), the repeated text columns
    dictionary-encoded. Written under a temporary name, then renamed: a shard is whole or absent."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n, dim = vectors.shape
    vector_type = pa.list_(pa.field("item", pa.float32(), nullable=False), dim)
    schema = pa.schema([pa.field("key", pa.string(), nullable=False), pa.field("path", pa.string()),
                        pa.field("model", pa.string(), nullable=False), pa.field("prep", pa.string()),
                        pa.field("vector", vector_type, nullable=False)])
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
    table = pa.table({"key": keys, "path": paths, "model": [model] * n, "prep": preps,
                      "vector": pa.FixedSizeListArray.from_arrays(flat, type=vector_type)}, schema=schema)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        pq.write_table(table, str(tmp), compression={"key": "snappy", "path": "snappy", "model": "snappy",
                                                     "prep": "snappy", "vector": "none"},
                       use_dictionary=["model", "prep"], row_group_size=ROW_GROUP)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def import_parquet(lib: Library, shards: list[Path], on_progress: Callable[[int], None] | None = None) -> ImportReport:
    import pyarrow as pa
    import pyarrow.parquet as pq

    report = ImportReport()
    for shard in shards:
        try:
            pf = pq.ParquetFile(str(shard))
        except (OSError, pa.ArrowException) as exc:
            report.problems.append((str(shard), f"not a Parquet file ({exc})"))
            continue
        names = pf.schema_arrow.names
        missing = [c for c in PARQUET_COLUMNS if c not in names]
        if missing:
            report.problems.append((str(shard), f"no column {', '.join(missing)} (needs {', '.join(PARQUET_COLUMNS)})"))
            continue
        vtype = pf.schema_arrow.field("vector").type
        size = getattr(vtype, "list_size", None)
        if size != lib.dim or not pa.types.is_float32(vtype.value_type):
            report.problems.append((str(shard), f"vectors are {vtype}, the library's model needs "
                                                f"fixed_size_list<float32>[{lib.dim}]"))
            continue
        models = set(pq.read_table(str(shard), columns=["model"]).column("model").unique().to_pylist())
        if models != {lib.model_id}:
            other = ", ".join(sorted(str(m) for m in models - {lib.model_id})) or "none"
            report.problems.append((str(shard), f"vectors of model {other}; the library holds {lib.model_id}"))
            continue
        for group in range(pf.num_row_groups):
            with lib.writing():     # the check below and the write are one step (no other writer between)
                added = _import_group(lib, pf, group, str(shard), report)
            if on_progress and added is not None:
                on_progress(added)
    return report


def _import_group(lib: Library, pf, group: int, shard: str, report: ImportReport) -> int | None:
    """One row group of a shard into the library (the caller holds its write lock); the number
    of rows read, or None when the group is refused (a line in the report)."""
    # the small columns first: a group whose pieces are all held already (a re-import) is
    # never decoded for its vectors, which are nearly all of its bytes
    meta = pf.read_row_group(group, columns=["key", "path", "prep"], use_threads=False)
    keys = meta.column("key").to_pylist()
    preps = meta.column("prep").to_pylist()
    split = [key.partition("#") for key in keys]
    hashes = [h for h, _, _ in split]
    items = [item for _, _, item in split]
    held = lib.held_pieces(hashes)[0] if lib.rows else set()
    new = [i for i, piece in enumerate(zip(hashes, items)) if piece not in held]
    vectors = np.zeros((0, lib.dim), np.float32)
    if new:
        # one thread: pyarrow's pool decoded a group's vectors 3.4x slower on 2 busy cores
        column = pf.read_row_group(group, columns=["vector"], use_threads=False).column("vector")
        flat = [chunk.flatten().to_numpy(zero_copy_only=False) for chunk in column.chunks]   # views
        vectors = (flat[0] if len(flat) == 1 else np.concatenate(flat)).reshape(len(keys), lib.dim)
        if not np.isfinite(vectors).all():
            report.problems.append((shard, f"vectors that are not finite; row group {group} skipped"))
            return None
        if len(new) < len(keys):
            vectors = vectors[np.asarray(new)]
    kind_of_prep = {prep: (prep or "music").split("/")[0] for prep in set(preps)}
    files = {path: h for path, h in zip(meta.column("path").to_pylist(), hashes) if path}
    folders = {d: os.path.isdir(d) for d in {p.rpartition("/")[0] for p in files}}
    rows = []
    for path, h in files.items():      # paths of folders this machine lacks are not stat'ed one by one
        st = _stat(path) if folders[path.rpartition("/")[0]] else _Missing
        rows.append((path_key(path), st.st_size, st.st_mtime_ns, h))
    report.rows_added += lib.add_rows(rows, [hashes[i] for i in new], [items[i] for i in new],
                                      [kind_of_prep[preps[i]] for i in new], vectors, unheld=True)
    report.files += len(files)
    return len(keys)


def _npy_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.lower().endswith(".npy") and not name.startswith("."):
                yield Path(dirpath) / name


def _source_of(npy: Path, root: Path, scores: Path) -> tuple[Path | None, str]:
    """The score a feature file stands for (same path below the folders, any readable suffix), and
    the tune id from a `name#X.npy` name."""
    rel = npy.relative_to(root)
    stem, item = rel.stem, ""
    base = scores / rel.parent
    if "#" in stem:
        head, _, tail = stem.rpartition("#")
        if head and tail:
            stem, item = head, tail
    for suffix in SUFFIX_FORMAT:
        candidate = base / (stem + suffix)
        if candidate.is_file():
            return candidate, item
    return None, item


def import_npy_tree(lib: Library, root: Path, scores: Path | None = None, kind: str = "music",
                    on_progress: Callable[[int], None] | None = None) -> ImportReport:
    from ..errors import InputError
    from ..formats import load_npy

    report = ImportReport()
    files, pieces = [], {}
    for npy in _npy_files(root):
        try:
            data = npy.read_bytes()
            vec = np.asarray(load_npy(data), dtype=np.float32)
        except OSError as exc:
            report.problems.append((str(npy), os_reason(exc)))
            continue
        except InputError as exc:
            report.problems.append((str(npy), str(exc)))
            continue
        if vec.ndim > 2 or (vec.ndim == 2 and vec.shape[0] != 1) or vec.size != lib.dim:
            report.problems.append((str(npy), f"shape {tuple(vec.shape)} is not a global vector (1, {lib.dim}) "
                                              f"of the library's model"))
            continue
        if not np.isfinite(vec).all():
            report.problems.append((str(npy), "vector is not finite"))
            continue
        source, item = _source_of(npy, root, scores) if scores is not None else (None, "")
        if source is not None:
            digest = hashlib.sha256(source.read_bytes()).hexdigest()
            path = source
        else:
            digest, path, item = hashlib.sha256(data).hexdigest(), npy, ""
        pieces.setdefault(digest, []).append((item, kind, vec.reshape(-1)))
        files.append((path, _stat(str(path)), digest))
        if len(files) >= 4096:
            report.rows_added += lib.add(files, pieces)
            report.files += len(files)
            if on_progress:
                on_progress(len(files))
            files, pieces = [], {}
    if files:
        report.rows_added += lib.add(files, pieces)
        report.files += len(files)
        if on_progress:
            on_progress(len(files))
    return report
