"""MusicXML -> interleaved ABC: `clamp convert --to iabc` vs the authors' way, same outputs.

The authors' way (their batch_xml2abc.py + batch_interleaved_abc.py): one
`python xml2abc.py -d 8 -x FILE` subprocess per file, then the interleaving
steps on its output. Timed twice: one subprocess at a time, and with as many
concurrent subprocesses as cores (their Pool). clamp runs as one `clamp
convert` process (start-up included) with its process pool. Inputs: the first
N MusicXML files of music21's corpus. Prints files/s, the ratios, and whether
every output is identical.

    python benchmarks/convert_throughput.py [--files 300]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=300)
    n = ap.parse_args().files

    import abctoolkit
    import music21

    from clamp_cli.errors import InputError
    from clamp_cli.formats.abc import interleave

    corpus = Path(music21.__file__).parent / "corpus"
    files = sorted(p for p in corpus.rglob("*") if p.suffix in (".mxl", ".xml", ".musicxml"))[:n]
    script = Path(abctoolkit.__file__).parent / "xml2abc.py"

    def authors_way(path: Path) -> str | None:
        out = subprocess.run([sys.executable, str(script), "-d", "8", "-x", str(path)],
                             capture_output=True).stdout.decode("utf-8")
        if not out:
            return None
        try:
            return interleave(out)[0]
        except InputError:
            return None

    t0 = time.perf_counter()
    sequential = [authors_way(p) for p in files]
    t_seq = time.perf_counter() - t0
    cores = os.cpu_count() or 1
    t0 = time.perf_counter()
    with ThreadPoolExecutor(cores) as pool:
        pooled = list(pool.map(authors_way, files))
    t_pool = time.perf_counter() - t0
    assert pooled == sequential

    with tempfile.TemporaryDirectory() as tmp:
        listing = "\n".join(str(p) for p in files) + "\n"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "clamp_cli.cli.main", "convert", "-", "--to", "iabc",
                        "--out-dir", tmp, "-q"], input=listing.encode(), capture_output=True)
        t_ours = time.perf_counter() - t0
        ours = []
        for p in files:
            target = Path(tmp) / p.relative_to(p.parent).with_suffix(".abc")
            ours.append(target.read_text(encoding="utf-8") if target.exists() else None)

    both = [(a, b) for a, b in zip(ours, sequential) if b is not None]
    same = sum(a == b for a, b in both)
    ours_only = sum(a is not None and b is None for a, b in zip(ours, sequential))
    print(f"{len(files)} MusicXML files from music21's corpus, {cores} cores")
    print(f"authors' way, one subprocess at a time:  {len(files) / t_seq:7.1f} files/s ({t_seq:.1f} s)")
    print(f"authors' way, {cores} subprocesses at once:   {len(files) / t_pool:7.1f} files/s ({t_pool:.1f} s)")
    print(f"clamp convert --to iabc -j {cores}:          {len(files) / t_ours:7.1f} files/s ({t_ours:.1f} s, start-up included)")
    print(f"ratio vs one at a time: {t_seq / t_ours:.2f}x; vs {cores} at once: {t_pool / t_ours:.2f}x")
    print(f"identical outputs: {same}/{len(both)} where the authors' tool gave one; "
          f"{ours_only} converted only by clamp (e.g. .mxl holding a .musicxml, which xml2abc.py cannot open)")


if __name__ == "__main__":
    main()
