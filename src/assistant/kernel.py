"""The kernel: what every assistant has, built once, and the ``Context`` features are set up with.

State (SQLite), the HTTP session, the model client, access and roles, the router with its
built-in commands, the agent and the tool registry. Everything optional — chat platforms,
SSH, memory, the scheduler, pairing — is a feature (``assistant.features``) that receives this
``Context`` and returns what it adds. The kernel applies a reloaded config to its own parts in
``reload_kernel``; features apply theirs.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from assistant import __version__
from assistant.agent.loop import Agent
from assistant.config import Config, LiveConfig, secret_values
from assistant.core import i18n
from assistant.core.health import Health
from assistant.core.messages import ChatRef, Sender
from assistant.core.metrics import Metrics
from assistant.core.ports import Clock, SystemClock
from assistant.core.redact import Redactor
from assistant.feature import RECALLER, Feature, Ports, Reloaded, changed_keys
from assistant.llm.client import ModelClient
from assistant.llm.transcribe import Transcriber
from assistant.router.access import Access
from assistant.router.actions import ActionRegistry
from assistant.router.budget import TokenBudget
from assistant.router.commands import BuiltinCommands, CommandRegistry
from assistant.router.gate import Gate
from assistant.router.limits import IntakeLimits
from assistant.router.locale import Locales
from assistant.router.media import Media
from assistant.router.router import Router
from assistant.security.policy import Policy
from assistant.store.audit import AuditLog
from assistant.store.conversations import Conversations
from assistant.store.db import Database, prepare_state_dir
from assistant.store.deliveries import DeliveryLog
from assistant.store.inbox import Inbox
from assistant.store.lock import state_lock
from assistant.store.pairing import Pairing
from assistant.store.people import People
from assistant.store.scratch import remove_stale
from assistant.store.users import Users
from assistant.tools.files import SendFileTool
from assistant.tools.registry import ToolRegistry
from assistant.tools.system import CurrentTimeTool, SystemStatusTool


@dataclass
class Context:
    """What a feature's ``setup`` gets: the kernel's services, the config in force, the exit
    stack to register its teardown on, and the ports to offer and find implementations."""

    stack: AsyncExitStack
    live: LiveConfig
    health: Health
    metrics: Metrics
    redactor: Redactor
    clock: Clock
    db: Database
    session: aiohttp.ClientSession
    audit: AuditLog
    inbox: Inbox
    conversations: Conversations
    access: Access
    policy: Policy
    client: ModelClient
    tools: ToolRegistry
    agent: Agent
    router: Router
    commands: CommandRegistry
    actions: ActionRegistry
    media: Media
    pairing: Pairing
    budget: TokenBudget
    locales: Locales
    ports: Ports
    options: Mapping[str, Any] = field(default_factory=dict)  # test seams (e.g. an embedder)

    @property
    def config(self) -> Config:
        return self.live.current

    @property
    def state_dir(self) -> Path:
        return self.live.current.assistant.state_dir

    def timezone(self) -> str:
        """The zone of the person being answered (/tz), else ``[assistant] timezone``."""
        return i18n.current_zone(self.live.current.assistant.timezone)


class FeatureModule(Protocol):
    """A package under ``assistant.features``: importing it is cheap (its heavy libraries are
    imported in ``setup``)."""

    NAME: str

    def enabled(self, config: Config) -> bool: ...

    async def setup(self, ctx: Context) -> Feature: ...


class _Recall:
    """The agent's recall: whatever feature provides one (memory), found per turn."""

    def __init__(self, ports: Ports) -> None:
        self._ports = ports

    async def recall(self, chat: ChatRef, sender: Sender, text: str) -> str | None:
        recaller = self._ports.get(RECALLER)
        return await recaller.recall(chat, sender, text) if recaller is not None else None


