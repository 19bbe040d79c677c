"""Intake limits: how many messages one person may send a minute, and how many may wait in one
conversation.

Past a limit a message is recorded and dropped (``assistant_messages_dropped_total``). The
first one dropped in a row gets one polite reply; the rest of that burst get nothing, so a
flood of 500 messages costs one reply and no model call. The burst ends when the person (or
the conversation) is under the limit again. Scheduled work and the owner's console
(``console:local``) are not limited; other console people are, like anyone.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from assistant.config import Config
from assistant.core.bounded import BoundedDict
from assistant.core.i18n import N_, tr
from assistant.core.messages import InboundMessage, MessageKind
from assistant.core.metrics import Metrics
from assistant.core.ports import Clock
from assistant.core.roles import Role

RATE_NOTICE = N_(
    "You are sending messages faster than I can take them (at most {limit} a minute), so I "
    "skipped this one and will skip the next ones for a while. In a minute, send again what "
    "still needs an answer."
)
QUEUE_NOTICE = N_(
    "{waiting} messages in this chat are still waiting for an answer, so I skipped this one "
    "and will skip more until I have caught up. Please wait for my replies, then send again "
    "what still needs one."
)
_UNLIMITED = frozenset({("console", "local")})  # the owner at the terminal or console


class SlidingWindow:
    """Events per key in the last ``window`` seconds; remembers at most ``max_keys`` keys
    (the least recently seen are forgotten first)."""

    def __init__(self, clock: Clock, *, window: float = 60.0, max_keys: int = 10_000) -> None:
        self._clock = clock
        self._window = window
        self._events: BoundedDict[str, deque[float]] = BoundedDict(max_keys)

    def hit(self, key: str, limit: int) -> bool:
        """Count one event for ``key`` if fewer than ``limit`` happened within the window;
        False (not counted) when the limit is reached. ``limit`` 0 means no limit."""
        if limit <= 0:
            return True
        now = self._clock.monotonic()
        events = self._events.get(key)
        if events is None:
            events = self._events[key] = deque()
        while events and now - events[0] >= self._window:
            events.popleft()
        if len(events) >= limit:
            return False
        events.append(now)
        while len(events) > limit:  # the limit was lowered by a reload
            events.popleft()
        return True


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str  # the metric's label: "rate_limit" or "queue_full"
    notice: str | None  # the one reply of this burst; None: drop without a word


class IntakeLimits:
    def __init__(self, config: Callable[[], Config], metrics: Metrics, clock: Clock) -> None:
        self._config = config
        self._metrics = metrics
        self._window = SlidingWindow(clock)
        self._bursts: BoundedDict[str, None] = BoundedDict(10_000)  # refused, not told again

    def stranger_may_write(self, message: InboundMessage) -> bool:
        """A stranger's messages cost a pairing lookup each: the same rate limit applies."""
        key = _person(message)
        if self._window.hit(key, self._config().limits.per_minute(None)):
            return True
        self._metrics.dropped.labels(message.chat.channel, "rate_limit").inc()
        return False

    def refusal(self, message: InboundMessage, role: Role, queued: int | None) -> Refusal | None:
        """Why ``message`` (already recorded) must not be processed; None: it may.
        ``queued``: how many wait before it in its conversation (None: it skips the queue)."""
        unlimited = (message.chat.channel, message.sender.user_id) in _UNLIMITED
        if message.kind is MessageKind.SCHEDULED or unlimited:
            return None
        limits = self._config().limits
        person = _person(message)
        per_minute = limits.per_minute(role)
        if not self._window.hit(person, per_minute):
            return self._refuse(message, f"rate:{person}", tr(RATE_NOTICE).format(limit=per_minute))
        self._bursts.pop(f"rate:{person}", None)
        if queued is not None and queued >= limits.queue_per_conversation:
            notice = tr(QUEUE_NOTICE).format(waiting=queued)
            return self._refuse(message, f"queue:{message.chat.key}", notice)
        self._bursts.pop(f"queue:{message.chat.key}", None)
        return None

    def _refuse(self, message: InboundMessage, burst: str, notice: str) -> Refusal:
        reason = "rate_limit" if burst.startswith("rate:") else "queue_full"
        self._metrics.dropped.labels(message.chat.channel, reason).inc()
        if burst in self._bursts:
            return Refusal(reason, None)
        self._bursts[burst] = None
        return Refusal(reason, notice)


def _person(message: InboundMessage) -> str:
    return f"{message.chat.channel}:{message.sender.user_id}"
