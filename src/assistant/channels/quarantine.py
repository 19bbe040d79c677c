"""Quarantine, never wedge: what a channel cannot parse or record becomes a dead letter.

An update or event that raises anything while it is parsed or recorded (a lone surrogate that
SQLite cannot encode, JSON nested deeper than the parser goes, a number too large, a field of
the wrong type, a bug of ours) is stored with the error, redacted, and acknowledged to the
platform, so that it is not delivered again and again while everyone else waits. Only a state
database that refuses writes (``StateError``) or an intake that is closing (``IntakeClosed``)
leave it unacknowledged: those pass, and the platform delivers it again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import structlog

from assistant.core.errors import ChannelUnavailable, IntakeClosed, StateError
from assistant.core.ports import Redeliverable
from assistant.core.redact import Redactor
from assistant.store.dead_letters import DeadLetters

log = structlog.get_logger(__name__)

MAX_PAYLOAD = 64 * 1024  # characters of a payload kept; the rest is cut
_MAX_SCAN = 1024 * 1024  # characters redacted at most (a cut secret must not slip through)


def printable(text: str) -> str:
    """``text`` with what UTF-8 cannot carry (lone surrogates) written as escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def describe(error: BaseException | str) -> str:
    if isinstance(error, str):
        return printable(error)
    try:
        detail = str(error)
    except Exception:  # noqa: BLE001 - a message that cannot be shown is no reason to fail
        detail = ""
    detail = printable(detail)[:500]
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__


def _text(payload: Any) -> str:
    if isinstance(payload, bytes):
        return payload.decode("utf-8", "backslashreplace")
    if isinstance(payload, str):
        return payload
    try:
        return json.dumps(payload, ensure_ascii=True)
    except (ValueError, TypeError, RecursionError):
        try:
            return repr(payload)
        except Exception:  # noqa: BLE001 - deeper than repr goes
            return f"<a {type(payload).__name__} that cannot be shown>"


class Quarantine:
    """One channel's way into the dead letters (``store`` None: only logged)."""

    def __init__(self, channel: str, store: DeadLetters | None, redactor: Redactor) -> None:
        self.channel = channel
        self.bot = ""  # set once the adapter knows who it is
        self._store = store
        self._redactor = redactor

    def payload_text(self, payload: Any) -> str:
        text = printable(_text(payload)[:_MAX_SCAN])
        text = self._redactor.text(text)
        if len(text) > MAX_PAYLOAD:
            text = text[:MAX_PAYLOAD] + " …(cut)"
        return text

    async def hold(
        self, payload: Any, error: BaseException | str, *, source: str, ref: str | None = None
    ) -> None:
        """Dead-letter ``payload`` (bytes or text as received, or parsed JSON) and log it.

        Raises ``StateError`` when it cannot be stored: then the platform must deliver it
        again, as for any message that could not be recorded.
        """
        reason = self._redactor.text(describe(error))
        ref = printable(ref)[:200] if ref is not None else None
        letter = None
        if self._store is not None:
            letter = await self._store.add(
                channel=self.channel,
                bot=self.bot,
                source=source,
                ref=ref,
                payload=self.payload_text(payload),
                error=reason,
            )
        log.warning(
            "inbox.dead_letter",
            channel=self.channel,
            source=source,
            ref=ref,
            error=reason,
            dead_letter=letter,
        )


async def redeliver_requested(
    store: DeadLetters, channels: Mapping[str, Redeliverable], redactor: Redactor
) -> int:
    """Take again the dead letters whose retry was asked for (of these channels): each is
    dropped when it goes through, or keeps its place with the new error. Returns how many
    went through."""
    done = 0
    for letter in await store.take_retries(list(channels)):
        try:
            await channels[letter.channel].redeliver(letter.payload)
        except (IntakeClosed, StateError, ChannelUnavailable) as exc:  # not now: later
            await store.request_retry(letter.id)
            log.warning("inbox.dead_letter_deferred", dead_letter=letter.id, error=str(exc))
        except Exception as exc:  # noqa: BLE001 - the letter stays dead, with why
            reason = redactor.text(describe(exc))
            await store.failed_again(letter.id, reason)
            log.warning("inbox.dead_letter_failed_again", dead_letter=letter.id, error=reason)
        else:
            await store.drop(letter.id)
            log.info("inbox.dead_letter_retried", dead_letter=letter.id, channel=letter.channel)
            done += 1
    return done
