"""Connection limits in front of aiohttp's request handler.

aiohttp bounds how long a kept-alive connection may sit idle, but not how long a new one may
take to send its request head, nor how many may be open: a few hundred half-open connections
used to take every file descriptor and starve ``/healthz`` and the webhooks. Each connection
goes through a ``Guard``:

- a new connection must send a whole request head (up to the blank line) within
  ``header_timeout``, or it is closed;
- at most ``cap`` connections are open; when a new one arrives at the cap, the oldest
  connection that has not sent a whole request head yet is closed to make room, and only if
  every open connection is busy is the new one turned away (503).

Request bodies are bounded by ``body_timeout`` in the server's middleware, idle kept-alive
connections by aiohttp's keep-alive timeout.
"""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Callable

import structlog
from aiohttp import web

from assistant.core.metrics import Metrics

log = structlog.get_logger(__name__)

_REFUSED = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_HEAD_END = b"\r\n\r\n"


def connection_budget(wanted: int) -> tuple[int, int]:
    """(connections, backlog) that fit the process's open-file limit.

    At most ``wanted`` connections, and no more than half of the limit: the rest is for the
    database, outgoing HTTP and SSH. The backlog matters too: asyncio accepts up to that many
    connections in a row before any of them reaches a ``Guard`` that could close it, so it
    stays at an eighth of the limit (128 at most). Past the limit ``accept()`` fails and
    asyncio stops accepting for a second: exactly the starvation these limits prevent.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted, 128
    return max(8, min(wanted, soft // 2)), max(8, min(128, soft // 8))


class Connections:
    """The open connections, in order of arrival; those still sending a head apart."""

    def __init__(self, cap: int, metrics: Metrics) -> None:
        self.cap = cap
        self._metrics = metrics
        self._open: dict[Guard, None] = {}
        self._heads: dict[Guard, None] = {}  # not a whole request head yet, oldest first

    def __len__(self) -> int:
        return len(self._open)

    def admit(self, guard: Guard) -> bool:
        if len(self._open) >= self.cap:
            if not self._heads:
                self.closed("refused")
                return False
            oldest = next(iter(self._heads))
            self.forget(oldest)
            oldest.close("evicted")
        self._open[guard] = None
        self._heads[guard] = None
        self._metrics.gateway_connections.set(len(self._open))
        return True

    def head_received(self, guard: Guard) -> None:
        self._heads.pop(guard, None)

    def forget(self, guard: Guard) -> None:
        self._heads.pop(guard, None)
        if guard in self._open:
            del self._open[guard]
            self._metrics.gateway_connections.set(len(self._open))

    def closed(self, reason: str) -> None:
        self._metrics.gateway_closed.labels(reason).inc()


class Guard(asyncio.Protocol):
    """One connection: applies the limits, hands everything else to aiohttp's handler."""

    def __init__(
        self, inner: asyncio.Protocol, connections: Connections, header_timeout: float
    ) -> None:
        self._inner = inner
        self._connections = connections
        self._header_timeout = header_timeout
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._tail = b""
        self._admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if not self._connections.admit(self):
            transport.write(_REFUSED)
            transport.close()
            return
        self._admitted = True
        self._timer = asyncio.get_running_loop().call_later(
            self._header_timeout, self.close, "header_timeout"
        )
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self._admitted:
            return
        if self._timer is not None:
            window = self._tail + data
            if _HEAD_END in window:
                self._timer.cancel()
                self._timer = None
                self._connections.head_received(self)
            else:
                self._tail = window[-3:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._admitted else None

    def pause_writing(self) -> None:
        if self._admitted:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._admitted:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._admitted:
            self._admitted = False
            self._connections.forget(self)
            self._inner.connection_lost(exc)

    def close(self, reason: str) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._connections.closed(reason)
            self._transport.close()


class GuardedListener:
    """The gateway's listening socket, with every connection behind a ``Guard``.

    Public aiohttp API only: a runner's ``server`` is documented as a protocol factory
    compatible with ``loop.create_server()``, so the listening server is ours — we know its
    sockets (the port chosen for port 0) and set its backlog. (A ``web.BaseSite`` subclass
    could only wrap the factory through aiohttp's private ``_server``/``_runner``/``_backlog``,
    and ``web.SockSite`` hands the factory to asyncio unwrapped.) Close it before the runner's
    ``cleanup()``, as the runner does with its sites: no new connections, then aiohttp closes
    the open ones.
    """

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        connections: Connections,
        header_timeout: float,
        backlog: int = 128,
    ) -> None:
        self._runner = runner
        self._host, self._port = host, port
        self._connections = connections
        self._header_timeout = header_timeout
        self._backlog = backlog
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        sockets = self._server.sockets if self._server is not None else ()
        return int(sockets[0].getsockname()[1]) if sockets else self._port

    async def start(self) -> None:
        """Listen; raises ``OSError`` when the address cannot be bound."""
        server = self._runner.server
        if server is None:
            raise RuntimeError("call runner.setup() before starting the listener")
        factory: Callable[[], asyncio.Protocol] = server
        self._server = await asyncio.get_running_loop().create_server(
            lambda: Guard(factory(), self._connections, self._header_timeout),
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=True,
        )

    def close(self) -> None:
        """Stop accepting connections (those already open are the runner's to close)."""
        if self._server is not None:
            self._server.close()
            self._server = None
