"""One factory: a registry name or a local checkpoint in, a ready `Encoder` out.

Accepted layouts (the family and every size are read off the weights' keys
and shapes, so fine-tuned or smaller checkpoints of the same layout load):
- the authors' CLaMP 2/3 `.pth` dicts (`model`, `epoch`, `min_eval_loss`, ...);
- CLaMP 1 directories (`config.json` + `pytorch_model.bin`) and bare state dicts;
- our own directories: `clamp.json` (a serialised `ModelSpec` plus the text
  backbone to use) + `model.safetensors`, with an optional `text_backbone/`
  folder that makes the directory self-contained offline;
- any `.safetensors` state dict in one of the layouts above.
"""

from __future__ import annotations

import contextlib
import json
import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CheckpointFormatError, ModelNotFoundError, ModelUnavailableError, UsageError
from .checkpoint import BACKBONE_DIR, CONFIG_NAME, WEIGHTS_NAME, read_config, sha256_file, weights_id
from .families import FAMILIES, detect
from .pretrained import RegistryEntry, download, registry

OUR_CONFIG, OUR_WEIGHTS, OUR_BACKBONE_DIR = CONFIG_NAME, WEIGHTS_NAME, BACKBONE_DIR
CLAMP1_CONFIG, CLAMP1_WEIGHTS = "config.json", "pytorch_model.bin"
WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".safetensors")
# Buffers that older transformers releases saved and current ones do not.
LEGACY_BUFFER_SUFFIXES = ("embeddings.position_ids", "embeddings.token_type_ids")


@dataclass
class Checkpoint:
    """Weights located and read, before any model is built."""

    source: str
    weights_path: Path
    state_dict: dict[str, Any]
    family: str
    model_id: str
    hf_config: dict[str, Any] | None = None      # CLaMP 1 config.json
    our_config: dict[str, Any] | None = None     # clamp.json
    default_backbone: str | None = None


# ---------------------------------------------------------------------------
# reading weights safely
# ---------------------------------------------------------------------------

def read_state_dict(path: Path) -> dict[str, Any]:
    """Load tensors only: safetensors, or torch.load(weights_only=True)."""
    import torch

    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointFormatError(f"{path}: not a readable safetensors file ({_first_line(exc)})") from None
    elif path.suffix in WEIGHT_SUFFIXES:
        try:
            with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the error says enough
                warnings.simplefilter("ignore")
                obj = _torch_load(torch, path)
        except pickle.UnpicklingError as exc:
            # keep torch's reason ("Unsupported global: GLOBAL x ..."), not its advice to allow it
            detail = str(exc).split("WeightsUnpickler error:")[-1].strip().split(". ")[0].splitlines()
            raise CheckpointFormatError(
                f"{path}: refused by the weights-only loader ({detail[0][:160] if detail else 'invalid pickle'}): "
                "not a plain tensor checkpoint, and clamp never unpickles arbitrary objects"
            ) from None
        except (RuntimeError, EOFError, OSError, ValueError, AttributeError) as exc:
            raise CheckpointFormatError(f"{path}: not a readable PyTorch checkpoint ({_first_line(exc)})") from None
        state = obj.get("model") if isinstance(obj, dict) and isinstance(obj.get("model"), dict) else obj
    else:
        raise CheckpointFormatError(
            f"{path}: unsupported weights file (expected one of {', '.join(WEIGHT_SUFFIXES)})")
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointFormatError(f"{path}: no state dict of tensors found in the file")
    return {k: v for k, v in state.items() if not k.endswith(LEGACY_BUFFER_SUFFIXES)}


