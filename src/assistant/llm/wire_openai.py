"""OpenAI-compatible Chat Completions: our types ↔ JSON. Pure functions, no I/O."""

from __future__ import annotations

import base64
import json
from typing import Any

from assistant.config import ModelProvider
from assistant.core.errors import ModelUnavailable
from assistant.llm.types import ChatMessage, ModelReply, ModelRequest, ToolCall, Usage


def endpoint(provider: ModelProvider) -> str:
    return f"{provider.base_url}/chat/completions"


def headers(provider: ModelProvider) -> dict[str, str]:
    out = {"Content-Type": "application/json"}
    if provider.api_key is not None:
        out["Authorization"] = f"Bearer {provider.api_key.get_secret_value()}"
    out.update({k: v.get_secret_value() for k, v in provider.headers.items()})
    return out


def encode_message(message: ChatMessage) -> dict[str, Any]:
    if message.role == "tool":
        return {
            "role": "tool",
            "tool_call_id": message.tool_call_id or "",
            "content": message.content,
        }
    if message.role == "assistant" and message.tool_calls:
        return {
            "role": "assistant",
            "content": message.content or None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in message.tool_calls
            ],
        }
    if message.images:
        parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}]
        for image in message.images:
            data = base64.b64encode(image.data).decode()
            parts.append(
                {"type": "image_url", "image_url": {"url": f"data:{image.mime_type};base64,{data}"}}
            )
        return {"role": message.role, "content": parts}
    return {"role": message.role, "content": message.content}


def build_body(provider: ModelProvider, request: ModelRequest, *, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": provider.model,
        "messages": [encode_message(m) for m in request.messages],
        "max_tokens": request.max_tokens or provider.max_tokens,
    }
    if provider.temperature is not None:
        body["temperature"] = provider.temperature
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                },
            }
            for t in request.tools
        ]
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some servers answer with content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    raise ModelUnavailable("malformed response: 'content' is neither text nor parts")


def _usage(data: Any) -> Usage | None:
    if not isinstance(data, dict):
        return None
    return Usage(int(data.get("prompt_tokens") or 0), int(data.get("completion_tokens") or 0))


def parse_body(body: Any, *, provider: str) -> ModelReply:
    try:
        choice = body["choices"][0]
        message = choice["message"]
        calls = tuple(
            ToolCall(
                id=str(tc.get("id") or f"call_{i}"),
                name=str(tc["function"]["name"]),
                arguments=str(tc["function"].get("arguments") or "{}"),
            )
            for i, tc in enumerate(message.get("tool_calls") or [])
        )
        return ModelReply(
            text=_text(message.get("content")),
            tool_calls=calls,
            usage=_usage(body.get("usage")) or Usage(),
            finish_reason=choice.get("finish_reason"),
            provider=provider,
            model=str(body.get("model") or ""),
        )
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        raise ModelUnavailable(f"malformed response ({type(exc).__name__})") from exc


def error_message(body: Any) -> str:
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
        if body.get("message"):
            return str(body["message"])
    return ""


class StreamParser:
    """Accumulates ``chat.completion.chunk`` events into one reply."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self._text: list[str] = []
        self._calls: dict[int, dict[str, str]] = {}
        self._usage = Usage()
        self._model = ""
        self.finish_reason: str | None = None
        self.done = False

    @property
    def text(self) -> str:
        return "".join(self._text)

    def feed(self, data: str) -> bool:
        """Take one event's data; returns True when it added text."""
        if data.strip() == "[DONE]":
            self.done = True
            return False
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise ModelUnavailable("malformed stream event") from exc
        if not isinstance(chunk, dict):
            raise ModelUnavailable("malformed stream event")
        if chunk.get("error"):
            raise ModelUnavailable(f"stream error: {error_message(chunk)[:200]}")
        self._model = str(chunk.get("model") or self._model)
        usage = _usage(chunk.get("usage"))
        added = False
        for choice in chunk.get("choices") or []:
            usage = usage or _usage(choice.get("usage"))
            delta = choice.get("delta") or {}
            piece = _text(delta.get("content"))
            if piece:
                self._text.append(piece)
                added = True
            for tc in delta.get("tool_calls") or []:
                slot = self._calls.setdefault(
                    int(tc.get("index", len(self._calls))), {"id": "", "name": "", "args": ""}
                )
                slot["id"] = tc.get("id") or slot["id"]
                fn = tc.get("function") or {}
                slot["name"] += fn.get("name") or ""
                slot["args"] += fn.get("arguments") or ""
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        if usage is not None:
            self._usage = usage
        return added

    def result(self) -> ModelReply:
        if not self.done and self.finish_reason is None:
            raise ModelUnavailable("the stream ended before the reply was complete")
        calls = tuple(
            ToolCall(id=c["id"] or f"call_{i}", name=c["name"], arguments=c["args"] or "{}")
            for i, c in sorted(self._calls.items())
        )
        return ModelReply(
            text=self.text,
            tool_calls=calls,
            usage=self._usage,
            finish_reason=self.finish_reason,
            provider=self.provider,
            model=self._model,
        )
