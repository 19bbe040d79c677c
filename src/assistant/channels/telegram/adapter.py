"""The Telegram adapter: receive by long polling (or webhook), send with aiogram.

Receiving does not use aiogram's Dispatcher: it advances the getUpdates offset while handlers
still run and swallows handler errors, which would confirm an update before it is in our inbox.
Our poller asks for raw updates, hands each to ``on_message`` (which records it durably) and
only then moves the offset past it; the next getUpdates call confirms it. A crash in between
means Telegram sends the update again, and the inbox ignores the repeat.

The calls on every reply's path (sendMessage, editMessageText, sendChatAction) are plain JSON
requests (``FastCalls``): aiogram's forms and models cost more than the requests themselves.
Callback answers, files, webhooks and the command menu go through an aiogram ``Bot`` with a
middleware that honours 429 ``retry_after``.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime
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
from aiohttp import web

from assistant.channels.telegram.api import (
    AUTH_HINT,
    FastCalls,
    HonourRetryAfter,
    RetryLater,
    SendLimits,
    TelegramRefused,
    translate_errors,
)
from assistant.channels.telegram.parse import BotIdentity, parse_update
from assistant.channels.telegram.render import Part, inline_keyboard, render_parts
from assistant.config import TelegramSection
from assistant.core.backoff import Backoff
from assistant.core.errors import (
    ChannelAuthError,
    ChannelError,
    ChannelUnavailable,
    ConfigError,
    IntakeClosed,
    StateError,
)
from assistant.core.health import ComponentState, Health
from assistant.core.messages import (
    Attachment,
    Button,
    ChatRef,
    InboundMessage,
    OutboundMessage,
    SentMessage,
)
from assistant.core.ports import ChannelFeatures, InboundHandler, WebhookHandler
from assistant.core.redact import Redactor

log = structlog.get_logger(__name__)

NAME = "telegram"
COMPONENT = "channel.telegram"
ALLOWED_UPDATES = ["message", "callback_query"]
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
        commands: Sequence[tuple[str, str]] = (),
    ) -> None:
        assert config.token is not None
        self._config = config
        self._token = config.token.get_secret_value()
        self._session = session
        self._health = health
        self._redactor = redactor
        self._commands = list(commands)
        self._bot: Bot | None = None
        self._me: BotIdentity | None = None
        self._on_message: InboundHandler | None = None
        self._limits = SendLimits(config.rate_limit, config.group_rate_limit)
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
        return [("POST", self._config.webhook_path, self._webhook)]

    async def run(self, on_message: InboundHandler) -> None:
        self._health.set(COMPONENT, ComponentState.STARTING, "connecting")
        me = await self._api(self.bot.get_me())
        self._me = BotIdentity(me.id, me.username or "")
        self._health.note(COMPONENT, bot=f"@{self._me.username}", mode=self._config.mode)
        await self._set_commands()
        if self._config.mode == "webhook":
            await self._serve_webhook(on_message)
        else:
            await self._api(self.bot.delete_webhook(drop_pending_updates=False))
            # connected: ready now, not when the first long poll returns (up to poll_timeout)
            self._health.set(COMPONENT, ComponentState.READY)
            await self._poll(on_message)

    async def _set_commands(self) -> None:
        if not self._commands:
            return
        commands = [
            BotCommand(command=name, description=text[:256]) for name, text in self._commands
        ]
        try:
            await self._api(self.bot.set_my_commands(commands=commands))
        except ChannelUnavailable as exc:  # the menu is a nicety; polling matters more
            log.warning("telegram.commands_not_set", error=self._redactor.text(str(exc)))

    # --- receiving: long polling ----------------------------------------------------------

    async def _poll(self, on_message: InboundHandler) -> None:
        loop = asyncio.get_running_loop()
        offset: int | None = None
        backoff = Backoff(1.0, 30.0)
        watchdog_s = self._config.watchdog
        try:
            async with asyncio.timeout(watchdog_s) as watchdog:
                while True:
                    try:
                        updates = await self._get_updates(offset)
                    except ChannelUnavailable as exc:
                        delay = backoff.next_delay()
                        if isinstance(exc, RetryLater):
                            delay = max(delay, exc.retry_after)
                        detail = self._redactor.text(str(exc))
                        self._health.set(
                            COMPONENT, ComponentState.DOWN, f"{detail}; retrying in {delay:.0f}s"
                        )
                        log.warning("telegram.poll_failed", error=detail, retry_in=round(delay, 1))
                        # the watchdog is for a poller that hangs, not one that waits on purpose
                        watchdog.reschedule(loop.time() + watchdog_s + delay)
                        await asyncio.sleep(delay)
                        continue
                    watchdog.reschedule(loop.time() + watchdog_s)
                    self._health.note(COMPONENT, last_poll=_now())
                    offset, refused = await self._receive_all(updates, offset, on_message)
                    if refused is not None:  # not recorded: poll again from that update
                        delay = backoff.next_delay()
                        detail = f"cannot record new messages ({refused}); retrying in {delay:.0f}s"
                        self._health.set(COMPONENT, ComponentState.DOWN, detail)
                        log.error("telegram.intake_refused", error=str(refused), retry_in=delay)
                        watchdog.reschedule(loop.time() + watchdog_s + delay)
                        await asyncio.sleep(delay)
                        continue
                    backoff.reset()
                    self._health.set(COMPONENT, ComponentState.READY)
        except TimeoutError:
            raise ChannelUnavailable(
                f"no getUpdates call completed in {watchdog_s:g}s; restarting polling"
            ) from None

    async def _receive_all(
        self, updates: list[Any], offset: int | None, on_message: InboundHandler
    ) -> tuple[int | None, StateError | None]:
        """Submit each update in order. Returns the offset that confirms those recorded, and
        the error that stopped it at one that could not be (which is then not confirmed)."""
        for update in updates:
            update_id = update.get("update_id") if isinstance(update, dict) else None
            if not isinstance(update_id, int):
                log.warning("telegram.bad_update", error="no update_id")
                continue
            try:
                await self._receive(update, on_message)
            except StateError as exc:
                return offset, exc
            offset = update_id + 1
        return offset, None

    async def _get_updates(self, offset: int | None) -> list[Any]:
        payload: dict[str, Any] = {
            "timeout": self._config.poll_timeout,
            "allowed_updates": ALLOWED_UPDATES,
        }
        if offset is not None:
            payload["offset"] = offset
        url = f"{self._config.api_base}/bot{self._token}/getUpdates"
        timeout = aiohttp.ClientTimeout(total=self._config.poll_timeout + 15)
        try:
            async with self._session.post(url, json=payload, timeout=timeout) as response:
                status = response.status
                body = await response.json(content_type=None)
        except TimeoutError:
            raise ChannelUnavailable("getUpdates timed out") from None
        except aiohttp.ClientError as exc:
            raise ChannelUnavailable(f"getUpdates failed ({type(exc).__name__})") from None
        except ValueError:
            raise ChannelUnavailable(f"getUpdates answered HTTP {status} without JSON") from None
        if status == 200 and isinstance(body, dict) and body.get("ok"):
            result = body.get("result")
            return result if isinstance(result, list) else []
        description = str(body.get("description", "")) if isinstance(body, dict) else ""
        if status in (401, 404):
            raise ChannelAuthError(f"Telegram rejected the bot token (HTTP {status}); {AUTH_HINT}")
        if status == 409:
            if "webhook" in description.lower():
                await self._api(self.bot.delete_webhook(drop_pending_updates=False))
                raise ChannelUnavailable("a webhook was set; deleted it to poll instead")
            raise ChannelUnavailable(
                "another process is polling this bot (409 Conflict); stop it: one bot token, "
                "one running assistant"
            )
        if status == 429:
            params = body.get("parameters") if isinstance(body, dict) else None
            retry = float((params or {}).get("retry_after") or 5)
            raise RetryLater("getUpdates rate limited (429)", retry)
        raise ChannelUnavailable(f"getUpdates answered HTTP {status} {description}".strip())

    async def _receive(self, update: dict[str, Any], on_message: InboundHandler) -> None:
        """Parse and submit one update; intake and state errors propagate (no ack)."""
        assert self._me is not None
        try:
            message = parse_update(update, self._me)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.warning(
                "telegram.bad_update",
                update_id=update.get("update_id"),
                error=f"{type(exc).__name__}: {exc}",
            )
            return
        if message is None:
            log.debug(
                "telegram.skipped",
                update_id=update.get("update_id"),
                kinds=sorted(k for k in update if k != "update_id"),
            )
            return
        await on_message(message)

    # --- receiving: webhook ---------------------------------------------------------------

    async def _serve_webhook(self, on_message: InboundHandler) -> None:
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
        self._on_message = on_message
        self._health.set(COMPONENT, ComponentState.READY, f"webhook {url}")
        try:
            await asyncio.Event().wait()
        finally:
            self._on_message = None

    async def _webhook(self, request: web.Request) -> web.StreamResponse:
        assert self._config.webhook_secret is not None
        expected = self._config.webhook_secret.get_secret_value().encode()
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
        if not hmac.compare_digest(given, expected):
            log.warning("telegram.webhook_rejected", remote=request.remote)
            return web.Response(status=401, text="wrong or missing secret token")
        on_message = self._on_message
        if on_message is None or self._me is None:
            return web.Response(status=503, text="not ready")
        try:
            update = await request.json()
        except ValueError:
            return web.Response(status=400, text="invalid JSON")
        if not isinstance(update, dict):
            return web.Response(status=400, text="an update must be a JSON object")
        try:
            await self._receive(update, on_message)
        except (IntakeClosed, StateError) as exc:
            log.warning("telegram.webhook_deferred", error=str(exc))
            return web.Response(status=503, text="try again later")
        self._health.note(COMPONENT, last_update=_now())
        return web.Response(status=200)

    # --- sending --------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> list[SentMessage]:
        parts = render_parts(message.text, message.format)
        markup = inline_keyboard(message.buttons)
        sent: list[SentMessage] = []
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            result = await self._send_part(
                message.chat,
                part,
                reply_to=message.reply_to if index == 0 else None,
                markup=markup if last else None,
            )
            if result is None:
                break
            sent.append(result)
        return sent

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
    ) -> list[SentMessage]:
        parts = render_parts(text, format)
        markup = inline_keyboard(buttons)
        first = parts[0]
        payload: dict[str, Any] = {
            "chat_id": int(sent.chat.chat_id),
            "message_id": int(sent.message_id),
            "text": first.text,
            "link_preview_options": NO_PREVIEW,
        }
        if first.parse_mode:
            payload["parse_mode"] = first.parse_mode
        if markup and len(parts) == 1:
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
                        OutboundMessage(sent.chat, text, format=format, buttons=buttons)
                    )
                log.error("telegram.edit_refused", error=exc.message)
                return [sent]
        result = [sent]
        for index, part in enumerate(parts[1:], start=2):
            more = await self._send_part(
                sent.chat, part, reply_to=None, markup=markup if index == len(parts) else None
            )
            if more is None:
                break
            result.append(more)
        return result

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


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
