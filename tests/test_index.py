"""The cache, the vector indexes, the worker pool and query parsing, as units."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from clamp_cli.errors import UsageError
from clamp_cli.formats.pool import map_files
from clamp_cli.index.store import MIGRATIONS, SCHEMA_VERSION, CacheError, FeatureStore
from clamp_cli.index.vectors import ExactIndex
from clamp_cli.retrieval import Hit, classify, normalize, parse_query, rank, split_weight

# -- the feature store -------------------------------------------------------------------


def test_migration_from_v1_keeps_rows(tmp_path):
    db = sqlite3.connect(tmp_path / "clamp.sqlite3")
    for statement in MIGRATIONS[0]:
        db.execute(statement)
    db.execute("INSERT INTO features VALUES ('m', 'p', 'h', 2, ?, 0)", (np.ones(2, np.float32).tobytes(),))
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    store = FeatureStore(tmp_path)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert store.db.execute("SELECT count(*) FROM pieces").fetchone()[0] == 0
    np.testing.assert_array_equal(store.get("m", "p", ["h"], 2)["h"], [1, 1])


def test_migration_to_v3_keeps_the_stat_cache_as_bytes(tmp_path):
    """v3 stores paths as the file system's bytes; a v2 cache's TEXT paths are carried over."""
    tune = tmp_path / "tune.abc"
    tune.write_text("X:1\nK:D\nABc|\n")
    db = sqlite3.connect(tmp_path / "clamp.sqlite3")
    for step in MIGRATIONS[:2]:
        for statement in step:
            db.execute(statement)
    st = tune.stat()
    db.execute("INSERT INTO files VALUES (?, ?, ?, 'h1')", (str(tune), st.st_size, st.st_mtime_ns))
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()
    store = FeatureStore(tmp_path)
    assert store.db.execute("SELECT typeof(path) FROM files").fetchall() == [("blob",)]
    assert store.known_hashes([tune]) == {tune: "h1"}
    latin = Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.abc"))
    latin.write_text("X:1\nK:D\nABc|\n")
    store.remember_hashes([(latin, latin.stat(), "h2")])          # a name that is not UTF-8
    assert store.known_hashes([latin]) == {latin: "h2"}


def test_newer_schema_is_refused_not_overwritten(tmp_path):
    db = sqlite3.connect(tmp_path / "clamp.sqlite3")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(CacheError, match="newer clamp"):
        FeatureStore(tmp_path)
    assert (tmp_path / "clamp.sqlite3").exists()


# -- the exact index -----------------------------------------------------------------------

def test_exact_index_restrict_paths_agree_and_ties_keep_insertion_order():
    rng = np.random.default_rng(2)
    keys = [f"k{i}" for i in range(100)]
    vecs = rng.normal(size=(100, 16)).astype(np.float32)
    vecs[10] = vecs[20]  # a tie
    index = ExactIndex.from_vectors(keys, vecs)
    q = normalize(vecs[20])
    top = index.search(q, 2)
    assert [k for k, _ in top] == ["k10", "k20"]
    few = index.search(q, 5, restrict=keys[:30])      # gathers the rows
    many = index.search(q, 5, restrict=keys[:90])     # scores all rows, then picks
    full = [(k, s) for k, s in index.search(q, 100) if k in set(keys[:30])][:5]
    assert [k for k, _ in few] == [k for k, _ in full]
    assert [k for k, _ in many][:2] == ["k10", "k20"]
    np.testing.assert_allclose([s for _, s in few], [s for _, s in full], atol=1e-6)


def test_exact_index_add_and_replace():
    index = ExactIndex(3)
    index.add(["a", "b"], np.array([[1, 0, 0], [0, 1, 0]], np.float32))
    index.add(["a"], np.array([[0, 0, 2]], np.float32))
    assert len(index) == 2
    np.testing.assert_allclose(index.get(["a"])["a"], [0, 0, 1])
    assert rank(np.array([0, 0, 1.0]), index, 1) == [Hit(1, pytest.approx(1.0), "a")]
    assert rank(np.array([0, 0, 1.0]), index, 5, exclude={"a"})[0].key == "b"
    with pytest.raises(ValueError):
        rank(np.array([np.nan, 0, 0]), index, 1)


def test_classify_softmax_and_top_k():
    labels = ["x", "y", "z"]
    lv = np.eye(3, dtype=np.float32)
    out = classify(["p"], np.array([[0.9, 0.1, 0.0]], np.float32), labels, lv, scale=10.0, k=2)
    assert [t.label for t in out[0].top] == ["x", "y"]
    logits = 10 * normalize(np.array([0.9, 0.1, 0.0]))
    expected = np.exp(logits) / np.exp(logits).sum()
    assert out[0].best.probability == pytest.approx(expected[0], abs=1e-5)
    assert out[0].top[1].score == pytest.approx(float(normalize(np.array([0.9, 0.1, 0.0]))[1]), abs=1e-6)


# -- the worker pool ---------------------------------------------------------------------------

def _square_or_die(path: str, die_on: str) -> int:
    if path == die_on:
        os._exit(3)  # a hard crash: no exception, no result
    return int(path) ** 2


def test_pool_keeps_order_and_survives_a_crashed_worker():
    paths = [str(i) for i in range(20)]
    got = list(map_files(_square_or_die, paths, 2, "7", on_crash=lambda p: f"crashed {p}"))
    assert [p for p, _ in got] == paths
    assert dict(got)["7"] == "crashed 7"
    assert all(v == int(p) ** 2 for p, v in got if p != "7")


def test_pool_stops_its_workers_when_left_early():
    import multiprocessing

    before = set(multiprocessing.active_children())     # e.g. an idle conversion worker kept for later (pool.prestart)
    gen = map_files(_square_or_die, [str(i) for i in range(50)], 2, "none")
    assert next(gen) == ("0", 0)
    gen.close()
    assert not [c for c in multiprocessing.active_children() if c.is_alive() and c not in before]


# -- queries -----------------------------------------------------------------------------------

@pytest.mark.parametrize("item, expected", [
    ("2:jazz", (2.0, "jazz")), ("0.5:slow air", (0.5, "slow air")), ("-1:loud", (-1.0, "loud")),
    ("10:30 train", (1.0, "10:30 train")), ("5: Allegro", (1.0, "5: Allegro")), ("\\2:jazz", (1.0, "2:jazz")),
    ("jazz", (1.0, "jazz")), ("C:major", (1.0, "C:major")),
])
def test_weight_syntax(item, expected):
    assert split_weight(item) == expected


@pytest.mark.parametrize("texts, subs, message", [
    (["nan:jazz"], [], "finite"), (["inf:jazz"], [], "finite"), (["0:jazz"], [], "weight of 0"),
    ([""], [], "empty"), (["   "], [], "empty"), (["jazz"], ["jazz"], "cancel"), ([], ["jazz"], "only subtracts"),
    ([], [], "give a query"),
])
def test_bad_queries_are_usage_errors(texts, subs, message):
    with pytest.raises(UsageError, match=message):
        parse_query(texts, [], subs, [])


def test_music_part_that_is_an_existing_file_is_never_weighted(tmp_path):
    f = tmp_path / "2:tune.abc"
    f.write_text("X:1\nK:C\nabc|\n")
    q = parse_query([], [str(f)], [], [], is_path=lambda s: Path(s).is_file())
    assert q.parts[0].weight == 1.0 and q.parts[0].value == str(f)
