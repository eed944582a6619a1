"""How much the resampler matters: MERT features of 44.1 kHz music resampled three ways.

The signal is real music at a real rate: a Bach chorale from music21's corpus rendered at
44.1 kHz (each note a decaying tone with harmonics). It goes to 24 kHz by (a) torchaudio's
formula evaluated directly in float64 (what the authors' `torchaudio.transforms.Resample`
computes; tests/reference_impl.py), (b) clamp's rebuilt kernel, (c) soxr (VHQ), if installed.
Each goes through a random MERT of the real size (HuBERT base, seeded) and the CLaMP 3 audio
pooling's input, the (1, W, 768) features; printed: the largest difference and the cosine of
the mean feature vectors (what CLaMP 3 pools) against (a).

    python benchmarks/resampler_effect.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RATE = 44_100


def chorale(seconds: float) -> np.ndarray:
    import music21

    score = music21.corpus.parse("bach/bwv66.6")
    out = np.zeros(int(seconds * RATE), np.float64)
    for n in score.flatten().notes:
        start = float(n.offset) * 0.5                    # 120 beats a minute
        if start >= seconds:
            continue
        for p in n.pitches:
            f = p.frequency
            t = np.arange(int(float(n.quarterLength) * 0.5 * RATE)) / RATE
            tone = sum(np.sin(2 * np.pi * k * f * t) / k for k in range(1, 6)) * np.exp(-3 * t)
            i = int(start * RATE)
            out[i:i + len(tone)] += tone[:len(out) - i]
    return (0.2 * out / np.abs(out).max()).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    import torch
    from transformers import HubertConfig, HubertModel

    from clamp_cli.formats.audio import resample
    from clamp_cli.models.mert import MertExtractor
    from tests.reference_impl import ref_resample, save_mert

    x = chorale(args.seconds)
    ways = {"torchaudio formula (float64)": ref_resample(x, RATE, 24_000), "clamp": resample(x, RATE)}
    try:
        import soxr

        ways["soxr VHQ"] = soxr.resample(x, RATE, 24_000, quality="VHQ").astype(np.float32)
    except ImportError:
        print("soxr not installed: skipped")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = HubertConfig()
        torch.manual_seed(0)
        mert = MertExtractor(save_mert(Path(tmp), HubertModel(cfg), cfg))
        feats = {name: mert.features(y[:len(ways["clamp"])]) for name, y in ways.items()}
    ref = feats["torchaudio formula (float64)"]
    for name, f in feats.items():
        a, b = f[0].mean(axis=0), ref[0].mean(axis=0)
        cos = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
        print(f"{name:30s} samples max |diff| {np.abs(ways[name][:len(ways['clamp'])] - ways['clamp']).max():.1e} "
              f"(vs clamp); features max |diff| {np.abs(f - ref).max():.1e}, cosine of mean vectors {cos:.7f}")


if __name__ == "__main__":
    main()
