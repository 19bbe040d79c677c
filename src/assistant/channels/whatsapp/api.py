"""The WhatsApp Cloud API (Meta's Graph API) over our own aiohttp session.

Why not pywa: it brings httpx as a second HTTP stack, hard-codes the Graph API's address (tests
need a loopback one), costs 0.24 s and 11 MB to import over aiohttp, and runs handlers before
the webhook answers; the calls we need are four JSON requests (LIBRARY-FACTS-2.md, section 3).

Errors are translated here, once, from the body's ``error.code``: rate limits (HTTP 429, codes
130429 throughput, 131056 pair rate, 80007 and 4 app limits) wait ``Retry-After`` or a jittered
backoff and retry a few times, then are ``ChannelUnavailable``; 5xx and network trouble are
``ChannelUnavailable``; refused credentials (HTTP 401, code 190) are ``ChannelAuthError``;
anything else is ``WhatsAppRefused`` with Meta's code (131047: outside the 24-hour window).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import Any

import aiohttp
import structlog

from assistant.channels.outfiles import upload_name
from assistant.core.backoff import Backoff
from assistant.core.errors import ChannelAuthError, ChannelError, ChannelUnavailable
from assistant.core.ports import Clock, SystemClock
from assistant.core.redact import Redactor

log = structlog.get_logger(__name__)

AUTH_HINT = (
    "check [whatsapp] token (a system user's permanent token with whatsapp_business_messaging)"
)
RATE_LIMITED = {130429, 131056, 80007, 4}
OUTSIDE_WINDOW = 131047  # "Re-engagement message": more than 24 hours since the person wrote
AUTH_FAILED = {190}
RETRY_CAP = 60.0  # never wait longer than this for one retry
_MEDIA_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


class WhatsAppRefused(ChannelError):
    """The Cloud API refused the request for good (bad parameter, outside the window, …)."""

    def __init__(self, message: str, code: int | None) -> None:
        super().__init__(message)
        self.code = code


def recipient(person: str, *, group: bool = False) -> dict[str, str]:
    """Phone numbers go in ``to``; a business-scoped user id (``US.…``) in ``recipient``; a
    group's id in ``to``, with ``recipient_type: group``."""
    if group:
        return {"recipient_type": "group", "to": person}
    kind = {"recipient_type": "individual"}
    return {**kind, "to": person} if person.isdigit() else {**kind, "recipient": person}


