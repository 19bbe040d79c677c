"""The Router: every message, button press and scheduled job enters through ``submit``.

``submit`` checks access, records the message in the durable inbox and returns: from then on
the platform may be acknowledged. Work runs one message at a time per conversation (later
messages queue in order) and concurrently across conversations, bounded by
``max_concurrent_turns``. Button presses and "immediate" commands skip the conversation queue
(a turn may be waiting for exactly that press). Each message is answered through the channel it
came from.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

import aiojobs
import structlog

from assistant.agent.loop import Agent, TurnRequest, TurnStatus, stored_messages
from assistant.config import Config
from assistant.core.errors import ChannelError, IntakeClosed, StateError
from assistant.core.messages import (
    Button,
    ChatRef,
    InboundMessage,
    MessageKind,
    OutboundMessage,
    SentMessage,
)
from assistant.core.metrics import Metrics
from assistant.core.ports import Channel, ChatIO, SubmitOutcome
from assistant.core.roles import Permission, Role
from assistant.core.text import clean_names
from assistant.llm.routing import choose_model
from assistant.router.access import Access
from assistant.router.actions import ActionRegistry
from assistant.router.budget import TokenBudget, person
from assistant.router.commands import CommandCall, CommandRegistry, RouterStats, parse_command
from assistant.router.delivery import ChatOutput, Delivery, typing
from assistant.router.gate import Gate
from assistant.router.limits import IntakeLimits, Refusal
from assistant.router.media import Media
from assistant.router.queues import ConversationQueues
from assistant.router.reply_log import ReplyLog
from assistant.router.stream import StreamingReply
from assistant.router.trouble import StateTrouble
from assistant.security.policy import Policy
from assistant.store.conversations import Conversations, TurnRecord
from assistant.store.deliveries import DeliveryLog
from assistant.store.inbox import Duplicate, Inbox, InboxStatus

log = structlog.get_logger(__name__)

APOLOGY = "Sorry, something went wrong on my side (turn {turn_id}). The details are in the log."
INTERRUPTED = (
    "Your message «{text}» was interrupted by a restart while it was running {what}. "
    "It was not run again; ask again if you still need it."
)


@dataclass(slots=True)
class _Work:
    inbox_id: int
    message: InboundMessage
    record: ReplyLog  # how far the reply's delivery got
    resend: str | None = None  # recovered: deliver this stored reply, do not re-run
    plain: bool = False  # the stored reply is plain text
    interrupted: str | None = None  # recovered: a side effect had started; tell the user


def new_turn_id() -> str:
    return uuid.uuid4().hex[:12]


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
    ) -> None:
        self._inbox = inbox
        self._deliveries = deliveries
        self._conversations = conversations
        self._access = access
        self._gate = gate
        self._policy = policy
        self._agent = agent
        self._commands = commands
        self._actions = actions
        self._media = media
        self._config = config
        self._metrics = metrics
        self._max_concurrent = max_concurrent
        self._limits = limits
        self._budget = budget
        self._channels: dict[str, Channel] = {}
        self._queues = ConversationQueues[_Work](self._process_until_stored, metrics)
        self._accepting = False
        self._delivery = Delivery(inbox, deliveries, metrics, self._channels)
        self._trouble = StateTrouble()
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
            work = _Work(entry.id, entry.message, record, plain=entry.plain)
            if entry.status is InboxStatus.REPLYING and entry.reply is not None:
                work.resend = entry.reply
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
                await self._gate.turn_away(message, channel)
            return SubmitOutcome.IGNORED
        try:
            inbox_id = await self._inbox.record(message)
        except StateError:
            # not recorded, so not acknowledged: the platform delivers it again
            await self._trouble.refused(f"{chat.channel}:{message.platform_id}", channel, chat)
            raise
        if isinstance(inbox_id, Duplicate):  # logged by the inbox
            return SubmitOutcome.DUPLICATE
        self._metrics.received.labels(chat.channel).inc()
        work = _Work(inbox_id, message, self._delivery.record(inbox_id, chat))
        immediate = message.kind is MessageKind.ACTION or self._is_immediate(message)
        queued = None if immediate else self._queues.queued(chat.key)
        if (refusal := self._limits.refusal(message, role, queued)) is not None:
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

    async def _refuse(self, work: _Work, refusal: Refusal) -> None:
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

    async def _process_until_stored(self, work: _Work) -> None:
        channel = self._channels.get(work.message.chat.channel)
        await self._trouble.until_stored(lambda: self._process(work), work.message, channel)

    async def _process(self, work: _Work) -> None:
        message = work.message
        turn_id = new_turn_id()
        started = time.monotonic()
        with structlog.contextvars.bound_contextvars(
            turn_id=turn_id,
            channel=message.chat.channel,
            chat_id=message.chat.chat_id,
            user_id=message.sender.user_id,
        ):
            try:
                await self._handle(work, turn_id)
            except (asyncio.CancelledError, StateError):
                raise  # a StateError is retried by the caller
            except Exception:  # the error boundary of a turn: log once, apologise once
                log.exception("turn.failed")
                with contextlib.suppress(Exception):
                    apology = APOLOGY.format(turn_id=turn_id)
                    await self._delivery.deliver(work.record, message, apology, plain=True)
                # never again: a message that crashes its turn must not crash every restart
                with contextlib.suppress(Exception):
                    await self._inbox.set_status(work.inbox_id, InboxStatus.DONE)
            finally:
                self._metrics.turn_seconds.observe(time.monotonic() - started)

    async def _handle(self, work: _Work, turn_id: str) -> None:
        message = work.message
        if work.resend is not None:
            await self._delivery.deliver(
                work.record, message, work.resend, plain=work.plain, store=False
            )
            return
        if work.interrupted is not None:
            text = message.text if len(message.text) <= 80 else message.text[:77] + "…"
            note = INTERRUPTED.format(text=text, what=work.interrupted)
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
            await self._scheduled(work, role, turn_id)
            return
        parsed = parse_command(message.text)
        if parsed is not None:
            await self._command(work, role, *parsed)
            return
        await self._turn(work, role, turn_id)

    async def _command(self, work: _Work, role: Role, name: str, args: str) -> None:
        permissions = self._policy.permissions(role)
        command = self._commands.get(name)
        if command is None:
            reply = f"Unknown command /{name}. Try /help."
        elif command.permission not in permissions:
            reply = f"/{name} is not available to your role ({role.value})."
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
            reply = await command.handler(call)
        await self._delivery.deliver(work.record, work.message, reply)

    def _io(self, chat: ChatRef) -> ChatIO | None:
        channel = self._channels.get(chat.channel)
        return ChatOutput(channel, chat) if channel is not None else None

    async def _action(self, work: _Work, role: Role) -> None:
        channel = self._channels[work.message.chat.channel]
        await self._actions.press(work.message, role, self._policy, channel)
        await self._inbox.set_status(work.inbox_id, InboxStatus.DONE)

    async def _scheduled(self, work: _Work, role: Role, turn_id: str) -> None:
        """A job firing, as its creator: a notice is delivered as it is; a "turn" runs the
        prompt like a message, with the creator's current role."""
        meta = work.message.meta
        if not self._policy.allows(role, Permission.SCHEDULE):
            job = meta.get("job", "?")
            note = f"Scheduled job {job} was skipped: your role no longer allows scheduled work."
            await self._delivery.deliver(work.record, work.message, note, plain=True)
            return
        if meta.get("run") == "turn":
            await self._turn(work, role, turn_id)
        else:
            await self._delivery.deliver(work.record, work.message, work.message.text, plain=True)

    async def _turn(self, work: _Work, role: Role, turn_id: str) -> None:
        message = work.message
        channel = self._channels[message.chat.channel]
        if (spent := await self._budget.refusal(message, role)) is not None:
            self._metrics.budget_refusals.labels(message.chat.channel).inc()
            await self._delivery.deliver(work.record, work.message, spent, plain=True)
            return
        conversation, history = await self._conversations.begin_turn(
            message.chat.key, work.inbox_id
        )
        config = self._config()
        model = choose_model(
            providers=config.models,
            rules=config.routing,
            chosen=conversation.model,
            text=message.text,
            role=role,
        )
        provider = config.model(model) if model else None
        try:
            prepared = await self._media.prepare(
                message, channel, vision=bool(provider and provider.vision), model_name=model
            )
        except ChannelError as exc:
            log.warning("media.fetch_failed", error=str(exc))
            await self._delivery.deliver(
                work.record, message, "I could not download that file; please send it again."
            )
            return
        if prepared.refusal is not None:
            await self._delivery.deliver(work.record, message, prepared.refusal, plain=True)
            return

        async def mark_side_effect(what: str) -> None:
            await self._inbox.mark_side_effect(work.inbox_id, what)

        streaming = provider is not None and provider.stream
        stream = StreamingReply.for_reply(channel, message, work.record) if streaming else None
        started = time.time()
        async with (
            typing(self._channels.get(message.chat.channel), message.chat),
            stream or contextlib.nullcontext(),
        ):
            outcome = await self._agent.run_turn(
                conversation,
                TurnRequest(
                    turn_id=turn_id,
                    chat=message.chat,
                    sender=message.sender,
                    role=role,
                    text=prepared.text,
                    images=prepared.images,
                    model=model,
                    mark_side_effect=mark_side_effect,
                    reply_to_text=message.reply_to_text,
                    forwarded_from=message.forwarded_from,
                    on_text=stream.on_text if stream else None,
                    io=self._io(message.chat),
                ),
                history=history,
            )
            log.info(
                "turn.done",
                status=outcome.status.value,
                steps=outcome.steps,
                provider=outcome.provider,
                prompt_tokens=outcome.usage.prompt_tokens,
                completion_tokens=outcome.usage.completion_tokens,
            )
            if outcome.status is TurnStatus.NO_MODEL:
                await self._delivery.deliver(work.record, message, outcome.reply, plain=True)
                return
            await self._conversations.commit_turn(
                TurnRecord(
                    turn_id=turn_id,
                    conversation_id=conversation.id,
                    chat_key=message.chat.key,
                    inbox_id=work.inbox_id,
                    provider=outcome.provider,
                    prompt_tokens=outcome.usage.prompt_tokens,
                    completion_tokens=outcome.usage.completion_tokens,
                    steps=outcome.steps,
                    status=outcome.status.value,
                    started_at=started,
                    finished_at=time.time(),
                    sender=person(message),
                ),
                stored_messages(outcome),
                reply=outcome.reply,
            )
            self._budget.spent(person(message), outcome.usage.total)
            work.record.forget()  # the commit stored the reply (see ``forget_parts``)
            await self._delivery.deliver(
                work.record, message, outcome.reply, store=False, stream=stream
            )

    # --- output ---------------------------------------------------------------------------

    async def notify(
        self,
        chat: ChatRef,
        text: str,
        *,
        buttons: tuple[tuple[Button, ...], ...] = (),
        plain: bool = False,
    ) -> list[SentMessage]:
        """Send a message that answers no inbound message (approvals, pairing, alerts)."""
        channel = self._channels.get(chat.channel)
        if channel is None:
            raise ChannelError(f"no channel named {chat.channel!r} is running")
        message = OutboundMessage(
            chat, text, buttons=buttons, format="plain" if plain else "markdown"
        )
        return await channel.send(message)

    async def edit(self, sent: SentMessage, text: str, *, plain: bool = False) -> None:
        """Replace the text of a message the assistant sent (buttons are removed)."""
        channel = self._channels.get(sent.chat.channel)
        if channel is None:
            raise ChannelError(f"no channel named {sent.chat.channel!r} is running")
        await channel.edit(sent, text, format="plain" if plain else "markdown")
