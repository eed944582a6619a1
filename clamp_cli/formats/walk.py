"""Expand the paths a user gives (files, directories, globs, "-" for stdin) into inputs."""

from __future__ import annotations

import glob
import operator
import os
import stat
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import getitem
from pathlib import Path

from ..fsutil import os_reason
from . import SUFFIX_FORMAT, kind_of
from .reading import check_path


@dataclass
class Walk:
    """Inputs found, in a stable order, and what was left out and why."""

    files: list[Path] = field(default_factory=list)
    skipped: int = 0                       # files with an extension clamp does not read
    problems: list[tuple[str, str]] = field(default_factory=list)   # (path as given or found, reason)
    roots: dict[Path, Path] = field(default_factory=dict)   # file -> the directory it was found under
    items: dict[Path, list[str]] = field(default_factory=dict)  # file -> the tunes asked for as FILE#X (else all)
    stdin_file: Path | None = None         # a private copy of a score read from stdin (--stdin-score)
    dirs: list[Path] = field(default_factory=list)          # the directories walked (a library's scope)
    kinds: dict[Path, str] = field(default_factory=dict)    # file -> formats.kind_of, computed once
    order: list[tuple[Path, str | None]] = field(default_factory=list)  # (file, tune) as given, in order
    not_features: list[tuple[Path, str]] = field(default_factory=list)  # .npy files skipped, and why

    def kind(self, path: Path) -> str | None:
        return self.kinds.get(path) or kind_of(path)

    def relative(self, path: Path) -> Path:
        """The file's path below the directory argument it came from (its name for a file argument)."""
        if path == STDIN and self.stdin_file is not None:
            path = self.stdin_file
        return path.relative_to(self.roots.get(path, path.parent))

    def shown(self, path: Path) -> Path:
        """The path as the user should see it: "-" for the score read from stdin."""
        return STDIN if path == self.stdin_file else path


STDIN = Path("-")
STDIN_LIMIT = 256 * 2**20      # a score on stdin larger than this is refused, not read into memory whole


def stdin_score(walk: Walk, suffix: str, stream, workdir: Path) -> None:
    """Copy one score from stdin to `workdir`/stdin.SUFFIX and make it the walk's first input.

    The copy lets every reader treat it as a file (the ABC and MIDI readers, the worker
    processes, the cache's content hash); it is shown as "-" everywhere.
    """
    from ..errors import InputError

    data = stream.read(STDIN_LIMIT + 1)
    if len(data) > STDIN_LIMIT:
        raise InputError(f"-: the score on stdin is larger than {STDIN_LIMIT // 2**20} MB")
    if not data:
        raise InputError("-: stdin is empty (--stdin-score reads one score from it)")
    from ..fsutil import storage

    path = workdir / f"stdin{suffix}"
    with storage(path):       # the temporary folder's disk full: one line naming the copy
        path.write_bytes(data)
    walk.files.insert(0, path)
    walk.roots[path] = workdir
    walk.stdin_file = path


FEATURES_MARKER = ".clamp-features"  # written by `clamp embed --out` (index.export.MARKER)
FEATURES_MARKER_B = FEATURES_MARKER.encode()
MB = 2**20


@dataclass
class TreeListing:
    """The files below a folder, as columns: those clamp reads and may open (`paths`, `kinds`,
    `sizes`, `mtimes`), and the rest (`others`: (position among `paths` it came before, path, kind,
    refusal): kind None for a file clamp does not read, else why it is not opened)."""

    paths: list[bytes] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    mtimes: list[int] = field(default_factory=list)
    others: list[tuple[int, bytes, str | None, str | None]] = field(default_factory=list)


