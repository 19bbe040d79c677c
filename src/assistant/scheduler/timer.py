"""One timer on the injected clock: run ``process`` (fire what is due), sleep until the time
it returns (the earliest next fire), repeat. ``poke()`` wakes it early: a job was created or
changed, or a firing finished.

The sleep is also bounded by ``recheck`` seconds: other processes write the jobs table too
(``assistant jobs run`` asks for a run), and a wall clock that was set back or forward is
noticed within that time. Tests move a fake clock instead of waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from assistant.core.ports import Clock, within

log = structlog.get_logger(__name__)

RECHECK_EVERY = 30.0  # seconds: the longest sleep (run requests from the command line)


class Timer:
    def __init__(
        self,
        clock: Clock,
        process: Callable[[], Awaitable[float | None]],
        *,
        recheck: float = RECHECK_EVERY,
    ) -> None:
        self._clock = clock
        self._process = process
        self._recheck = recheck
        self._poked = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="scheduler.timer")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def poke(self) -> None:
        self._poked.set()

    async def _run(self) -> None:
        while True:
            self._poked.clear()  # before processing: a poke while it runs is not lost
            try:
                wake = await self._process()
            except Exception as exc:  # noqa: BLE001 - the timer's error boundary: log, retry later
                log.error("scheduler.process_failed", error=str(exc))
                wake = None
            delay = self._recheck
            if wake is not None:
                delay = min(delay, wake - self._clock.time())
            if delay > 0:
                await within(self._clock, delay, self._poked.wait())
            else:
                await asyncio.sleep(0)  # due already: let the loop breathe between rounds
