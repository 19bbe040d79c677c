"""Replies leave here: sent with retries, then the inbox entry is marked done."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping

import structlog

from assistant.core.backoff import Backoff
from assistant.core.errors import ChannelError, StateError
from assistant.core.messages import Button, ChatRef, InboundMessage, OutboundMessage, SentMessage
from assistant.core.metrics import Metrics
from assistant.core.ports import Channel
from assistant.router.stream import StreamingReply
from assistant.store.inbox import Inbox, InboxStatus

log = structlog.get_logger(__name__)

_SEND_ATTEMPTS = 4


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
        """Send the reply to ``message``, retrying transient failures, then mark it done.

        The reply is stored first (unless the turn's commit already did), so if every attempt
        fails it is delivered after the next start.
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
        backoff = Backoff(0.5, 8.0)
        for attempt in range(1, _SEND_ATTEMPTS + 1):
            try:
                if not (
                    stream is not None and attempt == 1 and await stream.finish(text, plain=plain)
                ):
                    await channel.send(outbound)
                break
            except ChannelError as exc:
                if attempt == _SEND_ATTEMPTS:
                    log.error("reply.undelivered", error=str(exc), attempts=attempt)
                    return
                log.warning("reply.retry", error=str(exc), attempt=attempt)
                await asyncio.sleep(backoff.next_delay())
        try:
            await self._inbox.set_status(inbox_id, InboxStatus.DONE)
        except StateError:
            log.exception("inbox.mark_done_failed", inbox_id=inbox_id)
        self._metrics.answered.labels(message.chat.channel).inc()


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