def list_tree(root: bytes, problems: list[tuple[str, str]], ordered: bool = True, features_too: bool = False
              ) -> TreeListing:
    """Each file below `root`, in the walk's order: a folder's files sorted, then its sub-folders,
    through symlinked folders (each folder once, so links cannot loop). Hidden files and folders
    (.git) are left out, and (unless `features_too`: the commands that read feature vectors) the
    .npy feature files of folders `clamp embed --out` wrote (they are features, not audio). A file
    clamp does not read is not stat'ed; one it reads is stat'ed once (a refusal says why it is not
    opened, from formats.reading). Folders that cannot be listed go to `problems`.

    Paths are bytes joined onto `root` as given: any name a file system holds, no Path per file.
    Without `ordered` a folder's entries come in the file system's order (no sort: a search ranks
    by score, and sorting 100,000 names is a tenth of a second). Built for 100,000s of files: a
    folder of plain music files is listed without bytecode per file (`_all_plain`); in any other
    an ordinary file costs a few operations and four appends (no tuple, no generator step).
    """
    from .reading import max_file_mb, refusal

    limits = {kind: int(mb * MB) for kind, mb in max_file_mb().items()}
    limit_of = {kind: limits.get(kind, limits["music"]) for kind in set(_KIND_OF_SUFFIX.values())}
    out = TreeListing()
    add_path, add_kind, add_size, add_mtime = out.paths.append, out.kinds.append, out.sizes.append, out.mtimes.append
    other = out.others.append
    kind_of_suffix = _KIND_OF_SUFFIX.get
    is_regular = stat.S_ISREG
    visited: set[tuple[int, int]] = set()
    features: set[bytes] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
            if (st.st_dev, st.st_ino) in visited:   # a symlink back to a folder already walked (a loop)
                continue
            visited.add((st.st_dev, st.st_ino))
            with os.scandir(folder) as it:
                entries = sorted(it, key=_name) if ordered else list(it)
        except OSError as exc:
            problems.append((os.fsdecode(exc.filename or folder), os_reason(exc)))
            continue
        if os.path.dirname(folder) in features or os.path.lexists(os.path.join(folder, FEATURES_MARKER_B)):
            features.add(folder)
        skip_npy = not features_too and folder in features
        if not skip_npy and _all_plain(entries, out, limit_of):
            continue
        subfolders = []
        for entry in entries:
            name = entry.name
            if name[:1] == b".":
                continue
            if entry.is_dir():
                subfolders.append(entry.path)
                continue
            dot = name.rfind(b".")
            if dot <= 0:
                other((len(out.paths), entry.path, None, None))
                continue
            suffix = name[dot:]
            kind = kind_of_suffix(suffix)
            if kind is None:
                kind = kind_of_suffix(suffix.lower())
                if kind is None and not suffix.isascii():   # str.lower may still make it one clamp reads
                    kind = kind_of(os.fsdecode(name))
                if kind is None:
                    other((len(out.paths), entry.path, None, None))
                    continue
            if skip_npy and suffix.lower() == b".npy":
                continue
            try:
                st = entry.stat()
            except OSError:
                other((len(out.paths), entry.path, kind, check_path(Path(os.fsdecode(entry.path)), kind)))  # its words
                continue
            if st.st_size <= limit_of[kind] and is_regular(st.st_mode):
                add_path(entry.path)
                add_kind(kind)
                add_size(st.st_size)
                add_mtime(st.st_mtime_ns)
            else:
                reason = refusal(st, kind)
                other((len(out.paths), entry.path, kind,
                       f"a symbolic link to {reason}" if entry.is_symlink() else reason))
        stack.extend(reversed(subfolders))
    return out


def _all_plain(entries: list, out: TreeListing, limit_of: dict[str, int]) -> bool:
    """A folder of nothing but regular, readable files with suffixes clamp knows (the usual
    music folder), listed into `out` by C-level maps over the entries: no bytecode per file.
    False, with nothing added, for any other folder (list_tree then goes entry by entry, and stats
    again: a folder with one odd entry costs its stats twice)."""
    names = list(map(_name, entries))
    if any(map(bytes.startswith, names, repeat(b"."))) or any(map(_is_dir, entries)):
        return False
    first = names[0] if names else b""
    suffix = first[first.rfind(b"."):]
    if suffix in _KIND_OF_SUFFIX and all(map(bytes.endswith, names, repeat(suffix))):    # one format (the usual)
        kinds = [_KIND_OF_SUFFIX[suffix]] * len(names)
    else:
        suffixes = list(map(getitem, names, map(slice, map(bytes.rfind, names, repeat(b".")), repeat(None))))
        kinds = list(map(_KIND_OF_SUFFIX.get, suffixes))
        if None in kinds:
            return False
    paths = list(map(_path, entries))
    limit = min(limit_of[k] for k in set(kinds)) if kinds else 0
    stats = _split_stats(paths, limit) if _helpers and len(paths) >= _SPLIT_FROM else _plain_stats(paths, limit)
    if stats is None:
        return False
    sizes, mtimes = stats
    out.paths += paths
    out.kinds += kinds
    out.sizes += sizes
    out.mtimes += mtimes
    return True


