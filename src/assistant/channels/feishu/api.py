"""The Feishu Open API over our own aiohttp session, with a tenant-token cache.

Why not the SDK for this: lark-oapi's "async" methods fetch the tenant token with blocking
``requests`` (measured: the loop stalled 646 ms) and build an HTTP client per call, and the
SDK costs 3-4 s and ~180 MB to import. Sending therefore works without importing it (also from
the CLI, e.g. to tell an approved person they are in); only the long connection needs it.

Errors are read from the body's ``code`` (Feishu answers most of them with HTTP 200 or 400)
and translated here, once: an invalid token is refreshed and the call retried once; rate
limits back off and retry a few times; 5xx and network trouble are ``ChannelUnavailable``;
refused credentials are ``ChannelAuthError``; anything else is ``FeishuRefused`` with the
platform's code and message.
"""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import structlog

from assistant.channels.outfiles import upload_name
from assistant.core.backoff import Backoff
from assistant.core.bounded import BoundedDict
from assistant.core.errors import ChannelAuthError, ChannelError, ChannelUnavailable
from assistant.core.ports import Clock, SystemClock
from assistant.core.redact import Redactor

log = structlog.get_logger(__name__)

AUTH_HINT = "check [feishu] app_id and app_secret (developer console → Credentials & Basic Info)"
TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"  # noqa: S105 - a path
ENDPOINT_PATH = "/callback/ws/endpoint"
TOKEN_INVALID = {99991661, 99991663, 99991664, 99991665, 99991668, 99991671}
RATE_LIMITED = {99991400, 230020, 11232, 11233}
SERVER_BUSY = {1, 1500, 1000040343}
NO_PERMISSION = 99991672
TOO_MANY_CONNECTIONS = 1000040350  # the app has its maximum of long connections open
REFRESH_MARGIN = 300.0  # seconds before expiry at which a token is renewed


class FeishuRefused(ChannelError):
    """Feishu refused the request for good (bad parameter, no permission, not in the chat)."""

    def __init__(self, message: str, code: int | None) -> None:
        super().__init__(message)
        self.code = code


