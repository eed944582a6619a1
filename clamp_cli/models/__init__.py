"""Model layer: patchify, build, load and run the CLaMP family.

Public API: `load_model(name_or_path, text_backbone=..., device=...)` returns an
`Encoder` with `embed_music`, `embed_text`, `embed_text_files`, `embed_audio`.
With `lazy=True` it returns a `LazyEncoder` when the model's family, size and
id can be read without its weights: the weights (and torch) are loaded on
first use, so work answered from a cache never pays for them.
Nothing here imports the CLI, the cache or retrieval.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import CheckpointFormatError
from .families import FAMILIES

if TYPE_CHECKING:  # pragma: no cover
    from .encoder import Encoder


class LazyEncoder:
    """An `Encoder`'s facts now (family, dim, ids, scale); the encoder itself on first use."""

    def __init__(self, facts: dict[str, Any], load: Callable[[], "Encoder"]):
        self.family, self.dim, self.model_id = facts["family"], facts["dim"], facts["model_id"]
        self.text_backbone, self.source = facts["text_backbone"], facts["source"]
        self.text_id = f"{self.model_id}+{self.text_backbone}"
        self._load, self._encoder = load, None

    @property
    def logit_scale(self) -> float:
        return FAMILIES[self.family].logit_scale

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

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._get(), name)


def load_model(name_or_path: str, *, text_backbone: str | None = None, device: str = "auto",
               lazy: bool = False, on_load: Callable[[], None] | None = None):
    """Registry name or local checkpoint -> `Encoder` (or `LazyEncoder` with lazy=True)."""

    def load() -> "Encoder":
        from .factory import load_model as _load

        if on_load:
            on_load()
        return _load(name_or_path, text_backbone=text_backbone, device=device)

    if lazy:
        from .factory import peek

        facts = peek(name_or_path, text_backbone)
        if facts is not None:
            return LazyEncoder(facts, load)
    return load()


__all__ = ["LazyEncoder", "load_model"]
