"""MERT-v1-95M features, as the CLaMP 3 authors' `extract_mert.py --mean_features` writes them.

Facts (docs/MODELS.md section 9): stock `transformers.HubertModel` loads MERT's weights with no
missing or unexpected key (eager attention gives the authors' hidden states bit for bit); the
whole file is normalised first, `(x - mean) / sqrt(var + 1e-7)` in float32 (the authors always
normalise, whatever the model folder's preprocessor_config.json says); non-overlapping 5 s
windows, a last window under 1 s dropped; per window the 13 hidden states (the transformer's
input after its positional conv and LayerNorm, then each layer) averaged over time; the layers
averaged -> (1, W, 768), the `.npy` layout CLaMP 3 reads. On an accelerator clamp runs the full
windows in batches (the authors: one at a time), which gives the same numbers; on CPU one at a time.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ..errors import InputError, ModelUnavailableError

MERT_REPO = "m-a-p/MERT-v1-95M"
MERT_FILES = ("config.json", "pytorch_model.bin")
WINDOW = 5 * 24_000
MIN_LAST = 24_000
OFF_FLAGS = ("feature_extractor_cqt", "deepnorm", "attention_relax")


def mert_cached() -> bool:
    """MERT is at hand (CLAMP_MERT or the Hugging Face cache), without touching the network."""
    try:
        mert_dir()
    except ModelUnavailableError:
        return False
    return True


def mert_dir(download: bool = False) -> Path:
    """The MERT model folder: $CLAMP_MERT, else the Hugging Face cache (`clamp models pull` fills it)."""
    if os.environ.get("CLAMP_MERT"):
        path = Path(os.environ["CLAMP_MERT"]).expanduser()
        if not (path / "config.json").is_file():
            raise ModelUnavailableError(f"CLAMP_MERT={path}: no config.json there")
        return path
    from huggingface_hub import try_to_load_from_cache

    found = [try_to_load_from_cache(MERT_REPO, f) for f in MERT_FILES]
    if all(isinstance(f, str) for f in found):
        return Path(found[0]).parent
    if not download:
        raise ModelUnavailableError(
            f"audio needs MERT ({MERT_REPO}), which is not downloaded: `clamp models pull clamp3-saas` fetches it "
            "with the CLaMP 3 weights where the Hub is reachable (or set CLAMP_MERT to a local copy)")
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import logging as hub_logging

    hub_logging.set_verbosity_error()
    try:
        paths = [hf_hub_download(MERT_REPO, f) for f in MERT_FILES]
    except Exception as exc:  # noqa: BLE001 - offline, unreachable, or refused: one line either way
        raise ModelUnavailableError(f"MERT ({MERT_REPO}) could not be downloaded ({type(exc).__name__}); "
                                    "audio needs it: retry where the Hugging Face Hub is reachable") from None
    return Path(paths[0]).parent


class MertExtractor:
    """Loads MERT once; `features(samples_24k)` -> (1, W, hidden) float32."""

    def __init__(self, path: Path, device: str = "cpu", batch_windows: int | None = None):
        # On CPU a batch of windows is no faster than one at a time (2 cores: ratio 0.90-1.06,
        # benchmarks/mert_throughput.py) and each window in a batch holds ~200 MB more, so one;
        # an accelerator fills up with several.
        self.path, self.device = Path(path), device
        self.batch_windows = batch_windows or (1 if str(device).startswith("cpu") else 8)
        config = json.loads((self.path / "config.json").read_text(encoding="utf-8"))
        # attention_relax is off at -1.0 in MERT's config; the other two are booleans
        on = [flag for flag in OFF_FLAGS if (config.get(flag, -1) > 0 if flag == "attention_relax" else config.get(flag))]
        if on:
            raise ModelUnavailableError(f"{self.path}: MERT with {', '.join(on)} on is not the model CLaMP 3 reads")
        weights = next((self.path / n for n in ("model.safetensors", "pytorch_model.bin")
                        if (self.path / n).is_file()), None)
        if weights is None:
            raise ModelUnavailableError(f"{self.path}: no model.safetensors or pytorch_model.bin")
        digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
        with open(weights, "rb") as f:
            digest.update(f.read(1 << 20))
        digest.update(str(weights.stat().st_size).encode())
        self.id = "mert-" + digest.hexdigest()[:16]
        self._config, self._weights, self._model = config, weights, None

    def _load(self):
        if self._model is None:
            from transformers import HubertConfig, HubertModel
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()        # stderr carries clamp's own lines only

            cfg = HubertConfig(**{k: v for k, v in self._config.items()
                                  if k not in ("model_type", "architectures", "auto_map", "transformers_version")})
            model, info = HubertModel.from_pretrained(str(self.path), config=cfg, attn_implementation="eager",
                                                      output_loading_info=True)
            stray = sorted(info["missing_keys"]) + sorted(info["unexpected_keys"])
            if stray:
                raise ModelUnavailableError(f"{self.path}: MERT weights do not fit HubertModel "
                                            f"({len(stray)} keys, e.g. {stray[0]})")
            self._model = model.eval().to(self.device)
        return self._model

    def features(self, samples: np.ndarray, in_place: bool = False) -> np.ndarray:
        """`in_place` normalises the caller's array instead of a copy (a long recording exists once)."""
        import torch

        x = np.asarray(samples, dtype=np.float32)
        if not in_place or not x.flags.writeable:
            x = x.copy()
        mean, std = x.mean(dtype=np.float32), np.sqrt(x.var(dtype=np.float32) + np.float32(1e-7))
        x -= mean
        x /= std
        full = len(x) // WINDOW
        windows = [x[i * WINDOW:(i + 1) * WINDOW] for i in range(full)]
        last = x[full * WINDOW:]
        if len(last) >= MIN_LAST:
            windows.append(last)
        if not windows:
            raise InputError(f"shorter than 1 s ({len(x) / 24_000:.2f} s at 24 kHz): MERT needs at least one second")
        model, out = self._load(), []
        with torch.inference_mode():
            for start in range(0, len(windows), self.batch_windows):
                group = windows[start:start + self.batch_windows]
                sizes = {len(w) for w in group}
                batches = [group] if len(sizes) == 1 else [[w] for w in group]   # the short last window alone
                for batch in batches:
                    inp = torch.from_numpy(np.stack(batch)).to(self.device)
                    hidden = model(inp, output_hidden_states=True).hidden_states
                    per_layer = torch.stack([h.mean(dim=1) for h in hidden], dim=1)     # (B, layers, hidden)
                    out.append(per_layer.float().cpu().numpy())
        stacked = np.concatenate(out)                   # (W, layers, hidden)
        return stacked.mean(axis=1)[None].astype(np.float32)      # (1, W, hidden)
