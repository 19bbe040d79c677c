"""Files a console person attaches: uploaded with ``POST /api/upload`` (the raw bytes, the
name in ``X-File-Name``), kept under the state directory per person, then named in
``POST /api/messages`` ``{"attachments": [...]}``; the router fetches them through the
channel like any platform's files (``WebConsoleChannel.fetch``). Pruned with old events."""

from __future__ import annotations

import asyncio
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from assistant.core.errors import ChannelError
from assistant.core.messages import Attachment
from assistant.features.console.auth import refusal

MAX_BYTES = 20 * 1024 * 1024
MAX_FILES = 10  # attachments on one message
_REF = re.compile(r"^[A-Za-z0-9._-]{1,64}/[0-9a-f]{32}$")


class Uploads:
    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, ref: str) -> Path:
        if not _REF.match(ref) or ref.startswith("."):
            raise ChannelError(f"not a console upload: {ref!r}")
        return self._root / ref

    async def save(self, person: str, request: web.Request) -> web.Response:
        length = request.content_length
        if length is not None and length > MAX_BYTES:
            return refusal(413, f"a file is at most {MAX_BYTES // (1024 * 1024)} MB")
        data = await request.read()  # the gateway read it already, in time and bounded
        if len(data) > MAX_BYTES:
            return refusal(413, f"a file is at most {MAX_BYTES // (1024 * 1024)} MB")
        if not data:
            return refusal(400, "the file is empty")
        name = unquote(request.headers.get("X-File-Name", ""))[:200] or "file"
        mime = request.content_type or "application/octet-stream"
        ref = f"{person}/{secrets.token_hex(16)}"
        path = self._path(ref)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.write_bytes(data)

        await asyncio.to_thread(write)
        kind = "image" if mime.startswith("image/") else "document"
        return web.json_response(
            {"ref": ref, "name": name, "mime_type": mime, "size": len(data), "kind": kind},
            status=201,
        )

    def attachments(self, person: str, given: Any) -> tuple[Attachment, ...] | str:
        """The ``attachments`` of a message, or why they are refused."""
        if given is None:
            return ()
        if not isinstance(given, list) or len(given) > MAX_FILES:
            return f"attachments is a list of at most {MAX_FILES} uploads"
        out = []
        for item in given:
            if not isinstance(item, dict):
                return "an attachment is an object from POST /api/upload"
            ref, kind = item.get("ref"), item.get("kind")
            if not isinstance(ref, str) or not ref.startswith(f"{person}/") or not _REF.match(ref):
                return "an attachment must be one of your uploads"
            if not (self._root / ref).is_file():
                return "that upload is gone; attach the file again"
            out.append(
                Attachment(
                    kind="image" if kind == "image" else "document",
                    ref=ref,
                    name=str(item.get("name") or "file")[:200],
                    mime_type=str(item.get("mime_type") or "")[:100],
                    size=(self._root / ref).stat().st_size,
                )
            )
        return tuple(out)

    async def read(self, attachment: Attachment, *, max_bytes: int) -> bytes:
        path = self._path(attachment.ref)

        def load() -> bytes:
            if path.stat().st_size > max_bytes:
                raise ChannelError(f"{attachment.name!r} is larger than {max_bytes} bytes")
            return path.read_bytes()

        try:
            return await asyncio.to_thread(load)
        except FileNotFoundError:
            raise ChannelError(f"the upload {attachment.name!r} is gone") from None

    async def prune(self, *, before: float) -> int:
        def run() -> int:
            gone = 0
            for path in self._root.glob("*/*"):
                if path.is_file() and path.stat().st_mtime < before:
                    path.unlink(missing_ok=True)
                    gone += 1
            return gone

        return await asyncio.to_thread(run) if self._root.exists() else 0
