"""The long-connection side of the fake Feishu: ``POST /callback/ws/endpoint`` hands out a
one-time websocket URL (with ``access_key`` and ``ticket``, as the real one) and client
settings; the websocket speaks ``pbbp2.Frame`` protobuf frames as lark-oapi's client does
(method 0 control: ping → pong carrying the settings; method 1 data: an event, answered by
the same frame with ``{"code": 200, "data": base64}``). Events not acknowledged with 200 are
delivered again on the next connection, as Feishu does.

Frames are encoded with the protobuf module lark-oapi ships (imported on first use: importing
lark-oapi takes seconds, and webhook tests do not need it).
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import secrets
import uuid
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from tests.fakes.feishu import FakeFeishu

SERVICE_ID = "33554678"


@functools.cache
def frame_class() -> Any:
    from lark_oapi.ws.pb.pbbp2_pb2 import Frame

    return Frame


class FakeLongConnection:
    def __init__(self, api: FakeFeishu) -> None:
        self.api = api
        self.ping_interval = 1
        self.silent = False  # a half-dead connection: no pongs, no events, still open
        self.endpoint_requests = 0
        self.connections = 0
        self.open = 0
        self.max_open = 0
        self.pings = 0
        self.pending: OrderedDict[str, tuple[bytes, int]] = OrderedDict()
        self.acks: dict[str, dict[str, Any]] = {}
        self._keys: set[str] = set()
        self.issued_keys: list[str] = []
        self._current: web.WebSocketResponse | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._seq = itertools.count(1)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/callback/ws/endpoint", self._endpoint)
        app.router.add_get("/ws/v2", self._websocket)

    def settings(self) -> dict[str, int]:
        return {
            "ReconnectCount": -1,
            "ReconnectInterval": 1,
            "ReconnectNonce": 0,
            "PingInterval": self.ping_interval,
        }

    async def _endpoint(self, request: web.Request) -> web.Response:
        self.endpoint_requests += 1
        failure = self.api._failure("endpoint")
        if failure is not None:
            return failure
        body = await request.json()
        if body.get("AppID") != self.api.app_id or body.get("AppSecret") != self.api.app_secret:
            return web.json_response({"code": 10014, "msg": "app secret invalid"})
        key = secrets.token_hex(16)
        self._keys.add(key)
        self.issued_keys.append(key)
        url = (
            f"ws://127.0.0.1:{self.api.port}/ws/v2?fpid=493&aid=552564&device_id="
            f"{secrets.randbelow(10**18)}&access_key={key}&service_id={SERVICE_ID}"
            f"&ticket={uuid.uuid4()}"
        )
        return web.json_response(
            {"code": 0, "msg": "ok", "data": {"URL": url, "ClientConfig": self.settings()}}
        )

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        key = request.query.get("access_key", "")
        if key not in self._keys:
            return web.Response(status=403, headers={"handshake-status": "403"})
        self._keys.discard(key)  # one connection per endpoint answer
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        self._current = ws
        self._sockets.add(ws)
        await self.api.notify()
        try:
            for message_id, (raw, parts) in list(self.pending.items()):
                await self._send_event(ws, message_id, raw, parts)
            async for message in ws:
                if message.type == WSMsgType.BINARY:
                    await self._frame(ws, message.data)
        finally:
            self.open -= 1
            self._sockets.discard(ws)
            if self._current is ws:
                self._current = None
            await self.api.notify()
        return ws

    async def _frame(self, ws: web.WebSocketResponse, data: bytes) -> None:
        frame = frame_class()()
        frame.ParseFromString(data)
        headers = {h.key: h.value for h in frame.headers}
        if frame.method == 0 and headers.get("type") == "ping":
            self.pings += 1
            if not self.silent:
                pong = frame_class()()
                pong.SeqID = 0
                pong.LogID = 0
                pong.service = frame.service
                pong.method = 0
                header = pong.headers.add()
                header.key, header.value = "type", "pong"
                pong.payload = json.dumps(self.settings()).encode()
                await ws.send_bytes(pong.SerializeToString())
        elif frame.method == 1:
            response = json.loads(frame.payload)
            message_id = headers["message_id"]
            self.acks[message_id] = response
            if response.get("code") == 200:
                self.pending.pop(message_id, None)
        await self.api.notify()

    async def _send_event(
        self, ws: web.WebSocketResponse, message_id: str, raw: bytes, parts: int
    ) -> None:
        size = -(-len(raw) // parts)
        for seq in range(parts):
            frame = frame_class()()
            frame.SeqID = next(self._seq)
            frame.LogID = next(self._seq)
            frame.service = int(SERVICE_ID)
            frame.method = 1
            for key, value in (
                ("type", "event"),
                ("message_id", message_id),
                ("trace_id", uuid.uuid4().hex),
                ("sum", str(parts)),
                ("seq", str(seq)),
            ):
                header = frame.headers.add()
                header.key, header.value = key, value
            frame.payload = raw[seq * size : (seq + 1) * size]
            await ws.send_bytes(frame.SerializeToString())

    async def push(self, payload: dict[str, Any], *, parts: int = 1, drop: bool = False) -> str:
        """Deliver an event (now, or when a connection opens); ``drop`` closes the connection
        right after sending it, before the client can acknowledge."""
        return await self.push_raw(json.dumps(payload).encode(), parts=parts, drop=drop)

    async def push_raw(self, raw: bytes, *, parts: int = 1, drop: bool = False) -> str:
        """``push`` for a payload given as bytes (what json.dumps would not write)."""
        message_id = uuid.uuid4().hex
        self.pending[message_id] = (raw, parts)
        ws = self._current
        if ws is not None and not self.silent:
            await self._send_event(ws, message_id, raw, parts)
            if drop:
                await ws.close()
        return message_id

    async def wait_connected(self, count: int = 1, timeout: float = 20.0) -> None:
        await self.api.wait_for(lambda: self.connections >= count and self.open, timeout)

    async def wait_ack(self, message_id: str, timeout: float = 10.0) -> dict[str, Any]:
        await self.api.wait_for(lambda: message_id in self.acks, timeout)
        return self.acks[message_id]

    def answer(self, message_id: str) -> dict[str, Any] | None:
        """The body the client sent back with its acknowledgement (a card callback's toast)."""
        data = self.acks[message_id].get("data")
        return json.loads(base64.b64decode(data)) if data else None

    async def drop(self) -> None:
        """Close the current connection from the server's side."""
        if self._current is not None:
            await self._current.close()

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
