"""Socket Mode: Slack's websocket, opened with the app-level token (no public address).

Each envelope is acknowledged only after its event was recorded (an unacknowledged envelope is
delivered again by Slack); one that could not be recorded (the state refuses writes, we are
closing) is left unacknowledged. slack-sdk reconnects by itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from assistant.channels.common import DEFERRED
from assistant.channels.slack.api import AUTH_ERRORS
from assistant.core.errors import ChannelAuthError, ChannelUnavailable
from assistant.core.ports import Clock

log = structlog.get_logger(__name__)

Handle = Callable[..., Awaitable[None]]


LIVENESS_EVERY = 10.0  # seconds between looks at the connection (the SDK pings every 5 s)


async def run_socket_mode(
    app_token: str,
    web: AsyncWebClient,
    *,
    handle: Handle,
    ready: Callable[[], Any],
    degraded: Callable[[], Any],
    clock: Clock,
) -> None:
    """Serve Socket Mode until cancelled. The SDK reconnects by itself; whether it is
    connected is looked at every ``LIVENESS_EVERY`` seconds and shown (``ready`` or
    ``degraded``), so that a deaf connection is seen on /readyz."""
    client = SocketModeClient(app_token=app_token, web_client=web)

    async def listener(socket: SocketModeClient, request: SocketModeRequest) -> None:
        if request.type not in ("events_api", "interactive"):
            await socket.send_socket_mode_response(SocketModeResponse(request.envelope_id))
            return
        try:
            await handle(request.type, request.payload, source="socket")
        except DEFERRED as exc:
            log.warning("channel.deferred", channel="slack", source="socket", error=str(exc))
            return
        await socket.send_socket_mode_response(SocketModeResponse(request.envelope_id))

    client.socket_mode_request_listeners.append(listener)  # type: ignore[arg-type]
    try:
        try:  # the SDK retries a refused token for ever: ask once ourselves first
            await web.apps_connections_open(app_token=app_token)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "")
            if error in AUTH_ERRORS:
                raise ChannelAuthError(
                    f"Slack refused the app-level token ({error}); check [slack] app_token "
                    "(Basic Information → App-Level Tokens, with connections:write)"
                ) from None
            raise ChannelUnavailable(f"Slack Socket Mode: {error or exc}") from None
        await client.connect()  # type: ignore[no-untyped-call]
        ready()
        up = True
        while True:
            await clock.sleep(LIVENESS_EVERY)
            connected = await client.is_connected()
            if connected != up:
                log.info("slack.socket", connected=connected)
                (ready if connected else degraded)()
                up = connected
    finally:
        await client.close()  # type: ignore[no-untyped-call]
