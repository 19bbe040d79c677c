"""Talking to the Bot API through aiogram: error translation, 429 handling, send limits."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable
from typing import TypeVar

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
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiolimiter import AsyncLimiter

from assistant.core.errors import ChannelAuthError, ChannelUnavailable
from assistant.core.messages import ChatRef
from assistant.core.redact import Redactor

log = structlog.get_logger(__name__)

T = TypeVar("T")
AUTH_HINT = "check [telegram] token: it must be the token @BotFather gave you"


class RetryLater(ChannelUnavailable):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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
