"""The web console's Hosts page (owner and admin): the SSH inventory with its pinned host
keys (``HOST_DESK``), whether each host answered when last probed from here, and the
monitoring checks that run on it with their last result (``JOB_BOARD``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from aiohttp import web

from assistant.core.ports import Clock, HostDesk, JobBoard
from assistant.features.console.auth import refusal
from assistant.features.console.gate import Gate

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class HostsPage:
    def __init__(
        self,
        gate: Gate,
        *,
        desk: Callable[[], HostDesk | None],
        jobs: Callable[[], JobBoard | None],
        clock: Clock,
    ) -> None:
        self._gate = gate
        self._desk = desk
        self._jobs = jobs
        self._clock = clock
        self._probes: dict[str, dict[str, Any]] = {}  # host → the last probe from here

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", "/api/hosts", self.hosts),
            ("POST", "/api/hosts/{name}/probe", self.probe),
        ]

    async def hosts(self, request: web.Request) -> web.StreamResponse:
        who = await self._gate.visitor(request, "hosts")
        if isinstance(who, web.Response):
            return who
        desk = self._desk()
        if desk is None:
            return web.json_response({"enabled": False, "hosts": []})
        board = self._jobs()
        checks = [j for j in await board.list_jobs(None) if j.host] if board else []
        rows = [
            {
                **asdict(h),
                "probe": self._probes.get(h.name),
                "checks": [asdict(j) for j in checks if j.host == h.name],
            }
            for h in desk.host_list()
        ]
        return web.json_response({"enabled": True, "hosts": rows})

    async def probe(self, request: web.Request) -> web.StreamResponse:
        who = await self._gate.visitor(request, "hosts")
        if isinstance(who, web.Response):
            return who
        desk = self._desk()
        name = request.match_info["name"]
        if desk is None or name not in {h.name for h in desk.host_list()}:
            return refusal(404, f"no SSH host named {name!r}")
        started = self._clock.monotonic()
        problem = await desk.probe(name)
        result = {
            "ok": problem is None,
            "detail": problem or "",
            "at": self._clock.time(),
            "ms": round((self._clock.monotonic() - started) * 1000),
        }
        self._probes[name] = result
        return web.json_response(result)
