"""Pictures and files to WhatsApp: uploaded to ``/PHONE_NUMBER_ID/media``, then sent as an
image or a document message (see ``channels.outfiles`` for what every channel shares)."""

from __future__ import annotations

import structlog

from assistant.channels.outfiles import (
    FileLimits,
    caption_of,
    refused_line,
    send_as,
    too_large_line,
    upload_name,
)
from assistant.channels.whatsapp.api import OUTSIDE_WINDOW, GraphAPI, WhatsAppRefused
from assistant.channels.whatsapp.render import Payload, text_payload
from assistant.core.messages import ChatRef, OutFile, SentMessage

log = structlog.get_logger(__name__)

# the Cloud API's media limits: pictures (JPEG, PNG) and documents, and a caption's length
FILE_LIMITS = FileLimits("WhatsApp", image=5 * 1024 * 1024, document=100 * 1024 * 1024)
IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})
CAPTION = 1024


def caption_for(files: tuple[OutFile, ...], payloads: list[Payload]) -> str | None:
    """The text, when it goes as the last file's caption (see ``channels.outfiles``)."""
    if not files or len(payloads) != 1 or payloads[0].get("type") != "text":
        return None
    body = str(payloads[0]["text"]["body"])
    return body if caption_of(files, 1, False, len(body) <= CAPTION) else None


def upload_type(mime_type: str) -> str:
    """Text of any kind (CSV, Markdown, JSON) goes as text/plain, the one text type the Cloud
    API takes as a document; the file keeps its name."""
    text = mime_type.startswith("text/") or mime_type == "application/json"
    return "text/plain" if text else mime_type


async def send_file(
    api: GraphAPI, chat: ChatRef, file: OutFile, caption: str | None
) -> SentMessage | None:
    """Upload one file and send it (an image or a document message); a text naming it
    when it is too large or refused (a window that closed is the caller's)."""
    how = send_as(file, FILE_LIMITS)
    if how == "image" and file.mime_type not in IMAGE_TYPES:
        how = "document" if len(file.data) <= FILE_LIMITS.document else None
    if how is None:
        line = too_large_line(file, FILE_LIMITS)
    else:
        try:
            kind = upload_type(file.mime_type)
            media = await api.upload_media(file.name, file.data, kind)
            body: dict[str, str] = {"id": media}
            if how == "document":
                body["filename"] = upload_name(file.name)
            if caption:
                body["caption"] = caption
            payload = {"type": how, how: body}
            return SentMessage(chat, await api.send(chat.chat_id, payload, group=chat.is_group))
        except WhatsAppRefused as exc:
            if exc.code == OUTSIDE_WINDOW:
                raise
            log.warning("whatsapp.file_refused", code=exc.code, error=str(exc))
            line = refused_line(file, FILE_LIMITS.platform)
    body_text = f"{line}\n\n{caption}" if caption else line
    sent = await api.send(chat.chat_id, text_payload(body_text), group=chat.is_group)
    return SentMessage(chat, sent)
