"""Recordings: decoding, the authors' resampling, MERT features, and audio through every command.

A tiny random MERT is built here in MERT's own layout (a config.json in its model type, with
the extras CLaMP 3 leaves off, and a pytorch_model.bin), and loaded through the same path a
download takes.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile

from clamp_cli.errors import InputError
from clamp_cli.formats.audio import decode, resample, sinc_kernel

from .test_cli import error_lines, fresh_cache, run

RATE = 44_100
MINI_ID = json.loads((Path(__file__).parents[1] / "clamp_cli/models/bundled/clamp-mini/clamp.json").read_text())["model_id"]


@pytest.fixture(scope="module")
def tiny_mert(tmp_path_factory):
    import torch
    from transformers import HubertConfig, HubertModel

    from .reference_impl import save_mert

    cfg = HubertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                       conv_dim=(32,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
    torch.manual_seed(0)
    return save_mert(tmp_path_factory.mktemp("mert"), HubertModel(cfg), cfg)


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
    buf = io.BytesIO()
    soundfile.write(buf, _tone(1.5, 48_000), 48_000, format="OGG", subtype="OPUS")
    mono, rate = decode(buf.getvalue())
    assert rate == 48_000 and len(mono) == 72_000
    mono, rate = decode(_m4a_bytes(_tone(2.0, channels=2)))        # AAC in MP4: libsndfile cannot, PyAV does
    assert rate == RATE and abs(len(mono) - 2 * RATE) < 3000 and 0.2 < np.abs(mono).max() < 0.5
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
    soundfile.write(rec / "long8bit.wav", _tone(180.0, 22_050, 330.0), 22_050, subtype="PCM_U8")    # 3 min
    soundfile.write(rec / "clipped.wav", np.clip(3 * _tone(2.0, channels=2), -1, 1), RATE, subtype="PCM_24")
    soundfile.write(rec / "hot.wav", 1.6 * _tone(2.0), RATE, subtype="FLOAT")   # float samples beyond +-1 kept
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
    rf64 = io.BytesIO()
    soundfile.write(rf64, _tone(1.0), RATE, subtype="PCM_16", format="RF64")    # 64-bit sizes: a real 10 GB claim
    rf64 = bytearray(rf64.getvalue())
    at = rf64.find(b"ds64") + 8                          # riff size, data size, sample count
    rf64[at:at + 24] = struct.pack("<QQQ", 10 * 2**30 + 36, 10 * 2**30, 5 * 2**30)
    (rec / "rf64claims10gb.wav").write_bytes(bytes(rf64))
    ogg = io.BytesIO()
    soundfile.write(ogg, _tone(3.0), RATE, format="OGG", subtype="VORBIS")
    broken = bytearray(ogg.getvalue())
    broken[len(broken) // 2: len(broken) // 2 + 64] = bytes(64)
    (rec / "brokenpage.ogg").write_bytes(bytes(broken))  # decoding stops at the broken page: 0.2 s, too short
    proc = run(["embed", rec, "--jsonl"], env, check=1)
    assert sorted(json.loads(x)["path"].rsplit("/", 1)[1] for x in proc.stdout.splitlines()) == [
        "claims10gb.wav", "clipped.wav", "high.flac", "hot.wav", "long8bit.wav", "low.ogg", "quiet.wav",
        "rf64claims10gb.wav", "tone.wav"]
    errors = error_lines(proc.stderr)
    for name in ("short.wav", "text.wav", "empty.mp3", "cut.mp3", "brokenpage.ogg"):
        assert sum(f"/{name}: " in line for line in errors) == 1, (name, errors)
    assert "shorter than 1 s" in proc.stderr and len(errors) == 5
    again = run(["embed", rec, "--jsonl"], env, check=1)
    assert {json.loads(x)["status"] for x in again.stdout.splitlines()} == {"cached"}
    # text -> audio search, and a recording's MERT features as the authors' .npy give the same vector
    ranked = run(["search", "-t", "a high tone", rec, "-f"], env, check=1).stdout.split()
    assert len(ranked) == 9
    run(["convert", rec / "tone.wav", "--to", "mert", "-o", tmp_path / "tone.npy"], env, check=0)
    feats = np.load(tmp_path / "tone.npy")
    assert feats.shape == (1, 2, 64) and feats.dtype == np.float32
    run(["convert", rec / "long8bit.wav", "--to", "mert", "-o", tmp_path / "long.npy"], env, check=0)
    assert np.load(tmp_path / "long.npy").shape == (1, 36, 64)                    # 180 s: 36 windows of 5 s
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


def test_cross_modal_search_in_every_direction(env, tmp_path, tiny_mert):
    """text, score, MIDI, recording as queries; scores, recordings, texts as keys; one kind of key
    ranked unless --keys-kind says otherwise."""
    env = dict(fresh_cache(env, tmp_path), CLAMP_MERT=str(tiny_mert))
    lib = tmp_path / "lib"
    lib.mkdir()
    for name, freq in (("a.wav", 220.0), ("b.wav", 440.0), ("c.flac", 880.0)):
        soundfile.write(lib / name, _tone(2.0, freq=freq), RATE)
    (lib / "jig.abc").write_text("X:1\nL:1/8\nM:6/8\nK:D\n|:dfa afd|gfe d3:|\n")
    (lib / "reel.abc").write_text("X:1\nL:1/8\nM:4/4\nK:G\n|:GABc dedB|c2e2 d2B2:|\n")
    run(["convert", lib / "jig.abc", "--to", "midi", "-o", tmp_path / "jig.mid"], env, check=0)
    keys = tmp_path / "keys.txt"
    keys.write_text("a waltz\na reel\na lament\n")
    recordings = {"a.wav", "b.wav", "c.flac"}

    def names(args, check=0):
        proc = run(["search", *args, "-f"], env, check=check)
        return [Path(p).name for p in proc.stdout.split()], proc.stderr

    got, err = names(["-t", "a high tone", lib])                 # text -> scores by default, with a note
    assert set(got) == {"jig.abc", "reel.abc"} and "recordings" in err
    assert set(names(["-t", "a high tone", lib, "--keys-kind", "recordings"])[0]) == recordings   # text -> audio
    assert set(names(["--music", lib / "jig.abc", lib, "--keys-kind", "recordings"])[0]) == recordings
    assert set(names(["--music", tmp_path / "jig.mid", lib, "--keys-kind", "recordings"])[0]) == recordings
    assert set(names(["--music", lib / "a.wav", lib])[0]) == {"jig.abc", "reel.abc"}           # audio -> score
    assert set(names(["--music", lib / "a.wav", lib, "--keys-kind", "recordings"])[0]) == {"b.wav", "c.flac"}
    texts = json.loads(run(["search", "--music", lib / "a.wav", "--keys-text", keys, "--json"], env,
                           check=0).stdout)                                                   # audio -> text
    assert sorted(h["text"] for h in texts) == ["a lament", "a reel", "a waltz"]
    assert set(names(["-t", "x", lib, "--keys-kind", "all"])[0]) == recordings | {"jig.abc", "reel.abc"}


def test_recordings_without_an_audio_model_say_what_to_fetch(env, tmp_path, monkeypatch):
    """Nothing downloaded: recordings alone are one line naming clamp3-saas and MERT (exit 3); beside
    scores, the scores go through clamp-mini and each recording is one line (exit 1); an offline
    `models pull clamp3-saas` names both."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    e = fresh_cache(env, tmp_path)
    e.pop("CLAMP_MODEL")
    e.pop("CLAMP_MERT", None)
    soundfile.write(tmp_path / "a.wav", _tone(1.5), RATE)
    (tmp_path / "t.abc").write_text("X:1\nL:1/8\nM:6/8\nK:D\n|:dfa afd|gfe d3:|\n")
    alone = run(["embed", tmp_path / "a.wav"], e, check=3)
    assert error_lines(alone.stderr) == [alone.stderr.strip()]
    assert "neither clamp3-saas nor MERT" in alone.stderr and "clamp models pull clamp3-saas" in alone.stderr
    mixed = run(["embed", tmp_path / "a.wav", tmp_path / "t.abc", "--jsonl"], e, check=1)
    assert [json.loads(x)["path"] for x in mixed.stdout.splitlines()] == [str(tmp_path / "t.abc")]
    assert [line.split(": ")[2] for line in error_lines(mixed.stderr)] == [str(tmp_path / "a.wav")]
    assert "no audio encoder" in mixed.stderr
    keys = tmp_path / "keys.txt"
    keys.write_text("a waltz\na reel\n")
    query = run(["search", "--music", tmp_path / "a.wav", "--keys-text", keys], e, check=3)   # an audio query
    assert error_lines(query.stderr) == [query.stderr.strip()] and "neither clamp3-saas nor MERT" in query.stderr
    np.save(tmp_path / "f.npy", np.zeros((1, 3, 768), np.float32))                         # MERT features
    feats = run(["embed", tmp_path / "f.npy"], e, check=3)
    assert "clamp3-saas is not downloaded" in feats.stderr and "MERT" not in feats.stderr
    pull = run(["models", "pull", "clamp3-saas"], e, check=3)
    assert error_lines(pull.stderr) == [pull.stderr.strip()] and "MERT (m-a-p/MERT-v1-95M)" in pull.stderr


