"""Feishu event JSON → InboundMessage. Pure functions over the documented event shapes.

Only schema 2.0 events are understood: ``im.message.receive_v1`` (text, post, image, file,
audio) and ``card.action.trigger`` (a button press). Anything else is returned as None and
the adapter acknowledges it. Malformed input raises ``ValueError``/``KeyError``/``TypeError``;
the adapter logs it once and acknowledges it too: Feishu would otherwise redeliver it for hours.
"""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assistant.core.messages import Attachment, ChatRef, InboundMessage, MessageKind, Sender

CHANNEL = "feishu"
MESSAGE_EVENT = "im.message.receive_v1"
ACTION_EVENT = "card.action.trigger"
MAX_TEXT = 150_000  # Feishu caps a message body at 150 KB: beyond this is not real


@dataclass(frozen=True, slots=True)
class BotIdentity:
    open_id: str
    name: str = ""
    app_id: str = ""  # the app the bot belongs to: part of an inbound message's identity
    # Feishu's events say nothing of the sender's language; Feishu (China) tenants write
    # Chinese, Lark's are international: the region is the platform's hint
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Envelope:
    """The schema 2.0 wrapper every event arrives in."""

    event_id: str
    event_type: str
    token: str | None
    event: Mapping[str, Any]


def envelope(payload: Mapping[str, Any]) -> Envelope:
    if payload.get("schema") != "2.0":
        raise ValueError(f"not a schema 2.0 event (schema={payload.get('schema')!r})")
    header = payload["header"]
    event = payload.get("event")
    if not isinstance(event, Mapping):
        raise TypeError("the event has no 'event' object")
    token = header.get("token")
    return Envelope(
        event_id=_text(header["event_id"]),
        event_type=_text(header["event_type"]),
        token=str(token) if token is not None else None,
        event=event,
    )


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def _chat_id(value: Any) -> str:
    """Feishu's chat ids are ``oc_`` and letters/digits; anything else cannot be answered."""
    chat = _text(value)
    if not chat.startswith("oc_") or not chat.isascii() or not chat[3:].isalnum():
        raise ValueError(f"not a Feishu chat id: {chat[:40]!r}")
    return chat


def parse_event(env: Envelope, bot: BotIdentity) -> InboundMessage | None:
    if env.event_type == MESSAGE_EVENT:
        return parse_message(env.event_id, env.event, bot)
    if env.event_type == ACTION_EVENT:
        return parse_action(env.event_id, env.event, bot)
    return None


# --- messages ----------------------------------------------------------------------------------


def _mention_names(
    mentions: Sequence[Mapping[str, Any]], bot: BotIdentity
) -> tuple[dict[str, str], bool]:
    """({mention key: replacement text}, whether the bot is mentioned)."""
    replace: dict[str, str] = {}
    mentioned = False
    for mention in mentions:
        key = str(mention.get("key") or "")
        open_id = str((mention.get("id") or {}).get("open_id") or "")
        if open_id and open_id == bot.open_id:
            mentioned = True
            if key:
                replace[key] = ""
        elif key:
            replace[key] = f"@{mention.get('name') or 'someone'}"
    return replace, mentioned


def _apply_mentions(text: str, replace: Mapping[str, str]) -> str:
    for key in sorted(replace, key=len, reverse=True):  # @_user_10 before @_user_1
        if replace[key]:
            text = text.replace(key, replace[key])
        else:  # our own mention goes, with the space after it
            text = re.sub(re.escape(key) + r"[ \t]?", "", text)
    text = text.replace("@_all", "@all")
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def _styled(text: str, styles: Sequence[str]) -> str:
    if not text.strip():
        return text
    if "bold" in styles:
        text = f"**{text}**"
    if "italic" in styles:
        text = f"*{text}*"
    if "lineThrough" in styles:
        text = f"~~{text}~~"
    return text


def flatten_post(
    content: Mapping[str, Any], message_id: str, replace: Mapping[str, str]
) -> tuple[str, list[Attachment]]:
    """A rich-text (post) message as Markdown-ish text, and its images."""
    if "content" not in content:  # sent with languages: {"zh_cn": {...}, "en_us": {...}}
        localized = [v for v in content.values() if isinstance(v, Mapping)]
        content = localized[0] if localized else {}
    lines: list[str] = []
    images: list[Attachment] = []
    title = str(content.get("title") or "").strip()
    if title:
        lines += [f"**{title}**", ""]
    for paragraph in content.get("content") or []:
        parts: list[str] = []
        for element in paragraph or []:
            tag = element.get("tag")
            if tag == "text":
                parts.append(_styled(str(element.get("text") or ""), element.get("style") or []))
            elif tag == "a":
                label = str(element.get("text") or element.get("href") or "")
                href = str(element.get("href") or "")
                parts.append(f"[{label}]({href})" if href else label)
            elif tag == "at":
                key = str(element.get("user_id") or "")
                name = element.get("user_name") or element.get("user_id") or "someone"
                parts.append(replace.get(key, f"@{name}"))
            elif tag == "img" and element.get("image_key"):
                images.append(_image(message_id, str(element["image_key"])))
            elif tag == "code_block":
                language = str(element.get("language") or "").lower()
                parts.append(f"\n```{language}\n{element.get('text') or ''}\n```\n")
            elif tag == "md":
                parts.append(str(element.get("text") or ""))
            elif tag == "emotion":
                parts.append(f":{element.get('emoji_type') or 'emoji'}:")
            elif tag == "hr":
                parts.append("---")
            elif tag == "media":
                parts.append("[video]")
        lines.append("".join(parts).strip(" \t"))
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip(), images


