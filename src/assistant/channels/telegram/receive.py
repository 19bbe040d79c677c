"""Taking updates from Telegram: the long-polling loop and the webhook route.

Receiving does not use aiogram's Dispatcher: it advances the getUpdates offset while handlers
still run and swallows handler errors, which would confirm an update before it is in our inbox.
The poller asks for raw updates, hands each to ``on_message`` (which records it durably) and
only then moves the offset past it; the next getUpdates call confirms it. A crash in between
means Telegram sends the update again, and the inbox ignores the repeat.

An update that raises anything while it is parsed or recorded is dead-lettered and confirmed
(see ``channels.quarantine``). An answer to getUpdates that cannot be read at all (JSON nested
deeper than the parser goes, a number beyond its limits) is fetched again one update at a
time, so that only the update that carries it is dead-lettered.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
from datetime import UTC, datetime
from typing import Any

import structlog
from aiohttp import web

from assistant.channels.common import DEFERRED, answer_or_defer
from assistant.channels.quarantine import Quarantine
from assistant.channels.telegram.api import BotAPI, Conflict, RetryLater, Unreadable
from assistant.channels.telegram.parse import BotIdentity, parse_update
from assistant.config import TelegramSection
from assistant.core.backoff import Backoff
from assistant.core.errors import ChannelUnavailable, IntakeClosed, StateError
from assistant.core.health import ComponentState, Health
from assistant.core.ports import InboundHandler
from assistant.core.redact import Redactor

log = structlog.get_logger(__name__)

COMPONENT = "channel.telegram"
ALLOWED_UPDATES = ["message", "callback_query"]
_UPDATE_ID = re.compile(rb'"update_id"\s*:\s*(\d{1,30})')


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _only_update(raw: bytes) -> bytes:
    """The one update in a getUpdates answer (``{"ok":true,"result":[UPDATE]}``), as sent."""
    start = raw.find(b"[", raw.find(b'"result"')) + 1
    end = raw.rstrip().rfind(b"]")
    return raw[start:end].strip() if 0 < start < end else raw


def _read_json(raw: bytes) -> Any:
    """Parse a webhook body; ``JSONDecodeError``/``UnicodeDecodeError`` when it is not JSON
    at all, other ``ValueError``/``RecursionError`` when it is JSON this parser cannot take."""
    return json.loads(raw)


class Receiver:
    def __init__(
        self,
        config: TelegramSection,
        *,
        api: BotAPI,
        health: Health,
        redactor: Redactor,
        quarantine: Quarantine,
    ) -> None:
        self._config = config
        self._api = api
        self._health = health
        self._redactor = redactor
        self._quarantine = quarantine
        self.me: BotIdentity | None = None
        self.on_message: InboundHandler | None = None

    # --- one update -----------------------------------------------------------------------

    async def receive(self, update: dict[str, Any], *, source: str) -> None:
        """Parse and submit one update; dead-letter it when that fails. ``IntakeClosed`` and
        ``StateError`` propagate (then it must not be acknowledged)."""
        try:
            await self.submit(update)
        except DEFERRED:
            raise
        except Exception as exc:  # noqa: BLE001 - quarantine, never wedge
            await self._quarantine.hold(
                update, exc, source=source, ref=str(update.get("update_id"))
            )

    async def submit(self, update: dict[str, Any]) -> None:
        on_message, me = self.on_message, self.me
        if on_message is None or me is None:
            raise IntakeClosed("the Telegram channel is not receiving")
        message = parse_update(update, me)
        if message is None:
            log.debug(
                "telegram.skipped",
                update_id=update.get("update_id"),
                kinds=sorted(str(k) for k in update if k != "update_id"),
            )
            return
        await on_message(message)

    async def redeliver(self, payload: str) -> None:
        update = json.loads(payload)
        if not isinstance(update, dict):
            raise ValueError("an update must be a JSON object")
        await self.submit(update)

    # --- long polling ---------------------------------------------------------------------

    async def poll(self) -> None:
        loop = asyncio.get_running_loop()
        offset: int | None = None
        single = False  # fetching one update at a time, to find one that cannot be read
        backoff = Backoff(1.0, 30.0)
        watchdog_s = self._config.watchdog
        try:
            async with asyncio.timeout(watchdog_s) as watchdog:
                while True:
                    try:
                        updates = await self._get_updates(offset, limit=1 if single else None)
                    except Unreadable as exc:
                        watchdog.reschedule(loop.time() + watchdog_s)
                        if not single:
                            single = True
                            continue
                        offset = await self._skip_unreadable(exc)
                        single = False
                        continue
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
                    if single and not updates:
                        single = False
                    offset, refused = await self._receive_all(updates, offset)
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

    async def _skip_unreadable(self, exc: Unreadable) -> int:
        """One update that cannot be read: dead-letter it; the offset past it."""
        found = _UPDATE_ID.search(exc.raw)
        if found is None:
            raise ChannelUnavailable(
                "getUpdates answered with an update that cannot be read and has no update_id"
            )
        update_id = int(found.group(1))
        await self._quarantine.hold(
            _only_update(exc.raw), exc.error, source="polling", ref=str(update_id)
        )
        return update_id + 1

    async def _receive_all(
        self, updates: list[Any], offset: int | None
    ) -> tuple[int | None, StateError | None]:
        """Submit each update in order. Returns the offset that confirms those recorded, and
        the error that stopped it at one that could not be (which is then not confirmed)."""
        for update in updates:
            update_id = update.get("update_id") if isinstance(update, dict) else None
            if not isinstance(update_id, int):
                log.warning("telegram.bad_update", error="no update_id")
                continue
            try:
                await self.receive(update, source="polling")
            except StateError as exc:
                return offset, exc
            offset = update_id + 1
        return offset, None

    async def _get_updates(self, offset: int | None, *, limit: int | None = None) -> list[Any]:
        try:
            return await self._api.get_updates(
                offset=offset,
                limit=limit,
                timeout=self._config.poll_timeout,
                allowed=ALLOWED_UPDATES,
            )
        except Conflict as exc:
            if "webhook" in exc.description.lower():
                await self._api.delete_webhook()
                raise ChannelUnavailable("a webhook was set; deleted it to poll instead") from None
            raise ChannelUnavailable(
                "another process is polling this bot (409 Conflict); stop it: one bot token, "
                "one running assistant"
            ) from None

    # --- webhook --------------------------------------------------------------------------

    async def webhook(self, request: web.Request) -> web.StreamResponse:
        assert self._config.webhook_secret is not None
        expected = self._config.webhook_secret.get_secret_value().encode()
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        given_bytes = given.encode("utf-8", "surrogatepass")  # raw bytes may decode oddly
        if not hmac.compare_digest(given_bytes, expected):
            log.warning("telegram.webhook_rejected", remote=request.remote)
            return web.Response(status=401, text="wrong or missing secret token")
        if self.on_message is None or self.me is None:
            return web.Response(status=503, text="not ready")
        raw = await request.read()
        later = web.Response(status=503, text="try again later")
        return await answer_or_defer("telegram", "webhook", self._take(raw), later)

    async def _take(self, raw: bytes) -> web.StreamResponse:
        """Record one webhook delivery; 200 once it is recorded or dead-lettered."""
        try:
            update = _read_json(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.Response(status=400, text="invalid JSON")
        except (ValueError, RecursionError) as exc:  # JSON, but not for this parser
            found = _UPDATE_ID.search(raw)
            ref = found.group(1).decode() if found else None
            await self._quarantine.hold(raw, exc, source="webhook", ref=ref)
            return web.Response(status=200)
        if not isinstance(update, dict):
            return web.Response(status=400, text="an update must be a JSON object")
        await self.receive(update, source="webhook")
        self._health.note(COMPONENT, last_update=_now())
        return web.Response(status=200)
