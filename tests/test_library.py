"""Libraries: the persistent index search reads (reconciliation, copies, the approximate index,
imports, read-only use, interrupted and concurrent writers)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from clamp_cli.index.library import DB_NAME, SCHEMA_VERSION, VECTORS_NAME, Library, LibraryError
from clamp_cli.train.prepare import corpus_root

from .test_cli import run

TUNES = ["MaggieBrownsFavoriteJig.abc", "MaloneysFancyJig.abc", "ButchersMarchJig.abc", "GarryOwenJig.abc",
         "LordMcDonaldsReel.abc", "MissMcLeodsReel.abc", "SpeedThePloughReel.abc", "DrowsyMaggieReel.abc"]


@pytest.fixture
def lib_env(tmp_path):
    e = dict(os.environ)
    e.pop("CLAMP_MODEL", None)
    e.pop("CLAMP_LIBRARY", None)
    e.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), CLAMP_CACHE_DIR=str(tmp_path / "cache"),
             NO_COLOR="1", CLAMP_MODEL="clamp-mini")
    return e


@pytest.fixture
def tunes(tmp_path) -> Path:
    root = tmp_path / "tunes"
    root.mkdir()
    source = corpus_root() / "ryansMammoth"
    names = [n for n in TUNES if (source / n).is_file()] or sorted(p.name for p in source.glob("*Jig.abc"))[:8]
    for name in names:
        shutil.copy(source / name, root / name)
    return root


def _search(args, env, check=0):
    return json.loads(run(["search", "--json", *args], env, check=check).stdout)


def _library(env) -> Library:
    root = Path(env["CLAMP_CACHE_DIR"]) / "libraries"
    (directory,) = [p for p in root.iterdir() if (p / DB_NAME).is_file()]
    return Library(directory)


def test_search_fills_the_default_library_and_follows_renames_edits_and_deletions(lib_env, tunes):
    first = _search(["-t", "a jig", tunes, "-n", "20"], lib_env)
    assert len(first) == len(list(tunes.glob("*.abc")))
    lib = _library(lib_env)
    rows = lib.rows
    assert rows >= len(first) and lib.counts()["files"] == len(first)
    lib.close()
    # a rename keeps the content's rows: nothing embedded, same score under the new name
    old = tunes / sorted(p.name for p in tunes.glob("*.abc"))[0]
    score_before = next(r["score"] for r in first if r["path"] == str(old))
    moved = tunes / "renamed.abc"
    old.rename(moved)
    second = _search(["-t", "a jig", tunes, "-n", "20"], lib_env)
    assert str(old) not in {r["path"] for r in second}
    assert next(r["score"] for r in second if r["path"] == str(moved)) == score_before
    with _library(lib_env) as lib:
        assert lib.rows == rows and lib.counts()["files"] == len(first)
    # an edit is a new content; a deletion drops the file and retires its piece
    victim = tunes / sorted(p.name for p in tunes.glob("*.abc") if p != moved)[0]
    victim.unlink()
    moved.write_text(moved.read_text() + "\n|:cdef gabc':|\n")
    third = _search(["-t", "a jig", tunes, "-n", "20"], lib_env)
    assert str(victim) not in {r["path"] for r in third} and len(third) == len(first) - 1
    with _library(lib_env) as lib:
        counts = lib.counts()
        assert lib.rows == rows + 1 and counts["files"] == len(first) - 1 and counts["dead"] == 2


def test_an_unchanged_folder_is_recorded_and_any_write_to_the_files_table_voids_the_record(lib_env, tunes):
    first = _search(["-t", "a jig", tunes, "-n", "20"], lib_env)      # embeds: writes, records nothing
    with _library(lib_env) as lib:
        assert "scans" not in lib.meta
    assert _search(["-t", "a jig", tunes, "-n", "20"], lib_env) == first   # wrote nothing: recorded
    with _library(lib_env) as lib:
        (recorded,) = json.loads(lib.meta["scans"]).values()
        assert recorded[1] == lib.files_generation
    assert _search(["-t", "a jig", tunes, "-n", "20"], lib_env) == first   # answered from the record
    # a file dropped from the library behind the folder's back (another command, the Python API):
    # the record no longer holds, so the next search checks the folder and takes the file in again
    victim = Path(first[0]["path"])
    with _library(lib_env) as lib:
        generation = lib.files_generation
        lib.remove_files([os.fsencode(victim)])
        assert lib.files_generation != generation and not lib.scan_unchanged(*json.loads(lib.meta["scans"]).popitem())[0]
    assert _search(["-t", "a jig", tunes, "-n", "20"], lib_env) == first
    with _library(lib_env) as lib:
        assert lib.counts()["files"] == len(first)
    # a file touched (new mtime, same bytes) is a different scan: checked, its row's mtime updated
    os.utime(victim, ns=(victim.stat().st_atime_ns, victim.stat().st_mtime_ns + 10**9))
    assert _search(["-t", "a jig", tunes, "-n", "20"], lib_env) == first
    with _library(lib_env) as lib:
        assert lib.file_table([os.fsencode(victim)])[os.fsencode(victim)][1] == victim.stat().st_mtime_ns
        scope, (fingerprint, _) = json.loads(lib.meta["scans"]).popitem()
        assert not lib.scan_unchanged(scope, fingerprint)[0]    # that search wrote: the next one records
    assert _search(["-t", "a jig", tunes, "-n", "20"], lib_env) == first
    with _library(lib_env) as lib:
        scope, (fingerprint, _) = json.loads(lib.meta["scans"]).popitem()
        assert lib.scan_unchanged(scope, fingerprint)[0]
        lib.record_scan(scope, "another", str(int(lib.files_generation) - 1))   # a sync that saw an older table
        assert lib.scan_unchanged(scope, fingerprint)[0]                       # is not recorded
        with _library(lib_env) as other:        # another process writes after this one opened the library
            other.remove_files([os.fsencode(victim)])
        assert not lib.scan_unchanged(scope, fingerprint)[0]   # read as the database is now, not as opened


def test_copies_are_converted_once_and_unique_collapses_them(lib_env, tunes, tmp_path):
    copies = tmp_path / "copies"
    copies.mkdir()
    one = next(iter(sorted(tunes.glob("*.abc"))))
    for i in range(5):
        shutil.copy(one, copies / f"copy{i}.abc")
    proc = run(["embed", copies, "--json"], lib_env, check=0)
    statuses = [r["status"] for r in json.loads(proc.stdout)]
    assert statuses.count("embedded") == 5 and "embedded 5" in proc.stderr     # five files, one conversion
    with _library(lib_env) as lib:
        assert lib.rows == 1 and lib.counts()["files"] == 5
    plain = _search(["-t", "a jig", copies], lib_env)
    assert len(plain) == 5 and len({r["score"] for r in plain}) == 1
    unique = _search(["-t", "a jig", copies, "--unique"], lib_env)
    assert len(unique) == 1 and unique[0]["copies"] == 5


def test_named_library_no_update_reads_no_file(lib_env, tunes):
    run(["library", "create", "folk", tunes], lib_env, check=0)
    info = json.loads(run(["library", "info", "folk", "--json"], lib_env, check=0).stdout)[0]
    assert info["files"] == len(list(tunes.glob("*.abc"))) and info["model_name"] == "clamp-mini"
    assert info["search"] == "exact" and info["schema"] == SCHEMA_VERSION == 2
    full = _search(["-L", "folk", "-t", "a reel"], lib_env)
    # --no-update answers from the table as it stands: unreadable files are not read, a deleted one is
    # still listed until the next update
    for p in tunes.glob("*.abc"):
        p.chmod(0)
    gone = tunes / Path(full[0]["path"]).name
    gone.unlink()
    stale = _search(["-L", "folk", "-t", "a reel", "--no-update"], lib_env)
    assert stale == full
    restricted = _search(["-t", "a reel", "--no-update", tunes], lib_env | {"CLAMP_LIBRARY": "folk"})
    assert {r["path"] for r in restricted} == {r["path"] for r in full}    # the table, not the disk
    for p in tunes.glob("*.abc"):
        p.chmod(0o644)
    updated = _search(["-L", "folk", "-t", "a reel"], lib_env)
    assert [r["path"] for r in updated] == [r["path"] for r in full if r["path"] != str(gone)]


def _make_read_only(directory: Path) -> Callable[[], None]:
    """A read-only disk under `directory` (a tmpfs remounted read-only) where the user may mount,
    else (not root) plain permissions. Returns how to undo it."""
    if os.geteuid() == 0:
        subprocess.run(["mount", "-o", "remount,ro", str(directory.parent)], check=True)
        return lambda: subprocess.run(["mount", "-o", "remount,rw", str(directory.parent)], check=True)
    for p in [directory, *directory.iterdir()]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    return lambda: [p.chmod(0o755 if p.is_dir() else 0o644) for p in [directory, *directory.iterdir()]]


def test_read_only_library_serves_searches(lib_env, tunes, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)]).returncode == 0
    if os.geteuid() == 0 and not mounted:
        pytest.skip("root without mount rights: cannot make a read-only disk here")
    try:
        directory = disk / "shared-lib"
        run(["library", "create", directory, tunes], lib_env, check=0)
        expected = _search(["-L", directory, "-t", "a jig"], lib_env)
        undo = _make_read_only(directory)
        try:
            assert not os.access(directory / DB_NAME, os.W_OK)
            shutil.copy(tunes / sorted(p.name for p in tunes.iterdir())[0], tunes / "new.abc")
            proc = run(["search", "--json", "-L", directory, "-t", "a jig"], lib_env, check=0)
            assert json.loads(proc.stdout) == expected
            assert "library is read-only; 1 new, changed or deleted file(s) not taken in" in proc.stderr
            assert json.loads(run(["library", "info", directory, "--json"], lib_env, check=0).stdout)[0][
                "writable"] is False
        finally:
            undo()
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], check=True)


def test_import_npy_tree_and_parquet_shards(lib_env, tunes, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    features = tmp_path / "features"
    run(["embed", tunes, "-O", features, "-q"], lib_env, check=0)
    run(["library", "create", "imported"], lib_env, check=0)
    proc = run(["library", "import", "imported", features, "--scores", tunes], lib_env, check=0)
    n = len(list(tunes.glob("*.abc")))
    assert f"imported {n} file(s), {n} new row(s)" in proc.stderr
    # the imported vectors answer as the embedded ones do, under the scores' names
    ours = _search(["-t", "a jig", tunes], lib_env)
    theirs = _search(["-L", "imported", "--no-update", "-t", "a jig"], lib_env)
    assert [r["path"] for r in theirs] == [r["path"] for r in ours]
    assert np.allclose([r["score"] for r in theirs], [r["score"] for r in ours], atol=1e-5)
    again = run(["library", "import", "imported", features, "--scores", tunes], lib_env, check=0)
    assert f"imported {n} file(s), 0 new row(s)" in again.stderr

    with _open_named(lib_env, "imported") as lib:
        model, dim = lib.model_id, lib.dim
        vectors = np.array(lib.vectors())
    rng = np.random.default_rng(0)
    table = pa.table({"key": [f"{i:064x}" for i in range(50)], "path": [f"/elsewhere/{i}.mid" for i in range(50)],
                      "model": [model] * 50, "prep": ["music/mini/v3"] * 50,
                      "vector": pa.FixedSizeListArray.from_arrays(
                          pa.array(rng.normal(size=50 * dim).astype(np.float32)), dim)})
    pq.write_table(table, tmp_path / "shard-0.parquet")
    proc = run(["library", "import", "imported", tmp_path / "shard-0.parquet"], lib_env, check=0)
    assert "imported 50 file(s), 50 new row(s)" in proc.stderr
    assert "0 new row(s)" in run(["library", "import", "imported", tmp_path / "shard-0.parquet"], lib_env,
                                 check=0).stderr
    wrong = table.set_column(2, "model", pa.array(["another-model"] * 50))
    pq.write_table(wrong, tmp_path / "wrong-model.parquet")
    proc = run(["library", "import", "imported", tmp_path / "wrong-model.parquet"], lib_env, check=1)
    assert proc.stderr.count("clamp: error:") == 1 and "vectors of model another-model" in proc.stderr
    short = pa.table({c: table.column(c) for c in ("key", "path", "model", "prep")} |
                     {"vector": pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(50 * 8, np.float32)), 8)})
    pq.write_table(short, tmp_path / "wrong-dim.parquet")
    proc = run(["library", "import", "imported", tmp_path / "wrong-dim.parquet"], lib_env, check=1)
    assert proc.stderr.count("clamp: error:") == 1 and f"fixed_size_list<float32>[{dim}]" in proc.stderr
    with _open_named(lib_env, "imported") as lib:
        assert lib.rows == n + 50 and np.array_equal(np.array(lib.vectors())[:n], vectors)
    # clamp's own shard writer (the interchange the cluster engine writes): read back exactly
    from clamp_cli.index.imports import write_parquet_shard

    raw = rng.normal(size=(20, dim)).astype(np.float32)
    write_parquet_shard(tmp_path / "ours.parquet", [f"{i:064x}" for i in range(100, 120)],
                        [f"/elsewhere/{i}.mid" for i in range(100, 120)], model, ["music/mini/v3"] * 20, raw)
    assert [p.name for p in tmp_path.glob("*ours*")] == ["ours.parquet"]            # no temporary left
    proc = run(["library", "import", "imported", tmp_path / "ours.parquet"], lib_env, check=0)
    assert "imported 20 file(s), 20 new row(s)" in proc.stderr
    with _open_named(lib_env, "imported") as lib:
        np.testing.assert_allclose(np.array(lib.vectors())[n + 50:], raw / np.linalg.norm(raw, axis=1, keepdims=True),
                                   rtol=1e-6)
        np.testing.assert_allclose(lib.raw_vectors(range(n + 50, n + 70)), raw, rtol=1e-5)


def test_a_piece_twice_in_a_shard_or_in_two_shards_gets_one_row(tmp_path):
    from clamp_cli.index.imports import import_parquet, write_parquet_shard

    rng = np.random.default_rng(5)
    raw = rng.normal(size=(6, 8)).astype(np.float32)
    keys = [f"{i:064x}" for i in (1, 2, 2, 3, 4, 4)]          # two pieces twice within the shard
    write_parquet_shard(tmp_path / "a.parquet", keys, [f"/far/{i}.abc" for i in range(6)], "m", ["music/x"] * 6, raw)
    write_parquet_shard(tmp_path / "b.parquet", keys[:3] + [f"{9:064x}"], [f"/far/b{i}.abc" for i in range(4)], "m",
                        ["music/x"] * 4, raw[:4])
    with Library.create(tmp_path / "lib", "m", 8) as lib:
        report = import_parquet(lib, [tmp_path / "a.parquet", tmp_path / "b.parquet"])
        assert report.rows_added == lib.rows == 5 and lib.counts()["files"] == 10 and not lib.check()
        with pytest.raises(ValueError):         # the caller's check must be made under the write lock
            lib.add_rows([], [f"{7:064x}"], [""], ["music"], raw[:1], unheld=True)


def _open_named(env, name) -> Library:
    return Library(Path(env["CLAMP_CACHE_DIR"]) / "libraries" / name)


# -- the library as a unit: the approximate index, interrupted and concurrent writers ----------

def _clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(64, dim)).astype(np.float32)
    return (centres[rng.integers(0, 64, n)] + 0.3 * rng.normal(size=(n, dim))).astype(np.float32)


def _fill(lib: Library, vectors: np.ndarray, start: int = 0) -> None:
    st = os.stat(lib.db_path)
    pieces = {f"{start + i:064x}": [("", "music", v)] for i, v in enumerate(vectors)}
    lib.add([(Path(f"/x/{h}.abc"), st, h) for h in pieces], pieces)


def test_approximate_index_builds_merges_tunes_and_forgets_deleted_rows(tmp_path):
    dim = 32
    lib = Library.create(tmp_path / "lib", "m", dim, ann_threshold=2000)
    data = _clustered(3000, dim)
    _fill(lib, data)
    assert lib.needs_ann_work() == "build" and lib.update_ann() == "build"
    query = data[7] + 0.01
    exact = [h.row for h in lib.search(query, 10, exact=True)]
    assert [h.row for h in lib.search(query, 10)][:3] == exact[:3]
    tried = lib.tune(0.95, queries=50)
    assert tried[-1][1] >= 0.95 and lib.ann_state["nprobe"] == tried[-1][0]
    # rows added later are found before the index takes them in, and after (no retraining)
    _fill(lib, data[:1] * 3 + 5, start=3000)
    assert lib.search(data[0] * 3 + 5, 1)[0].row == 3000
    trained = lib.ann_state["trained"]
    assert lib.update_ann(force="merge") == "merge" and lib.ann_state["trained"] == trained
    assert lib.ann_state["rows"] == 3001 and lib.search(data[0] * 3 + 5, 1)[0].row == 3000
    # a deleted file's piece is never returned
    lib.remove_files([os.fsencode(f"/x/{3000:064x}.abc")])
    assert 3000 not in {h.row for h in lib.search(data[0] * 3 + 5, 10)}
    # doubling the collection retrains
    _fill(lib, _clustered(3100, dim, seed=1), start=4000)
    assert lib.needs_ann_work() == "build"
    lib.close()


def test_an_interrupted_append_is_cut_off_by_the_next_writer(tmp_path):
    lib = Library.create(tmp_path / "lib", "m", 8)
    _fill(lib, np.ones((3, 8), np.float32))
    with open(lib.dir / VECTORS_NAME, "ab") as f:      # a writer killed after its vectors, before its commit
        f.write(np.full((5, 8), 7, np.float32).tobytes())
    assert lib.rows == 3 and lib.check() == []
    _fill(lib, np.full((2, 8), 2, np.float32), start=10)
    assert lib.rows == 5 and (lib.dir / VECTORS_NAME).stat().st_size == 5 * 8 * 4
    assert np.allclose(lib.vectors()[3:], 2 / np.sqrt(8 * 4)) and lib.check() == []
    lib.close()


def test_two_processes_updating_one_library_lose_nothing(tmp_path):
    Library.create(tmp_path / "lib", "m", 8).close()
    code = (
        "import os, sys, numpy as np\n"
        "from pathlib import Path\n"
        "from clamp_cli.index.library import Library\n"
        "lib = Library(sys.argv[1]); base = int(sys.argv[2]); st = os.stat(sys.argv[1])\n"
        "for b in range(20):\n"
        "    pieces = {f'{base + b * 10 + i:064x}': [('', 'music', np.random.rand(8).astype('float32'))]"
        " for i in range(10)}\n"
        "    lib.add([(Path(f'/x/{h}'), st, h) for h in pieces], pieces)\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "lib"), str(base)])
             for base in (0, 100_000)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    with Library(tmp_path / "lib") as lib:
        assert lib.rows == 400 and lib.counts()["files"] == 400 and lib.check() == []


def test_a_library_of_another_model_is_refused(lib_env, tunes, tmp_path):
    Library.create(tmp_path / "other", "some-other-model", 256).close()
    proc = run(["search", "-L", tmp_path / "other", "-m", "clamp-mini", "-t", "a jig", tunes], lib_env, check=2)
    assert "library of model some-other-model" in proc.stderr and proc.stderr.count("\n") == 1
    with pytest.raises(LibraryError, match="no library here"):
        Library(tmp_path / "nothing")


def test_library_tables_are_versioned(tmp_path):
    lib = Library.create(tmp_path / "lib", "m", 8)
    lib.close()
    db = sqlite3.connect(tmp_path / "lib" / DB_NAME)
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    with pytest.raises(LibraryError, match="newer clamp"):
        Library(tmp_path / "lib")


def test_no_update_checks_keys_kind_before_ranking(lib_env, tunes):
    run(["library", "create", "kinds", tunes], lib_env, check=0)
    proc = run(["search", "-L", "kinds", "-N", "-t", "a jig", "--keys-kind", "foo"], lib_env, check=2)
    assert "--keys-kind must be scores, recordings, texts or all, not 'foo'" in proc.stderr


def _as_list(results) -> list[tuple[str, float]]:
    return sorted((r["path"], r["score"]) for r in results)


def test_a_folder_search_ranks_what_the_same_files_named_one_by_one_rank(lib_env, tunes, tmp_path):
    """Folders go through the scan (no Path per file); the files named one by one through the
    general walk: the two agree, for a library holding files outside the folder, hidden files,
    copies and other kinds."""
    (tunes / "sub").mkdir()
    first, second = sorted(tunes.glob("*.abc"))[:2]
    shutil.copy(first, tunes / "sub" / "copy.abc")                   # a copy: same content, two files
    shutil.copy(second, tunes / ".hidden.abc")                       # left out of the folder walk
    (tunes / "notes.txt").write_text("a lively jig\n")               # another kind: not ranked with scores
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(second, outside / "same-as-second.abc")
    shutil.copy(sorted(tunes.glob("*.abc"))[2], outside / "third.abc")
    # the library holds the folder outside and the hidden file too
    _search(["-t", "a jig", outside], lib_env)
    _search(["-t", "a jig", tunes / ".hidden.abc"], lib_env)
    listed = sorted(str(p) for p in tunes.rglob("*.abc") if not p.name.startswith("."))

    folder = run(["search", "--json", "-t", "a jig", tunes, "-n", "50"], lib_env, check=0)
    one_by_one = run(["search", "--json", "-t", "a jig", "-", "-n", "50"], lib_env, stdin="\n".join(listed),
                     check=0)
    assert _as_list(json.loads(folder.stdout)) == _as_list(json.loads(one_by_one.stdout))
    assert sorted(r["path"] for r in json.loads(folder.stdout)) == listed     # neither the hidden file nor outside
    assert "ranking scores only; left out 1 texts" in folder.stderr
    unique = _search(["-t", "a jig", tunes, "-n", "50", "--unique"], lib_env)
    assert len(unique) == len(listed) - 1 and max(r["copies"] for r in unique) == 2
    # a sub-folder of a folder the library holds: only its files (the tables' range, no walk of the rest)
    assert [r["path"] for r in _search(["-t", "a jig", tunes / "sub"], lib_env)] == [str(tunes / "sub" / "copy.abc")]
    # changes since: an edit, a new file, a deletion; the folder search sees each as the list does
    (tunes / "sub" / "copy.abc").write_text(second.read_text())
    shutil.copy(first, tunes / "new.abc")
    sorted(tunes.glob("*.abc"))[-1].unlink()
    listed = sorted(str(p) for p in tunes.rglob("*.abc") if not p.name.startswith("."))
    folder = _search(["-t", "a jig", tunes, "-n", "50"], lib_env)
    assert sorted(r["path"] for r in folder) == listed
    one_by_one = run(["search", "--json", "-t", "a jig", "-", "-n", "50"], lib_env, stdin="\n".join(listed), check=0)
    assert _as_list(folder) == _as_list(json.loads(one_by_one.stdout))


def test_a_folder_search_shows_paths_as_given(lib_env, tunes):
    """A relative folder argument gives relative result paths, as the walk always has."""
    relative = _search(["-t", "a jig", "."], lib_env | {"CLAMP_TEST_CWD": str(tunes)})
    assert sorted(r["path"] for r in relative) == sorted(p.name for p in tunes.glob("*.abc"))    # "x.abc", not "./x.abc"
    below = _search(["-t", "a jig", "tunes/"], lib_env | {"CLAMP_TEST_CWD": str(tunes.parent)})
    assert sorted(r["path"] for r in below) == sorted(f"tunes/{p.name}" for p in tunes.glob("*.abc"))


def test_a_library_folder_may_have_any_name(tmp_path):
    """SQLite's file: URI ends a path at "?" or "#": a library under such a name (or one not UTF-8)
    is written and read back, also read-only."""
    directory = Path(os.fsdecode(os.fsencode(tmp_path) + b"/odd?name #1 %20 lat\xe9"))
    lib = Library.create(directory, "m", 8)
    lib.add([], {"h" * 64: [("", "music", np.arange(8, dtype=np.float32))]})
    lib.close()
    for readonly in (False, True):
        with Library(directory, readonly=readonly) as again:
            assert again.rows == 1 and again.check() == []
    assert not list(tmp_path.glob("odd"))        # nothing made at the name cut short


def test_a_schema_1_library_is_migrated_when_writable_and_read_as_it_is_when_not(tmp_path):
    for readonly in (False, True):
        directory = tmp_path / f"old-{readonly}"
        Library.create(directory, "m", 4).close()
        db = sqlite3.connect(directory / DB_NAME)
        db.execute("DELETE FROM meta WHERE key = 'files_generation'")
        db.execute("PRAGMA user_version = 1")
        db.commit()
        db.close()
        with Library(directory, readonly=readonly) as lib:
            assert lib.files_generation == (None if readonly else "0")
            assert not lib.scan_unchanged("scope", "fingerprint")[0]
            lib.record_scan("scope", "fingerprint", lib.files_generation)
            assert lib.scan_unchanged("scope", "fingerprint")[0] is not readonly
        version = sqlite3.connect(directory / DB_NAME).execute("PRAGMA user_version").fetchone()[0]
        assert version == (1 if readonly else SCHEMA_VERSION)
