"""Per-conversation queues over one bounded spawner.

One message at a time per conversation, in order; many conversations at once, as many as the
spawner allows. After each message a conversation with more waiting goes to the back of the
line, so a busy chat cannot starve the others. ``queued`` tells how many wait in one
conversation, so that intake can refuse past a cap.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import aiojobs

from assistant.core.metrics import Metrics

W = TypeVar("W")


class ConversationQueues(Generic[W]):
    def __init__(self, process: Callable[[W], Awaitable[None]], metrics: Metrics) -> None:
        self._process = process
        self._metrics = metrics
        self._spawner: aiojobs.Scheduler | None = None
        self._queues: dict[str, deque[W]] = {}
        self._idle: dict[str, asyncio.Event] = {}
        self._stopping = False
        self.waiting = 0
        self.running = 0

    def open(self, spawner: aiojobs.Scheduler) -> None:
        self._spawner = spawner

    def stop(self) -> None:
        """Start nothing more; what waits stays where it came from (the inbox)."""
        self._stopping = True

    def queued(self, key: str) -> int:
        """Messages of conversation ``key`` waiting (the one running not counted)."""
        queue = self._queues.get(key)
        return len(queue) if queue is not None else 0

    async def put(self, key: str, work: W) -> None:
        queue = self._queues.get(key)
        self.waiting += 1
        self._metrics.queue_depth.set(self.waiting + self.running)
        if queue is not None:
            queue.append(work)  # a job for this conversation is already queued or running
            return
        self._queues[key] = deque([work])
        await self._spawn(key)

    async def wait_idle(self, key: str | None = None) -> None:
        """Return once conversation ``key`` (or every one) has nothing waiting or running."""
        while True:
            busy = key if key is not None else next(iter(self._queues), None)
            if busy is None or busy not in self._queues:
                return
            await self._idle.setdefault(busy, asyncio.Event()).wait()

    async def _spawn(self, key: str) -> None:
        assert self._spawner is not None
        await self._spawner.spawn(self._run_next(key))

    async def _run_next(self, key: str) -> None:
        queue = self._queues[key]
        if self._stopping:
            return  # left in the inbox for the next start
        work = queue.popleft()
        self.waiting -= 1
        self.running += 1
        try:
            await self._process(work)
        finally:
            self.running -= 1
            self._metrics.queue_depth.set(self.waiting + self.running)
            if not queue:
                del self._queues[key]
                idle = self._idle.pop(key, None)
                if idle is not None:
                    idle.set()
            elif not self._stopping:
                # one message per job, then back of the line: a busy chat cannot starve others
                await self._spawn(key)
