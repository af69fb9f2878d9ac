"""``derive serve``: the web page and the JSON API on a local port (docs/web.md).

Loopback (127.0.0.1) by default; any other address is a warning on stderr, since the page
then answers anyone who can reach the port (the API is stateless and evaluates no user text,
but every request costs CPU). Once the port is bound, one line on stdout says where the page
is (``--json``: ``{"url": ..., "host": ..., "port": ...}``), so ``--port 0`` (a free port) can
be scripted. Needs the ``web`` extra: ``pip install 'derive[web]'``.
"""

from __future__ import annotations

import argparse
import sys

from derive.cli.common import add_format_arguments, dumps, whole
from derive.errors import DeriveError

NAME = "serve"
HELP = "serve the web page and the JSON API (check, backward, numbers, grade) on a local port"

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1",
                   help="the address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=whole(0, 65535, "a port "), default=8000,
                   help="the port (default 8000; 0 picks a free one)")
    p.add_argument("--workers", type=whole(1, 16, "a number of worker processes "), default=2,
                   help="worker processes for the computations (default 2)")
    add_format_arguments(p, ("text", "json"))


def is_loopback(host: str) -> bool:
    return host in LOOPBACK or host.startswith("127.")


def bind(host: str, port: int):
    """A listening socket on ``host``:``port`` (0: a free port), or a DeriveError saying why
    not (the port is taken, the address is not this machine's)."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        raise DeriveError(f"cannot listen on {host} port {port}: {exc.strerror or exc}") from None
    return sock


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from derive.web.app import create_app
    except ImportError as exc:
        raise DeriveError(f"derive serve needs the web extra ({exc.name} is not installed): "
                          "pip install 'derive[web]'") from None
    hosts = None
    if is_loopback(args.host):
        hosts = [*LOOPBACK, "[::1]"]
    else:
        print(f"warning: listening on {args.host}, not loopback: anyone who can reach port "
              f"{args.port} of this machine can use the page and the API", file=sys.stderr)
    sock = bind(args.host, args.port)
    port = sock.getsockname()[1]
    shown = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{shown}:{port}/"
    if args.format == "json":
        print(dumps({"url": url, "host": args.host, "port": port}), flush=True)
    else:
        print(f"derive serve: {url} (Ctrl-C to stop)", flush=True)
    config = uvicorn.Config(create_app(workers=args.workers, allowed_hosts=hosts),
                            log_level="warning", access_log=False, limit_concurrency=256,
                            timeout_graceful_shutdown=5)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
    return 0
