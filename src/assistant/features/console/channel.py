"""The console as a channel of the daemon: what the router sends to a console chat is stored
(``console_events``) and pushed to that person's open WebSockets; what a client posts enters
``Router.submit`` like any platform's message.

A console chat is one person's (``ChatRef("console", PERSON)``); every session of that person
(the terminal, browser tabs) sees the same conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

import structlog

from assistant.channels.outfiles import FileLimits, human_size, send_as, too_large_line, with_files
from assistant.channels.parts import send_parts
from assistant.core.errors import ChannelError, ChannelUnavailable
from assistant.core.health import ComponentState, Health
from assistant.core.messages import (
    Attachment,
    Button,
    ChatRef,
    InboundMessage,
    OutboundMessage,
    OutFile,
    SentMessage,
)
from assistant.core.ports import ChannelFeatures, InboundHandler, PartSink, SubmitOutcome
from assistant.store.console import CHANNEL, ConsoleEvents, ConsoleFiles

if TYPE_CHECKING:
    from assistant.features.console.uploads import Uploads

log = structlog.get_logger(__name__)

Push = dict[str, Any]
CLOSE: Push = {"type": "close"}  # tells a subscriber the daemon is stopping


def _buttons(rows: tuple[tuple[Button, ...], ...]) -> list[list[dict[str, str]]]:
    return [
        [{"label": b.label, "action": b.action_id, "style": b.style} for b in row] for row in rows
    ]


class WebConsoleChannel:
    """The ``console`` channel of the daemon (clients reach it through ``/api`` and ``/ws``)."""

    def __init__(
        self,
        events: ConsoleEvents,
        *,
        wait_idle: Callable[[str], Awaitable[None]],
        health: Health,
        files: ConsoleFiles | None = None,
        max_file_bytes: int = 20 * 1024 * 1024,
        uploads: Uploads | None = None,
    ) -> None:
        self._events = events
        self._files = files
        self._limits = FileLimits("the console", max_file_bytes, max_file_bytes)
        self._uploads = uploads
        self._health = health
        self._wait_idle = wait_idle
        self._on_message: InboundHandler | None = None
        self._subscribers: dict[str, set[asyncio.Queue[Push]]] = {}
        self._waiters: set[asyncio.Task[None]] = set()

    @property
    def name(self) -> str:
        return CHANNEL

    @property
    def features(self) -> ChannelFeatures:
        return ChannelFeatures(edit=True, buttons=True, typing=True, stream=True, max_text=100_000)

    async def run(self, on_message: InboundHandler) -> None:
        """Serve until cancelled; then tell every open client the daemon is going away."""
        self._on_message = on_message
        self._health.set(f"channel.{CHANNEL}", ComponentState.READY, "/api and /ws")
        try:
            await asyncio.Event().wait()
        finally:
            self._on_message = None
            for task in self._waiters:
                task.cancel()
            for queues in self._subscribers.values():
                for queue in queues:
                    queue.put_nowait(CLOSE)

    # --- clients ------------------------------------------------------------------------------

    def subscribe(self, person: str) -> asyncio.Queue[Push]:
        queue: asyncio.Queue[Push] = asyncio.Queue()
        self._subscribers.setdefault(person, set()).add(queue)
        return queue

    def unsubscribe(self, person: str, queue: asyncio.Queue[Push]) -> None:
        queues = self._subscribers.get(person)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._subscribers[person]

    @property
    def serving(self) -> bool:
        return self._on_message is not None

    async def submit(self, message: InboundMessage) -> SubmitOutcome:
        """Hand a client's message to the router; once it is answered (the chat is idle),
        the person's clients get ``{"type": "idle"}``."""
        if self._on_message is None:
            raise ChannelUnavailable("the console is not serving (starting or stopping)")
        outcome = await self._on_message(message)
        person = message.chat.chat_id
        self._publish(person, {"type": "busy", "busy": True})
        task = asyncio.create_task(self._idle(message.chat))
        self._waiters.add(task)
        task.add_done_callback(self._waiters.discard)
        return outcome

    async def _idle(self, chat: ChatRef) -> None:
        await self._wait_idle(chat.key)
        self._publish(chat.chat_id, {"type": "idle", "busy": False})

    def _publish(self, person: str, push: Push) -> None:
        for queue in self._subscribers.get(person, ()):
            queue.put_nowait(push)

    async def said(
        self, person: str, client_id: str, text: str, files: tuple[str, ...] = ()
    ) -> None:
        """What a person wrote (and the names of the files they attached): stored and shown
        in every session of theirs, once per ``client_id`` (a client may send it again)."""
        body: Push = {"text": text, **({"files": list(files)} if files else {})}
        event = await self._events.append_once(person, "mine", f"mine-{client_id}", body)
        if event is not None:
            self._publish(person, event.wire())

    async def _store(self, chat: ChatRef, kind: str, message_id: str, body: Push) -> None:
        event = await self._events.append(chat.chat_id, kind, message_id, body)
        self._publish(chat.chat_id, event.wire())

    # --- Channel ------------------------------------------------------------------------------

    async def send(
        self, message: OutboundMessage, *, parts: PartSink | None = None
    ) -> list[SentMessage]:
        chat, files = message.chat, message.files
        texts = 1 if message.text.strip() or message.buttons or not files else 0

        async def send_file(index: int) -> SentMessage | None:
            return await self._send_file(chat, files[index])

        async def send_text(index: int) -> SentMessage | None:
            sent = SentMessage(chat, uuid.uuid4().hex[:16])
            body: Push = {"text": message.text, "format": message.format}
            if message.buttons:
                body["buttons"] = _buttons(message.buttons)
            await self._store(chat, "message", sent.message_id, body)
            return sent

        total, send_one = with_files(len(files), send_file, texts, send_text)
        return await send_parts(total, send_one, parts)

    async def _send_file(self, chat: ChatRef, file: OutFile) -> SentMessage:
        """Stored for the person's clients to download (``GET /api/files/ID``); a line
        naming it when it is larger than the console keeps."""
        sent = SentMessage(chat, uuid.uuid4().hex[:16])
        if self._files is None or send_as(file, self._limits) is None:
            line = too_large_line(file, self._limits)
            await self._store(chat, "message", sent.message_id, {"text": line, "format": "plain"})
            return sent
        file_id = await self._files.put(
            chat.chat_id, file.name, file.mime_type, file.kind, file.data
        )
        body: Push = {
            "text": f"📎 {file.name} ({human_size(len(file.data))})",
            "file": {
                "id": file_id,
                "name": file.name,
                "size": len(file.data),
                "mime_type": file.mime_type,
                "kind": file.kind,
                "url": f"/api/files/{file_id}",
            },
        }
        await self._store(chat, "file", sent.message_id, body)
        return sent

    async def edit(
        self,
        sent: SentMessage,
        text: str,
        *,
        buttons: tuple[tuple[Button, ...], ...] = (),
        format: Literal["markdown", "plain"] = "markdown",
        parts: PartSink | None = None,
    ) -> list[SentMessage]:
        body: Push = {"text": text, "format": format, "buttons": _buttons(buttons)}
        await self._store(sent.chat, "edit", sent.message_id, body)
        if parts is not None:
            await parts.sent(0, sent, of=1)
        return [sent]

    async def typing(self, chat: ChatRef) -> None:
        self._publish(chat.chat_id, {"type": "typing"})

    async def answer_action(
        self, action: InboundMessage, text: str, *, alert: bool = False
    ) -> None:
        if text:
            body: Push = {"text": text, "alert": alert}
            await self._store(action.chat, "notice", uuid.uuid4().hex[:16], body)

    async def fetch(self, attachment: Attachment, *, max_bytes: int) -> bytes:
        if self._uploads is None:
            raise ChannelError("this console keeps no uploads")
        return await self._uploads.read(attachment, max_bytes=max_bytes)

    async def aclose(self) -> None:
        for task in list(self._waiters):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._waiters, return_exceptions=True)
