"""The console channel: `assistant chat` in a terminal, as the owner, through the same router."""

from __future__ import annotations

import asyncio
import getpass
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Literal, TextIO

from assistant.channels.outfiles import downloads_dir, save_new
from assistant.core.errors import ChannelError
from assistant.core.messages import (
    Attachment,
    Button,
    ChatRef,
    InboundMessage,
    OutboundMessage,
    Sender,
    SentMessage,
)
from assistant.core.ports import ChannelFeatures, InboundHandler, PartSink

NAME = "console"
CHAT = ChatRef(NAME, "local")


class ConsoleChannel:
    """Reads lines (from a terminal, a pipe, or a given list) and prints replies.

    After each line it waits until the conversation is idle, so replies come before the
    next prompt; at the end of input it waits for outstanding work and returns.
    """

    def __init__(
        self,
        *,
        wait_idle: Callable[[str], Awaitable[None]],
        lines: Iterable[str] | None = None,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        downloads: Path | None = None,
    ) -> None:
        self._wait_idle = wait_idle
        self._downloads = downloads  # where files sent to the terminal go (None: ~/Downloads)
        self._lines = list(lines) if lines is not None else None
        self._stdin = stdin or sys.stdin
        self._stdout = stdout or sys.stdout
        self._interactive = self._lines is None and self._stdin.isatty()
        self._sent = 0

    @property
    def name(self) -> str:
        return NAME

    @property
    def features(self) -> ChannelFeatures:
        return ChannelFeatures(edit=False, buttons=False, typing=False, max_text=1_000_000)

    async def run(self, on_message: InboundHandler) -> None:
        user = Sender("local", name=getpass.getuser())
        await self._wait_idle(CHAT.key)  # replies to messages recovered from a crash come first
        async for line in self._read():
            text = line.strip()
            if not text:
                continue
            message = InboundMessage(
                chat=CHAT, sender=user, text=text, platform_id=uuid.uuid4().hex
            )
            await on_message(message)
            if not self._interactive:
                # a script's lines are answered in order; a person at a terminal may type on
                # (e.g. /approve while a command waits for exactly that)
                await self._wait_idle(CHAT.key)
        await self._wait_idle(CHAT.key)

    async def _read(self) -> AsyncIterator[str]:
        if self._lines is not None:
            for line in self._lines:
                yield line
            return
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        stdin = self._stdin

        def reader() -> None:  # a daemon thread: a blocked read never holds up exit
            for raw in stdin:
                loop.call_soon_threadsafe(queue.put_nowait, raw)
            loop.call_soon_threadsafe(queue.put_nowait, None)

        threading.Thread(target=reader, name="console-stdin", daemon=True).start()
        while True:
            if self._interactive:
                self._write("you> ", end="")
            item = await queue.get()
            if item is None:
                return
            yield item

    async def send(
        self, message: OutboundMessage, *, parts: PartSink | None = None
    ) -> list[SentMessage]:
        done = parts.delivered(0) if parts is not None else None
        if done is not None:
            return [done]
        if parts is not None:
            await parts.sending(0, of=1)
        prefix = "\rassistant> " if self._interactive else ""
        for file in message.files:
            try:
                path = save_new(self._downloads or downloads_dir(), file.name, file.data)
                where = f"saved to {path}"
            except OSError as exc:
                where = f"not saved: {exc.strerror or exc}"
            self._write(f"{prefix}📎 {file.name} {where}")
        if message.text.strip() or not message.files:
            self._write(f"{prefix}{message.text}")
        for row in message.buttons:
            self._write("  " + "  ".join(f"[{b.label}]" for b in row))
        if self._interactive:
            self._write("you> ", end="")
        self._sent += 1
        sent = SentMessage(message.chat, str(self._sent))
        if parts is not None:
            await parts.sent(0, sent, of=1)
        return [sent]

    async def edit(
        self,
        sent: SentMessage,
        text: str,
        *,
        buttons: tuple[tuple[Button, ...], ...] = (),
        format: Literal["markdown", "plain"] = "markdown",
        parts: PartSink | None = None,
    ) -> list[SentMessage]:
        self._write(text)
        if parts is not None:
            await parts.sent(0, sent, of=1)
        return [sent]

    async def typing(self, chat: ChatRef) -> None:
        return None

    async def answer_action(
        self, action: InboundMessage, text: str, *, alert: bool = False
    ) -> None:
        if text:
            self._write(text)

    async def fetch(self, attachment: Attachment, *, max_bytes: int) -> bytes:
        raise ChannelError("the console has no attachments")

    def _write(self, text: str, *, end: str = "\n") -> None:
        self._stdout.write(text + end)
        self._stdout.flush()