def _m4a_bytes(stereo: np.ndarray) -> bytes:
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=RATE)
        stream.layout = "stereo"
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(stereo.T), format="fltp", layout="stereo")
        frame.sample_rate = RATE
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return buf.getvalue()


def _mp3_bytes() -> bytes:
    buf = io.BytesIO()
    soundfile.write(buf, _tone(2.0), RATE, format="MP3")
    return buf.getvalue()


def _hub_file(hub: Path, repo: str, filename: str, source: Path) -> None:
    """One file in a Hugging Face cache, in its documented layout (refs/main -> snapshots/REV/FILE)."""
    base = hub / f"models--{repo.replace('/', '--')}"
    (base / "refs").mkdir(parents=True, exist_ok=True)
    (base / "refs" / "main").write_text("0" * 40)
    (base / "snapshots" / ("0" * 40)).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, base / "snapshots" / ("0" * 40) / filename)


def test_recordings_default_to_clamp3_saas_and_mert_from_the_hub_cache(env, tmp_path, assets, tiny_mert,
                                                                      monkeypatch):
    """With clamp3-saas and MERT in the Hugging Face cache (as `clamp models pull clamp3-saas` leaves
    them) and no --model, every command given recordings uses clamp3-saas; scores alone keep the
    default of scores (here the bundled clamp-mini, clamp3-c2 not being cached)."""
    import huggingface_hub.constants

    from clamp_cli.models.mert import MERT_FILES, MERT_REPO
    from clamp_cli.models.pretrained import registry

    hub = tmp_path / "hub"
    saas = registry()["clamp3-saas"]
    monkeypatch.setitem(registry(), "clamp3-saas", dataclasses.replace(saas, dim=64))   # the tiny model's width
    _hub_file(hub, saas.hub_repo, saas.weights, assets["clamp3"])
    for name in MERT_FILES:
        _hub_file(hub, MERT_REPO, name, tiny_mert / name)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub))
    e = dict(fresh_cache(env, tmp_path), CLAMP_TEXT_BACKBONE=str(assets["xlmr"]))
    e.pop("CLAMP_MODEL")
    for side in ("Q", "R"):
        for label, freq in (("low", 220.0), ("high", 880.0)):
            (tmp_path / side / label).mkdir(parents=True)
            soundfile.write(tmp_path / side / label / "a.wav", _tone(1.5, freq=freq), RATE, subtype="PCM_16")
    (tmp_path / "keys.txt").write_text("a waltz\na lament\n")
    (tmp_path / "tunes").mkdir()
    (tmp_path / "tunes" / "t.abc").write_text("X:1\nL:1/8\nM:6/8\nK:D\n|:dfa afd|gfe d3:|\n")
    rec = tmp_path / "Q"

    saas_id = json.loads(run(["embed", rec, "-m", "clamp3-saas", "--json"], e, check=0).stdout)[0]["model"]
    assert saas_id != MINI_ID and saas_id.startswith("clamp3")
    models = {
        "embed": {r["model"] for r in json.loads(run(["embed", rec, "--json"], e, check=0).stdout)},
        "search": {r["model"] for r in json.loads(run(["search", "-t", "a low hum", rec, "--json"], e,
                                                      check=0).stdout)},
        "search --keys-text": {r["model"] for r in json.loads(run(
            ["search", "--music", rec / "low" / "a.wav", "--keys-text", tmp_path / "keys.txt", "--json"], e,
            check=0).stdout)},
        "classify": {r["model"] for r in json.loads(run(["classify", rec, "--label", "low", "--label", "high",
                                                         "--json"], e, check=0).stdout)},
        "score": {json.loads(run(["score", "-Q", rec, "-R", tmp_path / "R", "--json"], e, check=0).stdout)["model"]},
        "eval retrieval": {json.loads(run(["eval", "retrieval", "-Q", rec, "-R", tmp_path / "R", "--json"], e,
                                          check=0).stdout)["model"]},
        "eval classify": {json.loads(run(["eval", "classify", rec, "--json"], e, check=0).stdout)["model"]},
        "map": {r["model"] for r in json.loads(run(["map", rec, tmp_path / "R", "-o", tmp_path / "map.png", "--json"],
                                                   e, check=0).stdout)},
    }
    assert models == {k: {saas_id} for k in models}, models
    scores = run(["embed", tmp_path / "tunes", "--json"], e, check=0)
    assert json.loads(scores.stdout)[0]["model"] == MINI_ID
    assert "using the bundled clamp-mini" in scores.stderr


