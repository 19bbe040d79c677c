"""The Router: every message, button press and scheduled job enters through ``submit``.

``submit`` checks access, records the message in the durable inbox and returns: from then on
the platform may be acknowledged. Work runs one message at a time per conversation (later
messages queue in order) and concurrently across conversations, bounded by
``max_concurrent_turns``. Button presses and "immediate" commands skip the conversation queue
(a turn may be waiting for exactly that press). Each message is answered through the channel it
came from.

The router dispatches; it does not think. Every piece of work goes through the middleware
(log binding, timing, the error boundary: ``router.middleware``) to a command, a button
action, a job or a chat turn; a chat turn, and every conversation write it makes, belongs to
the ``TurnRunner`` (``router.turns``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

import aiojobs
import structlog

from assistant.agent.loop import Agent
from assistant.config import Config
from assistant.core import i18n
from assistant.core.commands import CommandCall, Reply, parse_command
from assistant.core.errors import ChannelError, IntakeClosed, StateError
from assistant.core.i18n import N_, tr
from assistant.core.messages import (
    Button,
    ChatRef,
    InboundMessage,
    MessageKind,
    OutboundMessage,
    OutFile,
    SentMessage,
)
from assistant.core.metrics import Metrics
from assistant.core.ports import Channel, ChatIO, Clock, SubmitOutcome
from assistant.core.roles import Permission, Role
from assistant.core.text import clean_names
from assistant.router.access import Access
from assistant.router.actions import ActionRegistry
from assistant.router.budget import TokenBudget
from assistant.router.commands import CommandRegistry, RouterStats
from assistant.router.delivery import ChatOutput, Delivery
from assistant.router.gate import Gate
from assistant.router.limits import IntakeLimits, Refusal
from assistant.router.locale import Locales, localize
from assistant.router.media import Media
from assistant.router.middleware import bind_log, compose, error_boundary, measure
from assistant.router.queues import ConversationQueues
from assistant.router.trouble import StateTrouble
from assistant.router.turns import TurnRunner
from assistant.router.work import Work
from assistant.security.policy import Policy
from assistant.store.conversations import Conversations
from assistant.store.deliveries import DeliveryLog
from assistant.store.inbox import Duplicate, Inbox, InboxStatus

log = structlog.get_logger(__name__)

INTERRUPTED = N_(
    "Your message «{text}» was interrupted by a restart while it was running {what}. "
    "It was not run again; ask again if you still need it."
)


class Router:
    def __init__(
        self,
        *,
        inbox: Inbox,
        deliveries: DeliveryLog,
        conversations: Conversations,
        access: Access,
        gate: Gate,
        policy: Policy,
        agent: Agent,
        commands: CommandRegistry,
        actions: ActionRegistry,
        media: Media,
        config: Callable[[], Config],
        metrics: Metrics,
        max_concurrent: int,
        limits: IntakeLimits,
        budget: TokenBudget,
        locales: Locales,
        clock: Clock | None = None,
    ) -> None:
        self._inbox = inbox
        self._locales = locales
        self._deliveries = deliveries
        self._access = access
        self._gate = gate
        self._policy = policy
        self._commands = commands
        self._actions = actions
        self._config = config
        self._metrics = metrics
        self._max_concurrent = max_concurrent
        self._limits = limits
        self._channels: dict[str, Channel] = {}
        self._queues = ConversationQueues[Work](self._process_until_stored, metrics)
        self._accepting = False
        self._delivery = Delivery(inbox, deliveries, metrics, self._channels, clock)
        self._trouble = StateTrouble(locale=locales.guess)
        self._turns_runner = TurnRunner(
            inbox=inbox,
            conversations=conversations,
            agent=agent,
            media=media,
            budget=budget,
            delivery=self._delivery,
            metrics=metrics,
            config=config,
            channels=self._channels,
            io=self._io,
        )
        self._pipeline = compose(
            [bind_log, localize(locales), measure(metrics), error_boundary(self._delivery, inbox)],
            self._handle,
        )
        self._turns: aiojobs.Scheduler | None = None
        self._immediate: aiojobs.Scheduler | None = None
        self.started_at = time.time()

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Router:
        self._turns = aiojobs.Scheduler(
            limit=self._max_concurrent, pending_limit=0, close_timeout=5.0, wait_timeout=None
        )
        self._queues.open(self._turns)
        self._immediate = aiojobs.Scheduler(
            limit=32, pending_limit=0, close_timeout=5.0, wait_timeout=None
        )
        self._accepting = True
        self.started_at = time.time()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._accepting = False
        self._queues.stop()
        for scheduler in (self._immediate, self._turns):
            if scheduler is not None:
                await scheduler.close()

    def add_channel(self, channel: Channel) -> None:
        self._channels[channel.name] = channel

    @property
    def channels(self) -> dict[str, Channel]:
        return dict(self._channels)

    def stats(self) -> RouterStats:
        return RouterStats(self.started_at, self._queues.waiting, self._queues.running)

    async def wait_idle(self, chat_key: str | None = None) -> None:
        """Return once the chat (or every chat) has nothing waiting or running."""
        await self._queues.wait_idle(chat_key)

    async def recover(self) -> int:
        """Queue again what a previous run left unfinished (for the channels present)."""
        entries = await self._inbox.unfinished(list(self._channels))
        parts = await self._deliveries.parts([entry.id for entry in entries])
        for entry in entries:
            record = self._delivery.record(entry.id, entry.message.chat, parts.get(entry.id))
            work = Work(entry.id, entry.message, record, plain=entry.plain)
            if entry.status is InboxStatus.REPLYING and entry.reply is not None:
                work.resend, work.files = entry.reply, entry.files
            elif entry.side_effect:
                work.interrupted = entry.side_effect
            await self._queues.put(work.message.chat.key, work)
        if entries:
            log.info("inbox.recovered", messages=len(entries))
        return len(entries)

    async def drain(self, timeout: float) -> None:
        """Stop taking work; let turns in progress finish within ``timeout`` seconds.

        Messages still waiting stay in the inbox and are processed at the next start.
        """
        self._accepting = False
        self._queues.stop()
        if self._turns is None or self._immediate is None:
            return
        running = self._queues.running
        deadline = time.monotonic() + timeout
        await self._turns.wait_and_close(timeout)
        await self._immediate.wait_and_close(max(0.1, deadline - time.monotonic()))
        log.info("router.drained", running_at_stop=running, unfinished=self._queues.running)

    # --- intake ---------------------------------------------------------------------------

    async def submit(self, message: InboundMessage) -> SubmitOutcome:
        """Record ``message`` durably and queue it. Returns once it is safe to acknowledge."""
        if not self._accepting:
            raise IntakeClosed("the assistant is shutting down; the platform will redeliver")
        message = clean_names(message)
        chat = message.chat
        if message.kind is not MessageKind.ACTION and chat.is_group and not message.addressed:
            return SubmitOutcome.IGNORED
        role = await self._gate.role(message)
        channel = self._channels.get(chat.channel)
        if role is None:
            if channel is not None and self._limits.stranger_may_write(message):
                with i18n.using(self._locales.for_stranger(message)):
                    await self._gate.turn_away(message, channel)
            return SubmitOutcome.IGNORED
        try:
            inbox_id = await self._inbox.record(message)
        except StateError:
            # not recorded, so not acknowledged: the platform delivers it again
            await self._trouble.refused(message, channel)
            raise
        if isinstance(inbox_id, Duplicate):  # logged by the inbox
            return SubmitOutcome.DUPLICATE
        self._metrics.received.labels(chat.channel).inc()
        work = Work(inbox_id, message, self._delivery.record(inbox_id, chat))
        immediate = message.kind is MessageKind.ACTION or self._is_immediate(message)
        queued = None if immediate else self._queues.queued(chat.key)
        with i18n.using(await self._locales.locale_of(message)):
            refusal = self._limits.refusal(message, role, queued)
        if refusal is not None:
            await self._refuse(work, refusal)
        elif immediate:
            assert self._immediate is not None
            await self._immediate.spawn(self._process_until_stored(work))
        else:
            await self._queues.put(chat.key, work)
        return SubmitOutcome.ACCEPTED

    def _is_immediate(self, message: InboundMessage) -> bool:
        parsed = parse_command(message.text)
        command = self._commands.get(parsed[0]) if parsed else None
        return command is not None and command.immediate

    async def _refuse(self, work: Work, refusal: Refusal) -> None:
        """Over a limit: recorded as done, or, once per burst, answered with the notice."""
        if refusal.notice is None:
            await self._inbox.set_status(work.inbox_id, InboxStatus.DONE)
            return
        work.resend = refusal.notice  # delivered like a stored reply, after a restart too
        work.plain = True
        await self._inbox.store_reply(work.inbox_id, refusal.notice, plain=True)
        assert self._immediate is not None
        await self._immediate.spawn(self._process_until_stored(work))

    # --- processing -----------------------------------------------------------------------

    async def _process_until_stored(self, work: Work) -> None:
        channel = self._channels.get(work.message.chat.channel)
        await self._trouble.until_stored(lambda: self._pipeline(work), work.message, channel)

    async def _handle(self, work: Work) -> None:
        message = work.message
        if work.resend is not None:
            await self._delivery.deliver(
                work.record, message, work.resend, plain=work.plain, store=False, files=work.files
            )
            return
        if work.interrupted is not None:
            text = message.text if len(message.text) <= 80 else message.text[:77] + "…"
            note = tr(INTERRUPTED).format(text=text, what=work.interrupted)
            await self._delivery.deliver(work.record, message, note, plain=True)
            return
        role = await self._gate.role(message)
        if role is None:  # revoked while queued
            await self._inbox.set_status(work.inbox_id, InboxStatus.DONE)
            return
        if message.kind is MessageKind.ACTION:
            await self._action(work, role)
            return
        if message.kind is MessageKind.SCHEDULED:
            await self._scheduled(work, role)
            return
        parsed = parse_command(message.text)
        if parsed is not None:
            await self._command(work, role, *parsed)
            return
        await self._turns_runner.run(work, role)

    async def _command(self, work: Work, role: Role, name: str, args: str) -> None:
        permissions = self._policy.permissions(role)
        command = self._commands.get(name)
        if command is None:
            reply = tr("Unknown command /{name}. Try /help.").format(name=name)
        elif command.permission not in permissions:
            reply = tr("/{name} is not available to your role ({role}).").format(
                name=name, role=role.value
            )
        else:
            log.info("command.run", command=command.name)

            async def mark_side_effect(what: str) -> None:
                await self._inbox.mark_side_effect(work.inbox_id, what)

            call = CommandCall(
                work.message,
                role,
                permissions,
                args,
                io=self._io(work.message.chat),
                mark_side_effect=mark_side_effect,
            )
            answer = await command.handler(call)
            if isinstance(answer, Reply):
                await self._delivery.deliver(
                    work.record, work.message, answer.text, files=answer.files
                )
                return
            reply = answer
        await self._delivery.deliver(work.record, work.message, reply)

    def _io(self, chat: ChatRef) -> ChatIO | None:
        channel = self._channels.get(chat.channel)
        return ChatOutput(channel, chat) if channel is not None else None

    async def _action(self, work: Work, role: Role) -> None:
        channel = self._channels[work.message.chat.channel]
        await self._actions.press(work.message, role, self._policy, channel)
        await self._inbox.set_status(work.inbox_id, InboxStatus.DONE)

    async def _scheduled(self, work: Work, role: Role) -> None:
        """A job firing, as its creator: a notice is delivered as it is; a "turn" runs the
        prompt like a message, with the creator's current role."""
        meta = work.message.meta
        if not self._policy.allows(role, Permission.SCHEDULE):
            job = meta.get("job", "?")
            note = tr(
                "Scheduled job {job} was skipped: your role no longer allows scheduled work."
            ).format(job=job)
            await self._delivery.deliver(work.record, work.message, note, plain=True)
            return
        if meta.get("run") == "turn":
            await self._turns_runner.run(work, role)
        else:
            await self._delivery.deliver(work.record, work.message, work.message.text, plain=True)

    # --- output ---------------------------------------------------------------------------

    async def notify(
        self,
        chat: ChatRef,
        text: str,
        *,
        buttons: tuple[tuple[Button, ...], ...] = (),
        plain: bool = False,
        files: tuple[OutFile, ...] = (),
    ) -> list[SentMessage]:
        """Send a message that answers no inbound message (approvals, pairing, alerts);
        ``files`` go before the text (a chart with an alert)."""
        channel = self._channels.get(chat.channel)
        if channel is None:
            raise ChannelError(f"no channel named {chat.channel!r} is running")
        message = OutboundMessage(
            chat, text, buttons=buttons, format="plain" if plain else "markdown", files=files
        )
        return await channel.send(message)

    async def edit(self, sent: SentMessage, text: str, *, plain: bool = False) -> None:
        """Replace the text of a message the assistant sent (buttons are removed)."""
        channel = self._channels.get(sent.chat.channel)
        if channel is None:
            raise ChannelError(f"no channel named {sent.chat.channel!r} is running")
        await channel.edit(sent, text, format="plain" if plain else "markdown")