def _torch_load(torch, path: Path):
    """torch.load, weights only, memory-mapped where the file allows it (the zip format torch has
    written since 1.6: the authors' .pth); the legacy format is read whole."""
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as exc:
        if "mmap" not in str(exc) and "zip" not in str(exc):
            raise
        return torch.load(str(path), map_location="cpu", weights_only=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def detect_family(state: dict[str, Any], where: str) -> str:
    family = detect(state)
    if family:
        return family
    sample = ", ".join(sorted(state)[:3])
    raise CheckpointFormatError(
        f"{where}: unknown checkpoint layout (no CLaMP patch embedding found; keys start: {sample})")


def _weights_digest(path: Path) -> str:
    """The hub cache stores LFS files under their sha256: reuse it instead of rehashing."""
    blob = Path(path).resolve().name
    return blob if re.fullmatch(r"[0-9a-f]{64}", blob) else sha256_file(path)


# ---------------------------------------------------------------------------
# locating a checkpoint
# ---------------------------------------------------------------------------

@dataclass
class Located:
    """Where a checkpoint's files are, and what is known of it without reading tensors."""

    source: str
    weights_path: Path
    id_prefix: str | None = None                  # registry name; else the family
    hf_config: dict[str, Any] | None = None
    our_config: dict[str, Any] | None = None
    default_backbone: str | None = None
    family: str | None = None                     # known from a config or a header, if so
    dim: int | None = None
    model_id: str | None = None                   # written into clamp.json when it was saved


def locate(name_or_path: str) -> Checkpoint:
    """Registry name -> hub download; otherwise a local file or directory; then read the weights."""
    loc = find_files(name_or_path, download_ok=True)
    state = read_state_dict(loc.weights_path)
    family = detect_family(state, loc.source)
    return Checkpoint(loc.source, loc.weights_path, state, family, model_id_of(loc, family),
                      hf_config=loc.hf_config, our_config=loc.our_config, default_backbone=loc.default_backbone)


def model_id_of(loc: Located, family: str) -> str:
    if loc.model_id:
        return loc.model_id
    return weights_id(family, _weights_digest(loc.weights_path), loc.id_prefix)


def find_files(name_or_path: str, download_ok: bool = True) -> Located | None:
    """Locate a checkpoint's files; without `download_ok`, None for an uncached registry model."""
    if name_or_path in registry():
        entry = registry()[name_or_path]
        if entry.bundled_path is not None:  # shipped inside the package, in our own layout
            loc = _directory_files(entry.bundled_path)
            loc.source = entry.name
            return loc
        return _registry_files(entry, download_ok)
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return _directory_files(path)
    if path.is_file():
        return _file_hints(Located(str(path), path))
    if path.suffix in WEIGHT_SUFFIXES or "/" in name_or_path or name_or_path.startswith("."):
        raise ModelNotFoundError(f"{name_or_path}: no such checkpoint file or directory")
    known = ", ".join(registry())
    raise ModelNotFoundError(f"unknown model '{name_or_path}': not a registry name ({known}) "
                             "and no such file or directory")


def _registry_files(entry: RegistryEntry, download_ok: bool) -> Located | None:
    from .pretrained import cached_file

    if download_ok:
        paths = download(entry)
    else:
        paths = {f: cached_file(entry, f) for f in entry.files}
        if any(p is None for p in paths.values()):
            return None
    hf_config = _read_json(paths[entry.config]) if entry.config else None
    return Located(entry.name, paths[entry.weights], entry.name, hf_config=hf_config,
                   default_backbone=entry.text_backbone, family=entry.family, dim=entry.dim)


def _directory_files(path: Path) -> Located:
    if (path / OUR_CONFIG).is_file() and (path / OUR_WEIGHTS).is_file():
        ours = read_config(path)
        backbone = ours.get("text_backbone")
        if (path / OUR_BACKBONE_DIR).is_dir():
            backbone = str(path / OUR_BACKBONE_DIR)
        spec = ours.get("spec") or {}
        return Located(str(path), path / OUR_WEIGHTS, ours.get("id_prefix"), our_config=ours,
                       default_backbone=backbone, family=spec.get("family"), dim=spec.get("dim"),
                       model_id=ours.get("model_id"))
    if (path / CLAMP1_CONFIG).is_file() and (path / CLAMP1_WEIGHTS).is_file():
        hf_config = _read_json(path / CLAMP1_CONFIG)
        # CLaMP 1 projects both encoders to config.hidden_size (the authors' text_proj and music_proj)
        return Located(str(path), path / CLAMP1_WEIGHTS, hf_config=hf_config, family="clamp1",
                       dim=hf_config.get("hidden_size"))
    raise CheckpointFormatError(
        f"{path}: a model directory needs {OUR_CONFIG} + {OUR_WEIGHTS} (clamp's layout) "
        f"or {CLAMP1_CONFIG} + {CLAMP1_WEIGHTS} (CLaMP 1's layout)")


def _file_hints(loc: Located) -> Located:
    """A .safetensors header names its tensors and shapes: family and size without reading them."""
    if loc.weights_path.suffix != ".safetensors":
        return loc
    try:
        from safetensors import safe_open

        with safe_open(str(loc.weights_path), framework="numpy") as f:
            keys = set(f.keys())
            family = detect(keys)
            if family and "text_proj.weight" in keys:
                loc.family, loc.dim = family, int(f.get_slice("text_proj.weight").get_shape()[0])
    except Exception:  # noqa: BLE001 - a bad file is reported by the full read later
        pass
    return loc


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointFormatError(f"{path}: unreadable ({_first_line(exc)})") from None
    if not isinstance(data, dict):
        raise CheckpointFormatError(f"{path}: not a JSON object")
    return data


def peek(name_or_path: str, text_backbone: str | None = None) -> dict[str, Any] | None:
    """Family, dim, model id and backbone without torch, or None when that needs the weights."""
    loc = find_files(name_or_path, download_ok=False)
    if loc is None or loc.family not in FAMILIES or not isinstance(loc.dim, int):
        return None
    backbone = text_backbone or loc.default_backbone or FAMILIES[loc.family].default_text_backbone
    spec = (loc.our_config or {}).get("spec") or {}
    scale = spec.get("logit_scale")
    audio = None             # the width of the MERT frames it reads: clamp.json says; the published weights 768
    if FAMILIES[loc.family].audio:
        audio = int(spec["audio"]["hidden_size"]) if spec.get("audio") else (None if spec else 768)
    return {"audio_size": audio, "family": loc.family, "dim": loc.dim, "model_id": model_id_of(loc, loc.family),
            "text_backbone": backbone, "source": loc.source,
            "logit_scale": float(scale) if scale is not None else FAMILIES[loc.family].logit_scale,
            # where a frozen-text-encoder family's projection is read from without torch (text_numpy)
            "weights": str(loc.weights_path), "spec": spec or None}


# ---------------------------------------------------------------------------
# inferring the architecture from keys and shapes
# ---------------------------------------------------------------------------

def _heads_for(hidden: int, where: str) -> int:
    if hidden >= 64 and hidden % 64 == 0:
        return hidden // 64  # the authors' rule: head size 64
    raise CheckpointFormatError(f"{where}: cannot infer the number of attention heads for hidden size {hidden}; "
                                "give it in clamp.json")


def bert_sizes(state: dict[str, Any], prefix: str, where: str) -> dict[str, int]:
    """Sizes of a BERT-like encoder stored under `prefix`, read from the shapes."""
    try:
        pos = state[f"{prefix}embeddings.position_embeddings.weight"]
        layer_ids = {int(m.group(1)) for k in state
                     if (m := re.match(re.escape(prefix) + r"encoder\.layer\.(\d+)\.", k))}
        sizes = {
            "vocab_size": state[f"{prefix}embeddings.word_embeddings.weight"].shape[0],
            "hidden_size": pos.shape[1],
            "max_position_embeddings": pos.shape[0],
            "num_hidden_layers": len(layer_ids),
            "intermediate_size": state[f"{prefix}encoder.layer.0.intermediate.dense.weight"].shape[0],
            "type_vocab_size": state[f"{prefix}embeddings.token_type_embeddings.weight"].shape[0],
        }
    except KeyError as exc:
        raise CheckpointFormatError(f"{where}: incomplete encoder '{prefix.rstrip('.')}' (missing {exc})") from None
    if sizes["num_hidden_layers"] == 0 or layer_ids != set(range(len(layer_ids))):
        raise CheckpointFormatError(f"{where}: encoder '{prefix.rstrip('.')}' has no contiguous layers")
    return {k: int(v) for k, v in sizes.items()}


def _merge(base: dict[str, Any] | None, sizes: dict[str, int], where: str) -> dict[str, Any]:
    """Shapes win over a config file; the head count is kept when the width agrees."""
    out = dict(base or {})
    same_width = out.get("hidden_size") == sizes["hidden_size"] and "num_attention_heads" in out
    out.update(sizes)
    if not same_width:
        out["num_attention_heads"] = _heads_for(sizes["hidden_size"], where)
    return out


def _as_shape(x) -> tuple[int, ...]:
    return (int(x),) if isinstance(x, int) else tuple(int(v) for v in x)


_BERT_KEYS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
              "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
              "type_vocab_size", "initializer_range", "layer_norm_eps", "pad_token_id")


