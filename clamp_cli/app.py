"""The application layer: which model by default, and the assembly of cache, encoder and library.

What the CLI and the Python API share. It decides (default model, where a library lives),
builds (encoder, feature cache, embedder, library, collection) and hands back objects; it
prints nothing itself: notices go to the `note` callback the caller gives.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import ModelUnavailableError, UsageError

BEST_MODEL, BUNDLED_MODEL, AUDIO_MODEL = "clamp3-c2", "clamp-mini", "clamp3-saas"
AUDIO_KINDS = frozenset({"recording", "audio"})     # recordings and MERT feature files (.npy)
DEVICES = ("auto", "cpu", "cuda", "mps")
LIBRARIES_DIR = "libraries"

Note = Callable[[str], None]


def _silent(message: str) -> None:
    return None


@dataclass
class Settings:
    """What every model-using command is given (options and their environment variables)."""

    model: str | None = None
    text_backbone: str | None = None
    device: str = "auto"
    batch_size: int | None = None
    cache_dir: Path | None = None
    quiet: bool = False
    library: str | None = None
    precision: str = "fp32"


def check_device(device: str) -> None:
    """A device name is checked before anything runs, even when the model is never loaded (all cached)."""
    kind, _, index = device.partition(":")
    if kind not in DEVICES or (index and (kind in ("auto", "cpu") or not index.isdigit())):
        raise UsageError(f"--device must be cpu, cuda, cuda:N, mps or auto, not '{device}'")


def check_precision(precision: str, device: str) -> None:
    from .models.precision import PRECISIONS

    if precision not in PRECISIONS:
        raise UsageError(f"--precision must be {' or '.join(PRECISIONS)}, not '{precision}'")
    if precision == "int8" and device not in ("auto", "cpu"):
        raise UsageError("--precision int8 runs on the CPU: use --device cpu (or auto)")


def default_model(kinds: frozenset[str] = frozenset(), note: Note = _silent) -> str:
    """clamp3-saas for recordings or MERT features and clamp3-c2 for the rest when they are in the
    Hugging Face cache (the authors' choices), else the bundled clamp-mini (with a notice), which
    reads no audio: given audio alone (`kinds` of the inputs), that is an error naming what to fetch."""
    from .models.pretrained import cached_size, registry

    if kinds & AUDIO_KINDS and cached_size(registry()[AUDIO_MODEL]) is not None:
        return AUDIO_MODEL
    if kinds and kinds <= AUDIO_KINDS:
        from .models.mert import MERT_REPO, mert_cached

        missing = (f"neither {AUDIO_MODEL} nor MERT ({MERT_REPO}, its audio front end) is downloaded"
                   if "recording" in kinds and not mert_cached() else f"{AUDIO_MODEL} is not downloaded")
        raise ModelUnavailableError(
            f"audio needs a CLaMP 3 model and {missing} (the bundled {BUNDLED_MODEL} reads no audio): "
            f"`clamp models pull {AUDIO_MODEL}` fetches what is missing where the Hugging Face Hub is reachable")
    if cached_size(registry()[BEST_MODEL]) is not None:
        return BEST_MODEL
    note(f"using the bundled {BUNDLED_MODEL} (small; knows folk, early and classical scores); "
         f"`clamp models pull {BEST_MODEL}` fetches the better model, used from then on")
    return BUNDLED_MODEL


def open_encoder(settings: Settings, kinds: frozenset[str] = frozenset(), note: Note = _silent,
                 on_load: Callable[[str], None] | None = None):
    """The model, loaded only when something is not in the cache (see models.LazyEncoder)."""
    from .models import load_model

    check_device(settings.device)
    check_precision(settings.precision, settings.device)
    model = settings.model or default_model(kinds, note)
    return load_model(model, text_backbone=settings.text_backbone, device=settings.device, lazy=True,
                      on_load=(lambda: on_load(model)) if on_load else None, download=False,
                      precision=settings.precision)


def open_store(settings: Settings, warn: Note = _silent):
    from .index.store import FeatureStore

    store = FeatureStore(settings.cache_dir)
    for notice in store.notices:
        warn(notice)
    store.notices.clear()
    return store


def open_embedder(settings: Settings, inputs: Iterable[Path] = (), whole_file: bool = False,
                  jobs: int | None = None, note: Note = _silent, warn: Note = _silent,
                  on_load: Callable[[str], None] | None = None):
    """Encoder + feature cache + embedder. Recordings or MERT features among `inputs` (the files
    the command will read, query pieces included) make the default model the audio one.

    The notice that the bundled model stands in for clamp3-c2 is given when that model first
    computes something the cache does not hold (a warm run, or one that fails before, says nothing)."""
    from .formats import kind_of
    from .index.embedder import Embedder

    deferred: list[str] = []
    encoder = open_encoder(settings, frozenset(kind_of(f) for f in inputs), deferred.append, on_load)
    embedder = Embedder(encoder, open_store(settings, warn), settings.batch_size, whole_file=whole_file, jobs=jobs)
    if deferred:
        embedder.before_model = lambda: [note(message) for message in deferred]
    return embedder


# -- libraries -------------------------------------------------------------------------

def cache_root(settings: Settings) -> Path:
    from .index.store import default_cache_dir

    return Path(settings.cache_dir).expanduser() if settings.cache_dir else default_cache_dir()


def library_dir(settings: Settings, name: str | None = None) -> Path:
    """A library given by name lives in the cache's libraries/ folder; one given as a path is that folder.

    A name is letters, digits, '.', '_' and '-' (not starting with '.'); anything else is a path.
    """
    name = name if name is not None else settings.library
    if name is None:
        raise UsageError("no library given")
    if re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", name) and not os.path.isdir(name):
        return cache_root(settings) / LIBRARIES_DIR / name
    return Path(name).expanduser()


def default_library_dir(settings: Settings, model_id: str, whole_file: bool) -> Path:
    """Every folder searched without --library goes into one library per model (and piece rule)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)[:120]
    return cache_root(settings) / LIBRARIES_DIR / f"default-{safe}{'-whole' if whole_file else ''}"


