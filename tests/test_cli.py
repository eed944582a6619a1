"""The `clamp` command against a real cache directory and a tiny model.

Commands run in-process through typer's CliRunner (fast: torch is imported once);
what is the process's own behaviour (signals, two processes at once, what an
interpreter imports) runs as a real subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from clamp_cli.index.melodies import MELODY_MODEL

VECTORS = f"model != '{MELODY_MODEL}'"     # the feature rows that are vectors (embedding keeps melodies too)

REPO = Path(__file__).resolve().parents[1]
ABC_A = "X:1\nT:A\nL:1/8\nM:4/4\nK:G\n|:GABc dedB|c2e2 d2B2:|\n"
ABC_B = "X:2\nT:B\nL:1/8\nM:6/8\nK:D\nA|dfa afd|gbg faf|edc d2:|\n"
MTF = "ticks_per_beat 480\nset_tempo 500000 0\nnote_on 0 0 60 80\nnote_off 480 0 60 0\n"


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def run(args, env, stdin=None, check=None):
    """`clamp ARGS` in-process; an unexpected exception fails the test (it would be a traceback)."""
    from typer.testing import CliRunner

    from clamp_cli.cli.main import app

    cwd = os.getcwd()
    if env.get("CLAMP_TEST_CWD"):
        os.chdir(env["CLAMP_TEST_CWD"])
    try:
        result = CliRunner().invoke(app, [str(a) for a in args], input=stdin, env=env, catch_exceptions=False)
    finally:
        os.chdir(cwd)
    proc = Ran(result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    if check is not None:
        assert proc.returncode == check, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def run_process(args, env, stdin=None, check=None, timeout=300):
    """`clamp ARGS` as a real process."""
    proc = subprocess.run([sys.executable, "-m", "clamp_cli.cli.main", *map(str, args)], env=env, input=stdin,
                          capture_output=True, text=True, timeout=timeout, cwd=env.get("CLAMP_TEST_CWD"))
    assert "Traceback" not in proc.stderr, proc.stderr
    if check is not None:
        assert proc.returncode == check, (proc.returncode, proc.stdout, proc.stderr)
    return proc


@pytest.fixture()
def library(tmp_path) -> Path:
    root = tmp_path / "scores"
    (root / "folk").mkdir(parents=True)
    (root / "folk" / "a.abc").write_text(ABC_A)
    (root / "b.abc").write_text(ABC_B)
    (root / "m.mtf").write_text(MTF)
    (root / "notes.txt").write_text("a lively jig\nin D major\n")
    np.save(root / "feat.npy", np.random.default_rng(0).normal(size=(3, 64)).astype(np.float32))
    (root / "cover.png").write_bytes(b"\x89PNG")
    (root / ".hidden.abc").write_text(ABC_A)
    (root / ".git").mkdir()
    (root / ".git" / "x.abc").write_text(ABC_A)
    return root


def fresh_cache(env, tmp_path):
    e = dict(env)
    e["CLAMP_CACHE_DIR"] = str(tmp_path / "cache")
    return e


def model_text(raw: str, suffix: str, style: str = "interleaved") -> str:
    """What clamp feeds the model for a file: its own conversion (tested in test_formats.py)."""
    from clamp_cli.formats.convert import music_pieces

    return music_pieces(raw.encode("utf-8"), suffix, style)[0].text


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("clamp: error:")]


# -- fast paths ----------------------------------------------------------------------

def test_help_and_version_do_not_import_torch(env):
    code = ("import sys\nfrom clamp_cli.cli.main import app\n"
            "for argv in (['--help'], ['--version'], ['search', '--help']):\n"
            "    try:\n        app(argv)\n    except SystemExit as e:\n        assert e.code in (0, None), e.code\n"
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "clamp 0.1.0" in proc.stdout and "--keys-text" in proc.stdout


# -- embed ---------------------------------------------------------------------------

def test_embed_counts_cache_hits_edits_and_renames(env, library, tmp_path):
    env = fresh_cache(env, tmp_path)
    first = run(["embed", library, "--jsonl"], env, check=0)
    records = [json.loads(line) for line in first.stdout.splitlines()]
    assert sorted(Path(r["path"]).name for r in records) == ["a.abc", "b.abc", "feat.npy", "m.mtf", "notes.txt"]
    assert {r["status"] for r in records} == {"embedded"} and {r["dim"] for r in records} == {64}
    assert len({r["hash"] for r in records}) == 5 and records[0]["model"].startswith("clamp3-")
    assert "embedded 5, cached 0, skipped 1, failed 0" in first.stderr

    again = run(["embed", library], env, check=0)
    assert "embedded 0, cached 5, skipped 1, failed 0" in again.stderr
    assert [r["status"] for r in json.loads(again.stdout)] == ["cached"] * 5      # a pipe gets JSON

    (library / "b.abc").write_text(ABC_B.replace("faf", "fef"))            # edited: re-embedded
    (library / "folk" / "a.abc").rename(library / "folk" / "renamed.abc")   # renamed: cached
    third = run(["embed", library, "--json"], env, check=0)
    status = {Path(r["path"]).name: r["status"] for r in json.loads(third.stdout)}
    assert status == {"renamed.abc": "cached", "b.abc": "embedded", "m.mtf": "cached",
                      "notes.txt": "cached", "feat.npy": "cached"}


def test_embed_out_writes_authors_npy_layout(env, library, tmp_path, assets):
    out = tmp_path / "features"
    run(["embed", library, "--out", out, "-q"], env, check=0)
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.npy"))
    assert written == ["b.npy", "feat.npy", "folk/a.npy", "m.npy", "notes.npy"]
    vec = np.load(out / "folk" / "a.npy")
    assert vec.shape == (1, 64) and vec.dtype == np.float32
    from clamp_cli.models import load_model

    enc = load_model(str(assets["ours"]), device="cpu")
    np.testing.assert_allclose(vec[0], enc.embed_music([model_text(ABC_A, ".abc")])[0], atol=1e-5)
    np.testing.assert_allclose(np.load(out / "notes.npy")[0], enc.embed_text_files(["a lively jig\nin D major\n"])[0],
                               atol=1e-5)
    assert not list(out.rglob("*.tmp"))


def test_paths_from_stdin_and_globs(env, library, tmp_path):
    env = fresh_cache(env, tmp_path)
    listing = f"{library / 'b.abc'}\n{library / 'm.mtf'}\n"
    proc = run(["embed", "-", "--jsonl"], env, stdin=listing, check=0)
    assert len(proc.stdout.splitlines()) == 2
    proc = run(["embed", str(library / "**" / "*.abc"), "--jsonl"], env, check=0)
    assert sorted(Path(json.loads(x)["path"]).name for x in proc.stdout.splitlines()) == ["a.abc", "b.abc"]


# -- search ----------------------------------------------------------------------------

def test_search_scores_are_cosines_and_formats(env, library, assets):
    from clamp_cli.models import load_model

    proc = run(["search", "--text", "a happy jazz song", library, "-n", "3"], env, check=0)
    results = json.loads(proc.stdout)  # a pipe gets JSON
    assert [r["rank"] for r in results] == [1, 2, 3]
    assert results[0]["score"] >= results[1]["score"] >= results[2]["score"]
    enc = load_model(str(assets["ours"]), device="cpu")
    q = enc.embed_text(["a happy jazz song"])[0]
    by_name = {"a.abc": model_text(ABC_A, ".abc"), "b.abc": model_text(ABC_B, ".abc"), "m.mtf": MTF}
    for r in results:
        name = Path(r["path"]).name
        if name in by_name:
            v = enc.embed_music([by_name[name]])[0]
            assert abs(r["score"] - float(q @ v / np.linalg.norm(q) / np.linalg.norm(v))) < 1e-4

    table = run(["search", "-t", "a happy jazz song", library, "-n", "2", "--format", "table"], env, check=0)
    assert table.stdout.splitlines()[0].split() == ["rank", "score", "path"]
    assert len(table.stdout.splitlines()) == 3
    paths = run(["search", "-t", "jazz", "--keys", library, "-n", "5", "-f", "--keys-kind", "all"], env, check=0)
    assert all(Path(p).exists() for p in paths.stdout.splitlines()) and len(paths.stdout.splitlines()) == 5
    # by default one kind is ranked (scores here), and what was left out is said
    scores_only = run(["search", "-t", "jazz", library, "-n", "5", "-f"], env, check=0)
    assert sorted(Path(p).name for p in scores_only.stdout.split()) == ["a.abc", "b.abc", "m.mtf"]
    assert "ranking scores only; left out 1 recordings, 1 texts" in scores_only.stderr
    texts_only = run(["search", "-t", "jazz", library, "-f", "--keys-kind", "texts"], env, check=0)
    assert [Path(p).name for p in texts_only.stdout.split()] == ["notes.txt"]
    jsonl = run(["search", "-t", "jazz", library, "-n", "2", "--jsonl"], env, check=0)
    assert [json.loads(x)["rank"] for x in jsonl.stdout.splitlines()] == [1, 2]


def test_search_query_arithmetic_and_music_query(env, library, assets):
    from clamp_cli.models import load_model
    from clamp_cli.retrieval import combine, normalize

    proc = run(["search", "-t", "2:jazz", "-t", "piano", "--sub", "vocals", "--music", library / "b.abc",
                library / "folk", "-n", "1"], env, check=0)
    got = json.loads(proc.stdout)[0]
    enc = load_model(str(assets["ours"]), device="cpu")
    t = enc.embed_text(["jazz", "piano", "vocals"])
    m = enc.embed_music([model_text(ABC_B, ".abc")])[0]
    q = combine([(2, t[0]), (1, t[1]), (-1, t[2]), (1, m)])
    key = enc.embed_music([model_text(ABC_A, ".abc")])[0]
    assert abs(got["score"] - float(normalize(q) @ normalize(key))) < 1e-4


def test_search_text_keys(env, library, tmp_path):
    keys = tmp_path / "captions.txt"
    keys.write_text("a jig\n\na reel\na slow air\n")
    proc = run(["search", "--music", library / "b.abc", "--keys-text", keys, "-n", "5"], env, check=0)
    results = json.loads(proc.stdout)
    assert sorted(r["text"] for r in results) == ["a jig", "a reel", "a slow air"]


def test_rerun_on_unchanged_folder_embeds_nothing(env, library, tmp_path):
    env = fresh_cache(env, tmp_path)
    run(["search", "-t", "jazz", library, "-n", "1"], env, check=0)
    db = sqlite3.connect(Path(env["CLAMP_CACHE_DIR"]) / "clamp.sqlite3")
    before = db.execute("SELECT max(created), count(*) FROM features WHERE prep LIKE 'music/%'").fetchone()
    run(["search", "-t", "folk", library, "-n", "1"], env, check=0)
    after = db.execute("SELECT max(created), count(*) FROM features WHERE prep LIKE 'music/%'").fetchone()
    assert before == after and before[1] == 3


# -- classify ----------------------------------------------------------------------------

def test_classify_probabilities(env, library, tmp_path, assets):
    from clamp_cli.models import load_model
    from clamp_cli.retrieval import zero_shot

    labels = tmp_path / "genres.txt"
    labels.write_text("jazz\nfolk\nclassical\n")
    proc = run(["classify", library / "b.abc", library / "m.mtf", "--labels", labels, "--label", "rock",
                "--prompt", "This piece is <>", "--top-k", "3"], env, check=0)
    records = json.loads(proc.stdout)
    assert [Path(r["path"]).name for r in records] == ["b.abc", "m.mtf"]
    enc = load_model(str(assets["ours"]), device="cpu")
    prompts = [f"This piece is {x}" for x in ("rock", "jazz", "folk", "classical")]
    cos, probs = zero_shot(enc.embed_music([model_text(ABC_B, ".abc")]), enc.embed_text(prompts), enc.logit_scale)
    best = int(np.argmax(probs[0]))
    assert records[0]["label"] == ["rock", "jazz", "folk", "classical"][best]
    assert abs(records[0]["probability"] - probs[0][best]) < 1e-4
    assert len(records[0]["top"]) == 3
    assert records[0]["top"][0]["probability"] >= records[0]["top"][1]["probability"]


def test_classify_prompt_without_placeholder_appends_label(env, library):
    proc = run(["classify", library / "b.abc", "-l", "jazz", "-l", "folk", "--prompt", "A piece of"], env, check=0)
    assert "appended after a space" in proc.stderr
    assert json.loads(proc.stdout)[0]["label"] in ("jazz", "folk")


# -- models ------------------------------------------------------------------------------

def test_models_list_info_pull(env, assets):
    listing = json.loads(run(["models", "list"], env, check=0).stdout)
    assert {m["name"] for m in listing} >= {"clamp3-c2", "clamp3-saas", "clamp2", "clamp1-s512", "clamp1-s1024"}
    info = json.loads(run(["models", "info", assets["clamp1"]], env, check=0).stdout)[0]
    assert info["family"] == "clamp1" and info["max_patches"] == 40 and info["music_layers"] == 2
    e = dict(env, HF_HOME=env["CLAMP_CACHE_DIR"] + "/hf")
    pulled = run(["models", "pull", "clamp2"], e, check=3)
    assert "clamp2" in pulled.stderr and "HF_HUB_OFFLINE" in pulled.stderr
    assert run(["models", "pull", "nope"], e, check=3).stderr.startswith("clamp: error: unknown model 'nope'")


# -- bad input -----------------------------------------------------------------------------

def test_bad_inputs_one_line_each_and_the_batch_goes_on(env, tmp_path):
    env = fresh_cache(env, tmp_path)
    d = tmp_path / "bad"
    d.mkdir()
    (d / "good.abc").write_text(ABC_A)
    (d / "empty.abc").write_text("")
    (d / "garbage.abc").write_bytes(os.urandom(300) + b"\x00")
    (d / "latin1.abc").write_bytes("T:Caf\xe9\n|abc|\n".encode("latin-1"))
    np.save(d / "wrong.npy", np.zeros((4, 7), dtype=np.float32))
    (d / "fake.npy").write_bytes(b"not numpy")
    (d / "notmtf.mtf").write_text("hello\n")
    proc = run(["embed", d, tmp_path / "missing.abc", "--jsonl"], env, check=1)
    errors = error_lines(proc.stderr)
    reasons = {line.split(": ")[2].rsplit("/", 1)[-1]: line for line in errors}
    assert len(errors) == 5, proc.stderr
    assert "empty file" in reasons["empty.abc"]
    assert "binary data" in reasons["garbage.abc"]
    assert "latin1.abc: not UTF-8; read as Latin-1" in proc.stderr  # a warning: older ABC files often are
    assert "not a NumPy" in reasons["fake.npy"]
    assert "ticks_per_beat" in reasons["notmtf.mtf"]
    assert "no such file" in reasons["missing.abc"]
    # a plain numpy array is not a recording's features: skipped, with its shape, not an error
    assert "wrong.npy" not in reasons and f"skipped 1 .npy file(s) that hold no MERT features ((1, W, 64) or " \
        f"(W, 64)) and no feature vector ((1, D) or (D,)): {d / 'wrong.npy'} (shape (4, 7))" in proc.stderr
    assert [Path(json.loads(x)["path"]).name for x in proc.stdout.splitlines()] == ["good.abc", "latin1.abc"]
    assert "embedded 2, cached 0, skipped 1, failed 5" in proc.stderr


def test_nothing_to_read(env, tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "readme.md").write_text("hi")
    proc = run(["search", "-t", "x", tmp_path / "docs"], env, check=1)
    assert error_lines(proc.stderr) == [proc.stderr.strip()]
    assert "no music files" in proc.stderr and "1 file(s) with other extensions skipped" in proc.stderr
    assert run(["embed", tmp_path / "nope"], env, check=1).stderr.count("no such file") == 1


def test_usage_errors_exit_2(env, library):
    for args in (["search", "-t", "x", library, "-n", "0"], ["search", "-t", "x", library, "-n", "-3"],
                 ["search", library], ["classify", library, "--label", "one"],
                 ["search", "-t", "x", library, "--json", "--jsonl"]):
        proc = run(args, env, check=2)
        assert proc.stdout == ""


def test_model_errors_exit_3(env, library, tmp_path):
    proc = run(["search", "-t", "x", library / "folk", "--model", "clamp7"], env, check=3)
    assert error_lines(proc.stderr) == [proc.stderr.strip()] and "unknown model 'clamp7'" in proc.stderr
    e = dict(env, HF_HOME=str(tmp_path / "hf"))
    e.pop("CLAMP_MODEL")
    proc = run(["embed", library, "--model", "clamp3-c2"], e, check=3)  # not cached, and offline
    assert error_lines(proc.stderr) == [proc.stderr.strip()]
    assert "clamp3-c2" in proc.stderr and "clamp models pull" in proc.stderr


def test_uncached_model_fails_at_once_without_network_or_torch(env, library, tmp_path):
    """Item 14: "not cached" is decided from the cache alone, online or not, before torch is imported."""
    e = dict(env, HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="0", HF_ENDPOINT="http://127.0.0.1:9")
    e.pop("CLAMP_MODEL")
    code = ("import sys\nfrom clamp_cli.cli.main import app\n"
            "try:\n    app(['search', '-t', 'x', sys.argv[1], '-m', 'clamp3-c2'])\n"
            "except SystemExit as exc:\n    print(exc.code, 'torch' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(library / "folk")], env=e, capture_output=True, text=True,
                          timeout=120)
    assert proc.stdout.split() == ["3", "False"], (proc.stdout, proc.stderr)
    assert error_lines(proc.stderr) == [proc.stderr.strip()]
    line = proc.stderr.strip()
    assert "clamp3-c2" in line and "weights_clamp3_c2" in line and "clamp models pull clamp3-c2" in line
    assert "clamp-mini" in line and "Retry" not in proc.stderr
    # a device name is checked even when nothing needs the model
    run(["embed", library], env, check=0)
    assert "--device" in run(["embed", library, "--device", "tpu"], env, check=2).stderr
    run(["embed", library, "--device", "cpu"], env, check=0)


def test_damaged_cache_entry_is_recomputed(env, library, tmp_path):
    env = fresh_cache(env, tmp_path)
    first = json.loads(run(["embed", library / "b.abc", "--json"], env, check=0).stdout)[0]
    db = sqlite3.connect(Path(env["CLAMP_CACHE_DIR"]) / "clamp.sqlite3")
    with db:
        db.execute(f"UPDATE features SET vector = substr(vector, 1, 10) WHERE hash = ? AND {VECTORS}", (first["hash"],))
    proc = run(["embed", library / "b.abc", "--json"], env, check=0)
    assert json.loads(proc.stdout)[0]["status"] == "embedded" and "damaged cache entry" in proc.stderr
    assert db.execute(f"SELECT length(vector) FROM features WHERE hash = ? AND {VECTORS}",
                      (first["hash"],)).fetchone()[0] == 256


def test_corrupt_cache_database_is_set_aside(env, library, tmp_path):
    env = fresh_cache(env, tmp_path)
    cache = Path(env["CLAMP_CACHE_DIR"])
    cache.mkdir(parents=True)
    (cache / "clamp.sqlite3").write_bytes(b"this is not a database" * 100)
    proc = run(["embed", library / "b.abc"], env, check=0)
    assert "moved to clamp.sqlite3.corrupt-" in proc.stderr
    assert list(cache.glob("clamp.sqlite3.corrupt-*"))


def test_two_processes_share_one_cache(env, tmp_path):
    env = fresh_cache(env, tmp_path)
    d = tmp_path / "many"
    d.mkdir()
    for i in range(40):
        (d / f"t{i}.abc").write_text(ABC_A.replace("GABc", "GAB" + "cdefgab"[i % 7]) + f"%{i}\n")
    cmd = [sys.executable, "-m", "clamp_cli.cli.main", "embed", str(d)]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    db = sqlite3.connect(Path(env["CLAMP_CACHE_DIR"]) / "clamp.sqlite3")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute(f"SELECT count(*) FROM features WHERE {VECTORS}").fetchone()[0] == 40


def _children(pid: int) -> set[int]:
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    """Running, or a zombie nobody reaped: either way a child left behind."""
    return (Path("/proc") / str(pid)).exists()


@pytest.mark.parametrize("point", ["load", "convert", "encode", "write"])
def test_ctrl_c_at_each_stage_exits_130_and_leaves_nothing_half_written(env, tmp_path, point):
    """Deterministic: the child stops at a named pause point (CLAMP_PAUSE_AT), then gets SIGINT."""
    env = fresh_cache(env, tmp_path)
    env["CLAMP_PAUSE_AT"] = point
    d = tmp_path / "big"
    d.mkdir()
    for i in range(40):
        (d / f"t{i}.abc").write_text(f"X:1\nL:1/8\nK:C\n[V:1]abc{i % 10}|[V:2]C,{i % 7}|\n%{i}\n")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "clamp_cli.cli.main", "embed", str(d), "--out", str(out),
                             "--batch-size", "2", "-j", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        lines = []
        for line in proc.stderr:  # blocks until the child says where it is (or exits)
            lines.append(line)
            if line.strip() == f"clamp: paused at {point}":
                break
        assert lines and lines[-1].strip() == f"clamp: paused at {point}", "".join(lines)
        children = _children(proc.pid)
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = "".join(lines) + rest
    assert "Traceback" not in err and "Exception" not in err, err
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "clamp: interrupted"
    assert not [c for c in children if _alive(c)], "worker processes left behind"
    db_path = Path(env["CLAMP_CACHE_DIR"]) / "clamp.sqlite3"
    db = sqlite3.connect(db_path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    done = db.execute(f"SELECT count(*) FROM features WHERE {VECTORS}").fetchone()[0]
    db.close()
    assert done < 40
    # -O is written once every piece is embedded, and each pause point comes before that: the
    # interrupted run has not created the folder at all (so no half-written .npy can be in it)
    assert not out.exists(), sorted(out.rglob("*"))
    # the next run finishes the job, reusing what was committed
    env.pop("CLAMP_PAUSE_AT")
    rerun = run(["embed", d, "-q", "--json"], env, check=0)
    statuses = [r["status"] for r in json.loads(rerun.stdout)]
    assert statuses.count("cached") == done and statuses.count("embedded") == 40 - done


# -- generated files --------------------------------------------------------------------------

def test_man_page_and_completions_are_current(tmp_path):
    subprocess.run([sys.executable, "-m", "clamp_cli.cli.docs", str(tmp_path)], check=True, capture_output=True)
    for rel in ("man/clamp.1", "completions/clamp.bash", "completions/_clamp", "completions/clamp.fish"):
        assert (tmp_path / rel).read_text() == (REPO / rel).read_text(), (
            f"{rel} is stale: run `python -m clamp_cli.cli.docs`")
    assert subprocess.run(["bash", "-n", str(REPO / "completions" / "clamp.bash")]).returncode == 0


def test_warm_runs_never_load_the_model(env, library, tmp_path):
    """Everything cached (keys and the query): torch and transformers are not even importable."""
    env = fresh_cache(env, tmp_path)
    first = run(["search", "-t", "a lively jig", library, "-n", "3", "--keys-kind", "all"], env, check=0)
    code = ("import sys\nsys.modules['torch'] = None\nsys.modules['transformers'] = None\n"
            "from clamp_cli.cli.main import app\n"
            f"app(['search', '-t', 'a lively jig', {str(library)!r}, '-n', '3', '--keys-kind', 'all'])\n")
    warm = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert warm.returncode == 0, warm.stderr
    assert json.loads(warm.stdout) == json.loads(first.stdout)
    code_embed = code.replace("['search', '-t', 'a lively jig', ", "['embed', '--json', ").replace(
        ", '-n', '3', '--keys-kind', 'all'", "")
    warm_embed = subprocess.run([sys.executable, "-c", code_embed], env=env, capture_output=True, text=True)
    assert warm_embed.returncode == 0, warm_embed.stderr
    assert {r["status"] for r in json.loads(warm_embed.stdout)} == {"cached"}
    # a new query does need the model, and loads it
    run(["search", "-t", "a slow air", library, "-n", "1"], env, check=0)


def test_lazy_model_id_matches_the_loaded_one(assets):
    from clamp_cli.models import LazyEncoder, load_model

    for name in ("ours", "clamp1"):
        backbone = str(assets["roberta"]) if name == "clamp1" else None
        lazy = load_model(str(assets[name]), text_backbone=backbone, device="cpu", lazy=True)
        assert isinstance(lazy, LazyEncoder) and not lazy.is_loaded
        eager = load_model(str(assets[name]), text_backbone=backbone, device="cpu")
        assert (lazy.model_id, lazy.text_id, lazy.dim, lazy.family) == (eager.model_id, eager.text_id, eager.dim,
                                                                         eager.family)
        lazy.embed_text(["x"])
        assert lazy.is_loaded
    # .pth files need their weights read to know anything: loaded eagerly
    assert not isinstance(load_model(str(assets["clamp2"]), text_backbone=str(assets["xlmr"]), device="cpu",
                                     lazy=True), LazyEncoder)


# -- never destroy a user's files ------------------------------------------------------------

def test_convert_never_overwrites_inputs_and_refuses_collisions(env, tmp_path):
    d = tmp_path / "songs"
    d.mkdir()
    (d / "song.abc").write_text(ABC_A)
    (d / "song.mtf").write_text(MTF)
    before = (d / "song.abc").read_bytes()
    proc = run(["convert", d / "song.abc", "--to", "iabc", "-o", d / "song.abc"], env, check=2)
    assert "never overwrites its inputs" in proc.stderr and (d / "song.abc").read_bytes() == before
    proc = run(["convert", d / "song.abc", "--to", "iabc", "-O", d], env, check=2)
    assert "never overwrites its inputs" in proc.stderr and (d / "song.abc").read_bytes() == before
    out = tmp_path / "out"
    proc = run(["convert", d, "--to", "iabc", "-O", out], env, check=2)  # song.abc and song.mtf -> song.abc
    assert "would both be written to" in proc.stderr and not out.exists()
    one = tmp_path / "one"
    run(["convert", d / "song.abc", "--to", "iabc", "-O", one, "-q"], env, check=0)
    proc = run(["convert", d / "song.abc", "--to", "iabc", "-O", one], env, check=2)
    assert "--force" in proc.stderr
    run(["convert", d / "song.abc", "--to", "iabc", "-O", one, "--force", "-q"], env, check=0)
    proc = run(["convert", d / "song.abc", "--to", "iabc", "-o", tmp_path / "missing" / "x.abc"], env, check=2)
    assert not (tmp_path / "missing").exists()


def test_embed_out_refuses_collisions_and_its_features_are_not_read_back(env, tmp_path):
    env = fresh_cache(env, tmp_path)
    d = tmp_path / "lib"
    d.mkdir()
    (d / "song.abc").write_text(ABC_A)
    (d / "song.mtf").write_text(MTF)
    proc = run(["embed", d, "--out", d / "feat"], env, check=2)
    assert "would both be written to" in proc.stderr and not (d / "feat").exists()
    (d / "song.mtf").unlink()
    run(["embed", d, "--out", d / "feat", "-q"], env, check=0)
    assert (d / "feat" / "song.npy").exists()
    proc = run(["embed", d, "--json", "-q"], env, check=0)  # feat/song.npy is not taken for audio
    assert [Path(r["path"]).name for r in json.loads(proc.stdout)] == ["song.abc"]


# -- hardening: permissions, the cache directory, model output paths ----------------------

def _without_root_powers() -> list[str]:
    """A command prefix under which file permissions hold: nothing for a normal user; for root,
    setpriv dropping the capabilities that bypass them (root otherwise reads a chmod 000 file)."""
    if os.geteuid() != 0:
        return []
    import shutil

    prefix = [shutil.which("setpriv") or "setpriv", "--bounding-set=-dac_override,-dac_read_search",
              "--inh-caps=-dac_override,-dac_read_search"]
    try:
        ok = subprocess.run([*prefix, "true"], capture_output=True).returncode == 0
    except OSError:
        ok = False
    if not ok:
        pytest.skip("running as root without a working setpriv: permissions cannot be denied here")
    return prefix


def run_unprivileged(args, env, check=None):
    proc = subprocess.run([*_without_root_powers(), sys.executable, "-m", "clamp_cli.cli.main", *map(str, args)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in proc.stderr, proc.stderr
    if check is not None:
        assert proc.returncode == check, (proc.returncode, proc.stdout, proc.stderr)
    return proc


@pytest.fixture()
def locked(tmp_path):
    """A readable tune, a folder nobody may enter, and an unreadable file in a readable folder."""
    root = tmp_path / "perm"
    (root / "open").mkdir(parents=True)
    (root / "open" / "good.abc").write_text(ABC_A)
    (root / "locked").mkdir()
    (root / "locked" / "x.abc").write_text(ABC_B)
    (root / "secret.abc").write_text(ABC_B)
    (root / "locked").chmod(0)
    (root / "secret.abc").chmod(0)
    yield root
    (root / "locked").chmod(0o755)
    (root / "secret.abc").chmod(0o644)


def test_unreadable_files_and_folders_are_one_line_each(env, tmp_path, locked):
    env = fresh_cache(env, tmp_path)
    proc = run_unprivileged(["embed", locked, "--jsonl"], env, check=1)
    assert sorted(error_lines(proc.stderr)) == [f"clamp: error: {locked / 'locked'}: permission denied",
                                                f"clamp: error: {locked / 'secret.abc'}: permission denied"]
    assert [Path(json.loads(x)["path"]).name for x in proc.stdout.splitlines()] == ["good.abc"]
    for args in (["embed", locked / "locked" / "x.abc", locked / "open"],
                 ["embed", f"{locked}/locked/*.abc", locked / "open"],
                 ["convert", locked / "locked" / "x.abc", locked / "open" / "good.abc", "--to", "iabc", "-o", "-"],
                 ["search", "--music", locked / "locked" / "x.abc", locked / "open"],
                 ["search", "--music", locked / "secret.abc", locked / "open"]):
        proc = run_unprivileged(args, env, check=1)
        assert len(error_lines(proc.stderr)) == 1 and "permission denied" in proc.stderr, (args, proc.stderr)


def test_unwritable_cache_is_one_line_and_never_moved_aside(env, tmp_path, library):
    ro = tmp_path / "ro"
    ro.mkdir()
    (tmp_path / "empty").mkdir(mode=0o555)
    proc = run_unprivileged(["embed", library, "--cache-dir", tmp_path / "empty"], env, check=2)
    assert error_lines(proc.stderr) == [f"clamp: error: {tmp_path / 'empty'}: cache directory not writable "
                                        "(permission denied), and no readable cache in it; pass --cache-dir or set "
                                        "CLAMP_CACHE_DIR"]
    run(["embed", library, "-q", "--cache-dir", ro], env, check=0)
    ro.chmod(0o555)
    try:
        proc = run_unprivileged(["embed", library, "--cache-dir", ro / "sub"], env, check=2)
        assert "cannot create the cache directory (permission denied)" in proc.stderr
        ro.chmod(0o755)
        (ro / "clamp.sqlite3").chmod(0)
        proc = run_unprivileged(["embed", library, "--cache-dir", ro], env, check=2)
        assert "cannot open the cache database (permission denied)" in proc.stderr
        assert sorted(p.name for p in ro.iterdir() if "corrupt" in p.name) == []
    finally:
        ro.chmod(0o755)
        (ro / "clamp.sqlite3").chmod(0o644)


def test_model_output_path_errors(env, tmp_path):
    (tmp_path / "file").write_text("x")
    proc = run(["models", "random", tmp_path / "file" / "sub" / "m"], env, check=2)
    assert error_lines(proc.stderr) == [f"clamp: error: {tmp_path / 'file' / 'sub' / 'm'}: cannot write a model here "
                                        f"({tmp_path / 'file'} is a file, not a folder)"]
    proc = run(["models", "random", "/proc/clamp-test/m"], env, check=2)
    assert len(error_lines(proc.stderr)) == 1 and "cannot write a model here" in proc.stderr


def test_tune_references_and_nul_lists_work_everywhere(env, tmp_path):
    """Item 10: FILE#X (as -f prints it) is accepted wherever a music path is; -0 for find/xargs."""
    env = fresh_cache(env, tmp_path)
    book = tmp_path / "my tunes" / "book.abc"
    book.parent.mkdir()
    book.write_text(ABC_A + "\n" + ABC_B.replace("X:2", "X:2") + "\n" + ABC_A.replace("X:1", "X:3"))
    single = tmp_path / "my tunes" / "single.abc"
    single.write_text(ABC_B)
    names = run(["search", "-t", "a jig", book.parent, "-f"], env, check=0).stdout.splitlines()
    assert sorted(names) == sorted([f"{book}#1", f"{book}#2", f"{book}#3", str(single)])
    # every clamp command takes the names back, tune by tune
    ranked = run(["search", "-t", "a jig", f"{book}#2", f"{book}#3", "-f"], env, check=0).stdout.splitlines()
    assert sorted(ranked) == [f"{book}#2", f"{book}#3"]
    labelled = json.loads(run(["classify", f"{book}#1", "-l", "jig", "-l", "reel"], env, check=0).stdout)
    assert [r["path"] for r in labelled] == [f"{book}#1"]
    embedded = run(["embed", "-", "--jsonl"], env, stdin="\n".join(names) + "\n", check=0).stdout.splitlines()
    assert len(embedded) == 4
    as_query = json.loads(run(["search", "--music", f"{book}#2", book, "-n", "5"], env, check=0).stdout)
    assert {r["path"] for r in as_query} == {f"{book}#1", f"{book}#3"}      # the query tune itself left out
    kept = json.loads(run(["search", "--music", f"{book}#2", book, "--include-query"], env, check=0).stdout)
    assert kept[0]["path"] == f"{book}#2" and kept[0]["score"] == pytest.approx(1.0, abs=1e-5)
    out = tmp_path / "two.abc"
    run(["convert", f"{book}#2", "--to", "abc", "-o", out], env, check=0)
    assert "T:B" in out.read_text() and "T:A" not in out.read_text()
    # a whole-file mention wins over a tune of the same file
    assert len(run(["search", "-t", "x", f"{book}#2", book, "-f"], env, check=0).stdout.splitlines()) == 3
    # a tune the file does not hold: one line naming it; the rest goes on
    proc = run(["search", "-t", "x", f"{book}#9", f"{single}#1", f"{book}#1", "-f"], env, check=1)
    assert proc.stdout.splitlines() == [f"{book}#1"]
    assert sorted(error_lines(proc.stderr)) == [
        f"clamp: error: {book}#9: no tune X:9 in the file",
        f"clamp: error: {single}#1: no tune X:1 in the file (the file is read as one piece: name it without #)"]
    # --format files: each file once, in rank order, real paths for xargs ls
    files = run(["search", "-t", "a jig", book.parent, "--format", "files"], env, check=0).stdout.splitlines()
    assert sorted(files) == sorted([str(book), str(single)]) and all(Path(f).is_file() for f in files)
    # -0: NUL-separated lists in (find -print0) and out (xargs -0)
    listing = f"{book}#3\0{single}\0"
    proc = run(["search", "-t", "x", "-0", "-", "-f"], env, stdin=listing, check=0)
    assert proc.stdout.endswith("\0") and sorted(proc.stdout.split("\0")[:-1]) == [f"{book}#3", str(single)]
    assert len(run(["embed", "--null", "-", "--jsonl"], env, stdin=listing, check=0).stdout.splitlines()) == 2
    proc = run(["search", "-t", "x", "-0", "-", "--format", "files"], env, stdin=listing, check=0)
    assert sorted(proc.stdout.split("\0")[:-1]) == sorted([str(book), str(single)])
    # classify prints labels: its help and its check agree
    proc = run(["classify", book, "-l", "a", "-l", "b", "--format", "paths"], env, check=2)
    assert error_lines(proc.stderr) == ["clamp: error: --format must be table, json or jsonl, not 'paths'"]
    assert "paths" not in run(["classify", "--help"], env, check=0).stdout.split("--format")[1].split("\n")[0]


