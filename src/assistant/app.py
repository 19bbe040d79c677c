"""The composition root: config → the kernel and the enabled features in one AsyncExitStack →
long-lived tasks in one TaskGroup → signals. It wires what the features return and holds no
logic of its own; it is the only module that reads the environment.

Start-up is staged: the kernel and every feature are set up (channels open, nothing heavy is
loaded), the previous run's unfinished messages are queued again, and the channels serve; the
features' ``start`` work (opening the memory store, loading the embedder, firing jobs) runs
beside them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import structlog

from assistant import __version__, features, upkeep
from assistant.channels.console import ConsoleChannel
from assistant.config import Config, load_config, secret_values
from assistant.core.commands import Command, CommandCall
from assistant.core.errors import ConfigError
from assistant.core.health import ComponentState, Health
from assistant.core.i18n import tr
from assistant.core.ports import Channel, Clock
from assistant.core.redact import Redactor
from assistant.core.sdnotify import Notifier
from assistant.core.supervise import supervise
from assistant.feature import RELOADER, Component, Feature, Unconfigured, changed_keys
from assistant.gateway.server import Gateway
from assistant.kernel import Context, FeatureModule, build_kernel, reload_kernel, wire
from assistant.logging import setup_logging
from assistant.store.db import prepare_state_dir
from assistant.store.lock import daemon_lock

log = structlog.get_logger(__name__)

CONSOLE_JOBS = "jobs-console"  # `assistant chat` fires the console's jobs, under its own lock


@dataclass
class Assembly:
    """The kernel and the features set up on it."""

    ctx: Context
    features: list[Feature] = field(default_factory=list)

    def part(self, name: str) -> Any:
        """A part a feature named (``Feature.parts``): the memory service, the scheduler…"""
        for feature in self.features:
            if name in feature.parts:
                return feature.parts[name]
        return None

    @property
    def channels(self) -> list[Channel]:
        return [c for f in self.features for c in f.channels]

    def components(self) -> list[Component]:
        found = upkeep.components(self.ctx, self.channels)
        return found + [c for f in self.features for c in f.components]

    async def start(self, tg: asyncio.TaskGroup | None = None) -> list[asyncio.Task[None]]:
        """Queue again what a previous run left unfinished, then the features' start work:
        beside the channels in ``tg`` (the tasks are returned), or here, to the end."""
        await self.ctx.router.recover()
        starts = [(f.name, f.start) for f in self.features if f.start is not None]
        if tg is None:
            for name, start in starts:
                await _started(name, start)
            return []
        return [tg.create_task(_started(n, s), name=f"start.{n}") for n, s in starts]

    async def reload(self, new: Config) -> tuple[list[str], list[str]]:
        """Apply ``new``: (keys applied live, keys that need a restart)."""
        old = self.ctx.config
        applied = set((await reload_kernel(self.ctx, old, new)).applied)
        for feature in self.features:
            if feature.reload is not None:
                applied.update((await feature.reload(old, new)).applied)
        self.ctx.live.current = new
        changed = config_changes(old, new)
        return (
            [k for k in changed if k in applied],
            [k for k in changed if k not in applied],
        )


async def _started(name: str, start: Any) -> None:
    try:
        await start()
    except Exception:  # one feature's start-up must not stop the others
        log.exception("feature.start_failed", feature=name)


def config_changes(old: Config, new: Config) -> list[str]:
    """Dotted names of what differs: fields of table sections, whole list sections."""
    changed: list[str] = []
    for section in type(old).model_fields:
        before, after = getattr(old, section), getattr(new, section)
        if before == after:
            continue
        keys = changed_keys(before, after, section)
        changed += keys or [section]
    return changed


async def assemble(
    stack: AsyncExitStack,
    config: Config,
    *,
    health: Health,
    redactor: Redactor,
    modules: Sequence[FeatureModule] | None = None,
    extra: Sequence[FeatureModule] = (),
    channels: Sequence[Channel] = (),
    clock: Clock | None = None,
    options: Mapping[str, Any] | None = None,
) -> Assembly:
    """The kernel, and every feature the config enables (``modules``: these instead), plus
    ``extra`` ones; ``channels`` are added as they are (the terminal, a test's)."""
    ctx = await build_kernel(
        stack, config, health=health, redactor=redactor, clock=clock, options=options
    )
    for channel in channels:
        ctx.router.add_channel(channel)
    assembly = Assembly(ctx)
    chosen = features.enabled(config) if modules is None else list(modules)
    for module in [*chosen, *extra]:
        feature = await module.setup(ctx)
        wire(ctx, feature)
        assembly.features.append(feature)
    for module in features.disabled(config):
        if module not in chosen:
            offer = getattr(module, "UNCONFIGURED", None)
            if offer is not None:
                for command in unconfigured_commands(offer):
                    ctx.commands.register(command)
    return assembly


def unconfigured_commands(offer: Unconfigured) -> list[Command]:
    """Commands that answer how to set their feature up (instead of "Unknown command")."""

    def answer(name: str) -> Callable[[CommandCall], Awaitable[str]]:
        async def reply(call: CommandCall) -> str:
            return f"/{name}: {tr(offer.hint)}."

        return reply

    return [
        Command(name, offer.hint, permission, answer(name), setup_hint=offer.hint)
        for name, permission in offer.commands
    ]


class Daemon:
    """``assistant run``: every enabled feature until SIGTERM/SIGINT."""

    def __init__(
        self,
        config: Config,
        *,
        config_path: Path,
        env: Mapping[str, str],
        configure_logging: bool = True,
        log_stream: TextIO | None = None,
        extra: Sequence[FeatureModule] = (),
        clock: Clock | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.config = config
        self._options = options or {}  # test seams (e.g. an embedder already loaded)
        self._clock = clock  # None: the system clock
        self._extra = extra  # features beyond the registry's (a test's, a plugin's)
        self.config_path = config_path
        self.env = env
        self.health = Health()
        self.redactor = Redactor(secret_values(config))
        self._configure_logging = configure_logging
        self._log_stream = log_stream
        self._stop = asyncio.Event()
        self._reloads: asyncio.Queue[None] = asyncio.Queue()
        self.assembly: Assembly | None = None
        self.gateway: Gateway | None = None
        self.ready = asyncio.Event()
        self.notifier = Notifier(env)
        self._started = time.monotonic()

    def _say_what_is_missing(self, assembly: Assembly) -> None:
        """One line for each thing a new install still lacks, and what to do about it."""
        config, where = self.config, str(self.config_path)
        if not [c for c in assembly.channels if c.name != "console"]:  # only the owner's
            log.warning(
                "config.no_channel",
                fix="nobody can reach the assistant: set [telegram], [feishu], [slack] or "
                f"[whatsapp] enabled = true in {where} with its token; meanwhile `assistant chat` "
                "talks to it here",
            )
        if not config.models:
            log.warning(
                "config.no_model",
                fix=f"chat answers with a hint until a [[models]] entry is added to {where}",
            )
        if not config.access.owners:
            log.warning(
                "config.no_owner",
                fix=f'nobody is owner: add your account (e.g. "telegram:123456789") to '
                f"[access] owners in {where}, or approve your pairing code with "
                "`assistant pairing approve CHANNEL CODE`",
            )

    def _no_model_hint(self) -> tuple[str, str]:
        from assistant.agent.loop import APPLY_DAEMON, APPLY_SYSTEMD

        under_systemd = bool(self.env.get("INVOCATION_ID"))  # systemd sets it for a unit
        return str(self.config_path), APPLY_SYSTEMD if under_systemd else APPLY_DAEMON

    @property
    def services(self) -> Context | None:
        """The kernel's services (what tests and the status page look at)."""
        return self.assembly.ctx if self.assembly is not None else None

    def stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        self._reloads.put_nowait(None)

    async def run(self) -> int:
        if self._configure_logging:
            setup_logging(
                level=self.config.logging.level,
                fmt=self.config.logging.format,
                redactor=self.redactor,
                stream=self._log_stream,
            )
        started = self._started = time.monotonic()
        loop = asyncio.get_running_loop()
        with contextlib.ExitStack() as signals:
            for signum, handler in (
                (signal.SIGTERM, self.stop),
                (signal.SIGINT, self.stop),
                (signal.SIGHUP, self.request_reload),
            ):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.add_signal_handler(signum, handler)
                    signals.callback(loop.remove_signal_handler, signum)
            async with AsyncExitStack() as stack:
                prepare_state_dir(self.config.assistant.state_dir)
                await stack.enter_async_context(daemon_lock(self.config.assistant.state_dir))
                assembly = await assemble(
                    stack,
                    self.config,
                    health=self.health,
                    redactor=self.redactor,
                    extra=self._extra,
                    options={"no_model_hint": self._no_model_hint(), **self._options},
                    clock=self._clock,
                )
                self.assembly = assembly
                ctx = assembly.ctx
                ctx.ports.provide(RELOADER, self)  # the console's reload button
                if self.config.gateway.enabled:
                    gateway = Gateway(
                        self.config.gateway,
                        health=self.health,
                        metrics=ctx.metrics,
                        status=self.status,
                    )
                    for feature in assembly.features:
                        for route in feature.routes:
                            gateway.add_route(route.method, route.path, route.handler)
                    self.gateway = await stack.enter_async_context(gateway)
                self.health.register("router")
                self.health.set("router", ComponentState.READY)
                log.info(
                    "assistant.started",
                    version=__version__,
                    seconds=round(time.monotonic() - started, 3),
                    models=[m.name for m in self.config.models],
                    features=[f.name for f in assembly.features],
                    gateway=self.gateway.port if self.gateway else None,
                )
                self._say_what_is_missing(assembly)
                await self._serve(assembly)
                drain = ctx.config.assistant.drain_timeout
                self.notifier.stopping(f"draining turns in progress (up to {drain:g}s)")
                self.health.set("router", ComponentState.STOPPED, "draining")
                log.info("assistant.stopping", drain_timeout=drain)
                await ctx.router.drain(drain)
        log.info("assistant.stopped")
        return 0

    async def _serve(self, assembly: Assembly) -> None:
        ctx = assembly.ctx
        async with asyncio.TaskGroup() as tg:
            tasks = [
                tg.create_task(
                    supervise(
                        f"channel.{channel.name}",
                        _runner(channel, ctx),
                        health=self.health,
                        redactor=self.redactor,
                        clock=ctx.clock,
                    ),
                    name=f"channel.{channel.name}",
                )
                for channel in assembly.channels
            ]
            tasks += [
                tg.create_task(
                    supervise(
                        c.name, c.run, health=self.health, redactor=self.redactor, clock=ctx.clock
                    ),
                    name=c.name,
                )
                for c in assembly.components()
            ]
            tasks.append(tg.create_task(self._reload_loop(), name="reload"))
            starting = await assembly.start(tg)
            tasks += starting
            tasks.append(tg.create_task(self._loaded(starting), name="loaded"))
            self.ready.set()  # the channels serve; heavy parts may still be loading
            self.notifier.ready(self._summary())
            if self.notifier.watchdog_interval is not None:  # pings follow READY
                tasks.append(tg.create_task(self._watchdog(), name="watchdog"))
            await self._stop.wait()
            for task in tasks:  # stop intake; replies can still be sent while draining
                task.cancel()

    async def _loaded(self, starting: list[asyncio.Task[None]]) -> None:
        if starting:
            await asyncio.wait(starting)
        # What start-up loaded (pydantic's models, chromadb, lark-oapi: hundreds of
        # thousands of objects) lives as long as the process: keep it out of the garbage
        # collector's full passes, which otherwise pause the loop for ~100 ms.
        gc.collect()
        gc.freeze()
        log.info("assistant.loaded", seconds=round(time.monotonic() - self._started, 3))

    async def _reload_loop(self) -> None:
        while True:
            await self._reloads.get()
            self.notifier.reloading()
            result = await self.reload()
            refused = "; the new config was refused (see the log)" if result is None else ""
            self.notifier.ready(self._summary() + refused)

    async def _watchdog(self) -> None:
        """Ping systemd's watchdog from the event loop: a loop that hangs stops pinging."""
        interval = self.notifier.watchdog_interval
        assert interval is not None
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(interval)

    def _summary(self) -> str:
        down = [name for name, up in self.health.up().items() if not up]
        models = len(self.config.models)
        where = f", gateway on port {self.gateway.port}" if self.gateway else ""
        state = f"degraded: {', '.join(sorted(down))} not ready" if down else "ready"
        return f"{state}; {models} model(s){where}"

    async def reload(self) -> tuple[list[str], list[str]] | None:
        """Re-read the config file and apply what can change live.

        Returns (applied, needs restart), or None when the new file is invalid: then the
        running config stays.
        """
        assert self.assembly is not None
        audit = self.assembly.ctx.audit
        try:
            new = load_config(self.config_path, self.env)
        except ConfigError as exc:
            log.error("config.reload_refused", problems=exc.problems, path=str(self.config_path))
            await audit.append("config.reload_refused", "daemon", problems=exc.problems)
            return None
        old = self.config
        applied, restart = await self.assembly.reload(new)
        if self.gateway is not None:
            self.gateway.configure(new.gateway)
            if old.gateway.admin_token != new.gateway.admin_token:
                applied.append("gateway.admin_token")
                restart.remove("gateway.admin_token")
        self.config = new
        log.info("config.reloaded", applied=applied, needs_restart=restart)
        await audit.append("config.reload", "daemon", applied=applied, needs_restart=restart)
        return applied, restart

    def status(self) -> dict[str, Any]:
        ctx = self.services
        stats = ctx.router.stats() if ctx else None
        return {
            "version": __version__,
            "ready": self.health.is_ready(),
            "uptime": round(time.time() - stats.started_at, 1) if stats else 0,
            "queue": {"waiting": stats.waiting, "running": stats.running} if stats else {},
            "models": [m.name for m in self.config.models],
            "features": [f.name for f in self.assembly.features] if self.assembly else [],
            "components": self.health.snapshot(),
        }


def _runner(channel: Channel, ctx: Context):  # type: ignore[no-untyped-def]
    async def run() -> None:
        await channel.run(ctx.router.submit)

    return run


async def run_chat(
    config: Config,
    *,
    message: str | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    configure_logging: bool = True,
    config_path: Path | None = None,
) -> int:
    """``assistant chat``: a conversation in the terminal through the same router and state."""
    from assistant.agent.loop import APPLY_CHAT

    redactor = Redactor(secret_values(config))
    if configure_logging:  # warnings only, on stderr; in the configured format
        fmt = "console" if config.logging.format == "auto" else config.logging.format
        setup_logging(level="warning", fmt=fmt, redactor=redactor, stream=sys.stderr)
    health = Health()
    async with AsyncExitStack() as stack:
        idle: list[Callable[[str], Awaitable[None]]] = []

        async def wait_idle(chat: str) -> None:
            await idle[0](chat)

        console = ConsoleChannel(
            wait_idle=wait_idle,
            lines=[message] if message is not None else None,
            stdin=stdin,
            stdout=stdout,
        )
        # the terminal is the only channel here: chat platforms are the daemon's
        modules = [m for m in features.enabled(config) if not getattr(m, "CHANNEL", False)]
        assembly = await assemble(
            stack,
            config,
            health=health,
            redactor=redactor,
            modules=modules,
            channels=[console],
            options={
                "jobs_name": CONSOLE_JOBS,
                "no_model_hint": (str(config_path or ""), APPLY_CHAT),
            },
        )
        idle.append(assembly.ctx.router.wait_idle)
        await assembly.start()
        await console.run(assembly.ctx.router.submit)
        await assembly.ctx.router.drain(config.assistant.drain_timeout)
    return 0
