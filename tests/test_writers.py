"""One rule for every command that writes: never overwrite an input; an output that exists is
replaced only with --force (training: or continued with --resume); a refusal is one line naming
the path, exit 2, and nothing written anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clamp_cli import __version__

from .test_cli import ABC_A, ABC_B, REPO, error_lines, fresh_cache, run

PLAIN = {"NO_COLOR": "1", "HF_HUB_OFFLINE": "1"}
TINY_FIT = ["--arch", "tiny", "--epochs", "1", "--batch-size", "2", "-j", "1", "-q"]


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file's bytes and every folder (None) below `root`, hidden ones included."""
    return {str(p.relative_to(root)): (None if p.is_dir() else p.read_bytes()) for p in sorted(root.rglob("*"))}


def refused(args, env, path: Path, reason: str) -> None:
    """`clamp ARGS` exits 2 with exactly one stderr line, `clamp: error: PATH: REASON`, writing nothing."""
    root = path.parent
    while not root.exists():
        root = root.parent
    before = snapshot(root)
    proc = run(args, env, check=2)
    assert error_lines(proc.stderr) == [f"clamp: error: {path}: {reason}"], proc.stderr
    assert proc.stderr.strip().splitlines() == error_lines(proc.stderr) and proc.stdout == ""
    assert snapshot(root) == before


def no_leftovers(folder: Path) -> None:
    """No temporary folder of a build or a swap left behind."""
    assert [p for p in folder.rglob(".*") if ".clamp-tmp" in p.name or ".old" in p.name] == []


# -- clamp models random DIR ---------------------------------------------------------

def test_models_random_is_replaced_only_with_force(tmp_path):
    out = tmp_path / "tiny"
    run(["models", "random", out, "-q"], PLAIN, check=0)
    first = snapshot(out)
    refused(["models", "random", out, "--seed", "1"], PLAIN, out, "exists and is not empty; --force replaces it")
    assert snapshot(out) == first
    assert run(["models", "random", out, "--seed", "1", "--force", "-q"], PLAIN, check=0).stdout == f"{out}\n"
    assert snapshot(out).keys() == first.keys()
    assert snapshot(out)["model.safetensors"] != first["model.safetensors"]
    no_leftovers(tmp_path)
    (tmp_path / "a-file").write_text("mine")
    refused(["models", "random", tmp_path / "a-file", "--force"], PLAIN, tmp_path / "a-file",
            "exists and is a file, not a model folder")
    (tmp_path / "empty").mkdir()           # an empty folder holds nothing to replace
    run(["models", "random", tmp_path / "empty", "-q"], PLAIN, check=0)


# -- clamp probe fit -o FILE -----------------------------------------------------------

def test_probe_fit_never_replaces_a_probe_without_force_nor_an_input_at_all(env, tmp_path):
    from .test_eval import _labelled_folder

    root = _labelled_folder(tmp_path)
    probe = tmp_path / "tunes.safetensors"
    fit = ["probe", "fit", root, "-o", probe, "--val-share", "0.34", "-q"]
    run(fit, fresh_cache(env, tmp_path), check=0)
    first = probe.read_bytes()
    # refused before the model is opened: not even a cache is made
    other_cache = {**env, "CLAMP_CACHE_DIR": str(tmp_path / "cache2")}
    refused(fit + ["--seed", "1"], other_cache, probe, "exists; --force replaces it")
    assert probe.read_bytes() == first and not (tmp_path / "cache2").exists()
    assert json.loads(run(fit + ["--seed", "1", "--force"], fresh_cache(env, tmp_path), check=0).stdout)["probe"] == \
        str(probe)
    assert probe.read_bytes() != first
    no_leftovers(tmp_path)
    # an input is never the output, --force or not: a piece, or the labels table
    piece = root / "jig" / "jig_0.abc"
    refused(["probe", "fit", root, "-o", piece, "--force"], other_cache, piece,
            "is an input; clamp never overwrites its inputs")
    table = tmp_path / "labels.csv"
    table.write_text("id,label\n" + "".join(f"{k}/{k}_{n},{k}\n" for k in ("jig", "march") for n in range(3)))
    refused(["probe", "fit", root, "--labels-from", table, "-o", table, "--force"], other_cache, table,
            "is an input; clamp never overwrites its inputs")
    refused(["probe", "fit", root, "-o", tmp_path / "no" / "p.safetensors"], other_cache, tmp_path / "no" / "p.safetensors",
            "its folder does not exist")


# -- clamp train fit / mini --------------------------------------------------------

