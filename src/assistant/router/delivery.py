"""Replies leave here: sent part by part with retries, each part recorded in the delivery log
when the platform acknowledged it; the last one marks the inbox entry done."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Literal

import structlog

from assistant.core.backoff import Backoff
from assistant.core.errors import ChannelError, ChannelUnavailable
from assistant.core.messages import (
    Button,
    ChatRef,
    InboundMessage,
    OutboundMessage,
    OutFile,
    SentMessage,
)
from assistant.core.metrics import Metrics
from assistant.core.ports import Channel, Clock, SystemClock
from assistant.router.reply_log import ReplyLog, ShiftedParts, persist
from assistant.router.stream import StreamingReply
from assistant.store.deliveries import DeliveryLog, PartRecord
from assistant.store.inbox import Inbox, InboxStatus

log = structlog.get_logger(__name__)

_SEND_ATTEMPTS = 4  # for failures that are not an outage (e.g. the adapter stopped for good)
_RETRY_CAP = 15.0  # seconds between attempts at most, while the platform is unreachable
# the part index of a streamed reply's first file: its text, edited into the preview on
# screen, takes the parts from 0 (a file as part 0 would overwrite the preview's record)
STREAMED_FILES = 10_000


class Delivery:
    def __init__(
        self,
        inbox: Inbox,
        deliveries: DeliveryLog,
        metrics: Metrics,
        channels: Mapping[str, Channel],
        clock: Clock | None = None,
    ) -> None:
        self._inbox = inbox
        self._deliveries = deliveries
        self._metrics = metrics
        self._channels = channels
        self._clock = clock or SystemClock()

    def record(
        self, inbox_id: int, chat: ChatRef, parts: Mapping[int, PartRecord] | None = None
    ) -> ReplyLog:
        """The delivery record of an entry's reply (``parts``: what a previous run left)."""
        return ReplyLog(self._deliveries, inbox_id, chat, parts)

    async def deliver(
        self,
        record: ReplyLog,
        message: InboundMessage,
        text: str,
        *,
        plain: bool = False,
        store: bool = True,
        stream: StreamingReply | None = None,
        files: Sequence[OutFile] = (),
    ) -> None:
        """Send the reply to ``message``, part by part as ``record`` says, then mark it done.

        ``files`` go first, one part each (after a streamed preview: below it, as parts from
        ``STREAMED_FILES``, before the preview is edited into the text). ``store``: store the
        reply (and its files) first (else the turn's commit did, or a previous run, and
        ``record`` says how far its delivery got). A streamed preview on screen is edited into
        the text instead of being left behind. While the platform is unreachable
        (``ChannelUnavailable``: an outage, 5xx, 429) sending is retried with backoff for as
        long as it takes; a shutdown cancels the wait and the next start resumes the reply at
        its first part not acknowledged. Other channel errors get a few attempts. ``files``
        go with the text (a command's chart); the inbox stores only the text, so a reply
        resumed after a crash comes without them.
        """
        channel = self._channels.get(message.chat.channel)
        if channel is None:
            raise ChannelError(f"no channel named {message.chat.channel!r} is running")
        if store:
            await self._inbox.store_reply(record.inbox_id, text, plain=plain, files=files)
            record.forget()
        record.files = bool(files)  # none stored, none to drop when it is done
        if stream is not None:
            await stream.stop()
        fmt: Literal["markdown", "plain"] = "plain" if plain else "markdown"
        outbound = OutboundMessage(
            chat=message.chat,
            text=text,
            format=fmt,
            reply_to=message.message_id if message.chat.is_group else None,
            files=tuple(files),
        )
        backoff = Backoff(0.5, _RETRY_CAP)
        attempt = 0
        while True:
            attempt += 1
            try:
                preview = record.preview
                if preview is not None and record.delivered(0) is None:
                    if files:
                        alone = OutboundMessage(message.chat, "", files=tuple(files))
                        await channel.send(alone, parts=ShiftedParts(record, STREAMED_FILES))
                    await channel.edit(preview, text, format=fmt, parts=record)
                elif files and record.reaches(STREAMED_FILES):  # the rest of a streamed one
                    await channel.send(dataclasses.replace(outbound, files=()), parts=record)
                else:
                    await channel.send(outbound, parts=record)
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
                await self._clock.sleep(delay)
        if not record.finished:  # a part refused for good: the rest is not coming either
            await persist(
                lambda: self._inbox.set_status(record.inbox_id, InboxStatus.DONE),
                "inbox.mark_done_failed",
            )
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
