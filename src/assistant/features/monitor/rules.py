"""Threshold rules, pure: which rules watch a host, and whether a new value makes one fire
(over its threshold for ``for_seconds``) or resolve (back past its clear threshold)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum

from assistant.config.monitor import MonitorRule
from assistant.config.ssh import SSHHost

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


class Change(Enum):
    FIRE = "fire"
    RESOLVE = "resolve"


@dataclass
class RuleState:
    since: float | None = None  # when the value first crossed, while it stays crossed
    firing: bool = False


def rules_for(rules: Iterable[MonitorRule], host: SSHHost) -> list[MonitorRule]:
    return [r for r in rules if r.watches(host)]


def alert_key(host: str, rule: MonitorRule) -> str:
    """Stable per host and metric; a critical rule beside a warning one on the same metric
    is a condition of its own."""
    base = f"monitor:{host}:{rule.metric}"
    return base if rule.severity == "warning" else f"{base}:critical"


def crossed(rule: MonitorRule, value: float) -> bool:
    return _COMPARE[rule.comparison](value, rule.threshold)


def cleared(rule: MonitorRule, value: float) -> bool:
    """Back on the good side of the clear threshold (hysteresis)."""
    return not _COMPARE[rule.comparison](value, rule.clear_at)


def step(rule: MonitorRule, state: RuleState, value: float, now: float) -> Change | None:
    """Move ``state`` on with a new value seen at ``now``; what changed, if anything."""
    if state.firing:
        if cleared(rule, value):
            state.firing, state.since = False, None
            return Change.RESOLVE
        return None
    if not crossed(rule, value):
        state.since = None
        return None
    if state.since is None:
        state.since = now
    if now - state.since >= rule.for_seconds:
        state.firing = True
        return Change.FIRE
    return None
