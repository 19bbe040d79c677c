"""Talking to the Bot API through aiogram: error translation, 429 handling, send limits."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable
from typing import Any, TypeVar

import aiohttp
import structlog
from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteWebhook,
    EditMessageText,
    GetFile,
    GetMe,
    SendChatAction,
    SendMessage,
    SetMyCommands,
    SetWebhook,
    TelegramMethod,
)
from aiogram.methods.base import Response, TelegramType
from aiolimiter import AsyncLimiter

from assistant.core.errors import ChannelAuthError, ChannelError, ChannelUnavailable
from assistant.core.messages import ChatRef
from assistant.core.redact import Redactor

log = structlog.get_logger(__name__)

T = TypeVar("T")

# aiogram validates every answer with ``Response[method.__returning__]``. pydantic caches such
# parametrized models weakly, so once the garbage collector has freed one, the next call builds
# it again: 6.7 ms for ``Response[Message]``, a sixteenth of the daemon's CPU at 150 messages/s
# (docs/performance.md). Holding them here keeps the cache warm.
RESPONSE_MODELS = tuple(
    Response[method.__returning__]  # type: ignore[name-defined]
    for method in (
        AnswerCallbackQuery,
        DeleteWebhook,
        EditMessageText,
        GetFile,
        GetMe,
        SendChatAction,
        SendMessage,
        SetMyCommands,
        SetWebhook,
    )
)
AUTH_HINT = "check [telegram] token: it must be the token @BotFather gave you"


class RetryLater(ChannelUnavailable):
    retry_after: float

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, retry_after=retry_after)


class HonourRetryAfter(BaseRequestMiddleware):
    """aiogram raises on 429; wait ``retry_after`` and try again (a few times, not forever)."""

    def __init__(self, attempts: int = 3, max_wait: float = 60.0) -> None:
        self._attempts = attempts
        self._max_wait = max_wait

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        for attempt in range(1, self._attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt == self._attempts or exc.retry_after > self._max_wait:
                    raise
                log.warning(
                    "telegram.rate_limited",
                    method=method.__api_method__,
                    retry_after=exc.retry_after,
                )
                await asyncio.sleep(exc.retry_after)
        raise AssertionError("unreachable")


async def translate_errors(call: Awaitable[T], redactor: Redactor) -> T:
    """Await an aiogram call, translating its errors into ours (once, here).

    Bad requests and "forbidden" pass through: the caller decides what they mean.
    """
    try:
        return await call
    except TelegramUnauthorizedError:
        raise ChannelAuthError(f"Telegram rejected the bot token (401); {AUTH_HINT}") from None
    except TelegramRetryAfter as exc:
        raise RetryLater(
            f"Telegram rate limit (retry after {exc.retry_after}s)", exc.retry_after
        ) from None
    except (TelegramNetworkError, TelegramServerError, ClientDecodeError) as exc:
        detail = redactor.text(getattr(exc, "message", "") or str(exc))
        raise ChannelUnavailable(f"Telegram API unavailable: {detail}") from None
    except (TelegramBadRequest, TelegramForbiddenError):
        raise
    except TelegramAPIError as exc:
        raise ChannelUnavailable(f"Telegram API error: {exc.message}") from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ChannelUnavailable(f"Telegram API unreachable ({type(exc).__name__})") from None


class TelegramRefused(ChannelError):
    """Telegram refused this request for good (400 Bad Request, 403 Forbidden): sending the
    same request again cannot help. ``message`` is Telegram's description."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def forbidden(self) -> bool:
        return self.status == 403


class FastCalls:
    """The Bot API methods on every reply's path (sendMessage, editMessageText,
    sendChatAction) as plain JSON requests through our own HTTP session.

    aiogram builds a multipart form for each call and validates each answer into its pydantic
    models, which costs more CPU than the HTTP request itself (docs/performance.md); these
    calls need only ``message_id`` back. Errors are translated like ``translate_errors``, and
    429 ``retry_after`` is honoured like ``HonourRetryAfter``.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_base: str,
        token: str,
        redactor: Redactor,
        *,
        timeout: float = 60.0,
        attempts: int = 3,
        max_wait: float = 60.0,
    ) -> None:
        self._session = session
        self._base = f"{api_base.rstrip('/')}/bot{token}/"
        self._redactor = redactor
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._attempts = attempts
        self._max_wait = max_wait

    async def call(self, method: str, payload: dict[str, Any]) -> Any:
        """The ``result`` of ``method``; raises ``TelegramRefused`` or our channel errors."""
        for attempt in range(1, self._attempts + 1):
            try:
                return await self._once(method, payload)
            except RetryLater as exc:
                if attempt == self._attempts or exc.retry_after > self._max_wait:
                    raise
                log.warning("telegram.rate_limited", method=method, retry_after=exc.retry_after)
                await asyncio.sleep(exc.retry_after)
        raise AssertionError("unreachable")

    async def _once(self, method: str, payload: dict[str, Any]) -> Any:
        status = 0
        try:
            async with self._session.post(
                self._base + method, json=payload, timeout=self._timeout
            ) as response:
                status = response.status
                body = await response.json(content_type=None)
        except TimeoutError:
            raise ChannelUnavailable("Telegram API unreachable (TimeoutError)") from None
        except aiohttp.ClientError as exc:
            raise ChannelUnavailable(f"Telegram API unreachable ({type(exc).__name__})") from None
        except ValueError:
            raise ChannelUnavailable(
                f"Telegram API unavailable: HTTP {status} without JSON"
            ) from None
        if not isinstance(body, dict):
            raise ChannelUnavailable(f"Telegram API unavailable: HTTP {status}, not an object")
        if body.get("ok") and 200 <= status < 300:
            return body.get("result")
        description = self._redactor.text(str(body.get("description") or f"HTTP {status}"))
        parameters = body.get("parameters")
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        if isinstance(retry_after, int | float):
            raise RetryLater(f"Telegram rate limit (retry after {retry_after}s)", retry_after)
        if status == 401:
            raise ChannelAuthError(f"Telegram rejected the bot token (401); {AUTH_HINT}")
        if status in (400, 403):
            raise TelegramRefused(status, description)
        if status >= 500:
            raise ChannelUnavailable(f"Telegram API unavailable: {description}")
        raise ChannelUnavailable(f"Telegram API error: {description}")


class SendLimits:
    """Stay under Telegram's limits: ~30 messages/s overall, ~20/min in one group."""

    def __init__(self, per_second: float, group_per_minute: float) -> None:
        self._global = AsyncLimiter(per_second, 1) if per_second else None
        self._group_rate = group_per_minute
        self._groups: OrderedDict[str, AsyncLimiter] = OrderedDict()

    async def wait(self, chat: ChatRef) -> None:
        if chat.is_group and self._group_rate:
            limiter = self._groups.get(chat.chat_id)
            if limiter is None:
                limiter = self._groups[chat.chat_id] = AsyncLimiter(self._group_rate, 60)
                if len(self._groups) > 1000:
                    self._groups.popitem(last=False)
            self._groups.move_to_end(chat.chat_id)
            await limiter.acquire()
        if self._global is not None:
            await self._global.acquire()
