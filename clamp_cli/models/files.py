"""Files and score texts in, vectors out, prepared exactly as the CLI prepares them (without its cache).

`embed_music` takes *model text* (interleaved ABC or MTF; CLaMP 1: its filtered ABC): a score
file's raw text is not that, and feeding it gives a different vector (issue 9, item 18). These
methods run the CLI's own preparation first (`formats.convert.music_pieces`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..formats.walk import piece_name


class FileEmbedding:
    """Mixed into `Encoder` and `LazyEncoder`: they provide layout, dim and the embed_* methods."""

    def embed_scores(self, scores: Sequence[str | bytes], format: str = "abc",
                     batch_size: int | None = None) -> np.ndarray:
        """One vector per score, given as its text or bytes in `format` (abc, musicxml, mxl, midi,
        mtf, krn, mei). A multi-tune ABC text is one piece here, as with `--whole-file`."""
        from ..formats.convert import music_pieces

        suffix = "." + format.lower().lstrip(".")
        texts = []
        for n, score in enumerate(scores):
            data = score.encode("utf-8") if isinstance(score, str) else bytes(score)
            pieces = music_pieces(data, suffix, self.layout.music_text, whole_file=True)
            failed = [p for p in pieces if p.error]
            if failed:
                raise InputError(f"score {n}: {failed[0].error}")
            texts.append(pieces[0].text)
        return self.embed_music(texts, batch_size) if texts else np.zeros((0, self.dim), np.float32)

    def embed_files(self, paths: Sequence[str | Path], whole_file: bool = False,
                    batch_size: int | None = None) -> tuple[list[str], np.ndarray]:
        """Score, .txt and .npy files -> (names, vectors), one row per piece: a multi-tune ABC file
        gives one row per X: tune, named "path#X" (unless `whole_file`). Raises InputError naming
        the first file that cannot be read."""
        from ..formats import decode_text, kind_of, load_npy
        from ..formats.convert import music_pieces
        from ..formats.reading import read_input

        names: list[str] = []
        parts: dict[str, list[tuple[int, object]]] = {"music": [], "text": [], "audio": []}
        for path in map(Path, paths):
            kind = kind_of(path)
            if kind is None:
                raise InputError(f"{path}: not a file clamp reads ({path.suffix or 'no extension'})")
            try:
                data = read_input(path, kind)[1]     # regular files within the size limits only
                if kind == "music":
                    pieces = music_pieces(data, path.suffix, self.layout.music_text, whole_file)
                    for p in pieces:
                        if p.error:
                            raise InputError(p.error)
                        parts["music"].append((len(names), p.text))
                        names.append(piece_name(path, p.item))
                    continue
                payload = decode_text(data) if kind == "text" else _mert_features(load_npy(data), self)
            except InputError as exc:
                raise InputError(f"{path}: {exc}") from None
            except OSError as exc:
                raise InputError(f"{path}: {exc.strerror or exc}") from None
            parts[kind].append((len(names), payload))
            names.append(str(path))
        out = np.zeros((len(names), self.dim), np.float32)
        embed = {"music": self.embed_music, "text": self.embed_text_files, "audio": self.embed_audio}
        for kind, items in parts.items():
            if items:
                out[[i for i, _ in items]] = embed[kind]([x for _, x in items], batch_size)
        return names, out


def _mert_features(arr: np.ndarray, encoder) -> np.ndarray:
    """A .npy's array when its shape says it is a recording's MERT features (formats.features)."""
    from ..formats.features import FEATURES, VECTOR, feature_size, role, rule

    what = role(tuple(arr.shape), arr.dtype, feature_size(encoder))
    if what == VECTOR:
        raise InputError(f"a feature vector {arr.shape}, not a recording's MERT features")
    if what != FEATURES:
        raise InputError(f"{what}: {rule(feature_size(encoder))}")
    return arr
