"""The console: the daemon's client API (``/api``, ``/ws`` on the gateway) and the channel its
clients talk through — ``assistant chat`` in a terminal, and the web console.

A console session is one person: the owner (the ``[console] token``) or whoever a per-person
token names (``assistant users token create NAME --role admin|user``), with that role. Their
messages go through the durable inbox and the router like any platform's.

The web console's pages (``web/``, served by ``page``) ask JSON endpoints behind the ``Gate``
(role permissions, on the server): Approvals and People (``desk``), Jobs, Audit and System
(``board``), Memory (``memories``), Hosts (``hosts``); the other features' parts are reached
through ports (``JOB_BOARD``, ``PAIRING_DESK``, ``MEMORY_DESK``, ``HOST_DESK``, ``RELOADER``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.feature import (
    HOST_DESK,
    JOB_BOARD,
    MEMORY_DESK,
    PAIRING_DESK,
    RELOADER,
    Component,
    Feature,
    Reloaded,
    Route,
)

if TYPE_CHECKING:
    from assistant.config import Config
    from assistant.kernel import Context

NAME = "console"
CHANNEL = True
PRUNE_EVERY = 3600.0  # seconds between prunes of expired sessions and old events
SAMPLE_EVERY = 60.0  # seconds between samples of the System page's charts


def enabled(config: Config) -> bool:
    if not config.gateway.enabled:
        return False
    return config.console.enabled is not False


async def setup(ctx: Context) -> Feature:
    from assistant.features.console.api import ConsoleApi
    from assistant.features.console.api import secured as api_secured
    from assistant.features.console.auth import Authenticator
    from assistant.features.console.board import Board
    from assistant.features.console.channel import WebConsoleChannel
    from assistant.features.console.desk import Desk
    from assistant.features.console.gate import Gate, localized
    from assistant.features.console.hosts import HostsPage
    from assistant.features.console.memories import MemoryPage
    from assistant.features.console.page import routes as pages
    from assistant.features.console.uploads import Uploads
    from assistant.store.approvals import ApprovalStore
    from assistant.store.console import CHANNEL as CONSOLE
    from assistant.store.console import ConsoleEvents, ConsoleFiles, ConsoleSessions, ConsoleTokens

    events = ConsoleEvents(ctx.db)
    console = ctx.config.console
    files = ConsoleFiles(ctx.db, max_total=int(console.keep_files_mb * 1024 * 1024))
    uploads = Uploads(ctx.state_dir / "console-uploads")
    channel = WebConsoleChannel(
        events,
        wait_idle=ctx.router.wait_idle,
        health=ctx.health,
        files=files,
        max_file_bytes=int(console.max_file_mb * 1024 * 1024),
        uploads=uploads,
    )
    ctx.stack.push_async_callback(channel.aclose)
    sessions = ConsoleSessions(ctx.db)
    tokens = ConsoleTokens(ctx.db)
    auth = Authenticator(ctx.config.console, tokens=tokens, sessions=sessions, clock=ctx.clock)

    async def role_of(person: str) -> str | None:
        role = await ctx.access.role(CONSOLE, person)
        return role.value if role is not None else None

    gate = Gate(auth, role_of, ctx.policy)
    api = ConsoleApi(
        auth, channel, events, role_of=role_of, gate=gate, uploads=uploads, files=files
    )
    desk = Desk(
        gate,
        say=api.say,
        approvals=ApprovalStore(ctx.db, ctx.clock),
        pairing=ctx.pairing,
        desk=lambda: ctx.ports.get(PAIRING_DESK),
        hosts=lambda: ctx.ports.get(HOST_DESK),
        access=ctx.access,
        owners=lambda: list(ctx.config.access.owners),
        tokens=tokens,
        audit=ctx.audit,
        clock=ctx.clock,
    )
    board = Board(
        gate,
        jobs=lambda: ctx.ports.get(JOB_BOARD),
        reloader=lambda: ctx.ports.get(RELOADER),
        audit=ctx.audit,
        health=ctx.health,
        metrics=ctx.metrics,
        config=lambda: ctx.config,
        tokens_today=lambda: sum(ctx.budget.snapshot()[0].values()),
        clock=ctx.clock,
    )
    memory = MemoryPage(gate, lambda: ctx.ports.get(MEMORY_DESK))
    hosts = HostsPage(
        gate,
        desk=lambda: ctx.ports.get(HOST_DESK),
        jobs=lambda: ctx.ports.get(JOB_BOARD),
        clock=ctx.clock,
    )
    page = pages(lambda: ctx.config.assistant.name)
    pages_api = [*desk.routes(), *board.routes(), *memory.routes(), *hosts.routes()]
    secured = [(m, p, api_secured(localized(h))) for m, p, h in pages_api]

    async def prune() -> None:
        while True:
            now = ctx.clock.time()
            await sessions.prune(now=now)
            kept = now - ctx.config.console.keep_messages_days * 86400
            await events.prune(before=kept)
            await files.prune(before=kept)
            await uploads.prune(before=kept)
            await ctx.clock.sleep(PRUNE_EVERY)

    async def sample() -> None:
        while True:
            board.sample()
            await ctx.clock.sleep(SAMPLE_EVERY)

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
        routes=tuple(Route(*r) for r in [*api.routes(), *secured, *page]),
        components=(Component("console.prune", prune), Component("console.sample", sample)),
        reload=reload,
        parts={"console": channel, "console_board": board},
    )