def _training_set(folder: Path) -> Path:
    """Six tunes, two held out: enough for one step of the tiny architecture."""
    folder.mkdir()
    tunes = [ABC_A, ABC_B, ABC_A.replace("GABc", "BcdB"), ABC_B.replace("dfa", "fed"), ABC_A.replace("c2e2", "c2B2"),
             ABC_B.replace("gbg", "gag")]
    lines = []
    for n, tune in enumerate(tunes):
        (folder / f"{n}.abc").write_text(tune)
        kind = "march" if n % 2 == 0 else "jig"
        lines.append(json.dumps({"music": f"{n}.abc", "texts": [f"a {kind}", f"tune {n}"], "piece": str(n),
                                 "split": "heldout" if n >= 4 else "train", "labels": {"tune_type": kind}}))
    (folder / "data.jsonl").write_text("\n".join(lines) + "\n")
    return folder / "data.jsonl"


def _history(model: Path) -> list[dict]:
    return json.loads((model / "clamp.json").read_text())["training"]["history"]


def test_train_fit_refuses_a_trained_model_unless_force_or_resume(tmp_path):
    data = _training_set(tmp_path / "data")
    out = tmp_path / "model"
    run(["train", "fit", data, "-o", out, *TINY_FIT], PLAIN, check=0)
    first = snapshot(tmp_path)
    refused(["train", "fit", data, "-o", out, *TINY_FIT], PLAIN, out,
            "a trained model exists here (1 of 1 epochs); --force replaces it, --resume continues its training")
    assert snapshot(tmp_path) == first
    # --resume keeps working: it continues after the last finished epoch
    run(["train", "fit", data, "-o", out, *TINY_FIT, "--epochs", "2", "--resume"], PLAIN, check=0)
    assert [h["epoch"] for h in _history(out)] == [1, 2]
    proc = run(["train", "fit", data, "-o", out, *TINY_FIT, "--resume", "--force"], PLAIN, check=2)
    assert error_lines(proc.stderr) == ["clamp: error: give --force (train again from scratch) or --resume "
                                        "(continue the training), not both"]
    # --force trains again from scratch, over the earlier model
    run(["train", "fit", data, "-o", out, *TINY_FIT, "--seed", "1", "--force"], PLAIN, check=0)
    config = json.loads((out / "clamp.json").read_text())
    assert [h["epoch"] for h in _history(out)] == [1] and config["training"]["seed"] == 1
    no_leftovers(tmp_path)


def test_train_fit_never_writes_over_its_data_or_a_folder_that_is_not_a_model(tmp_path):
    data = _training_set(tmp_path / "data")
    refused(["train", "fit", data, "-o", data.parent, *TINY_FIT, "--force"], PLAIN, data.parent,
            f"holds an input ({data}); clamp never overwrites its inputs")
    refused(["train", "fit", data, "-o", data, *TINY_FIT, "--force"], PLAIN, data,
            "is an input; clamp never overwrites its inputs")
    # a folder elsewhere holding one of the records' scores
    music = tmp_path / "music"
    music.mkdir()
    (music / "x.abc").write_text(ABC_A)
    moved = tmp_path / "moved.jsonl"
    moved.write_text(json.dumps({"music": str(music / "x.abc"), "texts": ["a march"]}) + "\n")
    refused(["train", "fit", moved, "-o", music, *TINY_FIT], PLAIN, music,
            f"holds an input ({music / 'x.abc'}); clamp never overwrites its inputs")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("not a model")
    refused(["train", "fit", data, "-o", mine, *TINY_FIT], PLAIN, mine,
            "exists and is not empty (and holds no clamp model); --force replaces it")
    refused(["train", "fit", data, "-o", mine / "notes.txt", *TINY_FIT, "--force"], PLAIN, mine / "notes.txt",
            "exists and is a file, not a model folder")


@pytest.fixture()
def small_mini(monkeypatch):
    """`clamp train mini` as it is, on 3 pieces of the corpus and for one epoch."""
    import clamp_cli.cli.train as train_cli
    import clamp_cli.train.prepare as prepare_module

    real = prepare_module.prepare
    monkeypatch.setattr(prepare_module, "prepare", lambda out, **kw: real(out, **{**kw, "limit": 3}))
    monkeypatch.setattr(train_cli, "MINI_EPOCHS", 1)


def test_train_mini_refuses_an_earlier_run_unless_force_or_resume(tmp_path, small_mini):
    work = tmp_path / "work"
    run(["train", "mini", work, "-j", "1", "-q"], PLAIN, check=0)
    first = snapshot(work)
    refused(["train", "mini", work, "-j", "1"], PLAIN, work / "clamp-mini",
            "a trained model exists here (1 of 1 epochs); --force replaces it, --resume continues its training")
    assert run(["train", "mini", work, "-j", "1", "-q", "--resume"], PLAIN, check=0).stdout == f"{work / 'clamp-mini'}\n"
    assert snapshot(work) == first       # every epoch done: nothing to continue
    run(["train", "mini", work, "-j", "1", "-q", "--force", "--seed", "1"], PLAIN, check=0)
    assert json.loads((work / "clamp-mini" / "clamp.json").read_text())["training"]["seed"] == 1
    assert snapshot(work)["data/data.jsonl"] != first["data/data.jsonl"]       # seed 1 samples other pieces
    no_leftovers(tmp_path)
    # data of an earlier run, no model: named as well (--resume would train on it)
    data_only = tmp_path / "data-only"
    (data_only / "data").mkdir(parents=True)
    (data_only / "data" / "data.jsonl").write_text("{}\n")
    refused(["train", "mini", data_only], PLAIN, data_only / "data" / "data.jsonl",
            "exists; --force replaces it, --resume continues with it")