def infer_spec(ckpt: Checkpoint, text_config: dict[str, Any]):
    """A `ModelSpec` for the checkpoint; `text_config` is the backbone's config dict."""
    from .architectures import ModelSpec

    state, where, family = ckpt.state_dict, ckpt.source, ckpt.family
    lay = FAMILIES[family]
    ours = ckpt.our_config or {}
    our_spec = ours.get("spec", {})
    music_prefix = f"{lay.music}.{lay.music_base}."
    music_base = our_spec.get("music") or {k: v for k, v in (ckpt.hf_config or {}).items() if k in _BERT_KEYS}
    music = _merge(music_base, bert_sizes(state, music_prefix, where), where)
    if lay.text is None:  # a frozen external text encoder: only the projection is in the weights
        text = dict(our_spec.get("text") or {})
        if "input_dim" not in text:
            raise CheckpointFormatError(f"{where}: {family} checkpoint without its text projection sizes in clamp.json")
        text["hidden_size"] = int(text.get("hidden_size", 0))
    else:
        text = _merge(our_spec.get("text") or text_config, bert_sizes(state, f"{lay.text}.", where), where)
        for key in ("model_type",):
            text.setdefault(key, text_config.get(key))
    audio = None
    if lay.audio and f"{lay.audio}.embeddings.position_embeddings.weight" in state:
        audio = _merge(our_spec.get("audio"), bert_sizes(state, f"{lay.audio}.", where), where)

    try:
        pe = state[f"{lay.music}.patch_embedding.weight"]
        dim = int(state[f"{lay.music_proj}.weight"].shape[0])
        text_in = (state[f"{lay.text_proj}.net.0.weight"].shape[1] if lay.text is None
                   else state[f"{lay.text_proj}.weight"].shape[1])
        checks = [
            (text_in, text["input_dim"] if lay.text is None else text["hidden_size"], "text_proj input"),
            (state[f"{lay.music_proj}.weight"].shape, (dim, music["hidden_size"]), "music projection"),
            (pe.shape[0], music["hidden_size"], "patch_embedding output"),
        ]
        if audio:
            checks.append((state[f"{lay.audio_proj}.weight"].shape, (dim, audio["hidden_size"]), "audio projection"))
    except KeyError as exc:
        raise CheckpointFormatError(f"{where}: {family} checkpoint without {exc}") from None
    for got, want, what in checks:
        if _as_shape(got) != _as_shape(want):
            raise CheckpointFormatError(f"{where}: inconsistent shapes: {what} is {got}, expected {want}")
    if pe.shape[1] % lay.patch_vocab:
        raise CheckpointFormatError(f"{where}: patch_embedding input {pe.shape[1]} is not a multiple of "
                                    f"the {family} vocabulary ({lay.patch_vocab})")
    if lay.truncates:
        music_length = int((ckpt.hf_config or {}).get("max_length") or our_spec.get("music_length")
                           or music["max_position_embeddings"])
    else:
        music_length = music["max_position_embeddings"]
    return ModelSpec(
        family=family, dim=dim, music=music, text=text, music_length=music_length, audio=audio,
        text_length=int(our_spec.get("text_length", 128)),
        audio_length=audio["max_position_embeddings"] if audio else 128,
        patch_size=pe.shape[1] // lay.patch_vocab,
        logit_scale=our_spec.get("logit_scale"),
    )


