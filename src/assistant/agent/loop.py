"""run_turn: the model and the tools, step by step, until a reply.

Limits: ``max_steps`` model calls, a per-turn deadline, and loop detection (the same tool with
the same arguments a third time in one turn stops the turn with an explanation).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo

import structlog

from assistant.agent import prompt
from assistant.config import AgentSection, AssistantSection
from assistant.core import i18n
from assistant.core.errors import ModelRequestError, ModelUnavailable, NoModelConfigured
from assistant.core.i18n import N_, tr
from assistant.core.messages import ChatRef, OutFile, Sender
from assistant.core.ports import ChatIO, Clock, Recaller, SystemClock, now
from assistant.core.roles import Role
from assistant.core.text import clip_tokens, estimate_tokens
from assistant.core.tools import ToolContext
from assistant.llm.client import ModelClient
from assistant.llm.types import ChatMessage, ImagePart, ModelRequest, TextCallback, Usage
from assistant.security.policy import Policy
from assistant.store.conversations import Conversation, StoredMessage
from assistant.tools.registry import ToolRegistry

log = structlog.get_logger(__name__)

NO_MODEL_HINT = N_(
    "No model is configured yet, so I can only run commands (try /help). To chat, add a "
    "[[models]] section to {where} (its comments list presets), then {apply}."
)
# how a changed config takes effect, by where the assistant runs (kernel option "apply")
APPLY_SYSTEMD = N_("reload with `systemctl reload assistant`")
APPLY_DAEMON = N_("restart `assistant run` (or send it SIGHUP)")
APPLY_CHAT = N_("start `assistant chat` again")


def no_model_hint(where: str = "", apply: str = APPLY_SYSTEMD) -> str:
    """The hint in the current language; ``where``: the config file (default: "the config
    file"), ``apply``: one of the APPLY_ texts."""
    return tr(NO_MODEL_HINT).format(where=where or tr("the config file"), apply=tr(apply))


MAX_FILES = 10  # pictures and files one reply may carry
MAX_FILE_BYTES = 60 * 1024 * 1024  # their size together (each channel has its own limits too)

_SUMMARY_PROMPT = (
    "Summarize the conversation below for your own later reference, in at most {words} words, "
    "in the language it is written in. Keep names, facts, numbers, decisions and open "
    "questions; drop greetings and small talk."
)


class TurnStatus(StrEnum):
    OK = "ok"
    LOOP = "loop"
    MAX_STEPS = "max_steps"
    TIMEOUT = "timeout"
    MODEL_ERROR = "model_error"
    NO_MODEL = "no_model"


@dataclass(frozen=True, slots=True)
class TurnRequest:
    turn_id: str
    chat: ChatRef
    sender: Sender
    role: Role
    text: str
    model: str | None
    mark_side_effect: Callable[[str], Awaitable[None]]
    images: tuple[ImagePart, ...] = ()
    reply_to_text: str | None = None
    forwarded_from: str | None = None
    on_text: TextCallback | None = None
    io: ChatIO | None = None


@dataclass(slots=True)
class TurnOutcome:
    reply: str
    status: TurnStatus
    messages: list[ChatMessage] = field(default_factory=list)  # to append to the history
    usage: Usage = field(default_factory=Usage)
    provider: str | None = None
    steps: int = 0
    summary: Summary | None = None  # a new summary of older history, for the turn's owner to store
    files: list[OutFile] = field(default_factory=list)  # pictures and files the reply carries


@dataclass(frozen=True, slots=True)
class Summary:
    text: str
    upto: int  # the id of the last message it covers


def _same_call_key(name: str, arguments: str) -> tuple[str, str]:
    try:
        canonical = json.dumps(json.loads(arguments or "{}"), sort_keys=True)
    except ValueError:
        canonical = arguments.strip()
    return name, canonical


class _Deadline:
    """The turn's deadline, which a tool may pause while a person decides (an approval)."""

    def __init__(self, at: float) -> None:
        self.at = at  # time.monotonic() value
        self.timeout: asyncio.Timeout | None = None

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        remaining = max(self.at - time.monotonic(), 10.0)
        if self.timeout is not None:
            self.timeout.reschedule(None)
        try:
            yield
        finally:
            self.at = time.monotonic() + remaining
            if self.timeout is not None:
                self.timeout.reschedule(_loop_time(self.at))


class Agent:
    def __init__(
        self,
        *,
        client: ModelClient,
        tools: ToolRegistry,
        policy: Policy,
        assistant: AssistantSection,
        settings: AgentSection,
        recall: Recaller | None = None,
        no_model: tuple[str, str] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._client = client
        self.no_model = no_model or ("", APPLY_SYSTEMD)  # (config file, how it applies)
        self._tools = tools
        self._policy = policy
        self._recall = recall
        self._clock = clock or SystemClock()
        self.configure(assistant, settings)

    def configure(self, assistant: AssistantSection, settings: AgentSection) -> None:
        self._assistant = assistant
        self._settings = settings
        self._zone = ZoneInfo(assistant.timezone)

    @property
    def timezone(self) -> ZoneInfo:
        """The zone of the person being answered (/tz), else ``[assistant] timezone``."""
        zone = i18n.current_zone(self._assistant.timezone)
        return self._zone if zone == self._zone.key else ZoneInfo(zone)

    async def run_turn(
        self,
        conversation: Conversation,
        request: TurnRequest,
        *,
        history: list[StoredMessage],
    ) -> TurnOutcome:
        """One turn over ``history`` (the conversation's stored messages). Nothing is
        written: the outcome carries the messages to append and, when older history was
        summarized, the new summary (``TurnRunner`` stores both)."""
        settings = self._settings
        deadline = time.monotonic() + settings.turn_timeout
        user = prompt.user_message(
            request.text,
            images=request.images,
            reply_to_text=request.reply_to_text,
            forwarded_from=request.forwarded_from,
        )
        if not self._client.providers:
            return TurnOutcome(no_model_hint(*self.no_model), TurnStatus.NO_MODEL)
        outcome = TurnOutcome("", TurnStatus.OK, messages=[user])
        clock = _Deadline(deadline)
        try:
            async with asyncio.timeout_at(_loop_time(deadline)) as timeout:
                clock.timeout = timeout
                window, summary = await self._history(
                    conversation, request.model, deadline, history, outcome
                )
                memories = None
                if self._recall is not None:
                    memories = await self._recall.recall(request.chat, request.sender, request.text)
                system = prompt.system_prompt(
                    self._assistant.system_prompt,
                    name=self._assistant.name,
                    now=now(self._clock, self.timezone),
                    summary=summary,
                    extra=[memories] if memories else [],
                )
                messages = [ChatMessage("system", system), *window, user]
                await self._steps(request, messages, outcome, clock)
        except TimeoutError:
            outcome.status = TurnStatus.TIMEOUT
            outcome.reply = tr(
                "Sorry, this took longer than {seconds:g} seconds and was stopped (turn {turn})."
            ).format(seconds=settings.turn_timeout, turn=request.turn_id)
        except NoModelConfigured:
            outcome.status, outcome.reply = TurnStatus.NO_MODEL, no_model_hint(*self.no_model)
        except ModelRequestError as exc:
            outcome.status = TurnStatus.MODEL_ERROR
            outcome.reply = tr("The model could not answer: {error}.").format(error=exc)
            log.error("turn.model_rejected", error=str(exc))
        except ModelUnavailable as exc:
            outcome.status = TurnStatus.MODEL_ERROR
            outcome.reply = tr(
                "Sorry, no model answered right now; please try again in a moment (turn {turn})."
            ).format(turn=request.turn_id)
            log.error("turn.model_unavailable", error=str(exc))
        if outcome.status is not TurnStatus.OK or outcome.messages[-1].role != "assistant":
            outcome.messages.append(ChatMessage("assistant", outcome.reply))
        return outcome

    async def _steps(
        self,
        request: TurnRequest,
        messages: list[ChatMessage],
        outcome: TurnOutcome,
        clock: _Deadline,
    ) -> None:
        permissions = self._policy.permissions(request.role)
        specs = self._tools.specs(permissions)

        def attach(file: OutFile) -> bool:
            carried = sum(len(f.data) for f in outcome.files)
            if len(outcome.files) >= MAX_FILES or carried + len(file.data) > MAX_FILE_BYTES:
                return False
            outcome.files.append(file)
            return True

        ctx = ToolContext(
            turn_id=request.turn_id,
            chat=request.chat,
            sender=request.sender,
            role=request.role,
            permissions=permissions,
            timezone=self.timezone,
            mark_side_effect=request.mark_side_effect,
            io=request.io,
            hold=clock.hold,
            attach=attach,
        )
        seen: Counter[tuple[str, str]] = Counter()
        for _ in range(self._settings.max_steps):
            reply = await self._client.complete(
                ModelRequest(tuple(messages), specs),
                model=request.model,
                deadline=clock.at,
                on_text=request.on_text,
            )
            outcome.steps += 1
            outcome.usage += reply.usage
            outcome.provider = reply.provider
            if not reply.tool_calls:
                outcome.reply = self._bounded(reply.text.strip(), reply.provider)
                outcome.messages.append(ChatMessage("assistant", outcome.reply))
                return
            call_message = ChatMessage("assistant", reply.text, tool_calls=reply.tool_calls)
            messages.append(call_message)
            outcome.messages.append(call_message)
            looping: str | None = None
            for call in reply.tool_calls:
                key = _same_call_key(call.name, call.arguments)
                seen[key] += 1
                if looping or seen[key] >= 3:
                    looping = looping or call.name
                    content = "Not run: this exact call was already made twice in this turn."
                else:
                    result = await self._tools.invoke(call.name, call.arguments, ctx)
                    content = f"Error: {result.content}" if result.is_error else result.content
                tool_message = ChatMessage("tool", content, tool_call_id=call.id, name=call.name)
                messages.append(tool_message)
                outcome.messages.append(tool_message)
            if looping:
                outcome.status = TurnStatus.LOOP
                outcome.reply = tr(
                    "I stopped: the tool {tool!r} was requested a third time with the same "
                    "arguments in this turn, which looks like a loop. Please rephrase or give "
                    "me more detail."
                ).format(tool=looping)
                log.warning("turn.loop_detected", tool=looping)
                return
        outcome.status = TurnStatus.MAX_STEPS
        outcome.reply = tr(
            "I stopped after {steps} steps without a final answer. Ask me to continue, or "
            "narrow the question."
        ).format(steps=self._settings.max_steps)

    def _bounded(self, text: str, provider: str) -> str:
        """The final answer, cut at four times the provider's ``max_tokens`` (our estimate is
        rough; a provider may ignore the limit: a 3 MB answer would become hundreds of chat
        messages)."""
        if not text:
            return tr("(The model returned an empty answer.)")
        settings = self._client.get(provider)
        limit = 4 * (settings.max_tokens if settings is not None else 4096)
        if estimate_tokens(text) <= limit:
            return text
        log.warning("turn.answer_cut", provider=provider, chars=len(text))
        cut = tr("(Cut: the model wrote far more than it may.)")
        return f"{clip_tokens(text, limit)}\n\n{cut}"

    async def _history(
        self,
        conversation: Conversation,
        model: str | None,
        deadline: float,
        stored: list[StoredMessage],
        outcome: TurnOutcome,
    ) -> tuple[list[ChatMessage], str | None]:
        cap = self._settings.summary_tokens
        summary = clip_tokens(conversation.summary, cap) if conversation.summary else None
        budget = self._settings.history_tokens
        if sum(m.tokens for m in stored) > budget:
            older, stored = prompt.split_history(stored, budget * 2 // 3)
            if older:
                summary = await self._summarize(summary, older, model, deadline)
                outcome.summary = Summary(summary or "", older[-1].id)
        return [prompt.from_stored(m) for m in stored], summary

    async def _summarize(
        self,
        earlier: str | None,
        older: list[StoredMessage],
        model: str | None,
        deadline: float,
    ) -> str | None:
        """A new summary of ``earlier`` (the summary so far) and ``older``, within
        ``summary_tokens`` whatever the model returns: it is sent with every turn."""
        cap = self._settings.summary_tokens
        previous = f"Earlier summary:\n{earlier}\n\n" if earlier else ""
        request = ModelRequest(
            (
                ChatMessage("system", _SUMMARY_PROMPT.format(words=max(20, cap * 3 // 8))),
                ChatMessage("user", previous + prompt.transcript(older)),
            ),
            max_tokens=cap,
        )
        try:
            reply = await self._client.complete(
                request, model=model, deadline=min(deadline, time.monotonic() + 30)
            )
        except (ModelUnavailable, ModelRequestError) as exc:
            # Without a summary the older messages are simply left out of the window.
            log.warning("history.summary_failed", error=str(exc))
            return earlier
        summary = clip_tokens(reply.text.strip(), cap)
        log.info("history.summarized", messages=len(older), chars=len(summary))
        return summary


def _loop_time(monotonic_deadline: float) -> float:
    loop = asyncio.get_running_loop()
    return loop.time() + (monotonic_deadline - time.monotonic())


def stored_messages(outcome: TurnOutcome) -> list[StoredMessage]:
    return [prompt.to_stored(m) for m in outcome.messages]
