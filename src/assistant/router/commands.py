"""Slash commands: answered without the model, so they cost no tokens and cannot be steered
by prompt injection."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from assistant.config import Config
from assistant.core.commands import Command, CommandCall
from assistant.core.roles import Permission
from assistant.core.text import one_line
from assistant.feature import ARCHIVE, CANCELLER, HOST_STATUS, JOB_CANCELLER, Ports
from assistant.llm.client import ModelClient
from assistant.llm.routing import choose_model
from assistant.router.budget import TokenBudget, person
from assistant.store.conversations import Conversations


class CommandRegistry:
    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}
        self._lookup: dict[str, Command] = {}

    def register(self, command: Command) -> None:
        for name in (command.name, *command.aliases):
            if name in self._lookup:
                raise ValueError(f"command /{name} is registered twice")
            self._lookup[name] = command
        self._commands[command.name] = command

    def get(self, name: str) -> Command | None:
        return self._lookup.get(name)

    def visible(self, permissions: frozenset[Permission]) -> list[Command]:
        return [c for c in self.menu() if c.permission in permissions]

    def unconfigured(self, permissions: frozenset[Permission]) -> list[Command]:
        """Commands of features that are not set up, that this role could use once they are."""
        return [c for c in self._commands.values() if c.setup_hint and c.permission in permissions]

    def menu(self) -> list[Command]:
        """What the platforms' command menus and /help list: working, listed commands."""
        return [c for c in self._commands.values() if c.listed and not c.setup_hint]

    def all(self) -> list[Command]:
        return list(self._commands.values())


@dataclass(frozen=True, slots=True)
class RouterStats:
    started_at: float
    waiting: int
    running: int


def _duration(seconds: float) -> str:
    minutes = int(seconds) // 60
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h {minutes}m"
    return f"{hours}h {minutes}m" if hours else f"{minutes}m {int(seconds) % 60}s"


