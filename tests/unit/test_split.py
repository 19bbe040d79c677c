"""The one splitter both channels use (``channels.common.split_text``), for the whole class
of replies: paragraphs, lists, quotes, tables, fenced code (backticks and tildes, with and
without a language, left open at the end), lines longer than a message, CJK and emoji; with
Telegram's sizes (rendered HTML, UTF-16) and Feishu's (characters, UTF-8 bytes)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.channels.common import split_text
from assistant.channels.feishu.render import CARD_BYTES, TEXT_LIMIT
from assistant.channels.telegram.render import (
    LIMIT,
    markdown_to_html,
    render_parts,
    utf16_len,
    visible_len,
)
from tests.fakes.telegram import check_html

FENCE = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")


def telegram_size(markdown: str) -> int:
    return max(visible_len(markdown_to_html(markdown)), utf16_len(markdown))


def utf8_size(text: str) -> int:
    return len(text.encode())


# (name, size, limit, fences): the sizes and limits the channels use, and small limits that
# make short texts cut often
SIZES: list[tuple[str, Callable[[str], int], int, bool]] = [
    ("telegram markdown", telegram_size, LIMIT, True),
    ("telegram markdown, small", telegram_size, 300, True),
    ("telegram plain", utf16_len, LIMIT, False),
    ("feishu text", len, TEXT_LIMIT, True),
    ("feishu card", utf8_size, CARD_BYTES, True),
    ("feishu card, small", utf8_size, 300, True),
]

WORDS = st.sampled_from(
    [
        "word",
        "lorem",
        "ipsum",
        "**bold**",
        "_it_",
        "`x<1>`",
        "a&b",
        "数据",
        "🙂",
        "日本語",
        "x" * 40,
    ]
)


@st.composite
def words(draw: st.DrawFn, long: int) -> str:
    """A line of up to ``long`` words."""
    vocabulary = draw(st.lists(WORDS, min_size=1, max_size=6))
    count = draw(st.integers(1, long))
    return " ".join(itertools.islice(itertools.cycle(vocabulary), count))


@st.composite
def lines(draw: st.DrawFn, long: int) -> list[str]:
    """One Markdown construct as lines; ``long`` scales how long a line may grow."""
    line = words(long)
    kind = draw(st.sampled_from(["text", "text", "list", "quote", "heading", "table", "code"]))
    if kind == "text":
        return [draw(line)]
    if kind == "list":
        marker = draw(st.sampled_from(["-", "*", "1."]))
        return [f"{marker} {w}" for w in draw(st.lists(line, min_size=1, max_size=5))]
    if kind == "quote":
        return [f"> {draw(line)}"]
    if kind == "heading":
        return [f"## {draw(words(12))}"]
    if kind == "table":
        rows = draw(st.lists(st.tuples(words(6), words(6)), min_size=1, max_size=long // 4 + 1))
        return ["| a | b |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)]
    run = draw(st.sampled_from(["```", "````", "~~~"]))
    info = draw(st.sampled_from(["", "python", "sh"]))
    body = draw(st.lists(words(long // 4 + 1) | st.just(""), min_size=1, max_size=long))
    closed = draw(st.booleans() | st.just(True))
    return [f"{run}{info}", *body, *([run] if closed else [])]


def texts(long: int, blocks: int) -> st.SearchStrategy[str]:
    gaps = st.sampled_from(["\n", "\n\n", "\n\n\n"])
    return st.lists(
        st.tuples(lines(long), gaps), min_size=max(1, blocks // 3), max_size=blocks
    ).map(lambda parts: "".join("\n".join(block) + gap for block, gap in parts))


def content(text: str) -> str:
    """What a reader must find in the pieces: every character but whitespace, fence lines
    left out (cutting a code block closes and reopens it)."""
    return "".join("".join(line.split()) for line in text.split("\n") if not FENCE.match(line))


def ends_inside_a_fence(text: str) -> bool:
    """CommonMark: a fence closes with the same character, at least as long, nothing after."""
    fence: str | None = None
    for line in text.split("\n"):
        match = FENCE.match(line)
        if fence is None:
            if match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
                fence = match.group(1)
        elif match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
            fence = fence if match.group(2).strip() else None
    return fence is not None


@pytest.mark.parametrize(("name", "size", "limit", "fences"), SIZES, ids=[s[0] for s in SIZES])
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_every_piece_fits_keeps_the_content_and_closes_its_code(name, size, limit, fences, data):
    text = data.draw(texts(long=max(8, limit // 20), blocks=12))
    pieces = split_text(text, limit, size=size, fences=fences)
    if size(text) <= limit:
        assert pieces == [text]
        return
    assert pieces, "text with words gives pieces"
    for piece in pieces:
        assert piece.strip() and not piece.startswith("\n") and not piece.endswith("\n")
        assert size(piece) <= limit, (name, size(piece))
    assert content("\n".join(pieces)) == content(text)
    if fences:
        balanced = pieces if not ends_inside_a_fence(text) else pieces[:-1]
        assert not any(ends_inside_a_fence(piece) for piece in balanced)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts(long=200, blocks=12))
def test_telegram_parts_are_valid_html_within_the_limit(text):
    for part in render_parts(text, "markdown"):
        error, visible = check_html(part.text)
        assert error is None, error
        assert utf16_len(visible) <= LIMIT and utf16_len(part.source) <= LIMIT


KNOWN = [
    ("short", 10, ["short"]),
    ("x" * 25, 10, ["x" * 10, "x" * 10, "x" * 5]),
    ("one two three four", 9, ["one two ", "three ", "four"]),  # after a space where one is near
    ("para one\n\npara two", 12, ["para one", "para two"]),  # blank lines at a cut dropped
    ("```py\naaaa\nbbbb\ncccc\n```", 20, ["```py\naaaa\nbbbb\n```", "```py\ncccc\n```"]),
    (
        "~~~~\n```\n~~~~ x\nbbbb\n~~~~",
        16,
        ["~~~~\n```\n~~~~", "~~~~\n~~~~ x\n~~~~", "~~~~\nbbbb\n~~~~"],
    ),
    (
        "a\n\n" + "b " * 10,
        12,
        ["a\n\nb b b b ", "b b b b b b "],
    ),  # a long paragraph fills the piece
    ("aaaaaaa\n\nbbbbbbb", 12, ["aaaaaaa", "bbbbbbb"]),  # one that fits a piece stays whole
    (" " * 20, 10, []),
]


@pytest.mark.parametrize(("text", "limit", "expected"), KNOWN)
def test_known_cuts(text, limit, expected):
    assert split_text(text, limit) == expected
