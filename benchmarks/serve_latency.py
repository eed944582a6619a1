"""`clamp serve` against separate CLI processes, with a tiny random CLaMP 3 model.

A server (`clamp serve --socket ...`, a real process) keeps the model loaded; N sequential search
requests (`{"op": "search", ...}`: the text query varied so no answer is the last one's, over 50
real tunes of music21's ryansMammoth, embedded beforehand) are timed one by one from a client in
this process, p50 and p99; then the same searches as M separate `clamp search` processes (what a
script without the server pays), p50, and the ratio of the p50s. Then 100 malformed requests
(bad JSON, unknown ops and fields, wrong types, huge bodies, bad bytes), each of which must get an
error object, and a ping to show the server alive.

    python benchmarks/serve_latency.py [--requests 1000] [--processes 20]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from clamp_cli.cli.server import request  # noqa: E402

WORDS = ("a lively reel", "a slow air", "a jig in D", "a hornpipe", "a sad waltz", "a march", "a strathspey")


def malformed(rng: random.Random) -> bytes:
    kinds = [b"not json", b"[1, 2, 3]", b'{"op": "nope"}', b'{"op": 7}', b'{"op": "run", "argv": "search"}',
             b'{"op": "search", "argv": [1, 2]}', b'{"op": "search", "argv": ["--text", "x"], "cwd": "relative"}',
             b'{"op": "embed_text", "texts": "a"}', b'{"op": "embed_text", "texts": ["a"], "extra": 1}',
             b'{"op": "run", "argv": ["train", "mini", "/tmp/x"]}', b'{"op": "run", "argv": [], "env": {"PATH": "/"}}',
             b"\xff\xfe\x00", b'{"op": "embed_music", "scores": [3]}', b'{"op": "search", "stdin": 5}']
    return rng.choice(kinds)


def main() -> None:
    import music21

    from clamp_cli.models.random_init import build_text_backbone, make_random_checkpoint

    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--processes", type=int, default=20)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="clamp-serve-"))
    try:
        backbone = build_text_backbone(work / "xlmr-tiny")
        model = make_random_checkpoint("clamp3", work / "tiny-clamp3", backbone, seed=5, layout="ours")
        tunes = work / "tunes"
        tunes.mkdir()
        for path in sorted((Path(music21.__file__).parent / "corpus" / "ryansMammoth").glob("*.abc"))[:50]:
            shutil.copy(path, tunes / path.name)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "CLAMP_MODEL": str(model), "CLAMP_CACHE_DIR": str(work / "cache"),
               "NO_COLOR": "1"}
        env.pop("CLAMP_SERVER", None)
        subprocess.run([sys.executable, "-m", "clamp_cli", "embed", str(tunes), "-q"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        address = str(work / "run" / "serve.sock")
        log = open(work / "server.log", "w")
        server = subprocess.Popen([sys.executable, "-m", "clamp_cli", "serve", "--socket", address], env=env,
                                  stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 120
        while True:
            try:
                if request(address, {"op": "ping"}).get("ok"):
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start: {(work / 'server.log').read_text()}")
            time.sleep(0.05)
        clamp_env = {k: v for k, v in env.items() if k.startswith("CLAMP_") or k in ("NO_COLOR", "HF_HUB_OFFLINE")}
        rng = random.Random(0)
        times, first = [], None
        for k in range(args.requests):
            words = f"{rng.choice(WORDS)} {k}"
            t = time.perf_counter()
            answer = request(address, {"op": "search", "argv": ["--text", words, str(tunes), "-n", "10", "--jsonl"],
                                       "cwd": str(work), "env": clamp_env})
            times.append(time.perf_counter() - t)
            out = base64.b64decode(answer["stdout"]).decode() if answer.get("ok") else ""
            assert answer["ok"] and answer["exit"] == 0 and len(out.splitlines()) == 10, answer
            first = first or out
        p50, p99 = np.percentile(times, 50), np.percentile(times, 99)
        print(f"{args.requests} sequential search requests to the server: p50 {1000 * p50:.1f} ms, p99 "
              f"{1000 * p99:.1f} ms")
        cli = []
        for k in range(args.processes):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "clamp_cli", "search", "--text", f"{rng.choice(WORDS)} cli {k}",
                            str(tunes), "-n", "10", "--jsonl"], env=env, check=True, capture_output=True)
            cli.append(time.perf_counter() - t)
        print(f"{args.processes} separate `clamp search` processes: p50 {1000 * np.median(cli):.0f} ms; "
              f"server p50 / process p50: 1/{np.median(cli) / p50:.1f}")
        errors = 0
        for _ in range(100):
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(address)
                body = malformed(rng) if rng.random() < 0.9 else b"x" * (5 * 1024 * 1024)
                try:
                    sock.sendall(body + b"\n")
                except OSError:
                    pass
                line = sock.makefile("rb").readline()
                errors += bool(line) and json.loads(line).get("ok") is False
        alive = request(address, {"op": "ping"})["ok"]
        print(f"100 malformed requests: {errors} answered with an error object; server alive after them: {alive}")
        server.send_signal(signal.SIGTERM)
        print(f"SIGTERM: the server exited with {server.wait(timeout=60)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
