"""The console's client API on the gateway.

``POST /api/login`` ``{"token"}`` → session cookie (+ CSRF token); ``POST /api/logout``;
``GET /api/me``; ``POST /api/messages`` ``{"text"}`` or ``{"action"}`` (a button's action id),
optional ``"client_id"`` (a retry with the same id is not answered twice);
``GET /api/messages?after=ID`` (what was sent to this person's console chat after event ID;
``?before=ID``: the page of history before it);
``POST /api/upload`` (a file to attach: the raw bytes; then ``"attachments"`` in a message);
``GET /ws?after=ID`` (a WebSocket: first what was missed after ID, then every event as it
happens, plus ``busy``/``idle``/``typing`` status); ``GET /api/files/ID`` (a picture or file
sent to this person's chat: a ``file`` event's ``url``). Every response carries a strict CSP.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import structlog
from aiohttp import WSCloseCode, WSMsgType, web

from assistant.core.errors import ChannelUnavailable, IntakeClosed
from assistant.core.messages import Attachment, ChatRef, InboundMessage, MessageKind, Sender
from assistant.core.ports import SubmitOutcome
from assistant.core.roles import Role
from assistant.core.text import MAX_ROW_ID, typed_id
from assistant.features.console.auth import SECURITY_HEADERS, Authenticator, Principal, refusal
from assistant.features.console.channel import CLOSE, WebConsoleChannel
from assistant.features.console.gate import Gate, Visitor, json_body
from assistant.features.console.uploads import Uploads
from assistant.store.console import CHANNEL, ConsoleEvents, ConsoleFiles

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_TEXT = 20_000
INLINE_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
PAGE = 50  # events in a page of history
RoleOf = Callable[[str], Awaitable[str | None]]


def secured(handler: Handler) -> Handler:
    """Every response of the console (errors too) carries the security headers."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = exc
        if not response.prepared:
            response.headers.update(SECURITY_HEADERS)
        return response

    return wrapped


def _after(request: web.Request) -> int | web.Response:
    try:
        return min(max(0, int(request.query.get("after", "0"))), MAX_ROW_ID)
    except ValueError:
        return refusal(400, "after must be an event id (an integer)")


def unavailable() -> web.Response:
    return refusal(
        503, "the assistant is starting or stopping; try again shortly", **{"Retry-After": "2"}
    )


def _language(request: web.Request) -> str:
    first = request.headers.get("Accept-Language", "").split(",")[0]
    return first.split(";")[0].strip()


