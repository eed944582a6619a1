"""A linear probe on frozen global features: what the authors' train_cls.py / inference_cls.py do.

Softmax regression trained full-batch with Adam on a seeded, stratified train/validation split,
stopping when the validation loss has not improved for `patience` epochs and keeping the best
weights. torch (already a dependency) is enough for a linear layer; scikit-learn would add a
large dependency for the same model. Saved as safetensors with the labels and the feature
model's id in the metadata, so a probe is never applied to another model's features.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..index.vectors import normalize


@dataclass
class Probe:
    weight: np.ndarray           # (classes, dim)
    bias: np.ndarray             # (classes,)
    labels: list[str]
    model_id: str

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        from . import softmax_rows

        return softmax_rows(normalize(features) @ self.weight.T + self.bias)

    def save(self, path: Path) -> None:
        from safetensors.numpy import save

        from ..fsutil import atomic_write

        meta = {"labels": json.dumps(self.labels, ensure_ascii=False), "model_id": self.model_id, "format": "clamp-probe-1"}
        data = save({"weight": self.weight.astype(np.float32), "bias": self.bias.astype(np.float32)}, metadata=meta)
        atomic_write(path, lambda f: f.write(data))

    @classmethod
    def load(cls, path: Path) -> Probe:
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="numpy") as f:
                meta = f.metadata() or {}
                if meta.get("format") != "clamp-probe-1":
                    raise InputError(f"{path}: not a probe written by clamp probe fit")
                return cls(f.get_tensor("weight"), f.get_tensor("bias"), json.loads(meta["labels"]), meta["model_id"])
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own error type for damaged files
            raise InputError(f"{path}: not a readable probe ({str(exc)[:80]})") from None


def split(labels: Sequence[str], share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified: each class gives round(share * n) items (at least 1 when it has 2) to validation."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in sorted(set(labels)):
        rows = np.array([i for i, x in enumerate(labels) if x == label])
        rng.shuffle(rows)
        k = int(round(share * len(rows)))
        k = max(k, 1) if len(rows) >= 2 else 0
        val += rows[:k].tolist()
        train += rows[k:].tolist()
    return np.array(sorted(train)), np.array(sorted(val))


def fit_probe(features: np.ndarray, labels: Sequence[str], model_id: str, *, val_share: float = 0.2, seed: int = 0,
              balanced: bool = False, lr: float = 1e-2, max_epochs: int = 2000, patience: int = 50,
              weight_decay: float = 1e-4) -> tuple[Probe, np.ndarray, np.ndarray]:
    """(probe, validation rows, their predicted class indices)."""
    import torch

    classes = sorted(set(labels))
    if len(classes) < 2:
        raise InputError(f"a probe needs at least two classes, found {len(classes)}")
    train, val = split(labels, val_share, seed)
    if len(val) == 0:
        raise InputError("too few items for a validation split (every class has one item)")
    y = torch.tensor([classes.index(x) for x in labels])
    x = torch.tensor(normalize(features), dtype=torch.float32)
    torch.manual_seed(seed)
    layer = torch.nn.Linear(x.shape[1], len(classes))
    counts = torch.bincount(y[train], minlength=len(classes)).clamp(min=1).float()
    class_weight = (counts.sum() / (len(classes) * counts)) if balanced else None
    loss_fn = torch.nn.CrossEntropyLoss(weight=class_weight)
    opt = torch.optim.Adam(layer.parameters(), lr=lr, weight_decay=weight_decay)
    best, best_state, waited = float("inf"), None, 0
    for _ in range(max_epochs):
        opt.zero_grad()
        loss = loss_fn(layer(x[train]), y[train])
        loss.backward()
        opt.step()
        with torch.no_grad():
            val_loss = float(loss_fn(layer(x[val]), y[val]))
        if val_loss < best - 1e-6:
            best, waited = val_loss, 0
            best_state = {k: v.detach().clone() for k, v in layer.state_dict().items()}
        else:
            waited += 1
            if waited >= patience:
                break
    layer.load_state_dict(best_state)
    probe = Probe(layer.weight.detach().numpy().copy(), layer.bias.detach().numpy().copy(), classes, model_id)
    predicted = probe.probabilities(features[val]).argmax(axis=1)
    return probe, val, predicted
