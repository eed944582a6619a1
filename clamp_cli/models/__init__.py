"""Model layer: patchify, build, load and run the CLaMP family.

Public API: `load_model(name_or_path, text_backbone=..., device=...)` returns an
`Encoder` with `embed_music`, `embed_text`, `embed_text_files`, `embed_audio`.
Nothing here imports the CLI, the cache or retrieval.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .encoder import Encoder


def load_model(name_or_path: str, *, text_backbone: str | None = None, device: str = "auto") -> "Encoder":
    from .factory import load_model as _load

    return _load(name_or_path, text_backbone=text_backbone, device=device)


__all__ = ["load_model"]
