"""The Router: every message, button press and scheduled job enters through ``submit``.

``submit`` checks access, records the message in the durable inbox and returns: from then on
the platform may be acknowledged. Work runs one message at a time per conversation (later
messages queue in order) and concurrently across conversations, bounded by
``max_concurrent_turns``. Each message is answered through the channel it came from.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType

import aiojobs
import structlog

from assistant.agent.loop import Agent, TurnRequest, TurnStatus, stored_messages
from assistant.config import Config
from assistant.core.backoff import Backoff
from assistant.core.errors import ChannelError, IntakeClosed, StateError
from assistant.core.messages import ChatRef, InboundMessage, MessageKind, OutboundMessage
from assistant.core.metrics import Metrics
from assistant.core.ports import Channel, SubmitOutcome
from assistant.core.roles import Permission, Role
from assistant.llm.routing import choose_model
from assistant.router.access import Access
from assistant.router.commands import CommandCall, CommandRegistry, RouterStats, parse_command
from assistant.security.policy import Policy
from assistant.store.conversations import Conversations, TurnRecord
from assistant.store.inbox import Inbox, InboxStatus

log = structlog.get_logger(__name__)

APOLOGY = "Sorry, something went wrong on my side (turn {turn_id}). The details are in the log."
INTERRUPTED = (
    "Your message «{text}» was interrupted by a restart while it was running {what}. "
    "It was not run again; ask again if you still need it."
)
_SEND_ATTEMPTS = 4


@dataclass(slots=True)
class _Work:
    inbox_id: int
    message: InboundMessage
    resend: str | None = None  # recovered: deliver this stored reply, do not re-run
    interrupted: str | None = None  # recovered: a side effect had started; tell the user


def new_turn_id() -> str:
    return uuid.uuid4().hex[:12]


class Router:
    def __init__(
        self,
        *,
        inbox: Inbox,
        conversations: Conversations,
        access: Access,
        policy: Policy,
        agent: Agent,
        commands: CommandRegistry,
        config: Callable[[], Config],
        metrics: Metrics,
        max_concurrent: int,
    ) -> None:
        self._inbox = inbox
        self._conversations = conversations
        self._access = access
        self._policy = policy
        self._agent = agent
        self._commands = commands
        self._config = config
        self._metrics = metrics
        self._max_concurrent = max_concurrent
        self._channels: dict[str, Channel] = {}
        self._queues: dict[str, deque[_Work]] = {}
        self._running = 0
        self._waiting = 0
        self._accepting = False
        self._stopping = False
        self._scheduler: aiojobs.Scheduler | None = None
        self._idle: dict[str, asyncio.Event] = {}
        self.started_at = time.time()

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Router:
        self._scheduler = aiojobs.Scheduler(
            limit=self._max_concurrent, pending_limit=0, close_timeout=5.0, wait_timeout=None
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
        self._stopping = True
        if self._scheduler is not None:
            await self._scheduler.close()

    def add_channel(self, channel: Channel) -> None:
        self._channels[channel.name] = channel

    @property
    def channels(self) -> dict[str, Channel]:
        return dict(self._channels)

    async def wait_idle(self, chat_key: str | None = None) -> None:
        """Return once the chat (or every chat) has nothing waiting or running."""
        while True:
            busy = (
                [chat_key] if chat_key in self._queues else [] if chat_key else list(self._queues)
            )
            if not busy:
                return
            event = self._idle.setdefault(busy[0], asyncio.Event())
            await event.wait()

    def stats(self) -> RouterStats:
        return RouterStats(self.started_at, self._waiting, self._running)

    async def recover(self) -> int:
        """Queue again what a previous run left unfinished (for the channels present)."""
        entries = await self._inbox.unfinished(list(self._channels))
        for entry in entries:
            work = _Work(entry.id, entry.message)
            if entry.status is InboxStatus.REPLYING and entry.reply is not None:
                work.resend = entry.reply
            elif entry.side_effect:
                work.interrupted = entry.side_effect
            await self._enqueue(work)
        if entries:
            log.info("inbox.recovered", messages=len(entries))
        return len(entries)

    async def drain(self, timeout: float) -> None:
        """Stop taking work; let turns in progress finish within ``timeout`` seconds.

        Messages still waiting stay in the inbox and are processed at the next start.
        """
        self._accepting = False
        self._stopping = True
        if self._scheduler is None:
            return
        running = self._running
        await self._scheduler.wait_and_close(timeout)
        log.info("router.drained", running_at_stop=running, unfinished=self._running)

    # --- intake ---------------------------------------------------------------------------

    async def submit(self, message: InboundMessage) -> SubmitOutcome:
        """Record ``message`` durably and queue it. Returns once it is safe to acknowledge."""
        if not self._accepting:
            raise IntakeClosed("the assistant is shutting down; the platform will redeliver")
        chat = message.chat
        if chat.is_group and not message.addressed:
            return SubmitOutcome.IGNORED
        role = await self._access.role(chat.channel, message.sender.user_id)
        if role is None or not await self._access.chat_allowed(chat):
            log.info(
                "access.refused",
                channel=chat.channel,
                chat_id=chat.chat_id,
                user_id=message.sender.user_id,
            )
            return SubmitOutcome.IGNORED
        inbox_id = await self._inbox.record(message)
        if inbox_id is None:
            return SubmitOutcome.DUPLICATE
        self._metrics.received.labels(chat.channel).inc()
        await self._enqueue(_Work(inbox_id, message))
        return SubmitOutcome.ACCEPTED

    async def _enqueue(self, work: _Work) -> None:
        key = work.message.chat.key
        queue = self._queues.get(key)
        self._waiting += 1
        self._metrics.queue_depth.set(self._waiting + self._running)
        if queue is not None:
            queue.append(work)  # a job for this conversation is already queued or running
            return
        self._queues[key] = deque([work])
        await self._spawn(key)

    async def _spawn(self, key: str) -> None:
        assert self._scheduler is not None
        await self._scheduler.spawn(self._run_next(key))

    async def _run_next(self, key: str) -> None:
        queue = self._queues[key]
        if self._stopping:
            return  # left in the inbox for the next start
        work = queue.popleft()
        self._waiting -= 1
        self._running += 1
        try:
            await self._process(work)
        finally:
            self._running -= 1
            self._metrics.queue_depth.set(self._waiting + self._running)
            if not queue:
                del self._queues[key]
                idle = self._idle.pop(key, None)
                if idle is not None:
                    idle.set()
            elif not self._stopping:
                # one message per job, then back of the line: a busy chat cannot starve others
                await self._spawn(key)

    # --- processing -----------------------------------------------------------------------

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
            except asyncio.CancelledError:
                raise
            except Exception:  # the error boundary of a turn: log once, apologise once
                log.exception("turn.failed")
                with contextlib.suppress(Exception):
                    await self._deliver(work, APOLOGY.format(turn_id=turn_id), plain=True)
                # never again: a message that crashes its turn must not crash every restart
                with contextlib.suppress(Exception):
                    await self._inbox.set_status(work.inbox_id, InboxStatus.DONE)
            finally:
                self._metrics.turn_seconds.observe(time.monotonic() - started)

    async def _handle(self, work: _Work, turn_id: str) -> None:
        message = work.message
        if work.resend is not None:
            await self._deliver(work, work.resend)
            return
        if work.interrupted is not None:
            text = message.text if len(message.text) <= 80 else message.text[:77] + "…"
            note = INTERRUPTED.format(text=text, what=work.interrupted)
            await self._deliver(work, note, plain=True)
            return
        role = await self._access.role(message.chat.channel, message.sender.user_id)
        if role is None:  # revoked while queued
            await self._inbox.set_status(work.inbox_id, InboxStatus.DONE)
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
            reply = await command.handler(CommandCall(work.message, role, permissions, args))
        await self._deliver(work, reply)

    async def _scheduled(self, work: _Work, role: Role, turn_id: str) -> None:
        """A job firing, as its creator: a notice is delivered as it is; a "turn" runs the
        prompt like a message, with the creator's current role."""
        meta = work.message.meta
        if not self._policy.allows(role, Permission.SCHEDULE):
            job = meta.get("job", "?")
            note = f"Scheduled job {job} was skipped: your role no longer allows scheduled work."
            await self._deliver(work, note, plain=True)
            return
        if meta.get("run") == "turn":
            await self._turn(work, role, turn_id)
        else:
            await self._deliver(work, work.message.text, plain=True)

    async def _turn(self, work: _Work, role: Role, turn_id: str) -> None:
        message = work.message
        await self._inbox.set_status(work.inbox_id, InboxStatus.PROCESSING)
        conversation = await self._conversations.active(message.chat.key)
        config = self._config()
        model = choose_model(
            providers=config.models,
            rules=config.routing,
            chosen=conversation.model,
            text=message.text,
            role=role,
        )

        async def mark_side_effect(what: str) -> None:
            await self._inbox.mark_side_effect(work.inbox_id, what)

        started = time.time()
        async with self._typing(message.chat):
            outcome = await self._agent.run_turn(
                conversation,
                TurnRequest(
                    turn_id=turn_id,
                    chat=message.chat,
                    sender=message.sender,
                    role=role,
                    text=message.text,
                    model=model,
                    mark_side_effect=mark_side_effect,
                    reply_to_text=message.reply_to_text,
                    forwarded_from=message.forwarded_from,
                ),
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
            await self._deliver(work, outcome.reply, plain=True)
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
            ),
            stored_messages(outcome),
            reply=outcome.reply,
        )
        await self._deliver(work, outcome.reply, stored=True)

    # --- output ---------------------------------------------------------------------------

    async def _deliver(
        self, work: _Work, text: str, *, plain: bool = False, stored: bool = False
    ) -> None:
        """Send the reply, retrying transient failures, then mark the message done.

        If every attempt fails the message stays unfinished (with its reply stored) and is
        delivered after the next start.
        """
        message = work.message
        channel = self._channels.get(message.chat.channel)
        if channel is None:
            raise ChannelError(f"no channel named {message.chat.channel!r} is running")
        if not stored:
            await self._inbox.store_reply(work.inbox_id, text)
        outbound = OutboundMessage(
            chat=message.chat,
            text=text,
            format="plain" if plain else "markdown",
            reply_to=message.message_id if message.chat.is_group else None,
        )
        backoff = Backoff(0.5, 8.0)
        for attempt in range(1, _SEND_ATTEMPTS + 1):
            try:
                await channel.send(outbound)
                break
            except ChannelError as exc:
                if attempt == _SEND_ATTEMPTS:
                    log.error("reply.undelivered", error=str(exc), attempts=attempt)
                    return
                log.warning("reply.retry", error=str(exc), attempt=attempt)
                await asyncio.sleep(backoff.next_delay())
        try:
            await self._inbox.set_status(work.inbox_id, InboxStatus.DONE)
        except StateError:
            log.exception("inbox.mark_done_failed", inbox_id=work.inbox_id)
        self._metrics.answered.labels(message.chat.channel).inc()

    @contextlib.asynccontextmanager
    async def _typing(self, chat: ChatRef) -> AsyncIterator[None]:
        channel = self._channels.get(chat.channel)
        if channel is None or not channel.features.typing:
            yield
            return

        async def keep_typing() -> None:
            while True:
                with contextlib.suppress(ChannelError):
                    await channel.typing(chat)
                await asyncio.sleep(4.5)  # Telegram shows "typing" for about 5 s

        task = asyncio.create_task(keep_typing(), name=f"typing:{chat.key}")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
