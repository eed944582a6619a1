"""`clamp serve`'s protocol, server loop and client: one process keeps models (and what they have
loaded) and answers requests, so a script's hundredth question does not pay for the first one's
start-up.

Protocol: newline-delimited JSON over a stream socket, one request object per line, one answer
per line, any number on one connection. Requests:
- {"op": "run", "argv": [...], "cwd": "/abs/dir", "env": {"CLAMP_...": "..."}, "stdin": "...",
  "tty": false}: a clamp command line run in the server as `clamp ARGV` would run in that
  folder -> {"ok": true, "exit": N, "stdout": "...", "stderr": "..."} (what the CLI would print:
  `--server` and $CLAMP_SERVER make the CLI send its command line this way);
- {"op": "search", ...} and {"op": "classify", ...}: the same as "run" with that command first;
- {"op": "embed_text", "texts": [...], "model": M?, "precision": P?} and
  {"op": "embed_music", "scores": [...], "format": "abc", "model": M?, "precision": P?}
  -> {"ok": true, "model": id, "vectors": [[...], ...]};
- {"op": "ping"} -> {"ok": true, "pid": N, "version": V}.
Anything else (bad JSON, an unknown op or field, a wrong type, a line over MAX_REQUEST bytes)
gets {"ok": false, "error": "..."}; the server goes on. Requests are answered one at a time.

The address is a Unix socket (default: clamp/serve.sock in the user's runtime folder, created
0700, the socket 0600: only its user can connect) or, when asked, a TCP port on 127.0.0.1.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import stat
import sys
from pathlib import Path
from typing import Any

MAX_REQUEST = 4 * 1024 * 1024       # bytes of one request line (a stdin of paths fits; a flood does not)
IDLE_SECONDS = 60                   # a connection silent this long is closed (requests are served one at a time)
RUN_FIELDS = {"op", "argv", "cwd", "env", "stdin", "tty", "token"}
EMBED_FIELDS = {"op", "texts", "scores", "format", "model", "precision", "token"}
FORWARDED = ("NO_COLOR", "HF_HUB_OFFLINE", "HF_HOME")     # besides CLAMP_*: what a request may set
SERVED_COMMANDS = ("search", "classify", "embed", "melody", "convert", "eval", "score", "map", "probe")


class BadRequest(Exception):
    pass


def default_address() -> str:
    import platformdirs

    return str(Path(platformdirs.user_runtime_dir("clamp", appauthor=False)) / "serve.sock")


def token_path(port: int) -> Path:
    """Where a TCP server keeps the secret every request to it must carry (0600: only its user
    reads it, so only its user's clients can talk to it)."""
    return Path(default_address()).parent / f"serve-{port}.token"


def _tcp(address: str) -> tuple[str, int] | None:
    host, sep, port = address.rpartition(":")
    if sep and port.isdigit() and "/" not in address:
        return host or "127.0.0.1", int(port)
    return None


# -- the server ------------------------------------------------------------------------------

class Server:
    """Answers requests on one listening socket until SIGTERM or SIGINT."""

    def __init__(self, address: str):
        if _tcp(address) is None:
            address = os.path.abspath(address)      # the server works from / once it listens
        self.address = address
        self.encoders: dict[tuple, Any] = {}
        self.stopping = False
        tcp = _tcp(address)
        if tcp is not None:
            if tcp[0] not in ("127.0.0.1", "localhost", "::1"):
                raise ValueError(f"{address}: clamp serve listens on the loopback only (127.0.0.1:PORT)")
            self.sock = socket.create_server((tcp[0], tcp[1]))
            import secrets

            self.token = secrets.token_hex(16)
            where = token_path(tcp[1])
            where.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            old = os.umask(0o177)
            try:
                tmp = where.with_name(where.name + f".{os.getpid()}.tmp")
                tmp.write_text(self.token)
                os.replace(tmp, where)
            finally:
                os.umask(old)
            self.token_file = where
        else:
            self.token, self.token_file = None, None
            path = Path(address)
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if path.exists() or path.is_symlink():
                if not stat.S_ISSOCK(os.lstat(path).st_mode):
                    raise ValueError(f"{address}: not a socket (clamp serve does not replace other files)")
                if _reachable(address):
                    raise ValueError(f"{address}: a clamp server is already running there")
                path.unlink()
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            old = os.umask(0o177)
            try:
                self.sock.bind(str(path))
            finally:
                os.umask(old)
            self.sock.listen(16)
            self.inode = os.lstat(path).st_ino
        os.chdir("/")               # requests name their folder; the server's own may go away

    def serve(self) -> None:
        def stop(signum, frame):
            self.stopping = True
            raise KeyboardInterrupt

        previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            while not self.stopping:
                for s in previous:      # a command may have set its own handlers while it ran
                    signal.signal(s, stop)
                try:
                    conn, _ = self.sock.accept()
                except KeyboardInterrupt:
                    break
                try:
                    self._connection(conn)
                except KeyboardInterrupt:
                    break
                finally:
                    with contextlib.suppress(OSError):
                        conn.shutdown(socket.SHUT_RDWR)
                    conn.close()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            self.close()

    def close(self) -> None:
        self.sock.close()
        with contextlib.suppress(OSError):
            if self.token_file is not None:
                self.token_file.unlink()
            elif os.lstat(self.address).st_ino == self.inode:     # still ours, not a later server's
                os.unlink(self.address)

    def _connection(self, conn: socket.socket) -> None:
        if self.token is None and hasattr(socket, "SO_PEERCRED"):
            import struct

            _, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                            struct.calcsize("3i")))
            if uid != os.getuid():
                return              # another user (the socket's mode should not even let them in)
        conn.settimeout(IDLE_SECONDS)
        with conn.makefile("rb") as reader:
            while True:
                try:
                    line = reader.readline(MAX_REQUEST + 1)
                except (OSError, TimeoutError):
                    return          # a client gone quiet or gone: the next one is served
                if not line:
                    return
                if len(line) > MAX_REQUEST and not line.endswith(b"\n"):
                    _send(conn, {"ok": False, "error": f"request longer than {MAX_REQUEST} bytes"})
                    return          # the rest of that line is not a request: the connection ends
                if not line.strip():
                    continue
                answer = self.answer(line)
                try:
                    _send(conn, answer)
                except OSError:
                    return
                if answer.get("malformed") or self.stopping:
                    return          # not this protocol (a browser's POST, say), or shutting down: no more

    def answer(self, line: bytes) -> dict:
        try:
            request = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            return {"ok": False, "error": f"not JSON: {exc}", "malformed": True}
        if not isinstance(request, dict):
            return {"ok": False, "error": "a request is a JSON object", "malformed": True}
        if self.token is not None and request.get("token") != self.token:
            return {"ok": False, "error": f"no or wrong token (the server's is in {self.token_file})", "malformed": True}
        try:
            op = request.get("op")
            if op == "ping":
                from .. import __version__

                return {"ok": True, "pid": os.getpid(), "version": __version__}
            if op in ("run", "search", "classify"):
                return self._run(request)
            if op in ("embed_text", "embed_music"):
                return self._embed(request)
            raise BadRequest(f"unknown op {op!r} (run, search, classify, embed_text, embed_music, ping)")
        except BadRequest as exc:
            return {"ok": False, "error": str(exc)}
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - a request must never take the server down
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

    def _run(self, request: dict) -> dict:
        unknown = set(request) - RUN_FIELDS
        if unknown:
            raise BadRequest(f"unknown field(s) for {request['op']}: {', '.join(sorted(unknown))}")
        argv = request.get("argv", [])
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            raise BadRequest("argv is a list of strings")
        if request["op"] != "run":
            argv = [request["op"], *argv]
        if not argv or argv[0] not in SERVED_COMMANDS:
            raise BadRequest(f"the server runs {', '.join(SERVED_COMMANDS)}, not {argv[0] if argv else 'nothing'!r}")
        cwd = request.get("cwd")
        env = request.get("env", {})
        stdin = request.get("stdin", "")
        if not isinstance(cwd, str) or not os.path.isabs(cwd) or not os.path.isdir(cwd):
            raise BadRequest("cwd is the absolute path of a folder")
        if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise BadRequest("env is an object of strings")
        if not all(k.startswith("CLAMP_") or k in FORWARDED for k in env):
            raise BadRequest("env holds only CLAMP_*, NO_COLOR, HF_HUB_OFFLINE and HF_HOME")
        if not isinstance(stdin, str) or not isinstance(request.get("tty", False), bool):
            raise BadRequest("stdin is a string (base64 of the bytes) and tty a boolean")
        try:
            data = base64.b64decode(stdin, validate=True)
        except ValueError:
            raise BadRequest("stdin is base64") from None
        return self._command(argv, cwd, env, data, request.get("tty", False))

    def _command(self, argv: list[str], cwd: str, env: dict, stdin: bytes, tty: bool) -> dict:
        from typer.testing import CliRunner

        from .main import build

        ours = [k for k in os.environ if k.startswith("CLAMP_") or k in FORWARDED]
        saved_env = {k: os.environ.get(k) for k in set(env) | set(ours)}
        for k in ours:              # the request's environment, not the server's
            if k not in env:
                del os.environ[k]
        os.environ.update(env)
        try:
            os.chdir(cwd)
            with _keep_models(self.encoders), _stdout_tty(tty):
                result = CliRunner().invoke(build(argv[0]), argv, input=stdin, catch_exceptions=True,
                                            prog_name="clamp")
        finally:
            os.chdir("/")
            for k, v in saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        from ..errors import EXIT_INTERRUPTED

        if result.exit_code == EXIT_INTERRUPTED:
            self.stopping = True    # the server was signalled while the command ran: it stops after answering
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            return {"ok": False, "error": f"{type(result.exception).__name__}: {result.exception}"}
        return {"ok": True, "exit": result.exit_code, "stdout": base64.b64encode(result.stdout_bytes).decode(),
                "stderr": result.stderr}

    def _embed(self, request: dict) -> dict:
        unknown = set(request) - EMBED_FIELDS
        if unknown:
            raise BadRequest(f"unknown field(s) for {request['op']}: {', '.join(sorted(unknown))}")
        key = "texts" if request["op"] == "embed_text" else "scores"
        items = request.get(key)
        if not isinstance(items, list) or not all(isinstance(t, str) for t in items):
            raise BadRequest(f"{key} is a list of strings")
        model, precision = request.get("model"), request.get("precision", "fp32")
        fmt = request.get("format", "abc")
        if not all(isinstance(v, str) for v in (fmt, precision)) or not (model is None or isinstance(model, str)):
            raise BadRequest("model, precision and format are strings")
        from .. import app
        from ..errors import ClampError

        try:
            app.check_precision(precision, "cpu")
            name = model or app.default_model()
            cached = (name, precision)
            if cached not in self.encoders:
                from ..models import load_model

                self.encoders[cached] = load_model(name, device="auto", precision=precision, download=False)
            encoder = self.encoders[cached]
            vectors = encoder.embed_text(items) if key == "texts" else encoder.embed_scores(items, fmt)
        except ClampError as exc:
            raise BadRequest(str(exc)) from None
        return {"ok": True, "model": encoder.model_id, "vectors": [[float(x) for x in v] for v in vectors]}


