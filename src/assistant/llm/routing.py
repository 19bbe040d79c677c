"""Which model answers a turn: the conversation's choice, then routing rules, then the first."""

from __future__ import annotations

from collections.abc import Sequence

from assistant.config import ModelProvider, RoutingRule
from assistant.core.roles import Role


def choose_model(
    *,
    providers: Sequence[ModelProvider],
    rules: Sequence[RoutingRule],
    chosen: str | None,
    text: str,
    role: Role,
) -> str | None:
    """The model name for this turn, or None when no model is configured.

    A rule matches when every condition it states holds: one of its keywords occurs in the
    text (case-insensitive) and the sender has one of its roles.
    """
    names = {p.name for p in providers}
    if chosen in names:
        return chosen
    lowered = text.lower()
    for rule in rules:
        if rule.model not in names:
            continue
        if rule.keywords and not any(k.lower() in lowered for k in rule.keywords):
            continue
        if rule.roles and role not in rule.roles:
            continue
        return rule.model
    return providers[0].name if providers else None
