"""Replies leave here: sent with retries, then the inbox entry is marked done."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping

import structlog

from assistant.core.backoff import Backoff
from assistant.core.errors import ChannelError, ChannelUnavailable, StateError
from assistant.core.messages import Button, ChatRef, InboundMessage, OutboundMessage, SentMessage
from assistant.core.metrics import Metrics
from assistant.core.ports import Channel
from assistant.router.stream import StreamingReply
from assistant.store.inbox import Inbox, InboxStatus

log = structlog.get_logger(__name__)

_SEND_ATTEMPTS = 4  # for failures that are not an outage (e.g. the adapter stopped for good)
_RETRY_CAP = 15.0  # seconds between attempts at most, while the platform is unreachable


class Delivery:
    def __init__(self, inbox: Inbox, metrics: Metrics, channels: Mapping[str, Channel]) -> None:
        self._inbox = inbox
        self._metrics = metrics
        self._channels = channels

    async def deliver(
        self,
        inbox_id: int,
        message: InboundMessage,
        text: str,
        *,
        plain: bool = False,
        stored: bool = False,
        stream: StreamingReply | None = None,
    ) -> None:
        """Send the reply to ``message``, then mark it done.

        The reply is stored first (unless the turn's commit already did). While the platform
        is unreachable (``ChannelUnavailable``: an outage, 5xx, 429) sending is retried with
        backoff for as long as it takes; a shutdown cancels the wait and the next start
        delivers the stored reply. Other channel errors get a few attempts.
        """
        channel = self._channels.get(message.chat.channel)
        if channel is None:
            raise ChannelError(f"no channel named {message.chat.channel!r} is running")
        if not stored:
            await self._inbox.store_reply(inbox_id, text)
        outbound = OutboundMessage(
            chat=message.chat,
            text=text,
            format="plain" if plain else "markdown",
            reply_to=message.message_id if message.chat.is_group else None,
        )
        backoff = Backoff(0.5, _RETRY_CAP)
        attempt = 0
        while True:
            attempt += 1
            try:
                if not (
                    stream is not None and attempt == 1 and await stream.finish(text, plain=plain)
                ):
                    await channel.send(outbound)
                break
            except ChannelError as exc:
                outage = exc if isinstance(exc, ChannelUnavailable) else None
                if outage is None and attempt >= _SEND_ATTEMPTS:
                    log.error("reply.undelivered", error=str(exc), attempts=attempt)
                    return
                delay = backoff.next_delay()
                if outage is not None and outage.retry_after:
                    delay = max(delay, outage.retry_after)
                log.warning(
                    "reply.retry", error=str(exc), attempt=attempt, retry_in=round(delay, 1)
                )
                await asyncio.sleep(delay)
        await self._mark_done(inbox_id)
        self._metrics.answered.labels(message.chat.channel).inc()

    async def _mark_done(self, inbox_id: int) -> None:
        """Record the delivery; retried while the state database refuses writes (disk full),
        since a reply sent but not recorded would be sent again after a restart."""
        backoff = Backoff(0.5, _RETRY_CAP)
        while True:
            try:
                await self._inbox.set_status(inbox_id, InboxStatus.DONE)
                return
            except StateError as exc:
                delay = backoff.next_delay()
                log.error("inbox.mark_done_failed", error=str(exc), retry_in=round(delay, 1))
                await asyncio.sleep(delay)


@contextlib.asynccontextmanager
async def typing(channel: Channel | None, chat: ChatRef) -> AsyncIterator[None]:
    """Show "typing…" in the chat while the block runs (where the platform has it)."""
    if channel is None or not channel.features.typing:
        yield
        return

    async def keep_typing() -> None:
        while True:
            with contextlib.suppress(ChannelError):
                await channel.typing(chat)
            await asyncio.sleep(4.5)  # Telegram shows "typing" for about 5 s

    task = asyncio.create_task(keep_typing(), name=f"typing:{chat.key}")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class ChatOutput:
    """What a tool or command may say into its chat while it works (plain text)."""

    def __init__(self, channel: Channel, chat: ChatRef) -> None:
        self._channel = channel
        self._chat = chat

    async def send(
        self, text: str, *, buttons: tuple[tuple[Button, ...], ...] = ()
    ) -> SentMessage | None:
        try:
            sent = await self._channel.send(
                OutboundMessage(self._chat, text, format="plain", buttons=buttons)
            )
        except ChannelError as exc:
            log.warning("chat_io.send_failed", error=str(exc))
            return None
        return sent[0] if sent else None

    async def edit(
        self, sent: SentMessage, text: str, *, buttons: tuple[tuple[Button, ...], ...] = ()
    ) -> None:
        try:
            await self._channel.edit(sent, text, buttons=buttons, format="plain")
        except ChannelError as exc:
            log.warning("chat_io.edit_failed", error=str(exc))
