"""The web console's Approvals and People pages: JSON endpoints behind the gate.

An approval is decided the way a chat button decides it: ``/approve ID [CODE]`` or
``/deny ID`` enters the router as this person's console message, so the same rules hold
(a second person, TOTP where the hosts need it, the approver's permission) and the answer
appears in their console chat and the audit. Pairing requests are approved through the
pairing feature's desk (``PAIRING_DESK``: grant, welcome, audit) and rejected here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from assistant.core.errors import NotFound
from assistant.core.ports import Clock, HostDesk, PairingDesk
from assistant.core.roles import Role
from assistant.features.console.auth import refusal
from assistant.features.console.gate import Gate, Visitor
from assistant.router.access import Access
from assistant.store.approvals import ApprovalStore
from assistant.store.audit import AuditLog
from assistant.store.console import ConsoleTokens
from assistant.store.pairing import Pairing

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Say = Callable[[Visitor, str, web.Request], Awaitable[web.StreamResponse]]


def _int(value: str) -> int | None:
    return int(value) if value.isdecimal() and len(value) < 12 else None


class Desk:
    def __init__(
        self,
        gate: Gate,
        *,
        say: Say,
        approvals: ApprovalStore,
        pairing: Pairing,
        desk: Callable[[], PairingDesk | None],
        hosts: Callable[[], HostDesk | None],
        access: Access,
        owners: Callable[[], list[str]],
        tokens: ConsoleTokens,
        audit: AuditLog,
        clock: Clock,
    ) -> None:
        self._gate = gate
        self._say = say
        self._approvals = approvals
        self._pairing = pairing
        self._desk = desk
        self._hosts = hosts
        self._access = access
        self._owners = owners
        self._tokens = tokens
        self._audit = audit
        self._clock = clock

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", "/api/approvals", self.approvals),
            ("POST", "/api/approvals/{id}", self.decide),
            ("GET", "/api/people", self.people),
            ("POST", "/api/pairing/{channel}/{code}", self.pair),
            ("POST", "/api/tokens", self.create_token),
            ("POST", "/api/tokens/{name}/revoke", self.revoke_token),
        ]

    # --- approvals ------------------------------------------------------------------------------

    async def approvals(self, request: web.Request) -> web.StreamResponse:
        who = await self._gate.visitor(request, "approvals")
        if isinstance(who, web.Response):
            return who
        now = self._clock.time()
        pending = sorted(await self._approvals.pending(), key=lambda a: a.created_at)
        hosts = self._hosts()
        totp = {h.name for h in hosts.host_list() if h.require_totp} if hosts else set()
        rows = [
            {
                "id": a.id,
                "command": a.command,
                "hosts": list(a.hosts),
                "requester": a.requester,
                "requester_name": a.requester_name,
                "reason": a.reason,
                "age": max(0.0, now - a.created_at),
                "expires_in": max(0.0, a.expires_at - now),
                "mine": a.requester == who.account,
                "totp": bool(totp.intersection(a.hosts)),  # approving needs a current code
            }
            for a in pending
        ]
        return web.json_response({"approvals": rows})

    async def decide(self, request: web.Request) -> web.StreamResponse:
        posted = await self._gate.posted(request, "approvals")
        if isinstance(posted, web.Response):
            return posted
        who, body = posted
        approval = _int(request.match_info["id"])
        decision, code = body.get("decision"), body.get("code") or ""
        if approval is None or decision not in ("approve", "deny"):
            return refusal(400, 'send {"decision": "approve"|"deny", "code": "123456"}')
        if not isinstance(code, str) or (code and not (code.isdecimal() and len(code) <= 10)):
            return refusal(400, "a TOTP code is digits")
        text = (
            f"/approve {approval} {code}".strip() if decision == "approve" else f"/deny {approval}"
        )
        return await self._say(who, text, request)

    # --- people ---------------------------------------------------------------------------------

    async def people(self, request: web.Request) -> web.StreamResponse:
        who = await self._gate.visitor(request, "people")
        if isinstance(who, web.Response):
            return who
        now = self._clock.time()
        pairing = [
            {
                "channel": p.channel,
                "code": p.code,
                "user_id": p.user_id,
                "name": p.name,
                "age": max(0.0, now - p.created_at),
                "expires_in": max(0.0, p.expires_at - now),
            }
            for p in await self._pairing.pending()
        ]
        users: list[dict[str, Any]] = [
            {"account": o, "name": "", "role": Role.OWNER.value, "source": "config"}
            for o in self._owners()
        ]
        users += [
            {
                "account": f"{g.channel}:{g.user_id}",
                "name": g.name,
                "role": g.role.value,
                "source": g.granted_by,
            }
            for g in await self._access.users.granted()
        ]
        tokens = [
            {
                "name": t.name,
                "role": t.role.value,
                "created_by": t.created_by,
                "created_at": t.created_at,
                "last_used_at": t.last_used_at,
            }
            for t in await self._tokens.list()
        ]
        return web.json_response({"pairing": pairing, "users": users, "tokens": tokens})

    async def pair(self, request: web.Request) -> web.StreamResponse:
        posted = await self._gate.posted(request, "people")
        if isinstance(posted, web.Response):
            return posted
        who, body = posted
        channel, code = request.match_info["channel"], request.match_info["code"]
        decision, role = body.get("decision"), body.get("role", Role.USER.value)
        if decision == "reject":
            try:
                found = await self._pairing.revoke(channel, code, by=who.account)
            except NotFound:
                return refusal(404, f"no pending {channel} pairing request with code {code}")
            await self._audit.append(
                "pairing.rejected", who.account, channel=channel, user_id=found.user_id
            )
            return web.json_response({"done": True, "message": "rejected"})
        if decision != "approve" or not isinstance(role, str):
            return refusal(400, 'send {"decision": "approve", "role": "user"} or "reject"')
        desk = self._desk()
        if desk is None:
            return refusal(503, "pairing is not running")
        done, message = await desk.approve_pairing(
            channel, code, role, by=who.account, by_role=who.role.value
        )
        return web.json_response({"done": done, "message": message}, status=200 if done else 409)

    async def create_token(self, request: web.Request) -> web.StreamResponse:
        posted = await self._gate.posted(request, "people")
        if isinstance(posted, web.Response):
            return posted
        who, body = posted
        name, role = body.get("name"), body.get("role")
        if not isinstance(name, str) or role not in (Role.ADMIN.value, Role.USER.value):
            return refusal(400, 'send {"name": "ann", "role": "admin"|"user"}')
        try:
            token = await self._tokens.create(name, Role(role), by=who.account)
        except ValueError as exc:
            return refusal(409, str(exc))
        await self._audit.append("console.token_created", who.account, name=name, role=role)
        return web.json_response({"name": name, "role": role, "token": token}, status=201)

    async def revoke_token(self, request: web.Request) -> web.StreamResponse:
        who = await self._gate.visitor(request, "people")
        if isinstance(who, web.Response):
            return who
        name = request.match_info["name"]
        if not await self._tokens.revoke(name, by=who.account):
            return refusal(404, f"no console token named {name!r}")
        await self._audit.append("console.token_revoked", who.account, name=name)
        return web.json_response({"revoked": name})
