"""lark-oapi's long-connection client, adapted to run under our supervision.

Importing this module imports lark-oapi (3-4 s, ~180 MB): only the long-connection thread does
it, and only when Feishu is enabled in websocket mode. The SDK binds an event loop in a module
global at import and runs every connection on it; ``prepare`` points it at the thread's own
loop.

What the subclass changes (private methods of lark-oapi 1.7.x, pinned in constraints.txt):

- ``_get_conn_url``: the endpoint is fetched by our API client on the daemon's loop (with a
  timeout; the SDK's blocking ``requests`` call has none), and errors are classified there.
- ``_handle_data_frame``: the event is handed to the daemon's loop and the acknowledgement
  frame is written only after the adapter returned, i.e. after the message is in the inbox.
  The coroutine awaits that without blocking this loop: pings and other frames go on. A card
  callback's answer (the toast) travels back in the acknowledgement, base64-encoded.
- ``_connect`` / ``_handle_control_frame``: report connections and heartbeats (pongs).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import json
import logging
import time
from typing import Any, Protocol

import lark_oapi  # noqa: F401 - the import that costs; everything below is inside it
from lark_oapi.core.enum import LogLevel
from lark_oapi.ws import client as ws_client
from lark_oapi.ws.const import HEADER_BIZ_RT, HEADER_MESSAGE_ID, HEADER_SEQ, HEADER_SUM, HEADER_TYPE
from lark_oapi.ws.enum import MessageType
from lark_oapi.ws.exception import ClientException, ServerException
from lark_oapi.ws.model import ClientConfig

from assistant.core.errors import ChannelAuthError

_DATA_TYPES = {MessageType.EVENT.value, MessageType.CARD.value}
DELIVER_TIMEOUT = 30.0


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
    """Bind the SDK to this thread's loop and send its log through ours (no stdout handler)."""
    ws_client.loop = loop
    loop.set_exception_handler(_task_failed)
    lark_logger = logging.getLogger("Lark")
    for handler in list(lark_logger.handlers):
        lark_logger.removeHandler(handler)
    lark_logger.propagate = True


def _task_failed(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A task of the SDK died: one line in our log (the supervisor notices a dead connection)."""
    error = context.get("exception")
    logging.getLogger("Lark").warning(
        "%s: %s", context.get("message", "task failed"), repr(error) if error else ""
    )


class SupervisedClient(ws_client.Client):  # type: ignore[misc]  # lark-oapi is untyped
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

    def _get_conn_url(self) -> str:
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
        await super()._connect()
        if self._conn is not None:
            self._hooks.note("connected")

    async def _handle_control_frame(self, frame: Any) -> None:
        await super()._handle_control_frame(frame)
        kinds = [h.value for h in frame.headers if h.key == HEADER_TYPE]
        if kinds == [MessageType.PONG.value]:
            self._hooks.note("heartbeat")

    async def _handle_data_frame(self, frame: Any) -> None:
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
    client._auto_reconnect = False
    if not getattr(client, "_shutting_down", False):  # not once shutdown() runs the loop
        loop.stop()


def shutdown(client: SupervisedClient, loop: asyncio.AbstractEventLoop) -> None:
    """After ``start()`` returned or raised: end every task, close the socket, close the loop.

    The tasks go first: the SDK's receive loop would otherwise see the socket close, log an
    error and die with an exception nobody retrieves.
    """
    client._shutting_down = True
    client._auto_reconnect = False
    try:
        tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        conn = client._conn
        client._conn = None
        if conn is not None:
            with contextlib.suppress(Exception):  # a broken socket: nothing left to close
                loop.run_until_complete(asyncio.wait_for(conn.close(), 5))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
