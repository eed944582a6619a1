"""One rule for every command that writes: never overwrite an input; an output that exists is
replaced only with --force (training: or continued with --resume); a refusal is one line naming
the path, exit 2, and nothing written anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from clamp_cli import __version__

from .test_cli import REPO, error_lines, fresh_cache, run

PLAIN = {"NO_COLOR": "1", "HF_HUB_OFFLINE": "1"}


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