def _plain_stats(paths: list[bytes], limit: int) -> tuple[list[int], list[int]] | None:
    """The sizes and mtimes of `paths`; None unless every one is a regular file within `limit`."""
    sizes: list[int] = []
    mtimes: list[int] = []
    for start in range(0, len(paths), _STAT_CHUNK):   # a chunk's stat results freed before the next
        try:
            stats = list(map(os.stat, paths[start:start + _STAT_CHUNK]))
        except OSError:
            return None
        chunk = list(map(_size, stats))
        if max(chunk) > limit or not all(map(stat.S_ISREG, map(_mode, stats))):
            return None
        sizes += chunk
        mtimes += map(_mtime, stats)
    return sizes, mtimes


def _split_stats(paths: list[bytes], limit: int) -> tuple[list[int], list[int]] | None:
    """_plain_stats with the second half in a forked helper: list_ahead's child, once the clamp
    process has finished its imports, has both cores to itself (two processes make twice the stat
    calls of one). A helper that fails leaves its half to this process."""
    from .. import forked

    half = len(paths) // 2
    try:
        helper = forked.start(_plain_stats, paths[half:], limit)
    except OSError:
        return _plain_stats(paths, limit)
    first = _plain_stats(paths[:half], limit)
    second = forked.result(*helper) or (_plain_stats(paths[half:], limit),)
    if first is None or second[0] is None:
        return None
    return first[0] + second[0][0], first[1] + second[0][1]


def scan_tree(root: bytes, problems: list[tuple[str, str]], ordered: bool = True, features_too: bool = False
              ) -> Iterator[tuple[bytes, str | None, int, int, str | None]]:
    """list_tree's files one by one in the walk's order: (path, kind, size, mtime_ns, refusal)."""
    listing = list_tree(root, problems, ordered, features_too)
    others = iter(listing.others)
    nxt = next(others, None)
    for i, path in enumerate(listing.paths):
        while nxt is not None and nxt[0] == i:
            yield nxt[1], nxt[2], 0, 0, nxt[3]
            nxt = next(others, None)
        yield path, listing.kinds[i], listing.sizes[i], listing.mtimes[i], None
    while nxt is not None:
        yield nxt[1], nxt[2], 0, 0, nxt[3]
        nxt = next(others, None)


_name = operator.attrgetter("name")
_path = operator.attrgetter("path")
_size, _mtime, _mode = (operator.attrgetter(a) for a in ("st_size", "st_mtime_ns", "st_mode"))
_is_dir = os.DirEntry.is_dir
_helpers = False         # True in list_ahead's child, which may fork helpers (see _split_stats)
_STAT_CHUNK = 4096      # os.stat (not DirEntry.stat, which keeps each result): 100,000 kept cost 0.1-0.2 s
_SPLIT_FROM = 4 * _STAT_CHUNK   # a folder this large has its stat calls split (_split_stats)
_KIND_OF_SUFFIX = {suffix.encode(): kind_of("x" + suffix) for suffix in SUFFIX_FORMAT}


@dataclass
class Scan:
    """The files below some folders, listed without a Path object per file: what a search
    reconciles against a library (absolute path bytes, as the library's table holds them)."""

    roots: list[tuple[bytes, str]] = field(default_factory=list)  # (absolute folder, the folder as given)
    keys: list[bytes] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    mtimes: list[int] = field(default_factory=list)
    skipped: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)

    def shown(self, key: bytes) -> str:
        """A file's path as the user would have written it (below the folder argument as given)."""
        for absolute, given in self.roots:
            if key.startswith(absolute + b"/"):
                return str(Path(os.path.expanduser(given)) / os.fsdecode(key[len(absolute) + 1:]))  # as expand
        return os.fsdecode(key)

    def scope(self) -> str:
        """A key naming the folders scanned (the same folders give the same key)."""
        import hashlib

        return hashlib.blake2b(b"\0".join(sorted(a for a, _ in self.roots)), digest_size=16).hexdigest()

    def fingerprint(self) -> str:
        """A digest of every (path, size, mtime) found, in the order found: equal for two scans
        that found the same files unchanged (a file system lists an unchanged folder in the same
        order; another order only costs the full check). Paths hold no NUL, so the join is exact."""
        import hashlib
        from array import array

        h = hashlib.blake2b(digest_size=16)
        h.update(b"\0".join(self.keys))
        h.update(array("q", self.sizes).tobytes())
        h.update(array("q", self.mtimes).tobytes())
        return h.hexdigest()

    def keep(self, kinds: Iterable[str]) -> None:
        """Only the files of these kinds."""
        kinds = set(kinds)
        if kinds.issuperset(self.kinds):
            return
        picked = [i for i, k in enumerate(self.kinds) if k in kinds]
        if len(picked) != len(self.kinds):
            for name in ("keys", "kinds", "sizes", "mtimes"):
                column = getattr(self, name)
                setattr(self, name, [column[i] for i in picked])


