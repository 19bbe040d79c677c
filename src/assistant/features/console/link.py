"""The terminal chat's connection to the daemon, kept up across a daemon restart or a
network drop.

``Link`` owns the WebSocket (``/ws?after=ID``) and the POSTs of ``/api/messages``. When the
socket drops it says so once (one line on stderr), reconnects with jittered backoff for at most
``patience`` seconds and resumes after the last event it delivered, so each event is delivered
once. A POST that fails for want of a daemon is sent again with the same ``client_id`` (the
daemon takes a ``client_id`` once). A refused token (revoked) ends it at once; so does a
daemon still unreachable when the patience runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp

from assistant.core.backoff import Backoff
from assistant.core.errors import AssistantError

Push = dict[str, Any]
T = TypeVar("T")
PATIENCE = 120.0  # seconds of reconnecting before giving up
POST_TIMEOUT = aiohttp.ClientTimeout(total=20)  # a half-dead connection is given up, then retried
RESUMED: Push = {"type": "resumed"}  # delivered after a reconnect (once what was missed came)
_RETRY = (aiohttp.ClientError, OSError, TimeoutError)


class Refused(AssistantError):
    """The daemon refused the console token (wrong, or revoked while connected)."""


class Unreachable(AssistantError):
    """The daemon stayed unreachable for the whole reconnect window."""


class _Again(Exception):
    """This attempt failed in a way worth retrying."""


async def _error(response: aiohttp.ClientResponse) -> str:
    with contextlib.suppress(aiohttp.ContentTypeError, ValueError):
        body = await response.json()
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, str):
            return error
    return response.reason or f"HTTP {response.status}"


def _span(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes > 1 else ''}"
    return f"{seconds:g} s"


def refused(error: str) -> Refused:
    return Refused(
        f"the daemon refused the console token: {error} (check ASSISTANT_CONSOLE_TOKEN, or "
        "create a new token: assistant users token create NAME)"
    )


class Link:
    def __init__(
        self,
        base: str,
        http: aiohttp.ClientSession,
        *,
        say: Callable[[str], None],
        patience: float = PATIENCE,
    ) -> None:
        self._base = base
        self._http = http
        self._say = say
        self._patience = patience
        self._pushes: asyncio.Queue[Push | AssistantError] = asyncio.Queue()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._pump: asyncio.Task[None] | None = None
        self._lost = False
        self._broken: asyncio.Future[AssistantError] | None = None
        self.last = 0  # the id of the last event delivered

    async def open(self, after: int) -> None:
        """Connect, delivering the events after ``after`` first (a daemon still starting is
        waited for, as after a drop)."""
        self.last = after
        self._broken = asyncio.get_running_loop().create_future()
        self._ws = await self._reconnect()
        self._pump = asyncio.create_task(self._run(), name="chat-link")

    async def next(self) -> Push:
        """The next event or status push; raises ``Refused`` or ``Unreachable``."""
        item = await self._pushes.get()
        if isinstance(item, AssistantError):
            self._pushes.put_nowait(item)  # every later call fails the same way
            raise item
        return item

    async def unless_broken(self, awaitable: Awaitable[T]) -> T:
        """``awaitable``'s result, or the error that ended the link while it waited."""
        assert self._broken is not None
        task = asyncio.ensure_future(awaitable)
        waiting: set[asyncio.Future[Any]] = {task, self._broken}
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        task.cancel()
        raise self._broken.result()

    async def post(self, body: Push) -> Push:
        """POST a message (``body`` carries its ``client_id``), again while the daemon is
        away or starting; the daemon's answer."""
        backoff = Backoff(0.25, 5.0)
        deadline: float | None = None
        while True:
            try:
                async with self._http.post(
                    f"{self._base}/api/messages", json=body, timeout=POST_TIMEOUT
                ) as response:
                    if response.status in (401, 403):
                        raise refused(await _error(response))
                    if response.status in (429, 502, 503, 504):
                        raise _Again
                    if response.status >= 400:
                        error = await _error(response)
                        raise AssistantError(f"the daemon did not take the message: {error}")
                    answer: Push = await response.json()
                    return answer
            except (_Again, *_RETRY):
                self._lose()
                deadline = deadline or time.monotonic() + self._patience
                await self._pause(backoff, deadline)

    async def aclose(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        if self._ws is not None:
            await self._ws.close()

    # --- the socket ---------------------------------------------------------------------------

    async def _connect(self) -> aiohttp.ClientWebSocketResponse:
        """A socket whose replay (after ``last``) was delivered up to its ``ready``."""
        try:
            ws = await self._http.ws_connect(f"{self._base}/ws?after={self.last}", heartbeat=10)
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status in (401, 403):  # the handshake's answer has no body: ask why
                async with self._http.get(f"{self._base}/api/me") as response:
                    raise refused(await _error(response)) from exc
            raise
        if not await self._read(ws, until_ready=True):
            await ws.close()
            raise _Again
        return ws

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, *, until_ready: bool) -> bool:
        """Deliver the socket's events until it closes (False) or, with ``until_ready``, until
        its ``ready`` (True)."""
        async for frame in ws:
            if frame.type is not aiohttp.WSMsgType.TEXT:
                break
            push = frame.json()
            if push.get("type") == "ready":
                if until_ready:
                    return True
                continue
            event_id = push.get("id")
            if isinstance(event_id, int):
                if event_id <= self.last:
                    continue  # delivered before the drop
                self.last = event_id
            self._pushes.put_nowait(push)
        return False

    async def _run(self) -> None:
        try:
            while True:
                assert self._ws is not None
                await self._read(self._ws, until_ready=False)
                self._lose()
                self._ws = await self._reconnect()
                self._lost = False
                self._pushes.put_nowait(RESUMED)
        except AssistantError as exc:
            self._end(exc)
        except Exception as exc:  # noqa: BLE001 - the reader's boundary: the chat ends, saying why
            self._end(AssistantError(f"the console connection failed ({type(exc).__name__})"))

    def _end(self, error: AssistantError) -> None:
        self._pushes.put_nowait(error)
        if self._broken is not None and not self._broken.done():
            self._broken.set_result(error)

    async def _reconnect(self) -> aiohttp.ClientWebSocketResponse:
        backoff = Backoff(0.25, 5.0)
        deadline = time.monotonic() + self._patience
        while True:
            try:
                return await self._connect()
            except (_Again, *_RETRY):
                await self._pause(backoff, deadline)

    def _lose(self) -> None:
        if not self._lost:
            self._lost = True
            self._say(
                f"lost the connection to the daemon; reconnecting "
                f"(for up to {_span(self._patience)}; Ctrl-C to give up)"
            )

    async def _pause(self, backoff: Backoff, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Unreachable(
                f"the daemon at {self._base} did not come back within {_span(self._patience)}; "
                "check that it runs (systemctl status assistant; journalctl -u assistant) "
                "and that this machine reaches it"
            )
        await asyncio.sleep(min(backoff.next_delay(), left))
