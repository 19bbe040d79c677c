"""Show a reply while the model writes it: one message, edited at most once per interval."""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

import structlog

from assistant.core.errors import ChannelError
from assistant.core.messages import ChatRef, OutboundMessage, SentMessage
from assistant.core.ports import Channel

log = structlog.get_logger(__name__)


class StreamingReply:
    """``on_text`` takes the text so far (cheap, synchronous); a task owned by this object
    sends the first preview and then edits it, never more often than ``interval`` seconds.
    ``finish`` puts the final text in place of the preview (False if nothing was shown yet,
    so the caller sends normally)."""

    def __init__(
        self, channel: Channel, chat: ChatRef, *, reply_to: str | None, interval: float
    ) -> None:
        self._channel = channel
        self._chat = chat
        self._reply_to = reply_to
        self._interval = interval
        self._limit = max(100, channel.features.max_text - 100)
        self._latest = ""
        self._shown = ""
        self._sent: SentMessage | None = None
        self._changed = asyncio.Event()
        self._showing = asyncio.Lock()  # held while a preview is sent or edited
        self._task: asyncio.Task[None] | None = None

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
        await self._stop()

    async def _stop(self) -> None:
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
                        sent = await self._channel.send(
                            OutboundMessage(self._chat, preview, reply_to=self._reply_to)
                        )
                        self._sent = sent[0] if sent else None
                    else:
                        await self._channel.edit(self._sent, preview)
                    self._shown = preview
                except ChannelError as exc:  # a preview is best effort; the final text matters
                    log.debug("stream.preview_failed", error=str(exc))
            await asyncio.sleep(self._interval)

    async def finish(self, text: str, *, plain: bool) -> bool:
        """Replace the preview by ``text``. False when no preview was shown."""
        await self._stop()
        if self._sent is None:
            return False
        await self._channel.edit(self._sent, text, format="plain" if plain else "markdown")
        return True
