"""MERT windows per second on this machine: clamp's batched windows vs the authors' one-at-a-time loop,
on a random MERT of the real size (HuBERT base: 12 layers, hidden 768; no download needed), the
same vectors either way; and the peak memory of a 10-minute recording (decode, resample, features).

    python benchmarks/mert_throughput.py [--seconds 60] [--batch 4]
"""

from __future__ import annotations

import argparse
import io
import json
import resource
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
    args = ap.parse_args()
    import soundfile
    import torch
    from transformers import HubertConfig, HubertModel

    from clamp_cli.formats.audio import load_recording
    from clamp_cli.models.mert import MertExtractor

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cfg = HubertConfig()                 # the base size MERT-v1-95M has
        torch.manual_seed(0)
        torch.save(HubertModel(cfg).state_dict(), root / "pytorch_model.bin")
        (root / "config.json").write_text(json.dumps({**cfg.to_dict(), "model_type": "mert_model"}))
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
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        ten = io.BytesIO()
        t = np.arange(600 * 44_100) / 44_100
        soundfile.write(ten, np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t)], 1).astype(np.float32)
                        * 0.3, 44_100, subtype="PCM_16", format="WAV")
        data = ten.getvalue()
        del t, ten
        t0 = time.perf_counter()
        feats = batched.features(load_recording(data), in_place=True)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"10-minute 44.1 kHz stereo WAV ({len(data) / 2**20:.0f} MB): features {feats.shape} in "
              f"{time.perf_counter() - t0:.0f} s; peak memory grew by {(after - before) / 1024:.0f} MB "
              f"(the 24 kHz signal alone is {600 * 24_000 * 4 / 2**20:.0f} MB)")


if __name__ == "__main__":
    main()
