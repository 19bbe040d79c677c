"""Our replies → Feishu message payloads. Pure functions.

Short unformatted replies go as text messages; formatted or long replies, and anything with
buttons or that will be edited while it streams, as interactive cards (card JSON 2.0 with a
markdown element). A card's JSON must stay under 30 KB, so long replies are split on line
boundaries into several cards (``channels.common.split_text``); a code block cut in two is
closed and reopened.

Card markdown reads ``<at id=all></at>``, ``<font>`` and similar tags; ``<`` outside code is
escaped so a reply can never mention everyone or restyle itself. Text messages read
``<at user_id=...>``, which is broken up the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from assistant.channels.common import split_text
from assistant.core.messages import Button

TEXT_LIMIT = 4000  # characters per text message (Feishu allows far more; keeps it readable)
SIMPLE_LIMIT = 1500  # an unformatted reply up to this length goes as a text message
CARD_BYTES = 24_000  # markdown bytes per card, leaving room for JSON escaping and buttons
ACTION_VALUE_LIMIT = 200  # our action ids are short; this guards the button value

_FORMATTING = re.compile(r"[*_`~<>#\[\]|]|^\s*(?:[-+]|\d+[.)])\s", re.MULTILINE)
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_AT_TAG = re.compile(r"<(?=at\b)", re.IGNORECASE)
_STYLES = {"default": "default", "primary": "primary", "danger": "danger"}


@dataclass(frozen=True, slots=True)
class Payload:
    msg_type: Literal["text", "interactive", "image", "file"]
    content: str  # the JSON string Feishu expects in "content"


def is_simple(markdown: str) -> bool:
    """True when the text has no Markdown worth rendering and is short."""
    return len(markdown) <= SIMPLE_LIMIT and not _FORMATTING.search(markdown)


def text_content(text: str) -> str:
    return json.dumps({"text": _AT_TAG.sub("<\u200b", text)}, ensure_ascii=False)


def escape_markdown(markdown: str) -> str:
    """Escape ``<`` outside code spans and fenced blocks (card markdown reads it as a tag)."""
    out: list[str] = []
    fence: str | None = None
    for line in markdown.split("\n"):
        match = _FENCE.match(line)
        if fence is not None:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = None
            out.append(line)
            continue
        if match:
            fence = match.group(1)
            out.append(line)
            continue
        pieces = re.split(r"(`+[^`]*`+)", line)
        out.append("".join(p if p.startswith("`") else p.replace("<", "&lt;") for p in pieces))
    return "\n".join(out)


def _size(text: str) -> int:
    return len(text.encode())


def button_value(button: Button, *, group: bool, thread: str | None) -> dict[str, Any]:
    if len(button.action_id) > ACTION_VALUE_LIMIT:
        raise ValueError(f"action id {button.action_id[:40]!r}… is too long")
    value: dict[str, Any] = {"action": button.action_id, "chat": "group" if group else "p2p"}
    if thread:
        value["thread"] = thread
    return value


def _buttons(rows: Sequence[Sequence[Button]], *, group: bool, thread: str | None) -> list[Any]:
    elements = []
    for row in rows:
        columns = [
            {
                "tag": "column",
                "width": "auto",
                "elements": [
                    {
                        "tag": "button",
                        "text": {"tag": "plain_text", "content": button.label},
                        "type": _STYLES.get(button.style, "default"),
                        "behaviors": [
                            {
                                "type": "callback",
                                "value": button_value(button, group=group, thread=thread),
                            }
                        ],
                    }
                ],
            }
            for button in row
        ]
        if columns:
            elements.append({"tag": "column_set", "columns": columns})
    return elements


def card(
    text: str,
    *,
    fmt: Literal["markdown", "plain"] = "markdown",
    buttons: Sequence[Sequence[Button]] = (),
    group: bool = False,
    thread: str | None = None,
) -> dict[str, Any]:
    """One card JSON 2.0 object showing ``text`` (already escaped and split to size)."""
    if fmt == "plain":
        body: dict[str, Any] = {"tag": "div", "text": {"tag": "plain_text", "content": text}}
    else:
        body = {"tag": "markdown", "content": text}
    return {
        "schema": "2.0",
        "config": {"update_multi": True},
        "body": {"elements": [body, *_buttons(buttons, group=group, thread=thread)]},
    }


def card_payloads(
    text: str,
    fmt: Literal["markdown", "plain"],
    buttons: Sequence[Sequence[Button]] = (),
    *,
    group: bool = False,
    thread: str | None = None,
) -> list[Payload]:
    source = escape_markdown(text) if fmt == "markdown" else text
    pieces = (split_text(source, CARD_BYTES, size=_size) if source.strip() else None) or ["…"]
    payloads = []
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        body = card(piece, fmt=fmt, buttons=buttons if last else (), group=group, thread=thread)
        payloads.append(Payload("interactive", json.dumps(body, ensure_ascii=False)))
    return payloads


def text_payloads(text: str) -> list[Payload]:
    pieces = split_text(text or "…", TEXT_LIMIT) or ["…"]
    return [Payload("text", text_content(piece)) for piece in pieces]


def render_message(
    text: str,
    fmt: Literal["markdown", "plain"],
    buttons: Sequence[Sequence[Button]] = (),
    *,
    group: bool = False,
    thread: str | None = None,
    prefer_cards: bool = False,
) -> list[Payload]:
    """The messages that show ``text``: text messages when nothing calls for a card."""
    if not buttons and (fmt == "plain" or (not prefer_cards and is_simple(text))):
        return text_payloads(text)
    return card_payloads(text, fmt, buttons, group=group, thread=thread)


def action_response(toast: str | None, *, alert: bool = False) -> dict[str, Any]:
    """The body answering a card callback: a toast shown to the presser, or nothing."""
    if not toast:
        return {}
    return {"toast": {"type": "error" if alert else "info", "content": toast[:200]}}
