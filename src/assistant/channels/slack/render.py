"""Our replies → Slack ``chat.postMessage`` arguments (text, blocks). Pure functions.

Markdown becomes Slack's mrkdwn (``*bold*``, ``~struck~``, ``<url|text>``; ``&``, ``<`` and
``>`` escaped outside code, so a reply cannot mention @channel or anyone). Text goes in pieces
of at most 3000 characters (a section block's limit; ``channels.common.split_text``). Buttons
go in an actions block under the last piece: their ``value`` is our action id.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from assistant.channels.common import split_text
from assistant.core.messages import Button

TEXT_LIMIT = 3000
BUTTON_TEXT = 75
BUTTONS_PER_BLOCK = 25
VALUE_LIMIT = 2000

Payload = dict[str, Any]

_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _prose(piece: str) -> str:
    links: list[str] = []

    def keep(match: re.Match[str]) -> str:
        links.append(f"<{match.group(2)}|{_escape(match.group(1))}>")
        return f"\x00{len(links) - 1}\x00"

    piece = _escape(_LINK.sub(keep, piece.replace("\x00", "")))
    piece = _HEADING.sub(r"*\1*", piece)
    piece = _BOLD.sub(r"*\1*", piece)
    piece = _STRIKE.sub(r"~\1~", piece)
    return re.sub(r"\x00(\d+)\x00", lambda m: links[int(m.group(1))], piece)


def mrkdwn(markdown: str) -> str:
    pieces = re.split(r"(```.*?```|`[^`\n]*`)", markdown, flags=re.DOTALL)
    return "".join(_escape(p) if p.startswith("`") else _prose(p) for p in pieces)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def buttons_blocks(text: str, buttons: Sequence[Button]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    for start in range(0, len(buttons), BUTTONS_PER_BLOCK):
        elements = []
        for index, button in enumerate(buttons[start : start + BUTTONS_PER_BLOCK], start):
            if len(button.action_id) > VALUE_LIMIT:
                raise ValueError(f"action id {button.action_id[:40]!r}… is too long")
            element: dict[str, Any] = {
                "type": "button",
                "text": {"type": "plain_text", "text": _cut(button.label, BUTTON_TEXT)},
                "action_id": f"b{index}",
                "value": button.action_id,
            }
            if button.style in ("primary", "danger"):
                element["style"] = button.style
            elements.append(element)
        blocks.append({"type": "actions", "elements": elements})
    return blocks


def render_message(
    text: str, format: Literal["markdown", "plain"], buttons: Sequence[Sequence[Button]] = ()
) -> list[Payload]:
    shown = mrkdwn(text) if format == "markdown" else _escape(text)
    pieces = [p for p in split_text(shown, TEXT_LIMIT) if p.strip()]
    flat = [button for row in buttons for button in row]
    if not flat:
        return [{"text": piece} for piece in pieces]
    last = pieces.pop() if pieces else "…"
    return [{"text": p} for p in pieces] + [{"text": last, "blocks": buttons_blocks(last, flat)}]
