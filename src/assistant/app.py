"""The composition root: config → services in one AsyncExitStack → long-lived tasks in one
TaskGroup → signals. The only module that reads the environment and builds things."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import sys
import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import structlog

from assistant import __version__
from assistant.channels.console import ConsoleChannel
from assistant.channels.quarantine import redeliver_requested
from assistant.components import CONSOLE_JOBS_STORE
from assistant.config import Config, load_config, secret_values
from assistant.core.errors import ConfigError, StateError
from assistant.core.health import ComponentState, Health
from assistant.core.ports import Channel, Redeliverable
from assistant.core.redact import Redactor
from assistant.core.sdnotify import Notifier
from assistant.core.supervise import supervise
from assistant.gateway.server import Gateway
from assistant.logging import setup_logging
from assistant.router.router import Router
from assistant.services import (
    Services,
    build_channels,
    build_services,
    start_services,
    transcriber,
)
from assistant.store.db import prepare_state_dir
from assistant.store.dead_letters import KEEP as DEAD_LETTERS_KEPT
from assistant.store.dead_letters import DeadLetters
from assistant.store.lock import daemon_lock
from assistant.store.retention import prune

log = structlog.get_logger(__name__)

INBOX_RETENTION = 7 * 24 * 3600  # finished messages are kept a week for redelivery dedupe
_MAINTENANCE_EVERY = 3600
_PRUNE_EVERY = 24 * 3600  # [limits] retention: at start, then daily
DEAD_LETTER_CHECK = 5.0  # seconds between looks for dead letters an operator wants retried

# Parts of the config a running daemon applies on SIGHUP: whole sections, or single fields.
_LIVE_SECTIONS = {"access", "limits", "models", "routing", "agent", "speech", "ssh"}
_LIVE_FIELDS = {
    "assistant": {"name", "timezone", "system_prompt", "drain_timeout"},
    "gateway": {"admin_token"},
    "memory": {
        "recall_top_k",
        "min_similarity",
        "recall_tokens",
        "dedupe_similarity",
        "shared",
        "summaries",
    },
    "scheduler": {"misfire_grace", "min_interval", "check_cooldown", "max_jobs_per_user"},
}


def config_changes(old: Config, new: Config) -> tuple[list[str], list[str]]:
    """(applied live, needs a restart): the dotted names of what differs."""
    applied: list[str] = []
    restart: list[str] = []
    for section in type(old).model_fields:
        before, after = getattr(old, section), getattr(new, section)
        if before == after:
            continue
        if section in _LIVE_SECTIONS:
            applied.append(section)
            continue
        for field in type(before).model_fields:
            if getattr(before, field) != getattr(after, field):
                live = field in _LIVE_FIELDS.get(section, set())
                (applied if live else restart).append(f"{section}.{field}")
    return applied, restart


def apply_config(services: Services, new: Config) -> tuple[list[str], list[str]]:
    applied, restart = config_changes(services.config, new)
    services.access.configure(new.access)
    services.policy.configure(new.access.permissions)
    services.client.configure(new.models)
    services.agent.configure(new.assistant, new.agent)
    services.tools.timeout = new.agent.tool_timeout
    services.tools.max_output = new.agent.max_tool_output
    if services.memory is not None:
        services.memory.configure(new.memory, ZoneInfo(new.assistant.timezone))
    if services.scheduler is not None:
        services.scheduler.configure(new.scheduler, new.assistant.timezone)
    services.redactor.set_literals(secret_values(new))
    services.media.transcriber = transcriber(services.session, new, services.redactor)
    if services.ops is not None:
        services.ops.configure(new)
    services.live.current = new
    return applied, restart


class Daemon:
    """``assistant run``: every enabled component until SIGTERM/SIGINT."""

    def __init__(
        self,
        config: Config,
        *,
        config_path: Path,
        env: Mapping[str, str],
        configure_logging: bool = True,
        log_stream: TextIO | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.env = env
        self.health = Health()
        self.redactor = Redactor(secret_values(config))
        self._configure_logging = configure_logging
        self._log_stream = log_stream
        self._stop = asyncio.Event()
        self._reloads: asyncio.Queue[None] = asyncio.Queue()
        self.services: Services | None = None
        self.gateway: Gateway | None = None
        self.ready = asyncio.Event()
        self.notifier = Notifier(env)

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
        started = time.monotonic()
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
                services = await build_services(
                    stack, self.config, health=self.health, redactor=self.redactor
                )
                self.services = services
                channels = await build_channels(stack, services)
                if self.config.gateway.enabled:
                    gateway = Gateway(
                        self.config.gateway,
                        health=self.health,
                        metrics=services.metrics,
                        status=self.status,
                    )
                    for channel in channels:
                        for method, path, handler in getattr(channel, "routes", list)():
                            gateway.add_route(method, path, handler)
                    self.gateway = await stack.enter_async_context(gateway)
                self.health.register("router")
                await start_services(services)
                self.health.set("router", ComponentState.READY)
                # What start-up loaded (aiogram's and pydantic's models, hundreds of thousands
                # of objects) lives as long as the process: keep it out of the garbage
                # collector's full passes, which otherwise pause the loop for ~100 ms.
                gc.collect()
                gc.freeze()
                log.info(
                    "assistant.started",
                    version=__version__,
                    seconds=round(time.monotonic() - started, 3),
                    models=[m.name for m in self.config.models],
                    gateway=self.gateway.port if self.gateway else None,
                )
                self.ready.set()
                self.notifier.ready(self._summary())
                await self._serve(services, channels)
                drain = services.config.assistant.drain_timeout
                self.notifier.stopping(f"draining turns in progress (up to {drain:g}s)")
                self.health.set("router", ComponentState.STOPPED, "draining")
                log.info("assistant.stopping", drain_timeout=drain)
                await services.router.drain(drain)
        log.info("assistant.stopped")
        return 0

    async def _serve(self, services: Services, channels: list[Channel]) -> None:
        async with asyncio.TaskGroup() as tg:
            tasks = [
                tg.create_task(
                    supervise(
                        f"channel.{channel.name}",
                        _runner(channel, services.router),
                        health=self.health,
                        redactor=self.redactor,
                    ),
                    name=f"channel.{channel.name}",
                )
                for channel in channels
            ]
            tasks.append(tg.create_task(self._reload_loop(), name="reload"))
            tasks.append(tg.create_task(self._maintenance(services), name="maintenance"))
            tasks.append(
                tg.create_task(self._redeliveries(services, channels), name="dead-letters")
            )
            if self.notifier.watchdog_interval is not None:
                tasks.append(tg.create_task(self._watchdog(), name="watchdog"))
            await self._stop.wait()
            for task in tasks:  # stop intake; replies can still be sent while draining
                task.cancel()

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
        assert self.services is not None
        try:
            new = load_config(self.config_path, self.env)
        except ConfigError as exc:
            log.error("config.reload_refused", problems=exc.problems, path=str(self.config_path))
            await self.services.audit.append(
                "config.reload_refused", "daemon", problems=exc.problems
            )
            return None
        applied, restart = apply_config(self.services, new)
        if self.gateway is not None:
            self.gateway.configure(new.gateway)
        self.config = new
        log.info("config.reloaded", applied=applied, needs_restart=restart)
        await self.services.audit.append(
            "config.reload", "daemon", applied=applied, needs_restart=restart
        )
        return applied, restart

    async def _maintenance(self, services: Services) -> None:
        inbox = services.inbox
        pruned_at: float | None = None
        while True:
            now = time.time()
            purged = await inbox.purge(now - INBOX_RETENTION)
            if purged:
                log.info("inbox.purged", messages=purged)
            if pruned_at is None or now - pruned_at >= _PRUNE_EVERY:
                pruned_at = now
                limits = services.config.limits
                pruned = await prune(
                    services.db,
                    now=now,
                    retention_days=limits.retention_days,
                    messages_per_conversation=limits.messages_per_conversation,
                )
                log.info("state.pruned", **asdict(pruned))
            await asyncio.sleep(_MAINTENANCE_EVERY)

    async def _redeliveries(self, services: Services, channels: list[Channel]) -> None:
        """Dead letters whose retry was asked for (``assistant inbox dead-letters --retry``)."""
        takers: dict[str, Redeliverable] = {
            channel.name: channel for channel in channels if isinstance(channel, Redeliverable)
        }
        if not takers:
            return
        letters = DeadLetters(services.db)
        trimmed_at = -float(_MAINTENANCE_EVERY)
        while True:
            try:
                await redeliver_requested(letters, takers, self.redactor)
                if time.monotonic() - trimmed_at >= _MAINTENANCE_EVERY:
                    trimmed_at = time.monotonic()
                    if dropped := await letters.trim(DEAD_LETTERS_KEPT):
                        log.info("inbox.dead_letters_trimmed", dropped=dropped)
            except StateError as exc:  # the database refuses for now; the requests stay
                log.warning("inbox.dead_letter_check_failed", error=str(exc))
            await asyncio.sleep(DEAD_LETTER_CHECK)

    def status(self) -> dict[str, Any]:
        services = self.services
        stats = services.router.stats() if services else None
        return {
            "version": __version__,
            "ready": self.health.is_ready(),
            "uptime": round(time.time() - stats.started_at, 1) if stats else 0,
            "queue": {"waiting": stats.waiting, "running": stats.running} if stats else {},
            "models": [m.name for m in self.config.models],
            "components": self.health.snapshot(),
        }


def _runner(channel: Channel, router: Router):  # type: ignore[no-untyped-def]
    async def run() -> None:
        await channel.run(router.submit)

    return run


async def run_chat(
    config: Config,
    *,
    message: str | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    configure_logging: bool = True,
) -> int:
    """``assistant chat``: a conversation in the terminal through the same router and state."""
    redactor = Redactor(secret_values(config))
    if configure_logging:
        setup_logging(level="warning", fmt="console", redactor=redactor, stream=sys.stderr)
    health = Health()
    async with AsyncExitStack() as stack:
        services = await build_services(
            stack, config, health=health, redactor=redactor, jobs_store=CONSOLE_JOBS_STORE
        )
        router = services.router
        console = ConsoleChannel(
            wait_idle=router.wait_idle,
            lines=[message] if message is not None else None,
            stdin=stdin,
            stdout=stdout,
        )
        router.add_channel(console)
        await start_services(services)
        await console.run(router.submit)
        await router.drain(config.assistant.drain_timeout)
    return 0
