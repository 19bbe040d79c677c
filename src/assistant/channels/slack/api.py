"""Slack's Web API through slack-sdk's ``AsyncWebClient`` on our aiohttp session.

Errors are translated here, once: ``ratelimited`` (HTTP 429) waits ``Retry-After`` (or a
jittered backoff) on the clock and retries a few times, then is ``ChannelUnavailable``, as are
5xx and network trouble; refused tokens are ``ChannelAuthError``; any other ``ok: false`` is
``SlackRefused`` with Slack's error string. slack-sdk's own retry handlers are off: one place
decides.
"""

from __future__ import annotations

import io
import json
from typing import Any

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from yarl import URL

from assistant.core.backoff import Backoff
from assistant.core.bounded import BoundedDict
from assistant.core.errors import ChannelAuthError, ChannelError, ChannelUnavailable
from assistant.core.ports import Clock, SystemClock
from assistant.core.redact import Redactor

log = structlog.get_logger(__name__)

AUTH_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
AUTH_HINT = "check [slack] bot_token (OAuth & Permissions → Bot User OAuth Token, xoxb-…)"
RETRY_CAP = 60.0
FILE_HOSTS = frozenset({"files.slack.com", "files.slack-gov.com"})  # where url_private points


class SlackRefused(ChannelError):
    def __init__(self, message: str, error: str) -> None:
        super().__init__(message)
        self.error = error


class SlackAPI:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        token: str,
        redactor: Redactor,
        clock: Clock | None = None,
        timeout: int = 15,
        attempts: int = 4,
        backoff: float = 0.5,
    ) -> None:
        self.client = AsyncWebClient(
            token=token, base_url=base_url, session=session, timeout=timeout, retry_handlers=[]
        )
        self._session = session
        self._token = token
        self._redactor = redactor
        self._clock = clock or SystemClock()
        self._attempts = attempts
        self._backoff = backoff
        self.retries = 0
        self._direct: BoundedDict[str, str] = BoundedDict(1000)  # person → their DM channel

    async def call(self, method: str, **arguments: Any) -> dict[str, Any]:
        """A Web API method with JSON arguments; its answer, or raises, translated."""
        return await self._call(method, {"json": arguments})

    async def call_form(self, method: str, **arguments: Any) -> dict[str, Any]:
        """A method that takes its arguments as form parameters only (the files methods),
        sent as slack-sdk sends them."""
        return await self._call(method, {"params": arguments})

    async def _call(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        backoff = Backoff(self._backoff, RETRY_CAP)
        for attempt in range(1, self._attempts + 1):
            try:
                response = await self.client.api_call(method, **body)
                data = response.data
                return data if isinstance(data, dict) else {}
            except SlackApiError as exc:
                status = exc.response.status_code
                error = str(exc.response.get("error") or f"HTTP {status}")
                if error in AUTH_ERRORS:
                    raise ChannelAuthError(
                        f"Slack refused the token ({error}); {AUTH_HINT}"
                    ) from None
                if status != 429 and status < 500:
                    raise SlackRefused(f"{method}: {error}", error) from None
                after = exc.response.headers.get("Retry-After")
                wait = float(after) if after and after.isdigit() else backoff.next_delay()
            except (TimeoutError, aiohttp.ClientError, SlackClientError) as exc:
                error = type(exc).__name__
                status = 0
                wait = backoff.next_delay()
            if attempt == self._attempts:
                raise ChannelUnavailable(f"Slack {method}: {self._redactor.text(error)}")
            self.retries += 1
            log.warning("slack.retry", method=method, error=error, status=status, wait=wait)
            await self._clock.sleep(min(wait, RETRY_CAP))
        raise AssertionError("unreachable")

    async def upload(
        self, channel: str, name: str, data: bytes, *, thread: str | None = None
    ) -> str:
        """Share a file in ``channel`` (in ``thread``) as slack-sdk's ``files_upload_v2``
        does: files.getUploadURLExternal, the bytes POSTed to the URL it gave, then
        files.completeUploadExternal. Its file id. To a person (``U…``): in their direct
        message channel with the bot (conversations.open, scope ``im:write``)."""
        if channel[:1] in ("U", "W"):
            channel = await self.direct_channel(channel)
        ticket = await self.call_form("files.getUploadURLExternal", filename=name, length=len(data))
        url, file_id = ticket.get("upload_url"), ticket.get("file_id")
        if not isinstance(url, str) or not isinstance(file_id, str):
            raise ChannelUnavailable("Slack answered files.getUploadURLExternal without a URL")
        try:
            async with self._session.post(
                url, data=io.BytesIO(data), timeout=aiohttp.ClientTimeout(total=120)
            ) as response:
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ChannelUnavailable(f"file upload failed ({type(exc).__name__})") from None
        if status >= 500:
            raise ChannelUnavailable(f"file upload answered HTTP {status}")
        if status >= 300:
            raise SlackRefused(f"file upload answered HTTP {status}", f"http_{status}")
        arguments: dict[str, Any] = {
            "files": json.dumps([{"id": file_id, "title": name}]),
            "channel_id": channel,
        }
        if thread:
            arguments["thread_ts"] = thread
        await self.call_form("files.completeUploadExternal", **arguments)
        return file_id

    async def direct_channel(self, person: str) -> str:
        """The id of the bot's direct message channel with ``person`` (``D…``)."""
        found = self._direct.get(person)
        if found is None:
            answer = await self.call("conversations.open", users=person)
            opened = answer.get("channel")
            found = opened.get("id") if isinstance(opened, dict) else None
            if not isinstance(found, str) or not found:
                raise ChannelUnavailable("Slack answered conversations.open without a channel")
            self._direct[person] = found
        return found

    async def download(self, url: str, max_bytes: int) -> bytes:
        """A file people shared (``url_private``), read with the bot token: only from Slack's
        file host (https) or the API's own origin (a test's fake, a proxy in front of Slack).
        A remote file's ``url_private`` can name any host, and the token must not go there."""
        target, base = URL(url), URL(self.client.base_url)
        if target.origin() != base.origin() and (
            target.scheme != "https" or target.host not in FILE_HOSTS or target.user is not None
        ):
            raise ChannelError(f"a file on {target.host or 'no host'} is not Slack's to read")
        try:
            async with self._session.get(
                url,
                headers={"Authorization": f"Bearer {self._token}"},
                timeout=aiohttp.ClientTimeout(total=60),
            ) as response:
                if response.status >= 300:
                    raise ChannelUnavailable(f"file download answered HTTP {response.status}")
                data = await response.content.read(max_bytes + 1)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ChannelUnavailable(f"file download failed ({type(exc).__name__})") from None
        if len(data) > max_bytes:
            raise ChannelError(f"the file is larger than {max_bytes} bytes")
        return data
