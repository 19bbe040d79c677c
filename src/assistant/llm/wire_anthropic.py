"""Anthropic Messages API: our types ↔ JSON. Pure functions, no I/O."""

from __future__ import annotations

import base64
import json
from typing import Any

from assistant.config import ModelProvider
from assistant.core.errors import ModelUnavailable
from assistant.llm.types import ChatMessage, ModelReply, ModelRequest, ToolCall, Usage

API_VERSION = "2023-06-01"


def endpoint(provider: ModelProvider) -> str:
    return f"{provider.base_url}/messages"


def headers(provider: ModelProvider) -> dict[str, str]:
    out = {"Content-Type": "application/json", "anthropic-version": API_VERSION}
    if provider.api_key is not None:
        out["x-api-key"] = provider.api_key.get_secret_value()
    out.update({k: v.get_secret_value() for k, v in provider.headers.items()})
    return out


def _arguments(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [
            {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id or "",
                "content": message.content,
            }
        ]
    blocks: list[dict[str, Any]] = []
    for image in message.images:
        blocks.append(
            {
                "type": "image",
                "source": {
                    "type": "base64",
                    "media_type": image.mime_type,
                    "data": base64.b64encode(image.data).decode(),
                },
            }
        )
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    for call in message.tool_calls:
        blocks.append(
            {
                "type": "tool_use",
                "id": call.id,
                "name": call.name,
                "input": _arguments(call.arguments),
            }
        )
    return blocks


def build_body(provider: ModelProvider, request: ModelRequest, *, stream: bool) -> dict[str, Any]:
    system = "\n\n".join(m.content for m in request.messages if m.role == "system")
    messages: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "system":
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if not blocks:
            continue
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)  # the API wants alternating roles
        else:
            messages.append({"role": role, "content": blocks})
    body: dict[str, Any] = {
        "model": provider.model,
        "max_tokens": request.max_tokens or provider.max_tokens,
        "messages": messages,
    }
    if system:
        body["system"] = system
    if provider.temperature is not None:
        body["temperature"] = min(provider.temperature, 1.0)
    if request.tools:
        body["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters}
            for t in request.tools
        ]
    if stream:
        body["stream"] = True
    return body


def parse_body(body: Any, *, provider: str) -> ModelReply:
    try:
        text: list[str] = []
        calls: list[ToolCall] = []
        for block in body["content"]:
            if block["type"] == "text":
                text.append(block["text"])
            elif block["type"] == "tool_use":
                calls.append(
                    ToolCall(
                        id=block["id"], name=block["name"], arguments=json.dumps(block["input"])
                    )
                )
        usage = body.get("usage") or {}
        return ModelReply(
            text="".join(text),
            tool_calls=tuple(calls),
            usage=Usage(int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)),
            finish_reason=body.get("stop_reason"),
            provider=provider,
            model=str(body.get("model") or ""),
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ModelUnavailable(f"malformed response ({type(exc).__name__})") from exc


def error_message(body: Any) -> str:
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return ""


class StreamParser:
    """Accumulates Messages API stream events into one reply."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self._text: list[str] = []
        self._blocks: dict[int, dict[str, str]] = {}
        self._input_tokens = 0
        self._output_tokens = 0
        self._model = ""
        self.finish_reason: str | None = None
        self.done = False

    @property
    def text(self) -> str:
        return "".join(self._text)

    def feed(self, data: str) -> bool:
        try:
            event = json.loads(data)
        except ValueError as exc:
            raise ModelUnavailable("malformed stream event") from exc
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "error":
            raise ModelUnavailable(f"stream error: {error_message(event)[:200]}")
        if kind == "message_start":
            message = event.get("message") or {}
            self._model = str(message.get("model") or "")
            self._input_tokens = int((message.get("usage") or {}).get("input_tokens") or 0)
        elif kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                self._blocks[int(event.get("index", 0))] = {
                    "id": str(block.get("id") or ""),
                    "name": str(block.get("name") or ""),
                    "args": "",
                }
        elif kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                self._text.append(str(delta["text"]))
                return True
            if delta.get("type") == "input_json_delta":
                slot = self._blocks.get(int(event.get("index", 0)))
                if slot is not None:
                    slot["args"] += str(delta.get("partial_json") or "")
        elif kind == "message_delta":
            delta = event.get("delta") or {}
            self.finish_reason = delta.get("stop_reason") or self.finish_reason
            usage = event.get("usage") or {}
            self._output_tokens = int(usage.get("output_tokens") or self._output_tokens)
        elif kind == "message_stop":
            self.done = True
        return False

    def result(self) -> ModelReply:
        if not self.done:
            raise ModelUnavailable("the stream ended before the reply was complete")
        calls = tuple(
            ToolCall(id=b["id"] or f"toolu_{i}", name=b["name"], arguments=b["args"] or "{}")
            for i, b in sorted(self._blocks.items())
        )
        return ModelReply(
            text=self.text,
            tool_calls=calls,
            usage=Usage(self._input_tokens, self._output_tokens),
            finish_reason=self.finish_reason,
            provider=self.provider,
            model=self._model,
        )
