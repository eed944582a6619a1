"""MERT windows per second on this machine: clamp's batched windows vs the authors' one-at-a-time loop,
on a random MERT of the real size (HuBERT base: 12 layers, hidden 768; no download needed), the
same vectors either way; and the peak memory of a 10-minute recording (decode, resample, features).

    python benchmarks/mert_throughput.py [--seconds 60] [--batch 4]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--memory-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        return memory_child(*args.memory_child)
    import soundfile
    import torch
    from transformers import HubertConfig, HubertModel

    from clamp_cli.models.mert import MertExtractor
    from tests.reference_impl import save_mert

    with tempfile.TemporaryDirectory() as tmp:
        cfg = HubertConfig()                 # the base size MERT-v1-95M has
        torch.manual_seed(0)
        root = save_mert(Path(tmp), HubertModel(cfg), cfg)
        rng = np.random.default_rng(0)
        x = (0.1 * rng.normal(size=int(args.seconds * 24_000))).astype(np.float32)
        windows = int(np.ceil(len(x) / 120_000))
        single, batched = MertExtractor(root, batch_windows=1), MertExtractor(root, batch_windows=args.batch)
        single.features(x[:120_000])
        batched.features(x[:120_000])                     # load both models before timing
        t0 = time.perf_counter()
        a = single.features(x)
        t1 = time.perf_counter()
        b = batched.features(x)
        t2 = time.perf_counter()
        print(f"{windows} windows of 5 s: one at a time {windows / (t1 - t0):.2f} windows/s, "
              f"batches of {args.batch} {windows / (t2 - t1):.2f} windows/s, ratio {(t1 - t0) / (t2 - t1):.2f}; "
              f"max |difference| {np.abs(a - b).max():.2e}")
        wav = root / "ten-minutes.wav"
        t = np.arange(600 * 44_100) / 44_100
        soundfile.write(wav, np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t)], 1).astype(np.float32)
                        * 0.3, 44_100, subtype="PCM_16")
        del t
        # a fresh process: its peak (ru_maxrss) is this file's alone, not this process's high-water mark
        for batch in (1, args.batch):
            out = subprocess.run([sys.executable, __file__, "--memory-child", str(root), str(wav)], text=True,
                                 capture_output=True, check=True, env=dict(os.environ, MERT_BATCH=str(batch)))
            print(f"windows in batches of {batch}: {out.stdout.strip()}")


class RssPeak:
    """The largest resident size seen (sampled every 5 ms from /proc; Linux) since `reset`. ru_maxrss
    cannot serve: loading the model leaves a high-water mark above everything after it."""

    def __init__(self):
        import threading

        self.top = self.now()
        threading.Thread(target=self._watch, daemon=True).start()     # until the process ends

    @staticmethod
    def now() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2 ** 20

    def _watch(self) -> None:
        while True:
            time.sleep(0.005)
            self.top = max(self.top, self.now())

    def reset(self) -> float:
        self.top = self.now()
        return self.top


def memory_child(model: Path, wav: Path) -> None:
    """Resident memory above the loaded model while the 10-minute file is decoded and resampled as
    `clamp embed` does, and while its features are computed."""
    from clamp_cli.formats.audio import load_recording
    from clamp_cli.models.mert import MertExtractor

    mert = MertExtractor(model, batch_windows=int(os.environ.get("MERT_BATCH", "1")))
    mert._load()
    rss = RssPeak()
    base = rss.reset()
    t0 = time.perf_counter()
    samples = load_recording(wav.read_bytes())
    decoding = rss.top - base
    rss.reset()
    feats = mert.features(samples, in_place=True)
    features = rss.top - base
    mb = 2 ** 20
    print(f"10-minute 44.1 kHz stereo WAV ({wav.stat().st_size / mb:.0f} MB): features {feats.shape} in "
          f"{time.perf_counter() - t0:.0f} s. Peak resident memory above the loaded model ({base:.0f} MB): "
          f"decoding and resampling {decoding:.0f} MB (the file's bytes {wav.stat().st_size / mb:.0f} MB + its "
          f"mono samples at 44.1 kHz {600 * 44_100 * 4 / mb:.0f} MB + the 24 kHz signal "
          f"{600 * 24_000 * 4 / mb:.0f} MB = {(wav.stat().st_size + 600 * 68_100 * 4) / mb:.0f} MB); "
          f"computing the features {features:.0f} MB (the 24 kHz signal, normalised in place, and the "
          f"model's work on batches of windows)")


if __name__ == "__main__":
    main()