def test_messages_and_exit_codes_say_what_happened(env, library, tmp_path):
    """Item 15: nothing converted is a failure; option files are usage errors; one line per cause."""
    captions = tmp_path / "captions.txt"
    captions.write_text("a jig\n")
    proc = run(["convert", captions, "--to", "iabc"], env, check=1)
    assert error_lines(proc.stderr) == [proc.stderr.strip()] and "no scores to convert" in proc.stderr
    (tmp_path / "cover.png").write_bytes(b"\x89PNG")
    proc = run(["classify", tmp_path / "nope.abc", tmp_path / "cover.png", "-l", "a", "-l", "b"], env, check=1)
    assert error_lines(proc.stderr) == [f"clamp: error: {tmp_path / 'nope.abc'}: no such file or directory"]
    (tmp_path / "empty.txt").write_text("\n\n")
    for labels in (tmp_path / "missing.txt", tmp_path / "empty.txt"):
        proc = run(["classify", library / "b.abc", "--labels", labels], env, check=2)
        assert error_lines(proc.stderr) == [proc.stderr.strip()] and str(labels) in proc.stderr
    proc = run(["search", "--music", library / "b.abc", "--keys-text", tmp_path / "missing.txt"], env, check=2)
    assert error_lines(proc.stderr) == [f"clamp: error: {tmp_path / 'missing.txt'}: no such file or directory"]
    (tmp_path / "noise.xml").write_bytes(bytes(range(256)) * 3)
    proc = run(["convert", tmp_path / "noise.xml", "-o", tmp_path / "noise.abc"], env, check=1)
    assert error_lines(proc.stderr) == [f"clamp: error: {tmp_path / 'noise.xml'}: not XML"]
    assert "converted 0" in proc.stderr and not (tmp_path / "noise.abc").exists()


