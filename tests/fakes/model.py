"""A fake model server on 127.0.0.1 speaking the OpenAI Chat Completions and the Anthropic
Messages wire formats (JSON and SSE), built from their public API references.

Behaviour is scripted per request: push ``Reply``/``Fail``/``Hang``/``Malformed``/``CutStream``
items onto ``script`` (consumed in order), or set ``responder`` to decide from the request.
With nothing scripted it echoes the last user message ("echo: ...").
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TRANSCRIBABLE = {"flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm"}


@dataclass
class Reply:
    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    prompt_tokens: int = 11
    completion_tokens: int = 7
    delay: float = 0.0
    chunk: int = 4  # characters per SSE delta
    pause: float = 0.0  # seconds between streamed deltas (OpenAI wire format)
    hold: asyncio.Event | None = None  # answer only once this is set
    stall: asyncio.Event | None = None  # streamed: the first delta, then wait for this


@dataclass
class Fail:
    status: int = 500
    message: str = "internal error"
    retry_after: float | None = None


@dataclass
class Hang:
    seconds: float = 3600.0


@dataclass
class Malformed:
    body: str = '{"choices": [ this is not json'


@dataclass
class CutStream:
    text: str = "partial answer that never"


Behaviour = Reply | Fail | Hang | Malformed | CutStream


def last_user_text(request: dict[str, Any]) -> str:
    for message in reversed(request.get("messages", [])):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            texts = [p.get("text", "") for p in content if p.get("type") == "text"]
            if texts:
                return " ".join(texts)
    return ""


def bag_of_words(text: str, dims: int = 64) -> list[float]:
    vector = [0.0] * dims
    for word in re.findall(r"\w+", text.lower()):
        vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % dims] += 1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


class FakeModel:
    def __init__(self) -> None:
        self.script: deque[Behaviour] = deque()
        self.responder: Callable[[dict[str, Any]], Behaviour | None] | None = None
        self.requests: list[dict[str, Any]] = []
        self.embedding_requests: list[dict[str, Any]] = []
        self.embeddings_fail = 0  # the next N embedding requests answer 500
        self.headers: list[dict[str, str]] = []
        self.transcript = "please check the disk"
        self.uploads: list[dict[str, Any]] = []
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ---

    async def start(self) -> FakeModel:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_post("/v1/messages", self._anthropic)
        app.router.add_post("/v1/audio/transcriptions", self._transcribe)
        app.router.add_post("/v1/embeddings", self._embeddings)
        # a hung request ends when the client gives up, as on a real server behind a proxy
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]  # the port chosen for port 0
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def wait_requests(self, count: int, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            async with self._arrived:
                await self._arrived.wait_for(lambda: len(self.requests) >= count)

    # --- helpers ---

    async def _record(self, request: web.Request) -> dict[str, Any]:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        async with self._arrived:
            self._arrived.notify_all()
        return body

    def _next(self, body: dict[str, Any]) -> Behaviour:
        if self.script:
            return self.script.popleft()
        if self.responder is not None:
            chosen = self.responder(body)
            if chosen is not None:
                return chosen
        return Reply(text=f"echo: {last_user_text(body)}")

    # --- audio transcription (OpenAI /audio/transcriptions, multipart) ---

    async def _transcribe(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        if not hasattr(upload, "file") or not form.get("model"):
            return web.json_response(
                {"error": {"message": "file and model are required"}}, status=400
            )
        data = upload.file.read()  # type: ignore[union-attr]
        extension = str(upload.filename).rsplit(".", 1)[-1].lower()  # type: ignore[union-attr]
        if extension not in TRANSCRIBABLE:  # what OpenAI answers, e.g. for "voice.opus"
            return web.json_response(
                {
                    "error": {
                        "message": f"Unsupported file format {extension}",
                        "type": "invalid_request_error",
                        "param": "file",
                    }
                },
                status=400,
            )
        self.uploads.append(
            {"model": form["model"], "filename": upload.filename, "size": len(data)}  # type: ignore[union-attr]
        )
        return web.json_response({"text": self.transcript})

    # --- OpenAI embeddings: a bag of words hashed into 64 dimensions ---

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.embedding_requests.append(body)
        if self.embeddings_fail:
            self.embeddings_fail -= 1
            return web.json_response({"error": {"message": "overloaded"}}, status=500)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": bag_of_words(text)}
            for i, text in enumerate(inputs)
        ]
        usage = {"prompt_tokens": 1, "total_tokens": 1}
        return web.json_response(
            {"object": "list", "data": data, "model": body.get("model"), "usage": usage}
        )

    # --- OpenAI ---

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        behaviour = self._next(body)
        early = await self._common(behaviour, openai=True)
        if early is not None:
            return early
        model = body.get("model", "fake")
        if isinstance(behaviour, CutStream) or body.get("stream"):
            return await self._openai_stream(request, behaviour, model)
        assert isinstance(behaviour, Reply)
        message: dict[str, Any] = {"role": "assistant", "content": behaviour.text or None}
        if behaviour.tool_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{uuid.uuid4().hex[:8]}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for name, args in behaviour.tool_calls
            ]
        return web.json_response(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:10]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "tool_calls" if behaviour.tool_calls else "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": behaviour.prompt_tokens,
                    "completion_tokens": behaviour.completion_tokens,
                    "total_tokens": behaviour.prompt_tokens + behaviour.completion_tokens,
                },
            }
        )

    async def _openai_stream(
        self, request: web.Request, behaviour: Behaviour, model: str
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        base = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "model": model}

        async def chunk(delta: dict[str, Any], finish: str | None = None) -> None:
            data = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            await response.write(f"data: {json.dumps(data)}\n\n".encode())

        await chunk({"role": "assistant", "content": ""})
        if isinstance(behaviour, CutStream):
            await chunk({"content": behaviour.text})
            return response  # ends without finish_reason or [DONE]
        assert isinstance(behaviour, Reply)
        text = behaviour.text
        for i in range(0, len(text), behaviour.chunk):
            await chunk({"content": text[i : i + behaviour.chunk]})
            if behaviour.stall is not None and i == 0:
                await behaviour.stall.wait()
            if behaviour.pause:
                await asyncio.sleep(behaviour.pause)
        for index, (name, args) in enumerate(behaviour.tool_calls):
            raw = json.dumps(args)
            await chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": f"call_{index}",
                            "type": "function",
                            "function": {"name": name, "arguments": raw[:3]},
                        }
                    ]
                }
            )
            await chunk({"tool_calls": [{"index": index, "function": {"arguments": raw[3:]}}]})
        await chunk({}, "tool_calls" if behaviour.tool_calls else "stop")
        usage = {
            "prompt_tokens": behaviour.prompt_tokens,
            "completion_tokens": behaviour.completion_tokens,
            "total_tokens": behaviour.prompt_tokens + behaviour.completion_tokens,
        }
        await response.write(
            f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n".encode()
        )
        await response.write(b"data: [DONE]\n\n")
        return response

    # --- Anthropic ---

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        behaviour = self._next(body)
        early = await self._common(behaviour, openai=False)
        if early is not None:
            return early
        model = body.get("model", "fake")
        assert isinstance(behaviour, Reply | CutStream)
        if isinstance(behaviour, CutStream) or body.get("stream"):
            return await self._anthropic_stream(request, behaviour, model)
        content: list[dict[str, Any]] = []
        if behaviour.text:
            content.append({"type": "text", "text": behaviour.text})
        for name, args in behaviour.tool_calls:
            content.append(
                {
                    "type": "tool_use",
                    "id": f"toolu_{uuid.uuid4().hex[:8]}",
                    "name": name,
                    "input": args,
                }
            )
        return web.json_response(
            {
                "id": f"msg_{uuid.uuid4().hex[:10]}",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": "tool_use" if behaviour.tool_calls else "end_turn",
                "stop_sequence": None,
                "usage": {
                    "input_tokens": behaviour.prompt_tokens,
                    "output_tokens": behaviour.completion_tokens,
                },
            }
        )

    async def _anthropic_stream(
        self, request: web.Request, behaviour: Reply | CutStream, model: str
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def event(name: str, data: dict[str, Any]) -> None:
            await response.write(
                f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()
            )

        tokens = behaviour.prompt_tokens if isinstance(behaviour, Reply) else 5
        await event(
            "message_start",
            {
                "message": {
                    "id": "msg_s",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "usage": {"input_tokens": tokens, "output_tokens": 1},
                }
            },
        )
        await event(
            "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}
        )
        if isinstance(behaviour, CutStream):
            await event(
                "content_block_delta",
                {"index": 0, "delta": {"type": "text_delta", "text": behaviour.text}},
            )
            return response
        for i in range(0, len(behaviour.text), behaviour.chunk):
            piece = behaviour.text[i : i + behaviour.chunk]
            await event(
                "content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}}
            )
        await event("content_block_stop", {"index": 0})
        for n, (name, args) in enumerate(behaviour.tool_calls, start=1):
            await event(
                "content_block_start",
                {
                    "index": n,
                    "content_block": {
                        "type": "tool_use",
                        "id": f"toolu_{n}",
                        "name": name,
                        "input": {},
                    },
                },
            )
            raw = json.dumps(args)
            await event(
                "content_block_delta",
                {"index": n, "delta": {"type": "input_json_delta", "partial_json": raw[:2]}},
            )
            await event(
                "content_block_delta",
                {"index": n, "delta": {"type": "input_json_delta", "partial_json": raw[2:]}},
            )
            await event("content_block_stop", {"index": n})
        await event(
            "message_delta",
            {
                "delta": {"stop_reason": "tool_use" if behaviour.tool_calls else "end_turn"},
                "usage": {"output_tokens": behaviour.completion_tokens},
            },
        )
        await event("message_stop", {})
        return response

    # --- shared failure modes ---

    async def _common(self, behaviour: Behaviour, *, openai: bool) -> web.StreamResponse | None:
        if isinstance(behaviour, Reply) and behaviour.hold is not None:
            await behaviour.hold.wait()
        if isinstance(behaviour, Reply) and behaviour.delay:
            await asyncio.sleep(behaviour.delay)
        if isinstance(behaviour, Hang):
            await asyncio.sleep(behaviour.seconds)
            return web.json_response({"error": {"message": "hung"}}, status=504)
        if isinstance(behaviour, Malformed):
            return web.Response(text=behaviour.body, content_type="application/json")
        if isinstance(behaviour, Fail):
            headers = {}
            if behaviour.retry_after is not None:
                headers["Retry-After"] = str(behaviour.retry_after)
            if openai:
                body = {
                    "error": {"message": behaviour.message, "type": "server_error", "code": None}
                }
            else:
                body = {
                    "type": "error",
                    "error": {"type": "api_error", "message": behaviour.message},
                }
            return web.json_response(body, status=behaviour.status, headers=headers)
        return None
