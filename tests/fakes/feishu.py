"""A fake Feishu Open API on 127.0.0.1, built from Feishu's documentation
(https://open.feishu.cn/document/server-docs): tenant_access_token/internal (tokens that
expire, ``code`` 99991663 for an invalid one), bot/v3/info, contact/v3/users (names),
im/v1/messages create/reply (``uuid`` dedupe, content validated: text, card JSON 2.0 under
30 KB; image and file messages name an uploaded key), im/v1/images and im/v1/files uploads
(multipart; a picture a PNG/JPEG/GIF/WEBP within 10 MB, a file not empty and within 30 MB),
PATCH (cards only) and PUT (text only), message resources — plus the long
connection (tests/fakes/feishu_ws.py), webhook delivery (plain or encrypted, signed or not)
and injectable failures (any ``code`` with any HTTP status, a number of times).

Tests build events with ``message_event``/``action_event`` and read what the bot did from
``sent`` (each message with ``versions``: its text as sent, then after each edit) and
``edits``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from assistant.channels.feishu.crypto import encrypt, signature
from tests.fakes.feishu_ws import FakeLongConnection

CARD_LIMIT = 30 * 1024
TEXT_LIMIT = 150 * 1024
BOT_OPEN_ID = "ou_b0t0000000000000000000000000000a"


@dataclass
class Sent:
    chat_id: str
    message_id: str
    msg_type: str
    content: dict[str, Any]
    reply_to: str | None = None
    in_thread: bool = False
    at: float = field(default_factory=time.monotonic)
    versions: list[str] = field(default_factory=list)  # the text as sent, then each edit

    def __post_init__(self) -> None:
        if not self.versions:
            self.versions.append(self.text)

    @property
    def text(self) -> str:
        if self.msg_type == "text":
            return str(self.content["text"])
        if self.msg_type in ("image", "file"):
            return ""
        parts = []
        for element in self.content["body"]["elements"]:
            if element["tag"] == "markdown":
                parts.append(element["content"])
            elif element["tag"] == "div":
                parts.append(element["text"]["content"])
        return "\n".join(parts)

    @property
    def buttons(self) -> list[tuple[str, dict[str, Any]]]:
        if self.msg_type != "interactive":
            return []
        found = []
        for element in self.content["body"]["elements"]:
            for column in element.get("columns", []):
                for button in column["elements"]:
                    found.append((button["text"]["content"], button["behaviors"][0]["value"]))
        return found


@dataclass
class Upload:
    kind: str  # "image" | "file"
    name: str
    mime_type: str
    data: bytes = field(repr=False)
    file_type: str | None = None


IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF8", b"RIFF")


@dataclass
class Failure:
    code: int
    msg: str
    status: int = 400


class FakeFeishu:
    def __init__(self) -> None:
        self.app_id = "cli_a1b2c3d4e5f6a7b8"
        self.app_secret = "fake-app-secret-0123456789abcdef"
        self.verification_token = "vt-0123456789abcdefghij"
        self.encrypt_key = "ek-fake-encrypt-key-0123456789"
        self.bot = {"open_id": BOT_OPEN_ID, "app_name": "Assistant", "activate_status": 2}
        self.names: dict[str, str] = {}
        self.tokens: dict[str, float] = {}
        self.token_expire = 7200
        self.token_requests = 0
        self.sent: list[Sent] = []
        self.edits: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str]] = []
        self.files: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.uploads: dict[str, Upload] = {}  # image_key / file_key → what was uploaded
        self.inbound: dict[str, str] = {}  # users' message ids (reply targets) → chat id
        self.delay = 0.0  # seconds every message call waits before answering
        self._failures: dict[str, deque[Failure]] = defaultdict(deque)
        self._uuids: dict[str, Sent] = {}
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.ws = FakeLongConnection(self)

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> FakeFeishu:
        app = web.Application(client_max_size=128 * 1024 * 1024)  # uploads
        app.router.add_post("/open-apis/auth/v3/tenant_access_token/internal", self._token)
        app.router.add_get("/open-apis/bot/v3/info", self._bot_info)
        app.router.add_get("/open-apis/contact/v3/users/{user_id}", self._user)
        app.router.add_post("/open-apis/im/v1/messages", self._create)
        app.router.add_post("/open-apis/im/v1/images", self._upload_image)
        app.router.add_post("/open-apis/im/v1/files", self._upload_file)
        app.router.add_post("/open-apis/im/v1/messages/{message_id}/reply", self._reply)
        app.router.add_patch("/open-apis/im/v1/messages/{message_id}", self._patch)
        app.router.add_put("/open-apis/im/v1/messages/{message_id}", self._update)
        app.router.add_get(
            "/open-apis/im/v1/messages/{message_id}/resources/{file_key}", self._resource
        )
        self.ws.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]  # the port chosen for port 0
        return self

    async def stop(self) -> None:
        await self.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(predicate)

    async def wait_sent(self, count: int, timeout: float = 10.0) -> list[Sent]:
        await self.wait_for(lambda: len(self.sent) >= count, timeout)
        return self.sent

    def fail(self, op: str, code: int, msg: str, *, status: int = 400, times: int = 1) -> None:
        """The next ``times`` calls of ``op`` (token, bot, send, reply, patch, update,
        resource, endpoint) answer ``code``."""
        self._failures[op].extend(Failure(code, msg, status) for _ in range(times))

    def expire_tokens(self) -> None:
        """Every token issued so far stops working (as after its 2 hours)."""
        self.tokens.clear()

    def add_file(self, message_id: str, key: str, data: bytes, content_type: str) -> None:
        self.files[(message_id, key)] = (data, content_type)

    # --- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _body(code: int = 0, msg: str = "success", status: int = 200, **extra: Any) -> web.Response:
        return web.json_response({"code": code, "msg": msg, **extra}, status=status)

    def _failure(self, op: str) -> web.Response | None:
        if self._failures[op]:
            f = self._failures[op].popleft()
            return self._body(f.code, f.msg, f.status)
        return None

    def _authorized(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        if not auth.startswith("Bearer ") or self.tokens.get(token, 0) < time.time():
            return self._body(
                99991663,
                "Invalid access token for authorization. Please make a request with token "
                "attached.",
                400,
            )
        return None

    async def _guard(self, request: web.Request, op: str) -> web.Response | None:
        self.calls.append((request.method, request.path))
        if self.delay:
            await asyncio.sleep(self.delay)
        return self._authorized(request) or self._failure(op)

    # --- auth and info -----------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        self.calls.append((request.method, request.path))
        self.token_requests += 1
        failure = self._failure("token")
        if failure is not None:
            return failure
        body = await request.json()
        if body.get("app_id") != self.app_id or body.get("app_secret") != self.app_secret:
            return self._body(10014, "app secret invalid", 400)
        token = "t-" + secrets.token_hex(20)
        self.tokens[token] = time.time() + self.token_expire
        return self._body(tenant_access_token=token, expire=self.token_expire)

    async def _bot_info(self, request: web.Request) -> web.Response:
        refused = await self._guard(request, "bot")
        return refused or self._body(bot=self.bot)

    async def _user(self, request: web.Request) -> web.Response:
        refused = await self._guard(request, "user")
        if refused:
            return refused
        if request.query.get("user_id_type") != "open_id":
            return self._body(99992402, "field validation failed", 400)
        name = self.names.get(request.match_info["user_id"])
        if name is None:
            return self._body(41050, "no user authority error", 400)
        return self._body(data={"user": {"open_id": request.match_info["user_id"], "name": name}})

    # --- messages ------------------------------------------------------------------------------

    def _check_content(self, msg_type: str, content: Any) -> tuple[dict[str, Any] | None, str]:
        if not isinstance(content, str):
            return None, "content must be a string"
        if msg_type == "text":
            if len(content.encode()) > TEXT_LIMIT:
                return None, "the message content is too long"
            parsed = json.loads(content)
            return (parsed, "") if isinstance(parsed.get("text"), str) else (None, "no text")
        if msg_type in ("image", "file"):
            parsed = json.loads(content)
            key = parsed.get(f"{msg_type}_key")
            known = self.uploads.get(key) if isinstance(key, str) else None
            if known is None or known.kind != msg_type:
                return None, f"invalid {msg_type}_key"
            return parsed, ""
        if msg_type != "interactive":
            return None, f"unsupported msg_type {msg_type}"
        if len(content.encode()) > CARD_LIMIT:
            return None, "card content exceeds 30KB"
        card = json.loads(content)
        if card.get("schema") != "2.0" or not card.get("config", {}).get("update_multi"):
            return None, "card JSON 2.0 needs schema 2.0 and config.update_multi true"
        for element in card["body"]["elements"]:
            if element["tag"] == "markdown" and not isinstance(element.get("content"), str):
                return None, "markdown element without content"
            for column in element.get("columns", []):
                for button in column["elements"]:
                    behavior = button["behaviors"][0]
                    if behavior["type"] != "callback" or not isinstance(behavior["value"], dict):
                        return None, "a button needs a callback behavior with an object value"
        return card, ""

    async def _store(
        self, chat_id: str, body: dict[str, Any], reply_to: str | None, thread: bool
    ) -> web.Response:
        key = body.get("uuid")
        if key and key in self._uuids:  # the same request again within an hour: no duplicate
            return self._body(data={"message_id": self._uuids[key].message_id})
        content, problem = self._check_content(str(body.get("msg_type")), body.get("content"))
        if content is None:
            return self._body(
                230001, f"Your request contains an invalid request parameter, ext={problem}"
            )
        sent = Sent(
            chat_id, f"om_{next(self._ids):032x}", body["msg_type"], content, reply_to, thread
        )
        self.sent.append(sent)
        if key:
            self._uuids[key] = sent
        await self.notify()
        return self._body(data={"message_id": sent.message_id, "chat_id": chat_id})

    async def _create(self, request: web.Request) -> web.Response:
        refused = await self._guard(request, "send")
        if refused:
            return refused
        kind = request.query.get("receive_id_type")
        prefix = {"chat_id": "oc_", "open_id": "ou_", "union_id": "on_"}.get(kind or "")
        if prefix is None:
            return self._body(230001, "invalid receive_id_type")
        body = await request.json()
        if not str(body.get("receive_id", "")).startswith(prefix):
            return self._body(
                230001,
                "Your request contains an invalid request parameter, ext=invalid receive_id.",
            )
        # to an open_id: the bot's private chat with that user (recorded under the open_id)
        return await self._store(body["receive_id"], body, None, False)

    async def _form(self, request: web.Request) -> tuple[dict[str, str], dict[str, Upload]]:
        if not request.content_type.startswith("multipart/form-data"):
            return {}, {}
        form = await request.post()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        uploads = {
            k: Upload(k, v.filename, v.content_type, v.file.read())
            for k, v in form.items()
            if isinstance(v, web.FileField)
        }
        return fields, uploads

    async def _upload_image(self, request: web.Request) -> web.Response:
        refused = await self._guard(request, "upload")
        if refused:
            return refused
        fields, uploads = await self._form(request)
        image = uploads.get("image")
        if fields.get("image_type") != "message" or image is None:
            return self._body(234001, "Invalid request param.", 400)
        if len(image.data) > 10 * 1024 * 1024:
            return self._body(234006, "The image size exceeds the limit (10 MB).", 400)
        if not image.data.startswith(IMAGE_MAGIC):
            return self._body(234011, "Can't recognise image format.", 400)
        key = f"img_v3_{uuid.uuid4().hex}"
        self.uploads[key] = Upload("image", image.name, image.mime_type, image.data)
        return self._body(data={"image_key": key})

    async def _upload_file(self, request: web.Request) -> web.Response:
        refused = await self._guard(request, "upload")
        if refused:
            return refused
        fields, uploads = await self._form(request)
        file = uploads.get("file")
        kinds = {"opus", "mp4", "pdf", "doc", "xls", "ppt", "stream"}
        if file is None or fields.get("file_type") not in kinds or not fields.get("file_name"):
            return self._body(234001, "Invalid request param.", 400)
        if not file.data:
            return self._body(234010, "File size can't be 0.", 400)
        if len(file.data) > 30 * 1024 * 1024:
            return self._body(234037, "The file size exceeds the limit (30 MB).", 400)
        key = f"file_v3_{uuid.uuid4().hex}"
        self.uploads[key] = Upload(
            "file", fields["file_name"], file.mime_type, file.data, fields["file_type"]
        )
        return self._body(data={"file_key": key})

    def upload_of(self, sent: Sent) -> Upload | None:
        """The picture or file an image or file message shows."""
        if sent.msg_type not in ("image", "file"):
            return None
        return self.uploads.get(sent.content[f"{sent.msg_type}_key"])

    def _message(self, message_id: str) -> Sent | None:
        return next((s for s in self.sent if s.message_id == message_id), None)

    async def _reply(self, request: web.Request) -> web.Response:
        refused = await self._guard(request, "reply")
        if refused:
            return refused
        target = request.match_info["message_id"]
        original = self._message(target)
        chat_id = original.chat_id if original else self.inbound.get(target)
        if chat_id is None:
            return self._body(230011, "The message was withdrawn.")
        body = await request.json()
        return await self._store(chat_id, body, target, bool(body.get("reply_in_thread")))

    async def _patch(self, request: web.Request) -> web.Response:
        refused = await self._guard(request, "patch")
        if refused:
            return refused
        sent = self._message(request.match_info["message_id"])
        if sent is None:
            return self._body(230001, "invalid message_id")
        if sent.msg_type != "interactive":
            return self._body(230001, "only cards can be updated with PATCH")
        body = await request.json()
        content, problem = self._check_content("interactive", body.get("content"))
        if content is None:
            return self._body(230001, problem)
        sent.content = content
        sent.versions.append(sent.text)
        self.edits.append(
            {"message_id": sent.message_id, "content": content, "at": time.monotonic()}
        )
        await self.notify()
        return self._body(data={})

    async def _update(self, request: web.Request) -> web.Response:
        refused = await self._guard(request, "update")
        if refused:
            return refused
        sent = self._message(request.match_info["message_id"])
        body = await request.json()
        if sent is None or sent.msg_type != "text" or body.get("msg_type") != "text":
            return self._body(230001, "only text messages can be edited here")
        content, problem = self._check_content("text", body.get("content"))
        if content is None:
            return self._body(230001, problem)
        sent.content = content
        sent.versions.append(sent.text)
        self.edits.append({"message_id": sent.message_id, "content": content})
        await self.notify()
        return self._body(data={})

    async def _resource(self, request: web.Request) -> web.StreamResponse:
        refused = await self._guard(request, "resource")
        if refused:
            return refused
        key = (request.match_info["message_id"], request.match_info["file_key"])
        if request.query.get("type") not in ("image", "file") or key not in self.files:
            return self._body(234003, "File not in msg.")
        data, content_type = self.files[key]
        return web.Response(body=data, content_type=content_type)

    # --- events -------------------------------------------------------------------------------

    def _header(self, event_type: str, event_id: str | None) -> dict[str, Any]:
        return {
            "event_id": event_id or uuid.uuid4().hex,
            "event_type": event_type,
            "create_time": str(int(time.time() * 1000)),
            "token": self.verification_token,
            "app_id": self.app_id,
            "tenant_key": "736588c9260f175d",
        }

    def message_event(
        self,
        *,
        chat_id: str,
        sender: str,
        text: str | None = None,
        chat_type: str = "p2p",
        msg_type: str = "text",
        content: dict[str, Any] | None = None,
        mentions: list[dict[str, Any]] | None = None,
        thread_id: str | None = None,
        event_id: str | None = None,
        message_id: str | None = None,
        sender_type: str = "user",
    ) -> dict[str, Any]:
        """An ``im.message.receive_v1`` event as Feishu documents it."""
        message_id = message_id or f"om_{uuid.uuid4().hex}"
        self.inbound[message_id] = chat_id
        message: dict[str, Any] = {
            "message_id": message_id,
            "root_id": "",
            "parent_id": "",
            "create_time": str(int(time.time() * 1000)),
            "update_time": str(int(time.time() * 1000)),
            "chat_id": chat_id,
            "chat_type": chat_type,
            "message_type": msg_type,
            "content": json.dumps(content if content is not None else {"text": text}),
            "mentions": mentions or [],
            "user_agent": "Mozilla/5.0 Lark/7.30",
        }
        if thread_id:
            message["thread_id"] = thread_id
        return {
            "schema": "2.0",
            "header": self._header("im.message.receive_v1", event_id),
            "event": {
                "sender": {
                    "sender_id": {
                        "union_id": "on_" + sender[3:],
                        "user_id": sender[-8:],
                        "open_id": sender,
                    },
                    "sender_type": sender_type,
                    "tenant_key": "736588c9260f175d",
                },
                "message": message,
            },
        }

    def mention(self, key: str, open_id: str, name: str) -> dict[str, Any]:
        return {
            "key": key,
            "id": {"union_id": "on_" + open_id[3:], "user_id": open_id[-8:], "open_id": open_id},
            "name": name,
            "tenant_key": "736588c9260f175d",
        }

    def bot_mention(self, key: str = "@_user_1") -> dict[str, Any]:
        return self.mention(key, BOT_OPEN_ID, self.bot["app_name"])

    def action_event(
        self,
        *,
        operator: str,
        value: dict[str, Any],
        chat_id: str,
        message_id: str,
        event_id: str | None = None,
    ) -> dict[str, Any]:
        """A ``card.action.trigger`` callback (a button pressed)."""
        return {
            "schema": "2.0",
            "header": self._header("card.action.trigger", event_id),
            "event": {
                "operator": {
                    "tenant_key": "736588c9260f175d",
                    "user_id": operator[-8:],
                    "open_id": operator,
                },
                "token": "c-" + secrets.token_hex(20),
                "action": {"value": value, "tag": "button"},
                "host": "im_message",
                "context": {"open_message_id": message_id, "open_chat_id": chat_id},
            },
        }

    async def post_webhook(
        self,
        http: aiohttp.ClientSession,
        url: str,
        payload: Any,
        *,
        raw: str | None = None,
        encrypted: bool = True,
        signed: bool = True,
        timestamp: int | None = None,
        tamper: bool = False,
        key: str | None = None,
    ) -> tuple[int, Any]:
        """Deliver ``payload`` (or ``raw`` JSON text) the way Feishu posts to a request URL."""
        key = key or self.encrypt_key
        text = raw if raw is not None else json.dumps(payload)
        body = json.dumps({"encrypt": encrypt(text, key)}) if encrypted else text
        raw = body.encode()
        headers = {"Content-Type": "application/json"}
        if signed:
            ts = str(timestamp if timestamp is not None else int(time.time()))
            nonce = secrets.token_hex(8)
            headers.update(
                {
                    "X-Lark-Request-Timestamp": ts,
                    "X-Lark-Request-Nonce": nonce,
                    "X-Lark-Signature": signature(ts, nonce, key, raw),
                }
            )
        if tamper:
            raw += b" "  # still the same JSON, but not what was signed
        async with http.post(url, data=raw, headers=headers) as response:
            try:
                answer = await response.json(content_type=None)
            except ValueError:
                answer = await response.text()
            return response.status, answer