class GraphAPI:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        phone_number_id: str,
        token: str,
        redactor: Redactor,
        clock: Clock | None = None,
        timeout: float = 15.0,
        attempts: int = 4,
        backoff: float = 0.5,
    ) -> None:
        self._session = session
        self.base_url = base_url.rstrip("/")
        self.phone_number_id = phone_number_id
        self._token = token
        self._redactor = redactor
        self._clock = clock or SystemClock()
        self._timeout = timeout
        self._attempts = attempts
        self._backoff = backoff
        self.retries = 0

    async def _once(
        self,
        method: str,
        url: str,
        body: Any,
        what: str,
        form: Callable[[], aiohttp.FormData] | None = None,
    ) -> tuple[int, dict[str, Any], float | None]:
        try:
            async with self._session.request(
                method,
                url,
                json=body if form is None else None,
                data=form() if form is not None else None,
                headers={"Authorization": f"Bearer {self._token}"},
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as response:
                text = await response.text()
                after = response.headers.get("Retry-After")
                status = response.status
        except TimeoutError:
            raise ChannelUnavailable(f"the WhatsApp Cloud API did not answer ({what})") from None
        except aiohttp.ClientError as exc:
            raise ChannelUnavailable(
                f"the WhatsApp Cloud API is unreachable ({what}: {type(exc).__name__})"
            ) from None
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            data = {}
        wait: float | None = None
        if after is not None:
            try:
                wait = max(0.0, float(after))
            except ValueError:
                wait = None
        return status, data if isinstance(data, dict) else {}, wait

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        what: str,
        form: Callable[[], aiohttp.FormData] | None = None,
    ) -> dict[str, Any]:
        """One Graph API call, retried on rate limits and 5xx; the JSON answer. ``form``: a
        multipart body instead of JSON (built again for each attempt)."""
        url = path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"
        backoff = Backoff(self._backoff, RETRY_CAP)
        for attempt in range(1, self._attempts + 1):
            status, data, after = await self._once(method, url, body, what, form)
            if status < 300:
                return data
            found = data.get("error")
            error: dict[str, Any] = found if isinstance(found, dict) else {}
            code = error.get("code") if isinstance(error.get("code"), int) else None
            message = self._redactor.text(str(error.get("message") or f"HTTP {status}"))
            if status == 401 or code in AUTH_FAILED:
                raise ChannelAuthError(
                    f"the WhatsApp Cloud API refused the token ({message}); {AUTH_HINT}"
                )
            retry = status == 429 or status >= 500 or code in RATE_LIMITED
            if not retry:
                raise WhatsAppRefused(f"{what}: {message} (code {code})", code)
            if attempt == self._attempts:
                raise ChannelUnavailable(f"{what}: {message} (code {code}, HTTP {status})")
            delay = min(after if after is not None else backoff.next_delay(), RETRY_CAP)
            self.retries += 1
            log.warning("whatsapp.retry", what=what, code=code, status=status, wait=delay)
            await self._clock.sleep(delay)
        raise AssertionError("unreachable")

    # --- the calls ------------------------------------------------------------------------

    async def phone_info(self) -> dict[str, Any]:
        return await self.call(
            "GET",
            f"{self.phone_number_id}?fields=display_phone_number,verified_name",
            what="reading the phone number",
        )

    async def send(self, person: str, payload: dict[str, Any], *, group: bool = False) -> str:
        """Send one message to ``person`` (or a group); its id (``wamid.…``)."""
        body = {"messaging_product": "whatsapp", **recipient(person, group=group), **payload}
        answer = await self.call(
            "POST", f"{self.phone_number_id}/messages", body, what="sending a message"
        )
        messages = answer.get("messages")
        if not isinstance(messages, list) or not messages or "id" not in messages[0]:
            raise ChannelUnavailable("the WhatsApp Cloud API answered a send without an id")
        return str(messages[0]["id"])

    async def upload_media(self, name: str, data: bytes, mime_type: str) -> str:
        """A picture or document for a message (``/PHONE_NUMBER_ID/media``); its media id."""

        def form() -> aiohttp.FormData:
            body = aiohttp.FormData(quote_fields=False)
            body.add_field("messaging_product", "whatsapp")
            body.add_field("type", mime_type)
            body.add_field(
                "file", io.BytesIO(data), filename=upload_name(name), content_type=mime_type
            )
            return body

        answer = await self.call(
            "POST", f"{self.phone_number_id}/media", form=form, what="uploading media"
        )
        media_id = answer.get("id")
        if not isinstance(media_id, str) or not media_id:
            raise ChannelUnavailable("the WhatsApp Cloud API answered an upload without an id")
        return media_id

    async def mark_read(self, message_id: str) -> None:
        body = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
        await self.call("POST", f"{self.phone_number_id}/messages", body, what="marking read")

    async def typing(self, message_id: str) -> None:
        """Show "typing…" to the person who sent ``message_id`` (and mark it read): WhatsApp
        shows it until the reply arrives, for at most 25 seconds."""
        body = {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": message_id,
            "typing_indicator": {"type": "text"},
        }
        await self.call("POST", f"{self.phone_number_id}/messages", body, what="typing")

    async def download(self, media_id: str, max_bytes: int) -> bytes:
        """A media file by id: its URL from the Graph API, then the bytes (with the token).
        The id names a node of the Graph API and nothing else (an address or a path would
        send the token elsewhere): letters, digits, ``_`` and ``-`` only."""
        if not _MEDIA_ID.fullmatch(media_id):
            raise ChannelError(f"{media_id[:40]!r} is not a WhatsApp media id")
        info = await self.call("GET", media_id, what="looking up a media file")
        url, size = info.get("url"), info.get("file_size")
        if not isinstance(url, str):
            raise WhatsAppRefused(f"media {media_id} has no download address", None)
        if isinstance(size, int) and size > max_bytes:
            raise ChannelError(f"the file is larger than {max_bytes} bytes")
        try:
            async with self._session.get(
                url,
                headers={"Authorization": f"Bearer {self._token}"},
                timeout=aiohttp.ClientTimeout(total=max(self._timeout, 60.0)),
            ) as response:
                if response.status >= 300:
                    raise ChannelUnavailable(f"media download answered HTTP {response.status}")
                data = await response.content.read(max_bytes + 1)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ChannelUnavailable(f"media download failed ({type(exc).__name__})") from None
        if len(data) > max_bytes:
            raise ChannelError(f"the file is larger than {max_bytes} bytes")
        return data
