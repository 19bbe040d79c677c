"""What wraps every piece of work the router dispatches, as middleware: ``(handler, work)``.

Onion order (outermost first): bind the log context, measure, then the error boundary. Each
is a plain function; ``compose`` builds the chain once, at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence

import structlog

from assistant.core.errors import StateError
from assistant.core.i18n import N_, tr
from assistant.core.metrics import Metrics
from assistant.router.delivery import Delivery
from assistant.router.work import Work, new_turn_id
from assistant.store.inbox import Inbox, InboxStatus

log = structlog.get_logger(__name__)

APOLOGY = N_("Sorry, something went wrong on my side (turn {turn_id}). The details are in the log.")

Handler = Callable[[Work], Awaitable[None]]
Middleware = Callable[[Handler, Work], Awaitable[None]]


def compose(middleware: Sequence[Middleware], handler: Handler) -> Handler:
    """``middleware[0]`` outermost, ``handler`` innermost."""
    for layer in reversed(middleware):

        def wrapped(
            work: Work, layer: Middleware = layer, inner: Handler = handler
        ) -> Awaitable[None]:
            return layer(inner, work)

        handler = wrapped
    return handler


async def bind_log(handler: Handler, work: Work) -> None:
    """Every log line of this work names its turn, channel, chat and sender."""
    message = work.message
    work.turn_id = new_turn_id()
    with structlog.contextvars.bound_contextvars(
        turn_id=work.turn_id,
        channel=message.chat.channel,
        chat_id=message.chat.chat_id,
        user_id=message.sender.user_id,
    ):
        await handler(work)


def measure(metrics: Metrics) -> Middleware:
    async def timed(handler: Handler, work: Work) -> None:
        started = time.monotonic()
        try:
            await handler(work)
        finally:
            metrics.turn_seconds.observe(time.monotonic() - started)

    return timed


def error_boundary(delivery: Delivery, inbox: Inbox) -> Middleware:
    """A crash in a turn is logged once and apologised for once, and the message is done: a
    message that crashes its turn must not crash every restart. A ``StateError`` (the
    database refuses) goes up to be retried; cancellation goes up."""

    async def guarded(handler: Handler, work: Work) -> None:
        try:
            await handler(work)
        except (asyncio.CancelledError, StateError):
            raise
        except Exception:  # the error boundary of a turn
            log.exception("turn.failed")
            with contextlib.suppress(Exception):
                apology = tr(APOLOGY).format(turn_id=work.turn_id)
                await delivery.deliver(work.record, work.message, apology, plain=True)
            with contextlib.suppress(Exception):
                await inbox.set_status(work.inbox_id, InboxStatus.DONE)

    return guarded
