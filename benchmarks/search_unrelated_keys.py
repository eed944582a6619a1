"""A warm `clamp search` over 11 files: fresh cache vs a cache holding 200,000 unrelated keys.

Both runs are the real command (typer's runner, in this process) with the model not even
loaded (keys and query cached). The second cache also holds 200,000 vectors of the same model
and preprocessing that belong to other files. Ranking must not care: the ratio of time and of
peak Python memory (tracemalloc, numpy included) between the two is printed.

    python benchmarks/search_unrelated_keys.py [--unrelated 200000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--unrelated", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    from typer.testing import CliRunner

    from clamp_cli.cli.main import app
    from clamp_cli.index.store import FeatureStore
    from clamp_cli.models import load_model
    from clamp_cli.models.random_init import build_text_backbone, make_random_checkpoint

    runner = CliRunner()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = make_random_checkpoint("clamp3", tmp / "model", build_text_backbone(tmp / "bb"), layout="ours")
        scores = tmp / "scores"
        scores.mkdir()
        for i in range(11):
            (scores / f"{i}.abc").write_text(f"X:1\nL:1/8\nM:4/4\nK:G\n|:GABc d{i % 7}B|c2e2 d2B2:|\n")
        os.environ.update(CLAMP_MODEL=str(model), HF_HUB_OFFLINE="1")
        argv = ["search", "--text", "a happy jig", str(scores), "-n", "5", "--json", "-q"]

        fresh = tmp / "fresh"
        os.environ["CLAMP_CACHE_DIR"] = str(fresh)
        assert runner.invoke(app, argv).exit_code == 0  # fills the cache: keys and query
        crowded = tmp / "crowded"
        shutil.copytree(fresh, crowded)
        enc = load_model(str(model), lazy=True)
        store = FeatureStore(crowded)
        prep = store.db.execute("SELECT prep FROM features WHERE prep LIKE 'music/%' LIMIT 1").fetchone()[0]
        rng = np.random.default_rng(0)
        for start in range(0, args.unrelated, 20_000):
            n = min(20_000, args.unrelated - start)
            vecs = rng.normal(size=(n, enc.dim)).astype(np.float32)
            store.put(enc.model_id, prep, {f"{start + i:064x}": v for i, v in enumerate(vecs)})
        store.close()

        def measure(cache: Path) -> tuple[float, int, str]:
            os.environ["CLAMP_CACHE_DIR"] = str(cache)
            runner.invoke(app, argv)  # warm the page cache
            times, peaks, out = [], [], ""
            for _ in range(args.repeats):
                tracemalloc.start()
                t0 = time.perf_counter()
                result = runner.invoke(app, argv)
                times.append(time.perf_counter() - t0)
                peaks.append(tracemalloc.get_traced_memory()[1])
                tracemalloc.stop()
                assert result.exit_code == 0, result.stderr
                out = result.stdout
            return float(np.median(times)), int(np.median(peaks)), out

        t_fresh, m_fresh, out_fresh = measure(fresh)
        t_crowd, m_crowd, out_crowd = measure(crowded)
    assert out_fresh == out_crowd
    print(f"11 files; {args.unrelated} unrelated cached keys of the same model in the second cache")
    print(f"fresh cache:   {t_fresh * 1000:7.1f} ms, peak {m_fresh / 1e6:6.2f} MB")
    print(f"crowded cache: {t_crowd * 1000:7.1f} ms, peak {m_crowd / 1e6:6.2f} MB")
    print(f"ratio: time {t_crowd / t_fresh:.2f}x, memory {m_crowd / m_fresh:.2f}x (same results: yes)")


if __name__ == "__main__":
    main()
