"""The registry of published checkpoints and the one path that downloads them.

Entries are data (`model_configs/*.json`). Files go through `huggingface_hub`
into its own cache, so HF_HOME, HF_HUB_CACHE and HF_HUB_OFFLINE work as they
do for every other Hugging Face tool, and a download is shared with them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import ModelNotFoundError, ModelUnavailableError

CONFIG_DIR = Path(__file__).parent / "registry"


BUNDLED_DIR = Path(__file__).parent / "bundled"


@dataclass(frozen=True)
class RegistryEntry:
    name: str
    family: str
    hub_repo: str | None
    weights: str
    text_backbone: str
    description: str
    dim: int
    config: str | None = None
    bundled: str | None = None      # a model directory inside the package: never downloaded

    @property
    def bundled_path(self) -> Path | None:
        return BUNDLED_DIR / self.bundled if self.bundled else None

    @property
    def files(self) -> list[str]:
        return [f for f in (self.config, self.weights) if f]


@lru_cache(maxsize=1)
def registry() -> dict[str, RegistryEntry]:
    entries = {}
    for path in sorted(CONFIG_DIR.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        entries[data["name"]] = RegistryEntry(**data)
    return entries


def get_entry(name: str) -> RegistryEntry:
    try:
        return registry()[name]
    except KeyError:
        known = ", ".join(registry())
        raise ModelNotFoundError(
            f"unknown model '{name}': not a registry name ({known}) and no such file or directory"
        ) from None


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def cached_file(entry: RegistryEntry, filename: str) -> Path | None:
    """The file's path in the Hugging Face cache (or the package), or None; never touches the network."""
    if entry.bundled_path is not None:
        path = entry.bundled_path / filename
        return path if path.is_file() else None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(entry.hub_repo, filename)
    return Path(found) if isinstance(found, str) else None


def cached_size(entry: RegistryEntry) -> int | None:
    """Bytes on disk for a fully cached entry, else None."""
    total = 0
    for f in entry.files:
        path = cached_file(entry, f)
        if path is None:
            return None
        total += path.stat().st_size
    return total


def require_cached(entry: RegistryEntry) -> None:
    """Raise, without touching the network or torch, when a registry model is not fully cached."""
    missing = [f for f in entry.files if cached_file(entry, f) is None]
    if missing:
        raise ModelUnavailableError(
            f"model '{entry.name}' is not downloaded (missing {entry.hub_repo}/{missing[0]} in the Hugging Face "
            f"cache): `clamp models pull {entry.name}` fetches it where the Hub is reachable; offline, "
            f"the bundled clamp-mini works (--model clamp-mini)")


def download(entry: RegistryEntry) -> dict[str, Path]:
    """Fetch (or reuse from the cache) every file of an entry; progress on stderr."""
    if entry.bundled_path is not None:
        return {f: entry.bundled_path / f for f in entry.files}
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled
    from huggingface_hub.utils import logging as hub_logging

    hub_logging.set_verbosity_error()   # its retry notices are noise: one line below says what happened
    paths = {}
    for filename in entry.files:
        try:
            paths[filename] = Path(hf_hub_download(entry.hub_repo, filename))
        except (LocalEntryNotFoundError, OfflineModeIsEnabled, HfHubHTTPError, OSError) as exc:
            how = ("HF_HUB_OFFLINE is set" if hub_offline()
                   else f"the Hugging Face Hub could not be reached ({type(exc).__name__})")
            raise ModelUnavailableError(
                f"model '{entry.name}' is not in the Hugging Face cache and {how}: "
                f"missing {entry.hub_repo}/{filename}; run `clamp models pull {entry.name}` "
                f"where the Hub is reachable, or pass --model PATH to a local checkpoint"
            ) from None
    return paths
