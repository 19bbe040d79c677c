"""A loopback webhook receiver that checks the alert signature the way docs/monitoring.md
tells a receiver to: HMAC-SHA256 of the raw body with the shared secret, compared in constant
time, and a recent timestamp; it keeps what it accepted and counts what it refused."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Any

from aiohttp import web


class HookReceiver:
    def __init__(self, secret: str, *, status: int = 200, answer: Any = None) -> None:
        self.secret = secret
        self.status = status
        self.answer = answer if answer is not None else {"ok": True}
        self.accepted: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.refused = 0
        self.clock: Any = None  # the receiver's clock (a test's FakeClock); None: no check
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Condition()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _hook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        expected = "sha256=" + hmac.new(self.secret.encode(), raw, hashlib.sha256).hexdigest()
        given = request.headers.get("X-Assistant-Signature", "")
        body = json.loads(raw)
        stamp = int(request.headers.get("X-Assistant-Timestamp", "0"))
        fresh = self.clock is None or abs(self.clock.time() - body.get("timestamp", 0)) <= 300
        if not hmac.compare_digest(expected, given) or stamp != body.get("timestamp") or not fresh:
            self.refused += 1
            return web.json_response({"error": "bad signature"}, status=401)
        self.accepted.append(body)
        self.headers.append(dict(request.headers))
        async with self._changed:
            self._changed.notify_all()
        return web.json_response(self.answer, status=self.status)

    async def start(self) -> HookReceiver:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.accepted) >= count)
        return self.accepted
