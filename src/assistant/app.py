"""The composition root: config → services in one AsyncExitStack → long-lived tasks in one
TaskGroup → signals. The only module that reads the environment and builds things."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import aiohttp
import structlog

from assistant import __version__
from assistant.agent.loop import Agent
from assistant.channels.console import ConsoleChannel
from assistant.config import Config, LiveConfig, load_config, secret_values
from assistant.core.errors import ConfigError
from assistant.core.health import ComponentState, Health
from assistant.core.metrics import Metrics
from assistant.core.ports import Channel, ManagedChannel
from assistant.core.redact import Redactor
from assistant.core.supervise import supervise
from assistant.gateway.server import Gateway
from assistant.llm.client import ModelClient
from assistant.llm.transcribe import Transcriber
from assistant.logging import setup_logging
from assistant.router.access import Access
from assistant.router.actions import ActionRegistry
from assistant.router.admin import PairingCommands
from assistant.router.commands import BuiltinCommands, CommandRegistry
from assistant.router.gate import Gate
from assistant.router.media import Media
from assistant.router.router import Router
from assistant.security.policy import Policy
from assistant.store.conversations import Conversations
from assistant.store.db import Database, prepare_state_dir
from assistant.store.inbox import Inbox
from assistant.store.pairing import Pairing
from assistant.store.users import Users
from assistant.tools.registry import ToolRegistry
from assistant.tools.system import CurrentTimeTool, SystemStatusTool

log = structlog.get_logger(__name__)

INBOX_RETENTION = 7 * 24 * 3600  # finished messages are kept a week for redelivery dedupe
_MAINTENANCE_EVERY = 3600

# Parts of the config a running daemon applies on SIGHUP: whole sections, or single fields.
_LIVE_SECTIONS = {"access", "models", "routing", "agent", "speech"}
_LIVE_FIELDS = {
    "assistant": {"name", "timezone", "system_prompt", "drain_timeout"},
    "gateway": {"admin_token"},
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


@dataclass
class Services:
    """Everything a running assistant is made of; built by ``build_services``."""

    live: LiveConfig
    health: Health
    metrics: Metrics
    redactor: Redactor
    access: Access
    policy: Policy
    client: ModelClient
    tools: ToolRegistry
    agent: Agent
    router: Router
    inbox: Inbox
    commands: CommandRegistry
    actions: ActionRegistry
    media: Media
    session: aiohttp.ClientSession
    db: Database

    @property
    def config(self) -> Config:
        return self.live.current


async def build_services(
    stack: AsyncExitStack, config: Config, *, health: Health, redactor: Redactor
) -> Services:
    metrics = Metrics()
    state_dir = config.assistant.state_dir
    prepare_state_dir(state_dir)
    db = await stack.enter_async_context(Database(state_dir / "state.db"))
    session = await stack.enter_async_context(
        aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=15),
            trust_env=True,  # honour HTTPS_PROXY for users behind a proxy
            headers={"User-Agent": f"assistant/{__version__}"},
        )
    )
    conversations = Conversations(db)
    access = Access(config.access, Users(db))
    policy = Policy(config.access.permissions)
    client = ModelClient(session, config.models, metrics=metrics, redactor=redactor)
    tools = ToolRegistry(
        metrics=metrics, timeout=config.agent.tool_timeout, max_output=config.agent.max_tool_output
    )
    tools.register(CurrentTimeTool())
    tools.register(SystemStatusTool((Path("/"), state_dir)))
    agent = Agent(
        client=client,
        tools=tools,
        policy=policy,
        conversations=conversations,
        assistant=config.assistant,
        settings=config.agent,
    )
    live = LiveConfig(config)
    inbox = Inbox(db)
    commands = CommandRegistry()
    actions = ActionRegistry()
    pairing = Pairing(db)
    media = Media(
        transcriber=_transcriber(session, config, redactor),
        max_bytes=20 * 1024 * 1024,
        max_document_chars=20_000,
    )
    router = Router(
        inbox=inbox,
        conversations=conversations,
        access=access,
        gate=Gate(access, pairing, live.get),
        policy=policy,
        agent=agent,
        commands=commands,
        actions=actions,
        media=media,
        config=live.get,
        metrics=metrics,
        max_concurrent=config.assistant.max_concurrent_turns,
    )
    BuiltinCommands(
        registry=commands,
        conversations=conversations,
        client=client,
        config=live.get,
        stats=router.stats,
    )
    PairingCommands(registry=commands, pairing=pairing, notify=router.notify)
    services = Services(
        live=live,
        health=health,
        metrics=metrics,
        redactor=redactor,
        access=access,
        policy=policy,
        client=client,
        tools=tools,
        agent=agent,
        router=router,
        inbox=inbox,
        commands=commands,
        actions=actions,
        media=media,
        session=session,
        db=db,
    )
    await stack.enter_async_context(router)
    return services


def _transcriber(
    session: aiohttp.ClientSession, config: Config, redactor: Redactor
) -> Transcriber | None:
    if config.speech is None:
        return None
    return Transcriber(session, config.speech, redactor=redactor)


def make_channel(
    name: str,
    config: Config,
    *,
    session: aiohttp.ClientSession,
    health: Health,
    redactor: Redactor,
    commands: list[tuple[str, str]] | None = None,
    db: Database | None = None,
) -> ManagedChannel:
    """One platform adapter (not yet opened); its SDK is imported only here.

    ``db`` is needed to receive (Feishu remembers event ids there), not to send.
    """
    if name == "telegram":
        from assistant.channels.telegram.adapter import TelegramChannel

        return TelegramChannel(
            config.telegram,
            session=session,
            health=health,
            redactor=redactor,
            commands=commands or [],
        )
    if name == "feishu":
        # lark-oapi itself is imported only by the long connection's thread, when it starts
        from assistant.channels.feishu.adapter import FeishuChannel
        from assistant.store.seen import SeenEvents

        return FeishuChannel(
            config.feishu,
            session=session,
            health=health,
            redactor=redactor,
            seen=SeenEvents(db) if db is not None else None,
        )
    raise ConfigError([f"unknown channel {name!r}; known: telegram, feishu"])


def enabled_channels(config: Config) -> list[str]:
    enabled = {"telegram": config.telegram.enabled, "feishu": config.feishu.enabled}
    return [name for name, on in enabled.items() if on]


async def build_channels(stack: AsyncExitStack, services: Services) -> list[Channel]:
    """Open the chat platform adapters the config enables and hand them to the router."""
    config = services.config
    commands = [(c.name, c.summary) for c in services.commands.all()]
    channels: list[Channel] = []
    for name in enabled_channels(config):
        channel = make_channel(
            name,
            config,
            session=services.session,
            health=services.health,
            redactor=services.redactor,
            commands=commands,
            db=services.db,
        )
        channels.append(await stack.enter_async_context(channel))
    for opened in channels:
        section = config.telegram if opened.name == "telegram" else config.feishu
        services.media.set_limits(
            opened.name,
            max_bytes=int(section.max_file_mb * 1024 * 1024),
            max_document_chars=section.max_document_chars,
        )
        services.router.add_channel(opened)
        services.health.register(f"channel.{opened.name}")
    return channels


def apply_config(services: Services, new: Config) -> tuple[list[str], list[str]]:
    applied, restart = config_changes(services.config, new)
    services.access.configure(new.access)
    services.policy.configure(new.access.permissions)
    services.client.configure(new.models)
    services.agent.configure(new.assistant, new.agent)
    services.tools.timeout = new.agent.tool_timeout
    services.tools.max_output = new.agent.max_tool_output
    services.redactor.set_literals(secret_values(new))
    services.media.transcriber = _transcriber(services.session, new, services.redactor)
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
                await services.router.recover()
                self.health.set("router", ComponentState.READY)
                log.info(
                    "assistant.started",
                    version=__version__,
                    seconds=round(time.monotonic() - started, 3),
                    models=[m.name for m in self.config.models],
                    gateway=self.gateway.port if self.gateway else None,
                )
                self.ready.set()
                await self._serve(services, channels)
                drain = services.config.assistant.drain_timeout
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
            await self._stop.wait()
            for task in tasks:  # stop intake; replies can still be sent while draining
                task.cancel()

    async def _reload_loop(self) -> None:
        while True:
            await self._reloads.get()
            self.reload()

    def reload(self) -> tuple[list[str], list[str]] | None:
        """Re-read the config file and apply what can change live.

        Returns (applied, needs restart), or None when the new file is invalid: then the
        running config stays.
        """
        assert self.services is not None
        try:
            new = load_config(self.config_path, self.env)
        except ConfigError as exc:
            log.error("config.reload_refused", problems=exc.problems, path=str(self.config_path))
            return None
        applied, restart = apply_config(self.services, new)
        if self.gateway is not None:
            self.gateway.configure(new.gateway)
        self.config = new
        log.info("config.reloaded", applied=applied, needs_restart=restart)
        return applied, restart

    async def _maintenance(self, services: Services) -> None:
        inbox = services.inbox
        while True:
            purged = await inbox.purge(time.time() - INBOX_RETENTION)
            if purged:
                log.info("inbox.purged", messages=purged)
            await asyncio.sleep(_MAINTENANCE_EVERY)

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
        services = await build_services(stack, config, health=health, redactor=redactor)
        router = services.router
        console = ConsoleChannel(
            wait_idle=router.wait_idle,
            lines=[message] if message is not None else None,
            stdin=stdin,
            stdout=stdout,
        )
        router.add_channel(console)
        await router.recover()
        await console.run(router.submit)
        await router.drain(config.assistant.drain_timeout)
    return 0
