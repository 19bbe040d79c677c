"""lark-oapi's long-connection client, adapted to run under our supervision.

The one module that uses lark-oapi's private API, written against **lark-oapi 1.7.5**
exactly (``LARK_OAPI_VERSION``; constraints.txt and pyproject.toml pin it). lark-oapi stays
the long-connection client: it speaks Feishu's protobuf frames, pings and reconnects. Its
public API (``Client(...)``, ``start()``, ``on_reconnecting``) cannot fetch the endpoint
without blocking, acknowledge an event only once it is stored, answer a card callback, report
connections and pongs, or stop. So ``SupervisedClient`` overrides, each for one reason:

- ``_get_conn_url``: the endpoint comes from our API client on the daemon's loop, with a
  timeout (the SDK's blocking ``requests`` call has none), its errors classified there.
- ``_connect``: report each connection (the SDK reports only re-connections).
- ``_handle_control_frame``: report pongs (heartbeats) to the supervisor.
- ``_handle_data_frame``: hand the event to the daemon's loop and write the acknowledgement
  only after the adapter returned, i.e. once the message is in the inbox, without blocking
  this loop (pings go on); a card callback's answer travels back in it, base64-encoded.

and touches: ``_configure`` and the ``_reconnect_*``/``_ping_interval`` fields (apply the
endpoint's client settings), ``_combine`` and ``_write_message`` (frames in several parts,
the acknowledgement), ``_auto_reconnect`` and ``_conn`` (stop), the module global ``loop``
(the loop ``start()`` runs on). ``UPSTREAM`` holds the sha256 of the source of every upstream
function this relies on; ``verify()`` compares the installed library with it,
tests/unit/test_lark_pin.py fails when they differ, and ``prepare`` logs a warning. Upgrading
lark-oapi: read the new source of each, adapt, then update the version and the digests.

Importing this module imports lark-oapi's long-connection client and its core only (0.25 s,
~40 MB; the whole SDK is 4-5 s and ~150 MB: see ``_package_shells``): only the long-connection
thread does it, and only when Feishu is enabled in websocket mode.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import hashlib
import importlib.metadata
import importlib.util
import inspect
import json
import logging
import sys
import time
import types
from typing import Any, Protocol


def _package_shells() -> None:
    """Import ``lark_oapi.ws`` without lark-oapi's package ``__init__``.

    ``import lark_oapi`` runs the package's ``__init__``, which imports every API model of the
    SDK (over 10,000 modules: 4-5 s and ~150 MB on the 2-core VM); ``lark_oapi.ws.client``
    reaches the same through ``lark_oapi.event.dispatcher_handler`` (one event processor per
    API event), which it imports only for the type of its ``event_handler`` argument. We pass
    no event handler (``_handle_data_frame`` is ours). So the two packages are registered as
    empty shells with the real search path, and the dispatcher module as a shell that names
    the class: ``lark_oapi.ws`` and ``lark_oapi.core`` then load as themselves (65 modules,
    0.25 s, ~40 MB). Pinned like the overrides below: ``verify`` checks that the client module
    still takes the dispatcher only as that type (``CLIENT_IMPORTS``). When the whole SDK is
    already imported (a test), nothing is done.
    """
    if "lark_oapi" in sys.modules:
        return
    spec = importlib.util.find_spec("lark_oapi")
    if spec is None or not spec.submodule_search_locations:
        return  # not installed: the import below says so
    root = list(spec.submodule_search_locations)
    for name, path in (("lark_oapi", root), ("lark_oapi.event", [f"{root[0]}/event"])):
        shell = types.ModuleType(name, "a shell: see assistant.channels.feishu.lark_client")
        shell.__path__ = path
        sys.modules[name] = shell
    dispatcher = types.ModuleType("lark_oapi.event.dispatcher_handler")

    class EventDispatcherHandler:  # the name the client's signature refers to; never built
        pass

    dispatcher.EventDispatcherHandler = EventDispatcherHandler  # type: ignore[attr-defined]
    sys.modules["lark_oapi.event.dispatcher_handler"] = dispatcher


_package_shells()

from lark_oapi.core.enum import LogLevel  # noqa: E402 - after the shells
from lark_oapi.ws import client as ws_client  # noqa: E402
from lark_oapi.ws.const import HEADER_BIZ_RT, HEADER_MESSAGE_ID, HEADER_SEQ, HEADER_SUM, HEADER_TYPE  # noqa: E402
from lark_oapi.ws.enum import MessageType  # noqa: E402
from lark_oapi.ws.exception import ClientException, ServerException  # noqa: E402
from lark_oapi.ws.model import ClientConfig  # noqa: E402

from assistant.core.errors import ChannelAuthError  # noqa: E402

LARK_OAPI_VERSION = "1.7.5"

# sha256 (first 16 hex digits) of ``inspect.getsource`` of each ``ws_client.Client`` function
# this module relies on, in lark-oapi 1.7.5, and why.
UPSTREAM: dict[str, str] = {
    "__init__": "9f101f7c8db48329",  # the private fields read and set below
    "start": "0c1ec672fd441c51",  # runs on the module global ``loop``; loop.stop() ends it
    "_connect": "41cd3e405ec95ad1",  # overridden: report a connection
    "_receive_message_loop": "3ccfd3f7a36a6a29",  # reconnects only while _auto_reconnect
    "_get_conn_url": "10d4e9575229ab20",  # overridden: endpoint from our API client
    "_handle_message": "5397c340a62a906f",  # dispatches frames to the two handlers below
    "_handle_control_frame": "bf1b57cde2220f2b",  # overridden: report pongs
    "_handle_data_frame": "c34460bd16a63754",  # overridden: ack once the event is stored
    "_reconnect": "7e3c670a861246e8",  # calls on_reconnecting, then _connect
    "_disconnect": "2826e6b26cb1702f",  # clears _conn
    "_write_message": "996acef8a20c9be4",  # called: writes the acknowledgement
    "_combine": "dac8a695ddf5f3e5",  # called: joins a frame sent in parts
    "_configure": "6626d1490560f3a9",  # called: applies the endpoint's client settings
}

# every line of lark_oapi/ws/client.py that mentions the dispatcher, in 1.7.5: its import and
# the type of the event_handler argument and field (the call is in _handle_data_frame, ours)
CLIENT_IMPORTS = [
    "from lark_oapi.event.dispatcher_handler import EventDispatcherHandler",
]

_DATA_TYPES = {MessageType.EVENT.value, MessageType.CARD.value}
DELIVER_TIMEOUT = 30.0


def source_digest(function: Any) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]


def verify() -> list[str]:
    """What differs from the lark-oapi this module was written for (empty: nothing)."""
    problems = []
    installed = importlib.metadata.version("lark-oapi")
    if installed != LARK_OAPI_VERSION:
        problems.append(f"lark-oapi {installed} is installed, not {LARK_OAPI_VERSION}")
    if not isinstance(getattr(ws_client, "loop", None), asyncio.AbstractEventLoop):
        problems.append("lark_oapi.ws.client has no module global `loop` any more")
    imports = [line for line in inspect.getsource(ws_client).splitlines() if "dispatcher" in line]
    if imports != CLIENT_IMPORTS:
        problems.append("lark_oapi.ws.client uses the event dispatcher in a new way")
    for name, digest in UPSTREAM.items():
        function = getattr(ws_client.Client, name, None)
        if function is None:
            problems.append(f"Client.{name} is gone")
        elif source_digest(function) != digest:
            problems.append(f"Client.{name} changed")
    return problems


class Hooks(Protocol):
    """What the client calls back into (from the connection's thread)."""

    def endpoint(self) -> tuple[str, dict[str, Any]]:
        """Blocking: the connection URL and client settings; raises ChannelError."""
        ...

    def deliver(self, payload: bytes) -> concurrent.futures.Future[tuple[int, bytes | None]]:
        """Hand an event to the daemon; the future gives (status code, response body)."""
        ...

    def note(self, what: str) -> None:
        """``connected``, ``heartbeat`` or ``reconnecting``."""
        ...


def prepare(loop: asyncio.AbstractEventLoop) -> None:
    """Bind the SDK to this thread's loop and send its log through ours (no stdout handler).

    The SDK took the thread's current loop into its module global ``loop`` when it was first
    imported, and ``start()`` runs on whatever that global holds: set it to ``loop``.
    """
    ws_client.loop = loop  # private: the loop start() runs on
    loop.set_exception_handler(_task_failed)
    lark_logger = logging.getLogger("Lark")
    for handler in list(lark_logger.handlers):
        lark_logger.removeHandler(handler)
    lark_logger.propagate = True
    problems = verify()
    if problems:
        lark_logger.warning(
            "the Feishu long connection was written for lark-oapi %s: %s",
            LARK_OAPI_VERSION,
            "; ".join(problems),
        )


def _task_failed(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A task of the SDK died: one line in our log (the supervisor notices a dead connection)."""
    error = context.get("exception")
    logging.getLogger("Lark").warning(
        "%s: %s", context.get("message", "task failed"), repr(error) if error else ""
    )


class SupervisedClient(ws_client.Client):  # type: ignore[misc]  # lark-oapi is untyped
    """lark-oapi 1.7.5's ``ws.Client`` with the overrides listed in the module's docstring."""

    def __init__(self, hooks: Hooks, *, app_id: str, app_secret: str, domain: str) -> None:
        super().__init__(
            app_id,
            app_secret,
            log_level=LogLevel.INFO,
            event_handler=None,
            domain=domain,
            auto_reconnect=True,
        )
        self._hooks = hooks
        self.on_reconnecting = lambda: hooks.note("reconnecting")
        self.shutting_down = False

    def stop_reconnecting(self) -> None:
        self._auto_reconnect = False  # private: read by the receive loop before reconnecting

    def _get_conn_url(self) -> str:
        # override: the endpoint from our API client, with a timeout and classified errors
        try:
            url, settings = self._hooks.endpoint()
        except ChannelAuthError as exc:
            raise ClientException(403, str(exc)) from None  # the SDK stops retrying on this
        except Exception as exc:  # noqa: BLE001 - the SDK retries ServerException
            raise ServerException(503, str(exc)) from None
        if settings:
            current = {
                "ReconnectCount": self._reconnect_count,
                "ReconnectInterval": self._reconnect_interval,
                "ReconnectNonce": self._reconnect_nonce,
                "PingInterval": self._ping_interval,
            }
            known = {k: v for k, v in settings.items() if k in current and isinstance(v, int)}
            self._configure(ClientConfig({**current, **known}))
        return url

    async def _connect(self) -> None:
        # override: report every connection (on_reconnected misses the first one)
        await super()._connect()
        if self._conn is not None:
            self._hooks.note("connected")

    async def _handle_control_frame(self, frame: Any) -> None:
        # override: report pongs, the supervisor's sign of a live connection
        await super()._handle_control_frame(frame)
        kinds = [h.value for h in frame.headers if h.key == HEADER_TYPE]
        if kinds == [MessageType.PONG.value]:
            self._hooks.note("heartbeat")

    async def _handle_data_frame(self, frame: Any) -> None:
        # override: acknowledge an event (or card callback) once the adapter stored it
        headers = {h.key: h.value for h in frame.headers}
        payload = frame.payload
        parts = int(headers.get(HEADER_SUM) or 1)
        if parts > 1:
            payload = self._combine(
                headers.get(HEADER_MESSAGE_ID, ""),
                parts,
                int(headers.get(HEADER_SEQ) or 0),
                payload,
            )
            if payload is None:
                return  # more parts to come
        if headers.get(HEADER_TYPE) not in _DATA_TYPES:
            return
        started = time.monotonic()
        try:
            future = self._hooks.deliver(payload)
            code, data = await asyncio.wait_for(asyncio.wrap_future(future), DELIVER_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - answer 500: Feishu delivers it again later
            logging.getLogger("Lark").warning("event not handed over: %s", type(exc).__name__)
            code, data = 500, None
        header = frame.headers.add()
        header.key = HEADER_BIZ_RT
        header.value = str(int((time.monotonic() - started) * 1000))
        response: dict[str, Any] = {"code": code}
        if data is not None:
            response["data"] = base64.b64encode(data).decode()
        frame.payload = json.dumps(response).encode()
        await self._write_message(frame.SerializeToString())


def request_stop(client: SupervisedClient, loop: asyncio.AbstractEventLoop) -> None:
    """In the client's loop: no more reconnecting, and leave ``start()``."""
    client.stop_reconnecting()
    if not client.shutting_down:  # not once shutdown() runs the loop
        loop.stop()


def shutdown(client: SupervisedClient, loop: asyncio.AbstractEventLoop) -> None:
    """After ``start()`` returned or raised: end every task, close the socket, close the loop.

    The tasks go first: the SDK's receive loop would otherwise see the socket close, log an
    error and die with an exception nobody retrieves.
    """
    client.shutting_down = True
    client.stop_reconnecting()
    try:
        tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        conn = client._conn  # private: the websocket, closed here since there is no stop()
        client._conn = None
        if conn is not None:
            with contextlib.suppress(Exception):  # a broken socket: nothing left to close
                loop.run_until_complete(asyncio.wait_for(conn.close(), 5))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