async def build_kernel(
    stack: AsyncExitStack,
    config: Config,
    *,
    health: Health,
    redactor: Redactor,
    clock: Clock | None = None,
    options: Mapping[str, Any] | None = None,
) -> Context:
    metrics = Metrics()
    clock = clock or SystemClock()
    state_dir = config.assistant.state_dir
    prepare_state_dir(state_dir)
    stack.enter_context(state_lock(state_dir))  # `assistant restore` waits for us to stop
    remove_stale(state_dir)  # what a backup killed on its way left
    db = await stack.enter_async_context(Database(state_dir / "state.db", check=True))
    session = await stack.enter_async_context(
        aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=15),
            # aiohttp's default cap (100 connections) would make turns and the Telegram poller
            # queue for each other; a turn holds at most two (the model, the chat)
            connector=aiohttp.TCPConnector(limit=2 * config.assistant.max_concurrent_turns + 20),
            trust_env=proxy_in_env(),  # honour HTTPS_PROXY for users behind a proxy
            headers={"User-Agent": f"assistant/{__version__}"},
            json_serialize=compact_json,  # every byte of a prompt is sent on every turn
        )
    )
    live = LiveConfig(config)
    ports = Ports()
    conversations = Conversations(db)
    access = Access(config.access, Users(db))
    policy = Policy(config.access.permissions)
    client = ModelClient(session, config.models, metrics=metrics, redactor=redactor)
    tools = ToolRegistry(
        metrics=metrics,
        redactor=redactor,
        timeout=config.agent.tool_timeout,
        max_output=config.agent.max_tool_output,
    )
    tools.register(CurrentTimeTool(clock))
    tools.register(SystemStatusTool((Path("/"), state_dir)))
    tools.register(SendFileTool(redactor, lambda: live.get().agent.send_file_max_kb * 1024))
    agent = Agent(
        client=client,
        tools=tools,
        policy=policy,
        assistant=config.assistant,
        settings=config.agent,
        recall=_Recall(ports),
        no_model=(options or {}).get("no_model_hint"),
        clock=clock,
    )
    inbox = Inbox(db)
    commands = CommandRegistry()
    actions = ActionRegistry()
    pairing = Pairing(db, clock=clock)
    budget = TokenBudget(conversations, live.get, metrics, clock)
    media = Media(
        transcriber=transcriber(session, config, redactor),
        max_bytes=20 * 1024 * 1024,
        max_document_chars=20_000,
    )
    people = People(db)
    locales = Locales(people, live.get)
    router = Router(
        inbox=inbox,
        deliveries=DeliveryLog(db),
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
        limits=IntakeLimits(live.get, metrics, clock),
        budget=budget,
        locales=locales,
        clock=clock,
    )
    builtin = BuiltinCommands(
        registry=commands,
        conversations=conversations,
        client=client,
        config=live.get,
        stats=router.stats,
        ports=ports,
        budget=budget,
        people=people,
    )
    for command in builtin.commands():
        commands.register(command)
    await stack.enter_async_context(router)
    return Context(
        stack=stack,
        live=live,
        health=health,
        metrics=metrics,
        redactor=redactor,
        clock=clock,
        db=db,
        session=session,
        audit=AuditLog(db, redactor),
        inbox=inbox,
        conversations=conversations,
        access=access,
        policy=policy,
        client=client,
        tools=tools,
        agent=agent,
        router=router,
        commands=commands,
        actions=actions,
        media=media,
        pairing=pairing,
        budget=budget,
        locales=locales,
        ports=ports,
        options=dict(options or {}),
    )


def wire(ctx: Context, feature: Feature) -> None:
    """Register what ``feature`` adds with the kernel (the gateway routes and the components
    are the root's)."""
    for command in feature.commands:
        ctx.commands.register(command)
    for action in feature.actions:
        ctx.actions.register(action.prefix, action.permission, action.handler)
    for tool in feature.tools:
        ctx.tools.register(tool)
    for channel in feature.channels:
        ctx.router.add_channel(channel)
        ctx.health.register(f"channel.{channel.name}")


# Sections and fields of the kernel's own parts that a running assistant applies on reload.
_KERNEL_SECTIONS = ("access", "limits", "models", "routing", "agent", "speech")
_KERNEL_FIELDS = {
    "assistant": ("name", "timezone", "system_prompt", "drain_timeout"),
}


async def reload_kernel(ctx: Context, old: Config, new: Config) -> Reloaded:
    """Apply ``new`` to the kernel's parts; the keys applied."""
    ctx.access.configure(new.access)
    ctx.policy.configure(new.access.permissions)
    ctx.client.configure(new.models)
    ctx.agent.configure(new.assistant, new.agent)
    ctx.tools.timeout = new.agent.tool_timeout
    ctx.tools.max_output = new.agent.max_tool_output
    ctx.redactor.set_literals(secret_values(new))
    ctx.media.transcriber = transcriber(ctx.session, new, ctx.redactor)
    applied: list[str] = []
    for section in _KERNEL_SECTIONS:
        applied += changed_keys(getattr(old, section), getattr(new, section), section)
        if getattr(old, section) != getattr(new, section) and section not in applied:
            applied.append(section)  # a list or table section (models, routing) as a whole
    for section, fields in _KERNEL_FIELDS.items():
        keys = changed_keys(getattr(old, section), getattr(new, section), section)
        applied += [k for k in keys if k.split(".", 1)[1] in fields]
    return Reloaded(tuple(applied))


def proxy_in_env() -> bool:
    """Whether the environment sets a proxy (``HTTPS_PROXY``...) or a netrc file.

    aiohttp's ``trust_env`` looks both up again on every request, each time on a worker thread
    (two thread hops per request, a fifth of the daemon's CPU per message: see
    docs/performance.md); when neither is set there is nothing to look up.
    """
    if urllib.request.getproxies():
        return True
    return Path(os.environ.get("NETRC") or os.path.expanduser("~/.netrc")).is_file()


def compact_json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def transcriber(
    session: aiohttp.ClientSession, config: Config, redactor: Redactor
) -> Transcriber | None:
    if config.speech is None:
        return None
    return Transcriber(session, config.speech, redactor=redactor)