def scan(args: Sequence[str]) -> Scan | None:
    """The files below `args` when every one is a folder (else None: `expand` handles files,
    globs, FILE#X and stdin lists)."""
    if not args or any(a == "-" for a in args):
        return None
    out = Scan()
    for arg in args:
        path = os.path.expanduser(arg)
        if not os.path.isdir(path):
            return None
        absolute = os.path.abspath(os.fsencode(path))
        out.roots.append((absolute, arg))
    several = len(out.roots) > 1        # one folder lists each file once (its folders are walked once)
    seen: set[bytes] = set()
    for absolute, _ in out.roots:
        listing = _listed_ahead(absolute, out.problems) or list_tree(absolute, out.problems, ordered=False)
        if several:                     # a folder inside another one given: its files once
            fresh = [i for i, key in enumerate(listing.paths) if key not in seen]
            seen.update(listing.paths)
            for name in ("paths", "kinds", "sizes", "mtimes"):
                column = getattr(listing, name)
                setattr(listing, name, [column[i] for i in fresh])
        out.keys += listing.paths
        out.kinds += listing.kinds
        out.sizes += listing.sizes
        out.mtimes += listing.mtimes
        for _, key, kind, refused in listing.others:
            if several:
                if key in seen:
                    continue
                seen.add(key)
            if kind is None:
                out.skipped += 1
            else:
                out.problems.append((out.shown(key), refused))
    return out


_ahead: dict = {}     # list_ahead's child ("child": pid and pipe), then the listings it sent, by folder


def list_ahead(args: Sequence[str]) -> None:
    """Start listing the folders among `args` in a forked child, for the `scan` of them that this
    process makes later: the stat of each file (half of a warm 100,000-file search) then runs on
    other cores while this process imports numpy and parses its command line (git's
    preload-index does the same with threads). A listing is used once, for a folder scanned as
    given here; any other scan, or a child that failed, lists in this process as before. The
    console entry point calls it before it builds its command (forked.available: one thread)."""
    from .. import forked

    roots = list(dict.fromkeys(os.path.abspath(os.fsencode(os.path.expanduser(a))) for a in args
                               if a != "-" and os.path.isdir(os.path.expanduser(a))))
    if _ahead or not roots or not forked.available():
        return
    import atexit

    try:
        _ahead["child"] = forked.start(_list_roots, roots)
    except OSError:
        return
    atexit.register(_end_ahead)


def _list_roots(roots: list[bytes]) -> list[tuple]:
    """list_ahead's child: each folder's listing, as compact as marshal makes it (paths hold no
    NUL, so their join is exact)."""
    from array import array

    global _helpers
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):                            # nothing of it reaches the terminal or a pipe's reader
        os.dup2(null, fd)
    _helpers = True
    found = []
    for root in roots:
        problems: list[tuple[str, str]] = []
        got = list_tree(root, problems, ordered=False)
        found.append((root, b"\0".join(got.paths), got.kinds, array("q", got.sizes).tobytes(),
                      array("q", got.mtimes).tobytes(), got.others, problems))
    return found


def _listed_ahead(root: bytes, problems: list[tuple[str, str]]) -> TreeListing | None:
    """list_ahead's listing of `root` (its problems added to `problems`), once; None when there is none."""
    from array import array

    if "child" in _ahead:
        from .. import forked

        sent = forked.result(*_ahead.pop("child"))
        _ahead["listings"] = {found[0]: found[1:] for found in sent[0]} if sent else {}
    found = _ahead.get("listings", {}).pop(root, None)
    if found is None:
        return None
    paths, kinds, sizes, mtimes, others, its_problems = found
    problems += its_problems
    return TreeListing(paths.split(b"\0") if paths else [], kinds, array("q", sizes).tolist(),
                       array("q", mtimes).tolist(), others)


def _end_ahead() -> None:
    """At exit: a child whose listing was never asked for is stopped."""
    if "child" in _ahead:
        from .. import forked

        forked.stop(*_ahead.pop("child"))


