"""`Collection`: a library and the embedder that fills it, with `sync()` and `similar()`.

`sync` brings the library up to date with the files a command was given (new, changed,
renamed and deleted files found in one reconciliation pass; only new contents reach the
embedder, one file per content); `similar` ranks the library's pieces, all of them or
those of the files given, and says which files hold each.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..formats.walk import piece_name
from ..fsutil import os_reason
from .embedder import Result
from .library import Library, path_key, path_of

COMMIT_FILES = 512          # files per library commit while syncing: an interrupt keeps the work done


def file_hash(path: Path) -> tuple[os.stat_result, str]:
    """stat and sha256 of a regular file, read in blocks up to its kind's size limit
    (formats.reading: FIFOs, devices and files growing while read are refused, never waited on)."""
    from ..formats import kind_of
    from ..formats.reading import hash_input

    return hash_input(path, kind_of(path))


@dataclass
class SyncReport:
    """What a sync did, and each failed file (a Result with its reason) for the caller to print."""

    unchanged: int = 0
    added: int = 0          # files recorded whose content was new (embedded or from the feature cache)
    renamed: int = 0        # files recorded whose content the library already held (copies, moves)
    removed: int = 0        # files gone from disk, dropped from the library
    embedded: int = 0       # pieces that went through the model
    failed: list[Result] = field(default_factory=list)
    warned: list[Result] = field(default_factory=list)
    skipped_readonly: int = 0
    hashes: dict[Path, str] = field(default_factory=dict)      # every file in hand -> its content hash
    embedded_contents: set[str] = field(default_factory=set)   # contents that went through the model now
    not_taken: set[Path] = field(default_factory=set)          # new or changed files a read-only library left out

    def readonly_skipped(self, path: Path) -> bool:
        return path in self.not_taken


@dataclass
class Match:
    """A ranked piece: its score, the row and content key, and the files that hold it."""

    rank: int
    score: float
    row: int
    key: str
    item: str
    kind: str
    paths: list[Path]

    def names(self) -> list[str]:
        return [piece_name(p, self.item) for p in self.paths]


class UnderFolders:
    """Path keys below some folders: `key in` it without a set of every file's key."""

    def __init__(self, folders: Sequence[bytes]):
        self.prefixes = tuple(folder.rstrip(b"/") + b"/" for folder in folders)

    def __contains__(self, key: bytes) -> bool:
        return key.startswith(self.prefixes)


