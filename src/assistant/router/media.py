"""Attachments → what the model can take: images for vision models, text from documents,
transcripts of voice notes. Anything it cannot take gets a clear reply instead of a turn."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import structlog

from assistant.core.errors import ChannelError, ModelError
from assistant.core.i18n import tr
from assistant.core.messages import Attachment, InboundMessage
from assistant.core.ports import Channel
from assistant.llm.transcribe import Transcriber
from assistant.llm.types import ImagePart

log = structlog.get_logger(__name__)

_TEXT_MIME = {
    "application/json",
    "application/xml",
    "application/x-yaml",
    "application/yaml",
    "application/toml",
    "application/javascript",
    "application/x-sh",
    "application/sql",
    "application/x-python",
    "application/csv",
    "application/x-ndjson",
}
_TEXT_SUFFIX = {
    ".txt",
    ".md",
    ".log",
    ".csv",
    ".tsv",
    ".json",
    ".jsonl",
    ".yaml",
    ".yml",
    ".toml",
    ".ini",
    ".conf",
    ".cfg",
    ".py",
    ".js",
    ".ts",
    ".go",
    ".rs",
    ".java",
    ".c",
    ".h",
    ".cpp",
    ".sh",
    ".sql",
    ".xml",
    ".html",
    ".css",
    ".rb",
    ".php",
    ".service",
    ".diff",
    ".patch",
}


@dataclass(frozen=True, slots=True)
class Prepared:
    text: str
    images: tuple[ImagePart, ...] = ()
    refusal: str | None = None  # reply this instead of running a turn
    notes: tuple[str, ...] = field(default_factory=tuple)


def _is_text(attachment: Attachment) -> bool:
    mime = attachment.mime_type.lower()
    suffix = PurePosixPath(attachment.name.lower()).suffix
    return mime.startswith("text/") or mime in _TEXT_MIME or suffix in _TEXT_SUFFIX


def _is_pdf(attachment: Attachment) -> bool:
    return attachment.mime_type.lower() == "application/pdf" or attachment.name.lower().endswith(
        ".pdf"
    )


def extract_pdf(data: bytes) -> str:
    """Text of a PDF (blocking: run it in a thread)."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages).strip()
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"the PDF could not be read ({type(exc).__name__})") from exc


def _decode(data: bytes) -> str | None:
    if b"\x00" in data[:4096]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1") if data.isascii() else None


def _size_mb(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB"


class Media:
    def __init__(
        self, *, transcriber: Transcriber | None, max_bytes: int, max_document_chars: int
    ) -> None:
        self.transcriber = transcriber
        self.max_bytes = max_bytes
        self.max_document_chars = max_document_chars
        self.limits: dict[str, tuple[int, int]] = {}  # per channel: (max bytes, max chars)

    def set_limits(self, channel: str, *, max_bytes: int, max_document_chars: int) -> None:
        """Limits for one channel's attachments (the defaults apply to the others)."""
        self.limits[channel] = (max_bytes, max_document_chars)

    async def prepare(
        self, message: InboundMessage, channel: Channel, *, vision: bool, model_name: str | None
    ) -> Prepared:
        text = message.text
        images: list[ImagePart] = []
        max_bytes, max_chars = self.limits.get(
            channel.name, (self.max_bytes, self.max_document_chars)
        )
        for attachment in message.attachments:
            if attachment.size is not None and attachment.size > max_bytes:
                return Prepared(
                    text,
                    refusal=tr("That file is {size}; I accept up to {limit}.").format(
                        size=_size_mb(attachment.size), limit=_size_mb(max_bytes)
                    ),
                )
            if attachment.kind == "image":
                if not vision:
                    which = f" ({model_name})" if model_name else ""
                    return Prepared(
                        text,
                        refusal=tr(
                            "The current model{which} cannot look at images. Switch to one "
                            "that can with /model, or describe the picture in words."
                        ).format(which=which),
                    )
                data = await self._fetch(channel, attachment, max_bytes)
                images.append(ImagePart(data, attachment.mime_type or "image/jpeg"))
            elif attachment.kind == "document":
                result = await self._document(channel, attachment, max_bytes, max_chars)
                if isinstance(result, Prepared):
                    return Prepared(text, refusal=result.refusal)
                text = f"{text}\n\n{result}".strip()
            elif attachment.kind == "voice":
                spoken = await self._voice(channel, attachment, max_bytes)
                if isinstance(spoken, Prepared):
                    return Prepared(text, refusal=spoken.refusal)
                text = f"{text}\n\n[voice message] {spoken}".strip()
        if images and not text:
            text = "(an image, without words)"
        return Prepared(text, tuple(images))

    async def _fetch(self, channel: Channel, attachment: Attachment, max_bytes: int) -> bytes:
        try:
            return await channel.fetch(attachment, max_bytes=max_bytes)
        except ChannelError:
            raise
        except OSError as exc:
            raise ChannelError(f"downloading {attachment.name!r} failed: {exc}") from exc

    async def _document(
        self, channel: Channel, attachment: Attachment, max_bytes: int, limit: int
    ) -> str | Prepared:
        pdf = _is_pdf(attachment)
        if not pdf and not _is_text(attachment):
            kind = attachment.mime_type or tr("this kind of file")
            return Prepared(
                "",
                refusal=tr("I can read text files and PDFs; {name} ({kind}) is neither.").format(
                    name=attachment.name, kind=kind
                ),
            )
        data = await self._fetch(channel, attachment, max_bytes)
        if pdf:
            try:
                content = await asyncio.to_thread(extract_pdf, data)
            except ValueError as exc:
                return Prepared(
                    "",
                    refusal=tr("I could not read {name}: {error}.").format(
                        name=attachment.name, error=exc
                    ),
                )
            if not content:
                return Prepared(
                    "",
                    refusal=tr("{name} has no text layer (a scan?); I cannot read it.").format(
                        name=attachment.name
                    ),
                )
        else:
            decoded = _decode(data)
            if decoded is None:
                return Prepared(
                    "", refusal=tr("{name} does not look like text.").format(name=attachment.name)
                )
            content = decoded
        cut = ""
        if len(content) > limit:
            cut = f"\n[… {len(content) - limit} more characters not shown]"
            content = content[:limit]
        return f"[Attached file: {attachment.name}]\n```\n{content}\n```{cut}"

    async def _voice(
        self, channel: Channel, attachment: Attachment, max_bytes: int
    ) -> str | Prepared:
        if self.transcriber is None:
            return Prepared(
                "",
                refusal=tr(
                    "I cannot listen to voice messages yet: the owner can add a [speech] "
                    "section (an OpenAI-compatible transcription endpoint) to the config."
                ),
            )
        data = await self._fetch(channel, attachment, max_bytes)
        try:
            spoken = await self.transcriber.transcribe(
                data, filename=attachment.name or "voice.ogg", mime_type=attachment.mime_type
            )
        except ModelError as exc:
            log.warning("media.transcription_failed", error=str(exc))
            return Prepared("", refusal=tr("Sorry, I could not transcribe that voice message."))
        if not spoken:
            return Prepared("", refusal=tr("I could not make out any words in that voice message."))
        return spoken
