"""The console: the daemon's client API (``/api``, ``/ws`` on the gateway) and the channel its
clients talk through — ``assistant chat`` in a terminal, and the web console.

A console session is one person: the owner (the ``[console] token``) or whoever a per-person
token names (``assistant users token create NAME --role admin|user``), with that role. Their
messages go through the durable inbox and the router like any platform's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.feature import Component, Feature, Reloaded, Route

if TYPE_CHECKING:
    from assistant.config import Config
    from assistant.kernel import Context

NAME = "console"
CHANNEL = True
PRUNE_EVERY = 3600.0  # seconds between prunes of expired sessions and old events


def enabled(config: Config) -> bool:
    if not config.gateway.enabled:
        return False
    return config.console.enabled is not False


async def setup(ctx: Context) -> Feature:
    from assistant.features.console.api import ConsoleApi
    from assistant.features.console.auth import Authenticator
    from assistant.features.console.channel import WebConsoleChannel
    from assistant.features.console.page import routes as pages
    from assistant.store.console import CHANNEL as CONSOLE
    from assistant.store.console import ConsoleEvents, ConsoleFiles, ConsoleSessions, ConsoleTokens

    events = ConsoleEvents(ctx.db)
    console = ctx.config.console
    files = ConsoleFiles(ctx.db, max_total=int(console.keep_files_mb * 1024 * 1024))
    channel = WebConsoleChannel(
        events,
        wait_idle=ctx.router.wait_idle,
        health=ctx.health,
        files=files,
        max_file_bytes=int(console.max_file_mb * 1024 * 1024),
    )
    ctx.stack.push_async_callback(channel.aclose)
    sessions = ConsoleSessions(ctx.db)
    auth = Authenticator(
        ctx.config.console, tokens=ConsoleTokens(ctx.db), sessions=sessions, clock=ctx.clock
    )

    async def role_of(person: str) -> str | None:
        role = await ctx.access.role(CONSOLE, person)
        return role.value if role is not None else None

    api = ConsoleApi(auth, channel, events, role_of=role_of, files=files)
    page = pages(lambda: ctx.config.assistant.name)

    async def prune() -> None:
        while True:
            now = ctx.clock.time()
            await sessions.prune(now=now)
            before = now - ctx.config.console.keep_messages_days * 86400
            await events.prune(before=before)
            await files.prune(before=before)
            await ctx.clock.sleep(PRUNE_EVERY)

    async def reload(old: Config, new: Config) -> Reloaded:
        auth.configure(new.console)
        return Reloaded(
            (
                "console.token",
                "console.session_hours",
                "console.login_failures_per_minute",
                "console.keep_messages_days",
            )
        )

    return Feature(
        NAME,
        channels=(channel,),
        routes=tuple(Route(*r) for r in [*api.routes(), *page]),
        components=(Component("console.prune", prune),),
        reload=reload,
        parts={"console": channel},
    )
