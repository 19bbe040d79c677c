"""What the chat channels share: cutting a long reply into messages, and the webhook rules
(which route a channel serves, and when a delivery is deferred rather than acknowledged).
Pure functions but ``answer_or_defer``."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog

from assistant.core.errors import IntakeClosed, StateError
from assistant.core.ports import WebhookHandler

log = structlog.get_logger(__name__)

T = TypeVar("T")

# --- splitting -------------------------------------------------------------------------------

_FENCE = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")
_REOPEN_MAX = 64  # a fence line longer than this is reopened without its info string


@dataclass(frozen=True, slots=True)
class _Fence:
    run: str  # the backticks or tildes: what closes it
    reopen: str  # the line that opens it again in the next piece


def _after(fence: _Fence | None, line: str) -> _Fence | None:
    """The fenced code block open after ``line`` (CommonMark's rules, any indentation)."""
    match = _FENCE.match(line)
    if fence is None:
        if match is None or (match.group(1)[0] == "`" and "`" in match.group(2)):
            return None
        opener = line.strip()
        return _Fence(match.group(1), opener if len(opener) <= _REOPEN_MAX else match.group(1))
    if match is None:
        return fence
    run, rest = match.group(1), match.group(2)
    closes = run[0] == fence.run[0] and len(run) >= len(fence.run) and not rest.strip()
    return None if closes else fence


_Line = tuple[str, "_Fence | None"]  # a line and the fence open after it


def _blocks(text: str, fences: bool) -> list[tuple[list[str], list[_Line]]]:
    """Paragraphs (cut at blank lines outside code blocks), each with the blank lines
    before it."""
    blocks: list[tuple[list[str], list[_Line]]] = []
    gap: list[str] = []
    block: list[_Line] = []
    fence: _Fence | None = None
    for line in text.split("\n"):
        if fence is None and not line.strip():
            if block:
                blocks.append((gap, block))
                gap, block = [], []
            gap.append(line)
            continue
        if fences:
            fence = _after(fence, line)
        block.append((line, fence))
    if block:
        blocks.append((gap, block))
    return blocks


class _Pieces:
    """Greedy packing: a paragraph goes whole into this piece, or whole into the next; one
    longer than a piece fills this one line by line, and a line longer than a piece is cut.
    A piece that ends inside a code block closes it, and the next piece opens it again."""

    def __init__(self, limit: int, size: Callable[[str], int]) -> None:
        self.limit = limit
        self.size = size
        self.done: list[str] = []
        self.lines: list[str] = []
        self.fence: _Fence | None = None  # open at the end of ``lines``
        self.full = False  # ``lines`` holds more than a reopened fence

    def fits(self, extra: list[str], fence: _Fence | None) -> bool:
        lines = [*self.lines, *extra, fence.run] if fence else [*self.lines, *extra]
        text = "\n".join(lines).strip("\n")
        return len(text) <= self.limit and self.size(text) <= self.limit

    def append(self, extra: list[str], fence: _Fence | None) -> None:
        self.lines += extra
        self.fence = fence
        self.full = True

    def flush(self) -> None:
        if self.full:
            lines = [*self.lines, self.fence.run] if self.fence else self.lines
            piece = "\n".join(lines).strip("\n")
            if piece.strip():
                self.done.append(piece)
        self.lines = [self.fence.reopen] if self.fence else []
        self.full = False

    def block(self, gap: list[str], block: list[_Line]) -> None:
        lines, fence = [line for line, _ in block], block[-1][1]
        extra = [*gap, *lines] if self.full else lines
        if self.fits(extra, fence):
            self.append(extra, fence)
            return
        if self.full:
            closed = "\n".join([*lines, fence.run] if fence else lines).strip("\n")
            if len(closed) <= self.limit and self.size(closed) <= self.limit:  # whole, next
                self.flush()
                self.append(lines, fence)
                return
            block = [(line, None) for line in gap] + block
        self.each_line(block)  # too long for any piece: cut where this one is full

    def each_line(self, block: list[_Line]) -> None:
        items = list(block)
        i = 0
        while i < len(items):
            taken = self.most(items, i)
            if taken:
                self.append([line for line, _ in items[i : i + taken]], items[i + taken - 1][1])
                i += taken
                continue
            line, fence = items[i]
            if self.full and self.alone_fits(line, fence):
                self.flush()
                continue
            head = self.head(line)
            if not head and self.full:
                self.flush()
                continue
            if not head:  # not one character fits (a limit of almost nothing): send one
                head = line[:1]
                if head == line:
                    self.append([line], fence)
                    self.flush()
                    i += 1
                    continue
            self.append([head], self.fence)
            self.flush()
            items[i] = (line[len(head) :], fence)

    def alone_fits(self, line: str, fence: _Fence | None) -> bool:
        """Would ``line`` fit in the next piece?"""
        lines = [self.fence.reopen, line] if self.fence else [line]
        text = "\n".join([*lines, fence.run] if fence else lines)
        return len(text) <= self.limit and self.size(text) <= self.limit

    def head(self, line: str) -> str:
        """The longest start of ``line`` (shorter than it, at most ``limit`` characters) that
        fits in this piece, cut after a space where one is in its second half; "" when none
        does."""
        longest = min(len(line) - 1, self.limit)
        if longest < 1:
            return ""
        if self.fits([line[:longest]], self.fence):
            good = longest
        else:  # bisect
            good, bad = 0, longest
            while bad - good > 1:
                middle = (good + bad) // 2
                good, bad = (
                    (middle, bad) if self.fits([line[:middle]], self.fence) else (good, middle)
                )
            if not good:
                return ""
        space = line.rfind(" ", 0, good)
        return line[: space + 1 if space > good // 2 else good]

    def most(self, items: list[_Line], i: int) -> int:
        """How many of ``items[i:]`` fit in this piece (galloping, then bisecting)."""

        def fit(count: int) -> bool:
            return self.fits([line for line, _ in items[i : i + count]], items[i + count - 1][1])

        left = len(items) - i
        if not fit(1):
            return 0
        good, probe = 1, 2
        while probe <= left and fit(probe):
            good, probe = probe, probe * 2
        bad = min(probe, left + 1)
        while bad - good > 1:
            middle = (good + bad) // 2
            good, bad = (middle, bad) if fit(middle) else (good, middle)
        return good


def split_text(
    text: str, limit: int, *, size: Callable[[str], int] = len, fences: bool = True
) -> list[str]:
    """``text`` in pieces of at most ``limit`` as ``size`` counts: cut between paragraphs
    where possible, else between lines, else inside a line (after a space where one is
    near). With ``fences``, a fenced code block that has to be cut is closed at the end of
    one piece and opened again, with its language, at the start of the next. Text that fits
    comes back as it is; blank lines at a cut are dropped; whitespace alone gives ``[]``.

    ``size`` must count no string as shorter than its characters (``len``, UTF-16 code units,
    UTF-8 bytes, a rendered length taken with the larger of those): a piece longer than
    ``limit`` characters is never measured."""
    if len(text) <= limit and size(text) <= limit:
        return [text]
    pieces = _Pieces(limit, size)
    for gap, block in _blocks(text, fences):
        pieces.block(gap, block)
    pieces.flush()
    return pieces.done


# --- webhooks --------------------------------------------------------------------------------

DEFERRED = (IntakeClosed, StateError)  # not recorded: the platform must deliver it again


def webhook_routes(
    mode: str, path: str, handler: WebhookHandler
) -> list[tuple[str, str, WebhookHandler]]:
    """The gateway route of a channel that receives by webhook; none in any other mode."""
    return [("POST", path, handler)] if mode == "webhook" else []


async def answer_or_defer(channel: str, source: str, answer: Awaitable[T], deferred: T) -> T:
    """What ``answer`` gives; ``deferred`` (an answer that makes the platform deliver the
    event again) when it could not be recorded: the state refuses writes or we are closing."""
    try:
        return await answer
    except DEFERRED as exc:
        log.warning("channel.deferred", channel=channel, source=source, error=str(exc))
        return deferred
