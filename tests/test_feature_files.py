""".npy files (issue 20, item 6): a recording's MERT features only when the shape says so; folders
of global feature vectors (`clamp embed -O`'s, the authors' layout) are items of eval, score,
probe and map, checked against the model's dimension when a model is involved.

Everything through the real CLI, on files written here, with the tiny test model (64-d vectors,
64-wide MERT frames) and, where no model is named, none at all.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from clamp_cli.formats.features import FEATURES, VECTOR, header_of, role

from .test_cli import ABC_A, error_lines, fresh_cache, run
from .test_eval import _labelled_folder, _pairs_on_disk


def _header(array: np.ndarray):
    import io

    buf = io.BytesIO()
    np.save(buf, array)
    return header_of(buf.getvalue()[:512])


@pytest.mark.parametrize(("array", "size", "expected"), [
    (np.zeros((1, 768), np.float32), 768, VECTOR),           # extract_clamp3 --get_global, clamp embed -O
    (np.zeros(768, np.float32), 768, VECTOR),
    (np.zeros((1, 3, 768), np.float32), 768, FEATURES),      # extract_mert --mean_features: (1, W, 768)
    (np.zeros((13, 3, 768), np.float32), 768, FEATURES),     # every layer
    (np.zeros((1, 1, 768), np.float32), 768, FEATURES),      # one 5 s window: 3-d, so not a vector
    (np.zeros((5, 768), np.float16), 768, FEATURES),
    (np.zeros((5, 64), np.float32), 64, FEATURES),           # a model whose audio branch reads 64
    (np.zeros((5, 64), np.float32), 768, "shape (5, 64)"),
    (np.zeros((100, 3)), 768, "shape (100, 3)"),             # a plain numpy data file
    (np.zeros((2, 3, 4, 768), np.float32), 768, "shape (2, 3, 4, 768)"),
    (np.zeros((0, 768), np.float32), 768, "an empty array (0, 768)"),
    (np.array(3.0), 768, "a single number"),
    (np.array(["a", "b"]), 768, "<U1 values, not numbers"),
    (np.zeros((1, 768), bool), 768, "bool values, not numbers"),
])
def test_a_npy_role_is_read_from_its_header_alone(array, size, expected):
    shape, dtype = _header(array)
    assert role(shape, dtype, size) == expected


def test_unreadable_headers_are_left_to_the_reader():
    assert header_of(b"not numpy") is None
    buf = __import__("io").BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert header_of(buf.getvalue()) is None         # pickled objects: never loaded; the reader says so


def test_plain_numpy_files_are_skipped_not_counted_as_recordings(env, tmp_path):
    """A folder of scores beside numpy data files: the data is skipped (one notice naming each with
    its shape), not ranked apart as "recordings", and not an error even with the bundled model."""
    d = tmp_path / "mixed"
    d.mkdir()
    (d / "a.abc").write_text(ABC_A)
    for n in range(3):
        np.save(d / f"data{n}.npy", np.zeros((100, 3)))
    np.save(d / "labels.npy", np.array(["x", "y"]))
    e = fresh_cache(env, tmp_path)
    proc = run(["search", "-t", "a jig", d, "-f"], e, check=0)
    assert proc.stdout.splitlines() == [str(d / "a.abc")]
    assert "left out" not in proc.stderr and error_lines(proc.stderr) == []
    note = [line for line in proc.stderr.splitlines() if ".npy" in line]
    assert note == [f"clamp: skipped 4 .npy file(s) that hold no MERT features ((1, W, 64) or (W, 64)) and no "
                    f"feature vector ((1, D) or (D,)): {d / 'data0.npy'} (shape (100, 3)), {d / 'data1.npy'} "
                    f"(shape (100, 3)), {d / 'data2.npy'} (shape (100, 3)), {d / 'labels.npy'} (<U1 values, not "
                    "numbers)"], proc.stderr
    embed = run(["embed", d, "--json"], e, check=0)
    assert [r["path"] for r in json.loads(embed.stdout)] == [str(d / "a.abc")]
    assert "embedded 0, cached 1, skipped 4, failed 0" in embed.stderr
    # the bundled model (no CLAMP_MODEL, nothing downloaded): still no error for them
    mini = dict(e, HF_HOME=str(tmp_path / "hf"))
    mini.pop("CLAMP_MODEL")
    proc = run(["classify", d, "-l", "jig", "-l", "reel"], mini, check=0)
    assert [r["path"] for r in json.loads(proc.stdout)] == [str(d / "a.abc")] and error_lines(proc.stderr) == []
    assert "skipped 4 .npy file(s) that hold no MERT features ((1, W, 768) or (W, 768))" in proc.stderr
    # named alone, such a file is nothing to read: one line that names it and its shape
    proc = run(["embed", d / "data0.npy"], e, check=1)
    assert error_lines(proc.stderr) == [f"clamp: error: nothing to read; skipped 1 .npy file(s) that hold no MERT "
                                        f"features ((1, W, 64) or (W, 64)) and no feature vector ((1, D) or (D,)): "
                                        f"{d / 'data0.npy'} (shape (100, 3))"]


def _vectors_of(proc) -> dict:
    return {r["id"]: (r["x"], r["y"]) for r in json.loads(proc.stdout)}


def test_embed_out_folders_feed_eval_score_probe_and_map(env, tmp_path):
    """The authors' workflow: features once (`clamp embed -O`), evaluations many times from the .npy
    folders, with the same figures as from the scores and texts themselves."""
    e = fresh_cache(env, tmp_path)
    texts, music = _pairs_on_disk(tmp_path)
    tunes = _labelled_folder(tmp_path)
    for src in (texts, music, tunes):
        run(["embed", src, "-O", tmp_path / f"{src.name}-npy", "-q"], e, check=0)
    tfeat, mfeat, tunefeat = (tmp_path / f"{src.name}-npy" for src in (texts, music, tunes))
    assert (mfeat / ".clamp-features").exists() and (mfeat / "sub" / "01.npy").is_file()

    direct = json.loads(run(["eval", "retrieval", "-Q", texts, "-R", music], e, check=0).stdout)
    from_npy = json.loads(run(["eval", "retrieval", "-Q", tfeat, "-R", mfeat], e, check=0).stdout)
    assert from_npy == direct and direct["queries"] == 4
    mixed = json.loads(run(["eval", "retrieval", "-Q", texts, "-R", mfeat], e, check=0).stdout)  # one side each
    assert mixed == direct

    direct = json.loads(run(["score", "-Q", texts, "-R", music], e, check=0).stdout)
    from_npy = json.loads(run(["score", "-Q", tfeat, "-R", mfeat], e, check=0).stdout)
    assert [p["query"] for p in from_npy["pairs"]] == [p["query"] for p in direct["pairs"]] == [
        "00", "02", "sub/01", "sub/03"]
    assert from_npy["mean"] == pytest.approx(direct["mean"], abs=1e-6)
    assert from_npy["model"] == direct["model"]                 # the model named (CLAMP_MODEL) is involved

    fit = [json.loads(run(["probe", "fit", src, "-o", tmp_path / f"{src.name}.safetensors", "--val-share", "0.34"],
                          e, check=0).stdout) for src in (tunes, tunefeat)]
    assert {k: v for k, v in fit[1].items() if k != "probe"} == {k: v for k, v in fit[0].items() if k != "probe"}
    assert fit[1]["labels"] == ["jig", "march"] and fit[1]["train"] == 4
    predicted = json.loads(run(["probe", "predict", tunefeat, "--probe", tmp_path / "tunes.safetensors"], e,
                               check=0).stdout)
    assert sorted(p["id"] for p in predicted) == sorted(f"{k}/{k}_{n}" for k in ("jig", "march") for n in range(3))

    direct = _vectors_of(run(["map", tunes, "--json"], e, check=0))
    from_npy = _vectors_of(run(["map", tunefeat, "--json"], e, check=0))
    assert from_npy.keys() == direct.keys() and len(direct) == 6
    for key, xy in direct.items():
        assert from_npy[key] == pytest.approx(xy, abs=1e-5), key


def test_vectors_alone_need_no_model_and_another_model_is_refused(env, tmp_path):
    e = fresh_cache(env, tmp_path)
    texts, music = _pairs_on_disk(tmp_path)
    for src in (texts, music):
        run(["embed", src, "-O", tmp_path / f"{src.name}-npy", "-q"], e, check=0)
    tfeat, mfeat = tmp_path / "texts-npy", tmp_path / "music-npy"
    named = json.loads(run(["score", "-Q", tfeat, "-R", mfeat], e, check=0).stdout)
    # no model named and nothing to embed: no model is involved (none loaded, no notice about one)
    bare = dict(e, HF_HOME=str(tmp_path / "hf"))
    bare.pop("CLAMP_MODEL")
    proc = run(["score", "-Q", tfeat, "-R", mfeat], bare, check=0)
    out = json.loads(proc.stdout)
    assert out["model"] is None and out["mean"] == pytest.approx(named["mean"], abs=1e-6)
    assert proc.stderr == ""
    assert json.loads(run(["eval", "retrieval", "-Q", tfeat, "-R", mfeat], bare, check=0).stdout)["model"] is None
    # the authors' (D,) layout works the same as (1, D)
    flat = tmp_path / "flat"
    for f in mfeat.rglob("*.npy"):
        (flat / f.relative_to(mfeat)).parent.mkdir(parents=True, exist_ok=True)
        np.save(flat / f.relative_to(mfeat), np.load(f)[0])
    assert json.loads(run(["score", "-Q", tfeat, "-R", flat], bare, check=0).stdout)["mean"] == pytest.approx(
        named["mean"], abs=1e-6)
    # a model of another dimension (the bundled clamp-mini gives 256-d vectors): one line, at once
    proc = run(["score", "-Q", tfeat, "-R", mfeat, "-m", "clamp-mini"], bare, check=2)
    [line] = error_lines(proc.stderr)
    assert line.startswith(f"clamp: error: {tfeat / '00.npy'}: a 64-d feature vector, but the model clamp-mini-")
    assert line.endswith("gives 256-d vectors (--model names the model that made them)")
    # without a model, one vector of another width is that file's error alone; the rest is scored
    np.save(mfeat / "sub" / "03.npy", np.zeros((1, 32), np.float32))
    proc = run(["score", "-Q", tfeat, "-R", mfeat, "--allow-unmatched"], bare, check=1)
    assert error_lines(proc.stderr) == [f"clamp: error: {mfeat / 'sub' / '03.npy'}: a 32-d feature vector; 7 of the "
                                        "8 vectors are 64-d"]
    assert json.loads(proc.stdout)["n"] == 3