class BuiltinCommands:
    """/help, /new (/reset), /status, /model and /cancel: every assistant has them. What they
    reach in features (the memory archive, a server's status, running work, jobs) is found
    through ``ports`` when used, so a feature that is off simply is not there."""

    def __init__(
        self,
        *,
        registry: CommandRegistry,
        conversations: Conversations,
        client: ModelClient,
        config: Callable[[], Config],
        stats: Callable[[], RouterStats],
        ports: Ports,
        budget: TokenBudget | None = None,
    ) -> None:
        self._registry = registry
        self._budget = budget
        self._conversations = conversations
        self._client = client
        self._config = config
        self._stats = stats
        self._ports = ports

    def commands(self) -> list[Command]:
        return [
            Command("help", "what I can do", Permission.CHAT, self.help),
            Command(
                "start", "a greeting and what I can do", Permission.CHAT, self.start, listed=False
            ),
            Command(
                "new", "start a fresh conversation", Permission.CHAT, self.new, aliases=("reset",)
            ),
            Command("status", "uptime, model, tokens, queue", Permission.CHAT, self.status),
            Command(
                "model",
                "list models or switch this chat's model",
                Permission.CHAT,
                self.model,
                usage="/model [name|auto]",
            ),
            Command(
                "cancel",
                "stop what runs in this chat; /cancel ID cancels a scheduled job",
                Permission.CHAT,
                self.cancel,
                usage="/cancel [ID]",
                immediate=True,
            ),
        ]

    async def cancel(self, call: CommandCall) -> str:
        if call.args.strip():
            jobs = self._ports.get(JOB_CANCELLER)
            if jobs is None:
                return "Scheduled jobs are not enabled, so there is nothing to cancel by id."
            if Permission.SCHEDULE not in call.permissions:
                return "Your role may not manage scheduled jobs."
            return await jobs.cancel_job(call)
        done = [text for c in self._ports.all(CANCELLER) if (text := await c.cancel(call))]
        return "\n".join(done) if done else "Nothing is running in this chat."

    async def help(self, call: CommandCall) -> str:
        config = self._config()
        lines = [f"{config.assistant.name}: write to me in plain words, or use a command:"]
        for command in self._registry.visible(call.permissions):
            usage = command.usage or f"/{command.name}"
            alias = f" (or /{', /'.join(command.aliases)})" if command.aliases else ""
            lines.append(f"{usage}{alias} — {command.summary}")
        hints: dict[str, list[str]] = {}
        for command in self._registry.unconfigured(call.permissions):
            hints.setdefault(command.setup_hint, []).append(command.usage or f"/{command.name}")
        if hints:
            lines.append("Not set up yet:")
            lines += [f"{', '.join(names)} — {hint}" for hint, names in hints.items()]
        if not self._client.providers:
            lines.append("No model is configured yet, so only commands work.")
        return "\n".join(lines)

    async def start(self, call: CommandCall) -> str:
        """Every Telegram user's first message: a greeting, then /help."""
        name = one_line(call.message.sender.name)[:64]
        hello = f"Hello{', ' + name if name else ''}! "
        return hello + await self.help(call)

    async def new(self, call: CommandCall) -> str:
        ended, _ = await self._conversations.start_new(call.message.chat.key)
        archive = self._ports.get(ARCHIVE)
        if ended is not None and archive is not None:
            message = call.message
            await archive.conversation_ended(ended.id, message.chat, message.sender)
        return "Started a fresh conversation." if ended else "This is already a fresh conversation."

    async def status(self, call: CommandCall) -> str:
        host_status = self._ports.get(HOST_STATUS)
        if call.args and host_status is not None:
            return await host_status.host_status(call)
        config = self._config()
        zone = ZoneInfo(config.assistant.timezone)
        midnight = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
        conversation = await self._conversations.active(call.message.chat.key)
        today = await self._conversations.tokens_since(midnight.timestamp())
        here = await self._conversations.tokens_in(conversation.id)
        stats = self._stats()
        model = choose_model(
            providers=self._client.providers,
            rules=(),
            chosen=conversation.model,
            text="",
            role=call.role,
        )
        provider = self._client.get(model) if model else None
        if provider is None:
            model_line = "Model: none configured"
        else:
            how = "chosen for this chat" if conversation.model == provider.name else "default"
            model_line = f"Model: {provider.name} ({provider.model}, {how})"
        lines = [
            f"{config.assistant.name} — up {_duration(time.time() - stats.started_at)}",
            model_line,
            f"Tokens: {today:,} today · {here:,} in this conversation",
        ]
        if self._budget is not None:
            yours = await self._budget.used_today(person(call.message))
            budget = self._budget.budget(call.role)
            of = f" of your daily budget of {budget:,}" if budget else ""
            lines.append(f"Yours today: {yours:,}{of}")
        running = max(stats.running - 1, 0)  # not this /status itself (it runs in its queue)
        lines.append(f"Queue: {stats.waiting} waiting, {running} running")
        return "\n".join(lines)

    async def model(self, call: CommandCall) -> str:
        providers = self._client.providers
        if not providers:
            return "No model is configured. Add a [[models]] section to the config file."
        conversation = await self._conversations.active(call.message.chat.key)
        wanted = call.args.strip()
        if not wanted:
            current = conversation.model or providers[0].name
            lines = ["Models (use /model NAME to switch, /model auto for the default):"]
            for p in providers:
                mark = "•" if p.name == current else " "
                vision = ", sees images" if p.vision else ""
                lines.append(f"{mark} {p.name} — {p.model} via {p.api}{vision}")
            return "\n".join(lines)
        if Permission.MODEL not in call.permissions:
            return "Your role may not switch models."
        if wanted in ("auto", "default"):
            await self._conversations.set_model(conversation.id, None)
            return "This chat uses the default model again."
        if self._client.get(wanted) is None:
            names = ", ".join(p.name for p in providers)
            return f"There is no model named {wanted!r}. Known: {names}."
        await self._conversations.set_model(conversation.id, wanted)
        return f"This chat now uses {wanted}."
