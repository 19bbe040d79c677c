"""Slack Events API and interactivity JSON → InboundMessage. Pure functions.

Understood: ``message`` events (direct messages; in channels, a message that mentions the bot
or is in a thread the bot is in, else it is marked not addressed), ``app_mention`` and
``block_actions`` (a press of one of our buttons; its ``value`` is our action id). Messages of
bots (ours too) and edits, deletions and other subtypes give nothing. A message arrives as a
``message`` and as an ``app_mention`` event: both have the platform id ``channel:ts``, and the
inbox keeps one. Malformed input raises ``ValueError``/``KeyError``/``TypeError``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from assistant.core.messages import Attachment, ChatRef, InboundMessage, MessageKind, Sender

CHANNEL = "slack"
MAX_TEXT = 40_000
_USER = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")
_CHANNEL_REF = re.compile(r"<#[A-Z0-9]+\|([^>]*)>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")


@dataclass(frozen=True, slots=True)
class BotIdentity:
    user_id: str  # the bot's user (U…), as mentioned: <@U…>
    team_id: str = ""


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def plain_text(text: str, bot: BotIdentity) -> str:
    """Slack's message markup as a person would read it, without the mention of the bot."""
    text = re.sub(rf"<@{re.escape(bot.user_id)}(?:\|[^>]*)?>[ \t]?", "", text)
    text = _USER.sub(r"@\1", text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = _CHANNEL_REF.sub(r"#\1", text)
    text = _SPECIAL.sub(r"@\1", text)
    return html.unescape(text).strip()[:MAX_TEXT]


def _attachments(event: Mapping[str, Any]) -> tuple[Attachment, ...]:
    found = []
    for item in event.get("files") or ():
        if not isinstance(item, Mapping):
            raise TypeError("a file is not an object")
        if item.get("is_external") or item.get("mode") == "external":
            continue  # a remote file: its url_private is its external_url, on any host
        url = item.get("url_private_download") or item.get("url_private")
        if not isinstance(url, str):
            continue  # e.g. a file from another workspace we may not read
        mime = str(item.get("mimetype") or "")
        # a recorded audio clip is ``slack_audio`` (its type may say webm or mp4)
        audio = mime.startswith("audio/") or item.get("subtype") == "slack_audio"
        kind: Literal["image", "document", "voice"] = (
            "image" if mime.startswith("image/") else "voice" if audio else "document"
        )
        size = item.get("size")
        found.append(
            Attachment(
                kind=kind,
                ref=url,
                name=str(item.get("name") or "file"),
                mime_type=mime,
                size=size if isinstance(size, int) else None,
            )
        )
    return tuple(found)


def parse_event(
    payload: Mapping[str, Any], bot: BotIdentity, in_thread: Callable[[str, str], bool]
) -> InboundMessage | None:
    """An ``event_callback`` → the message, or None when it is nothing for us.

    ``in_thread(channel, thread_ts)`` says whether the bot takes part in that thread."""
    event = payload["event"]
    if not isinstance(event, Mapping):
        raise TypeError("the event is not an object")
    kind = event.get("type")
    if kind not in ("message", "app_mention"):
        return None
    if event.get("bot_id") or event.get("subtype") not in (None, "file_share"):
        return None
    user = _text(event.get("user"))
    if user == bot.user_id:
        return None
    channel = _text(event.get("channel"))
    ts = _text(event.get("ts"))
    thread = event.get("thread_ts")
    thread = str(thread) if thread else None
    raw = str(event.get("text") or "")
    direct = event.get("channel_type") == "im" or (kind == "message" and channel.startswith("D"))
    if direct:
        chat = ChatRef(CHANNEL, channel, is_group=False, thread_id=thread)
        addressed = True
    else:
        mentioned = kind == "app_mention" or f"<@{bot.user_id}" in raw
        addressed = mentioned or (thread is not None and in_thread(channel, thread))
        chat = ChatRef(CHANNEL, channel, is_group=True, thread_id=thread or ts)
    text = plain_text(raw, bot)
    attachments = _attachments(event)
    if not text and not attachments:
        return None
    return InboundMessage(
        chat=chat,
        sender=Sender(user),
        text=text,
        platform_id=f"{channel}:{ts}",
        message_id=ts,
        attachments=attachments,
        addressed=addressed,
        meta={"event_id": str(payload.get("event_id") or "")},
        bot=bot.user_id,
    )


def parse_action(payload: Mapping[str, Any], bot: BotIdentity) -> InboundMessage | None:
    """A ``block_actions`` press of one of our buttons."""
    if payload.get("type") != "block_actions":
        return None
    actions = payload.get("actions") or []
    if not actions or not isinstance(actions[0], Mapping):
        return None
    action = actions[0]
    value = action.get("value")
    if not isinstance(value, str) or not value:
        return None
    user = _text((payload.get("user") or {}).get("id"))
    container = payload.get("container") or {}
    channel = _text((payload.get("channel") or {}).get("id") or container.get("channel_id"))
    message_ts = container.get("message_ts") or (payload.get("message") or {}).get("ts")
    thread = container.get("thread_ts") or (payload.get("message") or {}).get("thread_ts")
    return InboundMessage(
        chat=ChatRef(
            CHANNEL, channel, is_group=not channel.startswith("D"), thread_id=thread or None
        ),
        sender=Sender(user),
        text=value,
        platform_id=f"action:{channel}:{_text(action.get('action_ts'))}:{user}",
        kind=MessageKind.ACTION,
        message_id=str(message_ts) if message_ts else None,
        bot=bot.user_id,
    )
