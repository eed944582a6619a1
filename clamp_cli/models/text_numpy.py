"""clamp-mini's text branch in numpy: a text query answered without importing torch.

The mini family's text side is e5 sentence vectors (`e5.E5Text`, numpy) through a small trained
projection (`architectures.TextProjection`): Linear, or Linear -> GELU -> Linear. This module
reads only the projection's tensors from model.safetensors (`safetensors.numpy`, memory-mapped;
fp16 weights widened to float32 as `load_state_dict` widens them) and computes, in float32 and
in the same order, what `Encoder.embed_prepared("text", ...)` computes with torch:

    per segment: masked mean of its rows      (hidden * mask).sum(1) / mask.sum(1)
    Linear:      x @ W.T + b
    GELU:        x * 0.5 * (1 + erf(x / sqrt 2))   (exact GELU, as nn.GELU())
    per input:   weighted mean of its segments' vectors

The results agree with torch's to float32 rounding (BLAS summation order and erf differ in the
last bits), not bit for bit. `LazyEncoder` uses this while the full encoder is not loaded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CheckpointFormatError, InputError
from .e5 import E5Text
from .families import FAMILIES
from .sequences import segment_plan, text_file_lines

_SQRT1_2 = np.float32(math.sqrt(0.5))
_erf = np.frompyfunc(math.erf, 1, 1)


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU in float32 (erf evaluated in double, rounded to float32)."""
    e = _erf((x * _SQRT1_2).astype(np.float64)).astype(np.float32)
    return x * np.float32(0.5) * (np.float32(1.0) + e)


class NumpyTextBranch:
    """The text projection of a mini checkpoint: sentence vectors (..., input_dim) -> (..., dim)."""

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray]], text_length: int = 128):
        self.layers, self.text_length = layers, int(text_length)
        self.input_dim, self.dim = int(layers[0][0].shape[1]), int(layers[-1][0].shape[0])

    @classmethod
    def open(cls, weights: str | Path, spec: dict[str, Any], where: str) -> "NumpyTextBranch":
        """Read the projection named by the family layout; check it against clamp.json's `spec`
        the way the torch loader does (sizes, then a strict fit of the keys)."""
        from safetensors import SafetensorError, safe_open

        prefix = FAMILIES[spec.get("family", "mini")].text_proj
        text = spec.get("text") or {}
        if "input_dim" not in text:
            raise CheckpointFormatError(f"{where}: {spec.get('family')} checkpoint without its text "
                                        "projection sizes in clamp.json")
        hidden = int(text.get("hidden_size", 0))
        names = [f"{prefix}.net.0", f"{prefix}.net.2"] if hidden else [f"{prefix}.net.0"]
        try:
            with safe_open(str(weights), framework="np") as f:
                keys = {k for k in f.keys() if k.startswith(f"{prefix}.")}
                want = {f"{n}.{p}" for n in names for p in ("weight", "bias")}
                if keys != want:
                    raise CheckpointFormatError(
                        f"{where}: weights do not fit the inferred {spec.get('family')} layout: text projection "
                        f"keys {sorted(keys)}, expected {sorted(want)}")
                layers = [(f.get_tensor(f"{n}.weight").astype(np.float32),
                           f.get_tensor(f"{n}.bias").astype(np.float32)) for n in names]
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointFormatError(f"{where}: not a readable safetensors file ({exc})") from None
        shapes = [(w.shape, b.shape) for w, b in layers]
        sizes = [int(text["input_dim"]), *([hidden] if hidden else []), int(spec["dim"])]
        expected = [((o, i), (o,)) for i, o in zip(sizes, sizes[1:])]
        if shapes != expected:
            raise CheckpointFormatError(f"{where}: inconsistent shapes: text projection is {shapes}, "
                                        f"expected {expected}")
        return cls(layers, int(spec.get("text_length", 128)))

    def project(self, x: np.ndarray) -> np.ndarray:
        """(n, input_dim) float32 -> (n, dim): `TextProjection.forward`."""
        for k, (w, b) in enumerate(self.layers):
            if k:
                x = gelu(x)
            x = x @ w.T + b
        return x

    def embed_prepared(self, seqs: Sequence[np.ndarray], batch_size: int | None = None) -> np.ndarray:
        """Prepared text sequences (each (rows, input_dim)) -> float32 (len(seqs), dim)."""
        out = np.zeros((len(seqs), self.dim), dtype=np.float32)
        plans = []
        means = []
        for seq in seqs:
            arr = np.asarray(seq, dtype=np.float32)
            if arr.ndim != 2 or arr.shape[1] != self.input_dim:
                raise InputError(f"text sequences must be shaped (rows, {self.input_dim}), got {arr.shape}")
            plan = segment_plan(len(arr), self.text_length)
            plans.append(plan)
            means.extend(arr[s:e].sum(axis=0) / np.float32(e - s) for s, e, _ in plan)
        if not means:
            return out
        step = max(1, batch_size or 64)
        stacked = np.stack(means)
        vectors = np.concatenate([self.project(stacked[i:i + step]) for i in range(0, len(stacked), step)])
        k = 0
        for item, plan in enumerate(plans):
            segs = vectors[k:k + len(plan)]
            if len(plan) == 1:
                out[item] = segs[0]
            else:
                weights = np.array([w for _, _, w in plan], dtype=np.float32).reshape(-1, 1)
                out[item] = (segs * weights).sum(axis=0) / weights.sum()
            k += len(plan)
        return out


class NumpyTextSide:
    """What `LazyEncoder` answers for a mini model without loading it: e5 vectors and the projection."""

    def __init__(self, branch: NumpyTextBranch, backbone: str):
        self.branch, self.e5 = branch, E5Text(backbone)

    def text_ids(self, text: str) -> np.ndarray:
        return self.e5.vectors([text])

    def text_file_ids(self, content: str) -> np.ndarray:
        return self.text_ids(text_file_lines(content, self.e5.sep_token))

    def embed_prepared(self, seqs: Sequence[np.ndarray], batch_size: int | None = None) -> np.ndarray:
        return self.branch.embed_prepared(seqs, batch_size)
