"""WhatsApp Cloud API webhook JSON → InboundMessage. Pure functions over Meta's documented
shapes (``entry[].changes[].value`` with ``metadata``, ``contacts[]``, ``messages[]`` and
``statuses[]``).

Understood: text (in a group made with the Groups API too: the message has a ``group_id``, and
is addressed to us when it mentions our number, ``@15550783881``, or replies to one of our
messages), a press of one of our reply buttons or list rows (``interactive``:
``button_reply``/``list_reply``) or a template's quick reply (``button``), and media by id
(image, document, audio and voice notes, with their caption). Statuses (sent, delivered, read,
failed) and every other type (reactions, locations, stickers, ``unsupported``) give nothing.
Malformed input raises ``ValueError``/``KeyError``/``TypeError``: the adapter dead-letters it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from assistant.core.messages import Attachment, ChatRef, InboundMessage, MessageKind, Sender

CHANNEL = "whatsapp"
MAX_TEXT = 4096  # a WhatsApp text message has at most 4096 characters
_MEDIA: dict[str, Literal["image", "document", "voice"]] = {
    "image": "image",
    "document": "document",
    "audio": "voice",
}
# country calling codes whose people are written to in Chinese unless they choose (/lang)
_CHINESE_PREFIXES = ("86", "886", "852", "853")


@dataclass(frozen=True, slots=True)
class Item:
    """One message of a webhook delivery, with what the delivery says about its sender."""

    message: Mapping[str, Any]
    contact: Mapping[str, Any] | None
    phone_number_id: str
    display: str = ""  # our number as people see it (``display_phone_number``)


def items(payload: Mapping[str, Any]) -> Iterator[Item]:
    """Every message in a delivery (statuses are skipped)."""
    if payload.get("object") != "whatsapp_business_account":
        raise ValueError(f"not a WhatsApp delivery (object={payload.get('object')!r})")
    for entry in payload.get("entry") or ():
        for change in entry.get("changes") or ():
            if change.get("field") != "messages":
                continue
            value = change.get("value") or {}
            metadata = value.get("metadata") or {}
            phone = _text(metadata.get("phone_number_id"))
            display = str(metadata.get("display_phone_number") or "")
            contacts = {
                str(c.get("wa_id") or c.get("user_id")): c
                for c in value.get("contacts") or ()
                if isinstance(c, Mapping)
            }
            for message in value.get("messages") or ():
                if not isinstance(message, Mapping):
                    raise TypeError("a message is not an object")
                sender = str(message.get("from") or message.get("from_user_id") or "")
                yield Item(message, contacts.get(sender), phone, display)


@dataclass(frozen=True, slots=True)
class Failed:
    """A message we sent that WhatsApp reports it could not deliver (``status: failed``)."""

    message_id: str
    person: str
    code: int | None


def failures(payload: Mapping[str, Any]) -> list[Failed]:
    """The ``failed`` statuses of a delivery (131047: outside the 24-hour window)."""
    found = []
    for entry in payload.get("entry") or ():
        for change in entry.get("changes") or ():
            for status in (change.get("value") or {}).get("statuses") or ():
                if not isinstance(status, Mapping) or status.get("status") != "failed":
                    continue
                errors = status.get("errors") or [{}]
                code = errors[0].get("code") if isinstance(errors[0], Mapping) else None
                found.append(
                    Failed(
                        _text(status.get("id")),
                        _text(status.get("recipient_id") or status.get("recipient_user_id")),
                        code if isinstance(code, int) else None,
                    )
                )
    return found


def single(item: Item) -> dict[str, Any]:
    """A delivery of ``item`` alone (what a dead letter keeps, to be taken again as it came)."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": item.display,
            "phone_number_id": item.phone_number_id,
        },
        "messages": [dict(item.message)],
    }
    if item.contact is not None:
        value["contacts"] = [dict(item.contact)]
    change = {"field": "messages", "value": value}
    return {"object": "whatsapp_business_account", "entry": [{"changes": [change]}]}


