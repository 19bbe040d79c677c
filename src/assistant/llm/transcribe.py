"""Voice → text through an OpenAI-compatible ``/audio/transcriptions`` endpoint."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from assistant.config import SpeechSection
from assistant.core.errors import ModelRequestError, ModelUnavailable
from assistant.core.redact import Redactor


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
        form = aiohttp.FormData()
        form.add_field("file", data, filename=filename, content_type=mime_type or "audio/ogg")
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
