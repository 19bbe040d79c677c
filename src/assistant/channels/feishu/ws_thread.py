"""The Feishu long connection: lark-oapi's websocket client in a thread of its own.

lark-oapi's client blocks in ``start()``, runs on an event loop held in a module global and has
no ``stop()``. It therefore runs in a dedicated thread with a fresh loop, and talks to the
daemon only through three thread-safe hooks (see ``lark_client.Hooks``): fetch the endpoint,
deliver an event, note a connection or heartbeat. Events are handed to the daemon's loop with
``run_coroutine_threadsafe``; the SDK's loop awaits the result without blocking.

``LongConnection`` is entered for one run of the adapter and supervises the thread from the
daemon's loop: ``watch()`` raises ``ChannelUnavailable`` when the thread died or nothing (no
event, no pong) arrived within ``heartbeat_timeout`` — Feishu delivers each event to one
connection only, so a silent one must not linger — and ``ChannelAuthError`` when the
credentials were refused. Leaving the context stops the client from our side (no reconnects,
the loop stopped, the socket closed, every task ended) and joins the thread. The caller's
supervisor restarts with backoff.

One connection per process: the SDK's module-global loop allows only one client at a time, and
a second connection of the same app would split the events between them. ``_GUARD`` (process
wide, like that global) is held from the start of the thread until it has ended.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib
import threading
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import structlog

from assistant.channels.feishu.api import FeishuAPI
from assistant.core.errors import ChannelAuthError, ChannelError, ChannelUnavailable
from assistant.core.health import ComponentState, Health
from assistant.core.redact import Redactor

log = structlog.get_logger(__name__)

_GUARD = threading.Lock()
STARTUP_GRACE = 60.0  # importing lark-oapi and connecting may take this long at first
JOIN_TIMEOUT = 15.0

FrameHandler = Callable[[bytes], Coroutine[Any, Any, tuple[int, bytes | None]]]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class LongConnection:
    def __init__(
        self,
        *,
        api: FeishuAPI,
        app_id: str,
        app_secret: str,
        handle: FrameHandler,
        health: Health,
        component: str,
        redactor: Redactor,
        heartbeat_timeout: float,
    ) -> None:
        self._api = api
        self._app_id = app_id
        self._app_secret = app_secret
        self._handle = handle
        self._health = health
        self._component = component
        self._redactor = redactor
        self._heartbeat_timeout = heartbeat_timeout
        self._main: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None
        self._module: Any = None
        self._changed = asyncio.Event()
        self._alive = False  # a connection, heartbeat or event arrived since the last check
        self._failure: ChannelError | None = None
        self.connections = 0

    # --- lifecycle (daemon's loop) ----------------------------------------------------------

    async def __aenter__(self) -> LongConnection:
        if not _GUARD.acquire(blocking=False):
            raise ChannelUnavailable(
                "the previous Feishu long connection of this process has not ended yet"
            )
        self._main = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="feishu-ws", daemon=True)
        try:
            self._thread.start()
        except BaseException:
            _GUARD.release()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Stop the client from our side and wait for its thread to end."""
        self._stopping.set()
        with self._lock:
            loop, client, module = self._loop, self._client, self._module
        if loop is not None and client is not None and module is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(module.request_stop, client, loop)
        thread = self._thread
        if thread is None:
            return
        join = asyncio.ensure_future(asyncio.to_thread(thread.join, JOIN_TIMEOUT))
        try:
            await asyncio.shield(join)
        except asyncio.CancelledError:
            await join  # bounded by JOIN_TIMEOUT: never leave the thread behind unnoticed
            raise
        if thread.is_alive():
            log.error("feishu.ws_thread_stuck", seconds=JOIN_TIMEOUT)

    async def watch(self) -> None:
        """Return never; raise when the connection must be restarted or given up."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._heartbeat_timeout + STARTUP_GRACE) as deadline:
                while True:
                    await self._changed.wait()
                    self._changed.clear()
                    if self._failure is not None:
                        raise self._failure
                    if self._alive:
                        self._alive = False
                        deadline.reschedule(loop.time() + self._heartbeat_timeout)
        except TimeoutError:
            raise ChannelUnavailable(
                f"no event or heartbeat from Feishu for {self._heartbeat_timeout:g}s; reconnecting"
            ) from None

    def _on_note(self, what: str) -> None:
        """Runs on the daemon's loop."""
        if what in ("connected", "heartbeat", "event"):
            self._alive = True
            if what == "connected":
                self.connections += 1
                self._health.set(self._component, ComponentState.READY, "long connection")
                self._health.note(self._component, connected_at=_now())
            elif what == "heartbeat":
                self._health.note(self._component, last_heartbeat=_now())
        elif what == "reconnecting":
            self._health.set(self._component, ComponentState.DOWN, "reconnecting")
            log.warning("feishu.reconnecting")
        self._changed.set()

    def _on_endpoint_failed(self, detail: str) -> None:
        detail = self._redactor.text(detail)
        self._health.set(self._component, ComponentState.DOWN, f"{detail}; retrying")
        log.warning("feishu.endpoint_failed", error=detail)

    def _on_failure(self, failure: ChannelError) -> None:
        if self._failure is None or isinstance(failure, ChannelAuthError):
            self._failure = failure
        self._changed.set()

    # --- hooks (the connection's thread) ----------------------------------------------------

    def _call_main(self, fn: Callable[..., None], *args: Any) -> None:
        if self._main is not None:
            with contextlib.suppress(RuntimeError):  # the daemon's loop has closed
                self._main.call_soon_threadsafe(fn, *args)

    def note(self, what: str) -> None:
        self._call_main(self._on_note, what)

    def endpoint(self) -> tuple[str, dict[str, Any]]:
        if self._stopping.is_set() or self._main is None:
            raise ChannelUnavailable("stopping")
        future = asyncio.run_coroutine_threadsafe(self._api.ws_endpoint(), self._main)
        try:
            return future.result(timeout=30)
        except concurrent.futures.TimeoutError:
            future.cancel()
            self._call_main(self._on_endpoint_failed, "no long-connection address in 30s")
            raise ChannelUnavailable("Feishu did not give a long-connection address") from None
        except ChannelAuthError as exc:
            self._call_main(self._on_failure, exc)
            raise
        except ChannelError as exc:
            self._call_main(self._on_endpoint_failed, str(exc))
            raise

    def deliver(self, payload: bytes) -> concurrent.futures.Future[tuple[int, bytes | None]]:
        assert self._main is not None
        self.note("event")
        return asyncio.run_coroutine_threadsafe(self._handle(payload), self._main)

    # --- the thread -------------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)  # this thread's loop, current before the SDK is imported
        client = module = None
        error: BaseException | None = None
        started = time.monotonic()
        try:
            module = importlib.import_module("assistant.channels.feishu.lark_client")
            module.prepare(loop)
            client = module.SupervisedClient(
                self,
                app_id=self._app_id,
                app_secret=self._app_secret,
                domain=self._api.base_url,
            )
            with self._lock:
                self._loop, self._client, self._module = loop, client, module
            self._call_main(
                self._note_import, round(time.monotonic() - started, 2), module.__name__
            )
            if not self._stopping.is_set():
                client.start()
        except BaseException as exc:  # noqa: BLE001 - reported to the supervisor below
            error = exc
        finally:
            try:
                if client is not None and module is not None:
                    module.shutdown(client, loop)
                else:
                    loop.close()
            except Exception as exc:  # noqa: BLE001 - best effort; the thread ends anyway
                error = error or exc
            finally:
                asyncio.set_event_loop(None)
                _GUARD.release()
                self._call_main(self._ended, error)

    def _note_import(self, seconds: float, module: str) -> None:
        log.info("feishu.sdk_loaded", seconds=seconds)

    def _ended(self, error: BaseException | None) -> None:
        if self._stopping.is_set():
            return
        if self._failure is not None:
            self._changed.set()
            return
        detail = self._redactor.text(f"{type(error).__name__}: {error}") if error else "ended"
        self._on_failure(ChannelUnavailable(f"the long connection stopped ({detail})"))
