"""Model layer: patchify, build, load and run the CLaMP family.

Public API: `load_model(name_or_path, text_backbone=..., device=...)` returns an
`Encoder` (see `MusicTextEncoder` for what it offers). With `lazy=True` it
returns a `LazyEncoder` when the model's family, size and id can be read
without its weights: the weights (and torch) are loaded on first use, so work
answered from a cache never pays for them. For clamp-mini (family "mini", a frozen e5
text side) text is answered before that by a numpy copy of the text branch
(`text_numpy`): a text query never imports torch.
Nothing here imports the CLI, the cache or retrieval.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from ..errors import CheckpointFormatError
from .families import FAMILIES, FamilyLayout
from .files import FileEmbedding

if TYPE_CHECKING:  # pragma: no cover
    from .encoder import Encoder


@runtime_checkable
class MusicTextEncoder(Protocol):
    """What every encoder offers: `Encoder` (loaded) and `LazyEncoder` (loads on first use).

    Facts (no model needed): family, dim, model_id (weights, for cache keys), text_id (weights
    and text backbone), text_backbone, source, logit_scale, layout. Preparation turns model text,
    strings and features into sequences; `embed_prepared` turns sequences into global vectors.
    """

    family: str
    dim: int
    model_id: str
    text_id: str
    text_backbone: str
    source: str
    logit_scale: float

    @property
    def layout(self) -> FamilyLayout: ...

    def music_ids(self, text: str) -> np.ndarray: ...

    def text_ids(self, text: str) -> np.ndarray: ...

    def text_file_ids(self, content: str) -> np.ndarray: ...

    def audio_frames(self, features: np.ndarray) -> np.ndarray: ...

    def embed_prepared(self, kind: str, seqs: Sequence[np.ndarray], batch_size: int | None = None,
                       on_progress: Callable[[int], None] | None = None) -> np.ndarray: ...

    def embed_music(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray: ...

    def embed_text(self, strings: Sequence[str], batch_size: int | None = None) -> np.ndarray: ...

    def embed_text_files(self, contents: Sequence[str], batch_size: int | None = None) -> np.ndarray: ...

    def embed_audio(self, arrays: Sequence[np.ndarray], batch_size: int | None = None) -> np.ndarray: ...

    def embed_scores(self, scores: Sequence[str | bytes], format: str = "abc",
                     batch_size: int | None = None) -> np.ndarray: ...

    def embed_files(self, paths: Sequence, whole_file: bool = False,
                    batch_size: int | None = None) -> tuple[list[str], np.ndarray]: ...


class LazyEncoder(FileEmbedding):
    """An `Encoder`'s facts now (family, dim, ids, scale); the encoder itself on first use."""

    def __init__(self, facts: dict[str, Any], load: Callable[[], "Encoder"]):
        self.family, self.dim, self.model_id = facts["family"], facts["dim"], facts["model_id"]
        self.text_backbone, self.source = facts["text_backbone"], facts["source"]
        self.text_id = f"{self.model_id}+{self.text_backbone}"
        self.logit_scale = facts.get("logit_scale", FAMILIES[self.family].logit_scale)
        self._load, self._encoder = load, None
        self._weights, self._spec = facts.get("weights"), facts.get("spec")
        self.audio_size: int | None = facts.get("audio_size")   # width of the MERT frames it reads
        self._text: Any = None

    @property
    def layout(self) -> FamilyLayout:
        return FAMILIES[self.family]

    @property
    def is_loaded(self) -> bool:
        return self._encoder is not None

    def _get(self) -> "Encoder":
        if self._encoder is None:
            encoder = self._load()
            if (encoder.model_id, encoder.text_id, encoder.dim) != (self.model_id, self.text_id, self.dim):
                raise CheckpointFormatError(
                    f"{self.source}: its config disagrees with its weights "
                    f"(weights say {encoder.model_id}, dim {encoder.dim}; config said {self.model_id}, dim {self.dim})")
            self._encoder = encoder
        return self._encoder

    def _text_side(self):
        """The numpy text branch (`text_numpy.NumpyTextSide`) while the encoder is not loaded and the
        family's text side is e5 + a projection; None otherwise (the loaded encoder answers)."""
        if self._encoder is not None or self.layout.text_encoder != "e5" or not (self._weights and self._spec):
            return None
        if self._text is None:
            from .text_numpy import NumpyTextBranch, NumpyTextSide

            branch = NumpyTextBranch.open(self._weights, self._spec, self.source)
            if branch.dim != self.dim:
                raise CheckpointFormatError(f"{self.source}: its text projection gives {branch.dim}-d vectors; "
                                            f"its config says dim {self.dim}")
            self._text = NumpyTextSide(branch, self.text_backbone)
        return self._text

    def music_ids(self, text: str) -> np.ndarray:
        return self._get().music_ids(text)

    def text_ids(self, text: str) -> np.ndarray:
        side = self._text_side()
        return side.text_ids(text) if side else self._get().text_ids(text)

    def text_file_ids(self, content: str) -> np.ndarray:
        side = self._text_side()
        return side.text_file_ids(content) if side else self._get().text_file_ids(content)

    def audio_frames(self, features: np.ndarray) -> np.ndarray:
        return self._get().audio_frames(features)

    def embed_prepared(self, kind: str, seqs: Sequence[np.ndarray], batch_size: int | None = None,
                       on_progress: Callable[[int], None] | None = None) -> np.ndarray:
        side = self._text_side() if kind == "text" else None
        if side is None:
            return self._get().embed_prepared(kind, seqs, batch_size, on_progress)
        out = side.embed_prepared(seqs, batch_size)
        if on_progress and len(seqs):
            on_progress(len(seqs))
        return out

    def embed_music(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return self._get().embed_music(texts, batch_size)

    def embed_text(self, strings: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        if self._text_side() is None:
            return self._get().embed_text(strings, batch_size)
        return self.embed_prepared("text", [self.text_ids(s) for s in strings], batch_size)

    def embed_text_files(self, contents: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        if self._text_side() is None:
            return self._get().embed_text_files(contents, batch_size)
        return self.embed_prepared("text", [self.text_file_ids(c) for c in contents], batch_size)

    def embed_audio(self, arrays: Sequence[np.ndarray], batch_size: int | None = None) -> np.ndarray:
        return self._get().embed_audio(arrays, batch_size)


def load_model(name_or_path: str, *, text_backbone: str | None = None, device: str = "auto",
               lazy: bool = False, on_load: Callable[[], None] | None = None, download: bool = True,
               precision: str = "fp32"):
    """Registry name or local checkpoint -> `Encoder` (or `LazyEncoder` with lazy=True).

    With `download=False` (the CLI) a registry model that is not in the cache fails at
    once, before torch is imported and without touching the network.
    """
    if not download:
        from .pretrained import registry, require_cached

        if name_or_path in registry():
            require_cached(registry()[name_or_path])

    def load() -> "Encoder":
        from .factory import load_model as _load

        if on_load:
            on_load()
        return _load(name_or_path, text_backbone=text_backbone, device=device, precision=precision)

    if lazy:
        from .factory import peek
        from .precision import precise_id

        facts = peek(name_or_path, text_backbone)
        if facts is not None:
            return LazyEncoder({**facts, "model_id": precise_id(facts["model_id"], precision)}, load)
    return load()


__all__ = ["LazyEncoder", "MusicTextEncoder", "load_model"]
