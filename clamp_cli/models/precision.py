"""Throughput past fp32 on the CPU (`--precision int8`): the music and audio transformers' block
layers quantised to int8 with PyTorch's dynamic quantisation (weights per output channel, the
activations' scale measured on each call).

Which layers: the Linear layers inside each transformer block of the music (and audio) encoder,
query, key, value, intermediate and output, but not the attention output projection, which
measured as the one that moves the vectors most (`benchmarks/precision.py`: at CLaMP 3's full
size, quantising it too cost cosine 0.9987 for 1.15x more speed); the patch embedding (read as a
gathered table), the projections into the joint space and the text side stay fp32, so text
queries are unchanged. The precision is part of the model id ("<id>+int8"), so its vectors are
cached, and kept in libraries, apart from fp32 ones. fp32 stays the default: the authors' numbers.
"""

from __future__ import annotations

PRECISIONS = ("fp32", "int8")


def precise_id(model_id: str, precision: str) -> str:
    """The id vectors of this precision are cached under."""
    return model_id if precision == "fp32" else f"{model_id}+{precision}"


def quantisable(name: str, layout) -> bool:
    """A Linear layer's module name -> whether int8 quantises it (the rule in the docstring)."""
    branches = [layout.music] + ([layout.audio] if layout.audio else [])
    return (any(name.startswith(f"{b}.") for b in branches) and ".encoder.layer." in name
            and not name.endswith("attention.output.dense"))


def quantised(model, layout):
    """The model with its quantisable layers in int8 (a new module tree; CPU only)."""
    import torch

    names = {n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and quantisable(n, layout)}
    qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # torch.ao.quantization's deprecation notices
        return torch.ao.quantization.quantize_dynamic(model, {n: qconfig for n in names}, dtype=torch.qint8,
                                                      inplace=True)     # no second copy of the model at load
