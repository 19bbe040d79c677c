"""The Feishu (Lark) adapter: receive over the long connection (or a webhook), send with our
own Open API client.

Every event, whichever way it came, goes through ``handle_payload``: a repeated event id is
acknowledged at once; the event is parsed (unknown types are logged and acknowledged); the
message goes to ``on_message`` (the router's ``submit``, which records it in the inbox) and
only then is the event id remembered and the event acknowledged. A crash in between means
Feishu delivers it again, and the inbox (keyed by app and message id) and the event log (keyed
by event id) drop the repeat. An event that raises anything while it is parsed or recorded is
dead-lettered and acknowledged (``channels.quarantine``): Feishu would redeliver it for hours.

A button press (``card.action.trigger``) is answered by the response to the callback itself.
The response is held until ``submit`` returned and, if the press was accepted, a moment more
for the action's handler to call ``answer_action``; that text becomes the toast. Answers that
come later are dropped; the outcome shows when the card is updated (``edit``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal

import aiohttp
import structlog
from aiohttp import web

from assistant.channels.common import DEFERRED, answer_or_defer, webhook_routes
from assistant.channels.feishu.api import FeishuAPI, FeishuRefused
from assistant.channels.feishu.parse import (
    ACTION_EVENT,
    CHANNEL,
    MESSAGE_EVENT,
    BotIdentity,
    envelope,
    parse_event,
)
from assistant.channels.feishu.render import (
    Payload,
    action_response,
    card_payloads,
    render_message,
    text_payloads,
)
from assistant.channels.feishu.webhook import Poison, Rejected, open_request
from assistant.channels.feishu.ws_thread import LongConnection
from assistant.channels.outfiles import FileLimits, refused_line, send_as, too_large_line
from assistant.channels.parts import send_parts
from assistant.channels.quarantine import Quarantine
from assistant.config import FeishuSection
from assistant.core.bounded import BoundedDict
from assistant.core.errors import ChannelError, IntakeClosed
from assistant.core.health import ComponentState, Health
from assistant.core.messages import (
    Attachment,
    Button,
    ChatRef,
    InboundMessage,
    MessageKind,
    OutboundMessage,
    OutFile,
    SentMessage,
)
from assistant.core.ports import (
    ChannelFeatures,
    InboundHandler,
    PartSink,
    SubmitOutcome,
    WebhookHandler,
)
from assistant.core.redact import Redactor
from assistant.store.dead_letters import DeadLetters
from assistant.store.seen import SeenEvents

log = structlog.get_logger(__name__)

NAME = CHANNEL
COMPONENT = "channel.feishu"
SEEN_RETENTION = 7 * 24 * 3600  # Feishu redelivers for about 7 hours; keep a week
_PURGE_EVERY = 3600.0
ANSWER_WAIT = 1.2  # seconds a press's response waits for the action's answer (Feishu: 3 s)
_KNOWN_EVENTS = {MESSAGE_EVENT, ACTION_EVENT}
FILE_LIMITS = FileLimits("Feishu", image=10 * 1024 * 1024, document=30 * 1024 * 1024)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclasses.dataclass(frozen=True, slots=True)
class _Toast:
    text: str
    alert: bool


class FeishuChannel:
    def __init__(
        self,
        config: FeishuSection,
        *,
        session: aiohttp.ClientSession,
        health: Health,
        redactor: Redactor,
        seen: SeenEvents | None = None,
        dead_letters: DeadLetters | None = None,
    ) -> None:
        assert config.app_id is not None
        assert config.app_secret is not None
        self._config = config
        self._health = health
        self._redactor = redactor
        self._seen = seen
        self._quarantine = Quarantine(NAME, dead_letters, redactor)
        self._quarantine.bot = config.app_id
        self.api = FeishuAPI(
            session,
            base_url=config.base_url,
            app_id=config.app_id,
            app_secret=config.app_secret.get_secret_value(),
            redactor=redactor,
        )
        self._bot: BotIdentity | None = None
        self._on_message: InboundHandler | None = None
        self._answers: dict[str, asyncio.Future[_Toast]] = {}
        self._kinds: BoundedDict[str, str] = BoundedDict(2000)  # message id → msg_type we sent
        self._ignored_types: set[str] = set()
        self._last_purge = 0.0
        self.connection: LongConnection | None = None

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return NAME

    @property
    def features(self) -> ChannelFeatures:
        return ChannelFeatures(
            edit=True, buttons=True, typing=False, stream=self._config.stream, max_text=8000
        )

    async def __aenter__(self) -> FeishuChannel:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.connection is not None:
            await self.connection.stop()

    def routes(self) -> list[tuple[str, str, WebhookHandler]]:
        return webhook_routes(self._config.mode, self._config.webhook_path, self._webhook)

    async def run(self, on_message: InboundHandler) -> None:
        self._health.set(COMPONENT, ComponentState.STARTING, "connecting")
        info = await self.api.bot_info()
        app_id = self._config.app_id or ""
        self._bot = BotIdentity(
            str(info["open_id"]),
            str(info.get("app_name") or ""),
            app_id,
            # Lark (larksuite.com) is international; Feishu and private deployments are Chinese
            language=None if "lark" in self._config.domain.lower() else "zh_CN",
        )
        self._health.note(COMPONENT, bot=self._bot.name, mode=self._config.mode)
        await self._purge()
        self._on_message = on_message
        try:
            if self._config.mode == "webhook":
                self._health.set(COMPONENT, ComponentState.READY, self._config.webhook_path)
                await asyncio.Event().wait()
            else:
                assert self._config.app_id is not None
                assert self._config.app_secret is not None
                connection = LongConnection(
                    api=self.api,
                    app_id=self._config.app_id,
                    app_secret=self._config.app_secret.get_secret_value(),
                    handle=self.handle_frame,
                    health=self._health,
                    component=COMPONENT,
                    redactor=self._redactor,
                    heartbeat_timeout=self._config.heartbeat_timeout,
                )
                self.connection = connection
                async with connection:
                    await connection.watch()
        finally:
            self._on_message = None
            self.connection = None

    async def _purge(self) -> None:
        if self._seen is None or time.monotonic() - self._last_purge < _PURGE_EVERY:
            return
        self._last_purge = time.monotonic()
        purged = await self._seen.purge(time.time() - SEEN_RETENTION)
        if purged:
            log.info("feishu.seen_events_purged", events=purged)

    # --- receiving ------------------------------------------------------------------------

    async def handle_frame(self, payload: bytes) -> tuple[int, bytes | None]:
        """An event from the long connection → (status for the ack, response body)."""
        return await answer_or_defer(NAME, "long-connection", self._frame(payload), (503, None))

    async def _frame(self, payload: bytes) -> tuple[int, bytes | None]:
        source = "long-connection"
        try:
            data = json.loads(payload)
        except (ValueError, RecursionError) as exc:
            await self._quarantine.hold(payload, exc, source=source)
            return 200, None
        if not isinstance(data, dict):
            await self._quarantine.hold(payload, "not a JSON object", source=source)
            return 200, None
        response = await self.handle_payload(data, source=source)
        return 200, json.dumps(response).encode() if response else None

    async def handle_payload(self, payload: dict[str, Any], *, source: str) -> dict[str, Any]:
        """Handle one decrypted, verified event; the body to answer it with.

        Raises ``IntakeClosed``/``StateError`` when it must not be acknowledged (yet); anything
        else that goes wrong dead-letters the event.
        """
        try:
            return await self._handle(payload)
        except DEFERRED:
            raise
        except Exception as exc:  # noqa: BLE001 - quarantine, never wedge
            header = payload.get("header")
            ref = header.get("event_id") if isinstance(header, dict) else None
            await self._quarantine.hold(
                payload, exc, source=source, ref=ref if isinstance(ref, str) else None
            )
            return {}

    async def redeliver(self, payload: str) -> None:
        data = json.loads(payload)
        if not isinstance(data, dict):
            raise ValueError("an event must be a JSON object")
        await self._handle(data)

    async def _handle(self, payload: dict[str, Any]) -> dict[str, Any]:
        on_message, bot = self._on_message, self._bot
        if on_message is None or bot is None:
            raise IntakeClosed("the Feishu channel is not receiving yet")
        env = envelope(payload)
        if self._seen is not None and await self._seen.seen(NAME, env.event_id):
            log.debug("feishu.duplicate_event", event_id=env.event_id, event_type=env.event_type)
            return {}
        message = parse_event(env, bot)
        unknown = env.event_type not in _KNOWN_EVENTS | self._ignored_types
        if message is None and unknown:  # once per type: no log flood
            self._ignored_types.add(env.event_type)
            log.info("feishu.event_ignored", event_type=env.event_type)
        elif message is None:
            log.debug("feishu.skipped", event_id=env.event_id, event_type=env.event_type)
        response: dict[str, Any] = {}
        if message is not None:
            message = await self._with_name(message)
            if message.kind is MessageKind.ACTION:
                response = await self._submit_action(message, on_message)
            else:
                await on_message(message)
        if self._seen is not None:
            await self._seen.remember(NAME, env.event_id)
        self._health.note(COMPONENT, last_event=_now())
        await self._purge()
        return response

    async def _with_name(self, message: InboundMessage) -> InboundMessage:
        if message.kind is MessageKind.CHAT and not message.addressed:
            return message  # group chatter the router ignores
        name = await self.api.user_name(message.sender.user_id)
        if not name:
            return message
        return dataclasses.replace(message, sender=dataclasses.replace(message.sender, name=name))

    async def _submit_action(
        self, message: InboundMessage, on_message: InboundHandler
    ) -> dict[str, Any]:
        answer: asyncio.Future[_Toast] = asyncio.get_running_loop().create_future()
        self._answers[message.platform_id] = answer
        try:
            outcome = await on_message(message)
            if outcome is SubmitOutcome.ACCEPTED and not answer.done():
                await asyncio.wait({answer}, timeout=ANSWER_WAIT)
        finally:
            self._answers.pop(message.platform_id, None)
        if not answer.done():
            answer.cancel()
            return {}
        toast = answer.result()
        return action_response(toast.text, alert=toast.alert)

    # --- receiving: webhook ---------------------------------------------------------------

    async def _webhook(self, request: web.Request) -> web.StreamResponse:
        token = self._config.verification_token
        assert token is not None
        key = self._config.encrypt_key
        body = await request.read()
        opened = open_request(
            body,
            request.headers,
            verification_token=token.get_secret_value(),
            encrypt_key=key.get_secret_value() if key else None,
            window=self._config.timestamp_window,
            now=time.time(),
        )
        if isinstance(opened, Rejected):
            log.warning("feishu.webhook_rejected", reason=opened.reason, remote=request.remote)
            return web.json_response({"msg": "rejected"}, status=opened.status)
        later = web.json_response({"msg": "try again later"}, status=503)
        return await answer_or_defer(NAME, "webhook", self._take(opened), later)

    async def _take(self, opened: dict[str, Any] | Poison) -> web.StreamResponse:
        if isinstance(opened, Poison):  # signed by Feishu, but not for this parser
            await self._quarantine.hold(opened.raw, opened.error, source="webhook")
            return web.json_response({})
        if opened.get("type") == "url_verification":
            log.info("feishu.url_verified")
            return web.json_response({"challenge": opened.get("challenge")})
        response = await self.handle_payload(opened, source="webhook")
        return web.json_response(response)

    # --- sending --------------------------------------------------------------------------

    async def send(
        self, message: OutboundMessage, *, parts: PartSink | None = None
    ) -> list[SentMessage]:
        chat = message.chat
        payloads = render_message(
            message.text,
            message.format,
            message.buttons,
            group=chat.is_group,
            thread=chat.thread_id,
            prefer_cards=self._config.stream,
        )
        if message.files:
            text = bool(message.text.strip() or message.buttons)
            return await self._send_all(
                chat,
                payloads if text else [],
                reply_to=message.reply_to,
                sink=parts,
                files=message.files,
            )
        return await self._send_all(chat, payloads, reply_to=message.reply_to, sink=parts)

    async def _send_all(
        self,
        chat: ChatRef,
        payloads: list[Payload],
        *,
        reply_to: str | None,
        sink: PartSink | None,
        first: int = 0,
        files: tuple[OutFile, ...] = (),
    ) -> list[SentMessage]:
        """Send ``files`` (each a part; an image or file message), then ``payloads[first:]``,
        each recorded in ``sink``; stop at one refused."""
        count = len(files)

        async def send_one(index: int) -> SentMessage | None:
            # in a thread every part stays in it; elsewhere only the first part quotes
            target = reply_to if index == 0 or chat.thread_id else None
            if index < count:
                payload = await self._file_payload(files[index])
            else:
                payload = payloads[index - count]
            message_id = await self._post(chat, payload, target)
            if message_id is None:
                return None
            self._kinds[message_id] = payload.msg_type
            return SentMessage(chat, message_id)

        return await send_parts(count + len(payloads), send_one, sink, first=first)

    async def _file_payload(self, file: OutFile) -> Payload:
        """Upload a picture (im/v1/images) or a file (im/v1/files): the message showing it,
        or a text message naming it when it is too large or Feishu refuses it."""
        how = send_as(file, FILE_LIMITS)
        if how is None:
            return text_payloads(too_large_line(file, FILE_LIMITS))[0]
        try:
            if how == "image":
                key = await self.api.upload_image(file.name, file.data, file.mime_type)
                return Payload("image", json.dumps({"image_key": key}))
            key = await self.api.upload_file(file.name, file.data, file.mime_type)
            return Payload("file", json.dumps({"file_key": key}))
        except FeishuRefused as exc:
            log.warning("feishu.upload_refused", code=exc.code, error=str(exc), name=file.name)
            return text_payloads(refused_line(file, FILE_LIMITS.platform))[0]

    async def _post(self, chat: ChatRef, payload: Payload, reply_to: str | None) -> str | None:
        """Send one message; None when Feishu refused it for good (logged)."""
        if reply_to:
            try:
                return await self.api.reply(
                    reply_to, payload.msg_type, payload.content, thread=bool(chat.thread_id)
                )
            except FeishuRefused as exc:  # e.g. the message was recalled: send without quoting
                log.warning("feishu.reply_refused", code=exc.code, error=str(exc))
        try:
            return await self.api.send(chat.chat_id, payload.msg_type, payload.content)
        except FeishuRefused as exc:
            log.error("feishu.send_refused", code=exc.code, chat_id=chat.chat_id, error=str(exc))
            return None

    async def edit(
        self,
        sent: SentMessage,
        text: str,
        *,
        buttons: tuple[tuple[Button, ...], ...] = (),
        format: Literal["markdown", "plain"] = "markdown",
        parts: PartSink | None = None,
    ) -> list[SentMessage]:
        chat = sent.chat
        is_text = self._kinds.get(sent.message_id) == "text"
        if is_text and not buttons:
            payloads = text_payloads(text)
        else:
            payloads = card_payloads(
                text, format, buttons, group=chat.is_group, thread=chat.thread_id
            )
        first = payloads[0]
        try:
            if is_text and first.msg_type == "text":
                await self.api.update_text(sent.message_id, first.content)
            elif first.msg_type == "interactive" and not is_text:
                await self.api.patch_card(sent.message_id, first.content)
            else:
                raise FeishuRefused("a text message cannot become a card", None)
        except FeishuRefused as exc:  # too old, deleted, not ours: show the text anew
            log.warning("feishu.edit_refused", code=exc.code, error=str(exc))
            return await self._send_all(chat, payloads, reply_to=None, sink=parts)
        if parts is not None:
            await parts.sent(0, sent, of=len(payloads))
        more = await self._send_all(chat, payloads, reply_to=None, sink=parts, first=1)
        return [sent, *more]

    async def typing(self, chat: ChatRef) -> None:
        return None  # Feishu has no typing indicator for bots

    async def answer_action(
        self, action: InboundMessage, text: str, *, alert: bool = False
    ) -> None:
        answer = self._answers.get(action.platform_id)
        if answer is None or answer.done():
            log.debug("feishu.answer_dropped", reason="the callback was already answered")
            return
        answer.set_result(_Toast(text, alert))

    async def fetch(self, attachment: Attachment, *, max_bytes: int) -> bytes:
        if attachment.size is not None and attachment.size > max_bytes:
            raise ChannelError(f"{attachment.name} is larger than {max_bytes} bytes")
        message_id, _, file_key = attachment.ref.partition("/")
        if not message_id or not file_key:
            raise ChannelError(f"cannot download {attachment.name}: no resource key")
        return await self.api.download(message_id, file_key, attachment.kind, max_bytes)
