"""The Slack adapter: receive over Socket Mode or the Events API (a webhook on the gateway),
send with the Web API (slack-sdk's asyncio clients on our aiohttp session).

Every event goes through ``handle_event``: an event id seen before is acknowledged at once
(Slack's retries, ``X-Slack-Retry-Num``, are not processed again); the event is parsed and the
message handed to ``on_message`` (the router's ``submit``, which records it in the inbox keyed
by ``channel:ts``, so the ``message`` and ``app_mention`` events of one message give one
entry); only then is the event id remembered and the event acknowledged (HTTP 200, or the
Socket Mode envelope's ack). What raises while it is parsed or recorded is dead-lettered.

In channels the bot answers when mentioned, and in threads it takes part in (it was mentioned
there or answered there: kept in the state for a week, like the event ids), always in the
thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import urllib.parse
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal

import aiohttp
import structlog
from aiohttp import web

from assistant.channels.common import DEFERRED, answer_or_defer
from assistant.channels.outfiles import (
    FileLimits,
    refused_line,
    send_as,
    too_large_line,
    upload_name,
)
from assistant.channels.parts import send_parts
from assistant.channels.quarantine import Quarantine
from assistant.channels.slack.api import SlackAPI, SlackRefused
from assistant.channels.slack.parse import CHANNEL, BotIdentity, parse_action, parse_event
from assistant.channels.slack.render import render_message
from assistant.channels.slack.webhook import verified
from assistant.config import SlackSection
from assistant.core.bounded import BoundedDict
from assistant.core.errors import IntakeClosed
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
from assistant.core.ports import (
    ChannelFeatures,
    Clock,
    InboundHandler,
    PartSink,
    SystemClock,
    WebhookHandler,
)
from assistant.core.redact import Redactor
from assistant.store.dead_letters import DeadLetters
from assistant.store.seen import SeenEvents

log = structlog.get_logger(__name__)

NAME = CHANNEL
COMPONENT = "channel.slack"
FILE_LIMITS = FileLimits("Slack", image=1024**3, document=1024**3)  # files.getUploadURLExternal
THREADS = "slack.thread"  # seen_events' channel for the threads the bot takes part in
SEEN_RETENTION = 7 * 24 * 3600.0  # event ids (Slack retries for an hour) and threads: a week
PURGE_EVERY = 3600.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class SlackChannel:
    def __init__(
        self,
        config: SlackSection,
        *,
        session: aiohttp.ClientSession,
        health: Health,
        redactor: Redactor,
        clock: Clock | None = None,
        seen: SeenEvents | None = None,
        dead_letters: DeadLetters | None = None,
    ) -> None:
        assert config.bot_token is not None
        self._config = config
        self._health = health
        self._clock = clock or SystemClock()
        self._seen = seen
        self._quarantine = Quarantine(NAME, dead_letters, redactor)
        self.api = SlackAPI(
            session,
            base_url=config.api_base,
            token=config.bot_token.get_secret_value(),
            redactor=redactor,
            clock=self._clock,
        )
        self._bot: BotIdentity | None = None
        self._on_message: InboundHandler | None = None
        self._threads: BoundedDict[tuple[str, str], bool] = BoundedDict(5000)
        self._last_purge = float("-inf")

    @property
    def name(self) -> str:
        return NAME

    @property
    def features(self) -> ChannelFeatures:
        return ChannelFeatures(
            edit=True, buttons=True, typing=False, stream=self._config.stream, max_text=3000
        )

    async def __aenter__(self) -> SlackChannel:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._on_message = None

    def routes(self) -> list[tuple[str, str, WebhookHandler]]:
        if self._config.mode != "events":
            return []
        return [("POST", self._config.webhook_path, self._webhook)]

    async def run(self, on_message: InboundHandler) -> None:
        self._health.set(COMPONENT, ComponentState.STARTING, "connecting")
        info = await self.api.call("auth.test")
        self._bot = BotIdentity(str(info["user_id"]), str(info.get("team_id") or ""))
        self._quarantine.bot = self._bot.user_id
        self._health.note(COMPONENT, bot=str(info.get("user") or ""), mode=self._config.mode)
        self._on_message = on_message
        try:
            if self._config.mode == "events":
                self._health.set(COMPONENT, ComponentState.READY, self._config.webhook_path)
                await asyncio.Event().wait()
            else:
                from assistant.channels.slack.socket import run_socket_mode

                assert self._config.app_token is not None
                await run_socket_mode(
                    self._config.app_token.get_secret_value(),
                    self.api.client,
                    handle=self.handle_payload,
                    ready=lambda: self._health.set(COMPONENT, ComponentState.READY, "socket"),
                    degraded=lambda: self._health.set(
                        COMPONENT, ComponentState.DEGRADED, "socket disconnected; reconnecting"
                    ),
                    clock=self._clock,
                )
        finally:
            self._on_message = None

    # --- receiving ------------------------------------------------------------------------

    def _in_thread(self, channel: str, thread: str) -> bool:
        return (channel, thread) in self._threads

    async def _webhook(self, request: web.Request) -> web.StreamResponse:
        secret = self._config.signing_secret
        assert secret is not None
        body = await request.read()
        if not verified(
            body,
            request.headers,
            secret.get_secret_value(),
            now=self._clock.time(),
            window=self._config.timestamp_window,
        ):
            log.warning("slack.webhook_rejected", remote=request.remote)
            return web.json_response({"error": "rejected"}, status=401)
        later = web.json_response({"error": "try again later"}, status=503)
        return await answer_or_defer(NAME, "webhook", self._take(request, body), later)

    async def _take(self, request: web.Request, body: bytes) -> web.StreamResponse:
        try:
            if request.content_type == "application/x-www-form-urlencoded":
                form = urllib.parse.parse_qs(body.decode())
                payload = json.loads(form["payload"][0])
                kind = "interactive"
            else:
                payload = json.loads(body)
                kind = "events_api"
        except (ValueError, KeyError, IndexError, RecursionError) as exc:
            await self._quarantine.hold(body, exc, source="webhook")
            return web.json_response({})
        if not isinstance(payload, dict):
            return web.json_response({"error": "not an object"}, status=400)
        if payload.get("type") == "url_verification":
            return web.json_response({"challenge": payload.get("challenge")})
        await self.handle_payload(kind, payload, source="webhook")
        return web.Response(status=200)

    async def handle_payload(self, kind: str, payload: dict[str, Any], *, source: str) -> None:
        """Record one verified event or interaction; dead-letter what cannot be.

        Raises ``IntakeClosed``/``StateError`` when it must not be acknowledged (yet)."""
        try:
            await self._handle(kind, payload)
        except DEFERRED:
            raise
        except Exception as exc:  # noqa: BLE001 - quarantine, never wedge
            ref = payload.get("event_id")
            await self._quarantine.hold(
                payload, exc, source=source, ref=ref if isinstance(ref, str) else None
            )

    async def redeliver(self, payload: str) -> None:
        data = json.loads(payload)
        if not isinstance(data, dict):
            raise ValueError("an event must be a JSON object")
        kind = "events_api" if data.get("type") == "event_callback" else "interactive"
        await self._handle(kind, data)

    async def _handle(self, kind: str, payload: dict[str, Any]) -> None:
        on_message, bot = self._on_message, self._bot
        if on_message is None or bot is None:
            raise IntakeClosed("the Slack channel is not receiving yet")
        if kind == "interactive":
            action = parse_action(payload, bot)
            if action is not None:
                await on_message(action)
            return
        if payload.get("type") != "event_callback":
            log.info("slack.ignored", type=str(payload.get("type")))
            return
        event_id = str(payload.get("event_id") or "")
        if self._seen is not None and event_id and await self._seen.seen(NAME, event_id):
            log.debug("slack.duplicate_event", event_id=event_id)
            return
        await self._recall_thread(payload.get("event"))
        message = parse_event(payload, bot, self._in_thread)
        if message is not None:
            if message.chat.is_group and message.addressed and message.chat.thread_id:
                await self._join_thread(message.chat.chat_id, message.chat.thread_id)
            await on_message(message)
        if self._seen is not None and event_id:
            await self._seen.remember(NAME, event_id)
        self._health.note(COMPONENT, last_event=_now())
        await self._purge()

    async def _recall_thread(self, event: Any) -> None:
        """Whether the bot takes part in the event's thread, from the state (after a restart)."""
        if not isinstance(event, dict) or self._seen is None:
            return
        channel, thread = event.get("channel"), event.get("thread_ts")
        if not isinstance(channel, str) or not isinstance(thread, str):
            return
        if (channel, thread) not in self._threads and await self._seen.seen(
            THREADS, f"{channel}:{thread}"
        ):
            self._threads[(channel, thread)] = True

    async def _join_thread(self, channel: str, thread: str) -> None:
        if (channel, thread) in self._threads:
            return
        self._threads[(channel, thread)] = True
        if self._seen is not None:
            await self._seen.remember(THREADS, f"{channel}:{thread}")

    async def _purge(self) -> None:
        if self._seen is None or self._clock.monotonic() - self._last_purge < PURGE_EVERY:
            return
        self._last_purge = self._clock.monotonic()
        older = time.time() - SEEN_RETENTION  # the rows are stamped with the system clock
        purged = await self._seen.purge(older)
        if purged:
            log.info("slack.seen_purged", rows=purged)

    # --- sending --------------------------------------------------------------------------

    async def send(
        self, message: OutboundMessage, *, parts: PartSink | None = None
    ) -> list[SentMessage]:
        payloads = render_message(message.text, message.format, message.buttons)
        if message.files and not (message.text.strip() or message.buttons):
            payloads = []
        return await self._send_all(message.chat, payloads, parts, files=message.files)

    async def _send_all(
        self,
        chat: ChatRef,
        payloads: list[dict[str, Any]],
        sink: PartSink | None,
        first: int = 0,
        files: tuple[OutFile, ...] = (),
    ) -> list[SentMessage]:
        """``files`` (each a part, shared where the reply goes), then ``payloads[first:]``."""
        if chat.is_group and chat.thread_id:
            await self._join_thread(chat.chat_id, chat.thread_id)
        count = len(files)

        async def send_one(index: int) -> SentMessage | None:
            if index < count:
                return await self._send_file(chat, files[index])
            arguments = {"channel": chat.chat_id, **payloads[index - count]}
            if chat.thread_id:
                arguments["thread_ts"] = chat.thread_id
            try:
                answer = await self.api.call("chat.postMessage", **arguments)
            except SlackRefused as exc:
                log.error("slack.send_refused", error=exc.error, channel=chat.chat_id)
                return None
            # a message to a person (U…) lands in their direct message channel (D…): edits
            # must name that channel
            where = str(answer.get("channel") or chat.chat_id)
            return SentMessage(dataclasses.replace(chat, chat_id=where), str(answer["ts"]))

        return await send_parts(count + len(payloads), send_one, sink, first=first)

    async def _send_file(self, chat: ChatRef, file: OutFile) -> SentMessage | None:
        """Share one file in the chat (in its thread); a message naming it when it is too
        large or Slack refuses it (a person's id instead of a channel, a missing scope)."""
        if send_as(file, FILE_LIMITS) is None:
            line = too_large_line(file, FILE_LIMITS)
        else:
            try:
                file_id = await self.api.upload(
                    chat.chat_id, upload_name(file.name), file.data, thread=chat.thread_id
                )
                return SentMessage(chat, file_id)
            except SlackRefused as exc:
                log.warning("slack.upload_refused", error=exc.error, name=file.name)
                line = refused_line(file, FILE_LIMITS.platform)
        sent = await self._send_all(chat, [{"text": line}], None)
        return sent[0] if sent else None

    async def edit(
        self,
        sent: SentMessage,
        text: str,
        *,
        buttons: tuple[tuple[Button, ...], ...] = (),
        format: Literal["markdown", "plain"] = "markdown",
        parts: PartSink | None = None,
    ) -> list[SentMessage]:
        payloads = render_message(text, format, buttons) or [{"text": "…"}]
        first = {"blocks": [], **payloads[0]}  # no blocks: the buttons go
        try:
            await self.api.call(
                "chat.update", channel=sent.chat.chat_id, ts=sent.message_id, **first
            )
        except SlackRefused as exc:  # too old, deleted: show the text anew
            log.warning("slack.edit_refused", error=exc.error)
            return await self._send_all(sent.chat, payloads, parts)
        if parts is not None:
            await parts.sent(0, sent, of=len(payloads))
        more = await self._send_all(sent.chat, payloads, parts, first=1)
        return [sent, *more]

    async def typing(self, chat: ChatRef) -> None:
        return None

    async def answer_action(
        self, action: InboundMessage, text: str, *, alert: bool = False
    ) -> None:
        if not text.strip():
            return
        arguments = {"channel": action.chat.chat_id, "user": action.sender.user_id, "text": text}
        if action.chat.thread_id:
            arguments["thread_ts"] = action.chat.thread_id
        try:
            await self.api.call("chat.postEphemeral", **arguments)
        except SlackRefused as exc:
            log.info("slack.answer_refused", error=exc.error)

    async def fetch(self, attachment: Attachment, *, max_bytes: int) -> bytes:
        if attachment.size is not None and attachment.size > max_bytes:
            from assistant.core.errors import ChannelError

            raise ChannelError(f"{attachment.name} is larger than {max_bytes} bytes")
        return await self.api.download(attachment.ref, max_bytes)