def _image(message_id: str, image_key: str) -> Attachment:
    return Attachment("image", f"{message_id}/{image_key}", name="image")


def _content(
    kind: str, content: Mapping[str, Any], message_id: str, replace: Mapping[str, str]
) -> tuple[str, list[Attachment]] | None:
    if kind == "text":
        return str(content.get("text") or ""), []
    if kind == "post":
        return flatten_post(content, message_id, replace)
    if kind == "image":
        return "", [_image(message_id, _text(content.get("image_key")))]
    if kind == "file":
        name = str(content.get("file_name") or "file")
        mime = mimetypes.guess_type(name)[0] or ""
        ref = f"{message_id}/{_text(content.get('file_key'))}"
        return "", [Attachment("document", ref, name=name, mime_type=mime)]
    if kind == "audio":
        ref = f"{message_id}/{_text(content.get('file_key'))}"
        # Feishu's audio is Opus in an Ogg container: named .ogg, transcription takes it
        return "", [Attachment("voice", ref, name="voice.ogg", mime_type="audio/ogg")]
    return None  # stickers, videos, shared chats, cards, ...: nothing we answer


def parse_message(
    event_id: str, event: Mapping[str, Any], bot: BotIdentity
) -> InboundMessage | None:
    sender = event["sender"]
    if sender.get("sender_type") != "user":
        return None  # other bots and apps, including ourselves
    open_id = _text((sender.get("sender_id") or {}).get("open_id"))
    message = event["message"]
    message_id = _text(message["message_id"])
    chat_type = _text(message["chat_type"])
    raw = message.get("content")
    if not isinstance(raw, str):
        raise TypeError("message content is not a JSON string")
    if len(raw) > MAX_TEXT:
        raise ValueError(f"message content of {len(raw)} characters is longer than Feishu allows")
    content = json.loads(raw)
    if not isinstance(content, Mapping):
        raise TypeError("message content is not a JSON object")
    replace, mentioned = _mention_names(message.get("mentions") or [], bot)
    found = _content(str(message.get("message_type")), content, message_id, replace)
    if found is None:
        return None
    text, attachments = found
    text = _apply_mentions(text, replace)
    if not text and not attachments:
        return None
    is_group = chat_type != "p2p"
    created = message.get("create_time")
    extra: dict[str, Any] = {}
    if isinstance(created, str) and created.isdigit():
        extra["received_at"] = int(created) / 1000
    return InboundMessage(
        chat=ChatRef(
            CHANNEL,
            _chat_id(message["chat_id"]),
            is_group=is_group,
            thread_id=str(message["thread_id"]) if message.get("thread_id") else None,
        ),
        sender=Sender(open_id),
        text=text,
        platform_id=message_id,
        message_id=message_id,
        attachments=tuple(attachments),
        addressed=not is_group or mentioned,
        meta={"event_id": event_id, **({"language": bot.language} if bot.language else {})},
        bot=bot.app_id,
        **extra,
    )


# --- button presses ----------------------------------------------------------------------------


def parse_action(
    event_id: str, event: Mapping[str, Any], bot: BotIdentity
) -> InboundMessage | None:
    """A press of one of our card buttons; its value carries our action id and the chat kind."""
    open_id = _text((event.get("operator") or {}).get("open_id"))
    value = (event.get("action") or {}).get("value")
    if not isinstance(value, Mapping) or not isinstance(value.get("action"), str):
        return None  # not a button of ours
    context = event.get("context") or {}
    thread = value.get("thread")
    return InboundMessage(
        chat=ChatRef(
            CHANNEL,
            _chat_id(context.get("open_chat_id")),
            is_group=value.get("chat") == "group",
            thread_id=str(thread) if thread else None,
        ),
        sender=Sender(open_id),
        text=_text(value["action"]),
        platform_id=f"event:{event_id}",
        kind=MessageKind.ACTION,
        message_id=str(context["open_message_id"]) if context.get("open_message_id") else None,
        meta={"event_id": event_id},
        bot=bot.app_id,
    )
