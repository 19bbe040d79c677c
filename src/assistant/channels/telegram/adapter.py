"""The Telegram adapter: receive by long polling (or webhook, see ``receive``), send with
aiogram.

The calls on every reply's path (sendMessage, editMessageText, sendChatAction) are plain JSON
requests (``FastCalls``): aiogram's forms and models cost more than the requests themselves.
Callback answers, files, webhooks and the command menu go through an aiogram ``Bot`` with a
middleware that honours 429 ``retry_after``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, Literal, TypeVar

import aiohttp
import structlog
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import BotCommand
from aiogram.utils.token import TokenValidationError

from assistant.channels.parts import send_parts
from assistant.channels.quarantine import Quarantine
from assistant.channels.telegram.api import (
    AUTH_HINT,
    FastCalls,
    HonourRetryAfter,
    SendLimits,
    TelegramRefused,
    translate_errors,
)
from assistant.channels.telegram.parse import BotIdentity
from assistant.channels.telegram.receive import ALLOWED_UPDATES, COMPONENT, Receiver
from assistant.channels.telegram.render import Part, inline_keyboard, render_parts
from assistant.config import TelegramSection
from assistant.core.errors import ChannelError, ChannelUnavailable, ConfigError
from assistant.core.health import ComponentState, Health
from assistant.core.messages import (
    Attachment,
    Button,
    ChatRef,
    InboundMessage,
    OutboundMessage,
    SentMessage,
)
from assistant.core.ports import ChannelFeatures, InboundHandler, PartSink, WebhookHandler
from assistant.core.redact import Redactor
from assistant.store.dead_letters import DeadLetters

log = structlog.get_logger(__name__)

NAME = "telegram"
NO_PREVIEW = {"is_disabled": True}
T = TypeVar("T")


class TelegramChannel:
    def __init__(
        self,
        config: TelegramSection,
        *,
        session: aiohttp.ClientSession,
        health: Health,
        redactor: Redactor,
        commands: Callable[[], Sequence[tuple[str, str]]] = list,
        dead_letters: DeadLetters | None = None,
    ) -> None:
        assert config.token is not None
        self._config = config
        self._token = config.token.get_secret_value()
        self._health = health
        self._redactor = redactor
        self._commands = commands  # the command menu, read when the bot starts
        self._bot: Bot | None = None
        self._limits = SendLimits(config.rate_limit, config.group_rate_limit)
        self._quarantine = Quarantine(NAME, dead_letters, redactor)
        self._receiver = Receiver(
            config,
            session=session,
            token=self._token,
            health=health,
            redactor=redactor,
            quarantine=self._quarantine,
            delete_webhook=lambda: self._api(self.bot.delete_webhook(drop_pending_updates=False)),
        )
        self.calls = FastCalls(session, config.api_base, self._token, redactor)

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return NAME

    @property
    def features(self) -> ChannelFeatures:
        return ChannelFeatures(
            edit=True, buttons=True, typing=True, stream=self._config.stream, max_text=4096
        )

    @property
    def bot(self) -> Bot:
        if self._bot is None:
            raise RuntimeError("the Telegram channel is not open")
        return self._bot

    async def __aenter__(self) -> TelegramChannel:
        session = AiohttpSession(api=TelegramAPIServer.from_base(self._config.api_base))
        session.middleware(HonourRetryAfter())
        try:
            self._bot = Bot(self._token, session=session)
        except TokenValidationError:
            await session.close()
            raise ConfigError([f"telegram.token: this is not a bot token; {AUTH_HINT}"]) from None
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bot is not None:
            await self._bot.session.close()
            self._bot = None

    def routes(self) -> list[tuple[str, str, WebhookHandler]]:
        if self._config.mode != "webhook":
            return []
        return [("POST", self._config.webhook_path, self._receiver.webhook)]

    async def run(self, on_message: InboundHandler) -> None:
        self._health.set(COMPONENT, ComponentState.STARTING, "connecting")
        me = await self._api(self.bot.get_me())
        identity = BotIdentity(me.id, me.username or "")
        self._quarantine.bot = str(identity.id)
        self._health.note(COMPONENT, bot=f"@{identity.username}", mode=self._config.mode)
        await self._set_commands()
        self._receiver.me, self._receiver.on_message = identity, on_message
        try:
            if self._config.mode == "webhook":
                await self._serve_webhook()
            else:
                await self._api(self.bot.delete_webhook(drop_pending_updates=False))
                # connected: ready now, not when the first long poll returns (up to poll_timeout)
                self._health.set(COMPONENT, ComponentState.READY)
                await self._receiver.poll()
        finally:
            self._receiver.on_message = None

    async def _set_commands(self) -> None:
        menu = self._commands()
        if not menu:
            return
        commands = [BotCommand(command=name, description=text[:256]) for name, text in menu]
        try:
            await self._api(self.bot.set_my_commands(commands=commands))
        except ChannelUnavailable as exc:  # the menu is a nicety; polling matters more
            log.warning("telegram.commands_not_set", error=self._redactor.text(str(exc)))

    async def _serve_webhook(self) -> None:
        assert self._config.webhook_url is not None
        assert self._config.webhook_secret is not None
        url = self._config.webhook_url.rstrip("/") + self._config.webhook_path
        await self._api(
            self.bot.set_webhook(
                url=url,
                secret_token=self._config.webhook_secret.get_secret_value(),
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=False,
            )
        )
        self._health.set(COMPONENT, ComponentState.READY, f"webhook {url}")
        await asyncio.Event().wait()

    async def redeliver(self, payload: str) -> None:
        await self._receiver.redeliver(payload)

    # --- sending --------------------------------------------------------------------------

    async def send(
        self, message: OutboundMessage, *, parts: PartSink | None = None
    ) -> list[SentMessage]:
        rendered = render_parts(message.text, message.format)
        markup = inline_keyboard(message.buttons)
        return await self._send_parts(
            message.chat, rendered, markup, reply_to=message.reply_to, sink=parts
        )

    async def _send_parts(
        self,
        chat: ChatRef,
        rendered: list[Part],
        markup: dict[str, Any] | None,
        *,
        reply_to: str | None,
        sink: PartSink | None,
        first: int = 0,
    ) -> list[SentMessage]:
        """Send ``rendered[first:]``, each recorded in ``sink``; stop at one refused."""
        last = len(rendered) - 1

        def send_one(index: int) -> Awaitable[SentMessage | None]:
            return self._send_part(
                chat,
                rendered[index],
                reply_to=reply_to if index == 0 else None,
                markup=markup if index == last else None,
            )

        return await send_parts(len(rendered), send_one, sink, first=first)

    async def _send_part(
        self,
        chat: ChatRef,
        part: Part,
        *,
        reply_to: str | None,
        markup: dict[str, Any] | None,
    ) -> SentMessage | None:
        """Send one message; None when Telegram refused it for good (logged)."""
        await self._throttle(chat)
        payload: dict[str, Any] = {
            "chat_id": int(chat.chat_id),
            "text": part.text,
            "link_preview_options": NO_PREVIEW,
        }
        if part.parse_mode:
            payload["parse_mode"] = part.parse_mode
        if markup:
            payload["reply_markup"] = markup
        if chat.thread_id:
            payload["message_thread_id"] = int(chat.thread_id)
        if reply_to:
            payload["reply_parameters"] = {
                "message_id": int(reply_to),
                "allow_sending_without_reply": True,
            }
        for _ in range(3):
            try:
                result = await self.calls.call("sendMessage", payload)
                return SentMessage(chat, str(result["message_id"]))
            except TelegramRefused as exc:
                problem = exc.message.lower()
                if exc.forbidden:
                    log.warning("telegram.blocked", chat_id=chat.chat_id, error=exc.message)
                    return None
                if payload.get("parse_mode") and "entities" in problem:
                    log.warning("telegram.entities_rejected", error=exc.message)
                    payload["text"] = part.source or part.text
                    payload.pop("parse_mode")
                elif "thread not found" in problem and "message_thread_id" in payload:
                    payload.pop("message_thread_id")
                else:
                    log.error("telegram.send_refused", error=exc.message, chat_id=chat.chat_id)
                    return None
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
        rendered = render_parts(text, format)
        markup = inline_keyboard(buttons)
        first = rendered[0]
        payload: dict[str, Any] = {
            "chat_id": int(sent.chat.chat_id),
            "message_id": int(sent.message_id),
            "text": first.text,
            "link_preview_options": NO_PREVIEW,
        }
        if first.parse_mode:
            payload["parse_mode"] = first.parse_mode
        if markup and len(rendered) == 1:
            payload["reply_markup"] = markup
        for _ in range(2):
            try:
                await self.calls.call("editMessageText", payload)
                break
            except TelegramRefused as exc:
                problem = exc.message.lower()
                if exc.forbidden:
                    log.warning("telegram.blocked", chat_id=sent.chat.chat_id, error=exc.message)
                    return [sent]
                if "not modified" in problem:
                    break
                if payload.get("parse_mode") and "entities" in problem:
                    payload["text"] = first.source or first.text
                    payload.pop("parse_mode")
                    continue
                if "not found" in problem or "can't be edited" in problem:
                    return await self.send(
                        OutboundMessage(sent.chat, text, format=format, buttons=buttons),
                        parts=parts,
                    )
                log.error("telegram.edit_refused", error=exc.message)
                return [sent]
        if parts is not None:
            await parts.sent(0, sent, of=len(rendered))
        more = await self._send_parts(
            sent.chat, rendered, markup, reply_to=None, sink=parts, first=1
        )
        return [sent, *more]

    async def typing(self, chat: ChatRef) -> None:
        payload: dict[str, Any] = {"chat_id": int(chat.chat_id), "action": "typing"}
        if chat.thread_id:
            payload["message_thread_id"] = int(chat.thread_id)
        try:
            await self.calls.call("sendChatAction", payload)
        except TelegramRefused as exc:
            raise ChannelUnavailable(exc.message) from None

    async def answer_action(
        self, action: InboundMessage, text: str, *, alert: bool = False
    ) -> None:
        callback_id = action.meta.get("callback_id")
        if not callback_id:
            return
        try:
            await self._api(
                self.bot.answer_callback_query(
                    callback_query_id=callback_id, text=text[:200] or None, show_alert=alert
                )
            )
        except TelegramBadRequest as exc:  # pressed too long ago: nothing left to answer
            log.info("telegram.callback_expired", error=exc.message)

    async def fetch(self, attachment: Attachment, *, max_bytes: int) -> bytes:
        if attachment.size is not None and attachment.size > max_bytes:
            raise ChannelError(f"{attachment.name} is larger than {max_bytes} bytes")
        try:
            file = await self._api(self.bot.get_file(attachment.ref))
            if file.file_size is not None and file.file_size > max_bytes:
                raise ChannelError(f"{attachment.name} is larger than {max_bytes} bytes")
            if not file.file_path:
                raise ChannelError(f"Telegram gave no download path for {attachment.name}")
            buffer = await self._api(self.bot.download_file(file.file_path))
        except TelegramBadRequest as exc:
            raise ChannelError(f"Telegram refused the download: {exc.message}") from None
        data = buffer.read() if buffer is not None else b""
        if len(data) > max_bytes:
            raise ChannelError(f"{attachment.name} is larger than {max_bytes} bytes")
        return data

    async def _api(self, call: Awaitable[T]) -> T:
        return await translate_errors(call, self._redactor)

    async def _throttle(self, chat: ChatRef) -> None:
        await self._limits.wait(chat)
