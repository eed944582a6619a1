"""Random checkpoints in the official layouts, and a tiny text backbone, built offline.

They exercise the exact loading path of a real download (same files, same
keys, same containers) on machines where the published weights cannot be
fetched: the test suite, the README quickstart, benchmarks. Random weights
give meaningless rankings, so nothing here pretends to be a trained model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from .architectures import ClampModel, ModelSpec
from .families import FAMILIES

# A few sentences in several scripts, so the tiny tokenizer has merges for common words.
_CORPUS = [
    "a happy jazz song", "a sad piano ballad in a minor key", "a Chinese folk song in a pentatonic mode",
    "This piece is a lively Irish jig", "a Bach chorale for four voices", "une chanson populaire française",
    "ein deutsches Volkslied", "一首欢快的中国民歌", "cantiga de amigo", "music for strings and orchestra",
]


def build_text_backbone(out_dir: str | Path, *, model_type: str = "xlm-roberta", hidden_size: int = 64,
                        num_layers: int = 2, vocab_size: int = 400, max_positions: int = 130) -> Path:
    """Write a tokenizer (byte-level BPE, RoBERTa special tokens) and a config to out_dir."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import AutoConfig, PreTrainedTokenizerFast

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # ids 0..4, RoBERTa's order
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_CORPUS * 4, trainer)
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                                   cls_token="<s>", pad_token="<pad>", unk_token="<unk>", mask_token="<mask>")
    fast.save_pretrained(str(out))
    config = AutoConfig.for_model(
        model_type, vocab_size=len(fast), hidden_size=hidden_size, num_hidden_layers=num_layers,
        num_attention_heads=max(1, hidden_size // 64), intermediate_size=hidden_size * 2,
        max_position_embeddings=max_positions, pad_token_id=1, bos_token_id=0, eos_token_id=2,
        type_vocab_size=1)
    config.save_pretrained(str(out))
    return out


def random_spec(family: str, text_config: dict[str, Any], *, dim: int = 64, hidden_size: int = 64,
                num_layers: int = 2, music_positions: int = 512, audio_positions: int = 128,
                clamp1_max_length: int | None = None) -> ModelSpec:
    """A small spec in the family's layout (head size 64, as the authors')."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family}")

    def bert(positions: int) -> dict[str, Any]:
        return dict(vocab_size=1, hidden_size=hidden_size, num_hidden_layers=num_layers,
                    num_attention_heads=max(1, hidden_size // 64), intermediate_size=hidden_size * 4,
                    max_position_embeddings=positions)

    return ModelSpec(
        family=family, dim=dim, music=bert(music_positions), text=dict(text_config),
        music_length=clamp1_max_length or music_positions if FAMILIES[family].truncates else music_positions,
        audio=bert(audio_positions) if FAMILIES[family].audio else None,
        audio_length=audio_positions,
    )


def random_state_dict(spec: ModelSpec, seed: int = 0) -> dict[str, torch.Tensor]:
    """Every parameter perturbed, so a misplaced bias or LayerNorm changes the output."""
    torch.manual_seed(seed)
    model = ClampModel(spec)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return {k: v.clone() for k, v in model.state_dict().items()}


def write_official(spec: ModelSpec, state: dict[str, torch.Tensor], out: str | Path) -> Path:
    """Save as the authors publish: CLaMP 1 a directory, CLaMP 2/3 a `.pth` dict."""
    out = Path(out)
    if spec.layout.published == "directory":
        out.mkdir(parents=True, exist_ok=True)
        config = {"architectures": ["CLaMP"], "model_type": "bert", **spec.music, "max_length": spec.music_length}
        (out / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        torch.save(state, out / "pytorch_model.bin")
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": state, "epoch": 0, "min_eval_loss": 0.0}, out)
    return out


def make_random_checkpoint(family: str, out: str | Path, backbone_dir: str | Path, *, seed: int = 0,
                           layout: str = "official", **sizes: Any) -> Path:
    """Build a tiny backbone config-compatible checkpoint and write it in `layout`."""
    from transformers import AutoConfig

    text_config = AutoConfig.from_pretrained(str(backbone_dir)).to_dict()
    spec = random_spec(family, text_config, **sizes)
    state = random_state_dict(spec, seed)
    if layout == "ours":
        from .checkpoint import save

        return save(state, spec, out, text_backbone=backbone_dir)
    return write_official(spec, state, out)
