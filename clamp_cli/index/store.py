"""The feature cache: one SQLite database per cache directory, keyed by content.

Layout of a cache directory (`--cache-dir`, else $CLAMP_CACHE_DIR, else the
platform's user cache dir):

    clamp.sqlite3              schema version in PRAGMA user_version
      files(path, size, mtime_ns, hash)        stat cache: path (bytes, as the file system holds it)
                                               -> content hash
      features(model, prep, hash, dim, vector) float32 bytes of one global vector; hash is the
                                               file's sha256, or "sha256#X" for tune X of a file
                                               (model "melody/v2": a piece's melody instead, the
                                               float32 rows of formats.melody.Melody.to_bytes,
                                               or index.melodies.NO_MELODY and why it has none)
      pieces(prep, hash, items)                 the pieces a file holds (JSON list; [null] = one)
    libraries/<name>/                         libraries (index.library): what search ranks

A feature is keyed by the sha256 of the file's bytes, the model id and the
preprocessing key: an edited file is re-embedded, a renamed one is not, two
models never mix. Writes are SQLite transactions (atomic, safe with several
processes); a row whose vector is the wrong length or not finite is dropped and
recomputed. The cache is content-addressed and shared by every library: a file
already embedded for one library is never embedded again for another.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import EXIT_USAGE, ClampError, StorageError
from ..fsutil import disk_reason, os_reason, path_key, storage
from .sqlite import chunks as _chunks
from .sqlite import rollback, transaction

DB_NAME = "clamp.sqlite3"

# Explicit, ordered migrations: entry i brings the schema from version i to i + 1.
MIGRATIONS: list[list[str]] = [
    [
        "CREATE TABLE files (path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
        " hash TEXT NOT NULL)",
        "CREATE TABLE features (model TEXT NOT NULL, prep TEXT NOT NULL, hash TEXT NOT NULL,"
        " dim INTEGER NOT NULL, vector BLOB NOT NULL, created REAL NOT NULL,"
        " PRIMARY KEY (model, prep, hash))",
    ],
    [   # v2: which pieces a file holds (an ABC file with several X: tunes), per preprocessing
        "CREATE TABLE pieces (prep TEXT NOT NULL, hash TEXT NOT NULL, items TEXT NOT NULL,"
        " PRIMARY KEY (prep, hash))",
    ],
    [   # v3: paths as the file system's bytes (a name that is not UTF-8 could not be stored as TEXT)
        "CREATE TABLE files_v3 (path BLOB PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
        " hash TEXT NOT NULL) WITHOUT ROWID",
        "INSERT OR REPLACE INTO files_v3 SELECT CAST(path AS BLOB), size, mtime_ns, hash FROM files",
        "DROP TABLE files",
        "ALTER TABLE files_v3 RENAME TO files",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


def default_cache_dir() -> Path:
    env = os.environ.get("CLAMP_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("clamp", appauthor=False))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class CacheError(ClampError):
    """The cache directory or database cannot be used (exit 2: fix the setup or pass --cache-dir)."""

    exit_code = EXIT_USAGE


# what sqlite says of a file that is there and readable but is not a sound database
_DAMAGED = ("file is not a database", "database disk image is malformed")


class FeatureStore:
    """One class over the versioned cache database (see the module docstring)."""

    def __init__(self, cache_dir: str | Path | None = None):
        self.dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        try:
            with storage(self.dir):
                self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(f"{self.dir}: cannot create the cache directory ({os_reason(exc)})") from None
        self.path = self.dir / DB_NAME
        # A cache directory this process cannot write (a shared, read-only one) still serves what it
        # holds: the database is opened read-only and writes are skipped (one notice, `_skipped`).
        self.readonly = not os.access(self.dir, os.W_OK | os.X_OK)
        if self.readonly and not (self.path.is_file() and os.access(self.path, os.R_OK)):
            raise CacheError(f"{self.dir}: cache directory not writable (permission denied), and no readable "
                             "cache in it; pass --cache-dir or set CLAMP_CACHE_DIR")
        self.notices: list[str] = []
        self._told_readonly = False
        self.db = self._open()

    # -- schema ---------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        if self.readonly:
            return self._connect_readonly()
        try:
            db = self._connect_waiting()
        except sqlite3.DatabaseError as exc:
            reason = disk_reason(exc, where=self.path)
            if reason is not None:      # a full disk is no damage: touch nothing, stop (exit 1)
                raise StorageError(f"{self.path}: {reason}") from None
            if not any(m in str(exc) for m in _DAMAGED):
                # cannot open (permissions, a folder in its place, disk full...): not damage; touch nothing
                reason = "permission denied" if self.path.exists() and \
                    not os.access(self.path, os.R_OK | os.W_OK) else str(exc)
                raise CacheError(f"{self.path}: cannot open the cache database ({reason})") from None
            # A damaged database file is set aside, never silently deleted.
            aside = self.path.with_name(f"{DB_NAME}.corrupt-{int(time.time())}")
            os.replace(self.path, aside)
            for suffix in ("-wal", "-shm"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)
            self.notices.append(f"{self.path}: cache database unreadable ({exc}); moved to {aside.name}, starting afresh")
            with storage(self.path):
                db = self._connect()
        return db

    def _connect_waiting(self, attempts: int = 50) -> sqlite3.Connection:
        """Connect, waiting out another process that is creating or migrating the same database.

        The busy timeout covers ordinary locks, but SQLite answers some (switching a new file to
        WAL while another connection does the same) with "database is locked" at once.
        """
        for attempt in range(attempts):
            try:
                return self._connect()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or attempt == attempts - 1:
                    raise
                time.sleep(0.05 + 0.05 * attempt)
        raise AssertionError("unreachable")

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout = 60000")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise CacheError(f"{self.path}: cache written by a newer clamp (schema {version}); "
                                 "upgrade clamp or use another --cache-dir")
            if version < SCHEMA_VERSION:
                db.execute("BEGIN IMMEDIATE")
                try:
                    version = db.execute("PRAGMA user_version").fetchone()[0]  # another process may have won
                    for step in range(version, SCHEMA_VERSION):
                        for statement in MIGRATIONS[step]:
                            db.execute(statement)
                    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    db.execute("COMMIT")
                except BaseException:
                    rollback(db)
                    raise
            db.execute("SELECT 1 FROM features LIMIT 1").fetchone()  # fails early on a damaged file (O(1))
        except BaseException:
            db.close()     # a failed attempt leaves no connection open
            raise
        return db

    def _connect_readonly(self) -> sqlite3.Connection:
        """The database of a cache directory this process cannot write. A WAL database needs its -shm
        file to be read; where that cannot be made (a read-only disk, no writer open) the file is
        read as immutable: nothing writes it while the directory is read-only to everyone."""
        uri = self.path.absolute().as_uri()
        last = None
        for mode in ("?mode=ro", "?mode=ro&immutable=1"):
            try:
                db = sqlite3.connect(uri + mode, uri=True, timeout=60, isolation_level=None)
            except sqlite3.Error as exc:
                last = exc
                continue
            try:
                version = db.execute("PRAGMA user_version").fetchone()[0]
                db.execute("SELECT 1 FROM features LIMIT 1").fetchone()
            except sqlite3.Error as exc:
                db.close()
                last = exc
                continue
            if version != SCHEMA_VERSION:
                db.close()
                raise CacheError(f"{self.path}: cache of schema {version} in a read-only directory (this clamp reads "
                                 f"schema {SCHEMA_VERSION}); pass --cache-dir or set CLAMP_CACHE_DIR")
            return db
        raise CacheError(f"{self.path}: cannot open the read-only cache database ({last})")

    def _skipped(self) -> None:
        if not self._told_readonly:
            self._told_readonly = True
            self.notices.append(f"{self.dir}: the cache is read-only; what this run computes is not saved in it")

    def close(self) -> None:
        self.db.close()

    # -- content hashes (stat cache) ------------------------------------------------
    def known_hashes(self, paths: Iterable[Path]) -> dict[Path, str]:
        """Hashes of files whose size and mtime are unchanged since they were hashed."""
        wanted = {path_key(p): p for p in paths}
        if not wanted:
            return {}
        if len(wanted) > 2000:  # one pass over the table beats thousands of lookups
            rows = (r for r in self.db.execute("SELECT path, size, mtime_ns, hash FROM files") if r[0] in wanted)
        else:
            keys = list(wanted)
            rows = (r for chunk in _chunks(keys, 500) for r in self.db.execute(
                f"SELECT path, size, mtime_ns, hash FROM files WHERE path IN ({','.join('?' * len(chunk))})", chunk))
        out = {}
        for p, size, mtime, h in rows:
            try:
                st = os.stat(p)
            except OSError:
                continue
            if st.st_size == size and st.st_mtime_ns == mtime:
                out[wanted[p]] = h
        return out

    def remember_hashes(self, entries: Iterable[tuple[Path, os.stat_result, str]]) -> None:
        values = [(path_key(p), st.st_size, st.st_mtime_ns, h) for p, st, h in entries]
        if values and not self.readonly:     # read-only: the stat cache is only a speed-up, skipped unsaid
            with self._transaction():
                self.db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)", values)

    # -- features -------------------------------------------------------------
    def get(self, model: str, prep: str, hashes: Iterable[str], dim: int) -> dict[str, np.ndarray]:
        """Cached vectors by hash; damaged rows are deleted (and so recomputed by the caller)."""
        found: dict[str, np.ndarray] = {}
        bad = []
        for chunk in _chunks(sorted(set(hashes)), 500):
            marks = ",".join("?" * len(chunk))
            for h, d, blob in self.db.execute(
                    f"SELECT hash, dim, vector FROM features WHERE model = ? AND prep = ? AND hash IN ({marks})",
                    [model, prep, *chunk]):
                vec = _decode(blob, d, dim)
                if vec is None:
                    bad.append(h)
                else:
                    found[h] = vec
        if bad:
            self.drop(model, prep, bad)
            self.notices.append(f"{len(bad)} damaged cache entr{'y' if len(bad) == 1 else 'ies'} dropped and recomputed")
        return found

    def put(self, model: str, prep: str, vectors: dict[str, np.ndarray],
            pieces: dict[str, list] | None = None) -> None:
        """Vectors, and the piece lists of the files they came from, in one transaction: an
        interrupt never leaves vectors that a lookup cannot find for want of their file's list."""
        self.put_blobs(model, prep, {h: np.ascontiguousarray(v, dtype=np.float32).reshape(-1).tobytes()
                                     for h, v in vectors.items()}, pieces)

    def get_blobs(self, model: str, prep: str, hashes: Iterable[str]) -> dict[str, bytes]:
        """The rows of a `model` whose rows have no one length (melodies), as stored."""
        found: dict[str, bytes] = {}
        for chunk in _chunks(sorted(set(hashes)), 500):
            marks = ",".join("?" * len(chunk))
            found.update(self.db.execute(
                f"SELECT hash, vector FROM features WHERE model = ? AND prep = ? AND hash IN ({marks})",
                [model, prep, *chunk]))
        return found

    def put_blobs(self, model: str, prep: str, blobs: dict[str, bytes], pieces: dict[str, list] | None = None) -> None:
        """Rows of float32 bytes as they are (the dimension is their length), and the piece lists
        of their files, in one transaction (`put`'s vectors come this way too)."""
        now = time.time()
        rows = [(model, prep, h, len(b) // 4, b, now) for h, b in blobs.items()]
        if rows or pieces:
            with self._transaction():
                if rows:
                    self.db.executemany("INSERT OR REPLACE INTO features VALUES (?, ?, ?, ?, ?, ?)", rows)
                if pieces:
                    self._insert_pieces(prep, pieces)

    def drop(self, model: str, prep: str, hashes: Iterable[str]) -> None:
        """Rows found damaged: deleted, so that they are computed again."""
        hashes = list(hashes)
        if hashes:
            with self._transaction():
                self.db.executemany("DELETE FROM features WHERE model = ? AND prep = ? AND hash = ?",
                                    [(model, prep, h) for h in hashes])

    def get_pieces(self, prep: str, hashes: Iterable[str]) -> dict[str, list]:
        """Known piece lists of files, by file hash ([None] for a file that is one piece)."""
        out = {}
        for chunk in _chunks(sorted(set(hashes)), 500):
            marks = ",".join("?" * len(chunk))
            for h, items in self.db.execute(
                    f"SELECT hash, items FROM pieces WHERE prep = ? AND hash IN ({marks})", [prep, *chunk]):
                if items == "[null]":  # the common case: a file that is one piece
                    out[h] = [None]
                    continue
                try:
                    out[h] = json.loads(items)
                except ValueError:
                    continue
        return out

    def put_pieces(self, prep: str, pieces: dict[str, list]) -> None:
        if pieces:
            with self._transaction():
                self._insert_pieces(prep, pieces)

    def _insert_pieces(self, prep: str, pieces: dict[str, list]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO pieces VALUES (?, ?, ?)",
                            [(prep, h, json.dumps(items)) for h, items in pieces.items()])

    def count(self, model: str, prep: str) -> int:
        return self.db.execute("SELECT count(*) FROM features WHERE model = ? AND prep = ?", (model, prep)).fetchone()[0]

    def keys(self, model: str, prep: str) -> list[str]:
        return [h for (h,) in self.db.execute("SELECT hash FROM features WHERE model = ? AND prep = ? ORDER BY rowid",
                                              (model, prep))]

    # -- helpers --------------------------------------------------------------
    def _transaction(self):
        """`with self._transaction() as db:` one write (skipped, with one notice, on a read-only cache)."""
        if self.readonly:
            return _ReadOnlyWrite(self)
        return self._write()

    @contextlib.contextmanager
    def _write(self):
        """One write transaction; a full disk or an I/O error rolls it back and is a StorageError
        naming the database."""
        with storage(self.path), transaction(self.db):
            yield self.db


class _ReadOnlyWrite:
    """`with store._transaction():` over a read-only cache: the write fails at its first statement
    (SQLite: "attempt to write a readonly database") and is skipped, with the store's one notice."""

    def __init__(self, store: FeatureStore):
        self.store = store

    def __enter__(self) -> sqlite3.Connection:
        return self.store.db

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None and issubclass(exc_type, sqlite3.OperationalError) and "readonly" in str(exc):
            self.store._skipped()
            return True
        return False


def _decode(blob: bytes, stored_dim: int, dim: int) -> np.ndarray | None:
    if stored_dim != dim or not isinstance(blob, bytes) or len(blob) != 4 * dim:
        return None
    vec = np.frombuffer(blob, dtype=np.float32)
    return vec if np.isfinite(vec).all() else None
