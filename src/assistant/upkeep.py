"""The kernel's own long-running work: inbox and state pruning, and the dead letters an
operator asked to retry. Components the root runs beside the features' ones."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict

import structlog

from assistant.channels.quarantine import redeliver_requested
from assistant.core.errors import StateError
from assistant.core.ports import Channel, Redeliverable
from assistant.feature import Component
from assistant.kernel import Context
from assistant.store.dead_letters import KEEP as DEAD_LETTERS_KEPT
from assistant.store.dead_letters import DeadLetters
from assistant.store.retention import prune

log = structlog.get_logger(__name__)

INBOX_RETENTION = 7 * 24 * 3600  # finished messages are kept a week for redelivery dedupe
MAINTENANCE_EVERY = 3600
PRUNE_EVERY = 24 * 3600  # [limits] retention: at start, then daily
DEAD_LETTER_CHECK = 5.0  # seconds between looks for dead letters an operator wants retried


def components(ctx: Context, channels: Sequence[Channel]) -> list[Component]:
    found = [Component("maintenance", lambda: _maintenance(ctx))]
    takers: dict[str, Redeliverable] = {c.name: c for c in channels if isinstance(c, Redeliverable)}
    if takers:
        found.append(Component("dead-letters", lambda: _redeliveries(ctx, takers)))
    return found


async def _maintenance(ctx: Context) -> None:
    pruned_at: float | None = None
    while True:
        now = time.time()  # the clock the inbox and the other stores stamp their rows with
        purged = await ctx.inbox.purge(now - INBOX_RETENTION)
        if purged:
            log.info("inbox.purged", messages=purged)
        if pruned_at is None or now - pruned_at >= PRUNE_EVERY:
            pruned_at = now
            limits = ctx.config.limits
            pruned = await prune(
                ctx.db,
                now=now,
                retention_days=limits.retention_days,
                messages_per_conversation=limits.messages_per_conversation,
            )
            log.info("state.pruned", **asdict(pruned))
        await ctx.clock.sleep(MAINTENANCE_EVERY)


async def _redeliveries(ctx: Context, takers: Mapping[str, Redeliverable]) -> None:
    """Dead letters whose retry was asked for (``assistant inbox dead-letters --retry``)."""
    letters = DeadLetters(ctx.db)
    trimmed_at = -float(MAINTENANCE_EVERY)
    while True:
        try:
            await redeliver_requested(letters, takers, ctx.redactor)
            if ctx.clock.monotonic() - trimmed_at >= MAINTENANCE_EVERY:
                trimmed_at = ctx.clock.monotonic()
                if dropped := await letters.trim(DEAD_LETTERS_KEPT):
                    log.info("inbox.dead_letters_trimmed", dropped=dropped)
        except StateError as exc:  # the database refuses for now; the requests stay
            log.warning("inbox.dead_letter_check_failed", error=str(exc))
        await ctx.clock.sleep(DEAD_LETTER_CHECK)
