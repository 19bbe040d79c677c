"""TurnRunner: one chat turn with the model, and every conversation write it makes.

Budget, the conversation and its history (read with the inbox entry's "processing" mark),
the model chosen for it, images and documents prepared, the agent's turn with the reply
streamed where the channel can, then one atomic commit (messages, usage, a new summary of
older history, the reply) and the delivery. The agent only computes; the runner stores.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping

import structlog

from assistant.agent.loop import Agent, TurnRequest, TurnStatus, stored_messages
from assistant.config import Config
from assistant.core.errors import ChannelError
from assistant.core.i18n import tr
from assistant.core.messages import ChatRef
from assistant.core.metrics import Metrics
from assistant.core.ports import Channel, ChatIO
from assistant.core.roles import Role
from assistant.llm.routing import choose_model
from assistant.router.budget import TokenBudget, person
from assistant.router.delivery import Delivery, typing
from assistant.router.media import Media
from assistant.router.stream import StreamingReply
from assistant.router.work import Work
from assistant.store.conversations import Conversations, TurnRecord
from assistant.store.inbox import Inbox

log = structlog.get_logger(__name__)

ChatIOFactory = Callable[[ChatRef], ChatIO | None]


class TurnRunner:
    def __init__(
        self,
        *,
        inbox: Inbox,
        conversations: Conversations,
        agent: Agent,
        media: Media,
        budget: TokenBudget,
        delivery: Delivery,
        metrics: Metrics,
        config: Callable[[], Config],
        channels: Mapping[str, Channel],
        io: ChatIOFactory,
    ) -> None:
        self._inbox = inbox
        self._conversations = conversations
        self._agent = agent
        self._media = media
        self._budget = budget
        self._delivery = delivery
        self._metrics = metrics
        self._config = config
        self._channels = channels
        self._io = io

    async def run(self, work: Work, role: Role) -> None:
        message = work.message
        channel = self._channels[message.chat.channel]
        if (spent := await self._budget.refusal(message, role)) is not None:
            self._metrics.budget_refusals.labels(message.chat.channel).inc()
            await self._delivery.deliver(work.record, message, spent, plain=True)
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
                work.record, message, tr("I could not download that file; please send it again.")
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
                    turn_id=work.turn_id,
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
            summary = outcome.summary
            await self._conversations.commit_turn(
                TurnRecord(
                    turn_id=work.turn_id,
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
                summary=(summary.text, summary.upto) if summary is not None else None,
                files=outcome.files,
            )
            self._budget.spent(person(message), outcome.usage.total)
            work.record.forget()  # the commit stored the reply (see ``forget_parts``)
            await self._delivery.deliver(
                work.record, message, outcome.reply, store=False, stream=stream, files=outcome.files
            )
