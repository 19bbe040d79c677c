"""A fake WhatsApp Cloud API (Meta's Graph API) on 127.0.0.1, and a webhook sender, built from
Meta's documentation (developers.facebook.com/docs/whatsapp/cloud-api): ``GET /{phone-id}``,
``POST /{phone-id}/messages`` (text at most 4096 characters; interactive reply buttons, at most
3 with titles of at most 20 characters and a body of at most 1024; lists of at most 10 rows;
templates; image and document messages naming an uploaded media id, captions of at most
1024; ``status: read``, with the typing indicator), ``POST /{phone-id}/media`` (multipart uploads of the documented
types: JPEG/PNG pictures within 5 MB, documents — text/plain, PDF, Office — within 100 MB;
anything else code 131053), ``GET /{media-id}`` and the media download, the bearer token
(HTTP 401, code 190 when wrong), the 24-hour window (code 131047 for a free-form message to a
person in ``closed``) and injectable failures (any HTTP status and code, with ``Retry-After``).

The sender builds webhook deliveries in Meta's shape (``object``, ``entry[].changes[].value``
with ``metadata``, ``contacts[]``, ``messages[]`` or ``statuses[]``), signed with
``X-Hub-Signature-256`` as Meta signs them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

VERSION = "v23.0"
PHONE_ID = "106540352242922"
DISPLAY = "15550783881"


@dataclass
class Sent:
    to: str
    message_id: str
    payload: dict[str, Any]
    at: float = field(default_factory=time.monotonic)

    @property
    def type(self) -> str:
        return str(self.payload["type"])

    @property
    def text(self) -> str:
        if self.type == "text":
            return str(self.payload["text"]["body"])
        if self.type == "interactive":
            return str(self.payload["interactive"]["body"]["text"])
        if self.type in ("image", "document"):
            return str(self.payload[self.type].get("caption") or "")
        return f"[template {self.payload['template']['name']}]"

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(title, id) of each reply button or list row; (index, payload) of a template's
        quick-reply buttons."""
        if self.type == "template":
            return [
                (c["index"], c["parameters"][0]["payload"])
                for c in self.payload["template"].get("components", [])
                if c["type"] == "button"
            ]
        if self.type != "interactive":
            return []
        interactive = self.payload["interactive"]
        action = interactive["action"]
        if interactive["type"] == "button":
            return [(b["reply"]["title"], b["reply"]["id"]) for b in action["buttons"]]
        return [(r["title"], r["id"]) for s in action["sections"] for r in s["rows"]]


@dataclass
class Uploaded:
    name: str
    mime_type: str
    data: bytes = field(repr=False)


IMAGE_TYPES = {"image/jpeg": 5, "image/png": 5}  # MB
DOCUMENT_TYPES = {
    "text/plain",
    "application/pdf",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}


@dataclass
class Failure:
    status: int
    code: int
    message: str
    retry_after: str | None = None


