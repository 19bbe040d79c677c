"""``[limits]``: how much one person may ask of the assistant, and how long it keeps things."""

from __future__ import annotations

from pydantic import Field

from assistant.config.base import Section
from assistant.core.roles import Role


class RoleLimits(Section):
    """A role's own values; a key left out takes the ``[limits]`` value."""

    messages_per_minute: int | None = Field(None, ge=0, le=100_000)
    daily_tokens: int | None = Field(None, ge=0)


class LimitsSection(Section):
    messages_per_minute: int = Field(20, ge=0, le=100_000)
    queue_per_conversation: int = Field(20, ge=1, le=10_000)
    daily_tokens: int = Field(0, ge=0)
    retention_days: int = Field(90, ge=0, le=36_500)
    messages_per_conversation: int = Field(2000, ge=100, le=1_000_000)
    roles: dict[Role, RoleLimits] = Field(default_factory=dict)

    def per_minute(self, role: Role | None) -> int:
        """Messages a minute a person with ``role`` may send (None: a stranger); 0 = no limit."""
        own = self.roles.get(role) if role is not None else None
        if own is not None and own.messages_per_minute is not None:
            return own.messages_per_minute
        return self.messages_per_minute

    def tokens_a_day(self, role: Role) -> int:
        """The daily token budget of ``role``; 0 = none."""
        own = self.roles.get(role)
        if own is not None and own.daily_tokens is not None:
            return own.daily_tokens
        return self.daily_tokens
