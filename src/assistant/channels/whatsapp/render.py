"""Our replies → WhatsApp Cloud API message payloads (without the recipient). Pure functions.

Text goes in messages of at most 4096 characters (``channels.common.split_text``), with
Markdown turned into WhatsApp's own marks (``*bold*``, ``_italic_``, ``~struck~``).

Buttons: WhatsApp's reply buttons are at most 3 per message, each title at most 20
characters, and the message body at most 1024 characters. A reply with buttons sends its text
first (all but the last 1024 characters or so as plain messages) and the last piece as the
interactive message. Up to 3 buttons are reply buttons (an approval: Approve, Deny); more
become a list message (a menu of up to 10 rows, 24 characters a title) and past 10 rows, more
list messages. The button's action id comes back as the reply's id (at most 256 characters).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from assistant.channels.common import split_text
from assistant.core.messages import Button

TEXT_LIMIT = 4096
BODY_LIMIT = 1024  # an interactive message's body
MAX_BUTTONS = 3
BUTTON_TITLE = 20
MAX_ROWS = 10
ROW_TITLE = 24
ID_LIMIT = 256
MENU_LABEL = "☰"  # the list's opening button: a sign, no language

Payload = dict[str, Any]

_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")


def whatsapp_marks(markdown: str) -> str:
    """Markdown's bold, headings and strike-through in WhatsApp's marks (code stays as it is)."""
    out: list[str] = []
    for piece in re.split(r"(```.*?```|`[^`\n]*`)", markdown, flags=re.DOTALL):
        if piece.startswith("`"):
            out.append(piece)
            continue
        piece = _HEADING.sub(r"*\1*", piece)
        piece = _BOLD.sub(r"*\1*", piece)
        out.append(_STRIKE.sub(r"~\1~", piece))
    return "".join(out)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def text_payload(text: str) -> Payload:
    return {"type": "text", "text": {"body": text, "preview_url": False}}


def _check(button: Button) -> None:
    if len(button.action_id) > ID_LIMIT:
        raise ValueError(f"action id {button.action_id[:40]!r}… is too long")


def buttons_payload(body: str, buttons: Sequence[Button]) -> Payload:
    """Up to 3 reply buttons under ``body`` (at most 1024 characters)."""
    for button in buttons:
        _check(button)
    return {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": _cut(body, BODY_LIMIT)},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": b.action_id, "title": _cut(b.label, 20)}}
                    for b in buttons[:MAX_BUTTONS]
                ]
            },
        },
    }


def list_payload(body: str, buttons: Sequence[Button]) -> Payload:
    """Up to 10 choices as a list message under ``body``."""
    for button in buttons:
        _check(button)
    rows = [{"id": b.action_id, "title": _cut(b.label, ROW_TITLE)} for b in buttons[:MAX_ROWS]]
    return {
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": _cut(body, BODY_LIMIT)},
            "action": {"button": MENU_LABEL, "sections": [{"title": "…", "rows": rows}]},
        },
    }


def render_message(
    text: str,
    format: Literal["markdown", "plain"],
    buttons: Sequence[Sequence[Button]] = (),
) -> list[Payload]:
    """The messages that show ``text`` (and its buttons, on the last ones)."""
    shown = whatsapp_marks(text) if format == "markdown" else text
    flat = [button for row in buttons for button in row]
    pieces = [piece for piece in split_text(shown, TEXT_LIMIT) if piece.strip()]
    if not flat:
        return [text_payload(piece) for piece in pieces]
    last = pieces.pop() if pieces else "…"  # an interactive message needs a body
    if len(last) > BODY_LIMIT:
        tail = [piece for piece in split_text(last, BODY_LIMIT) if piece.strip()]
        last = tail.pop()
        pieces += tail
    out = [text_payload(piece) for piece in pieces]
    if len(flat) <= MAX_BUTTONS:
        out.append(buttons_payload(last, flat))
        return out
    for start in range(0, len(flat), MAX_ROWS):
        out.append(list_payload(last if start == 0 else "…", flat[start : start + MAX_ROWS]))
    return out


def template_payload(
    name: str, language: str, text: str | None, actions: Sequence[str] = ()
) -> Payload:
    """An approved template (outside the 24-hour window), its one body parameter ``text``;
    ``actions`` go, in order, as the payloads of its quick-reply buttons (a press comes back
    as a ``button`` message with that payload)."""
    template: dict[str, Any] = {"name": name, "language": {"code": language}}
    components: list[dict[str, Any]] = []
    if text is not None:
        parameter = {"type": "text", "text": _cut(" ".join(text.split()), BODY_LIMIT)}
        components.append({"type": "body", "parameters": [parameter]})
    for index, action in enumerate(actions):
        if len(action) > ID_LIMIT:
            raise ValueError(f"action id {action[:40]!r}… is too long")
        components.append(
            {
                "type": "button",
                "sub_type": "quick_reply",
                "index": str(index),
                "parameters": [{"type": "payload", "payload": action}],
            }
        )
    if components:
        template["components"] = components
    return {"type": "template", "template": template}