def test_multi_tune_files_convert_as_tune_books_or_one_file_per_tune(env, tmp_path):
    """Item 16: joined tunes keep their X: lines; one-score formats never join or rename silently."""
    book = tmp_path / "book.abc"
    book.write_text(ABC_A + "\n" + ABC_B.replace("X:2", "X:5") + "\n")
    for to in ("iabc", "abc"):
        text = run(["convert", book, "--to", to], env, check=0).stdout
        tunes = [t for t in text.split("\n\n") if t.strip()]
        assert [t.splitlines()[0] for t in tunes] == ["X:1", "X:5"], text
        assert "M:4/4" in tunes[0] and "M:6/8" in tunes[1]
    # the tune book reads back as the same two tunes
    (tmp_path / "back.abc").write_text(run(["convert", book, "--to", "iabc"], env, check=0).stdout)
    assert run(["search", "-t", "x", tmp_path / "back.abc", "-f"], env, check=0).stdout.split() == [
        f"{tmp_path / 'back.abc'}#1", f"{tmp_path / 'back.abc'}#5"]
    proc = run(["convert", book, "--to", "musicxml", "-o", tmp_path / "one.musicxml"], env, check=1)
    assert "holds 2 tunes" in proc.stderr and "--out-dir" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["back.abc", "book.abc"]
    assert "--whole-file" in run(["convert", book, "--to", "musicxml", "--whole-file", "-O", tmp_path / "x"],
                                 env, check=2).stderr
    run(["convert", f"{book}#5", "--to", "musicxml", "-o", tmp_path / "one.musicxml"], env, check=0)
    assert "<score-partwise" in (tmp_path / "one.musicxml").read_text()
    run(["convert", book, "--to", "musicxml", "-O", tmp_path / "xml"], env, check=0)
    assert sorted(p.name for p in (tmp_path / "xml").iterdir()) == ["book#1.musicxml", "book#5.musicxml"]
    proc = run(["convert", book, tmp_path / "one.musicxml", "--to", "abc", "-o", "-"], env, check=2)
    assert "2 inputs: give --out-dir" in proc.stderr


