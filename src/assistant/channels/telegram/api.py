"""The Telegram Bot API client: every request the assistant makes to Telegram goes through
``BotAPI``, the only place that knows the wire format (JSON requests to
``{api_base}/bot{token}/{method}``, ``{"ok": ..., "result": ...}`` answers, files at
``{api_base}/file/bot{token}/{path}``) and the only place that translates its errors::

    ChannelError
    ├── ChannelAuthError       401, 404: the token is wrong (the message says how to fix it)
    ├── TelegramRefused        400, 403: this request can never succeed; the caller decides
    │   └── (a file download)  404 too: the file is gone
    ├── FileTooLarge           a download past ``max_bytes`` (stopped as soon as it is)
    └── ChannelUnavailable     5xx, network, timeouts, answers that are not JSON: try later
        ├── RetryLater         429: ``retry_after`` seconds (``call`` waits and tries again)
        ├── Conflict           409: another poller, or a webhook is set
        └── Unreadable         HTTP 200 with JSON this parser cannot take (nested too deep)

Secrets never reach the error text: Telegram's descriptions are redacted and network errors
are named by type only (their text can hold the URL, which holds the token).

aiogram, the project's Telegram library, is not imported here: its import alone takes ~4 s
and ~170 MB (``aiogram.types`` builds every model), which would be most of a Telegram-only
daemon's start-up time and memory; its multipart forms and answer models also cost more CPU
than the requests themselves (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import aiohttp
import structlog
from aiolimiter import AsyncLimiter

from assistant.channels.outfiles import upload_name
from assistant.core.bounded import BoundedDict
from assistant.core.errors import ChannelAuthError, ChannelError, ChannelUnavailable
from assistant.core.messages import ChatRef
from assistant.core.redact import Redactor

log = structlog.get_logger(__name__)

AUTH_HINT = "check [telegram] token: it must be the token @BotFather gave you"
_CHUNK = 64 * 1024
T = TypeVar("T")


def token_is_valid(token: str) -> bool:
    """The shape of a bot token (``123456:secret``): what aiogram's ``validate_token``
    checks, without importing aiogram."""
    bot_id, colon, secret = token.partition(":")
    return bool(colon and bot_id.isdigit() and secret) and not any(c.isspace() for c in token)


class RetryLater(ChannelUnavailable):
    retry_after: float

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, retry_after=retry_after)


class Conflict(ChannelUnavailable):
    """409: another process polls this bot, or a webhook is set (``description`` says)."""

    def __init__(self, message: str, description: str) -> None:
        super().__init__(message)
        self.description = description


class Unreadable(ChannelUnavailable):
    """An answer (HTTP 200) that is JSON this parser cannot take: ``raw`` is its body."""

    def __init__(self, raw: bytes, error: BaseException) -> None:
        super().__init__(f"an answer that cannot be read ({type(error).__name__})")
        self.raw = raw
        self.error = error


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


class FileTooLarge(ChannelError):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"the file is larger than {max_bytes} bytes")
        self.max_bytes = max_bytes


def _json(raw: bytes) -> Any:
    """Parse a body; ``JSONDecodeError``/``UnicodeDecodeError`` when it is not JSON at all,
    other ``ValueError``/``RecursionError`` when it is JSON this parser cannot take."""
    return json.loads(raw)


class BotAPI:
    """One bot's Bot API over our aiohttp session.

    Every request (``call``, ``download``) waits out a 429's ``retry_after`` and tries again,
    ``attempts`` times in all, as long as the wait is at most ``max_wait``; then it raises
    ``RetryLater`` for the caller's own backoff (the receive loop asks for one attempt: it
    shows the wait on /readyz).
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
        base = api_base.rstrip("/")
        self._session = session
        self._methods = f"{base}/bot{token}/"
        self._files = f"{base}/file/bot{token}/"
        self._redactor = redactor
        self._timeout = timeout
        self._attempts = attempts
        self._max_wait = max_wait

    async def call(
        self,
        method: str,
        payload: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
        attempts: int | None = None,
    ) -> Any:
        """The ``result`` of ``method``; raises ``TelegramRefused`` or a channel error."""
        limit = aiohttp.ClientTimeout(total=timeout or self._timeout)
        body = payload or {}
        return await self._retrying(
            method, lambda: self._once(method, {"json": body}, limit), attempts
        )

    async def upload(
        self,
        method: str,
        payload: Mapping[str, Any],
        *,
        field: str,
        name: str,
        data: bytes,
        mime_type: str,
    ) -> Any:
        """``method`` with a file in ``field`` (sendPhoto, sendDocument): a multipart form,
        other fields as form values (objects as JSON); retried like ``call``."""
        limit = aiohttp.ClientTimeout(total=max(self._timeout, 120.0))

        def form() -> dict[str, Any]:
            body = aiohttp.FormData(quote_fields=False)  # UTF-8 names, as Telegram takes them
            for key, value in payload.items():
                text = value if isinstance(value, str) else json.dumps(value)
                body.add_field(key, text)
            body.add_field(
                field, io.BytesIO(data), filename=upload_name(name), content_type=mime_type
            )
            return {"data": body}

        return await self._retrying(method, lambda: self._once(method, form(), limit), None)

    async def _retrying(
        self, what: str, request: Callable[[], Awaitable[T]], attempts: int | None
    ) -> T:
        """``request()``, again after each 429 whose ``retry_after`` we are willing to wait."""
        attempts = attempts or self._attempts
        for attempt in range(1, attempts + 1):
            try:
                return await request()
            except RetryLater as exc:
                if attempt >= attempts or exc.retry_after > self._max_wait:
                    raise
                log.warning("telegram.rate_limited", method=what, retry_after=exc.retry_after)
                await asyncio.sleep(exc.retry_after)
        raise AssertionError("unreachable")

    async def _once(
        self, method: str, body: Mapping[str, Any], timeout: aiohttp.ClientTimeout
    ) -> Any:
        try:
            async with self._session.post(
                self._methods + method, timeout=timeout, **body
            ) as response:
                status = response.status
                raw = await response.read()
        except TimeoutError:
            raise ChannelUnavailable(f"Telegram {method} timed out") from None
        except aiohttp.ClientError as exc:
            raise ChannelUnavailable(f"Telegram {method} failed ({type(exc).__name__})") from None
        try:
            body = _json(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ChannelUnavailable(
                f"Telegram {method} answered HTTP {status} without JSON"
            ) from None
        except (ValueError, RecursionError) as exc:
            if status != 200:
                raise ChannelUnavailable(f"Telegram {method} answered HTTP {status}") from None
            raise Unreadable(raw, exc) from None
        if isinstance(body, dict) and body.get("ok") is True and 200 <= status < 300:
            return body.get("result")
        raise self._error(method, status, body)

    def _error(self, method: str, status: int, body: Any) -> ChannelError:
        """Telegram's answer to a failed request as one of our errors."""
        body = body if isinstance(body, dict) else {}
        description = self._redactor.text(str(body.get("description") or "").strip())
        parameters = body.get("parameters")
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        if status == 429 or isinstance(retry_after, int | float):
            wait = float(retry_after) if isinstance(retry_after, int | float) else 5.0
            return RetryLater(f"Telegram rate limit on {method} (retry after {wait:g}s)", wait)
        if status in (401, 404):
            return ChannelAuthError(f"Telegram rejected the bot token (HTTP {status}); {AUTH_HINT}")
        if status in (400, 403):
            return TelegramRefused(status, description or f"HTTP {status}")
        detail = f"Telegram {method} answered HTTP {status} {description}".strip()
        if status == 409:
            return Conflict(detail, description)
        return ChannelUnavailable(detail)

    # --- files ----------------------------------------------------------------------------

    async def download(self, path: str, *, max_bytes: int) -> bytes:
        """The file at ``path`` (from getFile); ``FileTooLarge`` as soon as more than
        ``max_bytes`` is announced or has arrived."""
        return await self._retrying("file download", lambda: self._download(path, max_bytes), None)

    async def _download(self, path: str, max_bytes: int) -> bytes:
        limit = aiohttp.ClientTimeout(total=self._timeout)
        try:
            async with self._session.get(self._files + path, timeout=limit) as response:
                if response.status != 200:
                    raw = await response.content.read(_CHUNK)
                    raise self._download_error(response.status, raw)
                if response.content_length is not None and response.content_length > max_bytes:
                    raise FileTooLarge(max_bytes)
                data = bytearray()
                async for chunk in response.content.iter_chunked(_CHUNK):
                    data += chunk
                    if len(data) > max_bytes:
                        raise FileTooLarge(max_bytes)
                return bytes(data)
        except TimeoutError:
            raise ChannelUnavailable("Telegram file download timed out") from None
        except aiohttp.ClientError as exc:
            raise ChannelUnavailable(
                f"Telegram file download failed ({type(exc).__name__})"
            ) from None

    def _download_error(self, status: int, raw: bytes) -> ChannelError:
        try:
            body = _json(raw)
        except (ValueError, RecursionError):
            body = {}
        if status == 404:
            return TelegramRefused(404, "the file is no longer available")
        return self._error("file download", status, body)

    # --- the methods whose shape is more than a payload -----------------------------------

    async def get_updates(
        self, *, offset: int | None, limit: int | None, timeout: int, allowed: Sequence[str]
    ) -> list[Any]:
        """One long poll (``timeout`` seconds); one attempt: the poller does its backoff."""
        payload: dict[str, Any] = {"timeout": timeout, "allowed_updates": list(allowed)}
        if offset is not None:
            payload["offset"] = offset
        if limit is not None:
            payload["limit"] = limit
        result = await self.call("getUpdates", payload, timeout=timeout + 15, attempts=1)
        return result if isinstance(result, list) else []

    async def delete_webhook(self) -> None:
        await self.call("deleteWebhook", {"drop_pending_updates": False})

    async def set_webhook(self, url: str, *, secret: str, allowed: Sequence[str]) -> None:
        await self.call(
            "setWebhook",
            {
                "url": url,
                "secret_token": secret,
                "allowed_updates": list(allowed),
                "drop_pending_updates": False,
            },
        )

    async def set_commands(
        self, menu: Sequence[tuple[str, str]], *, language: str | None = None
    ) -> None:
        """The command menu shown to people whose app speaks ``language`` (an ISO 639-1
        code; None: everyone without a menu of their own)."""
        commands = [{"command": name, "description": text[:256]} for name, text in menu]
        payload: dict[str, Any] = {"commands": commands}
        if language is not None:
            payload["language_code"] = language
        await self.call("setMyCommands", payload)

    async def answer_callback(self, callback_id: str, text: str, *, alert: bool) -> None:
        payload: dict[str, Any] = {"callback_query_id": callback_id, "show_alert": alert}
        if text:
            payload["text"] = text[:200]
        await self.call("answerCallbackQuery", payload)

    async def get_file(self, file_id: str) -> dict[str, Any]:
        result = await self.call("getFile", {"file_id": file_id})
        return result if isinstance(result, dict) else {}


class SendLimits:
    """Stay under Telegram's limits: ~30 messages/s overall, ~20/min in one group."""

    def __init__(self, per_second: float, group_per_minute: float) -> None:
        self._global = AsyncLimiter(per_second, 1) if per_second else None
        self._group_rate = group_per_minute
        self._groups: BoundedDict[str, AsyncLimiter] = BoundedDict(1000)

    async def wait(self, chat: ChatRef) -> None:
        if chat.is_group and self._group_rate:
            limiter = self._groups.get(chat.chat_id)
            if limiter is None:
                limiter = self._groups[chat.chat_id] = AsyncLimiter(self._group_rate, 60)
            await limiter.acquire()
        if self._global is not None:
            await self._global.acquire()
