"""clamp eval / clamp score: metrics against hand-computed answers, then end to end through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from clamp_cli.errors import InputError
from clamp_cli.retrieval.evaluate import ItemSet, evaluate_retrieval, match, score_pairs
from clamp_cli.retrieval.metrics import classification_metrics, frechet_distance, group_cosine, ranks

from .test_cli import ABC_A, ABC_B, error_lines, fresh_cache, run


def test_ranks_count_ties_against_the_query_unless_told_otherwise():
    scores = np.array([[0.5, 0.5, 0.1],       # own item (0) tied with item 1
                       [0.9, 0.2, 0.2],       # own item (2) tied with 1, below 0
                       [0.3, 0.3, 0.3]])      # all tied
    assert ranks(scores, [0, 2, 1]).tolist() == [2, 3, 3]
    assert ranks(scores, [0, 2, 1], "optimistic").tolist() == [1, 2, 1]
    q = ItemSet(["a", "b", "c"], np.eye(3, dtype=np.float32))
    r = ItemSet(["a", "b", "c", "d"], np.array([[1, 0, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0]], np.float32))
    qs, rs, _ = match(q, r)
    report = evaluate_retrieval(q, r, qs, rs, hits=(1, 2))
    # a ties with b (rank 2); b's own reference is orthogonal to it, d is identical (rank 4); c is alone (1)
    assert report.ranks == [2, 4, 1]
    assert report.metrics["mrr"] == pytest.approx((1 / 2 + 1 / 4 + 1) / 3)
    assert report.metrics["hit@1"] == pytest.approx(1 / 3) and report.metrics["hit@2"] == pytest.approx(2 / 3)
    assert evaluate_retrieval(q, r, qs, rs, "optimistic").ranks == [1, 2, 1]   # b: only d scores higher


def test_unmatched_and_duplicate_ids_are_clear_errors():
    q = ItemSet(["a", "x", "y"], np.eye(3, dtype=np.float32))
    r = ItemSet(["a", "b"], np.eye(3, dtype=np.float32)[:2])
    with pytest.raises(InputError, match="2 queries have no reference: x, y"):
        match(q, r)
    assert match(q, r, allow_unmatched=True) == ([0], [0], ["x", "y"])
    assert match(q, r, pairs=[("x", "b"), ("y", "a")])[:2] == ([1, 2], [1, 0])
    with pytest.raises(InputError, match="occur more than once"):
        ItemSet(["a", "a"], np.eye(2, dtype=np.float32))


def test_macro_f1_leaves_out_a_class_nobody_has_and_counts_an_empty_one():
    m = classification_metrics(["jig", "jig", "reel", "reel"], ["jig", "reel", "reel", "air"],
                               labels=["jig", "reel", "air", "waltz"])
    # jig: P 1, R .5, F1 2/3; reel: P .5, R .5, F1 .5; air: predicted once, no support: F1 0; waltz: left out
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.5 + 0) / 3)
    assert m["accuracy"] == 0.5 and m["confusion"][1] == [0, 1, 1, 0] and m["per_class"]["waltz"]["support"] == 0


def test_frechet_distance_of_two_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, size=(200_000, 2))
    b = rng.normal(0, 1, size=(200_000, 2)) * np.array([2.0, 0.5]) + np.array([1.0, -1.0])
    # N(0, I) vs N(m, diag(4, .25)): |m|^2 + tr(I + S - 2 S^1/2) = 2 + (1 + 4 - 4) + (1 + .25 - 1)
    assert frechet_distance(a, b) == pytest.approx(2 + 1 + 0.25, abs=0.03)
    assert frechet_distance(a, a) == 0.0


def test_pair_and_group_scores():
    q = ItemSet(["a", "b"], np.array([[1, 0], [0, 1]], np.float32))
    r = ItemSet(["a", "b"], np.array([[1, 1], [0, 2]], np.float32))
    out = score_pairs(q, r, [0, 1], [0, 1])
    assert [p["score"] for p in out["pairs"]] == pytest.approx([2 ** -0.5, 1.0])
    assert out["mean"] == pytest.approx((2 ** -0.5 + 1) / 2)
    assert group_cosine(q.vectors, r.vectors) == pytest.approx(out["group"])
    assert out["group"] == pytest.approx(np.dot([0.5, 0.5], [0.5, 1.5]) / (np.sqrt(0.5) * np.sqrt(2.5)))


def _pairs_on_disk(tmp_path):
    tunes = {"jig": ABC_B, "march": ABC_A, "reel": ABC_A.replace("GABc", "BcdB"), "air": ABC_B.replace("dfa", "dFA")}
    (tmp_path / "texts").mkdir()
    (tmp_path / "music" / "sub").mkdir(parents=True)
    for i, (kind, abc) in enumerate(tunes.items()):
        sub = "sub/" if i % 2 else ""
        (tmp_path / "texts" / f"{sub}{i:02d}.txt").parent.mkdir(exist_ok=True)
        (tmp_path / "texts" / f"{sub}{i:02d}.txt").write_text(f"a {kind} for fiddle\n")
        (tmp_path / "music" / f"{sub}{i:02d}.abc").write_text(abc)
    return tmp_path / "texts", tmp_path / "music"


def test_eval_retrieval_end_to_end_equals_the_embeddings_it_reports(env, tmp_path, assets):
    from clamp_cli.models import load_model

    texts, music = _pairs_on_disk(tmp_path)
    env = fresh_cache(env, tmp_path)
    got = json.loads(run(["eval", "retrieval", "-Q", texts, "-R", music, "--hits", "1", "--hits", "2",
                          "--ranks", tmp_path / "ranks.tsv"], env, check=0).stdout)
    enc = load_model(str(assets["ours"]), device="cpu")
    ids = ["00", "02", "sub/01", "sub/03"]           # the walk's order: a folder's files, then its folders
    _, q = enc.embed_files([texts / f"{i}.txt" for i in ids])
    _, r = enc.embed_files([music / f"{i}.abc" for i in ids])
    expected = ranks((q / np.linalg.norm(q, axis=1, keepdims=True)) @ (r / np.linalg.norm(r, axis=1, keepdims=True)).T,
                     range(4))
    assert got["mrr"] == pytest.approx(float(np.mean(1 / expected)), abs=1e-6) and got["queries"] == 4
    assert got["hit@2"] == pytest.approx(float(np.mean(expected <= 2)), abs=1e-6)
    rows = [line.split("\t") for line in (tmp_path / "ranks.tsv").read_text().splitlines()]
    assert [row[0] for row in rows] == ids and [int(row[1]) for row in rows] == expected.tolist()
    # a JSONL of texts works as queries; --pairs maps other ids
    (tmp_path / "q.jsonl").write_text("".join(json.dumps({"id": f"q{i}", "text": f"tune {i}"}) + "\n" for i in ids))
    (tmp_path / "pairs.tsv").write_text("".join(f"q{i}\t{i}\n" for i in ids))
    got = json.loads(run(["eval", "retrieval", "-Q", tmp_path / "q.jsonl", "-R", music, "--pairs",
                          tmp_path / "pairs.tsv"], env, check=0).stdout)
    assert got["queries"] == 4 and got["references"] == 4
    # unmatched: one line naming them, exit 1; --allow-unmatched goes on
    (music / "02.abc").unlink()
    proc = run(["eval", "retrieval", "-Q", texts, "-R", music], env, check=1)
    assert error_lines(proc.stderr) == ["clamp: error: 1 query has no reference: 02; --allow-unmatched drops them"]
    assert json.loads(run(["eval", "retrieval", "-Q", texts, "-R", music, "--allow-unmatched"], env,
                          check=0).stdout)["queries"] == 3


def test_score_pairs_group_and_distance_end_to_end(env, tmp_path):
    texts, music = _pairs_on_disk(tmp_path)
    env = fresh_cache(env, tmp_path)
    out = json.loads(run(["score", "-Q", texts, "-R", music], env, check=0).stdout)
    assert out["n"] == 4 and out["mean"] == pytest.approx(np.mean([p["score"] for p in out["pairs"]]))
    group = json.loads(run(["score", "-Q", texts, "-R", music, "--group"], env, check=0).stdout)
    assert group["group"] == pytest.approx(out["group"], abs=1e-6)
    proc = run(["score", "-Q", music, "-R", music, "--fmd"], env, check=0)
    assert json.loads(proc.stdout)["frechet_distance"] == 0.0 and "unstable" in proc.stderr
    assert "needs at least 2" in run(["score", "-Q", music / "00.abc", "-R", music, "--fmd"], env, check=1).stderr
    proc = run(["score", "-Q", music, "-R", music, "--fmd", "--group"], env, check=2)
    assert error_lines(proc.stderr) == ["clamp: error: choose one of --group, --fmd and --outliers"]


def _labelled_folder(tmp_path):
    root = tmp_path / "tunes"
    tunes = {"jig": [ABC_B, ABC_B.replace("dfa", "fed"), ABC_B.replace("gbg", "gag")],
             "march": [ABC_A, ABC_A.replace("GABc", "BcdB"), ABC_A.replace("c2e2", "c2B2")]}
    for kind, abcs in tunes.items():
        (root / kind).mkdir(parents=True)
        for n, abc in enumerate(abcs):
            (root / kind / f"{kind}_{n}.abc").write_text(abc)
    return root


def test_eval_classify_matches_classify_and_reads_labels_every_way(env, tmp_path):
    root = _labelled_folder(tmp_path)
    env = fresh_cache(env, tmp_path)
    got = json.loads(run(["eval", "classify", root, "--prompt", "This piece is a <>", "--plot",
                          tmp_path / "cm.png", "--size", "640x480"], env, check=0).stdout)
    labelled = json.loads(run(["classify", root, "-l", "jig", "-l", "march", "-p", "This piece is a <>"], env,
                              check=0).stdout)
    truth = [Path(r["path"]).parent.name for r in labelled]
    predicted = [r["label"] for r in labelled]
    expected = classification_metrics(truth, predicted, ["jig", "march"])
    assert got["accuracy"] == pytest.approx(expected["accuracy"]) and got["confusion"] == expected["confusion"]
    assert got["macro_f1"] == pytest.approx(expected["macro_f1"], abs=1e-6) and got["n"] == 6
    from PIL import Image

    assert Image.open(tmp_path / "cm.png").size == (640, 480)
    first = (tmp_path / "cm.png").read_bytes()
    run(["eval", "classify", root, "--prompt", "This piece is a <>", "--plot", tmp_path / "cm.png", "--size",
         "640x480"], env, check=0)
    assert (tmp_path / "cm.png").read_bytes() == first                  # the same input draws the same bytes
    by_prefix = json.loads(run(["eval", "classify", root, "--labels-from", "prefix", "--prompt",
                                "This piece is a <>"], env, check=0).stdout)
    assert by_prefix["confusion"] == got["confusion"]
    (tmp_path / "labels.csv").write_text("id,label\n" + "".join(f"{k}_{n},{k}\n" for k in ("jig", "march")
                                                                 for n in range(3)))
    by_csv = json.loads(run(["eval", "classify", root, "--labels-from", tmp_path / "labels.csv", "--prompt",
                             "This piece is a <>"], env, check=0).stdout)
    assert by_csv["confusion"] == got["confusion"]
    # a label set with a third, empty class; items without labels; one class only
    (tmp_path / "set.txt").write_text("jig\nmarch\nwaltz\n")
    three = json.loads(run(["eval", "classify", root, "--label-set", tmp_path / "set.txt"], env, check=0).stdout)
    assert three["labels"] == ["jig", "march", "waltz"] and three["per_class"]["waltz"]["support"] == 0
    (tmp_path / "few.csv").write_text("jig_0,jig\nmarch_0,march\n")
    proc = run(["eval", "classify", root, "--labels-from", tmp_path / "few.csv"], env, check=1)
    assert "4 item(s) have no true label" in proc.stderr and len(error_lines(proc.stderr)) == 1
    assert json.loads(run(["eval", "classify", root, "--labels-from", tmp_path / "few.csv", "--allow-unmatched"],
                          env, check=0).stdout)["n"] == 2
    assert "needs at least two" in run(["eval", "classify", root / "jig", "--labels-from", "prefix"], env,
                                       check=1).stderr


def test_map_draws_a_reproducible_png_and_prints_coordinates(env, tmp_path):
    root = _labelled_folder(tmp_path)
    env = fresh_cache(env, tmp_path)
    proc = run(["map", root / "jig", root / "march", "-o", tmp_path / "map.png", "--size", "800x600",
                "-a", "jig_1", "--json"], env, check=0)
    points = json.loads(proc.stdout)
    assert sorted(p["group"] for p in points) == ["jig"] * 3 + ["march"] * 3
    from PIL import Image

    assert Image.open(tmp_path / "map.png").size == (800, 600)
    first = (tmp_path / "map.png").read_bytes()
    run(["map", root / "jig", root / "march", "-o", tmp_path / "map.png", "--size", "800x600", "-a", "jig_1"],
        env, check=0)
    assert (tmp_path / "map.png").read_bytes() == first
    # the coordinates are the PCA of the unit vectors: centred, the first axis carries the most variance
    xy = np.array([[p["x"], p["y"]] for p in points])
    assert np.allclose(xy.mean(axis=0), 0, atol=1e-5) and xy[:, 0].var() >= xy[:, 1].var()
    assert "no item" in run(["map", root, "-o", tmp_path / "m.png", "-a", "nothing-like-it"], env, check=2).stderr
    assert "at least 3" in run(["map", root / "jig" / "jig_0.abc", "-o", tmp_path / "m.png"], env, check=1).stderr
    assert "--size" in run(["map", root, "-o", tmp_path / "m.png", "--size", "big"], env, check=2).stderr


def test_probe_learns_separable_classes_and_is_tied_to_its_model(env, tmp_path):
    from clamp_cli.retrieval.probe import Probe, fit_probe, split

    rng = np.random.default_rng(0)
    centres = np.eye(3, 16) * 5
    labels = [c for c in ("air", "jig", "reel") for _ in range(20)]
    features = np.stack([centres[("air", "jig", "reel").index(c)] + rng.normal(0, 1, 16) for c in labels])
    train, val = split(labels, 0.2, seed=0)
    assert len(val) == 12 and sorted(np.array(labels)[val].tolist()) == ["air"] * 4 + ["jig"] * 4 + ["reel"] * 4
    assert set(train) | set(val) == set(range(60)) and not set(train) & set(val)
    probe, val, predicted = fit_probe(features, labels, "m1", seed=0)
    assert [probe.labels[j] for j in predicted] == [labels[i] for i in val]       # separable: all right
    probe.save(tmp_path / "p.safetensors")
    back = Probe.load(tmp_path / "p.safetensors")
    assert back.labels == ["air", "jig", "reel"] and back.model_id == "m1"
    assert np.allclose(back.probabilities(features), probe.probabilities(features), atol=1e-6)
    with pytest.raises(InputError, match="two classes"):
        fit_probe(features[:20], labels[:20], "m1")
    # end to end: fit on folders, predict, and refuse another model's probe
    root = _labelled_folder(tmp_path)
    env = fresh_cache(env, tmp_path)
    got = json.loads(run(["probe", "fit", root, "-o", tmp_path / "tunes.safetensors", "--val-share", "0.34"], env,
                         check=0).stdout)
    assert got["train"] == 4 and got["validation"] == 2 and got["labels"] == ["jig", "march"]
    predicted = json.loads(run(["probe", "predict", root, "--probe", tmp_path / "tunes.safetensors"], env,
                               check=0).stdout)
    assert sorted(p["id"] for p in predicted) == sorted(f"{k}/{k}_{n}" for k in ("jig", "march") for n in range(3))
    assert "fitted on features of m1" in run(["probe", "predict", root, "--probe", tmp_path / "p.safetensors"], env,
                                             check=1).stderr
    (tmp_path / "bogus.safetensors").write_bytes(b"nothing")
    assert "not a readable probe" in run(["probe", "predict", root, "--probe", tmp_path / "bogus.safetensors"], env,
                                         check=1).stderr


def test_outlier_scores_rank_the_stray_item_first(env, tmp_path):
    from clamp_cli.retrieval.metrics import outlier_scores

    rng = np.random.default_rng(1)
    ref = rng.normal(0, 1, size=(50, 8))
    items = np.stack([np.zeros(8), np.full(8, 6.0), rng.normal(0, 1, 8)])
    d = outlier_scores(items, ref, shrinkage=0.0)
    diff = items - ref.mean(axis=0)
    inv = np.linalg.inv(np.cov(ref, rowvar=False))
    assert d == pytest.approx(np.sqrt(np.einsum("ij,jk,ik->i", diff, inv, diff)))
    assert d.argmax() == 1
    texts, music = _pairs_on_disk(tmp_path)
    out = json.loads(run(["score", "-Q", music, "-R", music, "--outliers"], fresh_cache(env, tmp_path), check=0).stdout)
    assert len(out) == 4 and out[0]["outlier"] >= out[-1]["outlier"]
