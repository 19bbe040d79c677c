"""Text that comes from other people, made safe to show on one line.

A display name is chosen by whoever owns the account: it may hold newlines, control
characters or bidirectional overrides that add fake lines to an owner's list or reorder what
an approval card says. ``one_line`` keeps what a person can read and nothing that moves text.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata

from assistant.core.messages import InboundMessage

NAME_LIMIT = 64
MAX_ROW_ID = 2**63 - 1  # SQLite's largest integer: a larger id names no row

# Cc: controls (newlines, tabs, escape, NUL…); Cf: format characters (bidi overrides and
# isolates, zero-width spaces, BOM); Zl/Zp: line and paragraph separators; Cs: lone surrogates.
_DROP = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_JOINERS = frozenset({"\u200c", "\u200d"})  # kept: emoji sequences and Persian need them
_SPACES = re.compile(r"\s+")
_PLAIN = re.compile(r"[ -~]*")  # printable ASCII: nothing to clean


def one_line(text: str | None, limit: int = NAME_LIMIT) -> str:
    """``text`` without control, format and separator characters (each becomes a space),
    with runs of spaces collapsed, trimmed, and cut to ``limit`` characters (``…`` marks a
    cut)."""
    if not text:
        return ""
    if not _PLAIN.fullmatch(text):
        text = "".join(
            " " if unicodedata.category(ch) in _DROP and ch not in _JOINERS else ch for ch in text
        )
    text = _SPACES.sub(" ", text).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def code_span(text: str | None, limit: int = 200) -> str:
    """``text`` on one line as a Markdown code span: what someone else wrote (a name, an alert's
    title from a host) shows as the text it is, never as a link, bold or a heading."""
    return "`" + (one_line(text, limit).replace("`", "'") or "-") + "`"


def typed_id(text: str) -> int | None:
    """The row id a person typed (``12``, ``#12``), or None when ``text`` is not one: a sign,
    an exponent, digits of another script. An id beyond ``MAX_ROW_ID`` comes back as it is;
    whoever looks it up answers as for any id that names nothing (``known_id``)."""
    text = text.strip().removeprefix("#")
    return int(text) if text.isascii() and text.isdecimal() else None


def known_id(value: int) -> bool:
    """Whether ``value`` may name a row: SQLite refuses larger integers (OverflowError)."""
    return 0 <= value <= MAX_ROW_ID


def estimate_tokens(text: str) -> int:
    """About four ASCII characters per token; CJK and other characters about one each."""
    ascii_chars = len(text.encode("ascii", "ignore"))
    return ascii_chars // 4 + (len(text) - ascii_chars) + 1


def clip_tokens(text: str, tokens: int) -> str:
    """``text`` cut (at a word or line where one is near, with ``…``) so that its estimate
    stays within ``tokens``: text a model wrote can be longer than it was asked for."""
    if estimate_tokens(text) <= tokens:
        return text
    low, high = 0, min(len(text), tokens * 4)
    while low < high:  # the longest prefix within the budget
        middle = (low + high + 1) // 2
        if estimate_tokens(text[:middle]) + 1 <= tokens:
            low = middle
        else:
            high = middle - 1
    cut = text[:low]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space > low * 3 // 4:
        cut = cut[:space]
    return cut.rstrip() + "…"


def clean_names(message: InboundMessage) -> InboundMessage:
    """``message`` with its sender's name and username and the name it was forwarded from
    made one line (the same object when they already are)."""
    sender = message.sender
    name = one_line(sender.name)
    username = _optional(sender.username)
    forwarded = _optional(message.forwarded_from)
    if (name, username, forwarded) == (sender.name, sender.username, message.forwarded_from):
        return message
    return dataclasses.replace(
        message,
        sender=dataclasses.replace(sender, name=name, username=username),
        forwarded_from=forwarded,
    )


def _optional(text: str | None) -> str | None:
    return (one_line(text) or None) if text is not None else None
