"""One `clamp train` step on 2 cores: random batches encoded in length-sorted chunks vs padded whole.

The same seeded batches of real pieces (the patches `clamp train` cached for a prepared data
set) go through forward, InfoNCE against random text vectors and backward, once with every
piece padded to the batch's longest (the baseline) and once in chunks of similar length (what
`clamp train` does); steps/s, the ratio, and the largest difference between the two losses (dropout off).

    python benchmarks/train_step.py WORK/data/data.jsonl [--steps 12]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path, help="a data.jsonl from `clamp train prepare`")
    ap.add_argument("--work", type=Path, help="the run's .work folder (default: beside the data, clamp-mini.work)")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    import torch
    import torch.nn.functional as F

    from clamp_cli.models.architectures import ClampModel, ModelSpec
    from clamp_cli.models.checkpoint import preset
    from clamp_cli.train.trainer import _crop, _encode_music, load_patches, read_jsonl

    records = read_jsonl(args.data)
    work = args.work or args.data.parent.parent / "clamp-mini.work"
    patches = [p for p in load_patches(records, work, None, print) if p is not None]
    spec = ModelSpec.from_dict({**preset("mini"), "logit_scale": None})
    rng = random.Random(0)
    batches = [[_crop(p, spec.music_length, rng) for p in rng.sample(patches, args.batch_size)]
               for _ in range(args.steps)]
    lengths = [len(p) for b in batches for p in b]
    print(f"{args.steps} batches of {args.batch_size}; padded/real patches "
          f"{sum(args.batch_size * max(len(p) for p in b) for b in batches) / sum(lengths):.2f}")

    def run(chunk: int | None, dropout: bool = True) -> tuple[float, list[float]]:
        torch.manual_seed(0)
        model = ClampModel(spec).train(dropout)
        text = torch.randn(args.batch_size, spec.dim)
        losses = []
        t0 = time.perf_counter()
        for b in batches:
            m = _encode_music(model, b, "cpu", step=chunk or len(b))
            logits = F.normalize(m, dim=-1) @ F.normalize(text, dim=-1).T * 14
            loss = F.cross_entropy(logits, torch.arange(len(b)))
            model.zero_grad()
            loss.backward()
            losses.append(float(loss.detach()))
        return time.perf_counter() - t0, losses

    run(16)  # warm-up
    base_s, base_l = run(None)
    new_s, new_l = run(16)
    print(f"padded batch: {args.steps / base_s:.2f} steps/s; sorted chunks of 16: {args.steps / new_s:.2f} steps/s; "
          f"ratio {base_s / new_s:.2f}x")
    # dropout draws differ with the order, so the same losses are checked with it off
    same = max(abs(a - b) for a, b in zip(run(None, False)[1], run(16, False)[1]))
    print(f"largest loss difference without dropout: {same:.2e}")


if __name__ == "__main__":
    main()
