"""Reminders, scheduled requests and monitoring checks (/remind, /jobs, /cancel ID, and the
schedule and jobs tools). Jobs fire through the router like messages, as their creator.

Jobs start firing in ``start``, once the channels serve and the previous run's unfinished
messages are queued again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.core.i18n import N_, tr
from assistant.core.roles import Permission
from assistant.feature import (
    COMMAND_RUNNER,
    JOB_BOARD,
    JOB_CANCELLER,
    Feature,
    Ports,
    Reloaded,
    Unconfigured,
)
from assistant.feature import changed_keys as _changed_keys

if TYPE_CHECKING:
    from aiohttp.abc import AbstractResolver

    from assistant.config import Config
    from assistant.config.web import WebSection
    from assistant.core.ports import CommandOutcome
    from assistant.kernel import Context
    from assistant.net.client import WebClient

NAME = "scheduler"

UNCONFIGURED = Unconfigured(
    commands=(
        ("remind", Permission.SCHEDULE),
        ("jobs", Permission.SCHEDULE),
        ("check", Permission.SCHEDULE),
    ),
    hint=N_(
        "reminders and jobs are off: set [scheduler] enabled = true in the config and restart "
        "the assistant (docs/jobs.md)",
    ),
)
JOBS = "jobs"  # the daemon's name for its firing lock (option "jobs_name": another)
# what a running assistant applies on reload; the rest of [scheduler] needs a restart
LIVE = ("misfire_grace", "min_interval", "check_cooldown", "max_jobs_per_user")
# what HTTP and TLS checks take from [web] and apply on reload (ca_file needs a restart)
WEB_LIVE = ("allow_hosts", "allow_networks", "max_redirects", "user_agent")


def enabled(config: Config) -> bool:
    return config.scheduler.enabled


class _Runner:
    """Checks' commands through whatever feature runs commands on servers (SSH), if any."""

    def __init__(self, ports: Ports) -> None:
        self._ports = ports

    def hosts(self) -> list[str]:
        runner = self._ports.get(COMMAND_RUNNER)
        return runner.hosts() if runner is not None else []

    async def refusal(self, host: str, command: str, actor: str) -> str | None:
        runner = self._ports.get(COMMAND_RUNNER)
        if runner is None:
            return tr("no servers are configured ([[ssh.hosts]])")
        return await runner.refusal(host, command, actor)

    async def run(self, host: str, command: str, *, timeout: float, actor: str) -> CommandOutcome:
        runner = self._ports.get(COMMAND_RUNNER)
        assert runner is not None, "refusal() said yes"
        return await runner.run(host, command, timeout=timeout, actor=actor)


def _web_client(section: WebSection, resolver: AbstractResolver | None) -> WebClient:
    """The SSRF-guarded client of HTTP and TLS checks: the web tools' allowlist and trust."""
    from assistant.net.client import WebClient
    from assistant.scheduler.webchecks import BODY_BYTES

    return WebClient.of(section, max_download=BODY_BYTES, resolver=resolver)  # a test's DNS


async def setup(ctx: Context) -> Feature:
    from assistant.core.health import ComponentState
    from assistant.features.scheduler.board import JobBoard
    from assistant.features.scheduler.commands import JobCommands
    from assistant.net.guard import AddressPolicy
    from assistant.scheduler.service import SchedulerService
    from assistant.scheduler.webchecks import WebChecks
    from assistant.tools.schedule import ScheduleTool

    config = ctx.config
    router = ctx.router
    ctx.health.register(NAME, required=False)
    client = await ctx.stack.enter_async_context(
        _web_client(config.web, ctx.options.get("web.resolver"))
    )

    async def permissions_of(channel: str, user_id: str) -> frozenset[Permission]:
        role = await ctx.access.role(channel, user_id)
        return ctx.policy.permissions(role) if role is not None else frozenset()

    # entered after the router: it stops firing before the router closes
    scheduler = await ctx.stack.enter_async_context(
        SchedulerService(
            db=ctx.db,
            state_dir=ctx.state_dir,
            name=ctx.options.get("jobs_name", JOBS),
            submit=router.submit,
            channels=lambda: router.channels.keys(),
            settings=config.scheduler,
            timezone=config.assistant.timezone,
            check_timeout=config.agent.tool_timeout,
            runner=_Runner(ctx.ports),
            clock=ctx.clock,
            locale_of=ctx.locales.of_person,
            web=WebChecks(client, ctx.clock, permissions_of),
        )
    )
    people = JobCommands(scheduler=scheduler, timezone=ctx.timezone, clock=ctx.clock)
    ctx.ports.provide(JOB_CANCELLER, people)
    ctx.ports.provide(JOB_BOARD, JobBoard(scheduler))

    async def start() -> None:
        if await scheduler.start():
            ctx.health.set(NAME, ComponentState.READY)
        else:
            ctx.health.set(
                NAME, ComponentState.DEGRADED, "another assistant process runs these jobs"
            )

    async def reload(old: Config, new: Config) -> Reloaded:
        scheduler.configure(new.scheduler, new.assistant.timezone)
        client.guard.policy = AddressPolicy.of(new.web.allow_hosts, new.web.allow_networks)
        client.max_redirects = new.web.max_redirects
        client.user_agent = new.web.user_agent
        keys = _changed_keys(old.scheduler, new.scheduler, NAME)
        web = _changed_keys(old.web, new.web, "web")
        return Reloaded(
            tuple(k for k in keys if k.split(".", 1)[1] in LIVE)
            + tuple(k for k in web if k.split(".", 1)[1] in WEB_LIVE)
        )

    return Feature(
        NAME,
        commands=people.commands(),
        tools=(ScheduleTool(scheduler),),
        start=start,
        reload=reload,
        parts={"scheduler": scheduler},
    )


def __getattr__(name: str) -> object:
    if name == "CLI":  # the command line, imported only by the command line
        from assistant.features.scheduler.cli import JOBS

        return (JOBS,)
    if name == "CHECKS":  # the doctor's, imported only by the doctor
        from assistant.features.scheduler.checks import CHECKS

        return CHECKS
    raise AttributeError(name)
