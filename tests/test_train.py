"""clamp train: the data it makes from music21's corpus, a short real training run, the evaluation."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from clamp_cli.train import describe
from clamp_cli.train.prepare import abc_items, clean_tune, corpus_root, heldout


def test_tune_metadata_never_reaches_the_music():
    items = []
    for path in sorted((corpus_root() / "ryansMammoth").glob("*.abc"))[:60]:
        items += abc_items(path, "ryans", None, None)
    assert len(items) >= 50
    for it in items:
        head = [line for line in it.abc.splitlines() if line[:2] in ("T:", "R:", "O:", "C:", "N:", "S:", "Z:")]
        assert not head, head
    typed = [it for it in items if "tune_type" in it.facts]
    assert typed and all(it.labels["tune_type"] == it.facts["tune_type"] for it in typed)
    assert clean_tune("X:3\nT:Title\nR:jig\nM:6/8\nK:G\nGAB|\"Fine\"c2d|\n", "3") == "X:3\nM:6/8\nK:G\nGAB|c2d|\n"


def test_descriptions_cover_five_languages_and_group_by_fact():
    texts, groups, key_groups = describe.describe({"tune_type": "jig", "origin": "Irish", "metre": "6/8", "key": ("D", "major"),
                                       "voices": 1, "kind": "fiddle"}, random.Random(0))
    for phrase in ("a jig", "eine Gigue", "une gigue", "una giga", "吉格舞曲", "in six-eight time", "en ré majeur"):
        assert phrase in texts
    assert sorted(i for g in groups for i in g) == list(range(len(texts)))  # every text in exactly one group
    assert sorted(texts[groups[k][0]] for k in key_groups) == ["Irish", "a jig"]  # tune type and origin, not metre


def test_split_is_by_group_and_seeded():
    groups = [f"g{i}" for i in range(2000)]
    share = sum(heldout(g, 0) for g in groups) / len(groups)
    assert 0.07 < share < 0.13
    assert [heldout(g, 0) for g in groups] == [heldout(g, 0) for g in groups]
    assert [heldout(g, 0) for g in groups] != [heldout(g, 1) for g in groups]


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> Path:
    """50 real tunes (reels and jigs from Ryan's Mammoth Collection), written as `prepare` writes them."""
    root = tmp_path_factory.mktemp("train")
    items = []
    for path in sorted((corpus_root() / "ryansMammoth").glob("*.abc")):
        items += [it for it in abc_items(path, "ryans", None, None) if it.labels.get("tune_type") in ("reel", "jig")]
        if len(items) >= 50:
            break
    lines = []
    for n, it in enumerate(items[:50]):
        (root / f"{n}.abc").write_text(it.abc, encoding="utf-8")
        texts, groups, key_groups = describe.describe(it.facts, random.Random(n))
        lines.append(json.dumps({"music": f"{n}.abc", "texts": texts, "text_groups": groups, "key_groups": key_groups,
                                 "piece": it.piece,
                                 "split": "heldout" if n % 10 == 0 else "train", "labels": it.labels}))
    (root / "data.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_training_runs_end_to_end_and_the_loss_drops(small_set, tmp_path):
    from clamp_cli.models import load_model
    from clamp_cli.train.trainer import TrainConfig, train

    out = tmp_path / "model"
    steps: list[float] = []
    train(TrainConfig(small_set / "data.jsonl", out, arch="tiny", epochs=3, batch_size=8, lr=3e-3, seed=0),
          log=lambda _: None, progress=lambda epoch, done, total, loss: steps.append(loss))
    config = json.loads((out / "clamp.json").read_text())
    history = config["training"]["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["loss"] < history[0]["loss"]
    assert "t2m_mrr" in history[-1]
    enc = load_model(str(out), device="cpu")  # the factory loads what training wrote
    assert enc.family == "mini" and enc.logit_scale == config["spec"]["logit_scale"]
    assert enc.embed_text(["a reel"]).shape == (1, 64)
    # --resume continues after the last finished epoch instead of starting over
    train(TrainConfig(small_set / "data.jsonl", out, arch="tiny", epochs=4, batch_size=8, lr=3e-3, seed=0,
                      resume=True), log=lambda _: None)
    history = json.loads((out / "clamp.json").read_text())["training"]["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]


def test_export_lays_a_split_out_for_clamp_eval(small_set, tmp_path):
    from .test_cli import run

    out = tmp_path / "heldout"
    proc = run(["train", "export", small_set / "data.jsonl", out], {"NO_COLOR": "1"}, check=0)
    records = [json.loads(line) for line in (small_set / "data.jsonl").read_text().splitlines()]
    held = [r for r in records if r["split"] == "heldout"]
    assert "scores 5" in proc.stderr and len(list((out / "scores").iterdir())) == len(held) == 5
    assert sorted(p.stem for p in (out / "scores").iterdir()) == sorted(p.stem for p in (out / "text").iterdir())
    label_rows = (out / "labels" / "tune_type.csv").read_text().splitlines()
    assert label_rows[0] == "id,label" and len(label_rows) == 6
    assert {row.split(",")[1] for row in label_rows[1:]} <= {"reel", "jig"}
    assert (out / "labels" / "collection.csv").read_text().splitlines()[1].endswith(",ryans")
    for text in (out / "text").iterdir():
        description = text.read_text().strip()
        assert description.isascii() and ("reel" in description or "jig" in description), description
    assert "no records in the 'test' split" in run(["train", "export", small_set / "data.jsonl", out, "--split",
                                                   "test"], {}, check=2).stderr


def test_eval_reports_the_bundled_model_on_a_held_out_split(small_set, tmp_path):
    """`clamp train eval` with the shipped model over the 50 tunes, all held out: reels and jigs."""
    from .test_cli import run

    records = [json.loads(line) for line in (small_set / "data.jsonl").read_text().splitlines()]
    data = tmp_path / "all_heldout.jsonl"
    data.write_text("".join(json.dumps({**r, "music": str(small_set / r["music"]), "split": "heldout"}) + "\n"
                            for r in records), encoding="utf-8")
    labels = sorted({r["labels"]["tune_type"] for r in records})
    assert labels == ["jig", "reel"]
    report = json.loads(run(["train", "eval", "clamp-mini", data, "-q"], {"NO_COLOR": "1"}, check=0).stdout)["model"]
    assert report["model"].startswith("clamp-mini-") and report["embedded"] == 50
    assert report["training_tune_midi_routes"] == []           # nothing here is a training record
    for lang, figures in report["text_to_music"].items():
        # one query per piece, and per label each distinct phrase once
        assert figures["queries"] == 50 and figures["per_label"]["queries"] == len(labels), lang
    en = report["text_to_music"]["en"]
    assert en["per_label"]["mrr"] == 1.0 and en["mrr"] == 1.0  # "a reel" and "a jig" each find one first
    tune_type = report["zero_shot"]["tune_type_abc"]
    assert tune_type["classes"] == labels and tune_type["n"] == 50
    assert tune_type["accuracy"] > max(tune_type["majority"], 0.7)
    # a user's records may leave "format" out: it follows the file name, as prepare writes it
    from clamp_cli.train.trainer import read_jsonl

    data.write_text("".join(json.dumps({"music": m, "texts": ["a reel"]}) + "\n"
                            for m in ("a.MID", "b.abc#3", "c.mxl", "d.mtf", "e.midi")), encoding="utf-8")
    assert [r.fmt for r in read_jsonl(data)] == ["midi", "abc", "score", "midi", "midi"]