# -- clamp train prepare DIR / export DATA OUT ------------------------------------------

def test_train_prepare_replaces_its_data_only_with_force(tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    (out / "README.txt").write_text("my notes")           # not prepare's: never touched
    run(["train", "prepare", out, "--limit", "3", "-j", "1", "-q"], PLAIN, check=0)
    first = snapshot(out)
    beside = ", ".join(f"{n}/" for n in ("abc", "scores", "midi") if (out / n).exists())
    refused(["train", "prepare", out, "--limit", "2", "-j", "1"], PLAIN, out / "data.jsonl",
            f"exists, with {beside} beside it; --force replaces it")
    assert snapshot(out) == first
    assert run(["train", "prepare", out, "--limit", "2", "-j", "1", "-q", "--force"], PLAIN,
               check=0).stdout == f"{out / 'data.jsonl'}\n"
    records = [json.loads(line) for line in (out / "data.jsonl").read_text().splitlines()]
    assert len({r["piece"] for r in records}) == 2       # a tune may have a MIDI rendering too
    # replaced whole: the files of the earlier data are gone, only those data.jsonl names remain
    written = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} - {"data.jsonl", "README.txt"}
    assert written == {r["music"] for r in records}
    assert (out / "README.txt").read_text() == "my notes"
    no_leftovers(tmp_path)


def test_train_export_replaces_an_earlier_export_only_with_force(tmp_path):
    data = _training_set(tmp_path / "data")
    out = tmp_path / "heldout"
    run(["train", "export", data, out, "-q"], PLAIN, check=0)
    first = snapshot(out)
    assert sorted(p.name for p in (out / "scores").iterdir()) == ["4.abc", "5.abc"]
    refused(["train", "export", data, out, "--split", "train"], PLAIN, out / "scores",
            "exists, with text/, labels/ beside it; --force replaces it")
    assert snapshot(out) == first
    run(["train", "export", data, out, "--split", "train", "--force", "-q"], PLAIN, check=0)
    # the train split only: no held-out score of the earlier export is left among them
    assert sorted(p.name for p in (out / "scores").iterdir()) == ["0.abc", "1.abc", "2.abc", "3.abc"]
    assert sorted(p.name for p in (out / "text").iterdir()) == ["0.txt", "1.txt", "2.txt", "3.txt"]
    no_leftovers(tmp_path)
    # into the data's own folder: its scores/ would hold the inputs
    (data.parent / "scores").mkdir()
    (data.parent / "0.abc").rename(data.parent / "scores" / "0.abc")
    data.write_text(data.read_text().replace('"0.abc"', '"scores/0.abc"'))
    refused(["train", "export", data, data.parent, "--split", "train", "--force"], PLAIN, data.parent / "scores",
            f"holds an input ({data.parent / 'scores' / '0.abc'}); clamp never overwrites its inputs")


# -- python -m clamp_cli ------------------------------------------------------------

def test_python_dash_m_runs_the_cli(tmp_path):
    env = {**os.environ, **PLAIN, "PYTHONPATH": str(REPO)}

    def clamp(*args):
        return subprocess.run([sys.executable, "-m", "clamp_cli", *map(str, args)], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)

    proc = clamp("--version")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"clamp {__version__}\n", "")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "keep.txt").write_text("mine")
    proc = clamp("models", "random", tmp_path / "m")        # refused before torch is imported
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == f"clamp: error: {tmp_path / 'm'}: exists and is not empty; --force replaces it\n"
    assert [p.name for p in (tmp_path / "m").iterdir()] == ["keep.txt"]


# -- clamp embed -O DIR --------------------------------------------------------------

def test_embed_out_replaces_existing_features_only_with_force(env, tmp_path):
    scores = tmp_path / "scores"
    scores.mkdir()
    (scores / "a.abc").write_text(ABC_A)
    (scores / "b.abc").write_text(ABC_B)
    e = fresh_cache(env, tmp_path)
    out = tmp_path / "features"
    run(["embed", scores, "-O", out, "-q"], e, check=0)
    (out / "a.npy").write_bytes(b"kept")                  # what a second run must not touch
    refused(["embed", scores, "-O", out, "-q"], e, out / "a.npy", "exists (and 1 more); --force replaces it")
    run(["embed", scores, "-O", out, "-q", "--force"], e, check=0)
    assert (out / "a.npy").read_bytes()[:6] == b"\x93NUMPY"
