"""Retrieval and classification metrics (numpy only), shared by training, `clamp eval` and the model card.

Ranks count ties against the query by default: the rank of the correct item is 1 + the number
of other candidates scoring at least as high ("pessimistic"). The CLaMP authors' evaluation
breaks ties in favour of the correct item ("optimistic": 1 + the number scoring strictly higher).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def ranks(scores: np.ndarray, correct: Sequence[int], ties: str = "pessimistic") -> np.ndarray:
    """1-based rank of `correct[i]` in row i of a (queries x candidates) score matrix."""
    scores = np.asarray(scores, dtype=np.float64)
    idx = np.asarray(correct, dtype=np.int64)
    right = scores[np.arange(len(idx)), idx][:, None]
    if ties == "optimistic":
        return (scores > right).sum(axis=1) + 1
    if ties != "pessimistic":
        raise ValueError("ties must be 'pessimistic' or 'optimistic'")
    return (scores >= right).sum(axis=1)  # the correct one counts itself: 1 + others >= it


def retrieval_metrics(rank_list: np.ndarray, hits: Sequence[int] = (1, 10, 100)) -> dict[str, float]:
    r = np.asarray(rank_list, dtype=np.float64)
    if r.size == 0:
        raise ValueError("no queries")
    out = {"mrr": float(np.mean(1.0 / r))}
    for k in hits:
        out[f"hit@{k}"] = float(np.mean(r <= k))
    out["queries"] = int(r.size)
    return out


def ranked_list_metrics(ranked: Sequence[Sequence[int]], relevant: Sequence[set[int]],
                        hits: Sequence[int] = (1, 10, 100)) -> dict[str, float]:
    """MRR, MAP and Hit@K of ranked lists that may stop short (a search returning only its best
    candidates): a relevant item missing from a list is ranked nowhere (reciprocal rank 0, and
    it lowers that query's average precision as one never found)."""
    if not ranked:
        raise ValueError("no queries")
    rr, ap, first = [], [], []
    for order, wanted in zip(ranked, relevant):
        found, total, rank = 0, 0.0, None
        for position, item in enumerate(order, start=1):
            if item in wanted:
                found += 1
                total += found / position
                rank = rank or position
        rr.append(1.0 / rank if rank else 0.0)
        ap.append(total / max(len(wanted), 1))
        first.append(rank or np.inf)
    out = {"mrr": float(np.mean(rr)), "map": float(np.mean(ap))}
    for k in hits:
        out[f"hit@{k}"] = float(np.mean(np.asarray(first) <= k))
    out["queries"] = len(rr)
    return out


def classification_metrics(truth: Sequence[str], predicted: Sequence[str],
                           labels: Sequence[str] | None = None) -> dict:
    """Accuracy, macro-F1 over the labels (a class with no support and no prediction is left out),
    per-class precision/recall/F1/support and the confusion matrix (rows: truth, columns: predicted)."""
    truth, predicted = list(truth), list(predicted)
    if not truth or len(truth) != len(predicted):
        raise ValueError("truth and predictions must be non-empty and of equal length")
    labels = list(labels) if labels is not None else sorted(set(truth) | set(predicted))
    pos = {label: i for i, label in enumerate(labels)}
    confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(truth, predicted):
        confusion[pos[t], pos[p]] += 1
    per_class, f1s = {}, []
    for i, label in enumerate(labels):
        tp = confusion[i, i]
        support, predicted_n = confusion[i].sum(), confusion[:, i].sum()
        precision = tp / predicted_n if predicted_n else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {"precision": float(precision), "recall": float(recall), "f1": float(f1),
                            "support": int(support)}
        if support or predicted_n:
            f1s.append(f1)
    return {"accuracy": float(np.trace(confusion) / confusion.sum()), "macro_f1": float(np.mean(f1s)),
            "per_class": per_class, "labels": labels, "confusion": confusion.tolist(), "n": len(truth)}


def pair_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of each row of `a` with the same row of `b`."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def group_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of the two sets' mean vectors (the authors' group similarity)."""
    return float(pair_cosines(np.asarray(a).mean(axis=0, keepdims=True), np.asarray(b).mean(axis=0, keepdims=True))[0])


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2): FID's formula on any feature sets.

    The square root of the product is taken through the symmetric form S_a^1/2 S_b S_a^1/2,
    whose eigenvalues are real and non-negative, so no complex parts need discarding.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    w, v = np.linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_root = float(np.sqrt(np.clip(middle, 0, None)).sum())
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root)
    return max(value, 0.0)      # a distance: rounding can leave -1e-5 for two equal sets


def outlier_scores(items: np.ndarray, reference: np.ndarray, shrinkage: float = 0.1) -> np.ndarray:
    """How far each item lies from the reference set's distribution: the Mahalanobis distance
    under the reference covariance, shrunk towards its mean variance (so that a set smaller than
    the dimension still gives a usable, invertible covariance)."""
    x, ref = np.asarray(items, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    mu = ref.mean(axis=0)
    cov = np.atleast_2d(np.cov(ref, rowvar=False)) if len(ref) > 1 else np.zeros((ref.shape[1], ref.shape[1]))
    target = np.trace(cov) / cov.shape[0] if np.trace(cov) > 0 else 1.0
    cov = (1 - shrinkage) * cov + shrinkage * target * np.eye(cov.shape[0])
    diff = x - mu
    return np.sqrt(np.einsum("ij,ij->i", diff @ np.linalg.inv(cov), diff))


def expected_calibration_error(probs: np.ndarray, truth: Sequence[int], bins: int = 15) -> float:
    """ECE of the top label's probability: the mean |accuracy - confidence| over equal-width
    confidence bins, weighted by the share of pieces in each."""
    probs = np.asarray(probs, dtype=np.float64)
    conf = probs.max(axis=1)
    right = probs.argmax(axis=1) == np.asarray(truth)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.mean() * abs(right[inside].mean() - conf[inside].mean())
    return float(total)


def fit_scale(logits: Sequence[np.ndarray], truth: Sequence[Sequence[int]]) -> float:
    """The softmax scale (cosine x scale) that minimises the negative log-likelihood of the true
    labels over several classification tasks at once (temperature scaling; a grid, then refined)."""
    def nll(scale: float) -> float:
        total, n = 0.0, 0
        for cos, t in zip(logits, truth):
            z = np.asarray(cos, dtype=np.float64) * scale
            z = z - z.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            total -= float(logp[np.arange(len(t)), np.asarray(t)].sum())
            n += len(t)
        return total / max(n, 1)

    grid = np.geomspace(0.5, 500.0, 80)
    best = float(grid[int(np.argmin([nll(s) for s in grid]))])
    fine = np.linspace(best / 1.1, best * 1.1, 41)
    return float(fine[int(np.argmin([nll(s) for s in fine]))])
