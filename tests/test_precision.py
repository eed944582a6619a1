"""`--precision int8`: the music encoder quantised, its vectors close to fp32's and cached apart."""

from __future__ import annotations

import json

import numpy as np

TUNE = "X:1\nT:Reel\nM:4/4\nL:1/8\nK:G\nGABc dedB|dedB dedB|c2ec B2dB|c2A2 A2BA|\n"


def clamp(args, cache):
    from typer.testing import CliRunner

    from clamp_cli.cli.main import app

    result = CliRunner().invoke(app, [str(a) for a in args], env={"CLAMP_CACHE_DIR": str(cache), "NO_COLOR": "1"},
                                catch_exceptions=False)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_int8_quantises_the_music_transformer_only():
    import torch

    from clamp_cli.models import load_model

    fp32 = load_model("clamp-mini", device="cpu")
    int8 = load_model("clamp-mini", device="cpu", precision="int8")
    assert int8.model_id == fp32.model_id + "+int8"
    quantised = [n for n, m in int8.model.named_modules() if "quantized" in type(m).__module__]
    assert quantised and all(".encoder.layer." in n and not n.endswith("attention.output.dense") for n in quantised)
    for kept in ("symbolic_model.patch_embedding", "symbolic_proj", "text_proj.net.0",
                 "symbolic_model.base.encoder.layer.0.attention.output.dense"):
        assert isinstance(int8.model.get_submodule(kept), torch.nn.Linear) and \
            "quantized" not in type(int8.model.get_submodule(kept)).__module__
    a, b = fp32.embed_scores([TUNE]), int8.embed_scores([TUNE])
    assert float((a @ b.T)[0, 0] / np.linalg.norm(a) / np.linalg.norm(b)) > 0.99
    assert not np.array_equal(a, b)
    assert np.allclose(fp32.embed_text(["a reel"]), int8.embed_text(["a reel"]))       # the text side stays fp32


def test_precision_option_keeps_its_vectors_apart_and_refuses_what_cannot_run(tmp_path):
    (tmp_path / "reel.abc").write_text(TUNE)
    cache = tmp_path / "cache"

    def embedded(*args):
        out = tmp_path / f"out{len(list(tmp_path.glob('out*')))}"
        record = json.loads(clamp(["embed", tmp_path / "reel.abc", "--json", "-O", out, *args], cache).stdout)[0]
        return record, np.load(next(out.rglob("*.npy")))[0]

    (plain, a), (quick, b), (again, c) = embedded(), embedded("--precision", "int8"), embedded()
    assert quick["model"] == plain["model"] + "+int8" and quick["status"] == "embedded"
    assert again["status"] == "cached" and np.array_equal(a, c)
    cos = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    assert 0.99 < cos < 1.0
    for args, says in [(["--precision", "fp16"], "--precision must be fp32 or int8"),
                       (["--precision", "int8", "--device", "cuda"], "--precision int8 runs on the CPU")]:
        bad = clamp(["embed", tmp_path / "reel.abc", *args], cache)
        assert bad.exit_code == 2 and says in bad.stderr and bad.stdout == ""


def test_a_library_made_in_int8_is_updated_and_searched_in_int8(tmp_path):
    (tmp_path / "tunes").mkdir()
    (tmp_path / "tunes" / "reel.abc").write_text(TUNE)
    cache = tmp_path / "cache"
    assert clamp(["library", "create", "quick", tmp_path / "tunes", "--precision", "int8", "-q"],
                 cache).exit_code == 0
    (tmp_path / "tunes" / "jig.abc").write_text(TUNE.replace("X:1", "X:2").replace("GABc", "GABd"))
    assert clamp(["library", "update", "quick", "-q"], cache).exit_code == 0
    found = [json.loads(line) for line in clamp(["search", "--text", "a reel", "-L", "quick", "--jsonl"],
                                                cache).stdout.splitlines()]
    assert len(found) == 2 and all(r["model"].endswith("+int8") for r in found)
