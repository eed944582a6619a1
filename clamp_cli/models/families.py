"""The CLaMP families as data: submodule names, patch vocabulary, logit scale.

Kept free of torch so that cheap questions (which family, what scale) never
pay for importing it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class FamilyLayout:
    text: str
    text_proj: str
    music: str
    music_base: str
    music_proj: str
    patch_vocab: int
    logit_scale: float
    audio: str | None = None
    audio_proj: str | None = None
    default_text_backbone: str = "FacebookAI/xlm-roberta-base"


FAMILIES: dict[str, FamilyLayout] = {
    # CLaMP 1 ranks with cos * e (temperature 1 in the authors' compute_values).
    "clamp1": FamilyLayout("text_enc", "text_proj", "music_enc", "enc", "music_proj", 98, math.e,
                           default_text_backbone="distilroberta-base"),
    # CLaMP 2 and 3 were trained with LOGIT_SCALE = 1.
    "clamp2": FamilyLayout("text_model", "text_proj", "music_model", "base", "music_proj", 128, 1.0),
    "clamp3": FamilyLayout("text_model", "text_proj", "symbolic_model", "base", "symbolic_proj", 128, 1.0,
                           audio="audio_model", audio_proj="audio_proj"),
}
