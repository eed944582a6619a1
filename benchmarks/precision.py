"""`--precision int8` against fp32, in one process: throughput, vector agreement, retrieval.

1. Throughput and agreement at CLaMP 3's full size (hidden 768, 12 layers, 512 patches per
   segment; random weights: the published ones cannot be fetched here) on N real tunes from
   music21's ABC collections in the model's text (interleaved ABC): pieces/s of each precision,
   timed alternately (fp32, int8, fp32, int8), the ratio of the medians, and the cosine between
   each tune's two vectors (min and mean).
2. Retrieval with the bundled clamp-mini (trained) in both precisions: each of Q ryansMammoth
   tunes' first 8 bars (an ABC excerpt) queries all Q whole tunes; MRR and Hit@1 of each, and
   how far apart they are.

    python benchmarks/precision.py [--pieces 200] [--queries 300]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402


def model_texts(count: int) -> list[str]:
    """Interleaved ABC of the first `count` tunes of music21's ABC collections that convert."""
    import music21

    from clamp_cli.formats.convert import music_pieces

    out: list[str] = []
    for path in sorted((Path(music21.__file__).parent / "corpus").glob("**/*.abc")):
        for piece in music_pieces(path.read_bytes(), ".abc", "interleaved"):
            if piece.text:
                out.append(piece.text)
            if len(out) == count:
                return out
    return out


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def full_size(pieces: int) -> None:
    from benchmarks.embed_throughput import full_size_clamp3
    from clamp_cli.models.architectures import ClampModel
    from clamp_cli.models.encoder import Encoder
    from clamp_cli.models.families import FAMILIES
    from clamp_cli.models.precision import quantised

    texts = model_texts(pieces)
    spec, state, tokenizer, _ = full_size_clamp3()

    def encoder(precision: str) -> Encoder:
        model = ClampModel(spec)
        model.load_state_dict(state, strict=True)
        model.eval()
        if precision == "int8":
            model = quantised(model, FAMILIES["clamp3"])
        return Encoder(model, spec, tokenizer, precision, torch.device("cpu"), "bench", "tiny")

    encoders = {p: encoder(p) for p in ("fp32", "int8")}
    times: dict[str, list[float]] = {"fp32": [], "int8": []}
    vectors = {}
    for _ in range(2):
        for p, enc in encoders.items():
            t = time.perf_counter()
            vectors[p] = enc.embed_music(texts, batch_size=16)
            times[p].append(time.perf_counter() - t)
    rate = {p: len(texts) / float(np.median(t)) for p, t in times.items()}
    cos = cosines(vectors["fp32"], vectors["int8"])
    print(f"1. CLaMP 3 size, {len(texts)} tunes, torch threads {torch.get_num_threads()}: fp32 {rate['fp32']:.1f} "
          f"pieces/s, int8 {rate['int8']:.1f} pieces/s: x{rate['int8'] / rate['fp32']:.2f}; cosine int8 vs fp32 "
          f"min {cos.min():.5f}, mean {cos.mean():.5f}")


def first_bars(tune: str, bars: int = 8) -> str:
    head = [line for line in tune.splitlines() if re.match(r"^[A-Za-z]:", line)]
    body = " ".join(line for line in tune.splitlines() if line.strip() and not re.match(r"^[A-Za-z]:|^%", line))
    cut = [m.end() for m in re.finditer(r"\|+", body)]
    return "\n".join(head) + "\n" + (body[:cut[bars - 1]] if len(cut) >= bars else body) + "\n"


def retrieval(queries: int) -> None:
    import music21

    from clamp_cli.formats.convert import music_pieces
    from clamp_cli.models import load_model

    tunes, excerpts = [], []
    for path in sorted((Path(music21.__file__).parent / "corpus" / "ryansMammoth").glob("*.abc")):
        text = path.read_text(encoding="latin-1")
        whole = music_pieces(text.encode("utf-8"), ".abc", "interleaved")
        part = music_pieces(first_bars(text).encode("utf-8"), ".abc", "interleaved")
        if whole[0].text and part[0].text:
            tunes.append(whole[0].text)
            excerpts.append(part[0].text)
        if len(tunes) == queries:
            break
    figures = {}
    for precision in ("fp32", "int8"):
        enc = load_model("clamp-mini", device="cpu", precision=precision)
        t, q = enc.embed_music(tunes), enc.embed_music(excerpts)
        scores = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (t / np.linalg.norm(t, axis=1, keepdims=True)).T
        ranks = (scores >= np.diag(scores)[:, None]).sum(1)
        figures[precision] = (float(np.mean(1 / ranks)), float(np.mean(ranks == 1)))
    (m32, h32), (m8, h8) = figures["fp32"], figures["int8"]
    print(f"2. clamp-mini, {len(tunes)} first-8-bar excerpts -> their tune: fp32 MRR {m32:.4f} Hit@1 {h32:.3f}; "
          f"int8 MRR {m8:.4f} Hit@1 {h8:.3f}; MRR {100 * (m8 - m32) / m32:+.2f}%")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pieces", type=int, default=200)
    ap.add_argument("--queries", type=int, default=300)
    args = ap.parse_args()
    full_size(args.pieces)
    retrieval(args.queries)


if __name__ == "__main__":
    main()
