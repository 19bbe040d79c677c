"""Building the services a running assistant is made of (the composition root's parts).

Heavy or optional components (channel SDKs, SSH) are imported only when the config enables
them, inside the builder that needs them.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp

from assistant import __version__
from assistant.agent.loop import Agent
from assistant.components import (
    JOBS_STORE,
    add_memory,
    build_memory,
    build_scheduler,
    start_scheduler,
)
from assistant.config import Config, LiveConfig
from assistant.core.errors import ConfigError
from assistant.core.health import Health
from assistant.core.messages import Button, ChatRef, Sender, SentMessage
from assistant.core.metrics import Metrics
from assistant.core.ports import Channel, Clock, CommandOutcome, ManagedChannel, SystemClock
from assistant.core.redact import Redactor
from assistant.llm.client import ModelClient
from assistant.llm.transcribe import Transcriber
from assistant.router.access import Access
from assistant.router.actions import ActionRegistry
from assistant.router.admin import PairingCommands
from assistant.router.budget import TokenBudget
from assistant.router.commands import BuiltinCommands, CommandRegistry
from assistant.router.gate import Gate
from assistant.router.limits import IntakeLimits
from assistant.router.media import Media
from assistant.router.router import Router
from assistant.security.policy import Policy
from assistant.store.audit import AuditLog
from assistant.store.conversations import Conversations
from assistant.store.db import Database, prepare_state_dir
from assistant.store.dead_letters import DeadLetters
from assistant.store.deliveries import DeliveryLog
from assistant.store.inbox import Inbox
from assistant.store.lock import state_lock
from assistant.store.pairing import Pairing
from assistant.store.scratch import remove_stale
from assistant.store.users import Users
from assistant.tools.registry import ToolRegistry
from assistant.tools.system import CurrentTimeTool, SystemStatusTool

if TYPE_CHECKING:
    from assistant.memory.embedder import Embedder
    from assistant.memory.service import MemoryService
    from assistant.scheduler.service import SchedulerService
    from assistant.security.approvals import ApprovalService
    from assistant.security.commands import Judge
    from assistant.ssh.executor import SSHExecutor
    from assistant.tools.exec import ExecService


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
    audit: AuditLog
    builtin: BuiltinCommands
    ops: Ops | None = None
    memory: MemoryService | None = None
    scheduler: SchedulerService | None = None

    @property
    def config(self) -> Config:
        return self.live.current


async def build_services(
    stack: AsyncExitStack,
    config: Config,
    *,
    health: Health,
    redactor: Redactor,
    embedder: Embedder | None = None,
    jobs_store: str = JOBS_STORE,
    clock: Clock | None = None,
) -> Services:
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
    tools.register(CurrentTimeTool())
    tools.register(SystemStatusTool((Path("/"), state_dir)))
    memory = await build_memory(
        stack,
        config,
        health=health,
        session=session,
        conversations=conversations,
        client=client,
        embedder=embedder,
    )
    agent = Agent(
        client=client,
        tools=tools,
        policy=policy,
        conversations=conversations,
        assistant=config.assistant,
        settings=config.agent,
        recall=memory,
    )
    live = LiveConfig(config)

    def timezone() -> str:
        return live.current.assistant.timezone

    inbox = Inbox(db)
    audit = AuditLog(db, redactor)
    commands = CommandRegistry()
    actions = ActionRegistry()
    pairing = Pairing(db, clock=clock)
    budget = TokenBudget(conversations, live.get, metrics, clock)
    media = Media(
        transcriber=transcriber(session, config, redactor),
        max_bytes=20 * 1024 * 1024,
        max_document_chars=20_000,
    )
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
    )
    builtin = BuiltinCommands(
        registry=commands,
        conversations=conversations,
        client=client,
        config=live.get,
        stats=router.stats,
        archive=memory,
        budget=budget,
    )
    if memory is not None:
        add_memory(memory, tools=tools, commands=commands, timezone=timezone)
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
        audit=audit,
        builtin=builtin,
        memory=memory,
    )
    await stack.enter_async_context(router)
    if config.ssh.enabled and config.ssh.hosts:
        services.ops = await build_ops(stack, services, access.users)
    services.scheduler = await build_scheduler(
        stack,
        config,
        db=db,
        router=router,
        tools=tools,
        commands=commands,
        cancel=builtin.cancel,
        health=health,
        timezone=timezone,
        store=jobs_store,
        runner=CheckRunner(services.ops, access, policy) if services.ops is not None else None,
    )
    return services


async def start_services(services: Services) -> None:
    """Once the channels are added: expire approvals a previous run left, finish its
    unfinished messages, then fire the jobs that are due."""
    if services.ops is not None:
        await services.ops.approvals.expire_leftovers()
    await services.router.recover()
    await start_scheduler(services.scheduler, services.health)


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

    ``db`` is needed to receive (event ids Feishu sent, dead letters), not to send.
    """
    dead_letters = DeadLetters(db) if db is not None else None
    if name == "telegram":
        from assistant.channels.telegram.adapter import TelegramChannel

        return TelegramChannel(
            config.telegram,
            session=session,
            health=health,
            redactor=redactor,
            commands=commands or [],
            dead_letters=dead_letters,
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
            dead_letters=dead_letters,
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


class Ops:
    """The SSH side, when [[ssh.hosts]] are configured: executor, policy, approvals."""

    def __init__(
        self,
        executor: SSHExecutor,
        policy: Judge,
        approvals: ApprovalService,
        service: ExecService,
    ) -> None:
        self.executor = executor
        self.policy = policy
        self.approvals = approvals
        self.service = service

    def configure(self, config: Config) -> None:
        self.policy.configure(config.ssh)
        self.executor.configure(config.ssh)


class CheckRunner:
    """Monitoring checks' commands over SSH: only what the policy allows the check's creator
    outright (never an approval: nobody is there to press it), audited like any run."""

    def __init__(self, ops: Ops, access: Access, policy: Policy) -> None:
        self._ops = ops
        self._access = access
        self._policy = policy

    def hosts(self) -> list[str]:
        return [h.name for h in self._ops.executor.config.hosts]

    async def refusal(self, host: str, command: str, actor: str) -> str | None:
        from assistant.security.commands import Verdict

        channel, _, user_id = actor.partition(":")
        role = await self._access.role(channel, user_id)
        if role is None:
            return "its creator no longer has access"
        target = self._ops.executor.config.host(host)
        if target is None:
            return f"there is no host {host!r}"
        decision = await asyncio.to_thread(
            self._ops.policy.decide,
            permissions=self._policy.permissions(role),
            host=target,
            command=command,
        )
        if decision.verdict is not Verdict.ALLOW:
            return f"{decision.reason} (a check runs only commands allowed without approval)"
        return None

    async def run(self, host: str, command: str, *, timeout: float, actor: str) -> CommandOutcome:
        from assistant.tools.exec import ExecRequest

        channel, _, user_id = actor.partition(":")
        role = await self._access.role(channel, user_id)
        report = await self._ops.service.execute(
            ExecRequest(
                hosts=host,
                command=command,
                sender=Sender(user_id),
                chat=ChatRef(channel, user_id),
                permissions=self._policy.permissions(role) if role else frozenset(),
                timeout=timeout,
                trusted=True,  # decided by refusal() just before, with the creator's role
            )
        )
        if not report.results:
            return CommandOutcome(-1, report.text)
        result = report.results[0]
        status = result.exit_status if result.exit_status is not None else -1
        return CommandOutcome(status, result.output)


def known_hosts_path(config: Config) -> Path:
    return config.ssh.known_hosts or config.assistant.state_dir / "known_hosts"


async def build_ops(stack: AsyncExitStack, services: Services, users: Users) -> Ops:
    """Wire SSH: tools for the model, /run and friends for people, approval buttons."""
    from assistant.router.ops import OpsCommands
    from assistant.security.approvals import ApprovalService
    from assistant.security.isolated import IsolatedPolicy
    from assistant.security.second_factor import SecondFactor
    from assistant.ssh.executor import SSHExecutor
    from assistant.store.approvals import ApprovalStore
    from assistant.store.totp import TotpStore
    from assistant.tools.exec import ExecService
    from assistant.tools.ssh import HostStatusTool, ListHostsTool, RunCommandTool

    live = services.live
    router = services.router
    executor = await stack.enter_async_context(
        SSHExecutor(live.current.ssh, known_hosts=known_hosts_path(live.current))
    )
    policy = IsolatedPolicy(live.current.ssh)
    stack.callback(policy.close)

    async def approvers() -> list[ChatRef]:
        return await services.access.approver_chats(set(router.channels))

    async def send(
        chat: ChatRef, text: str, buttons: tuple[tuple[Button, ...], ...]
    ) -> list[SentMessage]:
        return await router.notify(chat, text, buttons=buttons, plain=True)

    async def edit(sent: SentMessage, text: str) -> None:
        await router.edit(sent, text, plain=True)

    approvals = ApprovalService(
        ApprovalStore(services.db),
        services.audit,
        approvers=approvers,
        send=send,
        edit=edit,
        timeout=lambda: live.current.ssh.approval_timeout,
        second_factor=SecondFactor(TotpStore(services.db)),
        person=lambda account: live.current.access.person(account),
    )
    service = ExecService(
        executor=executor,
        policy=policy,
        approvals=approvals,
        audit=services.audit,
        redactor=services.redactor,
        progress_interval=lambda: live.current.ssh.progress_interval,
    )
    for tool in (RunCommandTool(service), ListHostsTool(service), HostStatusTool(service)):
        services.tools.register(tool)
    OpsCommands(
        registry=services.commands,
        actions=services.actions,
        builtin=services.builtin,
        service=service,
        approvals=approvals,
        policy=services.policy,
    )
    return Ops(executor, policy, approvals, service)
