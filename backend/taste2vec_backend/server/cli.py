"""``taste2vec-serve``: the inference server on uvicorn.

    taste2vec-serve                                   # the bundle shipped in the SDK, 127.0.0.1:8080
    taste2vec-serve --model path/to/bundle --trusted-key release.pub.pem
    taste2vec-serve --registry runs/model/registry --trusted-key release.pub.pem --watch 5

The bundle (or the registry's production version) is verified and loaded before the port opens, so a bad one
fails here with exit code 2. The server binds loopback addresses only: put a reverse proxy (TLS, auth,
rate limits) in front of it to expose it. On start it prints one JSON line to stdout, ``{"listening": URL,
"model_version": ...}`` (with ``--port 0``, the port the system chose). The API key, when wanted, comes from
``--api-key-file`` or ``$TASTE2VEC_API_KEY``, never the command line (it would show in ``ps``).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any, Sequence

from taste2vec.bundle import default_bundle_path
from taste2vec.errors import Taste2VecError, UsageError
from taste2vec.helpformat import Parser
from taste2vec.registry import default_registry_path
from taste2vec.signing import add_trust_arguments, trust_from_args

from .protocol import ConnectionLimits

API_KEY_ENV = "TASTE2VEC_API_KEY"
DEFAULT_WORKERS = max(1, min(8, os.cpu_count() or 1))


def loopback_host(host: str) -> str:
    """``host`` if it is a loopback address (``localhost`` is 127.0.0.1); UsageError otherwise."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise UsageError(f"--host {host}: the server binds loopback addresses only (127.0.0.1, ::1); expose it "
                          "through a reverse proxy")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="taste2vec-serve", description="Serve a Taste2Vec bundle over HTTP: POST "
                                "/embed /similar /recommend, GET /health /info /metrics, POST /admin/reload.")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--model", help="bundle folder or .zip (default: the bundle shipped in the SDK)")
    src.add_argument("--registry", nargs="?", const=str(default_registry_path()),
                     help="serve the production version of a registry (bare --registry: runs/registry or "
                          "$TASTE2VEC_REGISTRY)")
    p.add_argument("--name", default="taste2vec-edge", help="model name in the registry (default taste2vec-edge)")
    add_trust_arguments(p)
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: any free port)")
    p.add_argument("--max-client-batch-size", "--max-records", dest="max_records", type=int, default=256,
                   help="records (inputs) per request; more is 413")
    p.add_argument("--max-body-bytes", type=int, default=4 << 20, help="request body limit (default 4 MiB)")
    p.add_argument("--max-batch", type=int, default=64, help="records per engine call (default 64)")
    p.add_argument("--max-wait-ms", type=float, default=0.0,
                   help="an idle engine waits this long for more requests (default 0: at once)")
    p.add_argument("--max-queue", type=int, default=4096, help="records queued before 429 (default 4096)")
    p.add_argument("--no-batching", action="store_true", help="one engine call per request (for comparison)")
    p.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                   help=f"engine worker processes, each with its own interpreter (default {DEFAULT_WORKERS}: one "
                        "per core, at most 8; 0: the engine on a thread of the server process)")
    p.add_argument("--threads", type=int, default=1, help="LiteRT threads per engine (default 1)")
    p.add_argument("--catalog", action="append", default=[], metavar="FILE",
                   help="catalog JSON for /similar and /recommend; repeatable, one per model version "
                        "(default: the SDK's demo catalog)")
    p.add_argument("--watch", type=float, metavar="SECONDS",
                   help="poll the source every SECONDS and reload when its version changes")
    limits = ConnectionLimits()
    p.add_argument("--max-profile-events", type=int, default=1024,
                   help="buffered events a /recommend profile may carry; more is 413 (its refit is the costly part)")
    p.add_argument("--header-timeout", type=float, default=limits.header_timeout,
                   help="seconds a request's headers may take to arrive (also an idle new connection); then 408")
    p.add_argument("--body-timeout", type=float, default=limits.body_timeout,
                   help="seconds a request's body may take after its headers; then 408")
    p.add_argument("--max-connections", type=int, default=limits.total,
                   help="open connections in all; more are answered 503 and closed")
    p.add_argument("--max-connections-per-client", type=int, default=limits.per_client,
                   help="open connections from one client address; more are answered 503 and closed")
    p.add_argument("--max-concurrent-requests", type=int, default=512,
                   help="inference requests answered at once; one more is 429 with Retry-After (backpressure, with "
                        "--max-queue)")
    p.add_argument("--allow-downgrade", action="store_true",
                   help="let a reload move to an older version than the one served (refused otherwise, but for a "
                        "registry rolled back with taste2vec-lifecycle rollback)")
    p.add_argument("--api-key-file", help=f"file holding the API key (else ${API_KEY_ENV}; none: no key)")
    p.add_argument("--access-log", action="store_true", help="log every request (off: it costs throughput)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                   help="server log level")
    return p


def _api_key(args: argparse.Namespace) -> str | None:
    if args.api_key_file:
        try:
            raw = Path(args.api_key_file).read_bytes()[:4097]
        except OSError as e:
            raise UsageError(f"--api-key-file {args.api_key_file}: {e.strerror or e}") from None
        if len(raw) > 4096:
            raise UsageError(f"--api-key-file {args.api_key_file}: over 4096 bytes")
        key = raw.decode("utf-8", "replace").strip()
    else:
        key = os.environ.get(API_KEY_ENV, "").strip() or None
    return key


def _bind(host: str, port: int) -> socket.socket:
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port}: allowed 0..65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise UsageError(f"cannot bind {host}:{port}: {e.strerror or e}") from None
    sock.listen(512)
    sock.set_inheritable(True)
    return sock


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import uvicorn

        from .app import ServerConfig, create_app
        from .protocol import guarded_protocol
        from .engine import BundleSource, RegistrySource, make_runner
    except ImportError as e:
        print(f"taste2vec-serve: the server needs the 'serve' extra ({e.name} is missing): "
              "pip install . './backend[serve]' (taste2vec-backend[serve])", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sock = None
    try:
        host = loopback_host(args.host)
        trust = trust_from_args(args)
        source = RegistrySource(Path(args.registry), args.name, **trust) if args.registry else \
            BundleSource(Path(args.model) if args.model else default_bundle_path(), **trust)
        config = ServerConfig(max_records=args.max_records, max_body_bytes=args.max_body_bytes,
                              max_batch=args.max_batch, max_wait_ms=args.max_wait_ms, max_queue=args.max_queue,
                              batching=not args.no_batching, workers=args.workers, api_key=_api_key(args),
                              num_threads=args.threads,
                              catalogs=tuple(Path(c) for c in args.catalog), watch_interval_s=args.watch,
                              max_profile_events=args.max_profile_events, allow_downgrade=args.allow_downgrade,
                              max_concurrent_requests=args.max_concurrent_requests)
        limits = ConnectionLimits(args.header_timeout, args.body_timeout, args.max_connections_per_client,
                                  args.max_connections)
        sock = _bind(host, args.port)
        runner = make_runner(source, config.workers, config.num_threads)
        app = create_app(source, config, runner)
    except (Taste2VecError, ValueError) as e:
        if sock is not None:
            sock.close()
        print(f"taste2vec-serve: error: {e}", file=sys.stderr)
        return 2
    port = sock.getsockname()[1]
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    print(json.dumps({"listening": url, "model_version": runner.model_version, "source": source.describe(),
                      "batching": config.batching, "workers": config.workers}), flush=True)
    uv = uvicorn.Config(app, http=guarded_protocol(limits), log_level=args.log_level, access_log=args.access_log,
                        lifespan="on", timeout_keep_alive=30, timeout_graceful_shutdown=10, server_header=False)
    return _serve(uvicorn, uv, sock)


def _serve(uvicorn: Any, config: Any, sock: socket.socket) -> int:
    """Run uvicorn until it shuts down; 130 when a SIGINT started that (as for Ctrl-C: uvicorn re-raises it, which
    can also end as a cancelled main task rather than a KeyboardInterrupt), else 0."""

    class Server(uvicorn.Server):
        interrupted = False

        def handle_exit(self, sig: int, frame: Any) -> None:
            self.interrupted = self.interrupted or sig == signal.SIGINT
            super().handle_exit(sig, frame)

    server = Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        return 130
    return 130 if server.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
