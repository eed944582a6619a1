"""`clamp embed --engine ray` on a local Ray instance: the local engine's vectors, each key once, reruns.

Each test runs clamp in a process of its own (Ray starts and stops a local cluster with it);
Ray's start-up is about 4 s here, so the file holds few jobs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from .test_serve import clamp_process

# found, not imported: importing Ray here starts threads in the test process (the fork-based
# tests of other files need a process with one thread)
pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                reason="Ray is not installed (pip install 'clamp-cli[ray]')")

TUNES = """X:1
T:One
M:6/8
L:1/8
K:D
DFA dAF|GBd gfe|dcB AFD|E3 D3:|

X:2
T:Two
M:4/4
L:1/8
K:G
GABc dedB|dedB dedB|c2ec B2dB|A2AB AGFE:|

X:3
T:Three
M:3/4
L:1/4
K:A
A B c|d2 c|B A G|A3|
"""


def corpus(folder: Path) -> Path:
    import music21

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tunes.abc").write_text(TUNES)
    root = Path(music21.__file__).parent / "corpus" / "bach"
    for name in ("bwv66.6.mxl", "bwv7.7.mxl"):
        shutil.copy(root / name, folder / name)
    (folder / "sub").mkdir(exist_ok=True)
    (folder / "sub" / "copy.abc").write_text(TUNES)          # the same content under another name
    (folder / "broken.mxl").write_bytes(b"PK\x03\x04 not a zip archive")
    return folder


def vectors_in(folder: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(folder)): np.load(p) for p in sorted(folder.rglob("*.npy"))}


def library_keys(cache: Path) -> list[str]:
    import sqlite3

    (db,) = list(cache.glob("libraries/*/library.sqlite3"))
    with sqlite3.connect(db) as con:
        return [h + ("#" + i if i else "") for h, i in con.execute("SELECT hash, item FROM pieces")]


@pytest.fixture()
def two_caches(env, tmp_path):
    def with_cache(name):
        e = dict(env, CLAMP_CACHE_DIR=str(tmp_path / name))
        e.pop("RAY_ADDRESS", None)
        return e
    return with_cache


def test_ray_engine_equals_local_engine_and_keeps_each_key_once(two_caches, tmp_path):
    scores = corpus(tmp_path / "scores")
    local = clamp_process(["embed", scores, "-O", tmp_path / "local", "--jsonl"], two_caches("a"), tmp_path)
    ray = clamp_process(["embed", scores, "--engine", "ray", "-O", tmp_path / "ray", "--jsonl"], two_caches("b"), tmp_path)
    assert local.returncode == ray.returncode == 1, ray.stderr          # one broken file
    errors = [line for line in ray.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "broken.mxl" in errors[0], ray.stderr
    assert "Traceback" not in ray.stderr and "core_worker" not in ray.stderr, ray.stderr
    records = [json.loads(line) for line in ray.stdout.splitlines()]
    assert sorted(r["path"] for r in records) == sorted(json.loads(x)["path"] for x in local.stdout.splitlines())
    assert {r["status"] for r in records} == {"embedded"}
    a, b = vectors_in(tmp_path / "local"), vectors_in(tmp_path / "ray")
    assert sorted(a) == sorted(b) and len(a) == 2 + 3 + 3
    assert max(float(np.abs(a[k] - b[k]).max()) for k in a) <= 1e-5
    keys = library_keys(tmp_path / "b")
    assert len(keys) == len(set(keys)) == 2 + 3                        # the copy holds no rows of its own
    # a rerun: nothing left to do but the broken file, which fails again with its one line
    again = clamp_process(["embed", scores, "--engine", "ray", "--jsonl"], two_caches("b"), tmp_path)
    assert again.returncode == 1 and {json.loads(x)["status"] for x in again.stdout.splitlines()} == {"cached"}
    assert sorted(library_keys(tmp_path / "b")) == sorted(keys)
    # the local engine finds the Ray engine's vectors in the cache too, and search ranks the library
    warm = clamp_process(["embed", scores, "--jsonl"], two_caches("b"), tmp_path)
    assert {json.loads(x)["status"] for x in warm.stdout.splitlines()} == {"cached"}, warm.stderr
    found = clamp_process(["search", scores, "--text", "a chorale", "-n", "3", "--json"], two_caches("b"), tmp_path)
    assert found.returncode == 1 and len(json.loads(found.stdout)) == 3, found.stderr


def test_kept_shards_finish_an_interrupted_job(two_caches, tmp_path):
    """Shards left by a run that stopped before importing them (and a half-written one) are imported
    by the next run, without the cluster when they hold everything."""
    scores = corpus(tmp_path / "scores")
    (scores / "broken.mxl").unlink()
    shards = tmp_path / "shards"
    first = clamp_process(["embed", scores, "--engine", "ray", "--shards", shards], two_caches("a"), tmp_path)
    assert first.returncode == 0, first.stderr
    kept = sorted(shards.glob("*/part-*.parquet"))
    assert kept, "--shards keeps the shards (in a folder of the model and the preparation)"
    (kept[0].parent / ".part-0123.parquet.99.tmp").write_bytes(b"PAR1 half written")
    # another machine's library, filled from the shards alone: Ray is never started (no notice)
    second = clamp_process(["embed", scores, "--engine", "ray", "--shards", shards, "--jsonl"], two_caches("c"), tmp_path)
    assert second.returncode == 0, second.stderr
    assert "ray:" not in second.stderr and not list(shards.glob("*/.*.tmp"))
    assert sorted(library_keys(tmp_path / "c")) == sorted(library_keys(tmp_path / "a"))
    assert len(library_keys(tmp_path / "c")) == 5


def test_engine_options_are_checked(env, tmp_path):
    from typer.testing import CliRunner

    from clamp_cli.cli.main import app

    scores = corpus(tmp_path / "scores")
    for args in (["--engine", "spark"], ["--address", "auto"], ["--shards", str(tmp_path / "s")]):
        result = CliRunner().invoke(app, ["embed", str(scores), *args], env={"CLAMP_CACHE_DIR": str(tmp_path / "c")})
        assert result.exit_code == 2 and "Traceback" not in result.output, (args, result.output)
    assert not os.path.exists(tmp_path / "s") and sys.executable


def test_a_content_is_complete_when_the_library_holds_every_piece_the_cache_lists(tmp_path):
    """What the Ray engine skips (no Ray needed): a file whose tunes are all in the library; a tune
    that failed before (in the cache's piece list, not in the library) sends its file again; rows
    whose files had gone (dead) still count, as the library revives them."""
    from clamp_cli.index.library import Library
    from clamp_cli.index.ray_engine import complete_contents
    from clamp_cli.index.store import FeatureStore

    store = FeatureStore(tmp_path / "cache")
    prep = "music/test"
    with Library.create(tmp_path / "lib", "m", 4) as lib:
        vec = np.ones(4, np.float32)
        f = tmp_path / "f.abc"
        f.write_text("x")
        lib.add([(f, os.stat(f), "whole")], {"whole": [("1", "music", vec), ("2", "music", vec)],
                                              "partial": [("1", "music", vec), ("3", "music", vec)],
                                              "unlisted": [("", "music", vec)]})
        store.put_pieces(prep, {"whole": ["1", "2"], "partial": ["1", "2", "3"]})
        assert complete_contents(lib, store, prep, {"whole", "partial", "unlisted", "new"}) == {"whole", "unlisted"}
        lib.add([], {}, gone=[os.fsencode(f)])          # the only file of "whole" is gone: its rows are dead
        assert not lib.pieces_of({"whole"}) and complete_contents(lib, store, prep, {"whole"}) == {"whole"}


def test_the_results_are_the_shards_vectors_and_shards_stay_apart_by_model_and_preparation(two_caches, tmp_path):
    import pyarrow.parquet as pq

    scores = corpus(tmp_path / "scores")
    (scores / "broken.mxl").unlink()
    shards = tmp_path / "shards"
    env = two_caches("a")
    run = clamp_process(["embed", scores, "--engine", "ray", "--shards", shards, "-O", tmp_path / "out"], env, tmp_path)
    assert run.returncode == 0, run.stderr
    (folder,) = [p for p in shards.iterdir() if p.is_dir()]
    first_shards = len(list(folder.glob("part-*.parquet")))
    written = {}
    for shard in folder.glob("part-*.parquet"):
        table = pq.read_table(shard)
        written.update(zip(table.column("key").to_pylist(), np.asarray(table.column("vector").to_pylist(), np.float32)))
    got = vectors_in(tmp_path / "out")
    assert len(written) == 5 and len(got) == 8                            # the copy's three tunes too
    for name, vec in got.items():          # the model's own vectors, not the library's copy made unit
        assert any(np.array_equal(vec.reshape(-1), w) for w in written.values()), name
    # the same shard folder for whole files: a folder of its own, nothing of the first imported or cleared
    whole = clamp_process(["embed", scores, "--engine", "ray", "--shards", shards, "--whole-file"], two_caches("w"), tmp_path)
    assert whole.returncode == 0, whole.stderr
    folders = sorted(p for p in shards.iterdir() if p.is_dir())
    assert len(folders) == 2 and len(list(folder.glob("part-*.parquet"))) == first_shards
    for f in folders:
        preps = {p for s in f.glob("part-*.parquet") for p in pq.read_table(s, columns=["prep"]).column("prep").to_pylist()}
        assert len(preps) == 1


def test_cluster_and_shard_folder_problems_are_one_line(env, tmp_path):
    from typer.testing import CliRunner

    from clamp_cli.cli.main import app

    scores = corpus(tmp_path / "scores")
    (tmp_path / "a-file").write_text("")
    e = {"CLAMP_CACHE_DIR": str(tmp_path / "c")}
    cases = [(["--address", "127.0.0.1:9"], {}, 1, "cannot reach the cluster at 127.0.0.1:9"),
             ([], {"RAY_ADDRESS": "127.0.0.1:9"}, 1, "cannot reach the cluster at 127.0.0.1:9"),
             (["--address", "nowhere"], {}, 2, "--address nowhere"),
             ([], {"RAY_ADDRESS": "nowhere"}, 2, "$RAY_ADDRESS nowhere"),
             (["--shards", str(tmp_path / "a-file" / "sub")], {}, 2, "cannot keep shards there")]
    for args, more, code, words in cases:
        result = CliRunner().invoke(app, ["embed", str(scores), "--engine", "ray", *args], env={**e, **more})
        assert result.exit_code == code and words in result.output, (args, result.output)
        assert "Traceback" not in result.output


def test_a_model_that_fails_on_the_workers_is_exit_3_in_few_lines(env, tmp_path):
    """The driver reads only the model's description (its weights load where they are used):
    weights that cannot be read stop the job with the model's exit code and one error line."""
    bad = tmp_path / "bad-model"
    shutil.copytree(env["CLAMP_MODEL"], bad)
    weights = bad / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    scores = corpus(tmp_path / "scores")
    (scores / "broken.mxl").unlink()
    e = dict(env, CLAMP_CACHE_DIR=str(tmp_path / "c"), CLAMP_MODEL=str(bad))
    e.pop("RAY_ADDRESS", None)
    run = clamp_process(["embed", scores, "--engine", "ray"], e, tmp_path)
    assert run.returncode == 3, run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) <= 4 and "could not load the model" in lines[-1] and "Traceback" not in run.stderr, run.stderr