def test_a_score_on_stdin_is_read_with_stdin_score(env, tmp_path):
    """Item 13: `-` is a list of paths everywhere; --stdin-score FORMAT reads one score, shown as -."""
    book = ABC_A + "\n" + ABC_B
    proc = run(["convert", "-"], env, stdin=book, check=1)
    assert error_lines(proc.stderr) == [
        "clamp: error: -: stdin holds a score, not a list of paths: pass --stdin-score FORMAT "
        "(abc, musicxml, midi, ...) to read it"]
    text = run(["convert", "--stdin-score", "abc", "--to", "iabc"], env, stdin=book, check=0).stdout
    assert [t.splitlines()[0] for t in text.split("\n\n") if t.strip()] == ["X:1", "X:2"]
    ranked = run(["search", "-t", "a jig", "--stdin-score", "abc", "-f"], env, stdin=book, check=0).stdout.split()
    assert sorted(ranked) == ["-#1", "-#2"]
    labelled = json.loads(run(["classify", "--stdin-score", "abc", "-", "-l", "jig", "-l", "reel"], env,
                              stdin=ABC_B, check=0).stdout)
    assert [r["path"] for r in labelled] == ["-"]
    run(["embed", "--stdin-score", "abc", "--out", tmp_path / "f"], env, stdin=ABC_B, check=0)
    assert [p.name for p in (tmp_path / "f").iterdir() if p.suffix == ".npy"] == ["stdin.npy"]
    # the same content from a file gives the same vector (one cache entry, keyed by content)
    (tmp_path / "b.abc").write_text(ABC_B)
    from_file = json.loads(run(["embed", tmp_path / "b.abc", "--json"], env, check=0).stdout)[0]
    from_stdin = json.loads(run(["embed", "--stdin-score", "abc", "--json"], env, stdin=ABC_B, check=0).stdout)[0]
    assert from_stdin["hash"] == from_file["hash"] and from_stdin["status"] == "cached"
    proc = run(["convert", "--stdin-score", "mid"], env, stdin=b"not midi at all", check=1)
    assert error_lines(proc.stderr)[0].startswith("clamp: error: -: not a readable MIDI file")
    assert "stdin is empty" in run(["convert", "--stdin-score", "abc"], env, stdin="", check=1).stderr
    assert "--stdin-score" in run(["convert", "--stdin-score", "png"], env, stdin=ABC_B, check=2).stderr


