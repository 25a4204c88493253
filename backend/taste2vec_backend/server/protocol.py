"""The connection layer under the app: uvicorn's httptools protocol with the limits a server facing untrusted clients
needs, and the typed JSON body for the answers it gives itself.

uvicorn closes a keep-alive connection that stays idle after a response, but nothing bounds a connection before its
first request, a request whose headers arrive one byte at a time, or a body trickled below any useful rate: each
holds a connection (and its memory) for as long as the client likes, and a few hundred of them lock everyone else
out. :func:`guarded_protocol` adds, per connection:

- a **header deadline**: a request's headers (the first request's, counted from the connection, or the next one's,
  from its first byte) must be complete within ``header_timeout`` seconds;
- a **body deadline**: its body must be complete within ``body_timeout`` seconds of the headers;
- a **per-client cap**: at most ``per_client`` open connections from one address, and ``total`` overall;

and answers a timed-out request with 408, a refused connection with 503 and a malformed request with 400, each as
the server's typed JSON error (``{"error": {"type", "message"}}``) before closing the connection.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 503: b"Service Unavailable"}


@dataclass(frozen=True)
class ConnectionLimits:
    """Deadlines (seconds) and connection caps of :func:`guarded_protocol`."""

    header_timeout: float = 10.0
    body_timeout: float = 60.0
    per_client: int = 256
    total: int = 1024

    def __post_init__(self) -> None:
        for name, lo, hi in (("header_timeout", 0.05, 3600), ("body_timeout", 0.05, 3600)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
                raise ValueError(f"{name}: got {v!r}, allowed a number of seconds in [{lo}, {hi}]")
        for name in ("per_client", "total"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 1_000_000:
                raise ValueError(f"{name}: got {v!r}, allowed an integer in [1, 1000000]")


def problem_bytes(status: int, type_: str, message: str) -> bytes:
    """A complete HTTP/1.1 response carrying the server's typed JSON error, closing the connection."""
    body = json.dumps({"error": {"type": type_, "message": message}}).encode()
    head = (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % (status, _REASONS.get(status, b""), len(body)))
    return head + body


def guarded_protocol(limits: ConnectionLimits) -> type[HttpToolsProtocol]:
    """uvicorn's HTTP protocol class with ``limits`` (module docs); give it as ``uvicorn.Config(http=...)``."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    per_client: Counter[str] = Counter()  # open connections by client address, for this server

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None
        _address: str | None = None

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._address = self.client[0] if self.client else "unknown"
            per_client[self._address] += 1
            if per_client[self._address] > limits.per_client:
                self._refuse(503, "TooManyConnections", f"more than {limits.per_client} open connections from "
                             f"{self._address}; close idle ones")
            elif len(self.connections) > limits.total:
                self._refuse(503, "TooManyConnections", f"the server holds {limits.total} connections; retry")
            else:
                self._arm(limits.header_timeout, "headers")

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if self._address is not None:
                per_client[self._address] -= 1
                if per_client[self._address] <= 0:
                    del per_client[self._address]
                self._address = None
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm(limits.header_timeout, "headers")

        def on_headers_complete(self) -> None:
            self._arm(limits.body_timeout, "body")
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def send_400_response(self, msg: str) -> None:
            self._refuse(400, "BadRequest", f"not a valid HTTP/1.1 request ({msg.rstrip('.')})")

        def _arm(self, seconds: float, what: str) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(seconds, self._timed_out, what, seconds)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _timed_out(self, what: str, seconds: float) -> None:
            self._deadline = None
            if self.cycle is not None and self.cycle.response_started:
                self.transport.close()  # the app is already answering: only stop waiting for the client
                return
            self._refuse(408, "RequestTimeout", f"the request's {what} did not arrive within {seconds:g} s")

        def _refuse(self, status: int, type_: str, message: str) -> None:
            self._disarm()
            if not self.transport.is_closing():
                self.transport.write(problem_bytes(status, type_, message))
                self.transport.close()

    return GuardedHttpToolsProtocol
