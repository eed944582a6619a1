"""`Encoder`: model text, strings and audio features in, global vectors out.

Global features follow MODELS.md section 4 for CLaMP 2/3 (segments of L, the
last one re-anchored to the end, weighted mean) and the authors' truncation
for CLaMP 1. Segments from many inputs are sorted by length and batched with
padding to the longest in the batch only; attention masking makes the result
independent of batch size and grouping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from unidecode import unidecode

from ..errors import InputError
from .architectures import ClampModel, ModelSpec
from .files import FileEmbedding
from .patching import clamp1_patches, m3_patches
from .sequences import segment_plan, text_file_lines

KINDS = ("music", "text", "audio")
DEFAULT_BATCH_SIZE = {"music": 16, "text": 64, "audio": 32}


@dataclass
class _Segment:
    item: int
    start: int
    end: int
    weight: int

    @property
    def size(self) -> int:
        return self.end - self.start


class Encoder(FileEmbedding):
    """A loaded model with the preprocessing of its family.

    `model_id` identifies the weights (for cache keys); `text_id` also covers
    the tokenizer, which only text embeddings depend on.
    """

    def __init__(self, model: ClampModel, spec: ModelSpec, tokenizer, model_id: str,
                 device: torch.device, source: str, text_backbone: str):
        self.model, self.spec, self.tokenizer = model, spec, tokenizer
        self.model_id, self.device, self.source = model_id, device, source
        self.text_backbone = text_backbone
        self.text_id = f"{model_id}+{text_backbone}"

    # -- facts -------------------------------------------------------------
    @property
    def family(self) -> str:
        return self.spec.family

    @property
    def layout(self):
        return self.spec.layout

    @property
    def dim(self) -> int:
        return self.spec.dim

    @property
    def logit_scale(self) -> float:
        return self.spec.scale

    @property
    def supports_audio(self) -> bool:
        return self.model.has_audio

    @property
    def audio_size(self) -> int | None:
        """The width of the MERT frames the audio branch reads (None without one)."""
        return self.model.audio_input_size

    def segment_length(self, kind: str) -> int:
        return {"music": self.spec.music_length, "text": self.spec.text_length,
                "audio": self.spec.audio_length}[kind]

    # -- preprocessing (no model involved) ----------------------------------
    def music_ids(self, text: str) -> np.ndarray:
        """Model text (ABC/MTF for CLaMP 2/3, filtered ABC for CLaMP 1) -> patch ids."""
        lay = self.spec.layout
        if lay.patching == "bar":
            return clamp1_patches(text, max_patches=self.spec.music_length, patch_size=self.spec.patch_size)
        return m3_patches(text, drop_default_length=lay.drop_default_length, patch_size=self.spec.patch_size)

    def text_ids(self, text: str) -> np.ndarray:
        """A query string -> token ids (one line of text for CLaMP 2/3); one sentence vector for e5."""
        lay = self.spec.layout
        if lay.text_encoder == "e5":
            return self.tokenizer.vectors([text])
        if lay.truncates:
            # The CLaMP 1 tool transliterates queries and truncates to 128 tokens.
            enc = self.tokenizer(unidecode(text), truncation=True, max_length=self.spec.text_length)
        else:
            enc = self.tokenizer(text)
        return np.asarray(enc["input_ids"], dtype=np.int64)

    def text_file_ids(self, content: str) -> np.ndarray:
        """A .txt file's content -> token ids (section 4: lines deduplicated, sep-joined)."""
        if self.spec.layout.truncates:
            if not content.strip():
                raise InputError("empty text")
            return self.text_ids(content)
        return self.text_ids(text_file_lines(content, self.tokenizer.sep_token))

    def audio_frames(self, features: np.ndarray) -> np.ndarray:
        """MERT features (any shape ending in the feature size) -> frames with zero ends."""
        if not self.supports_audio:
            raise InputError(f"model family {self.family} has no audio encoder (use a CLaMP 3 model)")
        size = self.model.audio_input_size
        arr = np.asarray(features)
        real = np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)   # not complex
        if arr.ndim == 0 or arr.shape[-1] != size or arr.size == 0 or not real:
            raise InputError(f"audio features must be real numbers shaped (..., {size}), got {arr.dtype} {arr.shape}")
        with np.errstate(over="ignore", invalid="ignore"):    # past float32's range: inf, refused below
            frames = arr.reshape(-1, size).astype(np.float32)
        if not np.isfinite(frames).all():
            raise InputError("audio features hold NaN or infinite values (or values past float32's range)")
        zero = np.zeros((1, size), dtype=np.float32)
        return np.concatenate([zero, frames, zero])

    # -- embedding ----------------------------------------------------------
    def embed_music(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return self.embed_prepared("music", [self.music_ids(t) for t in texts], batch_size)

    def embed_text(self, strings: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return self.embed_prepared("text", [self.text_ids(s) for s in strings], batch_size)

    def embed_text_files(self, contents: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return self.embed_prepared("text", [self.text_file_ids(c) for c in contents], batch_size)

    def embed_audio(self, arrays: Sequence[np.ndarray], batch_size: int | None = None) -> np.ndarray:
        return self.embed_prepared("audio", [self.audio_frames(a) for a in arrays], batch_size)

    def embed_prepared(self, kind: str, seqs: Sequence[np.ndarray], batch_size: int | None = None,
                       on_progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Prepared sequences of one kind -> float32 array (len(seqs), dim).

        `on_progress(k)` is called with the number of inputs finished after each batch.
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        out = np.zeros((len(seqs), self.dim), dtype=np.float32)
        if not seqs:
            return out
        length = self.segment_length(kind)
        segments: list[_Segment] = []
        for i, seq in enumerate(seqs):
            if self.spec.layout.truncates:  # CLaMP 1 truncates in preprocessing: one segment
                segments.append(_Segment(i, 0, len(seq), 1))
            else:
                segments.extend(_Segment(i, s, e, w) for s, e, w in segment_plan(len(seq), length))
        remaining = [0] * len(seqs)
        for seg in segments:
            remaining[seg.item] += 1
        vectors: list[torch.Tensor | None] = [None] * len(segments)
        order = sorted(range(len(segments)), key=lambda k: -segments[k].size)
        step = max(1, batch_size or DEFAULT_BATCH_SIZE[kind])
        encode = {"music": self.model.encode_music, "text": self.model.encode_text,
                  "audio": self.model.encode_audio}[kind]
        pad_value = self.tokenizer.pad_token_id if kind == "text" else 0
        with torch.inference_mode():
            for b in range(0, len(order), step):
                batch = [segments[k] for k in order[b:b + step]]
                x, mask = self._pad_batch([seqs[s.item][s.start:s.end] for s in batch], pad_value)
                result = encode(x.to(self.device), mask.to(self.device)).float().cpu()
                done = 0
                for k, vec in zip(order[b:b + step], result):
                    vectors[k] = vec
                    remaining[segments[k].item] -= 1
                    done += remaining[segments[k].item] == 0
                if on_progress and done:
                    on_progress(done)
        self._combine(segments, vectors, out)
        return out

    @staticmethod
    def _pad_batch(parts: list[np.ndarray], pad_value: int) -> tuple[torch.Tensor, torch.Tensor]:
        longest = max(len(p) for p in parts)
        first = parts[0]
        shape = (len(parts), longest) + first.shape[1:]
        x = np.full(shape, pad_value, dtype=first.dtype)
        mask = np.zeros((len(parts), longest), dtype=np.int64)
        for row, part in enumerate(parts):
            x[row, : len(part)] = part
            mask[row, : len(part)] = 1
        return torch.from_numpy(x), torch.from_numpy(mask)

    @staticmethod
    def _combine(segments: list[_Segment], vectors: list, out: np.ndarray) -> None:
        """Weighted mean of each input's segment vectors, in segment order (as the authors)."""
        by_item: dict[int, list[int]] = {}
        for k, seg in enumerate(segments):
            by_item.setdefault(seg.item, []).append(k)
        for item, ks in by_item.items():
            if len(ks) == 1:
                out[item] = vectors[ks[0]].numpy()
                continue
            stacked = torch.stack([vectors[k] for k in ks])
            weights = torch.tensor([segments[k].weight for k in ks]).view(-1, 1)
            out[item] = ((stacked * weights).sum(dim=0) / weights.sum()).numpy()
