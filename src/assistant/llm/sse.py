"""Server-sent events from an aiohttp response body."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp


@dataclass(frozen=True, slots=True)
class Event:
    event: str
    data: str


async def iter_events(response: aiohttp.ClientResponse) -> AsyncIterator[Event]:
    """Yield events as they arrive. Lines are split on LF; CR is stripped (per the spec)."""
    event = ""
    data: list[str] = []
    async for raw in response.content:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                yield Event(event or "message", "\n".join(data))
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
    if data:
        yield Event(event or "message", "\n".join(data))
