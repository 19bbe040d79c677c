"""Show a reply while the model writes it: one message, edited at most once per interval.

The message's id goes into the reply's delivery record as soon as the platform acknowledged
the first preview; whoever delivers the final text edits that message (after a crash too: a
turn run again keeps editing the message its first run left on screen).
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

import structlog

from assistant.core.errors import ChannelError
from assistant.core.messages import ChatRef, InboundMessage, OutboundMessage, SentMessage
from assistant.core.ports import Channel
from assistant.router.reply_log import ReplyLog

log = structlog.get_logger(__name__)


class StreamingReply:
    """``on_text`` takes the text so far (cheap, synchronous); a task owned by this object
    sends the first preview (or takes the one ``record`` holds) and then edits it, never more
    often than ``interval`` seconds. ``stop`` ends that; the preview is ``record.preview``."""

    def __init__(
        self,
        channel: Channel,
        chat: ChatRef,
        *,
        reply_to: str | None,
        interval: float,
        record: ReplyLog,
    ) -> None:
        self._channel = channel
        self._chat = chat
        self._reply_to = reply_to
        self._interval = interval
        self._record = record
        self._limit = max(100, channel.features.max_text - 100)
        self._latest = ""
        self._shown = ""
        self._sent: SentMessage | None = record.preview
        self._changed = asyncio.Event()
        self._showing = asyncio.Lock()  # held while a preview is sent or edited
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def for_reply(
        cls, channel: Channel, message: InboundMessage, record: ReplyLog
    ) -> StreamingReply | None:
        """The streamed reply to ``message``, where the channel can show one."""
        if not (channel.features.stream and channel.features.edit):
            return None
        group = message.chat.is_group
        return cls(
            channel,
            message.chat,
            reply_to=message.message_id if group else None,
            interval=3.0 if group else 1.0,  # edits in groups count against a tighter limit
            record=record,
        )

    def on_text(self, text: str) -> None:
        self._latest = text
        self._changed.set()

    async def __aenter__(self) -> StreamingReply:
        self._task = asyncio.create_task(self._pump(), name=f"stream:{self._chat.key}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def stop(self) -> None:
        if self._task is not None:
            # Let a preview in flight land first: cancelled half-way, it could reach the chat
            # without our knowing its id, and the final text would come as a second message.
            async with self._showing:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _preview(self) -> str:
        text = self._latest.strip()
        return text if len(text) <= self._limit else text[: self._limit].rstrip() + " …"

    async def _pump(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            async with self._showing:
                preview = self._preview()
                if not preview or preview == self._shown:
                    continue
                try:
                    if self._sent is None:
                        await self._record.sending(0, of=1)
                        sent = await self._channel.send(
                            OutboundMessage(self._chat, preview, reply_to=self._reply_to)
                        )
                        self._sent = sent[0] if sent else None
                        if self._sent is not None:
                            await self._record.shown(self._sent)
                    else:
                        now = await self._channel.edit(self._sent, preview)
                        if now and now[0] != self._sent:  # gone (deleted): shown anew
                            self._sent = now[0]
                            await self._record.shown(self._sent)
                    self._shown = preview
                except ChannelError as exc:  # a preview is best effort; the final text matters
                    log.debug("stream.preview_failed", error=str(exc))
            await asyncio.sleep(self._interval)