@contextlib.contextmanager
def _keep_models(kept: dict):
    """Within it, models loaded by the commands stay loaded for the next request (same name,
    backbone, device, precision and weights file)."""
    from ..models import factory

    original = factory.load_model

    def remembered(name_or_path, *, text_backbone=None, device="auto", precision="fp32"):
        loc = factory.find_files(name_or_path, download_ok=False)
        stamp = None
        if loc is not None and loc.weights_path is not None and Path(loc.weights_path).exists():
            st = Path(loc.weights_path).stat()
            stamp = (str(loc.weights_path), st.st_size, st.st_mtime_ns)
        key = ("command", name_or_path, text_backbone, device, precision, stamp)
        if stamp is None or key not in kept:
            encoder = original(name_or_path, text_backbone=text_backbone, device=device, precision=precision)
            if stamp is None:
                return encoder
            kept[key] = encoder
        return kept[key]

    factory.load_model = remembered
    try:
        yield
    finally:
        factory.load_model = original


@contextlib.contextmanager
def _stdout_tty(tty: bool):
    """The command's choice of output (a table on a terminal, JSON when piped) follows the client's
    stdout, not the server's."""
    from . import common

    original = common.stdout_is_terminal
    common.stdout_is_terminal = lambda: tty
    try:
        yield
    finally:
        common.stdout_is_terminal = original


