"""Telegram update JSON → InboundMessage. Pure functions over the Bot API's documented shapes.

Returns None for what is not for us (our own or other bots' messages, channel posts, edits,
service messages, unsupported content). Malformed input raises ``ValueError``/``KeyError``/
``TypeError``; the adapter logs it once and skips the update.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from assistant.core.messages import Attachment, ChatRef, InboundMessage, MessageKind, Sender

CHANNEL = "telegram"
GROUP_TYPES = ("group", "supergroup")
MAX_TEXT = 16_384  # Telegram caps text at 4096 and captions at 1024: beyond this is not real


@dataclass(frozen=True, slots=True)
class BotIdentity:
    id: int
    username: str


def _utf16_slice(text: str, offset: int, length: int) -> tuple[int, int]:
    """Entity offsets count UTF-16 code units; convert to Python string indexes."""
    units = 0
    start = end = None
    for index, char in enumerate(text):
        if units == offset:
            start = index
        if units == offset + length:
            end = index
            break
        units += 2 if ord(char) > 0xFFFF else 1
    if start is None:
        start = len(text)
    if end is None:
        end = len(text)
    return start, end


def _name(user: Mapping[str, Any]) -> str:
    parts = [str(user.get("first_name") or ""), str(user.get("last_name") or "")]
    return " ".join(p for p in parts if p) or str(user.get("username") or user.get("id", ""))


def _sender(user: Mapping[str, Any]) -> Sender:
    return Sender(
        user_id=str(int(user["id"])),
        name=_name(user),
        username=str(user["username"]) if user.get("username") else None,
    )


def _chat(chat: Mapping[str, Any], message: Mapping[str, Any]) -> ChatRef:
    thread = None
    if message.get("is_topic_message") and message.get("message_thread_id"):
        thread = str(int(message["message_thread_id"]))
    return ChatRef(
        CHANNEL, str(int(chat["id"])), is_group=chat.get("type") in GROUP_TYPES, thread_id=thread
    )


def _forwarded_from(message: Mapping[str, Any]) -> str | None:
    origin = message.get("forward_origin")
    if not isinstance(origin, Mapping):
        return None
    kind = origin.get("type")
    if kind == "user" and isinstance(origin.get("sender_user"), Mapping):
        return _name(origin["sender_user"])
    if kind == "hidden_user":
        return str(origin.get("sender_user_name") or "a hidden user")
    if kind in ("chat", "channel"):
        chat = origin.get("sender_chat") or origin.get("chat") or {}
        return str(chat.get("title") or chat.get("username") or kind)
    return "someone"


def _attachments(message: Mapping[str, Any]) -> tuple[Attachment, ...]:
    photos = message.get("photo")
    if isinstance(photos, list) and photos:
        best = max(
            photos,
            key=lambda p: (
                int(p.get("file_size") or 0),
                int(p.get("width", 0)) * int(p.get("height", 0)),
            ),
        )
        return (
            Attachment(
                "image",
                str(best["file_id"]),
                name="photo.jpg",
                mime_type="image/jpeg",
                size=int(best["file_size"]) if best.get("file_size") else None,
            ),
        )
    document = message.get("document")
    if isinstance(document, Mapping):
        return (
            Attachment(
                "document",
                str(document["file_id"]),
                name=str(document.get("file_name") or "file"),
                mime_type=str(document.get("mime_type") or ""),
                size=int(document["file_size"]) if document.get("file_size") else None,
            ),
        )
    for key, default_name in (("voice", "voice.ogg"), ("audio", "audio")):
        media = message.get(key)
        if isinstance(media, Mapping):
            return (
                Attachment(
                    "voice",
                    str(media["file_id"]),
                    name=str(media.get("file_name") or default_name),
                    mime_type=str(media.get("mime_type") or "audio/ogg"),
                    size=int(media["file_size"]) if media.get("file_size") else None,
                ),
            )
    return ()


def _strip_addressing(
    text: str, entities: list[Mapping[str, Any]], bot: BotIdentity
) -> tuple[str, bool, bool]:
    """(text without our @mention or /cmd@bot suffix, mentioned us, a command for another bot)."""
    mentioned = False
    foreign_command = False
    cuts: list[tuple[int, int, str]] = []
    handle = f"@{bot.username}".lower()
    for entity in entities:
        kind = entity.get("type")
        start, end = _utf16_slice(text, int(entity.get("offset", 0)), int(entity.get("length", 0)))
        piece = text[start:end]
        if kind == "mention" and piece.lower() == handle:
            mentioned = True
            cuts.append((start, end, ""))
        elif kind == "text_mention" and int((entity.get("user") or {}).get("id", 0)) == bot.id:
            mentioned = True
        elif kind == "bot_command" and start == 0 and "@" in piece:
            command, _, target = piece.partition("@")
            if target.lower() == bot.username.lower():
                cuts.append((start, end, command))
            else:
                foreign_command = True
    for start, end, replacement in sorted(cuts, reverse=True):
        text = text[:start] + replacement + text[end:]
    return re.sub(r"[ \t]{2,}", " ", text).strip(), mentioned, foreign_command


def parse_message(
    update_id: int, message: Mapping[str, Any], bot: BotIdentity
) -> InboundMessage | None:
    chat = message["chat"]
    if chat.get("type") not in ("private", *GROUP_TYPES):
        return None
    user = message.get("from")
    if not isinstance(user, Mapping) or user.get("is_bot"):
        return None
    text = str(message.get("text") or message.get("caption") or "")
    if len(text) > MAX_TEXT:
        raise ValueError(f"text of {len(text)} characters is longer than Telegram allows")
    entities = message.get("entities") or message.get("caption_entities") or []
    text, mentioned, foreign_command = _strip_addressing(text, list(entities), bot)
    attachments = _attachments(message)
    if not text and not attachments:
        return None  # stickers, locations, service messages: nothing to answer
    reply = message.get("reply_to_message")
    reply_text = None
    replied_to_bot = False
    if isinstance(reply, Mapping):
        reply_text = str(reply.get("text") or reply.get("caption") or "") or None
        replied_to_bot = int((reply.get("from") or {}).get("id", 0)) == bot.id
    ref = _chat(chat, message)
    addressed = not ref.is_group or (
        not foreign_command and (mentioned or replied_to_bot or text.startswith("/"))
    )
    return InboundMessage(
        chat=ref,
        sender=_sender(user),
        text=text,
        platform_id=str(update_id),
        message_id=str(int(message["message_id"])),
        attachments=attachments,
        reply_to_text=reply_text,
        forwarded_from=_forwarded_from(message),
        addressed=addressed,
        bot=str(bot.id),
        meta=_language(user),
    )


def parse_callback(
    update_id: int, query: Mapping[str, Any], bot: BotIdentity
) -> InboundMessage | None:
    user = query["from"]
    data = query.get("data")
    if not isinstance(data, str) or not data:
        return None
    message = query.get("message")
    if isinstance(message, Mapping) and isinstance(message.get("chat"), Mapping):
        chat = _chat(message["chat"], message)
        message_id: str | None = str(int(message["message_id"]))
    else:  # the message is too old to be shown: answer in the presser's private chat
        chat = ChatRef(CHANNEL, str(int(user["id"])))
        message_id = None
    return InboundMessage(
        chat=chat,
        sender=_sender(user),
        text=data,
        platform_id=str(update_id),
        kind=MessageKind.ACTION,
        message_id=message_id,
        meta={"callback_id": str(query["id"]), **_language(user)},
        bot=str(bot.id),
    )


def _language(user: Mapping[str, Any]) -> dict[str, str]:
    """The sender's Telegram app language (IETF tag), the platform's hint for replies."""
    code = user.get("language_code")
    return {"language": code[:35]} if isinstance(code, str) and code else {}


def parse_update(update: Mapping[str, Any], bot: BotIdentity) -> InboundMessage | None:
    update_id = int(update["update_id"])
    if isinstance(update.get("message"), Mapping):
        return parse_message(update_id, update["message"], bot)
    if isinstance(update.get("callback_query"), Mapping):
        return parse_callback(update_id, update["callback_query"], bot)
    return None
