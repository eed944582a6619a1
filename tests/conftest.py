"""Shared fixtures: tiny random checkpoints in the official layouts, built offline.

Everything is written once per session under pytest's temporary directory and
loaded through the public factory, the same path a real download takes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def assets(tmp_path_factory) -> dict[str, Path]:
    from clamp_cli.models.random_init import build_text_backbone, make_random_checkpoint

    root = tmp_path_factory.mktemp("assets")
    xlmr = build_text_backbone(root / "xlmr-tiny", model_type="xlm-roberta")
    roberta = build_text_backbone(root / "roberta-tiny", model_type="roberta")
    out = {"xlmr": xlmr, "roberta": roberta}
    out["clamp3"] = make_random_checkpoint("clamp3", root / "clamp3.pth", xlmr, seed=3)
    out["clamp2"] = make_random_checkpoint("clamp2", root / "clamp2.pth", xlmr, seed=2)
    out["clamp1"] = make_random_checkpoint("clamp1", root / "clamp1", roberta, seed=1, clamp1_max_length=40)
    # short segments so that multi-segment inputs stay cheap
    out["clamp3-short"] = make_random_checkpoint("clamp3", root / "clamp3-short.pth", xlmr, seed=4,
                                                 music_positions=16, audio_positions=8)
    out["ours"] = make_random_checkpoint("clamp3", root / "ours", xlmr, seed=5, layout="ours")
    return out


@pytest.fixture(scope="session")
def encoders(assets):
    from clamp_cli.models import load_model

    cache = {}

    def get(name: str):
        if name not in cache:
            backbone = assets["roberta" if name == "clamp1" else "xlmr"]
            cache[name] = load_model(str(assets[name]), text_backbone=str(backbone), device="cpu")
        return cache[name]

    return get


@pytest.fixture(scope="module")
def env(assets, tmp_path_factory):
    """The environment of a CLI test: offline, the tiny random clamp3 model, a cache of the module's own."""
    e = dict(os.environ)
    e.update(HF_HUB_OFFLINE="1", CLAMP_MODEL=str(assets["ours"]),
             CLAMP_CACHE_DIR=str(tmp_path_factory.mktemp("cache")), NO_COLOR="1", TOKENIZERS_PARALLELISM="false")
    e.pop("CLAMP_TEXT_BACKBONE", None)
    return e
