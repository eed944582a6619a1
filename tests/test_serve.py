"""`clamp serve`: a real server process (its signals and socket are the process's), a tiny random
CLaMP 3 model, and the CLI sending its commands there."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest

from clamp_cli.cli.server import request

ABC = "X:1\nT:Reel\nM:4/4\nL:1/8\nK:G\nGABc dedB|dedB dedB|c2ec B2dB|c2A2 A2BA|\n"


def clamp_process(args, env, cwd, stdin=None):
    return subprocess.run([sys.executable, "-m", "clamp_cli", *map(str, args)], env=env, cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=300)


def clamp_process_bytes(args, env, cwd):
    return subprocess.run([sys.executable, "-m", "clamp_cli", *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, timeout=300)


@pytest.fixture()
def server(env, tmp_path):
    address = str(tmp_path / "run" / "serve.sock")
    log = open(tmp_path / "server.log", "w+")      # a file, not a pipe: the server's workers never hold it open
    proc = subprocess.Popen([sys.executable, "-m", "clamp_cli", "serve", "--socket", address], env=env,
                            stdout=subprocess.DEVNULL, stderr=log, text=True, start_new_session=True)
    proc.log = log
    deadline = time.monotonic() + 120
    while True:                     # ready when it answers a ping (or a failure when it has exited)
        assert proc.poll() is None, (tmp_path / "server.log").read_text()
        try:
            if request(address, {"op": "ping"}).get("ok"):
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield proc, address
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)        # the server and any worker it started
        proc.wait()
    log.close()


def test_the_cli_through_the_server_prints_what_it_prints_alone(server, env, tmp_path):
    proc, address = server
    folder = tmp_path / "tunes"
    folder.mkdir()
    for k in range(4):
        (folder / f"t{k}.abc").write_text(ABC.replace("GABc", "GABc"[:4 - k % 2] + "d" * (k % 2)).replace("X:1", f"X:{k}"))
    assert stat.S_IMODE(os.stat(address).st_mode) == 0o600 and stat.S_IMODE(os.stat(os.path.dirname(address)).st_mode) == 0o700
    query = ["search", "--text", "a lively reel", "tunes", "-n", "3", "--jsonl"]
    alone = clamp_process(query, env, tmp_path)
    served = clamp_process([*query, "--server", address], env, tmp_path)
    via_env = clamp_process(query, {**env, "CLAMP_SERVER": address}, tmp_path)
    assert alone.returncode == served.returncode == via_env.returncode == 0, served.stderr
    assert served.stdout == alone.stdout == via_env.stdout and len(alone.stdout.splitlines()) == 3
    listed = clamp_process(["classify", "-", "-l", "a jig", "-l", "a reel", "--server", address, "--jsonl"], env,
                           tmp_path, stdin="tunes/t0.abc\ntunes/t1.abc\n")
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 2, listed.stderr
    for args in (["search", "--text", "a reel", "nowhere"], ["search", "--bogus"], ["classify", "tunes"]):
        bad, bad_alone = clamp_process([*args, "--server", address], env, tmp_path), clamp_process(args, env, tmp_path)
        assert bad.returncode == bad_alone.returncode != 0 and (bad.stdout, bad.stderr) == (bad_alone.stdout,
                                                                                            bad_alone.stderr)
    midi, midi_alone = (clamp_process_bytes(["convert", "tunes/t0.abc", "--to", "midi", "-o", "-", *extra], env, tmp_path)
                        for extra in (["--server", address], []))
    assert midi.returncode == midi_alone.returncode == 0 and midi.stdout == midi_alone.stdout
    assert midi.stdout.startswith(b"MThd")                                     # bytes, as they are
    piped = [clamp_process(["search", "--text", "a reel", "--stdin-score", "abc", "--jsonl", *extra], env, tmp_path,
                           stdin=ABC) for extra in (["--server", address], [])]
    assert piped[0].returncode == piped[1].returncode == 0 and piped[0].stdout == piped[1].stdout != ""
    vectors = request(address, {"op": "embed_text", "texts": ["a reel", "a jig"]})
    assert vectors["ok"] and len(vectors["vectors"]) == 2


def test_malformed_requests_get_an_error_and_the_server_lives_on(server):
    proc, address = server
    bad = [b"not json", b"[1, 2]", b'{"op": "nope"}', b'{"op": "run", "argv": "search"}', b'{"op": 3}',
           b'{"op": "search", "argv": ["--text", "x"], "cwd": "relative"}', b'{"op": "run", "argv": ["train", "mini"]}',
           b'{"op": "embed_text", "texts": [1]}', b'{"op": "embed_text", "texts": ["a"], "colour": "red"}',
           b'{"op": "run", "argv": ["search"], "env": {"PATH": "/evil"}}', b"\xff\xfe"]
    for line in bad:                # each on its own connection: one that is not JSON is closed after its error
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(address)
            sock.sendall(line + b"\n")
            answer = json.loads(sock.makefile("rb").readline())
            assert answer["ok"] is False and answer["error"], line
    with socket.socket(socket.AF_UNIX) as sock:         # a browser's POST: its first line ends the connection
        sock.connect(address)
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n\r\n" + json.dumps({"op": "ping"}).encode() + b"\n")
        reader = sock.makefile("rb")
        assert json.loads(reader.readline())["ok"] is False and reader.readline() == b""
    with socket.socket(socket.AF_UNIX) as sock:         # a line past the limit: an error, that connection ends
        sock.connect(address)
        try:
            sock.sendall(b"x" * (5 * 1024 * 1024) + b"\n")
        except OSError:
            pass
        answer = sock.makefile("rb").readline()
        assert not answer or json.loads(answer)["ok"] is False
    assert request(address, {"op": "ping"})["pid"] == proc.pid


def test_sigterm_stops_the_server_cleanly_and_a_client_without_one_says_so(server, env, tmp_path):
    proc, address = server
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    err = (tmp_path / "server.log").read_text()
    assert "Traceback" not in err and err.strip().endswith("server stopped")
    assert not os.path.exists(address)
    gone = clamp_process(["search", "--text", "a reel", ".", "--server", address], env, tmp_path)
    assert gone.returncode == 1 and gone.stdout == "" and gone.stderr.count("\n") == 1
    assert f"no clamp server answers at {address}" in gone.stderr
