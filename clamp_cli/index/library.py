"""`Library`: the persistent index of one collection for one model, built for millions of pieces.

A library is a folder:

    library.sqlite3        the tables (source of truth), schema version in PRAGMA user_version
      meta(key, value)                     model, dim, whole_file, roots, rows (committed), ann
      files(path, size, mtime_ns, hash)    path (bytes) -> what was read; hash = sha256 of the bytes
      pieces(row, hash, item, kind, live)  content -> its pieces; row = position in vectors.f32
    vectors.f32            unit float32 rows, append-only, memory-mapped (row i at byte i*dim*4)
    norms.f32              each row's length before it was normalised (raw vector = row * norm)
    ann-<stamp>.faiss      the approximate index over rows [0, ann.rows), opened memory-mapped
    lock                   writers hold an exclusive flock on it; readers never wait

Identical files share their rows (a piece is stored once per content). A row is never
rewritten: a piece whose last file is gone is marked dead (`live = 0`) and comes back to
life if the content reappears. A write appends vectors past the committed row count, fsyncs
them, then commits the tables in one transaction that moves the count: an interrupted writer
leaves bytes past the count, which the next writer cuts off, and nothing a reader can see.

Search is exact (one product over the memory-mapped rows) below `ann_threshold` live rows,
and above it an IVF index with 8-bit scalar codes (faiss) gives candidates that are re-ranked
exactly from the vector file; rows added since the index was built are scored exactly too.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import EXIT_USAGE, ClampError, StorageError
from ..fsutil import disk_reason, os_reason, path_key, storage
from .sqlite import chunks as _chunks
from .sqlite import transaction as _transaction

DB_NAME, VECTORS_NAME, NORMS_NAME, LOCK_NAME = "library.sqlite3", "vectors.f32", "norms.f32", "lock"
ANN_THRESHOLD = 200_000          # live rows above which search goes through the approximate index
ANN_RECALL_TARGET = 0.95
DEFAULT_NPROBE = 32
RERANK = 200                     # candidates taken from the approximate index, re-ranked exactly
MERGE_SHARE = 0.05               # rows beyond the approximate index: merged in past this share (and 20k)

MIGRATIONS: list[list[str]] = [
    [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE files (path BLOB PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
        " hash TEXT NOT NULL) WITHOUT ROWID",
        "CREATE INDEX files_hash ON files (hash)",
        "CREATE TABLE pieces (row INTEGER PRIMARY KEY, hash TEXT NOT NULL, item TEXT NOT NULL,"
        " kind TEXT NOT NULL, live INTEGER NOT NULL DEFAULT 1, UNIQUE (hash, item))",
        "CREATE INDEX pieces_dead ON pieces (row) WHERE live = 0",
    ],
    [   # 2: a counter of the files table's writes, which the folder scans a search records are checked against
        "INSERT OR IGNORE INTO meta VALUES ('files_generation', '0')",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)
READABLE_FROM = 1       # the oldest schema read as it is when the library is read-only (reads need nothing newer)
SCANS_KEPT = 32         # folder scans remembered per library (see record_scan)


class LibraryError(ClampError):
    """A library cannot be opened, created or written (exit 2: fix the setup)."""

    exit_code = EXIT_USAGE


def path_of(key: bytes) -> Path:
    return Path(os.fsdecode(key))


@dataclass
class Piece:
    """A stored piece: its row, the content it belongs to, and the tune id ('' for the whole file)."""

    row: int
    hash: str
    item: str
    kind: str

    @property
    def key(self) -> str:
        return f"{self.hash}#{self.item}" if self.item else self.hash


@dataclass
class Reconciliation:
    """A folder against the library, from one read of the path table and one stat per file."""

    unchanged: dict[Path, str] = field(default_factory=dict)   # path -> content hash
    fresh: list[Path] = field(default_factory=list)            # new or changed: to hash (and maybe embed)
    gone: list[bytes] = field(default_factory=list)            # in the table, in scope, no longer on disk
    problems: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        return bool(self.fresh or self.gone)


@dataclass
class Hit:
    row: int
    score: float


class Library:
    """One collection, for one model: paths -> content hashes -> pieces -> rows of vectors."""

    def __init__(self, directory: str | Path, *, readonly: bool = False):
        self.dir = Path(directory).expanduser()
        self.db_path = self.dir / DB_NAME
        if not self.db_path.is_file():
            raise LibraryError(f"{self.dir}: no library here (`clamp library create` makes one)")
        self.writable = not readonly and os.access(self.dir, os.W_OK | os.X_OK) and \
            os.access(self.db_path, os.W_OK)
        self.db = self._connect()
        self.meta = dict(self.db.execute("SELECT key, value FROM meta"))
        self.model_id, self.dim = self.meta["model"], int(self.meta["dim"])
        self.whole_file = self.meta.get("whole_file") == "1"
        self.ann_threshold = int(self.meta.get("ann_threshold", ANN_THRESHOLD))
        self._map: np.ndarray | None = None
        self._ann = None
        self._lock_fd: int | None = None

    # -- creating and opening --------------------------------------------------------
    @classmethod
    def create(cls, directory: str | Path, model_id: str, dim: int, *, whole_file: bool = False,
               roots: Sequence[str | Path] = (), ann_threshold: int = ANN_THRESHOLD,
               model_name: str | None = None) -> Library:
        directory = Path(directory).expanduser()
        made = not directory.exists()
        try:
            with storage(directory):
                directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LibraryError(f"{directory}: cannot create the library folder ({os_reason(exc)})") from None
        db_path = directory / DB_NAME
        if db_path.exists():
            raise LibraryError(f"{directory}: a library exists here already")
        tmp = directory / f".{DB_NAME}.{os.getpid()}.tmp"
        try:
            with storage(directory):
                db = sqlite3.connect(str(tmp), isolation_level=None)
                try:
                    db.execute("BEGIN")
                    for statement in (statement for step in MIGRATIONS for statement in step):
                        db.execute(statement)
                    meta = {"format": "clamp-library", "model": model_id, "dim": str(dim), "rows": "0",
                            "whole_file": "1" if whole_file else "0", "created": str(time.time()),
                            "roots": json.dumps([os.fsdecode(path_key(r)) for r in roots], ensure_ascii=False),
                            "ann_threshold": str(ann_threshold), "model_name": model_name or ""}
                    db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
                    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    db.execute("COMMIT")
                finally:
                    db.close()
                (directory / VECTORS_NAME).touch()
                (directory / NORMS_NAME).touch()
                try:        # the library exists once its tables are complete; never over another's
                    os.link(tmp, db_path)
                except FileExistsError:     # another process made it meanwhile (its files stay as they are)
                    made = False
                    raise LibraryError(f"{directory}: a library exists here already") from None
                except OSError as exc:      # a file system without hard links (FAT, some network shares)
                    if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                        raise
                    os.replace(tmp, db_path)
                else:
                    tmp.unlink()
        except BaseException as exc:
            for leftover in (tmp, Path(f"{tmp}-journal")):
                leftover.unlink(missing_ok=True)
            if made:        # a folder made for it, with nothing else in it, goes too
                for name in (VECTORS_NAME, NORMS_NAME):
                    (directory / name).unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    directory.rmdir()
            if isinstance(exc, LibraryError):
                raise
            if isinstance(exc, (OSError, sqlite3.Error)):
                why = os_reason(exc) if isinstance(exc, OSError) else str(exc)
                raise LibraryError(f"{directory}: cannot create the library ({why})") from None
            raise
        return cls(directory)

    @classmethod
    def open_or_create(cls, directory: str | Path, model_id: str, dim: int, whole_file: bool = False) -> Library:
        directory = Path(directory).expanduser()
        if not (directory / DB_NAME).is_file():
            try:
                return cls.create(directory, model_id, dim, whole_file=whole_file)
            except LibraryError:
                if not (directory / DB_NAME).is_file():      # another process may have made it meanwhile
                    raise
        return cls(directory)

    def _connect(self) -> sqlite3.Connection:
        if self.writable:
            uri = _file_uri(self.db_path)
        else:   # a read-only disk or a shared library: no -wal/-shm files can be made, so read it as it is
            uri = _file_uri(self.db_path) + "?mode=ro" + ("" if os.access(self.dir, os.W_OK) else "&immutable=1")
        try:
            db = sqlite3.connect(uri, uri=True, timeout=60, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA busy_timeout = 60000")
            db.execute("PRAGMA cache_size = -131072")      # 128 MB of pages: big batches touch many
            db.execute("PRAGMA temp_store = MEMORY")
            if self.writable:
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = NORMAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            reason = disk_reason(exc, where=self.db_path)
            if reason is not None:
                raise StorageError(f"{self.db_path}: {reason}") from None
            raise LibraryError(f"{self.db_path}: cannot open the library ({exc})") from None
        if version > SCHEMA_VERSION:
            raise LibraryError(f"{self.db_path}: library written by a newer clamp (schema {version}); upgrade clamp")
        if version < SCHEMA_VERSION:
            if not self.writable:
                if version >= READABLE_FROM:
                    return db
                raise LibraryError(f"{self.db_path}: library of schema {version} needs migrating, and is read-only")
            with storage(self.db_path), _transaction(db):
                version = db.execute("PRAGMA user_version").fetchone()[0]
                for step in range(version, SCHEMA_VERSION):
                    for statement in MIGRATIONS[step]:
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return db

    def close(self) -> None:
        self._ann = None
        self._map = None
        self.db.close()

    @contextlib.contextmanager
    def _transaction(self):
        """One write transaction on the tables; a full disk or an I/O error rolls it back and is a
        StorageError naming the database."""
        with storage(self.db_path), _transaction(self.db) as db:
            yield db

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- facts -----------------------------------------------------------------
    def set_roots(self, roots: Sequence[str | Path]) -> None:
        with self.writing():
            with self._transaction() as db:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('roots', ?)",
                           (json.dumps([os.fsdecode(path_key(r)) for r in roots], ensure_ascii=False),))
            self.refresh()

    def refresh(self) -> None:
        """Re-read the committed state (another process may have written)."""
        self.meta = dict(self.db.execute("SELECT key, value FROM meta"))

    @property
    def rows(self) -> int:
        return int(self.meta["rows"])

    @property
    def roots(self) -> list[Path]:
        return [Path(r) for r in json.loads(self.meta.get("roots", "[]"))]

    @property
    def kinds(self) -> list[str]:
        """The kinds of piece stored (music, text, audio, recording)."""
        return json.loads(self.meta.get("kinds", "[]"))

    def rows_of_kinds(self, kinds: Iterable[str]) -> np.ndarray | None:
        """Live rows of those kinds; None when every stored piece is of them (no restriction)."""
        kinds = set(kinds)
        if set(self.kinds) <= kinds:
            return None
        marks = ",".join("?" * len(kinds))
        return np.fromiter((r for (r,) in self.db.execute(
            f"SELECT row FROM pieces WHERE live = 1 AND kind IN ({marks}) ORDER BY row", sorted(kinds))), dtype=np.int64)

    @property
    def ann_state(self) -> dict | None:
        value = self.meta.get("ann")
        return json.loads(value) if value else None

    def counts(self) -> dict[str, int]:
        files, contents = self.db.execute("SELECT count(*), count(DISTINCT hash) FROM files").fetchone()
        live = self.db.execute("SELECT count(*) FROM pieces WHERE live = 1").fetchone()[0]
        return {"files": files, "contents": contents, "pieces": live, "rows": self.rows,
                "dead": self.rows - live}

    def vectors(self) -> np.ndarray:
        """The committed rows, memory-mapped read-only ((rows, dim) float32, unit length)."""
        rows = self.rows
        if self._map is None or self._map.shape[0] != rows:
            self._map = np.zeros((0, self.dim), dtype=np.float32) if rows == 0 else \
                np.memmap(self.dir / VECTORS_NAME, dtype=np.float32, mode="r", shape=(rows, self.dim))
        return self._map

    def gather(self, rows: np.ndarray) -> np.ndarray:
        """Some rows, in the order given. A few are read with pread: touching a memory map maps
        the whole page-cache folio around each row (2 MB apiece here: 400 MB for 200 rows)."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size > max(1000, self.rows // 20):
            return np.asarray(self.vectors()[rows])
        out = np.empty((rows.size, self.dim), dtype=np.float32)
        width = self.dim * 4
        fd = os.open(self.dir / VECTORS_NAME, os.O_RDONLY)
        try:
            for i, row in enumerate(rows.tolist()):
                out[i] = np.frombuffer(os.pread(fd, width, row * width), dtype=np.float32)
        finally:
            os.close(fd)
        return out

    # -- reading the tables -------------------------------------------------------
    def _file_rows(self, columns: str, scope: Sequence[Path | bytes] | None):
        """Cursors over the files table's `columns`, for the whole table or each root of `scope`."""
        if scope is None:
            yield self.db.execute(f"SELECT {columns} FROM files")
            return
        for root in scope:
            key = path_key(root)
            yield self.db.execute(f"SELECT {columns} FROM files WHERE path = ? OR (path >= ? AND path < ?)",
                                  (key, *_below(key)))

    def file_table(self, scope: Sequence[Path | bytes] | None = None, hashes: bool = True
                   ) -> dict[bytes, tuple]:
        """path -> (size, mtime_ns, hash) in one read; `scope` limits it to paths under those
        folders/files; without `hashes`, path -> (size, mtime_ns) (a third less to read)."""
        out: dict[bytes, tuple] = {}
        for cursor in self._file_rows("path, size, mtime_ns, hash" if hashes else "path, size, mtime_ns", scope):
            if hashes:
                out.update((p, (s, m, h)) for p, s, m, h in cursor)
            else:
                out.update((p, (s, m)) for p, s, m in cursor)
        return out

    def file_signatures(self, scope: Sequence[Path | bytes]) -> set[tuple[bytes, int, int]]:
        """{(path, size, mtime_ns)} of the files under those folders/files: a scan's unchanged
        files are the tuples it shares with this set (no Python object built per file)."""
        out: set[tuple[bytes, int, int]] = set()
        for cursor in self._file_rows("path, size, mtime_ns", scope):
            out.update(cursor)
        return out

    # -- folder scans ----------------------------------------------------------
    @property
    def files_generation(self) -> str | None:
        """Changes with every write to the files table (None: a library not yet migrated)."""
        return self.meta.get("files_generation")

    def scan_unchanged(self, scope: str, fingerprint: str) -> tuple[bool, str | None]:
        """Whether a folder scan of `scope` (a key naming its folders) found exactly what the one
        recorded last found (`fingerprint`, formats.walk.Scan.fingerprint), with the files table
        untouched since: then the library holds those files as they are and nothing needs checking.
        Read from the database as it is now (another process may have written since this one
        opened it), with the files table's generation as read (what record_scan is given later)."""
        state = dict(self.db.execute("SELECT key, value FROM meta WHERE key IN ('files_generation', 'scans')"))
        generation = state.get("files_generation")
        recorded = json.loads(state.get("scans", "{}")).get(scope)
        return generation is not None and recorded == [fingerprint, generation], generation

    def record_scan(self, scope: str, fingerprint: str, generation: str | None) -> None:
        """Remember that the files under `scope` are, in this library, exactly those a scan with
        `fingerprint` found, as of `generation` of the files table: not recorded if the table has
        been written since (another process), nor in a read-only library. The last SCANS_KEPT scopes
        are kept."""
        if not self.writable or generation is None:
            return
        with self.writing():
            if self.files_generation != generation:
                return
            scans = json.loads(self.meta.get("scans", "{}"))
            scans.pop(scope, None)
            scans[scope] = [fingerprint, generation]
            kept = dict(list(scans.items())[-SCANS_KEPT:])
            with self._transaction() as db:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('scans', ?)", (json.dumps(kept),))
            self.refresh()

    def file_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM files").fetchone()[0]

    def rows_in_scope(self, scope: Sequence[bytes], kinds: Iterable[str], files: int | None = None
                      ) -> np.ndarray | None:
        """Live rows of those kinds held by a file under the folders of `scope` (None: every live
        row of the library qualifies), from the tables alone (no Python object per file).
        `files`: how many files the table holds there, when the caller knows (not counted again)."""
        kinds = sorted(set(kinds))
        table_files = files if files is not None else sum(
            self.db.execute("SELECT count(*) FROM files WHERE path >= ? AND path < ?", _below(key)).fetchone()[0]
            for key in _outermost(scope))
        if table_files == self.file_count():
            return self.rows_of_kinds(kinds)
        marks = ",".join("?" * len(kinds))
        rows: set[int] = set()
        for key in _outermost(scope):
            rows.update(r for (r,) in self.db.execute(
                f"SELECT DISTINCT p.row FROM files f JOIN pieces p ON p.hash = f.hash WHERE f.path >= ? AND f.path < ?"
                f" AND p.live = 1 AND p.kind IN ({marks})", (*_below(key), *kinds)))
        return np.array(sorted(rows), dtype=np.int64)

    def rows_of_hashes(self, hashes: Iterable[str], kinds: Iterable[str]) -> np.ndarray:
        """Live rows of those kinds of these contents, through a temporary table (any number)."""
        kinds = sorted(set(kinds))
        db = self.db
        db.execute("CREATE TEMP TABLE IF NOT EXISTS wanted_hash (hash TEXT PRIMARY KEY) WITHOUT ROWID")
        db.execute("DELETE FROM wanted_hash")
        db.executemany("INSERT OR IGNORE INTO wanted_hash VALUES (?)", ((h,) for h in sorted(set(hashes))))
        marks = ",".join("?" * len(kinds))
        rows = np.fromiter((r for (r,) in db.execute(
            f"SELECT p.row FROM pieces p JOIN wanted_hash w ON p.hash = w.hash WHERE p.live = 1 AND p.kind IN ({marks})"
            " ORDER BY p.row", kinds)), dtype=np.int64)
        db.execute("DELETE FROM wanted_hash")
        return rows

    def pieces_of(self, hashes: Iterable[str] | None = None, live_only: bool = True) -> dict[str, list[Piece]]:
        """content hash -> its pieces, in tune order; all contents when `hashes` is None."""
        cond = " WHERE live = 1" if live_only else ""
        out: dict[str, list[Piece]] = {}
        if hashes is None:
            rows = self.db.execute(f"SELECT row, hash, item, kind FROM pieces{cond} ORDER BY row")
        elif len(hashes := set(hashes)) > 5000:      # one pass over the table beats thousands of lookups
            rows = (r for r in self.db.execute(f"SELECT row, hash, item, kind FROM pieces{cond} ORDER BY row")
                    if r[1] in hashes)
        else:
            wanted = sorted(hashes)
            rows = (r for chunk in _chunks(wanted, 500) for r in self.db.execute(
                f"SELECT row, hash, item, kind FROM pieces WHERE hash IN ({','.join('?' * len(chunk))})"
                + (" AND live = 1" if live_only else "") + " ORDER BY row", chunk))
        for row, h, item, kind in rows:
            out.setdefault(h, []).append(Piece(row, h, item, kind))
        return out

    def paths_of_rows(self, rows: Iterable[int]) -> dict[int, list[Path]]:
        """row -> the files holding its content (for the rows a search prints)."""
        out: dict[int, list[Path]] = {}
        for row in rows:
            for (p,) in self.db.execute("SELECT f.path FROM pieces r JOIN files f ON f.hash = r.hash"
                                        " WHERE r.row = ? ORDER BY f.path", (int(row),)):
                out.setdefault(int(row), []).append(path_of(p))
        return out

    def piece_at(self, rows: Iterable[int]) -> dict[int, Piece]:
        out = {}
        for chunk in _chunks(sorted({int(r) for r in rows}), 500):
            for row, h, item, kind in self.db.execute(
                    f"SELECT row, hash, item, kind FROM pieces WHERE row IN ({','.join('?' * len(chunk))})", chunk):
                out[row] = Piece(row, h, item, kind)
        return out

    def dead_rows(self) -> np.ndarray:
        return np.fromiter((r for (r,) in self.db.execute("SELECT row FROM pieces WHERE live = 0")), dtype=np.int64)

    # -- reconciliation -------------------------------------------------------------
    def reconcile(self, files: Sequence[Path], scope: Sequence[Path] | None = None) -> Reconciliation:
        """Which of `files` are unchanged, new or changed, and which files in `scope` (the folders
        walked) have gone. One read of the path table (of the scope), one stat per file."""
        table = self.file_table(scope)
        plan = Reconciliation()
        seen: set[bytes] = set()
        for path in files:
            key = path_key(path)
            seen.add(key)
            known = table.get(key)
            if known is None:
                plan.fresh.append(path)
                continue
            try:
                st = os.stat(key)
            except OSError as exc:
                plan.problems.append((path, os_reason(exc)))
                continue
            if st.st_size == known[0] and st.st_mtime_ns == known[1]:
                plan.unchanged[path] = known[2]
            else:
                plan.fresh.append(path)
        if scope is not None:
            plan.gone = [key for key in table if key not in seen and not os.path.lexists(key)]
        return plan

    # -- writing ------------------------------------------------------------------
    @contextlib.contextmanager
    def writing(self):
        """Hold the library's write lock (waiting for another writer); re-read what it committed."""
        if not self.writable:
            raise LibraryError(f"{self.dir}: library is read-only")
        import fcntl

        if self._lock_fd is not None:       # re-entrant within one process
            yield self
            return
        try:
            with storage(self.dir / LOCK_NAME):
                fd = os.open(self.dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise LibraryError(f"{self.dir / LOCK_NAME}: {os_reason(exc)}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._lock_fd = fd
            self.refresh()
            yield self
        finally:
            self._lock_fd = None
            os.close(fd)        # closing releases the lock

    def add(self, files: Sequence[tuple[Path, os.stat_result, str]],
            pieces: dict[str, Sequence[tuple[str, str, np.ndarray]]] | None = None,
            gone: Sequence[bytes] = ()) -> int:
        """Record files (path, stat, hash), new contents' pieces (hash -> [(item, kind, vector)]) and
        files that have gone, in one commit. Returns the number of rows appended (see add_rows)."""
        hashes, items, kinds, vectors = [], [], [], []
        for h, ps in (pieces or {}).items():
            for item, kind, vec in ps:
                hashes.append(h)
                items.append(item or "")
                kinds.append(kind)
                vectors.append(np.asarray(vec, dtype=np.float32).reshape(self.dim))
        block = np.stack(vectors) if vectors else np.zeros((0, self.dim), np.float32)
        return self.add_rows([(path_key(p), st.st_size, st.st_mtime_ns, h) for p, st, h in files],
                             hashes, items, kinds, block, gone)

    def add_rows(self, files: Sequence[tuple[bytes, int, int, str]], hashes: Sequence[str], items: Sequence[str],
                 kinds: Sequence[str], vectors: np.ndarray, gone: Sequence[bytes] = (), unheld: bool = False) -> int:
        """`add` in columns (what a bulk import has): files as (path key, size, mtime_ns, hash), the
        pieces as parallel lists with their vectors as one (n, dim) block (modified in place).

        A content already stored keeps its rows (revived if dead); pieces of contents whose last
        file is gone are marked dead. Vectors are normalised here. Lookups go through temporary
        tables joined on the indexes, so a batch costs the same in a library of any size (and
        nothing in an empty one). `unheld`: the caller, holding the write lock (`writing`), has found
        none of these pieces held (a bulk import checks before it decodes the vectors), so that join
        is not made twice.
        """
        if unheld and self._lock_fd is None:
            raise ValueError("add_rows(unheld=True) needs the write lock held around the check")
        with self.writing():
            db = self.db
            has_rows = self.rows > 0
            has_files = db.execute("SELECT 1 FROM files LIMIT 1").fetchone() is not None
            db.execute("CREATE TEMP TABLE IF NOT EXISTS incoming_hash (hash TEXT PRIMARY KEY) WITHOUT ROWID")
            db.execute("CREATE TEMP TABLE IF NOT EXISTS incoming_path (path BLOB PRIMARY KEY, hash TEXT) WITHOUT ROWID")
            db.execute("DELETE FROM incoming_hash")
            db.execute("DELETE FROM incoming_path")
            held, dead_held = self.held_pieces(hashes) if has_rows and not unheld else (set(), set())
            keep, fresh = [], set()
            for i, key in enumerate(zip(hashes, items)):
                if key not in held and key not in fresh:
                    fresh.add(key)
                    keep.append(i)
            start = self.rows
            if keep:
                block = vectors if len(keep) == len(hashes) else vectors[np.asarray(keep)]
                block = np.asarray(block, dtype=np.float32)
                norms = np.sqrt(np.einsum("ij,ij->i", block, block))        # float32, no temporaries
                self._append_vectors(start, block, norms)
            new = [(start + n, hashes[i], items[i], kinds[i]) for n, i in enumerate(keep)]
            file_rows = sorted(files)      # B-tree order
            try:
                with self._transaction():
                    touched = set(dead_held)
                    if has_files:
                        # contents that may lose their last file (a changed or deleted path's old content),
                        # or come back to life (a dead content seen again)
                        db.executemany("INSERT OR REPLACE INTO incoming_path VALUES (?, ?)",
                                       [(k, h) for k, _, _, h in file_rows] + [(k, None) for k in gone])
                        existing = {path: (size, mtime, h) for path, size, mtime, h in db.execute(
                            "SELECT f.path, f.size, f.mtime_ns, f.hash FROM files f JOIN incoming_path i"
                            " ON f.path = i.path")}
                        incoming = {k: h for k, _, _, h in file_rows}
                        touched |= {old[2] for path, old in existing.items() if incoming.get(path) != old[2]}
                        file_rows = [r for r in file_rows if existing.get(r[0]) != r[1:]]   # re-imports write nothing
                        touched |= {h for (h,) in db.execute(           # a dead content one of these files holds again
                            "SELECT DISTINCT p.hash FROM pieces p JOIN incoming_path i ON p.hash = i.hash"
                            " WHERE p.live = 0")}
                    db.executemany("INSERT INTO pieces (row, hash, item, kind) VALUES (?, ?, ?, ?)",
                                   sorted(new, key=lambda r: (r[1], r[2])))
                    db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)", file_rows)
                    if gone and has_files:
                        db.execute("DELETE FROM files WHERE path IN (SELECT path FROM incoming_path WHERE hash IS NULL)")
                    if touched:
                        self._set_liveness(db, touched)
                    db.execute("UPDATE meta SET value = ? WHERE key = 'rows'", (str(start + len(new)),))
                    if file_rows or gone:
                        db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'files_generation'")
                    stored_kinds = sorted(set(self.kinds) | {kind for *_, kind in new})
                    if stored_kinds != self.kinds:
                        db.execute("INSERT OR REPLACE INTO meta VALUES ('kinds', ?)", (json.dumps(stored_kinds),))
            except BaseException:
                if new:
                    self._cut_tail(start)     # the space the uncommitted rows took is free again
                raise
            self.refresh()
            return len(new)

    def held_pieces(self, hashes: Iterable[str]) -> tuple[set[tuple[str, str]], set[str]]:
        """The (hash, item) pieces stored of these contents, and the contents among them that are
        dead: one join through a temporary table, for any number of hashes."""
        db = self.db
        db.execute("CREATE TEMP TABLE IF NOT EXISTS incoming_hash (hash TEXT PRIMARY KEY) WITHOUT ROWID")
        db.execute("DELETE FROM incoming_hash")
        db.executemany("INSERT OR IGNORE INTO incoming_hash VALUES (?)", ((h,) for h in sorted(set(hashes))))
        held, dead = set(), set()
        for h, item, live in db.execute("SELECT p.hash, p.item, p.live FROM pieces p JOIN incoming_hash i"
                                        " ON p.hash = i.hash"):
            held.add((h, item))
            if not live:
                dead.add(h)
        db.execute("DELETE FROM incoming_hash")
        return held, dead

    def remove_files(self, keys: Sequence[bytes]) -> None:
        self.add([], {}, keys)

    def _set_liveness(self, db, hashes: set[str]) -> None:
        """A piece lives while some file holds its content."""
        for chunk in _chunks(sorted(hashes), 500):
            marks = ",".join("?" * len(chunk))
            held = {h for (h,) in db.execute(f"SELECT DISTINCT hash FROM files WHERE hash IN ({marks})", chunk)}
            db.executemany("UPDATE pieces SET live = ? WHERE hash = ? AND live != ?",
                           [(int(h in held), h, int(h in held)) for h in chunk])

    def _append_vectors(self, start: int, block: np.ndarray, norms: np.ndarray, chunk: int = 16_384) -> None:
        """Write rows [start, start + n) past the committed count (cutting off a dead writer's tail):
        the block divided by its norms, a chunk at a time (the caller's block is not touched, and
        no copy of it is made).

        When a write fails (a full disk), both files are cut back to the committed count at once, so
        that the space the failed rows took is free again."""
        buffer = np.empty((min(chunk, len(block)), self.dim), dtype=np.float32)
        safe = np.maximum(norms, np.float32(1e-12)).astype(np.float32)[:, None]
        try:
            for name in (VECTORS_NAME, NORMS_NAME):
                with storage(self.dir / name):
                    fd = os.open(self.dir / name, os.O_RDWR | os.O_CREAT, 0o666)
                    try:
                        os.ftruncate(fd, start * (self.dim if name == VECTORS_NAME else 1) * 4)
                        os.lseek(fd, 0, os.SEEK_END)
                        if name == NORMS_NAME:
                            _write_all(fd, np.ascontiguousarray(norms, dtype=np.float32))
                        else:
                            for lo in range(0, len(block), chunk):
                                out = buffer[:min(chunk, len(block) - lo)]
                                np.divide(block[lo:lo + len(out)], safe[lo:lo + len(out)], out=out)
                                _write_all(fd, out)
                        os.fsync(fd)
                    finally:
                        os.close(fd)
        except BaseException:
            self._cut_tail(start)
            raise

    def _cut_tail(self, start: int) -> None:
        """Cut the vector files back to `start` rows after a failed write, when that is still the
        committed count (a commit whose outcome is unknown leaves the tail for the next writer)."""
        try:
            committed = int(self.db.execute("SELECT value FROM meta WHERE key = 'rows'").fetchone()[0])
        except (sqlite3.Error, TypeError, ValueError):
            return
        if committed != start:
            return
        for name, width in ((VECTORS_NAME, self.dim), (NORMS_NAME, 1)):
            with contextlib.suppress(OSError):
                if os.path.getsize(self.dir / name) > start * width * 4:
                    os.truncate(self.dir / name, start * width * 4)

    def raw_vectors(self, rows: Sequence[int]) -> np.ndarray:
        """The vectors as the model gave them (unit row x its stored length): what the authors'
        evaluations (Frechet distance, probes) read."""
        rows = np.asarray(rows, dtype=np.int64)
        norms = np.memmap(self.dir / NORMS_NAME, dtype=np.float32, mode="r", shape=(self.rows,)) \
            if self.rows else np.zeros(0, np.float32)
        return self.gather(rows) * np.asarray(norms[rows])[:, None]

    # -- search -------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int, rows: np.ndarray | None = None, exact: bool = False) -> list[Hit]:
        """The k rows (of `rows`, else every live row) most similar to the unit `query`, best first."""
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        q = q / max(float(np.linalg.norm(q)), 1e-12)
        vectors = self.vectors()
        if k <= 0 or vectors.shape[0] == 0:
            return []
        ann = None if exact else self._open_ann()
        if rows is None and ann is not None:
            return self._search_ann(ann, q, k)
        if rows is None:
            scores = _product(vectors, q)
            dead = self.dead_rows()
            if dead.size:
                scores[dead] = -np.inf
            best = _top(scores, k)
            return [Hit(int(i), float(scores[i])) for i in best if np.isfinite(scores[i])]
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return []
        if rows.size > 0.5 * vectors.shape[0]:
            scores = _product(vectors, q)[rows]
        else:
            scores = self.gather(np.sort(rows)) @ q
            rows = np.sort(rows)
        best = _top(scores, k)
        return [Hit(int(rows[i]), float(scores[i])) for i in best]

    # -- the approximate index -------------------------------------------------------
    def _open_ann(self):
        state = self.ann_state
        if state is None:
            return None
        if self._ann is not None and self._ann[0] == state["file"]:
            return self._ann[1]
        import faiss

        try:
            index = faiss.read_index(str(self.dir / state["file"]), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
        except RuntimeError:
            return None       # missing or damaged: exact search still answers; `library update` rebuilds it
        index.nprobe = int(state.get("nprobe", DEFAULT_NPROBE))
        self._ann = (state["file"], index)
        return index

    def _search_ann(self, index, q: np.ndarray, k: int, nprobe: int | None = None) -> list[Hit]:
        state = self.ann_state
        covered = int(state["rows"])
        if nprobe is not None:
            index.nprobe = nprobe
        dead = self.dead_rows()
        want = max(RERANK, 4 * k) + int(dead.size)
        _, ids = index.search(q.reshape(1, -1), min(want, covered))
        candidates = ids[0][ids[0] >= 0]
        vectors = self.vectors()
        if vectors.shape[0] > covered:           # rows added since the index was built: scored exactly
            candidates = np.concatenate([candidates, np.arange(covered, vectors.shape[0])])
        candidates = _sorted_unique(candidates)
        if dead.size:
            candidates = candidates[~_members(candidates, _sorted_unique(dead))]
        scores = self.gather(candidates) @ q
        best = _top(scores, k)
        return [Hit(int(candidates[i]), float(scores[i])) for i in best]

    def needs_ann_work(self) -> str | None:
        """'build', 'merge' or None: what `update_ann` would do now."""
        live = self.rows - int(self.dead_rows().size)
        state = self.ann_state
        if live < self.ann_threshold:
            return None
        if state is None or live >= 2 * int(state["trained"]) or not (self.dir / state["file"]).is_file():
            return "build"
        behind = self.rows - int(state["rows"])
        if behind >= max(20_000, MERGE_SHARE * int(state["rows"])):
            return "merge"
        return None

    def update_ann(self, force: str | None = None, on_progress=None) -> str | None:
        """Build the approximate index (first time, or when the collection has doubled since it was
        trained), or add the rows it lacks without retraining, and drop dead rows from it."""
        work = force or self.needs_ann_work()
        if work is None:
            return None
        import faiss

        with self.writing():
            vectors = self.vectors()
            dead = self.dead_rows()
            state = self.ann_state
            if work == "merge" and state is not None:
                index = faiss.read_index(str(self.dir / state["file"]))
                start, trained = int(state["rows"]), int(state["trained"])
                nlist = index.nlist
            else:
                live = np.setdiff1d(np.arange(vectors.shape[0]), dead)
                nlist = int(min(4096, max(16, round(np.sqrt(live.size)))))
                rng = np.random.default_rng(0)
                sample = np.sort(rng.choice(live, size=min(live.size, max(64 * nlist, 50_000), 100_000),
                                            replace=False))
                quantizer = faiss.IndexFlatIP(self.dim)
                index = faiss.IndexIVFScalarQuantizer(quantizer, self.dim, nlist, faiss.ScalarQuantizer.QT_8bit,
                                                      faiss.METRIC_INNER_PRODUCT)
                index.train(np.ascontiguousarray(vectors[sample]))
                start, trained = 0, int(live.size)
            for lo in range(start, vectors.shape[0], 100_000):
                hi = min(lo + 100_000, vectors.shape[0])
                ids = np.arange(lo, hi, dtype=np.int64)
                keep = ~np.isin(ids, dead) if dead.size else slice(None)
                index.add_with_ids(np.ascontiguousarray(vectors[lo:hi][keep]), ids[keep])
                if on_progress:
                    on_progress(hi - lo)
            if dead.size and work == "merge":
                index.remove_ids(faiss.IDSelectorBatch(dead.size, faiss.swig_ptr(dead)))
            name = f"ann-{vectors.shape[0]}-{os.getpid()}-{int(time.time())}.faiss"
            tmp = self.dir / f".{name}.tmp"
            try:
                with storage(self.dir / name, sniff=True):      # faiss says "No space left" in a RuntimeError
                    faiss.write_index(index, str(tmp))
                    fd = os.open(tmp, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                    os.replace(tmp, self.dir / name)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            nprobe = int(state.get("nprobe", DEFAULT_NPROBE)) if state and work == "merge" else DEFAULT_NPROBE
            new_state = {"file": name, "rows": int(vectors.shape[0]), "trained": trained, "nlist": nlist,
                         "nprobe": nprobe, "recall": state.get("recall") if state and work == "merge" else None}
            with self._transaction() as db:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('ann', ?)", (json.dumps(new_state),))
            self.refresh()
            for old in self.dir.glob("ann-*.faiss"):
                if old.name != name:
                    old.unlink(missing_ok=True)     # a reader that has it mapped keeps its pages
            self._ann = None
        return work

    def tune(self, target: float = ANN_RECALL_TARGET, queries: int = 200, k: int = 10) -> list[tuple[int, float]]:
        """Raise the probe count until recall@k against exact search reaches `target` on the library's
        own vectors (each query is a stored row, left out of both lists); record the setting."""
        index = self._open_ann() if self.ann_state else None
        if index is None:
            raise LibraryError(f"{self.dir}: no approximate index (the library has fewer than "
                               f"{self.ann_threshold} pieces; search is exact)")
        vectors = self.vectors()
        dead = self.dead_rows()
        live = np.setdiff1d(np.arange(vectors.shape[0]), dead)
        rng = np.random.default_rng(1)
        picks = np.sort(rng.choice(live, size=min(queries, live.size), replace=False))
        truth = [set(_exact_top(vectors, vectors[i], k + 1, dead)) - {int(i)} for i in picks]
        tried = []
        nprobe = 1
        while True:
            found = [{h.row for h in self._search_ann(index, np.asarray(vectors[i]), k + 1, nprobe)} - {int(i)}
                     for i in picks]
            recall = float(np.mean([len(f & t) / max(len(t), 1) for f, t in zip(found, truth)]))
            tried.append((nprobe, recall))
            if recall >= target or nprobe >= index.nlist:
                break
            nprobe = min(nprobe * 2, index.nlist)
        with self.writing():
            state = self.ann_state
            state.update(nprobe=nprobe, recall=round(recall, 4), recall_target=target)
            with self._transaction() as db:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('ann', ?)", (json.dumps(state),))
            self.refresh()
        self._ann = None
        return tried

    def check(self) -> list[str]:
        """Problems found (empty when sound): SQLite's integrity check, the vector file's size, rows."""
        problems = []
        result = self.db.execute("PRAGMA integrity_check").fetchone()[0]
        if result != "ok":
            problems.append(f"tables: {result}")
        size = (self.dir / VECTORS_NAME).stat().st_size if (self.dir / VECTORS_NAME).exists() else 0
        if size < self.rows * self.dim * 4:
            problems.append(f"{VECTORS_NAME}: {size} bytes for {self.rows} rows of {self.dim}")
        norms = (self.dir / NORMS_NAME).stat().st_size if (self.dir / NORMS_NAME).exists() else 0
        if norms < self.rows * 4:
            problems.append(f"{NORMS_NAME}: {norms} bytes for {self.rows} rows")
        top = self.db.execute("SELECT coalesce(max(row) + 1, 0), count(*) FROM pieces").fetchone()
        if top[0] != self.rows or top[1] != self.rows:
            problems.append(f"pieces: rows 0..{top[0] - 1} ({top[1]}) for a committed count of {self.rows}")
        if self.rows:
            v = self.vectors()
            step = max(1, self.rows // 1000)
            if not np.isfinite(v[::step]).all():
                problems.append(f"{VECTORS_NAME}: vectors that are not finite")
        return problems


def _file_uri(path: Path) -> str:
    """An SQLite file: URI for any path (a "?" or "#" in a folder's name would end the path)."""
    from urllib.parse import quote

    return "file:" + quote(os.fsencode(path))


def _write_all(fd: int, data: np.ndarray) -> None:
    view = memoryview(data).cast("B")
    while view:
        written = os.write(fd, view[:1 << 26])
        view = view[written:]


def _below(key: bytes) -> tuple[bytes, bytes]:
    """The range of path keys inside folder `key`: [key/, key0) ("0" follows "/")."""
    prefix = key if key.endswith(b"/") else key + b"/"
    return prefix, prefix[:-1] + b"0"


def _outermost(scope: Sequence[bytes]) -> list[bytes]:
    """Absolute folder keys, without those inside another (their files would count twice)."""
    keys = sorted({path_key(k) for k in scope})
    out: list[bytes] = []
    for key in keys:
        if not any(key.startswith(_below(o)[0]) for o in out):
            out.append(key)
    return out


def _product(vectors: np.ndarray, q: np.ndarray, chunk: int = 262_144) -> np.ndarray:
    """vectors @ q in chunks (a memory-mapped matrix is paged in once, never copied whole)."""
    out = np.empty(vectors.shape[0], dtype=np.float32)
    for lo in range(0, vectors.shape[0], chunk):
        np.matmul(vectors[lo:lo + chunk], q, out=out[lo:lo + chunk])
    return out


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    from .vectors import top_k

    return top_k(scores, k)


def _exact_top(vectors: np.ndarray, q: np.ndarray, k: int, dead: np.ndarray) -> list[int]:
    scores = _product(vectors, np.asarray(q, dtype=np.float32))
    if dead.size:
        scores[dead] = -np.inf
    return [int(i) for i in _top(scores, k)]


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """np.unique without its lazy import of numpy.ma (50-80 ms of a search's start-up)."""
    a = np.sort(a)
    return a[np.concatenate(([True], a[1:] != a[:-1]))] if a.size else a


def _members(a: np.ndarray, sorted_b: np.ndarray) -> np.ndarray:
    """Which elements of `a` are in the sorted, unique `sorted_b` (np.isin, same reason)."""
    if not sorted_b.size:
        return np.zeros(a.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_b, a), sorted_b.size - 1)
    return sorted_b[pos] == a
