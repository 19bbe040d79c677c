"""A channel that records what the assistant sends (texts, buttons, pictures and files: each
``OutboundMessage`` whole, one part): the test double of the Channel port, for router tests
that need no platform. Platform behaviour is tested with the platform fakes."""

from __future__ import annotations

import asyncio

from assistant.core.errors import ChannelUnavailable
from assistant.core.messages import Button, ChatRef, OutboundMessage, OutFile, SentMessage
from assistant.core.ports import ChannelFeatures, InboundHandler


class RecordingChannel:
    def __init__(self, name: str = "telegram", *, typing: bool = False) -> None:
        self._name = name
        self._typing = typing
        self.sent: list[OutboundMessage] = []
        self.edits: list[tuple[SentMessage, str]] = []
        self.typing_calls = 0
        self.answers: list[tuple[object, str]] = []
        self.fail_sends = 0  # the next N sends raise ChannelUnavailable
        self._changed = asyncio.Condition()

    @property
    def name(self) -> str:
        return self._name

    @property
    def features(self) -> ChannelFeatures:
        return ChannelFeatures(edit=True, buttons=True, typing=self._typing, max_text=4096)

    async def run(self, on_message: InboundHandler) -> None:
        await asyncio.Event().wait()

    async def send(self, message: OutboundMessage, *, parts=None) -> list[SentMessage]:
        done = parts.delivered(0) if parts is not None else None
        if done is not None:
            return [done]
        if self.fail_sends:
            self.fail_sends -= 1
            raise ChannelUnavailable("send failed (injected)")
        if parts is not None:
            await parts.sending(0, of=1)
        self.sent.append(message)
        async with self._changed:
            self._changed.notify_all()
        sent = SentMessage(message.chat, str(len(self.sent)))
        if parts is not None:
            await parts.sent(0, sent, of=1)
        return [sent]

    async def edit(
        self,
        sent: SentMessage,
        text: str,
        *,
        buttons: tuple[tuple[Button, ...], ...] = (),
        format: str = "markdown",
        parts=None,
    ) -> list[SentMessage]:
        self.edits.append((sent, text))
        if parts is not None:
            await parts.sent(0, sent, of=1)
        return [sent]

    async def typing(self, chat: ChatRef) -> None:
        self.typing_calls += 1

    async def answer_action(self, action, text: str, *, alert: bool = False) -> None:
        self.answers.append((action, text))

    async def fetch(self, attachment, *, max_bytes: int) -> bytes:
        raise ChannelUnavailable("no files here")

    async def wait_sent(self, count: int, timeout: float = 10.0) -> list[OutboundMessage]:
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.sent) >= count)
        return self.sent

    def texts(self) -> list[str]:
        return [m.text for m in self.sent]

    def files(self) -> list[OutFile]:
        """Every picture and file sent (the messages' ``files``), in order."""
        return [file for message in self.sent for file in message.files]
