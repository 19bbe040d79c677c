"""Alerts: where monitoring and the assistant's own trouble are told (the ``ALERTS`` port).

Routes per severity (chats and people, email over SMTP, signed webhooks), escalation of
critical alerts until someone acknowledges them (a button, or /ack), silences, and
self-alerts. Other features fire alerts through ``ctx.ports.get(ALERTS)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.core.i18n import N_
from assistant.core.roles import Permission
from assistant.feature import ALERTS, Feature, Reloaded, Unconfigured, changed_keys

if TYPE_CHECKING:
    from assistant.config import Config
    from assistant.kernel import Context

NAME = "alerts"
WEB_LIVE = ("allow_hosts", "allow_networks", "max_redirects", "user_agent")  # the webhooks'

UNCONFIGURED = Unconfigured(
    commands=(
        ("alerts", Permission.ALERTS),
        ("ack", Permission.ALERTS),
        ("silence", Permission.ALERTS),
        ("silences", Permission.ALERTS),
        ("unsilence", Permission.ALERTS),
    ),
    hint=N_(
        "alerts are off: set [alerts] enabled = true with routes in the config and restart the "
        "assistant (docs/monitoring.md)",
    ),
)


def enabled(config: Config) -> bool:
    return config.alerts.enabled


async def setup(ctx: Context) -> Feature:
    import asyncio

    from assistant.core.errors import StateError
    from assistant.core.health import ComponentState
    from assistant.features.alerts.commands import AlertCommands
    from assistant.features.alerts.routes import Routes
    from assistant.features.alerts.selfwatch import SelfWatch
    from assistant.features.alerts.service import AlertService
    from assistant.features.alerts.state import AlertStore
    from assistant.net.client import WebClient
    from assistant.scheduler.files import FiringLock

    ctx.health.register(NAME, required=False)
    # one process sends alerts: the daemon (`assistant chat --standalone` only records them)
    lock = FiringLock(ctx.state_dir / "alerts.lock")
    ctx.stack.callback(lock.release)

    # webhooks go through the SSRF guard: an internal address only where [web] allows it
    resolver = ctx.options.get("web.resolver")  # a test's fake DNS
    web = await ctx.stack.enter_async_context(
        WebClient.of(ctx.config.web, max_download=64 * 1024, resolver=resolver)
    )
    routes = Routes(
        router=ctx.router,
        web=web,
        locales=ctx.locales,
        config=ctx.live.get,
        clock=ctx.clock,
        redactor=ctx.redactor,
        registry=ctx.metrics.registry,
    )
    service = await ctx.stack.enter_async_context(
        AlertService(
            store=AlertStore(ctx.db),
            routes=routes,
            audit=ctx.audit,
            config=ctx.live.get,
            clock=ctx.clock,
        )
    )
    watch = SelfWatch(
        sink=service,
        health=ctx.health,
        metrics=ctx.metrics,
        config=ctx.live.get,
        clock=ctx.clock,
        **({"disk_usage": ctx.options["disk_usage"]} if "disk_usage" in ctx.options else {}),
    )
    service.every(watch.interval, watch.check)
    ctx.ports.provide(ALERTS, service)
    people = AlertCommands(service, ctx.timezone)

    async def start() -> None:
        try:
            await asyncio.to_thread(lock.acquire)
        except StateError:
            ctx.health.set(NAME, ComponentState.DEGRADED, "another assistant process sends alerts")
            return
        service.start()  # after the channels serve: what a previous run left goes on
        ctx.health.set(NAME, ComponentState.READY)

    async def reload(old: Config, new: Config) -> Reloaded:
        web.configure(new.web)
        keys = changed_keys(old.alerts, new.alerts, NAME)
        web_keys = changed_keys(old.web, new.web, "web")
        keys += [k for k in web_keys if k.split(".", 1)[1] in WEB_LIVE]
        return Reloaded(tuple(k for k in keys if k != "alerts.enabled"))

    return Feature(
        NAME,
        commands=people.commands(),
        actions=people.actions(),
        start=start,
        reload=reload,
        parts={"alerts": service},
    )


def __getattr__(name: str) -> object:
    if name == "CHECKS":  # the doctor's, imported only by the doctor
        from assistant.features.alerts.checks import CHECKS

        return CHECKS
    raise AttributeError(name)
