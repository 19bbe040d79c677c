"""The web console's Memory page: owner and admin browse, search and forget anyone's
memories; everyone else only their own console memories (``MEMORY_DESK``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict

from aiohttp import web

from assistant.core.errors import AssistantError
from assistant.core.ports import MemoryDesk
from assistant.features.console.auth import refusal
from assistant.features.console.gate import Gate, Visitor
from assistant.store.console import CHANNEL

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LIMIT = 100


class MemoryPage:
    def __init__(self, gate: Gate, desk: Callable[[], MemoryDesk | None]) -> None:
        self._gate = gate
        self._desk = desk

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", "/api/memory", self.browse),
            ("POST", "/api/memory/forget", self.forget),
        ]

    def _spaces(self, desk: MemoryDesk, who: Visitor, asked: str) -> list[str] | None:
        """What this visitor may look at: staff any space (all when none is asked for),
        others their own."""
        if who.staff:
            return [asked] if asked else None
        return [desk.own_space(CHANNEL, who.person)]

    async def browse(self, request: web.Request) -> web.StreamResponse:
        who = await self._gate.visitor(request, "memory")
        if isinstance(who, web.Response):
            return who
        desk = self._desk()
        if desk is None:
            return web.json_response({"enabled": False, "spaces": [], "memories": []})
        spaces = self._spaces(desk, who, request.query.get("space", ""))
        try:
            found = await desk.list_memories(spaces, request.query.get("q", "")[:500], LIMIT)
            listed = await desk.memory_spaces() if who.staff else spaces or []
        except AssistantError as exc:
            return refusal(503, str(exc))
        return web.json_response(
            {"enabled": True, "spaces": listed, "memories": [asdict(m) for m in found]}
        )

    async def forget(self, request: web.Request) -> web.StreamResponse:
        posted = await self._gate.posted(request, "memory")
        if isinstance(posted, web.Response):
            return posted
        who, body = posted
        desk = self._desk()
        if desk is None:
            return refusal(503, "memory is off ([memory] enabled = false)")
        memory, space = body.get("id"), body.get("space", "")
        if not isinstance(memory, str) or not isinstance(space, str):
            return refusal(400, 'send {"id": "...", "space": "..."}')
        try:
            gone = await desk.forget_memory(self._spaces(desk, who, space), memory)
        except AssistantError as exc:
            return refusal(503, str(exc))
        if not gone:
            return refusal(404, "no such memory here")
        return web.json_response({"forgotten": memory})
