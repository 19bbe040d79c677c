"""While the state database refuses writes (disk full, read-only): refuse new messages without
acknowledging them, defer accepted ones, and tell each sender once why the answer is late."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from assistant.core import i18n
from assistant.core.backoff import Backoff
from assistant.core.bounded import BoundedDict
from assistant.core.errors import ChannelError, StateError
from assistant.core.i18n import N_, tr
from assistant.core.messages import InboundMessage, MessageKind, OutboundMessage
from assistant.core.ports import Channel

log = structlog.get_logger(__name__)

STATE_TROUBLE = N_(
    "I got your message but cannot save anything right now: the server's disk is full or its "
    "state directory is not writable. I will answer as soon as that is fixed; no need to send "
    "it again."
)


class StateTrouble:
    def __init__(self, *, locale: Callable[[InboundMessage], str], cap: float = 30.0) -> None:
        self._locale = locale  # the sender's language, without asking the database
        self._cap = cap
        self._noticed: BoundedDict[str, None] = BoundedDict(1000)

    async def refused(self, message: InboundMessage, channel: Channel | None) -> None:
        """``message`` could not be recorded (so it is not acknowledged and the platform will
        deliver it again): tell its sender, once per message."""
        key = f"{message.chat.channel}:{message.platform_id}"
        if channel is None or key in self._noticed:
            return
        self._noticed[key] = None
        await self.notify(channel, message)

    async def until_stored(
        self,
        process: Callable[[], Awaitable[None]],
        message: InboundMessage,
        channel: Channel | None,
    ) -> None:
        """Run ``process`` (the work of ``message``) again, with backoff, for as long as it
        fails with ``StateError``. The message stays in the inbox meanwhile, so a restart
        picks it up as well. A chat message's sender is told once why the answer is late."""
        backoff = Backoff(1.0, self._cap)
        told = message.kind is not MessageKind.CHAT
        while True:
            try:
                await process()
                return
            except StateError as exc:
                delay = backoff.next_delay()
                log.error("turn.deferred", error=str(exc), retry_in=round(delay, 1))
                if not told and channel is not None:
                    told = True
                    await self.notify(channel, message)
                await asyncio.sleep(delay)

    async def notify(self, channel: Channel, message: InboundMessage) -> None:
        """Best effort, and not stored: there is nowhere to store it."""
        with i18n.using(self._locale(message)):
            text = tr(STATE_TROUBLE)
        try:
            await channel.send(OutboundMessage(message.chat, text, format="plain"))
        except ChannelError as exc:
            log.warning("state.notice_failed", error=str(exc))
