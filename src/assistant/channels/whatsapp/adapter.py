"""The WhatsApp Cloud API adapter: receive by webhook on the gateway, send with the Graph API.

A delivery is checked (``webhook``: the app secret's signature, else 401), then each of its
messages is parsed and handed to ``on_message`` (the router's ``submit``, which records it in
the inbox, keyed by the phone number id and the message id: Meta's redeliveries are dropped
there) and only then is the delivery answered 200. A message that raises while it is parsed or
recorded is dead-lettered (``channels.quarantine``); a database that refuses writes or an
intake that is closing answers 503, and Meta delivers it again.

The 24-hour window: a free-form message may be sent only within 24 hours of the person's last
message (``store.windows`` keeps that time, across restarts). Outside it a reply goes as the
configured approved template, or, without one, is recorded as undelivered and handed to
``undeliverable`` (the feature tells the owner on another channel). The platform's own verdict
(code 131047) counts too, whatever our table said.

WhatsApp cannot edit a message: ``edit`` sends the new text as a new message, and a button
press's answer (``answer_action``) is a short message. While a turn runs, the person sees
"typing…" (the Cloud API's typing indicator, tied to their last message, which it marks read;
off with ``mark_read = false``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal

import aiohttp
import structlog
from aiohttp import web

from assistant.channels.common import DEFERRED, answer_or_defer
from assistant.channels.parts import send_parts
from assistant.channels.quarantine import Quarantine
from assistant.channels.whatsapp.api import OUTSIDE_WINDOW, GraphAPI, WhatsAppRefused
from assistant.channels.whatsapp.files import caption_for, send_file
from assistant.channels.whatsapp.parse import (
    CHANNEL,
    Item,
    failures,
    items,
    message_ids,
    parse_item,
    sent_at,
    single,
)
from assistant.channels.whatsapp.render import (
    Payload,
    render_message,
    template_payload,
    text_payload,
)
from assistant.channels.whatsapp.webhook import handshake, signed
from assistant.config import WhatsAppSection
from assistant.core.bounded import BoundedDict
from assistant.core.errors import ChannelError, IntakeClosed
from assistant.core.health import ComponentState, Health
from assistant.core.i18n import N_, tr
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
    Clock,
    InboundHandler,
    PartSink,
    SystemClock,
    WebhookHandler,
)
from assistant.core.redact import Redactor
from assistant.store.dead_letters import DeadLetters
from assistant.store.windows import ReplyWindows

log = structlog.get_logger(__name__)

NAME = CHANNEL
COMPONENT = "channel.whatsapp"
WINDOW = 24 * 3600.0  # seconds after a person's message in which free-form replies may go
MARK_READ_TIMEOUT = 5.0
TYPING_EVERY = 20.0  # WhatsApp shows the indicator for 25 s (or until the reply)

BUTTONS_LOST = N_(
    "(This message had buttons, which WhatsApp does not allow more than 24 hours after your last "
    "message. Write to me, then ask again.)"
)

Undeliverable = Callable[[ChatRef, str | None], Awaitable[None]]  # None: the text is gone


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class WhatsAppChannel:
    def __init__(
        self,
        config: WhatsAppSection,
        *,
        session: aiohttp.ClientSession,
        health: Health,
        redactor: Redactor,
        clock: Clock | None = None,
        windows: ReplyWindows | None = None,
        dead_letters: DeadLetters | None = None,
        undeliverable: Undeliverable | None = None,
    ) -> None:
        assert config.phone_number_id is not None
        assert config.token is not None
        self._config = config
        self._health = health
        self._clock = clock or SystemClock()
        self._windows = windows
        self._undeliverable = undeliverable
        self._quarantine = Quarantine(NAME, dead_letters, redactor)
        self._quarantine.bot = config.phone_number_id
        self.api = GraphAPI(
            session,
            base_url=config.api_base,
            phone_number_id=config.phone_number_id,
            token=config.token.get_secret_value(),
            redactor=redactor,
            clock=self._clock,
        )
        self._on_message: InboundHandler | None = None
        self._failed: BoundedDict[str, bool] = BoundedDict(2000)  # message ids reported failed
        self._last_in: BoundedDict[str, str] = BoundedDict(2000)  # person → their last message
        self._typed: BoundedDict[str, float] = BoundedDict(2000)  # message id → indicator shown

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return NAME

    @property
    def features(self) -> ChannelFeatures:
        return ChannelFeatures(
            edit=False, buttons=True, typing=self._config.mark_read, stream=False, max_text=4096
        )

    async def __aenter__(self) -> WhatsAppChannel:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._on_message = None

    def routes(self) -> list[tuple[str, str, WebhookHandler]]:
        path = self._config.webhook_path
        return [("GET", path, self._verify), ("POST", path, self._webhook)]

    async def run(self, on_message: InboundHandler) -> None:
        self._health.set(COMPONENT, ComponentState.STARTING, "reading the phone number")
        info = await self.api.phone_info()
        self._health.note(
            COMPONENT,
            number=str(info.get("display_phone_number") or ""),
            verified_name=str(info.get("verified_name") or ""),
        )
        self._on_message = on_message
        try:
            self._health.set(COMPONENT, ComponentState.READY, self._config.webhook_path)
            await asyncio.Event().wait()
        finally:
            self._on_message = None

    # --- receiving ------------------------------------------------------------------------

    async def _verify(self, request: web.Request) -> web.StreamResponse:
        token = self._config.verify_token
        assert token is not None
        challenge = handshake(request.query, token.get_secret_value())
        if challenge is None:
            log.warning("whatsapp.handshake_refused", remote=request.remote)
            return web.Response(status=403, text="forbidden")
        log.info("whatsapp.webhook_verified")
        return web.Response(text=challenge)

    async def _webhook(self, request: web.Request) -> web.StreamResponse:
        secret = self._config.app_secret
        assert secret is not None
        body = await request.read()
        if not signed(body, request.headers, secret.get_secret_value()):
            log.warning("whatsapp.webhook_rejected", reason="signature", remote=request.remote)
            return web.json_response({"error": "rejected"}, status=401)
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError) as exc:
            await self._quarantine.hold(body, exc, source="webhook")
            return web.json_response({})
        if not isinstance(payload, dict):
            await self._quarantine.hold(body, "not a JSON object", source="webhook")
            return web.json_response({})
        later = web.json_response({"error": "try again later"}, status=503)
        return await answer_or_defer(NAME, "webhook", self._take(payload), later)

    async def _take(self, payload: dict[str, Any]) -> web.StreamResponse:
        await self.handle_payload(payload, source="webhook")
        return web.json_response({})

    async def handle_payload(self, payload: dict[str, Any], *, source: str) -> None:
        """Record every message of one verified delivery; dead-letter what cannot be."""
        on_message = self._on_message
        if on_message is None:
            raise IntakeClosed("the WhatsApp channel is not receiving yet")
        try:
            found = list(items(payload))
        except DEFERRED:
            raise
        except Exception as exc:  # noqa: BLE001 - quarantine, never wedge
            ids = message_ids(payload)
            await self._quarantine.hold(payload, exc, source=source, ref=ids[0] if ids else None)
            return
        for item in found:
            try:
                await self._one(item, on_message)
            except DEFERRED:
                raise
            except Exception as exc:  # noqa: BLE001 - quarantine, never wedge
                ref = item.message.get("id")
                await self._quarantine.hold(
                    single(item),
                    exc,
                    source=source,
                    ref=ref if isinstance(ref, str) else None,
                )
        await self._failures(payload)
        self._health.note(COMPONENT, last_event=_now())

    async def _failures(self, payload: dict[str, Any]) -> None:
        """Messages WhatsApp accepted and later could not deliver: outside the 24-hour window
        (131047), recorded as undelivered and the owners told, once per message."""
        try:
            found = failures(payload)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.info("whatsapp.status_unreadable", error=str(exc))
            return
        for failed in found:
            if failed.message_id in self._failed:
                continue
            self._failed[failed.message_id] = True
            log.warning(
                "whatsapp.delivery_failed",
                person=failed.person,
                message_id=failed.message_id,
                code=failed.code,
            )
            if failed.code != OUTSIDE_WINDOW:
                continue
            if self._windows is not None:
                await self._windows.undelivered(failed.person, self._clock.time())
            if self._undeliverable is not None:
                await self._undeliverable(ChatRef(NAME, failed.person), None)

    async def redeliver(self, payload: str) -> None:
        data = json.loads(payload)
        if not isinstance(data, dict):
            raise ValueError("a delivery must be a JSON object")
        on_message = self._on_message
        if on_message is None:
            raise IntakeClosed("the WhatsApp channel is not receiving yet")
        for item in items(data):
            await self._one(item, on_message)

    async def _one(self, item: Item, on_message: InboundHandler) -> None:
        assert self._config.phone_number_id is not None
        message = parse_item(item, self._config.phone_number_id)
        if message is None:
            log.debug("whatsapp.skipped", type=str(item.message.get("type")))
            return
        if self._windows is not None:
            now = self._clock.time()
            when = sent_at(item.message)
            await self._windows.touch(message.sender.user_id, min(when or now, now))
            if message.chat.is_group:  # replies in the group: within 24 h of its last message
                await self._windows.touch(message.chat.chat_id, min(when or now, now))
        courtesy = (
            self._config.mark_read
            and message.kind is MessageKind.CHAT
            and not message.chat.is_group
        )
        if courtesy and message.message_id:  # before the turn can start: its "typing…"
            self._last_in[message.chat.chat_id] = message.message_id
        await on_message(message)
        if courtesy and message.message_id:
            await self._courtesy(self.api.mark_read(message.message_id), "mark_read")

    async def _courtesy(self, call: Awaitable[None], what: str) -> None:
        """Blue ticks, "typing…": they never fail the intake or a turn."""
        try:
            async with asyncio.timeout(MARK_READ_TIMEOUT):
                await call
        except (TimeoutError, ChannelError) as exc:
            log.info("whatsapp.courtesy_failed", what=what, error=str(exc))

    # --- sending --------------------------------------------------------------------------

    async def _in_window(self, person: str) -> bool:
        if self._windows is None:
            return True
        last = await self._windows.last_inbound(person)
        return last is not None and self._clock.time() - last < WINDOW

    async def send(
        self, message: OutboundMessage, *, parts: PartSink | None = None
    ) -> list[SentMessage]:
        buttons = self._buttons(message.chat, message.buttons)
        payloads = render_message(message.text, message.format, buttons)
        return await self._deliver(
            message.chat, message.text, payloads, parts, message.files, buttons
        )

    @staticmethod
    def _buttons(
        chat: ChatRef, buttons: tuple[tuple[Button, ...], ...]
    ) -> tuple[tuple[Button, ...], ...]:
        """The buttons that may go to ``chat``: groups take text, media and templates only."""
        if chat.is_group and buttons:
            log.warning("whatsapp.group_buttons_dropped", group=chat.chat_id)
            return ()
        return buttons

    async def _deliver(
        self,
        chat: ChatRef,
        text: str,
        payloads: list[Payload],
        sink: PartSink | None,
        files: tuple[OutFile, ...] = (),
        buttons: tuple[tuple[Button, ...], ...] = (),
    ) -> list[SentMessage]:
        """``files`` (uploaded, each an image or document message; the text their caption
        when it fits), then ``payloads``; outside the window, the template instead."""
        if not payloads and not files:
            return []
        if not await self._in_window(chat.chat_id):
            return await self._outside_window(chat, text, buttons, sink)
        closed = False
        count, caption = len(files), caption_for(files, payloads)
        if caption is not None:
            payloads = []

        async def send_one(index: int) -> SentMessage | None:
            nonlocal closed
            try:
                if index < count:
                    last = index == count - 1
                    return await send_file(self.api, chat, files[index], caption if last else None)
                message_id = await self.api.send(
                    chat.chat_id, payloads[index - count], group=chat.is_group
                )
            except WhatsAppRefused as exc:
                closed = exc.code == OUTSIDE_WINDOW
                log.error("whatsapp.send_refused", code=exc.code, error=str(exc))
                return None
            return SentMessage(chat, message_id)

        sent = await send_parts(count + len(payloads), send_one, sink)
        if closed and not sent:
            return await self._outside_window(chat, text, buttons, sink)
        return sent

    async def _outside_window(
        self,
        chat: ChatRef,
        text: str,
        buttons: tuple[tuple[Button, ...], ...],
        sink: PartSink | None,
    ) -> list[SentMessage]:
        name = self._config.template_name
        if name is not None:
            actions = [button.action_id for row in buttons for button in row]
            if len(actions) > self._config.template_buttons:
                log.warning(
                    "whatsapp.template_buttons_missing",
                    person=chat.chat_id,
                    buttons=len(actions),
                    template_buttons=self._config.template_buttons,
                )
                text = f"{text}\n\n{tr(BUTTONS_LOST)}"
                actions = []
            payload = template_payload(
                name,
                self._config.template_language,
                text if self._config.template_with_text else None,
                actions,
            )

            async def send_template(index: int) -> SentMessage | None:
                try:
                    sent = await self.api.send(chat.chat_id, payload, group=chat.is_group)
                    return SentMessage(chat, sent)
                except WhatsAppRefused as exc:
                    log.error("whatsapp.template_refused", code=exc.code, error=str(exc))
                    return None

            log.info("whatsapp.outside_window", person=chat.chat_id, template=name)
            sent = await send_parts(1, send_template, sink)
            if sent:
                return sent
        count = 0
        if self._windows is not None:
            count = await self._windows.undelivered(chat.chat_id, self._clock.time())
        log.warning("whatsapp.undelivered", person=chat.chat_id, undelivered=count)
        if self._undeliverable is not None:
            await self._undeliverable(chat, text)
        return []

    async def edit(
        self,
        sent: SentMessage,
        text: str,
        *,
        buttons: tuple[tuple[Button, ...], ...] = (),
        format: Literal["markdown", "plain"] = "markdown",
        parts: PartSink | None = None,
    ) -> list[SentMessage]:
        """WhatsApp cannot edit: the new text comes as a new message."""
        buttons = self._buttons(sent.chat, buttons)
        payloads = render_message(text, format, buttons)
        return await self._deliver(sent.chat, text, payloads, parts, buttons=buttons)

    async def typing(self, chat: ChatRef) -> None:
        """The typing indicator on the person's last message, renewed before it fades."""
        message_id = self._last_in.get(chat.chat_id)
        if message_id is None:
            return
        now = self._clock.monotonic()
        last = self._typed.get(message_id)
        if last is not None and now - last < TYPING_EVERY:
            return
        self._typed[message_id] = now
        await self._courtesy(self.api.typing(message_id), "typing")

    async def answer_action(
        self, action: InboundMessage, text: str, *, alert: bool = False
    ) -> None:
        if text.strip():
            await self._deliver(action.chat, text, [text_payload(text)], None)

    async def fetch(self, attachment: Attachment, *, max_bytes: int) -> bytes:
        return await self.api.download(attachment.ref, max_bytes)