class ConsoleApi:
    def __init__(
        self,
        auth: Authenticator,
        channel: WebConsoleChannel,
        events: ConsoleEvents,
        *,
        role_of: RoleOf,
        gate: Gate,
        uploads: Uploads,
        files: ConsoleFiles | None = None,
    ) -> None:
        self.uploads = uploads
        self.auth = auth
        self.files = files
        self.channel = channel
        self.events = events
        self._role_of = role_of
        self._gate = gate
        self._sockets: set[web.WebSocketResponse] = set()

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("POST", "/api/login", secured(self.login)),
            ("POST", "/api/logout", secured(self.logout)),
            ("GET", "/api/me", secured(self.me)),
            ("POST", "/api/messages", secured(self.post_message)),
            ("POST", "/api/upload", secured(self.upload)),
            ("GET", "/api/messages", secured(self.get_messages)),
            ("GET", "/ws", secured(self.websocket)),
            ("GET", "/api/files/{file_id}", secured(self.get_file)),
        ]

    async def _who(self, request: web.Request) -> Principal | web.Response:
        principal = await self.auth.principal(request)
        if isinstance(principal, web.Response):
            return principal
        if await self._role_of(principal.person) is None:
            return refusal(403, "this console token has no role any more")
        return principal

    async def login(self, request: web.Request) -> web.StreamResponse:
        body = await json_body(request)
        if isinstance(body, web.Response):
            return body
        token = body.get("token")
        if not isinstance(token, str) or not token:
            return refusal(400, 'send {"token": "..."}')
        return await self.auth.login(request, token)

    async def logout(self, request: web.Request) -> web.StreamResponse:
        who = await self._who(request)
        if isinstance(who, web.Response):
            return who
        return await self.auth.logout(request)

    async def me(self, request: web.Request) -> web.StreamResponse:
        who = await self._who(request)
        if isinstance(who, web.Response):
            return who
        role = await self._role_of(who.person)
        body: dict[str, Any] = {
            "person": who.person,
            "role": role,
            "pages": self._gate.pages(Role(role)) if role is not None else [],
            "chat": f"{CHANNEL}:{who.person}",
            "last_event": await self.events.last_id(who.person),
        }
        if who.session is not None:
            body["csrf"] = who.session.csrf
            body["expires_at"] = who.session.expires_at
        return web.json_response(body)

    async def post_message(self, request: web.Request) -> web.StreamResponse:
        who = await self._who(request)
        if isinstance(who, web.Response):
            return who
        body = await json_body(request)
        if isinstance(body, web.Response):
            return body
        text, action = body.get("text"), body.get("action")
        client_id = body.get("client_id") or uuid.uuid4().hex
        if not isinstance(client_id, str) or len(client_id) > 100:
            return refusal(400, "client_id must be a short string")
        files = self.uploads.attachments(who.person, body.get("attachments"))
        if isinstance(files, str):
            return refusal(400, files)
        if isinstance(action, str) and action:
            kind, content, files = MessageKind.ACTION, action, ()
        elif (isinstance(text, str) and text.strip()) or files:
            kind, content = MessageKind.CHAT, text.strip() if isinstance(text, str) else ""
        else:
            return refusal(400, 'send {"text": "..."} or {"action": "..."}')
        card = body.get("message_id")  # the message whose button was pressed
        card = card if isinstance(card, str) and kind is MessageKind.ACTION else None
        return await self._submit(
            who, kind, content, client_id, card, _language(request), attachments=files
        )

    async def upload(self, request: web.Request) -> web.StreamResponse:
        """``POST /api/upload``: the raw bytes of one file (``X-File-Name``: its name,
        URL-encoded); answers the attachment to name in ``POST /api/messages``."""
        who = await self._who(request)
        if isinstance(who, web.Response):
            return who
        return await self.uploads.save(who.person, request)

    async def say(self, who: Visitor, text: str, request: web.Request) -> web.StreamResponse:
        """A page's action as this person's console message (``/approve 7``): the router
        applies the same rules as in chat, and the answer appears in their chat."""
        return await self._submit(
            who.principal, MessageKind.CHAT, text, uuid.uuid4().hex, None, _language(request)
        )

    async def _submit(
        self,
        who: Principal,
        kind: MessageKind,
        content: str,
        client_id: str,
        card: str | None,
        language: str,
        *,
        attachments: tuple[Attachment, ...] = (),
    ) -> web.StreamResponse:
        if len(content) > MAX_TEXT:
            return refusal(413, f"a message is at most {MAX_TEXT} characters")
        message = InboundMessage(
            chat=ChatRef(CHANNEL, who.person),
            sender=Sender(who.person, name=who.person),
            text=content,
            platform_id=f"{who.person}:{client_id}",
            kind=kind,
            message_id=card,
            attachments=attachments,
            meta={"language": language} if language else {},
        )
        if not self.channel.serving:
            return unavailable()
        if kind is MessageKind.CHAT:  # every session of this person shows what was said
            names = tuple(a.name for a in attachments)
            await self.channel.said(who.person, client_id, content, names)
        try:
            outcome = await self.channel.submit(message)
        except (ChannelUnavailable, IntakeClosed):
            return unavailable()
        status = 202 if outcome is SubmitOutcome.ACCEPTED else 200
        return web.json_response({"outcome": outcome.value, "client_id": client_id}, status=status)

    async def get_messages(self, request: web.Request) -> web.StreamResponse:
        who = await self._who(request)
        if isinstance(who, web.Response):
            return who
        if "before" in request.query:  # a page of history, oldest first
            before = typed_id(request.query["before"])
            if before is None:
                return refusal(400, "before must be an event id (an integer)")
            page = await self.events.before(who.person, min(before, MAX_ROW_ID), limit=PAGE)
            return web.json_response(
                {"events": [e.wire() for e in page], "more": len(page) == PAGE}
            )
        after = _after(request)
        if isinstance(after, web.Response):
            return after
        events = await self.events.after(who.person, after)
        last = events[-1].id if events else after
        return web.json_response({"events": [e.wire() for e in events], "last": last})

    async def get_file(self, request: web.Request) -> web.StreamResponse:
        """A file sent to the requester's own chat. Pictures are shown inline (the page's
        ``<img>``); anything else only as a download, so a file can never run as a page."""
        who = await self._who(request)
        if isinstance(who, web.Response):
            return who
        found = None
        if self.files is not None:
            found = await self.files.get(who.person, request.match_info["file_id"])
        if found is None:
            return refusal(404, "no such file (it may have expired)")
        image = found.kind == "image" and found.mime_type in INLINE_IMAGES
        disposition = "inline" if image else "attachment"
        return web.Response(
            body=found.data,
            content_type=found.mime_type if image else "application/octet-stream",
            headers={"Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(found.name)}"},
        )

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        who = await self._who(request)
        if isinstance(who, web.Response):
            return who
        after = _after(request)
        if isinstance(after, web.Response):
            return after
        if not self.channel.serving:  # stopping (the gateway outlives the channel by a drain)
            return unavailable()
        ws = web.WebSocketResponse(heartbeat=30, timeout=1.0)  # a closing handshake, at most
        ws.headers.update(SECURITY_HEADERS)
        await ws.prepare(request)
        if not self.channel.serving:  # it stopped during the handshake: no CLOSE would come
            await ws.close(code=WSCloseCode.TRY_AGAIN_LATER)
            return ws
        queue = self.channel.subscribe(who.person)  # before the replay: nothing falls between
        self._sockets.add(ws)
        try:
            sent = after
            for event in await self.events.after(who.person, after, limit=10_000):
                await ws.send_json(event.wire())
                sent = event.id
            await ws.send_json({"type": "ready", "last": sent})
            reader = asyncio.create_task(self._read(ws))
            try:
                while True:
                    getter = asyncio.create_task(queue.get())
                    done, _ = await asyncio.wait(
                        {getter, reader}, return_when=asyncio.FIRST_COMPLETED
                    )
                    if getter not in done:
                        getter.cancel()
                        break
                    push = getter.result()
                    if push is CLOSE:
                        break
                    if isinstance(push.get("id"), int) and push["id"] <= sent:
                        continue  # already in the replay
                    await ws.send_json(push)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
        except ConnectionResetError:
            pass
        finally:
            self.channel.unsubscribe(who.person, queue)
            self._sockets.discard(ws)
            await ws.close()
        return ws

    async def _read(self, ws: web.WebSocketResponse) -> None:
        """Until the client closes (clients send nothing but pings)."""
        async for message in ws:
            if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
