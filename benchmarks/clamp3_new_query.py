"""What a new text question costs with a CLaMP 3 size model (random weights in the authors' layout).

The published CLaMP 3 checkpoint cannot be fetched here; this builds one of its size: XLM-R base
text encoder (768 wide, 12 layers, 250,002-token embedding), 768-wide 12-layer music and audio
encoders, written as the authors publish it (a `.pth` state dict). It then times, in this process,
loading it the way clamp does now (built without random init, taking the memory-mapped tensors
themselves) against the plain way (init the module, then copy the weights in), and, as whole
processes, a new text question over a warm folder (the folder's vectors are cached, the question
is not: the model must load).

    python benchmarks/clamp3_new_query.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()

    import torch
    from transformers import AutoConfig

    from clamp_cli.models.architectures import ClampModel
    from clamp_cli.models.factory import build_model, read_state_dict
    from clamp_cli.models.random_init import build_text_backbone, random_spec, random_state_dict, write_official
    from clamp_cli.train.prepare import corpus_root

    work = Path(tempfile.mkdtemp(prefix="clamp3-query-", dir=args.workdir))
    try:
        backbone = build_text_backbone(work / "xlm-r-base", hidden_size=768, num_layers=12, max_positions=514)
        config = json.loads((backbone / "config.json").read_text())
        config.update(vocab_size=250_002, intermediate_size=3072, num_attention_heads=12)
        (backbone / "config.json").write_text(json.dumps(config))
        text_config = AutoConfig.from_pretrained(str(backbone)).to_dict()
        spec = random_spec("clamp3", text_config, dim=768, hidden_size=768, num_layers=12)
        t0 = time.perf_counter()
        state = random_state_dict(spec, seed=0)
        params = sum(v.numel() for v in state.values())
        checkpoint = write_official(spec, state, work / "clamp3" / "weights.pth")
        del state
        size = checkpoint.stat().st_size
        print(f"a CLaMP 3 size checkpoint: {params / 1e6:.0f}M parameters, {size / 2**30:.2f} GB "
              f"(written in {time.perf_counter() - t0:.0f} s)")

        t0 = time.perf_counter()
        plain = ClampModel(spec)
        plain.load_state_dict(torch.load(str(checkpoint), map_location="cpu", weights_only=True)["model"])
        before = time.perf_counter() - t0
        del plain
        t0 = time.perf_counter()
        ours = build_model(spec, read_state_dict(checkpoint), str(checkpoint))
        now = time.perf_counter() - t0
        del ours
        print(f"load, in this process: init + copy {before:.2f} s; clamp (no init, memory-mapped) {now:.2f} s "
              f"({before / now:.1f}x)")

        folder = work / "tunes"
        folder.mkdir()
        for tune in sorted((corpus_root() / "ryansMammoth").glob("*.abc"))[:20]:
            shutil.copy(tune, folder / tune.name)
        env = dict(os.environ, HF_HUB_OFFLINE="1", CLAMP_CACHE_DIR=str(work / "cache"), NO_COLOR="1",
                   CLAMP_MODEL=str(checkpoint))
        env.pop("CLAMP_TEXT_BACKBONE", None)
        clamp = [sys.executable, "-m", "clamp_cli", "search", "--text-backbone", str(backbone), str(folder), "-n", "3",
                 "--json"]
        subprocess.run([*clamp, "-t", "warm the folder"], env=env, check=True, capture_output=True)
        walls, peak = [], 0
        for n in range(args.runs):
            t0 = time.perf_counter()
            subprocess.run([*clamp, "-t", f"a new question {time.time_ns()} {n}"], env=env, check=True,
                           capture_output=True)
            walls.append(time.perf_counter() - t0)
            peak = max(peak, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        walls.sort()
        print(f"a new text question over a warm folder of 20 tunes, whole process: {walls[len(walls) // 2]:.2f} s "
              f"wall (median of {args.runs}), peak resident memory {peak / 1024:.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
