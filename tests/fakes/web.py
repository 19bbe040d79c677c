"""Loopback stand-ins for the web: a "public" site on 127.0.0.2 (tests allow that address as
if it were public), a "secret" internal service on 127.0.0.1 that must never be reached, and a
fake DNS that maps test names to them."""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

PAGE = """<html><head><title>新闻 - 示例站</title><script>var x = 1;</script>
<style>body{}</style></head><body>
<nav><a href="/">首页</a> | <a href="/news">新闻</a></nav>
<div class="ad">广告：买一送一</div>
<article><h1>开源助手发布新版本</h1>
<p>今天，项目发布了 <a href="/release/2">第二版</a>，支持网页工具。</p>
<h2>主要变化</h2><ul><li>新增 web_fetch</li><li>SSRF 防护</li></ul>
<blockquote>安全第一。</blockquote>
<pre>pip install assistant</pre></article>
<aside>热门文章</aside><footer>京ICP备12345678号</footer></body></html>"""


class Site:
    """An aiohttp app recording every request it gets."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.hits: list[tuple[str, str, str]] = []  # (method, path, body)
        self.headers: list[dict[str, str]] = []  # of each request, in order
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._handle)
        self.redirects: dict[str, str] = {}
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.text()
        self.hits.append((request.method, request.path_qs, body))
        self.headers.append(dict(request.headers))
        if request.path in self.redirects:
            raise web.HTTPFound(self.redirects[request.path])
        if request.path.startswith("/loop"):
            n = int(request.query.get("n", "0"))
            raise web.HTTPFound(f"/loop?n={n + 1}")
        if request.path == "/page":
            return web.Response(text=PAGE, content_type="text/html", charset="utf-8")
        if request.path == "/big":
            return web.Response(text="x" * 300_000)
        if request.path == "/secret":
            return web.Response(text="token=sk-live-abcdefghijklmnopqrstuvwx internal data")
        if request.path == "/search":
            return web.json_response(
                {
                    "results": [
                        {"title": "Result one", "url": "https://one.example/", "content": "first"}
                    ]
                }
            )
        return web.json_response(
            {"site": self.name, "method": request.method, "path": request.path_qs, "body": body},
            headers={"X-Site": self.name},
        )

    async def start(self, host: str) -> Site:
        self.runner = web.AppRunner(self.app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


class FakeDNS(AbstractResolver):
    """Names → addresses; a list of answers per name is served in turn (DNS rebinding)."""

    def __init__(self, table: Mapping[str, Sequence[str] | Sequence[Sequence[str]]]) -> None:
        self._table = {k: list(v) for k, v in table.items()}
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        answers: Any = self._table.get(host)
        if answers is None:
            raise OSError(f"no such name {host}")
        if answers and isinstance(answers[0], list):
            current = answers.pop(0) if len(answers) > 1 else answers[0]
        else:
            current = answers
        return [
            ResolveResult(
                hostname=host,
                host=ip,
                port=port,
                family=socket.AF_INET6 if ":" in ip else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for ip in current
        ]

    async def close(self) -> None:
        return None
