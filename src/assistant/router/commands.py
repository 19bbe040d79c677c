"""Slash commands: answered without the model, so they cost no tokens and cannot be steered
by prompt injection."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from assistant.config import Config
from assistant.core import i18n
from assistant.core.commands import Command, CommandCall, Reply
from assistant.core.i18n import N_, tr
from assistant.core.roles import Permission
from assistant.core.text import one_line
from assistant.feature import ARCHIVE, CANCELLER, HOST_REPORT, HOST_STATUS, JOB_CANCELLER, Ports
from assistant.llm.client import ModelClient
from assistant.llm.routing import choose_model
from assistant.router.budget import TokenBudget, person
from assistant.store.conversations import Conversations
from assistant.store.people import People


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
    d, h, m, s = tr("{n}d"), tr("{n}h"), tr("{n}m"), tr("{n}s")
    if days:
        return f"{d.format(n=days)} {h.format(n=hours)} {m.format(n=minutes)}"
    if hours:
        return f"{h.format(n=hours)} {m.format(n=minutes)}"
    return f"{m.format(n=minutes)} {s.format(n=int(seconds) % 60)}"


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
        people: People | None = None,
    ) -> None:
        self._registry = registry
        self._people = people
        self._budget = budget
        self._conversations = conversations
        self._client = client
        self._config = config
        self._stats = stats
        self._ports = ports

    def commands(self) -> list[Command]:
        return [
            Command("help", N_("what I can do"), Permission.CHAT, self.help),
            Command(
                "start",
                N_("a greeting and what I can do"),
                Permission.CHAT,
                self.start,
                listed=False,
            ),
            Command(
                "new",
                N_("start a fresh conversation"),
                Permission.CHAT,
                self.new,
                aliases=("reset",),
            ),
            Command("status", N_("uptime, model, tokens, queue"), Permission.CHAT, self.status),
            Command(
                "model",
                N_("list models or switch this chat's model"),
                Permission.CHAT,
                self.model,
                usage="/model [name|auto]",
            ),
            Command(
                "cancel",
                N_("stop what runs in this chat; /cancel ID cancels a scheduled job"),
                Permission.CHAT,
                self.cancel,
                usage="/cancel [ID]",
                immediate=True,
            ),
            Command(
                "lang",
                N_("the language of my fixed replies: zh or en"),
                Permission.CHAT,
                self.lang,
                usage="/lang [zh|en|auto]",
            ),
            Command(
                "tz",
                N_("your time zone for reminders and dates"),
                Permission.CHAT,
                self.tz,
                usage="/tz [Area/City|auto]",
            ),
        ]

    async def cancel(self, call: CommandCall) -> str:
        if call.args.strip():
            jobs = self._ports.get(JOB_CANCELLER)
            if jobs is None:
                return tr("Scheduled jobs are not enabled, so there is nothing to cancel by id.")
            if Permission.SCHEDULE not in call.permissions:
                return tr("Your role may not manage scheduled jobs.")
            return await jobs.cancel_job(call)
        done = [text for c in self._ports.all(CANCELLER) if (text := await c.cancel(call))]
        return "\n".join(done) if done else tr("Nothing is running in this chat.")

    async def help(self, call: CommandCall) -> str:
        config = self._config()
        lines = [
            tr("{name}: write to me in plain words, or use a command:").format(
                name=config.assistant.name
            )
        ]
        for command in self._registry.visible(call.permissions):
            usage = command.usage or f"/{command.name}"
            alias = (
                tr(" (or /{aliases})").format(aliases=", /".join(command.aliases))
                if command.aliases
                else ""
            )
            lines.append(f"{usage}{alias} — {tr(command.summary)}")
        hints: dict[str, list[str]] = {}
        for command in self._registry.unconfigured(call.permissions):
            hints.setdefault(command.setup_hint, []).append(command.usage or f"/{command.name}")
        if hints:
            lines.append(tr("Not set up yet:"))
            lines += [f"{', '.join(names)} — {tr(hint)}" for hint, names in hints.items()]
        if not self._client.providers:
            lines.append(tr("No model is configured yet, so only commands work."))
        return "\n".join(lines)

    async def start(self, call: CommandCall) -> str:
        """Every Telegram user's first message: a greeting, then /help."""
        name = one_line(call.message.sender.name)[:64]
        hello = tr("Hello, {name}! ").format(name=name) if name else tr("Hello! ")
        return hello + await self.help(call)

    async def new(self, call: CommandCall) -> str:
        ended, _ = await self._conversations.start_new(call.message.chat.key)
        archive = self._ports.get(ARCHIVE)
        if ended is not None and archive is not None:
            message = call.message
            await archive.conversation_ended(ended.id, message.chat, message.sender)
        if ended:
            return tr("Started a fresh conversation.")
        return tr("This is already a fresh conversation.")

    async def status(self, call: CommandCall) -> str | Reply:
        if call.args:  # a monitored host's numbers and chart, else the SSH feature's status
            for report in self._ports.all(HOST_REPORT):
                if (answer := await report.host_report(call)) is not None:
                    return answer
        host_status = self._ports.get(HOST_STATUS)
        if call.args and host_status is not None:
            return await host_status.host_status(call)
        config = self._config()
        zone = ZoneInfo(i18n.current_zone(config.assistant.timezone))
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
            model_line = tr("Model: none configured")
        else:
            how = (
                tr("chosen for this chat") if conversation.model == provider.name else tr("default")
            )
            model_line = tr("Model: {name} ({model}, {how})").format(
                name=provider.name, model=provider.model, how=how
            )
        lines = [
            tr("{name} — up {uptime}").format(
                name=config.assistant.name, uptime=_duration(time.time() - stats.started_at)
            ),
            model_line,
            tr("Tokens: {today:,} today · {here:,} in this conversation").format(
                today=today, here=here
            ),
        ]
        if self._budget is not None:
            yours = await self._budget.used_today(person(call.message))
            budget = self._budget.budget(call.role)
            if budget:
                lines.append(
                    tr("Yours today: {used:,} of your daily budget of {budget:,}").format(
                        used=yours, budget=budget
                    )
                )
            else:
                lines.append(tr("Yours today: {used:,}").format(used=yours))
        running = max(stats.running - 1, 0)  # not this /status itself (it runs in its queue)
        lines.append(
            tr("Queue: {waiting} waiting, {running} running").format(
                waiting=stats.waiting, running=running
            )
        )
        return "\n".join(lines)

    async def model(self, call: CommandCall) -> str:
        providers = self._client.providers
        if not providers:
            return tr("No model is configured. Add a [[models]] section to the config file.")
        conversation = await self._conversations.active(call.message.chat.key)
        wanted = call.args.strip()
        if not wanted:
            current = conversation.model or providers[0].name
            lines = [tr("Models (use /model NAME to switch, /model auto for the default):")]
            for p in providers:
                mark = "•" if p.name == current else " "
                vision = tr(", sees images") if p.vision else ""
                lines.append(
                    tr("{mark} {name} — {model} via {api}{vision}").format(
                        mark=mark, name=p.name, model=p.model, api=p.api, vision=vision
                    )
                )
            return "\n".join(lines)
        if Permission.MODEL not in call.permissions:
            return tr("Your role may not switch models.")
        if wanted in ("auto", "default"):
            await self._conversations.set_model(conversation.id, None)
            return tr("This chat uses the default model again.")
        if self._client.get(wanted) is None:
            names = ", ".join(p.name for p in providers)
            return tr("There is no model named {wanted!r}. Known: {names}.").format(
                wanted=wanted, names=names
            )
        await self._conversations.set_model(conversation.id, wanted)
        return tr("This chat now uses {wanted}.").format(wanted=wanted)

    async def lang(self, call: CommandCall) -> str:
        """/lang zh|en|auto: the person's language for fixed replies, stored."""
        wanted = call.args.strip().lower()
        if self._people is None:
            return tr("Languages cannot be chosen here.")
        person = f"{call.message.chat.channel}:{call.message.sender.user_id}"
        if not wanted:
            chosen = (await self._people.get(person)).language
            return tr(
                "I answer you in {language} ({how}). /lang zh, /lang en or /lang auto."
            ).format(
                language=LANGUAGE_NAMES[i18n.current()],
                how=tr("your choice") if chosen else tr("from your app or your writing"),
            )
        if wanted in ("auto", "default"):
            await self._people.set_language(person, None)
            i18n.set_locale(self._config().assistant.language)
            return tr("I follow your app's language again.")
        locale = i18n.normalize(wanted)
        if locale is None:
            return tr("I speak {choices}: /lang zh or /lang en.").format(
                choices=", ".join(LANGUAGE_NAMES.values())
            )
        await self._people.set_language(person, locale)
        i18n.set_locale(locale)  # this answer already in it
        return tr("From now on I answer you in {language}.").format(language=LANGUAGE_NAMES[locale])

    async def tz(self, call: CommandCall) -> str:
        """/tz Area/City|auto: the person's time zone, stored."""
        wanted = call.args.strip()
        default = self._config().assistant.timezone
        if self._people is None:
            return tr("Time zones cannot be chosen here.")
        person = f"{call.message.chat.channel}:{call.message.sender.user_id}"
        if not wanted:
            zone = i18n.current_zone(default)
            now = datetime.now(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
            return tr(
                "Your time zone is {zone} (now {now}). Change it with /tz Area/City, "
                "e.g. /tz Asia/Shanghai."
            ).format(zone=zone, now=now)
        if wanted.lower() in ("auto", "default"):
            await self._people.set_timezone(person, None)
            return tr("Back to the assistant's time zone, {zone}.").format(zone=default)
        zone_name = _zone_name(wanted)
        if zone_name is None:
            return tr(
                "I do not know the time zone {zone!r}; use a name such as Asia/Shanghai, "
                "Europe/Berlin or UTC."
            ).format(zone=wanted)
        await self._people.set_timezone(person, zone_name)
        i18n.set_zone(zone_name)
        now = datetime.now(ZoneInfo(zone_name)).strftime("%Y-%m-%d %H:%M")
        return tr(
            "Your time zone is now {zone} (it is {now} there). Reminders and dates use it."
        ).format(zone=zone_name, now=now)


LANGUAGE_NAMES = {"en": "English", "zh_CN": "中文"}


def _zone_name(text: str) -> str | None:
    """An IANA zone name as typed ("asia/shanghai" too); None when there is none such."""
    import zoneinfo

    if not text or "\x00" in text or ".." in text or len(text) > 64:
        return None
    candidates = [text, "/".join(part[:1].upper() + part[1:] for part in text.split("/"))]
    if text.upper() == "UTC":
        candidates.insert(0, "UTC")
    for candidate in candidates:
        try:
            zoneinfo.ZoneInfo(candidate)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            continue
        return candidate
    return None
