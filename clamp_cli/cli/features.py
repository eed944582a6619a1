"""`.npy` files in the CLI: which ones a command reads, and the feature vectors read as they are.

A `.npy` is a recording's MERT features, a global feature vector, or neither, by its shape alone
(formats.features). Every command reads MERT features; `eval`, `score`, `probe` and `map` also
read global feature vectors ((1, D) or (D,): the authors' layout and `clamp embed -O`'s) as they
are, checked against the model's dimension when a model is involved; the other `.npy` files are
skipped, with one notice line that counts them and says why.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import InputError, UsageError
from ..formats.features import FEATURES, MERT_SIZE, VECTOR, is_npy, role, role_of, rule
from ..fsutil import os_reason

VECTOR_READERS = "eval, score, probe and map"


def default_inputs(inputs: Iterable[Path]) -> list[Path]:
    """The inputs that choose the default model: a .npy counts as audio only when it holds MERT
    features (768 wide, what every model clamp picks by default reads). One such file is enough
    to say so: the headers of the others are not read."""
    out, audio = [], False
    for f in inputs:
        if not is_npy(f):
            out.append(f)
        elif not audio and role_of(f, MERT_SIZE) == FEATURES:
            out.append(f)
            audio = True
    return out


def _some(names: Sequence[str], shown: int = 4) -> str:
    return ", ".join(names[:shown]) + (f", ... ({len(names)} in all)" if len(names) > shown else "")


def sort_npy(walk, reporter, feature_size: int | None, vectors: bool = False) -> None:
    """Keep the walk's .npy files that the command reads (MERT features of `feature_size` wide;
    with `vectors` also feature vectors, marked "vector" in walk.kinds); skip the rest with one
    notice line each for vectors and for other arrays. A walk left with nothing is an error."""
    keep, others, unwanted = [], [], []
    for f in walk.files:
        if not is_npy(f) or f == walk.stdin_file:
            keep.append(f)
            continue
        head = role_of(f, feature_size)
        if head is None or head == FEATURES:      # None: not a readable header, the reader says why
            keep.append(f)
        elif head == VECTOR and vectors:
            keep.append(f)
            walk.kinds[f] = VECTOR
        elif head == VECTOR:
            unwanted.append(f)
        else:
            others.append((f, head))
    if not others and not unwanted:
        return
    walk.files = keep
    walk.not_features += [(f, why) for f, why in others] + [(f, "a feature vector") for f in unwanted]
    notes = []
    if others:
        notes.append(f"skipped {len(others)} .npy file(s) that hold {rule(feature_size)}: "
                     + _some([f"{walk.shown(f)} ({why})" for f, why in others]))
    if unwanted:
        notes.append(f"skipped {len(unwanted)} .npy feature vector(s) ((1, D) or (D,)): "
                     + _some([str(walk.shown(f)) for f in unwanted])
                     + f"; this command takes a recording's MERT features, not vectors ({VECTOR_READERS} read those)")
    if not keep:
        raise InputError("nothing to read; " + "; ".join(notes))
    for note in notes:
        reporter.note(note)


def only_vectors(walks: Sequence) -> bool:
    """Every input of these walks is a feature vector: no model is needed to read them."""
    files = [f for w in walks for f in w.files]
    return bool(files) and all(is_npy(f) and role_of(f, None) == VECTOR for f in files)


class Width:
    """The dimension every feature vector of a command must have.

    With a model involved it is the model's (as the authors' scripts check a probe's input size),
    and a vector of another one stops the command at once: the vectors are another model's, every
    one of them would fail. Without one it is the dimension most of the command's vectors have
    (their headers say it), and a vector of another one is an error of that file alone.
    """

    def __init__(self, encoder=None, walks: Sequence = ()):
        self.model, self.most = encoder, ""
        self.dim = encoder.dim if encoder is not None else None
        if encoder is None:
            from collections import Counter

            from ..formats.features import npy_header

            dims = Counter()
            for walk in walks:
                for f in walk.files:
                    head = npy_header(f) if walk.kinds.get(f) == VECTOR else None
                    if head is not None:
                        dims[int(np.prod(head[0]))] += 1
            if dims:
                self.dim = max(dims, key=lambda d: (dims[d], -d))
                self.most = f"{dims[self.dim]} of the {sum(dims.values())} vectors are {self.dim}-d"

    def check(self, path, dim: int) -> None:
        """InputError for a vector of another dimension; with a model, UsageError: the command stops."""
        if self.dim is None:
            self.dim, self.most = dim, f"the first one read is {dim}-d"
        if dim == self.dim:
            return
        if self.model is None:
            raise InputError(f"a {dim}-d feature vector; {self.most}")
        raise _ModelMismatch(f"{path}: a {dim}-d feature vector, but the model {self.model.model_id} gives "
                             f"{self.dim}-d vectors (--model names the model that made them)")


class _ModelMismatch(UsageError):
    """Feature vectors of another model than the one involved: the command stops (one line, exit 2:
    the model to name is the one that made them)."""


def read_vector(path: Path) -> np.ndarray:
    """A global feature vector file -> float32 (D,); InputError naming what is wrong."""
    from ..formats import load_npy
    from ..formats.reading import read_input

    try:
        _, data = read_input(path, "audio")
    except OSError as exc:
        raise InputError(os_reason(exc)) from None
    arr = load_npy(data)
    what = role(tuple(arr.shape), arr.dtype, None)
    if what != VECTOR:
        raise InputError(f"not a feature vector ((1, D) or (D,)): {what if what != FEATURES else arr.shape}")
    vec = np.asarray(arr, dtype=np.float32).reshape(-1)
    if not np.isfinite(vec).all():
        raise InputError("the feature vector holds NaN or infinite values")
    return vec


def item_results(embedder, walk, reporter, quiet: bool, width: Width) -> list:
    """Every piece of the walk with its vector, in the walk's order: feature vectors read as they
    are (checked against `width`), everything else embedded (common.embed_files). Failures are one
    line each and are left out."""
    from ..index.embedder import Result
    from .common import embed_files

    vector_files = [f for f in walk.files if walk.kinds.get(f) == VECTOR]
    if not vector_files:
        return [r for r in embed_files(embedder, walk, reporter, quiet) if r.vector is not None]
    wanted = set(vector_files)
    rest = replace(walk, files=[f for f in walk.files if f not in wanted])
    out = [r for r in embed_files(embedder, rest, reporter, quiet) if r.vector is not None] if rest.files else []
    for f in vector_files:
        try:
            vec = read_vector(f)
            width.check(walk.shown(f), vec.shape[0])
        except InputError as exc:
            reporter.error(walk.shown(f), str(exc))
            continue
        out.append(Result(f, VECTOR, vector=vec, status="read"))
    position = {f: i for i, f in enumerate(walk.files)}
    return sorted(out, key=lambda r: position.get(r.path, -1))
