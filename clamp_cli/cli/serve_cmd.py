"""`clamp serve`: keep models loaded and answer commands as JSON (the protocol: cli.server)."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from ..errors import UsageError
from .common import handle_errors


@handle_errors
def serve(
    socket_path: Annotated[Optional[str], typer.Option(
        "--socket", metavar="PATH", help="The Unix socket to listen on (made 0600: only you can connect) "
                                         "[default: clamp/serve.sock in your runtime folder].",
        show_default=False)] = None,
    port: Annotated[Optional[int], typer.Option(
        "--port", min=1, max=65535, help="Listen on 127.0.0.1:PORT instead (any local user can connect).")] = None,
) -> int:
    """Keep models loaded and answer clamp commands and embedding requests (JSON lines) until
    SIGTERM or Ctrl-C. A command given `--server ADDR` (or with $CLAMP_SERVER set) runs here and
    prints what it would print itself."""
    from .server import Server, default_address

    if socket_path is not None and port is not None:
        raise UsageError("--socket or --port, not both")
    address = f"127.0.0.1:{port}" if port is not None else (socket_path or default_address())
    try:
        server = Server(address)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot listen at {address}: {getattr(exc, 'strerror', None) or exc}") from None
    print(f"clamp: serving on {server.address} (stop with Ctrl-C or SIGTERM)", file=sys.stderr, flush=True)
    server.serve()
    print("clamp: server stopped", file=sys.stderr, flush=True)
    return 0
