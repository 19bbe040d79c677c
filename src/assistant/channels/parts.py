"""Sending a reply's parts one by one, each recorded in its delivery log (``PartSink``).

A part the log says was delivered is skipped; otherwise it is marked as sending, sent, and
recorded the moment the platform acknowledged it. When the work is cancelled (a shutdown
that gave up waiting) while a part is in flight, that part is given a few seconds to land and
is recorded: a request already on its way may well reach the chat, and unrecorded it would be
sent again at the next start. A shutdown then leaves nothing a crash would not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from assistant.core.messages import SentMessage
from assistant.core.ports import PartSink

log = structlog.get_logger(__name__)

LAND_GRACE = 3.0  # seconds a part in flight may take to land once we are stopping


async def send_parts(
    total: int,
    send_one: Callable[[int], Awaitable[SentMessage | None]],
    sink: PartSink | None,
    *,
    first: int = 0,
) -> list[SentMessage]:
    """Send parts ``first`` to ``total - 1`` with ``send_one(index)`` (None: refused for good,
    the rest is not sent either); the messages of the parts delivered, in order."""
    sent: list[SentMessage] = []
    for index in range(first, total):
        done = sink.delivered(index) if sink is not None else None
        if done is not None:
            sent.append(done)
            continue
        if sink is None:
            result = await send_one(index)
        else:
            await sink.sending(index, of=total)
            result = await _landing(send_one(index), sink, index, total)
        if result is None:
            break
        if sink is not None:
            await sink.sent(index, result, of=total)
        sent.append(result)
    return sent


async def _landing(
    send: Awaitable[SentMessage | None], sink: PartSink, index: int, total: int
) -> SentMessage | None:
    task = asyncio.ensure_future(send)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        try:
            result = await asyncio.wait_for(asyncio.shield(task), LAND_GRACE)
        except BaseException:  # noqa: BLE001 - it did not land: it stays marked in flight
            task.cancel()
            raise asyncio.CancelledError from None
        if result is not None:
            await sink.sent(index, result, of=total)
            log.info("delivery.landed", part=index)
        raise
