"""Who may open which page of the web console: every endpoint asks the gate, on the server.

A page needs a permission of the person's role (the config may change what a role has), and
the staff pages (Hosts, Audit, System) need the owner or admin role as well. What a ``user``
sees of Jobs and Memory is their own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from assistant.core import i18n
from assistant.core.roles import Permission, Role
from assistant.features.console.auth import Authenticator, Principal, refusal
from assistant.security.policy import Policy
from assistant.store.console import CHANNEL

RoleOf = Callable[[str], Awaitable[str | None]]
STAFF = (Role.OWNER, Role.ADMIN)


@dataclass(frozen=True, slots=True)
class Page:
    name: str
    permission: Permission
    staff: bool = False  # owner or admin only


PAGES = (
    Page("chat", Permission.CHAT),
    Page("approvals", Permission.APPROVE),
    Page("people", Permission.ADMIN),
    Page("jobs", Permission.SCHEDULE),
    Page("memory", Permission.MEMORY),
    Page("hosts", Permission.EXEC_READONLY, staff=True),
    Page("audit", Permission.SYSTEM, staff=True),
    Page("system", Permission.SYSTEM, staff=True),
)
BY_NAME = {p.name: p for p in PAGES}


@dataclass(frozen=True, slots=True)
class Visitor:
    principal: Principal
    role: Role

    @property
    def person(self) -> str:
        return self.principal.person

    @property
    def account(self) -> str:
        """How the audit and the jobs name this person: ``console:NAME``."""
        return f"{CHANNEL}:{self.principal.person}"

    @property
    def staff(self) -> bool:
        return self.role in STAFF


class Gate:
    def __init__(self, auth: Authenticator, role_of: RoleOf, policy: Policy) -> None:
        self._auth = auth
        self._role_of = role_of
        self._policy = policy

    def pages(self, role: Role) -> list[str]:
        return [p.name for p in PAGES if self._may(role, p)]

    def _may(self, role: Role, page: Page) -> bool:
        if page.staff and role not in STAFF:
            return False
        return self._policy.allows(role, page.permission)

    async def visitor(self, request: web.Request, page: str) -> Visitor | web.Response:
        """The requester if their role may use ``page``; else the refusal (401/403/429)."""
        principal = await self._auth.principal(request)
        if isinstance(principal, web.Response):
            return principal
        role = await self._role_of(principal.person)
        if role is None:
            return refusal(403, "this console token has no role any more")
        visitor = Visitor(principal, Role(role))
        if not self._may(visitor.role, BY_NAME[page]):
            return refusal(403, f"the {role} role may not use the {page} page")
        return visitor

    async def posted(
        self, request: web.Request, page: str
    ) -> tuple[Visitor, dict[str, Any]] | web.Response:
        """The requester (as ``visitor``) and the JSON object they sent."""
        who = await self.visitor(request, page)
        if isinstance(who, web.Response):
            return who
        body = await json_body(request)
        return body if isinstance(body, web.Response) else (who, body)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def localized(handler: Handler) -> Handler:
    """What a page's endpoint says (a job's schedule, an answer) in the browser's language."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        with i18n.using(i18n.accept_language(request.headers.get("Accept-Language"))):
            return await handler(request)

    return wrapped


async def json_body(request: web.Request) -> dict[str, Any] | web.Response:
    if request.content_type != "application/json":
        return refusal(415, "send JSON (Content-Type: application/json)")
    try:
        body = await request.json()
    except ValueError:
        return refusal(400, "the body is not JSON")
    if not isinstance(body, dict):
        return refusal(400, "the body must be a JSON object")
    return body
