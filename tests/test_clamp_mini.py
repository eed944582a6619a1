"""The bundled clamp-mini: it loads offline by name, and its answers make sense on real scores.

Everything runs through the `clamp` command on scores that music21 installs, with a fresh cache.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from clamp_cli.train.prepare import abc_items, corpus_root

from .test_cli import run

CHORALES = ["bwv269.mxl", "bwv347.mxl", "bwv153.1.mxl", "bwv86.6.mxl"]


def _tunes(kind: str, n: int) -> list:
    out = []
    for path in sorted((corpus_root() / "ryansMammoth").glob("*.abc")):
        out += [it for it in abc_items(path, "ryans", None, None) if it.labels.get("tune_type") == kind]
        if len(out) >= n:
            return out[:n]
    return out


@pytest.fixture(scope="module")
def mini_env(tmp_path_factory) -> dict:
    e = dict(os.environ)
    e.pop("CLAMP_MODEL", None)
    e.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path_factory.mktemp("hf")),
             CLAMP_CACHE_DIR=str(tmp_path_factory.mktemp("cache")), NO_COLOR="1")
    return e


@pytest.fixture(scope="module")
def scores(tmp_path_factory) -> Path:
    """4 Bach chorales, 4 reels and 4 jigs (metadata lines stripped, as in training)."""
    root = tmp_path_factory.mktemp("scores")
    for name in CHORALES:
        (root / f"chorale_{name}").write_bytes((corpus_root() / "bach" / name).read_bytes())
    for kind in ("reel", "jig"):
        for n, it in enumerate(_tunes(kind, 4)):
            (root / f"{kind}_{n}.abc").write_text(it.abc, encoding="utf-8")
    return root


def test_default_model_is_the_bundled_one_offline(mini_env, scores):
    proc = run(["search", "--text", "a jig", scores / "jig_0.abc", "--json"], mini_env, check=0)
    assert "using the bundled clamp-mini" in proc.stderr and "clamp models pull clamp3-c2" in proc.stderr
    assert json.loads(proc.stdout)[0]["model"].startswith("clamp-mini-")
    listed = {m["name"]: m for m in json.loads(run(["models", "list", "--json"], mini_env, check=0).stdout)}
    assert listed["clamp-mini"]["cached"] is True


@pytest.mark.parametrize("query", ["a four-part chorale by Bach", "巴赫的四声部众赞歌"])
def test_bach_query_ranks_the_chorales_first(mini_env, scores, query):
    proc = run(["search", "--text", query, scores, "-n", "4", "-f", "-m", "clamp-mini"], mini_env, check=0)
    top = proc.stdout.split()
    assert all(Path(p).name.startswith("chorale_") for p in top), top


@pytest.mark.parametrize("query", ["an Irish reel", "一首爱尔兰里尔舞曲"])
def test_fiddle_query_ranks_the_tunes_above_the_chorales(mini_env, scores, query):
    proc = run(["search", "--text", query, scores, "-n", "12", "-f", "-m", "clamp-mini"], mini_env, check=0)
    ranked = [Path(p).name for p in proc.stdout.split()]
    assert all(name.startswith("chorale_") for name in ranked[-4:]), ranked


def test_jigs_classify_as_jigs_from_abc_and_from_midi(mini_env, scores, tmp_path):
    jigs = tmp_path / "jigs"
    jigs.mkdir()
    for n, it in enumerate(_tunes("jig", 8)):
        (jigs / f"jig_{n}.abc").write_text(it.abc, encoding="utf-8")
    midi = tmp_path / "midi"
    run(["convert", jigs, "--to", "midi", "-O", midi, "-q"], mini_env)  # music21 refuses a few repeat signs
    for inputs in (sorted(jigs.glob("*.abc")), sorted(midi.glob("*.mid"))):
        assert len(inputs) >= 5
        proc = run(["classify", *inputs, "--label", "a reel", "--label", "a jig", "--label", "a hornpipe", "--json",
                    "-m", "clamp-mini"], mini_env, check=0)
        labels = [r["label"] for r in json.loads(proc.stdout)]
        assert len(labels) == len(inputs) and labels.count("a jig") >= 0.75 * len(labels), labels