def message_ids(payload: Mapping[str, Any]) -> list[str]:
    """The ids of the messages in a delivery, as far as they can be read (for dead letters)."""
    try:
        return [str(item.message.get("id")) for item in items(payload)]
    except (ValueError, KeyError, TypeError, AttributeError):
        return []


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def sender_of(message: Mapping[str, Any]) -> str:
    """The person's WhatsApp id: the phone number (``from``), else the business-scoped id."""
    return _text(message.get("from") or message.get("from_user_id"))


def language_hint(person: str) -> str | None:
    return "zh_CN" if person.startswith(_CHINESE_PREFIXES) else None


def sent_at(message: Mapping[str, Any]) -> float | None:
    try:
        return float(message["timestamp"])
    except (KeyError, TypeError, ValueError):
        return None


def parse_item(item: Item, bot: str) -> InboundMessage | None:
    """The message, or None when it is not one for us (another number, a type we skip)."""
    if item.phone_number_id != bot:
        return None
    message = item.message
    person = sender_of(message)
    message_id = _text(message.get("id"))
    kind = message.get("type")
    name = str(((item.contact or {}).get("profile") or {}).get("name") or "")
    language = language_hint(person)
    group = message.get("group_id")
    chat = ChatRef(CHANNEL, person)
    if group is not None:
        chat = ChatRef(CHANNEL, _text(group), is_group=True)
    base: dict[str, Any] = {
        "chat": chat,
        "addressed": group is None or _addressed(message, item.display),
        "sender": Sender(person, name=name),
        "platform_id": message_id,
        "message_id": message_id,
        "bot": bot,
        "meta": {"language": language} if language else {},
    }
    if kind == "text":
        body = str((message.get("text") or {}).get("body") or "")[:MAX_TEXT]
        if group is not None:
            body = _unmention(body, item.display)
        return InboundMessage(text=body, **base) if body.strip() else None
    if kind == "interactive":
        interactive = message.get("interactive") or {}
        reply = interactive.get(interactive.get("type") or "")
        if interactive.get("type") not in ("button_reply", "list_reply") or not reply:
            return None
        return _action(_text(reply.get("id")), message, base)
    if kind == "button":  # a template's quick-reply button
        return _action(_text((message.get("button") or {}).get("payload")), message, base)
    media = _MEDIA.get(str(kind))
    if media is not None:
        found = _media(media, message, base)
        if group is None:
            return found
        return dataclasses.replace(found, text=_unmention(found.text, item.display))
    return None


def _unmention(text: str, display: str) -> str:
    """``text`` without the mention of our number."""
    if not display:
        return text
    return re.sub(rf"@\+?{re.escape(display.lstrip('+'))}\b[ \t]?", "", text).strip()


def _addressed(message: Mapping[str, Any], display: str) -> bool:
    """A group message is for us when it mentions our number, replies to our message or is a
    command."""
    digits = display.lstrip("+")
    if not digits:
        return False
    media = message.get(str(message.get("type")))
    caption = media.get("caption") if isinstance(media, Mapping) else None
    body = str((message.get("text") or {}).get("body") or caption or "")
    replied = str((message.get("context") or {}).get("from") or "").lstrip("+")
    command = body.lstrip().startswith("/")
    return command or f"@{digits}" in body.replace("@+", "@") or replied == digits


def _action(action_id: str, message: Mapping[str, Any], base: dict[str, Any]) -> InboundMessage:
    context = message.get("context") or {}
    return InboundMessage(
        text=action_id,
        kind=MessageKind.ACTION,
        **{**base, "message_id": str(context.get("id") or base["message_id"])},
    )


def _media(
    kind: Literal["image", "document", "voice"],
    message: Mapping[str, Any],
    base: dict[str, Any],
) -> InboundMessage:
    body = message.get(str(message.get("type")))
    if not isinstance(body, Mapping):
        raise TypeError("a media message without its media object")
    name = str(body.get("filename") or "")
    if not name:
        name = {"image": "image.jpg", "document": "document", "voice": "voice.ogg"}[kind]
    attachment = Attachment(
        kind=kind,
        ref=_text(body.get("id")),
        name=name,
        mime_type=str(body.get("mime_type") or ""),
    )
    caption = str(body.get("caption") or "")[:MAX_TEXT]
    return InboundMessage(text=caption, attachments=(attachment,), **base)
