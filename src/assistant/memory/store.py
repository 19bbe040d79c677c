"""Chroma collections, one per namespace, used from one dedicated thread.

A namespace says whose memories a collection holds: ``user:CHANNEL:USER_ID``,
``group:CHANNEL:CHAT_ID`` or ``shared``. Embedded mode keeps a ``PersistentClient`` in the
state directory and holds ``chroma.lock`` while open: Chroma's embedded store is not safe for
two processes (measured: the second process's deletions stay visible to the first one's vector
queries until it restarts). Server mode talks to a Chroma server with the same calls.

Vectors are computed by the caller and passed in; no Chroma embedding function is ever used
(its default one downloads a model).
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import structlog

from assistant.config import MemoryServer
from assistant.core.errors import MemoryUnavailable

log = structlog.get_logger(__name__)

T = TypeVar("T")
SHARED = "shared"
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]+")


@dataclass(frozen=True, slots=True)
class MemoryRecord:
    id: str
    namespace: str
    text: str
    owner: str  # the user who stored it
    channel: str
    chat: str  # the group chat id for group memories, else ""
    created: float
    source: str  # "remember" | "summary" | "import"
    score: float | None = None  # cosine similarity to a query, when found by one

    def metadata(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "channel": self.channel,
            "chat": self.chat,
            "created": self.created,
            "source": self.source,
        }


def collection_name(namespace: str) -> str:
    """A Chroma-safe name (3-512 of [a-zA-Z0-9._-], alphanumeric at both ends), unique per
    namespace: a readable slug plus a hash of the exact namespace."""
    slug = _UNSAFE.sub("_", namespace).strip("_-")[:80] or "ns"
    digest = hashlib.sha256(namespace.encode()).hexdigest()[:10]
    return f"m-{slug}-{digest}"


def _record(
    namespace: str, rid: str, text: str | None, meta: Any, score: float | None
) -> MemoryRecord:
    meta = meta or {}
    return MemoryRecord(
        id=rid,
        namespace=namespace,
        text=text or "",
        owner=str(meta.get("owner", "")),
        channel=str(meta.get("channel", "")),
        chat=str(meta.get("chat", "")),
        created=float(meta.get("created", 0.0)),
        source=str(meta.get("source", "")),
        score=score,
    )


class MemoryStore:
    """Open with ``async with``; every method runs its Chroma calls on the store's thread."""

    def __init__(
        self,
        *,
        embedder_name: str,
        path: Path | None = None,
        server: MemoryServer | None = None,
    ) -> None:
        if (path is None) == (server is None):
            raise ValueError("give exactly one of path (embedded) or server")
        self._embedder = embedder_name
        self._path = path
        self._server = server
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chroma")
        self._client: Any = None
        self._lock_fd: int | None = None
        self._collections: dict[str, Any] = {}

    @property
    def where(self) -> str:
        if self._path is not None:
            return str(self._path)
        assert self._server is not None
        scheme = "https" if self._server.ssl else "http"
        return f"{scheme}://{self._server.host}:{self._server.port}"

    async def __aenter__(self) -> MemoryStore:
        try:
            await self._run(self._open)
        except BaseException:
            self._thread.shutdown(wait=False)
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await self._run(self._close)
        finally:
            self._thread.shutdown(wait=True)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        def guarded() -> T:
            try:
                return fn(*args)
            except MemoryUnavailable:
                raise
            except Exception as exc:  # chromadb's errors, translated once, here
                raise MemoryUnavailable(f"memory store {self.where}: {exc}") from exc

        return await asyncio.get_running_loop().run_in_executor(self._thread, guarded)

    # --- on the store thread ---------------------------------------------------------------

    def _open(self) -> None:
        if self._path is not None:
            self._lock()  # first: a refusal should not wait for chromadb to import
        try:
            import chromadb  # heavy; only when memory is enabled
            from chromadb.config import Settings
        except BaseException:
            self._unlock()
            raise
        settings = Settings(anonymized_telemetry=False)
        if self._path is not None:
            try:
                self._client = chromadb.PersistentClient(path=str(self._path), settings=settings)
            except Exception as exc:
                self._unlock()
                raise MemoryUnavailable(
                    f"cannot open the memory store {self._path}: {exc}"
                ) from exc
            return
        server = self._server
        assert server is not None
        headers = {}
        if server.token is not None:
            headers["Authorization"] = f"Bearer {server.token.get_secret_value()}"
        try:
            self._client = chromadb.HttpClient(
                host=server.host, port=server.port, ssl=server.ssl, headers=headers,
                settings=settings,
            )  # fmt: skip
            self._client.heartbeat()
        except Exception as exc:
            raise MemoryUnavailable(
                f"cannot reach the Chroma server at {self.where} ({type(exc).__name__}); "
                "check [memory.server] or start the server"
            ) from exc

    def _lock(self) -> None:
        assert self._path is not None
        self._path.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock_path = self._path.parent / "chroma.lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise MemoryUnavailable(
                f"the memory store {self._path} is in use by another assistant process (the "
                "daemon?); stop it first (systemctl stop assistant), use the /memory and "
                "/forget commands in a chat instead, or run Chroma as a server "
                "([memory] mode = 'server')"
            ) from None
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the lock
            self._lock_fd = None

    def _close(self) -> None:
        self._collections.clear()
        self._client = None
        self._unlock()

    def _collection(self, namespace: str, *, create: bool) -> Any:
        found = self._collections.get(namespace)
        if found is not None:
            return found
        name = collection_name(namespace)
        if create:
            collection = self._client.get_or_create_collection(
                name,
                embedding_function=None,
                metadata={"namespace": namespace, "embedder": self._embedder},
                configuration={"hnsw": {"space": "cosine"}},
            )
        else:
            from chromadb.errors import NotFoundError

            try:
                collection = self._client.get_collection(name, embedding_function=None)
            except NotFoundError:
                return None
        built_with = (collection.metadata or {}).get("embedder")
        if built_with != self._embedder:
            raise MemoryUnavailable(
                f"the memories of {namespace!r} were stored with the embedder {built_with!r}, "
                f"but the config now uses {self._embedder!r}; switch back, or move them over: "
                "`assistant memory export FILE`, move the chroma directory away, "
                "`assistant memory import FILE`"
            )
        self._collections[namespace] = collection
        return collection

    def _upsert(self, records: list[MemoryRecord], vectors: list[list[float]]) -> None:
        by_namespace: dict[str, list[int]] = {}
        for index, record in enumerate(records):
            by_namespace.setdefault(record.namespace, []).append(index)
        for namespace, indexes in by_namespace.items():
            self._collection(namespace, create=True).upsert(
                ids=[records[i].id for i in indexes],
                embeddings=[vectors[i] for i in indexes],
                documents=[records[i].text for i in indexes],
                metadatas=[records[i].metadata() for i in indexes],
            )

    def _query(self, namespace: str, vector: list[float], k: int) -> list[MemoryRecord]:
        collection = self._collection(namespace, create=False)
        if collection is None or k <= 0:
            return []
        # Chroma 1.x returns fewer than k results when the collection holds fewer (or none);
        # counting first cost a third of a recall and held the GIL (docs/performance.md).
        found = collection.query(
            query_embeddings=[vector],
            n_results=k,
            include=["documents", "metadatas", "distances"],
        )
        return [
            _record(namespace, rid, text, meta, 1.0 - float(distance))
            for rid, text, meta, distance in zip(
                found["ids"][0],
                found["documents"][0],
                found["metadatas"][0],
                found["distances"][0],
                strict=True,
            )
        ]

    def _get(self, namespace: str, ids: list[str] | None) -> list[MemoryRecord]:
        collection = self._collection(namespace, create=False)
        if collection is None:
            return []
        found = collection.get(ids=ids, include=["documents", "metadatas"])
        records = [
            _record(namespace, rid, text, meta, None)
            for rid, text, meta in zip(
                found["ids"], found["documents"] or [], found["metadatas"] or [], strict=True
            )
        ]
        return sorted(records, key=lambda r: r.created, reverse=True)

    def _delete(self, namespace: str, ids: list[str]) -> int:
        collection = self._collection(namespace, create=False)
        if collection is None:
            return 0
        present = collection.get(ids=ids, include=[])["ids"]
        if present:
            collection.delete(ids=present)
        return len(present)

    def _namespaces(self) -> list[str]:
        names = []
        for collection in self._client.list_collections():
            namespace = (collection.metadata or {}).get("namespace")
            if isinstance(namespace, str):
                names.append(namespace)
        return sorted(names)

    # --- async API ---------------------------------------------------------------------------

    async def upsert(self, records: list[MemoryRecord], vectors: list[list[float]]) -> None:
        """Add or replace records (by id), with their vectors."""
        await self._run(self._upsert, records, vectors)

    async def query(self, namespace: str, vector: list[float], k: int) -> list[MemoryRecord]:
        return await self._run(self._query, namespace, vector, k)

    async def get(self, namespace: str, ids: list[str] | None = None) -> list[MemoryRecord]:
        """Records of a namespace (only ``ids`` when given), newest first."""
        return await self._run(self._get, namespace, ids)

    async def delete(self, namespace: str, ids: list[str]) -> int:
        return await self._run(self._delete, namespace, ids)

    async def namespaces(self) -> list[str]:
        return await self._run(self._namespaces)
