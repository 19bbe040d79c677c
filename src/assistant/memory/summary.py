"""A short, model-written summary of a finished conversation, to keep as a memory."""

from __future__ import annotations

import time

import structlog

from assistant.core.errors import ModelError
from assistant.core.text import clip_tokens
from assistant.llm.client import ModelClient
from assistant.llm.types import ChatMessage, ModelRequest
from assistant.store.conversations import Conversations, StoredMessage

log = structlog.get_logger(__name__)

SUMMARY_PROMPT = (
    "Write down what is worth remembering long-term from the conversation below: short "
    "factual notes, at most 80 words, in the language it is written in. Keep names, facts, "
    "preferences, decisions and open tasks; drop greetings and small talk. If nothing is "
    "worth remembering, answer exactly NONE."
)
_TRANSCRIPT_CHARS = 12000
_SUMMARY_TOKENS = 300


def transcript(earlier: str | None, messages: list[StoredMessage]) -> str:
    earlier = clip_tokens(earlier, 1000) if earlier else None
    lines = [f"(Earlier part, summarized: {earlier})"] if earlier else []
    for message in messages:
        if message.role in ("user", "assistant") and message.content.strip():
            lines.append(f"{message.role}: {message.content.strip()}")
    text = "\n".join(lines)
    return text if len(text) <= _TRANSCRIPT_CHARS else text[-_TRANSCRIPT_CHARS:]


async def summarize(
    client: ModelClient, conversations: Conversations, conversation_id: int
) -> str | None:
    """The summary, or None when there is nothing to keep or no model answered."""
    conversation = await conversations.get(conversation_id)
    if conversation is None:
        return None
    messages = await conversations.history(conversation)
    if not any(m.role == "user" for m in messages) and not conversation.summary:
        return None
    request = ModelRequest(
        (
            ChatMessage("system", SUMMARY_PROMPT),
            ChatMessage("user", transcript(conversation.summary, messages)),
        ),
        max_tokens=_SUMMARY_TOKENS,
    )
    try:
        reply = await client.complete(
            request, model=conversation.model, deadline=time.monotonic() + 60
        )
    except ModelError as exc:
        log.warning("memory.summary_skipped", error=str(exc), conversation_id=conversation_id)
        return None
    text = reply.text.strip()
    if not text or text.upper().rstrip(".") == "NONE":
        return None
    return clip_tokens(text, _SUMMARY_TOKENS)  # whatever the provider made of max_tokens