class FeishuAPI:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        app_id: str,
        app_secret: str,
        redactor: Redactor,
        timeout: float = 15.0,
        attempts: int = 4,
        backoff: float = 0.5,
        clock: Clock | None = None,
    ) -> None:
        self._session = session
        self.base_url = base_url.rstrip("/")
        self._app_id = app_id
        self._app_secret = app_secret
        self._redactor = redactor
        self._timeout = timeout
        self._attempts = attempts
        self._backoff = backoff
        self._clock = clock or SystemClock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self._token_lock = asyncio.Lock()
        self._names: BoundedDict[str, tuple[str, float]] = BoundedDict(5000)
        self._names_denied_until = 0.0
        self.token_fetches = 0

    # --- the tenant access token ----------------------------------------------------------

    async def token(self, *, stale: str | None = None) -> str:
        """A valid tenant token; ``stale`` is one the platform just refused (renewed once)."""
        async with self._token_lock:
            fresh = self._token is not None and self._clock.monotonic() < self._refresh_at
            if fresh and self._token != stale:
                assert self._token is not None
                return self._token
            body = await self._request(
                "POST",
                TOKEN_PATH,
                json_body={"app_id": self._app_id, "app_secret": self._app_secret},
                what="getting a tenant access token",
            )
            code = body.get("code")
            if code != 0 or not isinstance(body.get("tenant_access_token"), str):
                if code in SERVER_BUSY:
                    raise ChannelUnavailable(f"Feishu is busy (code {code}); retrying later")
                raise ChannelAuthError(
                    f"Feishu refused the app credentials (code {code}: {body.get('msg')}); "
                    f"{AUTH_HINT}"
                )
            expire = float(body.get("expire") or 7200)
            self._token = str(body["tenant_access_token"])
            self._refresh_at = self._clock.monotonic() + max(expire - REFRESH_MARGIN, expire / 2)
            self.token_fetches += 1
            log.debug("feishu.token_renewed", expires_in=expire)
            return self._token

    # --- calls ----------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, str] | None = None,
        token: str | None = None,
        what: str,
        timeout: float | None = None,
        form: Callable[[], aiohttp.FormData] | None = None,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            async with self._session.request(
                method,
                self.base_url + path,
                json=json_body if form is None else None,
                data=form() if form is not None else None,
                params=params,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout or self._timeout),
            ) as response:
                status = response.status
                text = await response.text()
        except TimeoutError:
            raise ChannelUnavailable(f"Feishu did not answer in time ({what})") from None
        except aiohttp.ClientError as exc:
            raise ChannelUnavailable(f"Feishu unreachable ({what}: {type(exc).__name__})") from None
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            if status >= 500 or status == 429:
                raise ChannelUnavailable(f"Feishu answered HTTP {status} ({what})")
            raise FeishuRefused(f"Feishu answered HTTP {status} without JSON ({what})", None)
        body["_status"] = status
        return body

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, str] | None = None,
        what: str,
        timeout: float | None = None,
        form: Callable[[], aiohttp.FormData] | None = None,
    ) -> dict[str, Any]:
        """One authenticated call; returns the body (``code`` 0) or raises, translated.
        ``form``: a multipart body instead of JSON (built again for each attempt)."""
        backoff = Backoff(self._backoff, 16 * self._backoff)
        refreshed = False
        token = await self.token()
        for attempt in range(1, self._attempts + 1):
            body = await self._request(
                method,
                path,
                json_body=json_body,
                params=params,
                token=token,
                what=what,
                timeout=timeout,
                form=form,
            )
            code = body.get("code")
            status = body.pop("_status")
            if code == 0:
                return body
            message = self._redactor.text(str(body.get("msg") or ""))
            if code in TOKEN_INVALID and not refreshed:
                refreshed = True
                log.info("feishu.token_refused", code=code)
                token = await self.token(stale=token)
                continue
            if code in RATE_LIMITED or status == 429:
                if attempt < self._attempts:
                    delay = backoff.next_delay()
                    log.warning("feishu.rate_limited", code=code, what=what, retry_in=delay)
                    await asyncio.sleep(delay)
                    continue
                raise ChannelUnavailable(f"Feishu rate limit ({what}): code {code} {message}")
            if status >= 500 or code in SERVER_BUSY:
                raise ChannelUnavailable(f"Feishu error ({what}): HTTP {status} code {code}")
            if code in TOKEN_INVALID:
                raise ChannelAuthError(f"Feishu keeps refusing the tenant token; {AUTH_HINT}")
            raise FeishuRefused(f"Feishu refused {what}: code {code}: {message}", code)
        raise ChannelUnavailable(f"Feishu kept failing ({what})")

    # --- what the adapter uses ------------------------------------------------------------

    async def bot_info(self) -> dict[str, Any]:
        body = await self.call("GET", "/open-apis/bot/v3/info", what="reading the bot's info")
        bot = body.get("bot")
        if not isinstance(bot, dict) or not bot.get("open_id"):
            raise ChannelAuthError(
                "this app has no bot; enable the Bot capability (developer console → Add "
                "Features → Bot) and publish a new version"
            )
        return bot

    async def send(self, chat_id: str, msg_type: str, content: str) -> str:
        """To a chat (oc_…), or to a person's private chat with the bot by their open_id
        (ou_…) or union_id (on_…): approvals and notices go to people, not chats."""
        kind = {"ou_": "open_id", "on_": "union_id"}.get(chat_id[:3], "chat_id")
        body = await self.call(
            "POST",
            "/open-apis/im/v1/messages",
            params={"receive_id_type": kind},
            json_body={
                "receive_id": chat_id,
                "msg_type": msg_type,
                "content": content,
                "uuid": str(uuid.uuid4()),  # the same for retries inside call(): no duplicate
            },
            what="sending a message",
        )
        return _message_id(body)

    async def reply(self, message_id: str, msg_type: str, content: str, *, thread: bool) -> str:
        body = await self.call(
            "POST",
            f"/open-apis/im/v1/messages/{message_id}/reply",
            json_body={
                "msg_type": msg_type,
                "content": content,
                "reply_in_thread": thread,
                "uuid": str(uuid.uuid4()),
            },
            what="replying to a message",
        )
        return _message_id(body)

    async def patch_card(self, message_id: str, content: str) -> None:
        await self.call(
            "PATCH",
            f"/open-apis/im/v1/messages/{message_id}",
            json_body={"content": content},
            what="updating a card",
        )

    async def update_text(self, message_id: str, content: str) -> None:
        await self.call(
            "PUT",
            f"/open-apis/im/v1/messages/{message_id}",
            json_body={"msg_type": "text", "content": content},
            what="editing a message",
        )

    async def upload_image(self, name: str, data: bytes, mime_type: str) -> str:
        """A picture for an image message (``im/v1/images``, image_type message); its key."""
        fields = {"image_type": "message"}
        return await self._upload("images", fields, "image", name, data, mime_type)

    async def upload_file(self, name: str, data: bytes, mime_type: str) -> str:
        """A file for a file message (``im/v1/files``); its key."""
        fields = {"file_type": file_type(name), "file_name": upload_name(name)}
        return await self._upload("files", fields, "file", name, data, mime_type)

    async def _upload(
        self,
        kind: str,
        fields: dict[str, str],
        field: str,
        name: str,
        data: bytes,
        mime_type: str,
    ) -> str:
        def form() -> aiohttp.FormData:
            body = aiohttp.FormData(quote_fields=False)  # UTF-8 names, as Feishu takes them
            for key, value in fields.items():
                body.add_field(key, value)
            body.add_field(
                field, io.BytesIO(data), filename=upload_name(name), content_type=mime_type
            )
            return body

        answer = await self.call(
            "POST", f"/open-apis/im/v1/{kind}", form=form, what=f"uploading {kind}", timeout=120
        )
        return _key(answer, f"{field}_key")

    async def user_name(self, open_id: str, *, timeout: float = 1.0) -> str:
        """The person's display name, best effort (needs the contact:user.base:readonly scope)."""
        now = self._clock.monotonic()
        cached = self._names.get(open_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        if now < self._names_denied_until:
            return ""
        try:
            body = await self.call(
                "GET",
                f"/open-apis/contact/v3/users/{open_id}",
                params={"user_id_type": "open_id"},
                what="reading a user's name",
                timeout=timeout,
            )
            user = (body.get("data") or {}).get("user") or {}
            name = str(user.get("name") or "")
        except FeishuRefused as exc:
            if exc.code == NO_PERMISSION:
                log.warning(
                    "feishu.names_unavailable",
                    hint="grant the contact:user.base:readonly scope to show people's names",
                )
                self._names_denied_until = now + 3600
            name = ""
        except ChannelError as exc:  # a name is a nicety: never fail a message for it
            log.debug("feishu.name_unavailable", error=str(exc))
            return ""
        self._names[open_id] = (name, now + 24 * 3600)
        return name

    async def download(self, message_id: str, file_key: str, kind: str, max_bytes: int) -> bytes:
        """A message's image or file, refusing more than ``max_bytes``."""
        token = await self.token()
        url = f"{self.base_url}/open-apis/im/v1/messages/{message_id}/resources/{file_key}"
        for attempt in (1, 2):
            try:
                async with self._session.get(
                    url,
                    params={"type": "image" if kind == "image" else "file"},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=aiohttp.ClientTimeout(total=120),
                ) as response:
                    if response.content_type == "application/json" or response.status != 200:
                        body = await response.json(content_type=None)
                        code = body.get("code") if isinstance(body, dict) else None
                        if code in TOKEN_INVALID and attempt == 1:
                            token = await self.token(stale=token)
                            continue
                        if response.status >= 500:
                            raise ChannelUnavailable(f"Feishu answered HTTP {response.status}")
                        msg = body.get("msg") if isinstance(body, dict) else ""
                        raise FeishuRefused(f"Feishu refused the download: {code} {msg}", code)
                    if (response.content_length or 0) > max_bytes:
                        raise ChannelError(f"the file is larger than {max_bytes} bytes")
                    data = bytearray()
                    async for chunk in response.content.iter_chunked(65536):
                        data += chunk
                        if len(data) > max_bytes:
                            raise ChannelError(f"the file is larger than {max_bytes} bytes")
                    return bytes(data)
            except TimeoutError:
                raise ChannelUnavailable("the download from Feishu timed out") from None
            except aiohttp.ClientError as exc:
                raise ChannelUnavailable(f"download failed ({type(exc).__name__})") from None
            except ValueError:
                raise ChannelUnavailable("Feishu answered the download with bad JSON") from None
        raise ChannelUnavailable("Feishu kept refusing the tenant token for a download")

    async def ws_endpoint(self) -> tuple[str, dict[str, Any]]:
        """The long connection's URL and client settings (reconnect and ping intervals)."""
        body = await self._request(
            "POST",
            ENDPOINT_PATH,
            json_body={"AppID": self._app_id, "AppSecret": self._app_secret},
            what="asking for the long-connection address",
        )
        code = body.get("code")
        data = body.get("data")
        url = data.get("URL") if isinstance(data, dict) else None
        if code == 0 and isinstance(data, dict) and isinstance(url, str) and url:
            config = data.get("ClientConfig")
            return url, config if isinstance(config, dict) else {}
        if code in SERVER_BUSY | {TOO_MANY_CONNECTIONS} or body.get("_status", 200) >= 500:
            raise ChannelUnavailable(
                f"Feishu could not open a long connection (code {code}: {body.get('msg')})"
            )
        raise ChannelAuthError(
            f"Feishu refused a long connection (code {code}: {body.get('msg')}); {AUTH_HINT}, "
            "and choose 'Receive events through persistent connection' under Events & Callbacks"
        )


# Feishu's file types by extension (im/v1/files); anything else is a "stream"
_FILE_TYPES = {
    "pdf": "pdf",
    "doc": "doc",
    "docx": "doc",
    "xls": "xls",
    "xlsx": "xls",
    "ppt": "ppt",
    "pptx": "ppt",
    "mp4": "mp4",
    "opus": "opus",
}


def file_type(name: str) -> str:
    return _FILE_TYPES.get(name.rpartition(".")[2].lower(), "stream")


def _key(body: dict[str, Any], name: str) -> str:
    data = body.get("data")
    key = data.get(name) if isinstance(data, dict) else None
    if not isinstance(key, str) or not key:
        raise ChannelUnavailable(f"Feishu answered an upload without its {name}")
    return key


def _message_id(body: dict[str, Any]) -> str:
    data = body.get("data")
    message_id = data.get("message_id") if isinstance(data, dict) else None
    if not isinstance(message_id, str):
        raise ChannelUnavailable("Feishu accepted the message but returned no message_id")
    return message_id
