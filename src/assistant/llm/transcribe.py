"""Voice → text through an OpenAI-compatible ``/audio/transcriptions`` endpoint."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from assistant.config import SpeechSection
from assistant.core.errors import ModelRequestError, ModelUnavailable
from assistant.core.redact import Redactor

# What OpenAI's transcription endpoint accepts, judged by the file name's extension
# ("Unsupported file format opus" otherwise); most compatible servers copy the list.
ACCEPTED = frozenset({"flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm"})
_MAGIC: tuple[tuple[int, bytes, str, str], ...] = (
    (0, b"OggS", "ogg", "audio/ogg"),  # Opus or Vorbis in Ogg (Telegram, Feishu voice)
    (0, b"fLaC", "flac", "audio/flac"),
    (0, b"ID3", "mp3", "audio/mpeg"),
    (0, b"\x1a\x45\xdf\xa3", "webm", "audio/webm"),
    (4, b"ftyp", "m4a", "audio/mp4"),
)


def upload_name(data: bytes, filename: str, mime_type: str) -> tuple[str, str]:
    """A file name and type the endpoint accepts for ``data``: by its content when it is a
    known container (a ``.opus`` voice note is Ogg), else by the name's extension."""
    stem = filename.rsplit(".", 1)[0] if "." in filename else (filename or "voice")
    for offset, magic, extension, mime in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return f"{stem}.{extension}", mime
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return f"{stem}.wav", "audio/wav"
    if data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return f"{stem}.mp3", "audio/mpeg"
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension in ACCEPTED:
        return filename, mime_type or "application/octet-stream"
    return f"{stem}.ogg", "audio/ogg"  # voice notes are Ogg far more often than not


class Transcriber:
    def __init__(
        self, session: aiohttp.ClientSession, config: SpeechSection, *, redactor: Redactor
    ) -> None:
        self._session = session
        self._config = config
        self._redactor = redactor

    @property
    def max_bytes(self) -> int:
        return int(self._config.max_file_mb * 1024 * 1024)

    async def transcribe(self, data: bytes, *, filename: str, mime_type: str) -> str:
        filename, mime_type = upload_name(data, filename, mime_type)
        form = aiohttp.FormData()
        form.add_field("file", data, filename=filename, content_type=mime_type)
        form.add_field("model", self._config.model)
        form.add_field("response_format", "json")
        headers = {}
        if self._config.api_key is not None:
            headers["Authorization"] = f"Bearer {self._config.api_key.get_secret_value()}"
        url = f"{self._config.base_url}/audio/transcriptions"
        try:
            async with asyncio.timeout(self._config.timeout):
                async with self._session.post(url, data=form, headers=headers) as response:
                    body: Any = await response.json(content_type=None)
                    status = response.status
        except TimeoutError:
            raise ModelUnavailable(
                f"the transcription endpoint did not answer within {self._config.timeout:g}s"
            ) from None
        except (aiohttp.ClientError, ValueError) as exc:
            raise ModelUnavailable(f"transcription failed ({type(exc).__name__})") from None
        if status >= 400 or not isinstance(body, dict) or not isinstance(body.get("text"), str):
            detail = ""
            if isinstance(body, dict) and isinstance(body.get("error"), dict):
                detail = self._redactor.text(str(body["error"].get("message", "")))[:200]
            error = ModelUnavailable if status >= 500 or status == 429 else ModelRequestError
            raise error(f"the transcription endpoint answered HTTP {status} {detail}".strip())
        return str(body["text"]).strip()