# ---------------------------------------------------------------------------
# text backbone (tokenizer + config only: its weights are in the checkpoint)
# ---------------------------------------------------------------------------

def load_text_backbone(backbone: str) -> tuple[Any, dict[str, Any]]:
    from transformers import AutoConfig, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # e.g. "sequence longer than model_max_length": we segment on purpose
    try:
        tokenizer = AutoTokenizer.from_pretrained(backbone)
        config = AutoConfig.from_pretrained(backbone).to_dict()
    except (OSError, ValueError) as exc:
        where = "local directory" if Path(backbone).exists() else "Hugging Face Hub id"
        raise ModelUnavailableError(
            f"text backbone '{backbone}' ({where}) is unavailable: its tokenizer and config are neither "
            f"cached nor downloadable ({_first_line(exc)}); fetch it where the Hub is reachable "
            "or pass --text-backbone DIR with a tokenizer and config.json") from None
    return tokenizer, config


def pick_device(choice: str = "auto"):
    import torch

    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    try:
        device = torch.device(choice)
    except RuntimeError:
        raise UsageError(f"unknown device '{choice}' (use cpu, cuda, mps or auto)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError("device 'cuda' requested but no CUDA device is available")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError("device 'mps' requested but MPS is not available")
    if device.type not in {"cpu", "cuda", "mps"}:
        raise UsageError(f"unsupported device '{choice}' (use cpu, cuda, mps or auto)")
    return device


def _no_init_weights():
    """transformers' context that skips weight init: in `transformers.initialization` since 5.0,
    in `modeling_utils` before (pyproject allows 4.40 on); without either, init runs (slower, same)."""
    try:
        from transformers.initialization import no_init_weights
    except ImportError:
        try:
            from transformers.modeling_utils import no_init_weights
        except ImportError:
            return contextlib.nullcontext()
    return no_init_weights()


def build_model(spec, state: dict[str, Any], where: str):
    """Build the family's module from the spec and load the weights strictly.

    The module is built without initialising its weights (they are about to be replaced: random
    init of a CLaMP 3 size model is seconds of CPU), and takes the loaded tensors themselves
    (`assign`) rather than copies: a safetensors file's tensors come straight from its memory map.
    Tensors of another float type (fp16 checkpoints) are widened to float32 first, as a copying
    load would do."""
    import torch

    from .architectures import ClampModel

    with _no_init_weights():
        model = ClampModel(spec)
    state = {k: v.float() if v.is_floating_point() and v.dtype != torch.float32 else v for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        missing = [k for k in model.state_dict() if k not in state]
        unexpected = [k for k in state if k not in model.state_dict()]
        detail = (f"{len(missing)} missing (e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]})"
                  if missing or unexpected else _first_line(exc))
        raise CheckpointFormatError(f"{where}: weights do not fit the inferred {spec.family} layout: {detail}") from None
    return model.eval()


def load_model(name_or_path: str, *, text_backbone: str | None = None, device: str = "auto",
               precision: str = "fp32"):
    """Registry name or local checkpoint -> `Encoder` ready to embed.

    The text backbone (tokenizer + config) comes from `text_backbone` (hub id
    or directory), else the checkpoint's own, else the family's default on the Hub.
    `precision` "int8" quantises the music encoder (models.precision; CPU only).
    """
    from ..pause import pause_point
    from .encoder import Encoder
    from .precision import precise_id, quantised

    torch_device = pick_device("cpu" if precision != "fp32" and device == "auto" else device)
    pause_point("load")
    ckpt = locate(name_or_path)
    layout = FAMILIES[ckpt.family]
    backbone = text_backbone or ckpt.default_backbone or layout.default_text_backbone
    if layout.text_encoder == "e5":
        from .e5 import E5Text

        tokenizer, text_config = E5Text(backbone), {}
    else:
        tokenizer, text_config = load_text_backbone(backbone)
    spec = infer_spec(ckpt, text_config)
    vocab = spec.text.get("vocab_size", len(tokenizer))
    if len(tokenizer) > vocab:
        raise CheckpointFormatError(
            f"{ckpt.source}: text backbone '{backbone}' has {len(tokenizer)} tokens but the checkpoint's "
            f"text encoder only {vocab}: wrong --text-backbone?")
    model = build_model(spec, ckpt.state_dict, ckpt.source).to(torch_device)
    ckpt.state_dict = {}  # the model owns the tensors now
    if precision != "fp32":
        model = quantised(model, layout)
    return Encoder(model, spec, tokenizer, precise_id(ckpt.model_id, precision), torch_device, ckpt.source, backbone)


def infer_layout(ckpt: Checkpoint) -> dict[str, Any]:
    """What `clamp models info` shows: read from keys and shapes only (no backbone needed)."""
    lay, state, where = FAMILIES[ckpt.family], ckpt.state_dict, ckpt.source
    music = bert_sizes(state, f"{lay.music}.{lay.music_base}.", where)
    if lay.text is None:
        first = state[f"{lay.text_proj}.net.0.weight"]
        text = {"hidden_size": int(first.shape[1]), "num_hidden_layers": 0, "vocab_size": 0}
    else:
        text = bert_sizes(state, f"{lay.text}.", where)
    out: dict[str, Any] = {
        "source": ckpt.source, "weights": str(ckpt.weights_path), "family": ckpt.family,
        "model_id": ckpt.model_id, "dim": int(state[f"{lay.music_proj}.weight"].shape[0]),
        "music_hidden": music["hidden_size"], "music_layers": music["num_hidden_layers"],
        "music_positions": music["max_position_embeddings"],
        "patch_size": int(state[f"{lay.music}.patch_embedding.weight"].shape[1] // lay.patch_vocab),
        "text_hidden": text["hidden_size"], "text_layers": text["num_hidden_layers"],
        "text_vocab": text["vocab_size"],
    }
    if lay.truncates:
        out["max_patches"] = int((ckpt.hf_config or {}).get("max_length") or music["max_position_embeddings"])
    if lay.audio and f"{lay.audio}.embeddings.position_embeddings.weight" in state:
        audio = bert_sizes(state, f"{lay.audio}.", where)
        out.update(audio_hidden=audio["hidden_size"], audio_layers=audio["num_hidden_layers"],
                   audio_positions=audio["max_position_embeddings"])
    out["parameters"] = int(sum(v.numel() for v in state.values()))
    return out