# -- the client ------------------------------------------------------------------------------

def _connect(address: str, timeout: float | None = None) -> socket.socket:
    tcp = _tcp(address)
    if tcp is not None:
        return socket.create_connection(tcp, timeout=timeout)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(address)
    return sock


def _reachable(address: str) -> bool:
    """Whether something listens on that socket (a busy server counts: only a refused connect means none)."""
    try:
        with _connect(address, timeout=2):
            return True
    except OSError:
        return False


def _send(sock: socket.socket, obj: dict) -> None:
    sock.sendall(json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n")


def request(address: str, obj: dict) -> dict:
    """One request, one answer (the Python side of the protocol); a TCP server's token is added
    from its token file."""
    tcp = _tcp(address)
    if tcp is not None and "token" not in obj:
        try:
            obj = {**obj, "token": token_path(tcp[1]).read_text().strip()}
        except OSError:
            pass
    with _connect(address) as sock:
        _send(sock, obj)
        line = sock.makefile("rb").readline()
    if not line:
        raise ConnectionError(f"{address}: the server closed the connection")
    return json.loads(line)


OUTPUT_OPTIONS = ("-o", "--output", "-O", "--out-dir", "--out", "--ranks", "--plot")


def _reads_stdin(argv: list[str]) -> bool:
    """Whether the command line reads standard input: a `-` input (not an output's value),
    `--music -` or `2:-`, or a score on stdin (`--stdin-score`)."""
    for i, arg in enumerate(argv):
        if arg.startswith("--stdin-score"):
            return True
        if (arg == "-" or arg.endswith(("=-", ":-"))) and not (i and argv[i - 1] in OUTPUT_OPTIONS) \
                and not arg.startswith(tuple(f"{o}=" for o in OUTPUT_OPTIONS)):
            return True
    return False


def run_remote(address: str, argv: list[str]) -> int:
    """The CLI's side: send this command line to the server at `address`, print what it printed,
    return its exit code. One line on stderr (exit 1) when no server answers there."""
    stdin = b""
    if _reads_stdin(argv) and not sys.stdin.isatty():
        stdin = sys.stdin.buffer.read()
    env = {k: v for k, v in os.environ.items()
           if (k.startswith("CLAMP_") and k != "CLAMP_SERVER") or k in FORWARDED}
    try:
        answer = request(address, {"op": "run", "argv": argv, "cwd": os.getcwd(), "env": env,
                                   "stdin": base64.b64encode(stdin).decode(), "tty": sys.stdout.isatty()})
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"clamp: error: no clamp server answers at {address} ({reason}); start one with `clamp serve`",
              file=sys.stderr)
        return 1
    if not answer.get("ok"):
        print(f"clamp: error: the server at {address}: {answer.get('error')}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(base64.b64decode(answer.get("stdout", "")))
    sys.stdout.flush()
    sys.stderr.write(answer.get("stderr", ""))
    return int(answer.get("exit", 1))
