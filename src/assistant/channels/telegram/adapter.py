"""The Telegram adapter: receive by long polling (or webhook, see ``receive``); send, edit,
answer buttons and fetch files. Every Bot API request goes through ``api.BotAPI``, which
translates its errors; this module decides what a refusal means for a reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, Literal

import aiohttp
import structlog

from assistant.channels.common import webhook_routes
from assistant.channels.outfiles import (
    FileLimits,
    caption_of,
    refused_line,
    send_as,
    too_large_line,
    with_files,
)
from assistant.channels.parts import send_parts
from assistant.channels.quarantine import Quarantine
from assistant.channels.telegram.api import (
    AUTH_HINT,
    BotAPI,
    FileTooLarge,
    SendLimits,
    TelegramRefused,
    token_is_valid,
)
from assistant.channels.telegram.parse import BotIdentity
from assistant.channels.telegram.receive import ALLOWED_UPDATES, COMPONENT, Receiver
from assistant.channels.telegram.render import (
    Part,
    inline_keyboard,
    render_parts,
    utf16_len,
    visible_len,
)
from assistant.config import TelegramSection
from assistant.core.errors import ChannelError, ChannelUnavailable, ConfigError
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
from assistant.core.ports import ChannelFeatures, InboundHandler, PartSink, WebhookHandler
from assistant.core.redact import Redactor
from assistant.store.dead_letters import DeadLetters

log = structlog.get_logger(__name__)

NAME = "telegram"
NO_PREVIEW = {"is_disabled": True}
# the Bot API's upload limits (sendPhoto, sendDocument) and a caption's length
FILE_LIMITS = FileLimits("Telegram", image=10 * 1024 * 1024, document=50 * 1024 * 1024)
CAPTION = 1024
# a command menu: (Telegram's two-letter language code, or None for everyone else;
# (command, summary) pairs)
Menu = tuple[str | None, Sequence[tuple[str, str]]]


class TelegramChannel:
    def __init__(
        self,
        config: TelegramSection,
        *,
        session: aiohttp.ClientSession,
        health: Health,
        redactor: Redactor,
        menus: Callable[[], Sequence[Menu]] = list,
        dead_letters: DeadLetters | None = None,
    ) -> None:
        assert config.token is not None
        self._config = config
        self._token = config.token.get_secret_value()
        self._health = health
        self._redactor = redactor
        self._menus = menus  # the command menus, read when the bot starts
        self._limits = SendLimits(config.rate_limit, config.group_rate_limit)
        self._quarantine = Quarantine(NAME, dead_letters, redactor)
        self.api = BotAPI(session, config.api_base, self._token, redactor)
        self._receiver = Receiver(
            config, api=self.api, health=health, redactor=redactor, quarantine=self._quarantine
        )

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return NAME

    @property
    def features(self) -> ChannelFeatures:
        return ChannelFeatures(
            edit=True, buttons=True, typing=True, stream=self._config.stream, max_text=4096
        )

    async def __aenter__(self) -> TelegramChannel:
        if not token_is_valid(self._token):
            raise ConfigError([f"telegram.token: this is not a bot token; {AUTH_HINT}"])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None  # the HTTP session is the kernel's

    def routes(self) -> list[tuple[str, str, WebhookHandler]]:
        return webhook_routes(self._config.mode, self._config.webhook_path, self._receiver.webhook)

    async def run(self, on_message: InboundHandler) -> None:
        self._health.set(COMPONENT, ComponentState.STARTING, "connecting")
        me = await self.api.call("getMe")
        if not isinstance(me, dict) or not isinstance(me.get("id"), int):
            raise ChannelUnavailable("Telegram getMe answered without the bot's id")
        identity = BotIdentity(me["id"], str(me.get("username") or ""))
        self._quarantine.bot = str(identity.id)
        self._health.note(COMPONENT, bot=f"@{identity.username}", mode=self._config.mode)
        await self._set_commands()
        self._receiver.me, self._receiver.on_message = identity, on_message
        try:
            if self._config.mode == "webhook":
                await self._serve_webhook()
            else:
                await self.api.delete_webhook()
                # connected: ready now, not when the first long poll returns (up to poll_timeout)
                self._health.set(COMPONENT, ComponentState.READY)
                await self._receiver.poll()
        finally:
            self._receiver.on_message = None

    async def _set_commands(self) -> None:
        """One menu per language (Telegram shows a person the one of their app's language,
        else the one without a language)."""
        for language, menu in self._menus():
            if not menu:
                continue
            try:
                await self.api.set_commands(menu, language=language)
            except ChannelUnavailable as exc:  # the menu is a nicety; polling matters more
                log.warning(
                    "telegram.commands_not_set",
                    language=language,
                    error=self._redactor.text(str(exc)),
                )
                return

    async def _serve_webhook(self) -> None:
        assert self._config.webhook_url is not None
        assert self._config.webhook_secret is not None
        url = self._config.webhook_url.rstrip("/") + self._config.webhook_path
        secret = self._config.webhook_secret.get_secret_value()
        await self.api.set_webhook(url, secret=secret, allowed=ALLOWED_UPDATES)
        self._health.set(COMPONENT, ComponentState.READY, f"webhook {url}")
        await asyncio.Event().wait()

    async def redeliver(self, payload: str) -> None:
        await self._receiver.redeliver(payload)

    # --- sending --------------------------------------------------------------------------

    async def send(
        self, message: OutboundMessage, *, parts: PartSink | None = None
    ) -> list[SentMessage]:
        markup = inline_keyboard(message.buttons)
        if message.files:
            return await self._send_with_files(message, markup, parts)
        rendered = render_parts(message.text, message.format)
        return await self._send_parts(
            message.chat, rendered, markup, reply_to=message.reply_to, sink=parts
        )

    async def _send_with_files(
        self, message: OutboundMessage, markup: dict[str, Any] | None, sink: PartSink | None
    ) -> list[SentMessage]:
        """The files (sendPhoto/sendDocument), then the text; see ``channels.outfiles``. A
        caption may carry buttons here: ``edit`` edits a caption as well as a text (an alert's
        chart with its Acknowledge button is one message)."""
        chat, files = message.chat, message.files
        texts = render_parts(message.text, message.format) if message.text.strip() else []
        fits = bool(texts) and _caption_len(texts[0]) <= CAPTION
        caption = texts[0] if caption_of(files, len(texts), False, fits) else None
        if caption is not None:
            texts = []
        last = len(texts) - 1

        def send_file(index: int) -> Awaitable[SentMessage | None]:
            final = index == len(files) - 1
            return self._send_file(
                chat,
                files[index],
                caption if final else None,
                reply_to=message.reply_to if index == 0 else None,
                markup=markup if final and caption is not None else None,
            )

        def send_text(index: int) -> Awaitable[SentMessage | None]:
            return self._send_part(
                chat, texts[index], reply_to=None, markup=markup if index == last else None
            )

        total, send_one = with_files(len(files), send_file, len(texts), send_text)
        return await send_parts(total, send_one, sink)

    async def _send_file(
        self,
        chat: ChatRef,
        file: OutFile,
        caption: Part | None,
        *,
        reply_to: str | None,
        markup: dict[str, Any] | None = None,
    ) -> SentMessage | None:
        """One picture or file; a line naming it when it is too large or refused."""
        how = send_as(file, FILE_LIMITS)
        if how is None:
            return await self._send_line(chat, too_large_line(file, FILE_LIMITS), caption, markup)
        await self._throttle(chat)
        payload = _addressed(chat, markup, reply_to)
        if caption is not None:
            payload["caption"] = caption.text
            if caption.parse_mode:
                payload["parse_mode"] = caption.parse_mode
        for _ in range(4):
            method, field = (
                ("sendPhoto", "photo") if how == "image" else ("sendDocument", "document")
            )
            try:
                result = await self.api.upload(
                    method,
                    payload,
                    field=field,
                    name=file.name,
                    data=file.data,
                    mime_type=file.mime_type,
                )
                return SentMessage(chat, str(result["message_id"]))
            except TelegramRefused as exc:
                problem = exc.message.lower()
                if exc.forbidden:
                    log.warning("telegram.blocked", chat_id=chat.chat_id, error=exc.message)
                    return None
                if payload.get("parse_mode") and "entities" in problem and caption is not None:
                    payload["caption"] = caption.source or caption.text
                    payload.pop("parse_mode")
                elif "thread not found" in problem and "message_thread_id" in payload:
                    payload.pop("message_thread_id")
                elif how == "image":  # a picture Telegram cannot show (dimensions): as a file
                    log.info("telegram.photo_refused", error=exc.message)
                    how = "document"
                else:
                    log.warning("telegram.file_refused", error=exc.message, name=file.name)
                    break
        line = refused_line(file, FILE_LIMITS.platform)
        return await self._send_line(chat, line, caption, markup)

    async def _send_line(
        self, chat: ChatRef, line: str, caption: Part | None, markup: dict[str, Any] | None
    ) -> SentMessage | None:
        """A file's stand-in: the line naming it, and the caption (and buttons) it would have
        had."""
        text = f"{line}\n\n{caption.source}" if caption is not None and caption.source else line
        return await self._send_part(chat, Part(text, None, text), reply_to=None, markup=markup)

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
        payload = _addressed(chat, markup, reply_to)
        payload["text"] = part.text
        payload["link_preview_options"] = NO_PREVIEW
        if part.parse_mode:
            payload["parse_mode"] = part.parse_mode
        for _ in range(3):
            try:
                result = await self.api.call("sendMessage", payload)
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
                await self.api.call("editMessageText", payload)
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
                picture = "no text in the message" in problem  # its caption, then
                if picture and len(rendered) == 1 and await self._edit_caption(sent, first, markup):
                    break
                if picture or "not found" in problem or "can't be edited" in problem:
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

    async def _edit_caption(
        self, sent: SentMessage, part: Part, markup: dict[str, Any] | None
    ) -> bool:
        """Edit the caption of a picture; False when the new text cannot be a caption (too
        long) or Telegram refuses it."""
        if _caption_len(part) > CAPTION:
            return False
        payload: dict[str, Any] = {
            "chat_id": int(sent.chat.chat_id),
            "message_id": int(sent.message_id),
            "caption": part.text,
        }
        if part.parse_mode:
            payload["parse_mode"] = part.parse_mode
        if markup:
            payload["reply_markup"] = markup
        for _ in range(2):
            try:
                await self.api.call("editMessageCaption", payload)
                return True
            except TelegramRefused as exc:
                problem = exc.message.lower()
                if "not modified" in problem:
                    return True
                if payload.get("parse_mode") and "entities" in problem:
                    payload["caption"] = part.source or part.text
                    payload.pop("parse_mode")
                    continue
                log.error("telegram.edit_refused", error=exc.message)
                return False
        return False

    async def typing(self, chat: ChatRef) -> None:
        payload: dict[str, Any] = {"chat_id": int(chat.chat_id), "action": "typing"}
        if chat.thread_id:
            payload["message_thread_id"] = int(chat.thread_id)
        try:
            await self.api.call("sendChatAction", payload)
        except TelegramRefused as exc:
            raise ChannelUnavailable(exc.message) from None

    async def answer_action(
        self, action: InboundMessage, text: str, *, alert: bool = False
    ) -> None:
        callback_id = action.meta.get("callback_id")
        if not callback_id:
            return
        try:
            await self.api.answer_callback(callback_id, text, alert=alert)
        except TelegramRefused as exc:  # pressed too long ago: nothing left to answer
            log.info("telegram.callback_expired", error=exc.message)

    async def fetch(self, attachment: Attachment, *, max_bytes: int) -> bytes:
        too_large = ChannelError(f"{attachment.name} is larger than {max_bytes} bytes")
        if attachment.size is not None and attachment.size > max_bytes:
            raise too_large
        try:
            file = await self.api.get_file(attachment.ref)
            size, path = file.get("file_size"), file.get("file_path")
            if isinstance(size, int) and size > max_bytes:
                raise too_large
            if not isinstance(path, str) or not path:
                raise ChannelError(f"Telegram gave no download path for {attachment.name}")
            return await self.api.download(path, max_bytes=max_bytes)
        except FileTooLarge:
            raise too_large from None
        except TelegramRefused as exc:
            raise ChannelError(f"Telegram refused the download: {exc.message}") from None

    async def _throttle(self, chat: ChatRef) -> None:
        await self._limits.wait(chat)


def _addressed(
    chat: ChatRef, markup: dict[str, Any] | None, reply_to: str | None
) -> dict[str, Any]:
    """What every send carries: the chat, its topic, the message replied to, the buttons."""
    payload: dict[str, Any] = {"chat_id": int(chat.chat_id)}
    if markup:
        payload["reply_markup"] = markup
    if chat.thread_id:
        payload["message_thread_id"] = int(chat.thread_id)
    if reply_to:
        payload["reply_parameters"] = {
            "message_id": int(reply_to),
            "allow_sending_without_reply": True,
        }
    return payload


def _caption_len(part: Part) -> int:
    return visible_len(part.text) if part.parse_mode else utf16_len(part.text)