def names_file(path: Path) -> bool:
    """The path names something other than a folder, even if it cannot be read (reading it says why)."""
    try:
        return not stat.S_ISDIR(path.stat().st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return True


@dataclass(frozen=True)
class PieceRef:
    """A piece as the user names it: a file, or tune X of a multi-tune ABC file as FILE#X.

    The one place that name is built (`str`) and read back (`parse`)."""

    path: Path
    item: str | None = None

    def __str__(self) -> str:
        return f"{self.path}#{self.item}" if self.item else str(self.path)

    @classmethod
    def parse(cls, ref: str) -> PieceRef:
        return cls(*split_piece_ref(ref))


def piece_name(path: str | Path, item: str | None) -> str:
    return str(PieceRef(Path(path), item or None))


def split_piece_ref(ref: str) -> tuple[Path, str | None]:
    """"tunes.abc#3" -> (tunes.abc, "3") when tunes.abc exists and "tunes.abc#3" does not.

    FILE#X names tune X: of a multi-tune ABC file, as clamp prints it; a file whose own name
    holds a "#" is still itself.
    """
    path = Path(ref).expanduser()
    if not names_file(path) and "#" in path.name:
        base, item = str(path).rsplit("#", 1)
        if item and names_file(Path(base)):
            return Path(base), item
    return path, None


def read_path_list(stream, null: bool = False) -> Iterator[str]:
    """Paths from a list on stdin: one per line, or NUL-separated (`find -print0`)."""
    if null:
        data = stream.buffer.read() if hasattr(stream, "buffer") else stream.read()
        if isinstance(data, str):
            data = os.fsencode(data)
        yield from (os.fsdecode(p) for p in data.split(b"\0") if p)
        return
    for line in stream:
        line = line.rstrip("\r\n")
        if line:
            yield line


SCORE_OPENINGS = ("<?xml", "<score-partwise", "<score-timewise", "<!DOCTYPE score", "MThd", "**kern",
                  "ticks_per_beat", "%abc", "\ufeff")


def _looks_like_a_score(line: str) -> bool:
    """The first line of a score's content (not a path): an ABC field, XML, MIDI, Humdrum, MTF, binary."""
    return (line.startswith(SCORE_OPENINGS) or (len(line) > 1 and line[0].isalpha() and line[1] == ":"
            and os.sep == "/") or "\0" in line or any("\udc80" <= ch <= "\udcff" for ch in line[:64]))


def expand(args: Iterable[str], stdin=None, null: bool = False, features_too: bool = False) -> Walk:
    """Files and directories (recursive), glob patterns, FILE#X tune references, and "-" (a list of
    paths on stdin, one per line or NUL-separated). `features_too`: also the .npy files of the
    folders `clamp embed --out` wrote (for the commands that read feature vectors)."""
    walk = Walk()
    seen: set[Path] = set()
    whole: set[Path] = set()

    def add(path: Path, root: Path, item: str | None = None, checked: tuple | None = None) -> None:
        """`checked`: (kind, refusal) when scan_tree has stat'ed the file already."""
        walk.order.append((path, item))
        if item is None:
            whole.add(path)
            walk.items.pop(path, None)
        elif path not in whole and item not in walk.items.setdefault(path, []):
            walk.items[path].append(item)
        if path in seen:
            return
        seen.add(path)
        walk.roots[path] = root
        kind, refused = checked or (kind_of(path), None)
        if kind is None:
            walk.skipped += 1
            return
        if checked is None:
            refused = check_path(path, kind)    # a FIFO, a device, too large: never opened
        if refused:
            walk.problems.append((str(path), refused))
        else:
            walk.files.append(path)
            walk.kinds[path] = kind

    def visit_path(path: Path, arg: str) -> bool:
        """False when the path does not exist; unreadable ones are problems."""
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            return False
        except OSError as exc:
            walk.problems.append((arg, os_reason(exc)))
            return True
        if stat.S_ISDIR(mode):
            walk.dirs.append(path)
            for found, kind, _, _, refused in scan_tree(os.fsencode(path), walk.problems, features_too=features_too):
                add(Path(os.fsdecode(found)), path, checked=(kind, refused))
        else:
            add(path, path.parent)
        return True

    def visit(arg: str) -> None:
        if visit_path(Path(arg).expanduser(), arg):
            return
        base, item = split_piece_ref(arg)
        if item is not None:
            add(base, base.parent, item)
            return
        matches = sorted(glob.glob(os.path.expanduser(arg), recursive=True)) if glob.has_magic(arg) else []
        for m in matches:
            visit_path(Path(m), m)
        if not matches:
            walk.problems.append((arg, "no such file or directory"))

    for arg in args:
        if arg == "-":
            for n, line in enumerate(read_path_list(stdin or sys.stdin, null)):
                if n == 0 and _looks_like_a_score(line) and not os.path.lexists(line):
                    walk.problems.append(("-", "stdin holds a score, not a list of paths: pass --stdin-score "
                                                "FORMAT (abc, musicxml, midi, ...) to read it"))
                    break
                visit(line)
        else:
            visit(arg)
    return walk