class Collection:
    """A library together with the embedder that fills it (the CLI and the Python API share it)."""

    def __init__(self, library: Library, embedder=None):
        self.library, self.embedder = library, embedder

    # -- keeping the library current ---------------------------------------------
    def sync(self, files: Sequence[Path], scope: Sequence[Path] | None = None,
             on_progress: Callable[[int], None] | None = None) -> SyncReport:
        """Reconcile `files` (and, with `scope`, the folders they were found in) with the library."""
        lib = self.library
        report = SyncReport()
        plan = lib.reconcile(files, scope)
        report.unchanged = len(plan.unchanged)
        report.hashes.update(plan.unchanged)
        for path, reason in plan.problems:
            r = Result(path, "unknown")
            r.fail(reason)
            report.failed.append(r)
        if on_progress and plan.unchanged:
            on_progress(len(plan.unchanged))
        if not plan.changes:
            return report
        if not lib.writable:
            report.skipped_readonly = len(plan.fresh) + len(plan.gone)
            report.not_taken = set(plan.fresh)
            return report
        if plan.gone:
            lib.remove_files(plan.gone)
            report.removed = len(plan.gone)
        for start in range(0, len(plan.fresh), COMMIT_FILES):
            self._add(plan.fresh[start:start + COMMIT_FILES], report, on_progress)
        return report

    def sync_scan(self, scan, kinds: Sequence[str], on_progress: Callable[[int], None] | None = None
                  ) -> tuple[SyncReport, np.ndarray | None, set[bytes]]:
        """`sync` for a folder scan (formats.walk.Scan), built for 100,000s of files: an unchanged
        file costs a set lookup and no Python object; only new and changed ones become Paths.

        Returns the report, the rows to rank (the live pieces of `kinds` the scanned files hold;
        None for every live row) and the scanned files' keys (to keep printed rows to them)."""
        lib = self.library
        report = SyncReport()
        scope = [absolute for absolute, _ in scan.roots]
        scope_key, fingerprint = scan.scope(), scan.fingerprint()
        unchanged, generation = lib.scan_unchanged(scope_key, fingerprint)   # generation: before the table below
        if unchanged:       # the same files as last time, the table untouched
            report.unchanged = len(scan.keys)
            if on_progress and report.unchanged:
                on_progress(report.unchanged)
            return report, lib.rows_in_scope(scope, kinds, files=len(scan.keys)), UnderFolders(scope)
        known = lib.file_signatures(scope)
        fresh = [t[0] for t in zip(scan.keys, scan.sizes, scan.mtimes) if t not in known]
        seen = set(scan.keys)
        if len(known) == len(scan.keys) - len(fresh):      # every file the library holds there was matched
            table: dict[bytes, tuple] = {}
            gone: list[bytes] = []
        else:
            table = {p: (size, mtime) for p, size, mtime in known}
            gone = [key for key in table if key not in seen and not os.path.lexists(key)]
        report.unchanged = len(scan.keys) - len(fresh)
        if on_progress and report.unchanged:
            on_progress(report.unchanged)
        fresh_paths = [path_of(key) for key in fresh]
        if (fresh or gone) and not lib.writable:
            report.skipped_readonly = len(fresh) + len(gone)
            report.not_taken = set(fresh_paths)
        elif fresh or gone:
            if gone:
                lib.remove_files(gone)
                report.removed = len(gone)
            for start in range(0, len(fresh_paths), COMMIT_FILES):
                self._add(fresh_paths[start:start + COMMIT_FILES], report, on_progress)
        others = (len(table) - len(gone) - (len(scan.keys) - len(fresh)) - sum(key in table for key in fresh)
                  if table else 0)
        if others == 0 and not report.failed and not report.not_taken:    # the library's files there are the scan's
            if not (fresh or gone):     # recorded by a sync that wrote nothing (the next one, after a change)
                lib.record_scan(scope_key, fingerprint, generation)
            return report, lib.rows_in_scope(scope, kinds), seen
        fresh_set = set(fresh)
        table = lib.file_table(scope)
        hashes = {table[key][2] for key in scan.keys if key in table and key not in fresh_set}
        hashes.update(report.hashes.values())
        return report, lib.rows_of_hashes(hashes, kinds), seen

    def _add(self, paths: Sequence[Path], report: SyncReport, on_progress) -> None:
        lib = self.library
        stats: dict[Path, tuple[os.stat_result, str]] = {}
        for path in paths:
            try:
                stats[path] = file_hash(path)
            except OSError as exc:
                r = Result(path, "unknown")
                r.fail(os_reason(exc))
                report.failed.append(r)
            except InputError as exc:
                r = Result(path, "unknown")
                r.fail(str(exc))
                report.failed.append(r)
        held = lib.pieces_of({h for _, h in stats.values()}, live_only=False)
        known = [p for p, (_, h) in stats.items() if h in held]
        known_set = set(known)
        todo = [p for p in stats if p not in known_set]
        results = self.embedder.embed_files(todo, on_progress=on_progress,
                                            known={p: stats[p][1] for p in todo}) if todo else []
        if on_progress and known:
            on_progress(len(known))
        first_path: dict[str, Path] = {}
        for r in results:
            first_path.setdefault(r.hash, r.path)
        by_hash: dict[str, list[Result]] = {}
        good_files: dict[Path, bool] = {}
        for r in results:
            if r.warnings:
                report.warned.append(r)
            if r.status == "failed":
                report.failed.append(r)
                good_files.setdefault(r.path, False)
                continue
            good_files[r.path] = True
            if r.status == "embedded":
                report.embedded += 1
                report.embedded_contents.add(r.hash)
            if r.path == first_path[r.hash]:
                by_hash.setdefault(r.hash, []).append(r)
        pieces = {h: [(r.item or "", r.kind, r.vector) for r in rs] for h, rs in by_hash.items()}
        recorded = [(p, stats[p][0], stats[p][1]) for p in known] + \
                   [(p, stats[p][0], stats[p][1]) for p, ok in good_files.items() if ok]
        lib.add(recorded, pieces)
        report.renamed += len(known)
        report.added += sum(good_files.values())
        for p, st_hash in stats.items():
            if p in known_set or good_files.get(p):
                report.hashes[p] = st_hash[1]

    def results(self, files: Sequence[Path], scope: Sequence[Path] | None = None,
                on_progress: Callable[[int], None] | None = None) -> list[Result]:
        """Sync, then one Result per piece of `files` (input order, tunes in order) with the vector
        the model gave (raw, not unit length), as `Embedder.embed_files` returns them; a file that
        failed is one failed Result."""
        report = self.sync(files, scope, on_progress)
        failed = {}
        for r in report.failed:
            failed.setdefault(r.path, []).append(r)
        contents = self.library.pieces_of(set(report.hashes.values()))
        out: list[Result] = []
        rows: list[int] = []
        for path in files:
            if path in failed and path not in report.hashes:
                out += failed[path]
                continue
            h = report.hashes.get(path)
            for piece in contents.get(h, ()) if h else ():
                status = "embedded" if h in report.embedded_contents else "cached"
                out.append(Result(path, piece.kind, piece.item or None, h, status=status))
                rows.append(piece.row)
            out += [r for r in failed.get(path, ()) if r.item is not None]     # a bad tune of a good file
            if report.readonly_skipped(path):
                r = Result(path, "unknown")
                r.fail("not in the library, which is read-only")
                out.append(r)
        if rows:
            vectors = self.library.raw_vectors(rows)
            for r, v in zip((r for r in out if r.status != "failed"), vectors):
                r.vector = v
        warned = {(r.path, r.item): r.warnings for r in report.warned}
        for o in out:
            if (o.path, o.item) in warned:
                o.warnings = list(warned[(o.path, o.item)])
        return out

    # -- ranking -----------------------------------------------------------------
    def similar_to_text(self, words: str, k: int = 10, unique: bool = False) -> list[Match]:
        """The whole library ranked against a text (the query's vector is cached)."""
        return self.similar(self.embedder.embed_strings([words])[0], k, kinds=("music",), unique=unique)

    def pieces_for(self, hashes: dict[Path, str], items: dict[Path, list[str]] | None = None
                   ) -> dict[int, list[Path]]:
        """row -> the given files holding it; `items` keeps only the tunes asked for as FILE#X."""
        contents = self.library.pieces_of(set(hashes.values()))
        rows: dict[int, list[Path]] = {}
        for path, h in hashes.items():
            wanted = items.get(path) if items else None
            for piece in contents.get(h, ()):
                if wanted is None or piece.item in wanted:
                    rows.setdefault(piece.row, []).append(path)
        return rows

    def similar(self, query: np.ndarray, k: int, rows: dict[int, list[Path]] | None = None,
                kinds: Sequence[str] | None = None, exclude: frozenset[str] = frozenset(),
                unique: bool = False, check_paths: bool = False, candidates: np.ndarray | None = None,
                within: set[bytes] | None = None) -> list[Match]:
        """The k best pieces (each file its own match, or with `unique` each content once).

        `rows` (from `pieces_for`) limits the ranking to those files; else `candidates` (rows) or
        every live row, and the files of only the printed rows are looked up (of those, with
        `within`, only these path keys; with `check_paths`, stat'ed: a file gone since the last
        update is left out).
        """
        lib = self.library
        if rows is not None:
            candidates = np.fromiter(rows, dtype=np.int64, count=len(rows))
        elif kinds is not None and candidates is None:
            candidates = lib.rows_of_kinds(kinds)
        extra = len(exclude)
        want = k + extra
        out: list[Match] = []
        rounds = 0
        while True:
            hits = lib.search(query, want, candidates)
            info = lib.piece_at(h.row for h in hits)
            paths = {h.row: rows[h.row] for h in hits} if rows is not None else lib.paths_of_rows(h.row for h in hits)
            out = []
            for h in hits:
                piece = info[h.row]
                if piece.key in exclude or (kinds is not None and rows is None and piece.kind not in kinds):
                    continue
                files = paths.get(h.row, [])
                if within is not None:
                    files = [p for p in files if path_key(p) in within]
                if check_paths:
                    files = [p for p in files if os.path.lexists(path_key(p))]
                if not files:
                    continue
                for chunk in ([files] if unique else [[p] for p in files]):
                    out.append(Match(0, h.score, h.row, piece.key, piece.item, piece.kind, chunk))
            rounds += 1
            if len(out) >= k or len(hits) < want or rounds >= 3:     # excluded or vanished rows: look further, twice
                break
            want *= 4
        out = out[:k]
        for n, m in enumerate(out, start=1):
            m.rank = n
        return out



def record(collection: Collection, results: Sequence[Result], scope: Sequence[Path] = ()) -> int:
    """Put what `Embedder.embed_files` returned into the library (the vectors are in hand), and drop
    the files of `scope` that are gone. Returns the rows appended."""
    lib = collection.library
    if not lib.writable:
        return 0
    if scope:
        plan = lib.reconcile([r.path for r in results], scope)
        if plan.gone:
            lib.remove_files(plan.gone)
    by_path: dict[Path, list[Result]] = {}
    for r in results:
        if r.status != "failed" and r.vector is not None and r.hash:
            by_path.setdefault(r.path, []).append(r)
    added = 0
    paths = list(by_path)
    for start in range(0, len(paths), COMMIT_FILES):
        files, pieces = [], {}
        for p in paths[start:start + COMMIT_FILES]:
            try:
                st = os.stat(path_key(p))
            except OSError:
                continue
            rs = by_path[p]
            files.append((p, st, rs[0].hash))
            pieces.setdefault(rs[0].hash, [(r.item or "", r.kind, r.vector) for r in rs])
        added += lib.add(files, pieces)
    return added