def _on_a_terminal(args, env) -> tuple[str, str]:
    """`clamp ARGS` with stdout on a pseudo-terminal (what a user sees), stderr captured."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "clamp_cli.cli.main", *map(str, args)], env=env,
                            stdout=slave, stderr=subprocess.PIPE, text=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    stderr = proc.stderr.read()
    proc.wait(timeout=120)
    os.close(master)
    return b"".join(chunks).decode(), stderr


def test_what_a_user_notices_in_an_hour(env, library, tmp_path):
    """Item 17: symlinked folders, skipped files said, pipes get JSON, whole paths, yes/no, NO_COLOR,
    option values complete, consistent short options, usage lines that match --help."""
    e = fresh_cache(env, tmp_path)
    (tmp_path / "linked").symlink_to(library / "folk", target_is_directory=True)
    (library / "folk" / "loop").symlink_to(library, target_is_directory=True)    # a loop: walked once
    names = run(["search", "-t", "x", tmp_path / "linked", "-f", "--keys-kind", "all"], e, check=0).stdout.split()
    assert sorted(names) == [str(tmp_path / "linked" / "a.abc")] + sorted(
        str(tmp_path / "linked" / "loop" / p) for p in ("b.abc", "feat.npy", "m.mtf", "notes.txt"))
    proc = run(["search", "-t", "x", library, "-f"], e, check=0)
    assert "skipped 1 file(s) with other extensions" in proc.stderr       # cover.png
    from clamp_cli.formats import SUFFIX_FORMAT
    note = next(line for line in proc.stderr.lower().splitlines() if "skipped" in line)
    assert all(s.strip(".") in note for s, f in SUFFIX_FORMAT.items() if f == "recording"), note   # names what it reads
    assert "skipped 1 file(s)" in run(["classify", library, "-l", "a", "-l", "b"], e, check=0).stderr
    # embed on a pipe prints JSON records; an empty result is []
    piped = json.loads(run(["embed", library / "b.abc"], e, check=0).stdout)
    assert [Path(r["path"]).name for r in piped] == ["b.abc"] and piped[0]["status"] == "cached"
    (tmp_path / "broken.mxl").write_bytes(b"not a zip")
    assert json.loads(run(["embed", tmp_path / "broken.mxl", "--json"], e, check=1).stdout) == []
    # tables: whole paths, yes/no, no escapes under NO_COLOR, nothing folded on a narrow terminal
    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / "tune with spaces.abc"
    deep.parent.mkdir()
    deep.write_text(ABC_A)
    out, _ = _on_a_terminal(["search", "-t", "x", deep, "-q"], dict(e, COLUMNS="60", NO_COLOR="1"))
    assert str(deep) in out and "\x1b[" not in out
    out, _ = _on_a_terminal(["models", "list"], dict(e, NO_COLOR="1"))
    rows = {line.split()[0]: line.split()[2] for line in out.splitlines()[1:] if line.strip()}
    assert rows["clamp-mini"] == "yes" and rows["clamp3-c2"] in ("yes", "no") and "\x1b[" not in out
    assert "\x1b[1m" in _on_a_terminal(["models", "list"], {k: v for k, v in e.items() if k != "NO_COLOR"})[0]
    # option values complete in bash
    def complete(words):
        script = (f"source {REPO / 'completions' / 'clamp.bash'}; COMP_WORDS=({words} ''); "
                  f"COMP_CWORD=${{#COMP_WORDS[@]}}; COMP_CWORD=$((COMP_CWORD-1)); _clamp; echo \"${{COMPREPLY[*]}}\"")
        return subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert complete("clamp convert x.abc --to") == ["abc", "iabc", "mtf", "musicxml", "midi", "mert"]
    assert "clamp-mini" in complete("clamp search -t x -m") and complete("clamp embed --device") == [
        "auto", "cpu", "cuda", "mps"]
    assert complete("clamp classify x --format") == ["table", "json", "jsonl"]
    # one meaning per short option: -o a file, -O a folder, -n a count, -t words
    run(["embed", library / "b.abc", "-O", tmp_path / "feats", "-q"], e, check=0)
    assert (tmp_path / "feats" / "b.npy").is_file()
    assert len(json.loads(run(["classify", library / "b.abc", "-l", "a", "-l", "b", "-l", "c", "-n", "2"], e,
                              check=0).stdout)[0]["top"]) == 2
    assert "Error: No such option: -t" in run(["convert", library / "b.abc", "-t", "abc"], e, check=2).stderr
    # the man page's usage lines are the ones --help prints
    man = (REPO / "man" / "clamp.1").read_text()
    assert '.SS "clamp models pull [OPTIONS] NAME..."' in man and "NAME}..." in run(
        ["models", "pull", "--help"], e, check=0).stdout


def test_hostile_corpus_every_bad_file_once_every_good_file_processed(env, tmp_path):
    """A folder of 23 kinds of bad input: no traceback, each bad file named on exactly one stderr line,
    every good file processed, exit 1 (embed as a real process; search, classify, convert in-process)."""
    from tests.hostile_corpus import GOOD, SKIPPED, WARNED, build

    env = fresh_cache(env, tmp_path)
    corpus = tmp_path / "hostile"
    bad = build(corpus)
    assert len(bad) >= 20

    def check(stderr: str, expected: dict[str, str], warned: dict[str, str] = {}) -> None:  # noqa: B006
        errors = error_lines(stderr)
        for name, why in expected.items():
            lines = [line for line in errors if line.startswith(f"clamp: error: {corpus / name}: ")]
            assert len(lines) == 1 and why.lower() in lines[0].lower(), (name, why, lines)
        assert len(errors) == len(expected), "\n".join(errors)
        for name, why in warned.items():        # said when a file is read, not again when it is cached
            assert sum(f"{corpus / name}: " in line and why in line for line in stderr.splitlines()) == 1, name
        for name, why in (SKIPPED if expected is bad else {}).items():     # one notice names it, with its shape
            assert [line for line in stderr.splitlines() if str(corpus / name) in line] == [
                line for line in stderr.splitlines() if line.startswith("clamp: skipped 1 .npy file(s)")], name
            assert f"{corpus / name} {why}" in stderr, name
        assert not [line for line in stderr.splitlines() if not line.startswith("clamp: ")], stderr

    proc = run_process(["embed", corpus, "--jsonl"], env, check=1)
    check(proc.stderr, bad, WARNED)
    assert sorted(Path(json.loads(x)["path"]).name for x in proc.stdout.splitlines()) == sorted(GOOD)

    proc = run(["search", "-t", "a jig", corpus, "-f", "-n", "50", "--keys-kind", "all"], env, check=1)
    check(proc.stderr, bad)
    assert sorted(Path(p).name for p in proc.stdout.split()) == sorted(GOOD)
    proc = run(["classify", corpus, "-l", "jig", "-l", "reel"], env, check=1)
    check(proc.stderr, bad)
    assert sorted(Path(r["path"]).name for r in json.loads(proc.stdout)) == sorted(GOOD)

    scores = {name: why for name, why in bad.items() if not name.endswith((".npy", ".txt"))}
    proc = run(["convert", corpus, "--to", "abc", "-O", tmp_path / "abc"], env, check=1)
    check(proc.stderr, scores, {"latin1.abc": WARNED["latin1.abc"]})     # plain ABC out: nothing to interleave
    written = sorted(p.name for p in (tmp_path / "abc").iterdir())
    assert written == sorted(Path(n).stem + ".abc" for n in GOOD if not n.endswith(".txt"))


def test_python_api_prepares_files_as_the_cli_does(env, library, tmp_path, assets):
    """Item 18: embed_files / embed_scores give the CLI's vectors; raw text to embed_music does not."""
    from clamp_cli.models import load_model

    out = tmp_path / "feats"
    run(["embed", library, "-O", out, "-q"], fresh_cache(env, tmp_path), check=0)
    for lazy in (False, True):
        enc = load_model(str(assets["ours"]), device="cpu", lazy=lazy)
        files = [library / "folk" / "a.abc", library / "m.mtf", library / "notes.txt", library / "feat.npy"]
        names, vectors = enc.embed_files(files)
        assert names == [str(f) for f in files]
        for f, v in zip(files, vectors):
            cli = np.load(out / f.relative_to(library).with_suffix(".npy"))[0]
            assert float(cli @ v / np.linalg.norm(cli) / np.linalg.norm(v)) > 0.9999, f
        a = np.load(out / "folk" / "a.npy")[0]
        by_text = enc.embed_scores([ABC_A])[0]
        assert float(a @ by_text / np.linalg.norm(a) / np.linalg.norm(by_text)) > 0.9999
        raw = enc.embed_music([ABC_A])[0]         # not model text: a different vector, as documented
        assert float(a @ raw / np.linalg.norm(a) / np.linalg.norm(raw)) < 0.9999
    with pytest.raises(Exception, match="cover.png"):
        enc.embed_files([library / "cover.png"])


def test_the_executable_builds_only_the_command_asked_for_and_it_is_the_same_command():
    """`clamp search` builds search alone (start-up of one command, not all); its help and its
    parameters are those of the full app."""
    import subprocess
    import sys

    import typer.main
    from typer.testing import CliRunner

    from clamp_cli.cli import main

    full = typer.main.get_command(main.app)
    for name in [*main.COMMANDS, *main.GROUPS]:
        alone = typer.main.get_command(main.build(name))
        assert list(alone.commands) == [name]
        assert [p.name for p in alone.commands[name].params] == [p.name for p in full.commands[name].params]
        helps = [CliRunner().invoke(app, [name, "--help"]).stdout for app in (main.app, main.build(name))]
        assert helps[0] == helps[1] and f"Usage: clamp {name}" in helps[0]
    probe = ("import sys\nfrom clamp_cli.cli.main import run\ntry:\n    run(['search', '--help'])\n"
             "except SystemExit:\n    pass\nprint(sorted(m for m in sys.modules if m.startswith('clamp_cli.cli.')))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "clamp_cli.cli.search" in loaded and "clamp_cli.cli.train" not in loaded, loaded
