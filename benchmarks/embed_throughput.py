"""Music embedding throughput: clamp's batched path vs the authors' way, same process.

Full-size CLaMP 3 symbolic architecture (hidden 768, 12 layers, 512 patches
per segment), random weights, CPU. Inputs: real tunes from the ABC
collections inside music21's corpus, one tune per item. The baseline is the
authors' extraction loop (tests/reference_impl.py): one piece at a time,
every segment padded to 512, the one-hot matmul. Prints pieces/s for both,
the ratio, and the largest absolute difference between the two sets of vectors.

    python benchmarks/embed_throughput.py [--pieces 200] [--baseline-pieces 200]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402


def corpus_tunes(count: int) -> list[str]:
    import music21

    root = Path(music21.__file__).parent / "corpus"
    tunes: list[str] = []
    for path in sorted(root.glob("**/*.abc")):
        text = path.read_text(encoding="utf-8", errors="replace")
        for tune in re.split(r"\n(?=X:)", text):
            if tune.startswith("X:") and "|" in tune:
                tunes.append(tune.strip() + "\n")
        if len(tunes) >= count:
            break
    return tunes[:count]


def full_size_clamp3(seed: int = 0):
    """(spec, random state dict, tokenizer, text config) of CLaMP 3's symbolic size (hidden 768,
    12 layers, 512 patches) with a tiny text backbone: what the CPU benchmarks time."""
    from transformers import AutoConfig, AutoTokenizer

    from clamp_cli.models.random_init import build_text_backbone, random_spec, random_state_dict

    with tempfile.TemporaryDirectory() as tmp:
        backbone = build_text_backbone(Path(tmp) / "bb")
        text_config = AutoConfig.from_pretrained(str(backbone)).to_dict()
        tokenizer = AutoTokenizer.from_pretrained(str(backbone))
    spec = random_spec("clamp3", text_config, dim=768, hidden_size=768, num_layers=12, music_positions=512)
    return spec, random_state_dict(spec, seed=seed), tokenizer, text_config


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pieces", type=int, default=200)
    ap.add_argument("--baseline-pieces", type=int, default=200,
                    help="time the slow baseline on the first N pieces only (rate is per piece)")
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()

    from transformers import AutoConfig

    from clamp_cli.models.architectures import ClampModel
    from clamp_cli.models.encoder import Encoder
    from tests import reference_impl as ref

    torch.set_num_threads(torch.get_num_threads())
    tunes = corpus_tunes(args.pieces)
    spec, state, tokenizer, text_config = full_size_clamp3()
    model = ClampModel(spec)
    model.load_state_dict(state, strict=True)
    model.eval()
    encoder = Encoder(model, spec, tokenizer, "bench", torch.device("cpu"), "bench", "tiny")

    reference = ref.RefCLaMP3Model(
        AutoConfig.for_model(**{k: v for k, v in text_config.items() if k not in ("transformers_version",)}),
        ref.BertConfig(**spec.music), ref.BertConfig(**spec.audio), hidden_size=768)
    reference.load_state_dict(state, strict=True)
    reference.eval()

    n_patches = [len(encoder.music_ids(t)) for t in tunes]
    print(f"{len(tunes)} tunes from music21's ABC corpus, patches per tune: "
          f"median {int(np.median(n_patches))}, max {max(n_patches)}; torch threads {torch.get_num_threads()}")

    t0 = time.perf_counter()
    ours = encoder.embed_music(tunes, batch_size=args.batch_size)
    t_ours = time.perf_counter() - t0

    base_tunes = tunes[: args.baseline_pieces]
    t0 = time.perf_counter()
    with torch.no_grad():
        theirs = np.stack([ref.ref_extract(reference, "music", ref.ref_m3_patches(t, clamp3=True), 512)
                           for t in base_tunes])
    t_base = time.perf_counter() - t0

    ours_rate = len(tunes) / t_ours
    base_rate = len(base_tunes) / t_base
    diff = float(np.abs(ours[: len(base_tunes)] - theirs).max())
    print(f"clamp batched:   {ours_rate:8.2f} pieces/s ({len(tunes)} pieces in {t_ours:.1f} s)")
    print(f"authors' way:    {base_rate:8.2f} pieces/s ({len(base_tunes)} pieces in {t_base:.1f} s)")
    print(f"ratio:           {ours_rate / base_rate:8.2f}x")
    print(f"max |difference| {diff:.2e} over {len(base_tunes)} vectors of {ours.shape[1]}")


if __name__ == "__main__":
    main()
