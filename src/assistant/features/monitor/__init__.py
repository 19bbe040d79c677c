"""Host metrics without an agent: the inventory's hosts with ``monitor = true`` are probed over
SSH every ``[monitor] interval`` (the SSH feature's ``HOST_PROBE`` port), their numbers kept in
the state database (24 h raw, 7 days of 5-minute and 90 days of hourly averages), shown on
/metrics, in /status HOST and /graph, and watched by ``[[monitor.rules]]``, whose alerts go to
the ``ALERTS`` port (or, without one, to the owners' chats)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.core.i18n import N_
from assistant.core.roles import Permission
from assistant.feature import Unconfigured

if TYPE_CHECKING:
    from assistant.config import Config
    from assistant.feature import Feature
    from assistant.kernel import Context

NAME = "monitor"

UNCONFIGURED = Unconfigured(
    commands=(("graph", Permission.EXEC_READONLY),),
    hint=N_(
        "no monitored servers: add monitor = true to a [[ssh.hosts]] entry and restart the "
        "assistant (docs/monitoring.md)",
    ),
)


def enabled(config: Config) -> bool:
    return (
        config.monitor.enabled and config.ssh.enabled and any(h.monitor for h in config.ssh.hosts)
    )


async def setup(ctx: Context) -> Feature:
    from assistant.features.monitor.wiring import build

    return await build(ctx)


def __getattr__(name: str) -> object:
    if name == "CHECKS":  # the doctor's, imported only by the doctor
        from assistant.features.monitor.checks import CHECKS

        return CHECKS
    raise AttributeError(name)
