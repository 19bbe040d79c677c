"""Daily token budgets per person (``[limits] daily_tokens``, per role).

A day ends at midnight in ``[assistant] timezone``. The tokens of today's turns are read from
the state once a day and counted up as turns finish; a turn is refused before it starts when
its person's budget is used up (commands cost no tokens and still work). ``/status`` shows a
person their own count; ``/metrics`` has ``assistant_user_tokens_today`` and
``assistant_user_token_budget`` per person with a turn today.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from assistant.config import Config
from assistant.core.i18n import N_, tr
from assistant.core.messages import InboundMessage
from assistant.core.metrics import Metrics
from assistant.core.ports import Clock
from assistant.core.roles import Role
from assistant.store.conversations import Conversations

SPENT = N_(
    "You have used today's token budget ({used:,} of {budget:,} tokens). It renews at "
    "midnight ({zone}); commands still work until then."
)


def person(message: InboundMessage) -> str:
    return f"{message.chat.channel}:{message.sender.user_id}"


class TokenBudget:
    def __init__(
        self,
        conversations: Conversations,
        config: Callable[[], Config],
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self._conversations = conversations
        self._config = config
        self._clock = clock
        self._day: str | None = None
        self._used: dict[str, int] = {}
        self._budgets: dict[str, int] = {}  # the budget last seen per person, for /metrics
        metrics.user_tokens.source = self.snapshot

    async def used_today(self, who: str) -> int:
        await self._load()
        return self._used.get(who, 0)

    def budget(self, role: Role) -> int:
        """The daily budget of ``role``; 0: none."""
        return self._config().limits.tokens_a_day(role)

    async def refusal(self, message: InboundMessage, role: Role) -> str | None:
        """The answer instead of a turn when the sender's budget is used up; None: go on."""
        who = person(message)
        used = await self.used_today(who)  # also starts counting today for ``spent``
        budget = self.budget(role)
        if budget <= 0:
            self._budgets.pop(who, None)
            return None
        self._budgets[who] = budget
        if used < budget:
            return None
        zone = self._config().assistant.timezone
        return tr(SPENT).format(used=used, budget=budget, zone=zone)

    def spent(self, who: str, tokens: int) -> None:
        """Count a finished turn's tokens (after it was committed)."""
        if self._day == self._today():
            self._used[who] = self._used.get(who, 0) + tokens
        # else: the next read loads the new day from the state, this turn included

    def snapshot(self) -> tuple[dict[str, int], dict[str, int]]:
        """(tokens today, budget) per person, for /metrics; empty after midnight until the
        next turn reads the new day."""
        if self._day != self._today():
            return {}, {}
        return dict(self._used), {k: v for k, v in self._budgets.items() if v > 0}

    async def _load(self) -> None:
        today = self._today()
        if self._day == today:
            return
        zone = ZoneInfo(self._config().assistant.timezone)
        now = datetime.fromtimestamp(self._clock.time(), zone)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        self._used = await self._conversations.tokens_by_sender(midnight.timestamp())
        self._budgets = {}
        self._day = today

    def _today(self) -> str:
        zone = ZoneInfo(self._config().assistant.timezone)
        return f"{datetime.fromtimestamp(self._clock.time(), zone):%Y-%m-%d} {zone.key}"
