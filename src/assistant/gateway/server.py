"""The aiohttp gateway (default 127.0.0.1:18789).

Open: ``GET /healthz`` (the process answers), ``GET /readyz`` (each component's state, 503
when a required one is not up), ``GET /metrics`` (Prometheus text). Webhook routes that
channels register carry their own platform authentication. Everything else (``/status``)
needs ``Authorization: Bearer <[gateway] admin_token>``.

Limits (``[gateway]``): a connection cap and a request-head timeout (``gateway.limits``), a
body timeout (middleware), and aiohttp's keep-alive timeout for idle connections.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable
from types import TracebackType
from typing import Any

import structlog
from aiohttp import web

from assistant.config import GatewaySection
from assistant.core.errors import ConfigError
from assistant.core.health import Health
from assistant.core.metrics import Metrics
from assistant.core.ports import WebhookHandler
from assistant.gateway.limits import Connections, GuardedListener, connection_budget

log = structlog.get_logger(__name__)


class Gateway:
    def __init__(
        self,
        config: GatewaySection,
        *,
        health: Health,
        metrics: Metrics,
        status: Callable[[], dict[str, Any]],
    ) -> None:
        self._config = config
        self._health = health
        self._metrics = metrics
        self._status = status
        self._routes: list[tuple[str, str, WebhookHandler]] = []
        self._runner: web.AppRunner | None = None
        self._listener: GuardedListener | None = None
        self.port: int | None = None
        cap, self._backlog = connection_budget(config.max_connections)
        self.connections = Connections(cap, metrics)

    def add_route(self, method: str, path: str, handler: WebhookHandler) -> None:
        """Register a webhook route; only before the gateway starts."""
        if self._runner is not None:
            raise RuntimeError("routes must be added before the gateway starts")
        self._routes.append((method, path, handler))

    def configure(self, config: GatewaySection) -> None:
        """Apply a reloaded config: the admin token changes at once, the address needs a restart."""
        self._config = config

    async def __aenter__(self) -> Gateway:
        app = web.Application(client_max_size=32 * 1024 * 1024, middlewares=[self._body_in_time])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics_handler)
        app.router.add_get("/status", self._admin(self._status_handler))
        for method, path, handler in self._routes:
            app.router.add_route(method, path, handler)
        config = self._config
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            keepalive_timeout=config.keepalive_timeout,
            lingering_time=0,  # a body cut off by body_timeout is not waited for again
        )
        await runner.setup()
        listener = GuardedListener(
            runner,
            config.host,
            config.port,
            connections=self.connections,
            header_timeout=config.header_timeout,
            backlog=self._backlog,
        )
        try:
            await listener.start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(
                [
                    f"gateway: cannot listen on {self._config.host}:{self._config.port} "
                    f"({exc.strerror}); change [gateway] port or stop what uses it"
                ]
            ) from None
        self._runner, self._listener = runner, listener
        self.port = listener.port
        log.info(
            "gateway.listening",
            host=config.host,
            port=self.port,
            max_connections=self.connections.cap,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _body_in_time(
        self, request: web.Request, handler: WebhookHandler
    ) -> web.StreamResponse:
        """Read a request's body within ``body_timeout`` before its handler runs (the body
        is kept: the handler's ``read()``/``json()`` return it at once)."""
        if request.body_exists:
            try:
                async with asyncio.timeout(self._config.body_timeout):
                    await request.read()
            except TimeoutError:
                self._metrics.gateway_closed.labels("body_timeout").inc()
                text = "the request body did not arrive in time"
                raise web.HTTPRequestTimeout(text=text) from None
        return await handler(request)

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        ready = self._health.is_ready()
        return web.json_response(
            {"ready": ready, "components": self._health.snapshot()}, status=200 if ready else 503
        )

    async def _metrics_handler(self, request: web.Request) -> web.Response:
        body = self._metrics.render(self._health.up())
        return web.Response(body=body, headers={"Content-Type": self._metrics.content_type})

    async def _status_handler(self, request: web.Request) -> web.Response:
        return web.json_response(self._status())

    def _admin(self, handler: WebhookHandler) -> WebhookHandler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            token = self._config.admin_token
            if token is None:
                return web.json_response(
                    {"error": "admin endpoints are off; set [gateway] admin_token to use them"},
                    status=403,
                )
            expected = f"Bearer {token.get_secret_value()}".encode()
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return web.json_response(
                    {"error": "missing or wrong bearer token"},
                    status=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
            return await handler(request)

        return guarded