class FakeWhatsApp:
    def __init__(self) -> None:
        self.phone_id = PHONE_ID
        self.token = "EAAfake-token-0123456789"
        self.app_secret = "fake-app-secret-abcdef0123456789"
        self.verify_token = "verify-me-0123456789"
        self.sent: list[Sent] = []
        self.refused: list[dict[str, Any]] = []
        self.read: list[str] = []
        self.typing: list[str] = []  # message ids the typing indicator was shown on
        self.attempts: list[float] = []  # monotonic time of every send attempt
        self.media: dict[str, tuple[bytes, str]] = {}
        self.uploads: dict[str, Uploaded] = {}  # media ids of what the bot uploaded
        self.closed: set[str] = set()  # people whose 24-hour window is closed
        self.template_buttons = 0  # quick-reply buttons of the approved templates
        self._failures: deque[Failure] = deque()
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> FakeWhatsApp:
        app = web.Application(client_max_size=128 * 1024 * 1024)  # uploads
        app.router.add_get(f"/{VERSION}/{{node}}", self._node)
        app.router.add_post(f"/{VERSION}/{{phone}}/messages", self._messages)
        app.router.add_post(f"/{VERSION}/{{phone}}/media", self._upload)
        app.router.add_get("/media-download/{media_id}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/{VERSION}"

    def fail(
        self, status: int, code: int, message: str, *, retry_after: str | None = None, times=1
    ) -> None:  # type: ignore[no-untyped-def]
        for _ in range(times):
            self._failures.append(Failure(status, code, message, retry_after))

    def add_media(self, media_id: str, data: bytes, mime_type: str) -> None:
        self.media[media_id] = (data, mime_type)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(predicate)

    async def wait_sent(self, count: int, timeout: float = 10.0) -> list[Sent]:
        await self.wait_for(lambda: len(self.sent) >= count, timeout)
        return self.sent

    # --- the Graph API ------------------------------------------------------------------------

    @staticmethod
    def _error(status: int, code: int, message: str, **headers: str) -> web.Response:
        body = {
            "error": {
                "message": message,
                "type": "OAuthException",
                "code": code,
                "fbtrace_id": "AbCdEf",
            }
        }
        return web.json_response(body, status=status, headers=headers)

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    async def _node(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        node = request.match_info["node"]
        if node == self.phone_id:
            return web.json_response(
                {"display_phone_number": DISPLAY, "verified_name": "Assistant", "id": node}
            )
        if node in self.media:
            data, mime = self.media[node]
            return web.json_response(
                {
                    "messaging_product": "whatsapp",
                    "url": f"http://127.0.0.1:{self.port}/media-download/{node}",
                    "mime_type": mime,
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "file_size": len(data),
                    "id": node,
                }
            )
        return self._error(400, 100, "Unsupported get request.")

    async def _download(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.Response(status=401)
        data, mime = self.media[request.match_info["media_id"]]
        return web.Response(body=data, content_type=mime.split(";")[0])

    def _invalid(self, body: dict[str, Any]) -> str | None:
        """Why Meta would refuse this message (its documented limits), or None."""
        kind = body.get("type")
        if body.get("recipient_type") == "group" and kind not in ("text", "template"):
            return f"groups take text, media and templates, not {kind}"
        if kind == "text":
            text = body["text"]["body"]
            return "text empty or too long" if not text.strip() or len(text) > 4096 else None
        if kind == "interactive":
            interactive = body["interactive"]
            if not 1 <= len(interactive["body"]["text"]) <= 1024:
                return "body empty or too long"
            action = interactive["action"]
            if interactive["type"] == "button":
                buttons = action["buttons"]
                if not 1 <= len(buttons) <= 3:
                    return "1 to 3 buttons"
                titles = [b["reply"]["title"] for b in buttons]
                ids = [b["reply"]["id"] for b in buttons]
                if any(len(t) > 20 for t in titles) or len(set(ids)) != len(ids):
                    return "button title too long or ids repeated"
                return None
            if interactive["type"] == "list":
                rows = [r for s in action["sections"] for r in s["rows"]]
                if not 1 <= len(rows) <= 10 or len(action["button"]) > 20:
                    return "1 to 10 rows"
                return "row title too long" if any(len(r["title"]) > 24 for r in rows) else None
            return "unknown interactive type"
        if kind == "template":
            template = body["template"]
            if not template.get("name"):
                return "template without a name"
            quick = [c for c in template.get("components", []) if c["type"] == "button"]
            if len(quick) > self.template_buttons:
                return f"the template has {self.template_buttons} quick-reply buttons"
            for position, button in enumerate(quick):
                (parameter,) = button["parameters"]
                if (button["sub_type"], button["index"]) != ("quick_reply", str(position)):
                    return "button component out of order"
                if parameter["type"] != "payload" or not 0 < len(parameter["payload"]) <= 256:
                    return "quick reply payload"
            return None
        if kind in ("image", "document"):
            media = body[kind]
            uploaded = self.uploads.get(media.get("id"))
            if uploaded is None:
                return "unknown media id"
            if kind == "image" and uploaded.mime_type not in IMAGE_TYPES:
                return "an image message needs a JPEG or PNG"
            return "caption too long" if len(media.get("caption") or "") > 1024 else None
        return f"unsupported type {kind!r}"

    async def _upload(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        form = await request.post()
        file = form.get("file")
        if form.get("messaging_product") != "whatsapp" or not isinstance(file, web.FileField):
            return self._error(400, 100, "(#100) The parameter messaging_product is required.")
        kind = str(form.get("type") or file.content_type)
        data = file.file.read()
        limit = IMAGE_TYPES.get(kind, 100 if kind in DOCUMENT_TYPES else 0)
        if not limit:
            return self._error(400, 131053, f"(#131053) Media upload error: {kind} not supported")
        if not data or len(data) > limit * 1024 * 1024:
            return self._error(400, 131053, "(#131053) Media upload error: file size")
        media_id = f"{next(self._ids) + 900000000000000}"
        self.uploads[media_id] = Uploaded(file.filename, kind, data)
        return web.json_response({"id": media_id})

    async def _messages(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        body = await request.json()
        if body.get("messaging_product") != "whatsapp":
            return self._error(400, 100, "(#100) The parameter messaging_product is required.")
        if body.get("status") == "read":
            if body.get("typing_indicator") is not None:
                if body["typing_indicator"] != {"type": "text"}:
                    return self._error(400, 100, "(#100) Invalid parameter typing_indicator")
                self.typing.append(str(body["message_id"]))
            else:
                self.read.append(str(body["message_id"]))
            await self._notify()
            return web.json_response({"success": True})
        self.attempts.append(time.monotonic())
        if self._failures:
            failure = self._failures.popleft()
            headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
            return self._error(failure.status, failure.code, failure.message, **headers)
        to = str(body.get("to") or body.get("recipient") or "")
        why = self._invalid(body)
        if body.get("recipient_type") not in ("individual", "group"):
            why = "recipient_type is individual or group"
        if why is not None:
            self.refused.append(body)
            return self._error(400, 131009, f"(#131009) Parameter value is not valid: {why}")
        if to in self.closed and body.get("type") != "template":
            self.refused.append(body)
            return self._error(400, 131047, "Re-engagement message: more than 24 hours have passed")
        message_id = f"wamid.HBgL{next(self._ids):06d}"
        self.sent.append(Sent(to, message_id, body))
        await self._notify()
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": message_id}],
            }
        )

    # --- the webhook sender ---------------------------------------------------------------------

    def delivery(
        self,
        *messages: dict[str, Any],
        name: str = "Ann",
        statuses: list[dict[str, Any]] | None = None,
        phone_id: str | None = None,
    ) -> dict[str, Any]:
        value: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": DISPLAY, "phone_number_id": phone_id or PHONE_ID},
        }
        if messages:
            people = dict.fromkeys(m["from"] for m in messages)
            value["contacts"] = [
                {"profile": {"name": name}, "wa_id": p, "user_id": f"US.{p[-6:]}"} for p in people
            ]
            value["messages"] = list(messages)
        if statuses:
            value["statuses"] = statuses
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}
            ],
        }

    def _base(self, person: str, kind: str) -> dict[str, Any]:
        return {
            "from": person,
            "id": f"wamid.IN{next(self._ids):08d}",
            "timestamp": str(int(time.time())),
            "type": kind,
        }

    def text(
        self, person: str, body: str, *, group: str | None = None, reply_to: Sent | None = None
    ) -> dict[str, Any]:
        """A text message; in ``group`` (Groups API), maybe replying to our message."""
        message = {**self._base(person, "text"), "text": {"body": body}}
        if group is not None:
            message["group_id"] = group
        if reply_to is not None:
            message["context"] = {"from": DISPLAY, "id": reply_to.message_id}
        return message

    def button_reply(self, person: str, sent: Sent, index: int) -> dict[str, Any]:
        """The person pressed button ``index`` of the message ``sent``."""
        title, reply_id = sent.buttons[index]
        kind = sent.payload["interactive"]["type"]
        reply_type = "button_reply" if kind == "button" else "list_reply"
        return {
            **self._base(person, "interactive"),
            "context": {"from": DISPLAY, "id": sent.message_id},
            "interactive": {"type": reply_type, reply_type: {"id": reply_id, "title": title}},
        }

    def template_reply(self, person: str, sent: Sent, index: int) -> dict[str, Any]:
        """The person pressed quick-reply button ``index`` of the template ``sent``."""
        _, payload = sent.buttons[index]
        return {
            **self._base(person, "button"),
            "context": {"from": DISPLAY, "id": sent.message_id},
            "button": {"payload": payload, "text": f"Button {index}"},
        }

    def media_message(
        self, person: str, kind: str, media_id: str, mime: str, **extra: Any
    ) -> dict[str, Any]:
        data = self.media[media_id][0]
        body = {"mime_type": mime, "sha256": hashlib.sha256(data).hexdigest(), "id": media_id}
        return {**self._base(person, kind), kind: {**body, **extra}}

    def status(self, message_id: str, person: str, state: str = "delivered") -> dict[str, Any]:
        return {
            "id": message_id,
            "status": state,
            "timestamp": str(int(time.time())),
            "recipient_id": person,
        }

    def failed(self, message_id: str, person: str, code: int = 131047) -> dict[str, Any]:
        """WhatsApp's later verdict on a message it had accepted."""
        return {
            **self.status(message_id, person, "failed"),
            "errors": [
                {
                    "code": code,
                    "title": "Message failed to send because more than 24 hours have passed "
                    "since the customer last replied to this number.",
                    "error_data": {"details": "Message failed to send"},
                }
            ],
        }

    def signature(self, body: bytes, secret: str | None = None) -> str:
        key = (secret or self.app_secret).encode()
        return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()

    async def post_webhook(
        self,
        http: aiohttp.ClientSession,
        url: str,
        payload: dict[str, Any],
        *,
        signed: bool = True,
        secret: str | None = None,
        tamper: bool = False,
    ) -> tuple[int, str]:
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        if signed:
            headers["X-Hub-Signature-256"] = self.signature(body, secret)
        if tamper:
            body = body.replace(b"}", b" }", 1)
        async with http.post(url, data=body, headers=headers) as response:
            return response.status, await response.text()
