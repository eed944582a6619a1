"""What keeping melodies costs an embed: the same files embedded with and without them.

`clamp embed` (and every library update) keeps each converted piece's melody beside its vector,
made from the same MusicXML (abc2xml runs once for both). This embeds N of music21's
ryansMammoth tunes with the bundled model into fresh caches, melodies off and on, alternating
(off, on, off, on, ...), and prints each run, the ratio of the medians and the stored melody
bytes per tune.

    python benchmarks/melody_overhead.py [--files 300] [--rounds 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def main() -> None:
    import music21

    from clamp_cli.index.embedder import Embedder
    from clamp_cli.index.melodies import MELODY_MODEL
    from clamp_cli.index.store import FeatureStore
    from clamp_cli.models import load_model

    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    files = sorted((Path(music21.__file__).parent / "corpus" / "ryansMammoth").glob("*.abc"))[:args.files]
    encoder = load_model("clamp-mini", device="cpu")
    encoder.embed_music(["X:1\nL:1/8\nK:C\nCDEF|\n"])          # warm the model before timing
    times: dict[bool, list[float]] = {False: [], True: []}
    stored = 0
    for _ in range(args.rounds):
        for with_melodies in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                store = FeatureStore(tmp)
                embedder = Embedder(encoder, store)
                embedder.melodies = with_melodies
                t = time.perf_counter()
                results = embedder.embed_files(files)
                times[with_melodies].append(time.perf_counter() - t)
                if with_melodies:
                    stored = store.db.execute("SELECT count(*), sum(length(vector)) FROM features WHERE model = ?",
                                              (MELODY_MODEL,)).fetchone()
                store.close()
            print(f"{'with' if with_melodies else 'without'} melodies: {times[with_melodies][-1]:.1f} s "
                  f"({sum(r.vector is not None for r in results)} vectors)", flush=True)
    off, on = np.median(times[False]), np.median(times[True])
    print(f"{len(files)} files: median {off:.1f} s without melodies, {on:.1f} s with: x{on / off:.3f} "
          f"({100 * (on / off - 1):+.1f}%); {stored[0]} melodies kept, {stored[1] / max(stored[0], 1):.0f} bytes a tune")


if __name__ == "__main__":
    main()