@pytest.mark.filterwarnings("ignore::DeprecationWarning")   # inside transformers' Wav2Vec2FeatureExtractor
def test_mert_features_match_the_authors_classes_and_script(env, tmp_path):
    """A random tiny MERT built in the authors' class (tests/reference_impl.py restates it), saved in
    MERT's layout, loaded by clamp strictly: the same resampled input gives the same features within
    1e-5 (measured 2.4e-7); from files (44.1 and 48 kHz, stereo, 16-bit) through the authors' steps
    (channel mean, torchaudio's resampling formula, their processor, one window at a time) vs `clamp
    convert --to mert`, within the tolerance docs/MODELS.md section 9 states (1e-5; measured 2.4e-7)."""
    import torch
    from transformers import HubertConfig, HubertModel

    from clamp_cli.models.mert import MertExtractor

    from .reference_impl import ref_mert_features, ref_music_hubert, ref_resample, save_mert

    cfg = HubertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                       conv_dim=(32,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
                       feature_extractor_cqt=False, deepnorm=False, attention_relax=-1.0)
    torch.manual_seed(7)
    ref = ref_music_hubert(cfg).eval()
    assert sorted(ref.state_dict()) == sorted(HubertModel(cfg).state_dict())      # key by key
    folder = save_mert(tmp_path / "mert", ref, cfg)
    x = resample(_tone(11.2)[:, 0], RATE)
    ours = MertExtractor(folder).features(x)
    theirs = ref_mert_features(ref, x)
    assert ours.shape == theirs.shape == (1, 3, 64) and np.abs(ours - theirs).max() < 1e-5

    e = dict(env, CLAMP_MERT=str(folder))
    for rate in (44_100, 48_000):
        stereo = _tone(6.5, rate, 330.0, channels=2)
        path = tmp_path / f"tone{rate}.wav"
        soundfile.write(path, stereo, rate, subtype="PCM_16")
        pcm, _ = soundfile.read(path, dtype="float32", always_2d=True)       # what torchaudio.load gives
        theirs = ref_mert_features(ref, ref_resample(pcm.mean(axis=1), rate, 24_000))
        run(["convert", path, "--to", "mert", "-o", tmp_path / f"{rate}.npy"], e, check=0)
        ours = np.load(tmp_path / f"{rate}.npy")
        assert ours.shape == theirs.shape == (1, 2, 64)
        assert np.abs(ours - theirs).max() < 1e-5, (rate, np.abs(ours - theirs).max())
