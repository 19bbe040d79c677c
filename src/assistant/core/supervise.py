"""Keep a long-lived component running: restart it with jittered backoff when it fails."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog

from assistant.core.backoff import Backoff
from assistant.core.errors import ChannelAuthError, ConfigError
from assistant.core.health import ComponentState, Health
from assistant.core.ports import Clock, SystemClock
from assistant.core.redact import Redactor

log = structlog.get_logger(__name__)


async def supervise(
    name: str,
    run: Callable[[], Awaitable[None]],
    *,
    health: Health,
    redactor: Redactor,
    backoff: Backoff | None = None,
    healthy_after: float = 30.0,
    clock: Clock | None = None,
) -> None:
    """Run ``run()`` until cancelled.

    A crash restarts it after a jittered delay (reset once it ran ``healthy_after`` seconds);
    ``ChannelAuthError`` and ``ConfigError`` stop it for good (state FAILED) while the rest of
    the daemon keeps running; a normal return is STOPPED.
    """
    backoff = backoff or Backoff(1.0, 60.0)
    clock = clock or SystemClock()
    while True:
        started = clock.monotonic()
        try:
            await run()
        except (ChannelAuthError, ConfigError) as exc:
            detail = redactor.text(str(exc))
            health.set(name, ComponentState.FAILED, detail)
            log.error("component.failed", component=name, error=detail)
            return
        except Exception as exc:  # noqa: BLE001 - the component's error boundary: log once, restart
            if clock.monotonic() - started >= healthy_after:
                backoff.reset()
            delay = backoff.next_delay()
            detail = redactor.text(f"{type(exc).__name__}: {exc}")
            health.set(name, ComponentState.DOWN, f"{detail}; restarting in {delay:.1f}s")
            log.warning("component.crashed", component=name, error=detail, retry_in=round(delay, 2))
            await clock.sleep(delay)
        else:
            health.set(name, ComponentState.STOPPED)
            return
