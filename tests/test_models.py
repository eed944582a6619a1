"""Model engine: loading every layout strictly, the authors' numbers, segments, batching, errors."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest
import torch

from clamp_cli.errors import CheckpointFormatError, ModelNotFoundError, ModelUnavailableError
from clamp_cli.models import load_model
from clamp_cli.models.encoder import segment_plan
from clamp_cli.models.factory import read_state_dict
from tests import reference_impl as ref

ABC = ("X:1\nT:Test\nL:1/8\nM:4/4\nK:G\n%%score { 1 | 2 }\nV:1 treble\nV:2 bass\n"
       "[V:1]|:GABc dedB|[V:2]|:G,4 D,4|\n[V:1]c2e2 d2B2:|[V:2]C4 G,4:|\n")
MTF = ("ticks_per_beat 480\ntime_signature 4 4 24 8 0\nset_tempo 500000 0\nprogram_change 0 0 0\n"
       "note_on 0 60 80 0\nnote_on 0 64 80 0\nnote_off 0 60 0 480\nnote_off 0 64 0 0\nend_of_track 0\n")


def long_abc(bars: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    body = "".join(f"[V:1]{rng.choice('ABCDEFG')}{rng.choice('abcdefg')}2|[V:2]{rng.choice('CDEFG')},4|\n"
                   for _ in range(bars))
    return "X:1\nL:1/8\nK:C\nV:1\nV:2\n" + body


# -- loading -----------------------------------------------------------------------

@pytest.mark.parametrize("name, family, dim", [("clamp1", "clamp1", 64), ("clamp2", "clamp2", 64),
                                               ("clamp3", "clamp3", 64), ("ours", "clamp3", 64)])
def test_every_layout_loads_strictly(encoders, name, family, dim):
    enc = encoders(name)
    assert enc.family == family and enc.dim == dim
    assert enc.model_id.startswith(family) and len(enc.model_id) > len(family) + 8
    state = enc.model.state_dict()
    # the published prefixes, poolers included
    prefixes = {"clamp1": ["text_enc.pooler.dense.weight", "music_enc.enc.pooler.dense.weight", "music_proj.bias"],
                "clamp2": ["text_model.pooler.dense.weight", "music_model.base.pooler.dense.weight", "music_proj.bias"],
                "clamp3": ["symbolic_model.base.pooler.dense.weight", "audio_model.pooler.dense.weight",
                           "audio_proj.weight", "symbolic_proj.weight"]}[family]
    for key in prefixes:
        assert key in state


def test_sizes_are_inferred_from_shapes(encoders):
    spec = encoders("clamp3-short").spec
    assert spec.music_length == 16 and spec.audio_length == 8
    assert spec.music["num_hidden_layers"] == 2 and spec.music["num_attention_heads"] == 1
    assert spec.text["hidden_size"] == 64 and spec.patch_size == 64
    assert encoders("clamp1").spec.music_length == 40  # CLaMP 1's config.max_length


def test_legacy_buffers_are_dropped_and_nothing_else(assets, tmp_path, encoders):
    ckpt = torch.load(assets["clamp3"], weights_only=True)
    state = dict(ckpt["model"])
    state["text_model.embeddings.position_ids"] = torch.arange(130).unsqueeze(0)
    state["text_model.embeddings.token_type_ids"] = torch.zeros(1, 130, dtype=torch.long)
    state["symbolic_model.base.embeddings.position_ids"] = torch.arange(512).unsqueeze(0)
    legacy = tmp_path / "legacy.pth"
    torch.save({"model": state, "epoch": 3, "min_eval_loss": 0.5, "optimizer": {}}, legacy)
    enc = load_model(str(legacy), text_backbone=str(assets["xlmr"]), device="cpu")
    a = enc.embed_music([ABC])
    b = encoders("clamp3").embed_music([ABC])
    np.testing.assert_allclose(a, b, atol=1e-6)
    # any other unexpected key is an error, not silently dropped
    state["text_model.extra.weight"] = torch.zeros(2)
    torch.save({"model": state, "epoch": 3, "min_eval_loss": 0.5}, legacy)
    with pytest.raises(CheckpointFormatError, match="unexpected"):
        load_model(str(legacy), text_backbone=str(assets["xlmr"]), device="cpu")


def test_safetensors_state_dict_file(assets, tmp_path, encoders):
    from safetensors.torch import save_file

    state = torch.load(assets["clamp2"], weights_only=True)["model"]
    path = tmp_path / "c2.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    enc = load_model(str(path), text_backbone=str(assets["xlmr"]), device="cpu")
    np.testing.assert_allclose(enc.embed_text(["jazz"]), encoders("clamp2").embed_text(["jazz"]), atol=1e-6)


# -- the authors' numbers --------------------------------------------------------------

@pytest.fixture(scope="module")
def references(assets):
    return {
        "clamp1": ref.load_reference(assets["clamp1"], assets["roberta"], "clamp1"),
        "clamp2": ref.load_reference(assets["clamp2"], assets["xlmr"], "clamp2"),
        "clamp3": ref.load_reference(assets["clamp3"], assets["xlmr"], "clamp3"),
        "clamp3-short": ref.load_reference(assets["clamp3-short"], assets["xlmr"], "clamp3"),
    }


@pytest.mark.parametrize("name", ["clamp2", "clamp3", "clamp3-short"])
def test_music_matches_authors_extraction(encoders, references, name):
    enc, model = encoders(name), references[name]
    texts = [ABC, MTF, long_abc(30, 1), long_abc(3, 2), "ab|\n"]
    ours = enc.embed_music(texts, batch_size=3)
    with torch.no_grad():
        for text, got in zip(texts, ours):
            patches = ref.ref_m3_patches(text, clamp3=name != "clamp2")
            want = ref.ref_extract(model, "music", patches, enc.spec.music_length)
            np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("name", ["clamp2", "clamp3"])
def test_text_matches_authors_extraction(encoders, references, name):
    enc, model = encoders(name), references[name]
    long_text = " ".join(["a happy jazz song with a walking bass and brushes on the snare"] * 30)
    queries = ["a happy jazz song", "一首欢快的中国民歌", long_text]
    ours = enc.embed_text(queries)
    files = ["line one\nline two\n\nline one\nune chanson", long_text + "\n" + long_text[:50]]
    ours_files = enc.embed_text_files(files)
    with torch.no_grad():
        for q, got in zip(queries, ours):
            want = ref.ref_extract(model, "text", enc.tokenizer(q)["input_ids"], 128, enc.tokenizer.pad_token_id)
            np.testing.assert_allclose(got, want, atol=1e-5)
        for content, got in zip(files, ours_files):
            ids = ref.ref_text_file_tokens(enc.tokenizer, content)
            want = ref.ref_extract(model, "text", ids, 128, enc.tokenizer.pad_token_id)
            np.testing.assert_allclose(got, want, atol=1e-5)
    assert len(enc.text_ids(long_text)) > 256  # really three segments


@pytest.mark.parametrize("name", ["clamp3", "clamp3-short"])
def test_audio_matches_authors_extraction(encoders, references, name):
    enc, model = encoders(name), references[name]
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=(1, 20, 64)).astype(np.float32), rng.normal(size=(5, 64)).astype(np.float32),
              rng.normal(size=(13, 64)).astype(np.float32)]
    ours = enc.embed_audio(arrays, batch_size=2)
    with torch.no_grad():
        for arr, got in zip(arrays, ours):
            want = ref.ref_extract(model, "audio", ref.ref_audio_frames(arr), enc.spec.audio_length, audio_dim=64)
            np.testing.assert_allclose(got, want, atol=1e-5)


def test_clamp1_matches_authors_tool(encoders, references):
    enc, model = encoders("clamp1"), references["clamp1"]
    raw = ("X:1\nT:Song\nC:Someone\nL:1/8\nM:3/4\nK:D\n|:d2 fe dB|A2 FA df|% bar 2\n"
           "e2 ge cA|d6:|\n" + "".join(f"a{i % 7}b|" for i in range(60)) + "\n")
    music = ref.ref_clamp1_filter(raw)
    from clamp_cli.formats.abc import clamp1_filter_abc
    ours = enc.embed_music([clamp1_filter_abc(raw), "L:1/8\nK:C\nab|"])
    with torch.no_grad():
        np.testing.assert_allclose(ours[0], model.music_vector(ref.ref_clamp1_patches(music, 40)), atol=1e-5)
        np.testing.assert_allclose(ours[1], model.music_vector(ref.ref_clamp1_patches("L:1/8\nK:C\nab|", 40)),
                                   atol=1e-5)
        long_q = "an exhilarating Irish jig " * 40
        for q, got in zip(["a happy jazz song", "Frère Jacques", long_q], enc.embed_text(["a happy jazz song", "Frère Jacques", long_q])):
            np.testing.assert_allclose(got, model.text_vector(enc.tokenizer, q), atol=1e-5)


# -- segments and batching ----------------------------------------------------------------

def test_segment_plan():
    assert segment_plan(5, 4) == [(0, 4, 4), (1, 5, 1)]
    assert segment_plan(8, 4) == [(0, 4, 4), (4, 8, 4)]
    assert segment_plan(3, 4) == [(0, 3, 3)]
    assert segment_plan(9, 4) == [(0, 4, 4), (4, 8, 4), (5, 9, 1)]


def test_long_music_equals_direct_per_segment_computation(encoders):
    """With L=16, a 70-patch piece is 5 segments; recompute them by hand with the model's own parts."""
    enc = encoders("clamp3-short")
    text = long_abc(30, 3)
    ids = enc.music_ids(text)
    n, L = len(ids), 16
    assert n > 3 * L
    with torch.no_grad():
        vecs = []
        for s, e in [(0, 16), (16, 32), (32, 48), (48, 64), (n - 16, n)][: -(-n // L)]:
            x = torch.from_numpy(ids[s:e]).unsqueeze(0)
            vecs.append(enc.model.encode_music(x, torch.ones(1, e - s, dtype=torch.long))[0])
        weights = [L] * (n // L) + ([n % L] if n % L else [])
        want = sum(w * v for w, v in zip(weights, vecs)) / sum(weights)
    np.testing.assert_allclose(enc.embed_music([text])[0], want.numpy(), atol=1e-5)


def test_batching_does_not_change_numbers(encoders):
    enc = encoders("clamp3-short")
    texts = [long_abc(k, k) for k in (1, 40, 3, 17, 8, 2, 25)] + [MTF, ABC]
    one_by_one = np.stack([enc.embed_music([t], batch_size=1)[0] for t in texts])
    for bs in (2, 5, 64):
        np.testing.assert_allclose(enc.embed_music(texts, batch_size=bs), one_by_one, atol=1e-5)
    shuffled = list(reversed(texts))
    np.testing.assert_allclose(enc.embed_music(shuffled, batch_size=3)[::-1], one_by_one, atol=1e-5)
    queries = ["a", "a happy jazz song " * 20, "folk", "一首欢快的中国民歌"]
    single = np.stack([enc.embed_text([q], batch_size=1)[0] for q in queries])
    np.testing.assert_allclose(enc.embed_text(queries, batch_size=3), single, atol=1e-5)


def test_progress_callback_counts_every_input(encoders):
    enc = encoders("clamp3-short")
    seen = []
    ids = [enc.music_ids(long_abc(k, k)) for k in (1, 30, 5)]
    enc.embed_prepared("music", ids, batch_size=2, on_progress=seen.append)
    assert sum(seen) == 3


# -- errors ---------------------------------------------------------------------------------

def test_unknown_model_name():
    with pytest.raises(ModelNotFoundError, match="unknown model 'clamp9'.*clamp3-c2"):
        load_model("clamp9", device="cpu")


def test_missing_file():
    with pytest.raises(ModelNotFoundError, match="no such checkpoint"):
        load_model("/nonexistent/weights.pth", device="cpu")


def test_unknown_layout(tmp_path, assets):
    path = tmp_path / "other.pth"
    torch.save({"model": {"encoder.weight": torch.zeros(2, 2)}, "epoch": 1}, path)
    with pytest.raises(CheckpointFormatError, match="unknown checkpoint layout"):
        load_model(str(path), text_backbone=str(assets["xlmr"]), device="cpu")
    empty_dir = tmp_path / "dir"
    empty_dir.mkdir()
    with pytest.raises(CheckpointFormatError, match="model directory needs"):
        load_model(str(empty_dir), device="cpu")
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(CheckpointFormatError, match="refused by the weights-only loader"):
        load_model(str(garbage), device="cpu")


class Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickle_refused_by_weights_only(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"model": {"x": Evil()}}, f, protocol=2)
    with pytest.raises(CheckpointFormatError, match="refused by the weights-only loader.*GLOBAL print"):
        read_state_dict(path)
    assert "must never run" not in capsys.readouterr().out


def test_registry_model_offline_and_not_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    import importlib

    import huggingface_hub.constants as hc
    importlib.reload(hc)  # constants are read at import time
    try:
        with pytest.raises(ModelUnavailableError, match="clamp3-c2.*HF_HUB_OFFLINE.*clamp models pull"):
            load_model("clamp3-c2", device="cpu")
    finally:
        monkeypatch.undo()
        importlib.reload(hc)


def test_missing_text_backbone(assets, tmp_path):
    with pytest.raises(ModelUnavailableError, match="text backbone"):
        load_model(str(assets["clamp2"]), text_backbone=str(tmp_path / "nothing-here"), device="cpu")


def test_wrong_audio_shape_is_an_input_error(encoders):
    from clamp_cli.errors import InputError

    with pytest.raises(InputError, match=r"\(\.\.\., 64\)"):
        encoders("clamp3").audio_frames(np.zeros((4, 63), dtype=np.float32))
    with pytest.raises(InputError, match="no audio encoder"):
        encoders("clamp2").audio_frames(np.zeros((4, 64), dtype=np.float32))