def list_libraries(settings: Settings) -> list[Path]:
    root = cache_root(settings) / LIBRARIES_DIR
    from .index.library import DB_NAME

    return sorted(p for p in root.iterdir() if (p / DB_NAME).is_file()) if root.is_dir() else []


def with_library_model(settings: Settings) -> Settings:
    """Settings given a library and no model: the library's own model, in the precision its vectors
    were made in (its model id says: models.precision) unless one other than fp32 is asked for."""
    if settings.model is not None or settings.library is None:
        return settings
    from .index.library import Library
    from .models.precision import PRECISIONS

    with Library(library_dir(settings), readonly=True) as lib:
        model, model_id = lib.meta.get("model_name") or None, lib.model_id
    if not model:
        return settings
    made_in = next((p for p in PRECISIONS[1:] if model_id.endswith(f"+{p}")), "fp32")
    return replace(settings, model=model, precision=made_in if settings.precision == "fp32" else settings.precision)


def open_collection(settings: Settings, embedder, whole_file: bool = False, create: bool = True):
    """The library a command reads and fills: --library (or $CLAMP_LIBRARY), else the model's default
    one in the cache. It must belong to the embedder's model."""
    from .index.collection import Collection
    from .index.library import DB_NAME, Library, LibraryError

    enc = embedder.encoder
    if settings.library is not None:
        directory = library_dir(settings)
        if not (directory / DB_NAME).is_file():
            raise LibraryError(f"{directory}: no library here (`clamp library create` makes one)")
        lib = Library(directory)
    else:
        directory = default_library_dir(settings, enc.model_id, whole_file)
        if create and embedder.store.readonly and not (directory / DB_NAME).is_file():
            directory = _scratch_library(embedder.store)
        lib = Library.open_or_create(directory, enc.model_id, enc.dim, whole_file) if create else Library(directory)
    if lib.model_id != enc.model_id or lib.dim != enc.dim:
        lib.close()
        raise LibraryError(f"{directory}: library of model {lib.model_id} (dim {lib.dim}), not of "
                           f"{enc.model_id} (dim {enc.dim}); pass --model {lib.meta.get('model_name', lib.model_id)}")
    if lib.whole_file != whole_file and settings.library is not None:
        lib.close()
        raise UsageError(f"{directory}: library built {'with' if lib.whole_file else 'without'} --whole-file")
    return Collection(lib, embedder)


def _scratch_library(store) -> Path:
    """A read-only cache without this model's default library: a library in a private temporary
    folder stands in for it, filled from the cache's features (nothing cached is embedded again)
    and removed at exit."""
    import atexit
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="clamp-library-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder / "library"


def collection(library: str | None = None, model: str | None = None, cache_dir: str | Path | None = None,
               whole_file: bool = False, device: str = "auto"):
    """For the Python API: a library (a name, a folder, or the model's default one) with its embedder.

    `collection("folk").similar(vector, 5)`; `collection().sync(paths)` fills the default library."""
    settings = with_library_model(Settings(model=model, cache_dir=Path(cache_dir) if cache_dir else None,
                                           library=library, device=device))
    return open_collection(settings, open_embedder(settings, whole_file=whole_file), whole_file)
