"""Recordings: decoding, the authors' resampling, MERT features, and audio through every command.

A tiny random MERT is built here in MERT's own layout (a config.json in its model type, with
the extras CLaMP 3 leaves off, and a pytorch_model.bin), and loaded through the same path a
download takes.
"""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import soundfile

from clamp_cli.errors import InputError
from clamp_cli.formats.audio import decode, resample, sinc_kernel

from .test_cli import error_lines, fresh_cache, run

RATE = 44_100


@pytest.fixture(scope="module")
def tiny_mert(tmp_path_factory):
    import torch
    from transformers import HubertConfig, HubertModel

    root = tmp_path_factory.mktemp("mert")
    cfg = HubertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                       conv_dim=(32,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
    torch.manual_seed(0)
    model = HubertModel(cfg)
    torch.save(model.state_dict(), root / "pytorch_model.bin")
    config = cfg.to_dict()
    config.update(model_type="mert_model", architectures=["MERTModel"], feature_extractor_cqt=False,
                  deepnorm=False, attention_relax=-1.0)
    (root / "config.json").write_text(json.dumps(config))
    return root


def _tone(seconds: float, rate: int = RATE, freq: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    x = 0.4 * np.sin(2 * np.pi * freq * t * (1 + t / max(seconds, 1)))   # a gentle sweep
    return np.stack([x, 0.5 * x][:channels], axis=1).astype(np.float32)


def test_resampling_is_the_windowed_sinc_formula_evaluated_directly():
    """Independent check: y[j] = sum_i x[i] h(i/orig - j/new), h a Hann-windowed sinc (6 zeros, roll-off .99)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=441).astype(np.float32)
    y = resample(x, 441, 240)
    cutoff = 240 * 0.99
    out = []
    for j in range(math.ceil(240 * len(x) / 441)):
        t = (np.arange(len(x)) / 441 - j / 240) * cutoff
        t = np.clip(t, -6, 6)
        h = np.where(t == 0, 1.0, np.sin(np.pi * t) / np.where(t == 0, 1, np.pi * t)) * np.cos(t * np.pi / 12) ** 2
        out.append(float((x * h).sum() * cutoff / 441))
    assert len(y) == len(out) and np.abs(y - np.array(out)).max() < 1e-5
    kernel, width = sinc_kernel(44_100, 24_000)
    assert kernel.shape == (80, 1, 2 * width + 147) and kernel.dtype == np.float32


def test_decoding_formats_depths_and_channels():
    for subtype, fmt in (("PCM_16", "WAV"), ("PCM_24", "FLAC"), ("FLOAT", "WAV"), ("VORBIS", "OGG"),
                         ("MPEG_LAYER_III", "MP3")):
        buf = io.BytesIO()
        soundfile.write(buf, _tone(1.5, channels=2), RATE, subtype=subtype, format=fmt)
        mono, rate = decode(buf.getvalue())
        assert rate == RATE and mono.ndim == 1 and abs(len(mono) - 1.5 * RATE) < 2000, (fmt, len(mono))
    pcm = (np.arange(-4, 4, dtype=np.int16) * 4096)
    buf = io.BytesIO()
    soundfile.write(buf, pcm, 8000, subtype="PCM_16", format="WAV")
    assert np.array_equal(decode(buf.getvalue())[0], pcm.astype(np.float32) / 32768)     # int16 / 32768
    for data, why in ((b"", "empty"), (b"this is text, not a wave", "not a readable audio file")):
        with pytest.raises(InputError, match=why):
            decode(data)


def test_mert_features_batched_equal_one_window_at_a_time(tiny_mert):
    from clamp_cli.models.mert import MertExtractor

    x = resample(_tone(11.2)[:, 0], RATE)
    batched = MertExtractor(tiny_mert, batch_windows=4).features(x)
    single = MertExtractor(tiny_mert, batch_windows=1).features(x)
    assert batched.shape == (1, 3, 64) and np.abs(batched - single).max() < 1e-5     # 5 s + 5 s + 1.2 s
    assert MertExtractor(tiny_mert).features(x[: 10 * 24_000 + 23_999]).shape == (1, 2, 64)   # < 1 s dropped
    with pytest.raises(InputError, match="shorter than 1 s"):
        MertExtractor(tiny_mert).features(x[:12_000])


def test_recordings_through_embed_search_and_convert(env, tmp_path, tiny_mert):
    env = dict(fresh_cache(env, tmp_path), CLAMP_MERT=str(tiny_mert))
    rec = tmp_path / "rec"
    rec.mkdir()
    soundfile.write(rec / "tone.wav", _tone(6.0, channels=2), RATE, subtype="PCM_16")
    soundfile.write(rec / "high.flac", _tone(3.0, 48_000, 880.0), 48_000, subtype="PCM_24")
    soundfile.write(rec / "low.ogg", _tone(2.0, 22_050, 220.0), 22_050, subtype="VORBIS")
    soundfile.write(rec / "quiet.wav", np.zeros((RATE * 2, 1), np.float32), RATE)          # silence
    soundfile.write(rec / "short.wav", _tone(0.5), RATE)
    (rec / "text.wav").write_text("not audio at all")
    (rec / "empty.mp3").write_bytes(b"")
    good = soundfile.SoundFile(rec / "tone.wav")
    good.close()
    (rec / "cut.mp3").write_bytes(_mp3_bytes()[:300])
    header = io.BytesIO()
    soundfile.write(header, _tone(1.0), RATE, subtype="PCM_16", format="WAV")
    huge = bytearray(header.getvalue())
    huge[40:44] = (10 * 2**30).to_bytes(4, "little")[:4] if 10 * 2**30 < 2**32 else (2**32 - 2).to_bytes(4, "little")
    huge[4:8] = (2**32 - 2).to_bytes(4, "little")
    (rec / "claims10gb.wav").write_bytes(bytes(huge))   # a header promising ~4 GB: the 1 s it holds is read
    ogg = io.BytesIO()
    soundfile.write(ogg, _tone(3.0), RATE, format="OGG", subtype="VORBIS")
    broken = bytearray(ogg.getvalue())
    broken[len(broken) // 2: len(broken) // 2 + 64] = bytes(64)
    (rec / "brokenpage.ogg").write_bytes(bytes(broken))  # decoding stops at the broken page: 0.2 s, too short
    proc = run(["embed", rec, "--jsonl"], env, check=1)
    assert sorted(json.loads(x)["path"].rsplit("/", 1)[1] for x in proc.stdout.splitlines()) == [
        "claims10gb.wav", "high.flac", "low.ogg", "quiet.wav", "tone.wav"]
    errors = error_lines(proc.stderr)
    for name in ("short.wav", "text.wav", "empty.mp3", "cut.mp3", "brokenpage.ogg"):
        assert sum(f"/{name}: " in line for line in errors) == 1, (name, errors)
    assert "shorter than 1 s" in proc.stderr and len(errors) == 5
    again = run(["embed", rec, "--jsonl"], env, check=1)
    assert {json.loads(x)["status"] for x in again.stdout.splitlines()} == {"cached"}
    # text -> audio search, and a recording's MERT features as the authors' .npy give the same vector
    ranked = run(["search", "-t", "a high tone", rec, "-f"], env, check=1).stdout.split()
    assert len(ranked) == 5
    run(["convert", rec / "tone.wav", "--to", "mert", "-o", tmp_path / "tone.npy"], env, check=0)
    feats = np.load(tmp_path / "tone.npy")
    assert feats.shape == (1, 2, 64) and feats.dtype == np.float32
    by_wav = json.loads(run(["embed", rec / "tone.wav", "-O", tmp_path / "v1", "--json"], env, check=0).stdout)
    run(["embed", tmp_path / "tone.npy", "-O", tmp_path / "v2"], env, check=0)
    assert by_wav[0]["status"] == "cached"
    a, b = np.load(tmp_path / "v1" / "tone.npy")[0], np.load(tmp_path / "v2" / "tone.npy")[0]
    assert float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) > 0.9999
    # without MERT: one line naming it and how to get it, exit 3
    e = dict(env, CLAMP_CACHE_DIR=str(tmp_path / "c2"), HF_HOME=str(tmp_path / "hf"))
    e.pop("CLAMP_MERT")
    proc = run(["embed", rec / "tone.wav"], e, check=3)
    assert error_lines(proc.stderr) == [proc.stderr.strip().splitlines()[-1]] and "MERT" in proc.stderr


def _mp3_bytes() -> bytes:
    buf = io.BytesIO()
    soundfile.write(buf, _tone(2.0), RATE, format="MP3")
    return buf.getvalue()
