"""Pure assembly of the context window: system prompt, history within a budget, the user."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from assistant.core.text import estimate_tokens
from assistant.llm.types import ChatMessage, ImagePart, ToolCall
from assistant.store.conversations import StoredMessage


def message_tokens(message: ChatMessage) -> int:
    tokens = estimate_tokens(message.content) + 4
    for call in message.tool_calls:
        tokens += estimate_tokens(call.name) + estimate_tokens(call.arguments)
    return tokens + 800 * len(message.images)


def system_prompt(
    template: str,
    *,
    name: str,
    now: datetime,
    summary: str | None = None,
    extra: Sequence[str] = (),
) -> str:
    parts = [template.replace("{name}", name)]
    zone = now.tzinfo.key if hasattr(now.tzinfo, "key") else str(now.tzinfo)  # type: ignore[union-attr]
    parts.append(f"Today is {now:%A, %Y-%m-%d}; time zone {zone}.")
    parts.extend(extra)
    if summary:
        parts.append(f"Summary of this conversation so far:\n{summary}")
    return "\n\n".join(parts)


def user_message(
    text: str,
    *,
    images: tuple[ImagePart, ...] = (),
    reply_to_text: str | None = None,
    forwarded_from: str | None = None,
) -> ChatMessage:
    lead: list[str] = []
    if forwarded_from:
        lead.append(f"[Forwarded from {forwarded_from}]")
    if reply_to_text:
        quoted = reply_to_text if len(reply_to_text) <= 2000 else reply_to_text[:2000] + " …"
        lead.append(f"[In reply to: «{quoted}»]")
    content = "\n".join([*lead, text]) if lead else text
    return ChatMessage("user", content, images=images)


def to_stored(message: ChatMessage) -> StoredMessage:
    content = message.content
    if message.images:
        content = f"{content}\n[{len(message.images)} image(s) were attached]".strip()
    calls = (
        json.dumps(
            [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in message.tool_calls],
            ensure_ascii=False,
        )
        if message.tool_calls
        else None
    )
    return StoredMessage(
        role=message.role,
        content=content,
        tool_calls=calls,
        tool_call_id=message.tool_call_id,
        name=message.name,
        tokens=message_tokens(message),
    )


def from_stored(stored: StoredMessage) -> ChatMessage:
    calls: tuple[ToolCall, ...] = ()
    if stored.tool_calls:
        calls = tuple(
            ToolCall(id=c["id"], name=c["name"], arguments=c["arguments"])
            for c in json.loads(stored.tool_calls)
        )
    role = stored.role if stored.role in ("user", "assistant", "tool") else "user"
    return ChatMessage(
        role,  # type: ignore[arg-type]
        stored.content,
        tool_calls=calls,
        tool_call_id=stored.tool_call_id,
        name=stored.name,
    )


def split_history(
    history: Sequence[StoredMessage], budget: int
) -> tuple[list[StoredMessage], list[StoredMessage]]:
    """(older, recent): the most recent messages that fit ``budget``, cut only where a user
    message starts, so a tool call is never separated from its result."""
    total = 0
    cut = len(history)
    for index in range(len(history) - 1, -1, -1):
        total += history[index].tokens
        if total > budget:
            break
        if history[index].role == "user":
            cut = index
    return list(history[:cut]), list(history[cut:])


def transcript(messages: Sequence[StoredMessage], limit: int = 24000) -> str:
    """Plain text of messages, for the summarizer."""
    lines: list[str] = []
    for m in messages:
        if m.role == "tool":
            lines.append(f"tool {m.name}: {m.content[:500]}")
        elif m.tool_calls:
            names = ", ".join(c["name"] for c in json.loads(m.tool_calls))
            lines.append(f"assistant (used {names}): {m.content}")
        else:
            lines.append(f"{m.role}: {m.content}")
    text = "\n".join(lines)
    return text if len(text) <= limit else text[-limit:]
