"""MemoryService: remember, recall, search and forget, each within what a sender may see.

Isolation: a private chat reads and writes its user's namespace (``user:CHANNEL:USER_ID``), a
group chat its group's (``group:CHANNEL:CHAT_ID``). With ``[memory] shared = true`` private
chats use one ``shared`` namespace instead, which groups also read. Nothing else crosses.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from types import TracebackType
from zoneinfo import ZoneInfo

import aiojobs
import structlog

from assistant.config import MemorySection
from assistant.core.errors import MemoryUnavailable
from assistant.core.i18n import tr
from assistant.core.messages import ChatRef, Sender
from assistant.core.text import estimate_tokens
from assistant.llm.client import ModelClient
from assistant.memory.embedder import Embedder
from assistant.memory.store import SHARED, MemoryRecord, MemoryStore
from assistant.memory.summary import summarize
from assistant.store.conversations import Conversations

log = structlog.get_logger(__name__)

RECALL_HEADER = "Memories from earlier conversations (may be outdated; use them only if relevant):"
_RECORD_CHARS = 600  # one memory in the prompt is cut after this many characters
_FORGET_MIN = 0.5  # forget(query) deletes the best match only if it is at least this similar


def format_recall(records: Iterable[MemoryRecord], budget: int, zone: ZoneInfo) -> str | None:
    """The prompt block for ``records`` (best first), as many as fit ``budget`` tokens."""
    lines = [RECALL_HEADER]
    used = estimate_tokens(RECALL_HEADER)
    for record in records:
        text = " ".join(record.text.split())
        if len(text) > _RECORD_CHARS:
            text = text[: _RECORD_CHARS - 1] + "…"
        day = datetime.fromtimestamp(record.created, zone).strftime("%Y-%m-%d")
        line = f"- [{record.id}] {text} ({day})"
        cost = estimate_tokens(line)
        if used + cost > budget:
            break
        lines.append(line)
        used += cost
    return "\n".join(lines) if len(lines) > 1 else None


class MemoryService:
    """Memory for the people of one assistant. It may be built before its store and embedder
    are open (``attach`` them when they are, or ``failed``): calls made meanwhile wait for them
    — a /remember or a memory tool up to ``wait`` seconds, a turn's recall only
    ``recall_wait`` (the turn goes on without memories, and says so in the log)."""

    def __init__(
        self,
        *,
        settings: MemorySection,
        zone: ZoneInfo,
        store: MemoryStore | None = None,
        embedder: Embedder | None = None,
        conversations: Conversations | None = None,
        client: ModelClient | None = None,
        wait: float = 20.0,
        recall_wait: float = 1.5,
    ) -> None:
        self._store: MemoryStore | None = None
        self._embedder: Embedder | None = None
        self._loaded = asyncio.Event()
        self._failure = ""
        self._wait = wait
        self._recall_wait = recall_wait
        self._conversations = conversations
        self._client = client
        self._jobs: aiojobs.Scheduler | None = None
        self.configure(settings, zone)
        if store is not None and embedder is not None:
            self.attach(store, embedder)

    def attach(self, store: MemoryStore, embedder: Embedder) -> None:
        self._store, self._embedder = store, embedder
        self._loaded.set()

    def failed(self, why: str) -> None:
        self._failure = why
        self._loaded.set()

    async def _parts(self, wait: float | None = None) -> tuple[MemoryStore, Embedder]:
        """The store and the embedder, once open; ``MemoryUnavailable`` while still loading
        after ``wait`` seconds, or when opening failed."""
        if not self._loaded.is_set():
            try:
                await asyncio.wait_for(self._loaded.wait(), wait or self._wait)
            except TimeoutError:
                raise MemoryUnavailable(
                    tr("memory is still loading; try again in a moment")
                ) from None
        if self._store is None or self._embedder is None:
            raise MemoryUnavailable(self._failure or tr("memory is not available"))
        return self._store, self._embedder

    def configure(self, settings: MemorySection, zone: ZoneInfo) -> None:
        self._settings = settings
        self._zone = zone

    async def __aenter__(self) -> MemoryService:
        self._jobs = aiojobs.Scheduler(limit=2, pending_limit=100, close_timeout=5.0)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._jobs is not None:
            await self._jobs.wait_and_close(10.0)  # summaries in progress may finish

    # --- scopes -------------------------------------------------------------------------------

    def write_namespace(self, chat: ChatRef, sender: Sender) -> str:
        if chat.is_group:
            return f"group:{chat.channel}:{chat.chat_id}"
        if self._settings.shared:
            return SHARED
        return f"user:{chat.channel}:{sender.user_id}"

    def read_namespaces(self, chat: ChatRef, sender: Sender) -> list[str]:
        own = self.write_namespace(chat, sender)
        return [own, SHARED] if chat.is_group and self._settings.shared else [own]

    # --- writing ------------------------------------------------------------------------------

    async def remember(
        self, chat: ChatRef, sender: Sender, text: str, *, source: str = "remember"
    ) -> tuple[MemoryRecord, bool]:
        """Store ``text``; returns (record, merged). A near-duplicate of an existing memory
        replaces that memory's text (keeping its id) instead of adding a second one."""
        record = MemoryRecord(
            id=secrets.token_hex(4),
            namespace=self.write_namespace(chat, sender),
            text=text.strip(),
            owner=sender.user_id,
            channel=chat.channel,
            chat=chat.chat_id if chat.is_group else "",
            created=time.time(),
            source=source,
        )
        return await self.add(record)

    async def add(self, record: MemoryRecord, *, dedupe: bool = True) -> tuple[MemoryRecord, bool]:
        store, embedder = await self._parts()
        vector = (await embedder.embed([record.text]))[0]
        merged = False
        if dedupe:
            nearest = await store.query(record.namespace, vector, 1)
            if nearest and (nearest[0].score or 0.0) >= self._settings.dedupe_similarity:
                record = replace(record, id=nearest[0].id)
                merged = True
        await store.upsert([replace(record, score=None)], [vector])
        log.info("memory.stored", id=record.id, source=record.source, merged=merged)
        return record, merged

    async def add_many(self, records: list[MemoryRecord], batch: int = 32) -> int:
        """Store records as they are (ids kept, no merging): the import path."""
        store, embedder = await self._parts()
        for start in range(0, len(records), batch):
            chunk = records[start : start + batch]
            vectors = await embedder.embed([r.text for r in chunk])
            await store.upsert([replace(r, score=None) for r in chunk], vectors)
        return len(records)

    # --- reading ------------------------------------------------------------------------------

    async def recall(self, chat: ChatRef, sender: Sender, text: str) -> str | None:
        settings = self._settings
        if settings.recall_top_k == 0 or settings.recall_tokens == 0 or not text.strip():
            return None
        started = time.perf_counter()
        try:
            await self._parts(self._recall_wait)
            found = await self._search(
                self.read_namespaces(chat, sender), text, settings.recall_top_k
            )
        except MemoryUnavailable as exc:  # a turn goes on without memories
            log.warning("memory.recall_failed", error=str(exc))
            return None
        relevant = [r for r in found if (r.score or 0.0) >= settings.min_similarity]
        block = format_recall(relevant[: settings.recall_top_k], settings.recall_tokens, self._zone)
        log.info(
            "memory.recalled",
            ms=round((time.perf_counter() - started) * 1000, 1),
            found=len(relevant),
        )
        return block

    async def search(
        self, chat: ChatRef, sender: Sender, query: str, k: int = 10
    ) -> list[MemoryRecord]:
        """Best matches first, with their similarity; no threshold."""
        return await self._search(self.read_namespaces(chat, sender), query, k)

    async def recent(self, chat: ChatRef, sender: Sender, limit: int = 20) -> list[MemoryRecord]:
        return (await self.records(self.read_namespaces(chat, sender)))[:limit]

    async def forget(self, chat: ChatRef, sender: Sender, memory_id: str) -> MemoryRecord | None:
        return await self._forget(self.read_namespaces(chat, sender), memory_id)

    async def forget_matching(
        self, chat: ChatRef, sender: Sender, query: str
    ) -> MemoryRecord | None:
        """Delete the single best match for ``query`` if it is close enough."""
        found = await self.search(chat, sender, query, 1)
        threshold = max(self._settings.min_similarity, _FORGET_MIN)
        if not found or (found[0].score or 0.0) < threshold:
            return None
        return await self._forget([found[0].namespace], found[0].id)

    # --- administration (the command line): every namespace --------------------------------

    async def namespaces(self) -> list[str]:
        store, _ = await self._parts()
        return await store.namespaces()

    async def records(self, namespaces: Iterable[str] | None = None) -> list[MemoryRecord]:
        """Every record of ``namespaces`` (default: all), newest first."""
        chosen = list(namespaces) if namespaces is not None else await self.namespaces()
        store, _ = await self._parts()
        out: list[MemoryRecord] = []
        for namespace in chosen:
            out.extend(await store.get(namespace))
        return sorted(out, key=lambda r: r.created, reverse=True)

    async def search_in(
        self, query: str, namespaces: Iterable[str] | None = None, k: int = 10
    ) -> list[MemoryRecord]:
        chosen = list(namespaces) if namespaces is not None else await self.namespaces()
        return await self._search(chosen, query, k)

    async def forget_in(
        self, memory_id: str, namespaces: Iterable[str] | None = None
    ) -> MemoryRecord | None:
        chosen = list(namespaces) if namespaces is not None else await self.namespaces()
        return await self._forget(chosen, memory_id)

    async def _search(self, namespaces: list[str], text: str, k: int) -> list[MemoryRecord]:
        if not namespaces or k <= 0:
            return []
        store, embedder = await self._parts()
        vector = (await embedder.embed([text]))[0]
        found: list[MemoryRecord] = []
        for namespace in namespaces:
            found.extend(await store.query(namespace, vector, k))
        found.sort(key=lambda r: r.score or 0.0, reverse=True)
        return found[:k]

    async def _forget(self, namespaces: list[str], memory_id: str) -> MemoryRecord | None:
        store, _ = await self._parts()
        for namespace in namespaces:
            existing = await store.get(namespace, [memory_id])
            if existing and await store.delete(namespace, [memory_id]):
                log.info("memory.forgotten", id=memory_id)
                return existing[0]
        return None

    # --- conversation summaries ---------------------------------------------------------------

    async def conversation_ended(self, conversation_id: int, chat: ChatRef, sender: Sender) -> None:
        """Store a model-written summary of the ended conversation, in the background."""
        if (
            not self._settings.summaries
            or self._jobs is None
            or self._client is None
            or self._conversations is None
            or not self._client.providers
        ):
            return
        await self._jobs.spawn(self._summarize(conversation_id, chat, sender))

    async def _summarize(self, conversation_id: int, chat: ChatRef, sender: Sender) -> None:
        assert self._client is not None
        assert self._conversations is not None
        try:
            text = await summarize(self._client, self._conversations, conversation_id)
            if text:
                await self.remember(chat, sender, text, source="summary")
        except Exception:  # the error boundary of a background job: log once
            log.exception("memory.summary_failed", conversation_id=conversation_id)
