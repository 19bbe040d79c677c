"""A fake Slack on 127.0.0.1, from Slack's documentation (api.slack.com): the Web API methods
the channel calls (``auth.test``, ``chat.postMessage``/``update``/``postEphemeral``,
``apps.connections.open``, ``conversations.open`` (a person's DM channel), and
files.getUploadURLExternal → POST of the bytes to the upload
URL → files.completeUploadExternal for uploads, which must name a channel (C/D/G…), and the
length asked for must be what arrives) answering ``{"ok": …}``, HTTP 429 ``ratelimited`` with
``Retry-After`` on demand, file downloads with the bot token, a Socket Mode websocket that
sends ``hello`` and envelopes and records acks, and an Events API sender that signs requests
(``X-Slack-Signature`` v0) and can mark them as retries (``X-Slack-Retry-Num``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import urllib.parse
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from assistant.channels.slack.webhook import signature

BOT_USER = "U0BOT00001"
TEAM = "T0TEAM0001"


@dataclass
class Shared:
    """A file shared by files.completeUploadExternal."""

    id: str
    channel: str
    title: str
    name: str
    data: bytes = field(repr=False)
    thread_ts: str | None = None
    initial_comment: str | None = None


@dataclass
class Posted:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    versions: list[str] = field(default_factory=list)
    at: float = field(default_factory=time.monotonic)

    @property
    def buttons(self) -> list[tuple[str, str]]:
        return [
            (e["text"]["text"], e["value"])
            for b in self.blocks
            if b["type"] == "actions"
            for e in b["elements"]
        ]


class FakeSlack:
    def __init__(self) -> None:
        self.bot_token = "xoxb-fake-0123456789"
        self.app_token = "xapp-fake-0123456789"
        self.signing_secret = "fake-signing-secret-0123456789"
        self.posted: list[Posted] = []
        self.ephemeral: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []
        self.attempts: dict[str, list[float]] = defaultdict(list)
        self.files: dict[str, bytes] = {}
        self.shared: list[Shared] = []
        self._uploads: dict[str, dict[str, Any]] = {}  # file id → name, length, data
        self.acks: list[str] = []
        self.refuse = False
        self._failures: dict[str, deque[tuple[int, str, str | None]]] = defaultdict(deque)
        self._sockets: list[web.WebSocketResponse] = []
        self._ts = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> FakeSlack:
        app = web.Application(client_max_size=128 * 1024 * 1024)  # uploads
        app.router.add_post("/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/files/{name}", self._file)
        app.router.add_get("/link", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def fail(self, method: str, status: int, error: str, retry_after: str | None = None) -> None:
        self._failures[method].append((status, error, retry_after))

    def add_file(self, name: str, data: bytes) -> str:
        self.files[name] = data
        return f"http://127.0.0.1:{self.port}/files/{name}"

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(predicate)

    async def wait_posted(self, count: int, timeout: float = 10.0) -> list[Posted]:
        await self.wait_for(lambda: len(self.posted) >= count, timeout)
        return self.posted

    # --- the Web API --------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.attempts[method].append(time.monotonic())
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        wanted = self.app_token if method == "apps.connections.open" else self.bot_token
        if token != wanted:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if request.content_type == "application/json":
            args = await request.json() if request.can_read_body else {}
        else:
            args = dict(urllib.parse.parse_qsl(await request.text()))
        args = {**request.query, **args}  # slack-sdk sends some methods' arguments as a query
        if self._failures[method]:
            status, error, after = self._failures[method].popleft()
            headers = {"Retry-After": after} if after else {}
            return web.json_response({"ok": False, "error": error}, status=status, headers=headers)
        if method == "auth.test":
            return web.json_response(
                {"ok": True, "user": "assistant", "user_id": BOT_USER, "team_id": TEAM}
            )
        if method == "apps.connections.open":
            return web.json_response({"ok": True, "url": f"ws://127.0.0.1:{self.port}/link"})
        if method == "chat.postMessage":
            text = str(args.get("text") or "")
            if not text or len(text) > 40_000:
                return web.json_response({"ok": False, "error": "no_text"})
            for block in args.get("blocks") or []:
                if block["type"] == "section" and len(block["text"]["text"]) > 3000:
                    return web.json_response({"ok": False, "error": "invalid_blocks"})
            ts = f"{int(time.time())}.{next(self._ts):06d}"
            channel = str(args["channel"])
            if channel.startswith("U"):  # a person: their direct message channel with the bot
                channel = "D" + channel[1:]
            self.posted.append(
                Posted(channel, ts, text, args.get("blocks") or [], args.get("thread_ts"))
            )
            self.posted[-1].versions.append(text)
            await self._notify()
            return web.json_response({"ok": True, "channel": channel, "ts": ts})
        if method == "chat.update":
            found = next((p for p in self.posted if p.ts == args.get("ts")), None)
            if found is None:
                return web.json_response({"ok": False, "error": "message_not_found"})
            found.text = str(args.get("text") or "")
            found.blocks = args.get("blocks") or []
            found.versions.append(found.text)
            self.updates.append({**args, "at": time.monotonic()})
            await self._notify()
            return web.json_response({"ok": True, "channel": found.channel, "ts": found.ts})
        if method == "files.getUploadURLExternal":
            length = int(args.get("length") or 0)
            if not args.get("filename") or length <= 0:
                return web.json_response({"ok": False, "error": "invalid_arguments"})
            file_id = f"F{next(self._ts):08d}"
            self._uploads[file_id] = {"name": args["filename"], "length": length, "data": None}
            url = f"http://127.0.0.1:{self.port}/upload/{file_id}"
            return web.json_response({"ok": True, "upload_url": url, "file_id": file_id})
        if method == "conversations.open":
            person = str(args.get("users") or "")
            if not person.startswith(("U", "W")):
                return web.json_response({"ok": False, "error": "user_not_found"})
            return web.json_response({"ok": True, "channel": {"id": "D" + person[1:]}})
        if method == "files.completeUploadExternal":
            return await self._complete(args)
        if method == "chat.postEphemeral":
            self.ephemeral.append(args)
            await self._notify()
            return web.json_response({"ok": True, "message_ts": "1.1"})
        return web.json_response({"ok": False, "error": "unknown_method"})

    async def _upload(self, request: web.Request) -> web.Response:
        upload = self._uploads.get(request.match_info["file_id"])
        if upload is None:
            return web.Response(status=404)
        upload["data"] = await request.read()
        return web.Response(text=f"OK - {len(upload['data'])}")

    async def _complete(self, args: dict[str, Any]) -> web.Response:
        try:
            files = json.loads(args.get("files") or "[]")
        except ValueError:
            return web.json_response({"ok": False, "error": "invalid_arguments"})
        channel = str(args.get("channel_id") or "")
        if channel[:1] not in ("C", "D", "G"):
            return web.json_response({"ok": False, "error": "invalid_channel"})
        done = []
        for entry in files:
            upload = self._uploads.get(entry.get("id"))
            if upload is None or upload["data"] is None:
                return web.json_response({"ok": False, "error": "file_not_found"})
            if len(upload["data"]) != upload["length"]:
                return web.json_response({"ok": False, "error": "file_upload_size_mismatch"})
            shared = Shared(
                entry["id"],
                channel,
                str(entry.get("title") or upload["name"]),
                upload["name"],
                upload["data"],
                args.get("thread_ts"),
                args.get("initial_comment"),
            )
            self.shared.append(shared)
            done.append({"id": shared.id, "title": shared.title, "name": shared.name})
        await self._notify()
        return web.json_response({"ok": True, "files": done})

    async def _file(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.bot_token}":
            return web.Response(status=403)
        return web.Response(body=self.files[request.match_info["name"]])

    # --- Socket Mode ----------------------------------------------------------------------------

    async def drop(self, *, refuse: bool = True) -> None:
        """Close every Socket Mode connection; with ``refuse``, refuse new ones until
        ``refuse`` is set false again."""
        self.refuse = refuse
        for ws in list(self._sockets):
            await ws.close()

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        if self.refuse:
            return web.Response(status=503)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1, "debug_info": {}})
        await self._notify()
        try:
            async for frame in ws:
                if frame.type == aiohttp.WSMsgType.TEXT:
                    data = json.loads(frame.data)
                    if "envelope_id" in data:
                        self.acks.append(data["envelope_id"])
                        await self._notify()
        finally:
            self._sockets.remove(ws)
        return ws

    async def push(self, kind: str, payload: dict[str, Any], envelope_id: str) -> None:
        await self.wait_for(lambda: bool(self._sockets))
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": False,
        }
        await self._sockets[-1].send_json(envelope)

    # --- the Events API sender ------------------------------------------------------------------

    def event(self, event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
        return {
            "token": "deprecated",
            "team_id": TEAM,
            "api_app_id": "A0APP0001",
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(self._ts):08d}",
            "event_time": int(time.time()),
        }

    def message(
        self,
        channel: str,
        user: str,
        text: str,
        *,
        kind: str = "message",
        channel_type: str | None = None,
        thread_ts: str | None = None,
        ts: str | None = None,
        files: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "type": kind,
            "channel": channel,
            "user": user,
            "text": text,
            "ts": ts or f"{int(time.time())}.{next(self._ts):06d}",
        }
        if kind == "message":
            event["channel_type"] = channel_type or ("im" if channel.startswith("D") else "channel")
        if thread_ts:
            event["thread_ts"] = thread_ts
        if files:
            event["files"] = files
            event["subtype"] = "file_share"
        return event

    def block_actions(self, user: str, posted: Posted, index: int) -> dict[str, Any]:
        title, value = posted.buttons[index]
        container = {
            "type": "message",
            "message_ts": posted.ts,
            "channel_id": posted.channel,
            "is_ephemeral": False,
        }
        if posted.thread_ts:
            container["thread_ts"] = posted.thread_ts
        return {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": TEAM},
            "team": {"id": TEAM},
            "container": container,
            "channel": {"id": posted.channel},
            "message": {"ts": posted.ts, "text": posted.text},
            "trigger_id": f"trig.{next(self._ts)}",
            "actions": [
                {
                    "action_id": f"b{index}",
                    "block_id": "blk",
                    "text": {"type": "plain_text", "text": title},
                    "value": value,
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }

    async def post(
        self,
        http: aiohttp.ClientSession,
        url: str,
        payload: dict[str, Any],
        *,
        signed: bool = True,
        secret: str | None = None,
        timestamp: int | None = None,
        retry: int | None = None,
        interactive: bool = False,
    ) -> tuple[int, str]:
        if interactive:
            body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
            content_type = "application/x-www-form-urlencoded"
        else:
            body = json.dumps(payload, ensure_ascii=False).encode()
            content_type = "application/json"
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp}
        if signed:
            headers["X-Slack-Signature"] = signature(body, stamp, secret or self.signing_secret)
        if retry is not None:
            headers["X-Slack-Retry-Num"] = str(retry)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        async with http.post(url, data=body, headers=headers) as response:
            return response.status, await response.text()
