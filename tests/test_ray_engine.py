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
    kept = sorted(shards.glob("part-*.parquet"))
    assert kept, "--shards keeps the shards"
    (shards / ".part-0123.parquet.99.tmp").write_bytes(b"PAR1 half written")
    # another machine's library, filled from the shards alone: Ray is never started (no notice)
    second = clamp_process(["embed", scores, "--engine", "ray", "--shards", shards, "--jsonl"], two_caches("c"), tmp_path)
    assert second.returncode == 0, second.stderr
    assert "ray:" not in second.stderr and not list(shards.glob(".*.tmp"))
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
