"""Who is asking: the owner's console token, a person's token, or a browser session.

A request is authenticated by ``Authorization: Bearer TOKEN`` (the terminal client; no cookie,
so no CSRF question) or by the session cookie a login set. A cookie-authenticated request that
changes something must carry the session's CSRF token in ``X-CSRF-Token`` (the same value is
in the readable ``assistant_csrf`` cookie: double submit) and, like every POST here, be JSON
(a cross-site form cannot send that without a preflight). Failed logins are counted per client
address; past the limit in a minute the address gets 429 until the minute is over.
"""

from __future__ import annotations

import hmac
from collections import deque
from dataclasses import dataclass

from aiohttp import web

from assistant.config import ConsoleSection
from assistant.core.ports import Clock
from assistant.store.console import OWNER, ConsoleSessions, ConsoleTokens, Session

SESSION_COOKIE = "assistant_session"
CSRF_COOKIE = "assistant_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True, slots=True)
class Principal:
    person: str  # "local" for the owner's token, else the token's name
    session: Session | None = None  # None: bearer token


def refusal(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def is_tls(request: web.Request) -> bool:
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


class LoginLimiter:
    """At most ``per_minute`` failed logins a minute from one client address."""

    def __init__(self, per_minute: int, clock: Clock) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, address: str) -> deque[float]:
        now = self._clock.monotonic()
        times = self._failures.get(address, deque())
        while times and now - times[0] >= 60:
            times.popleft()
        if not times:
            self._failures.pop(address, None)
        return times

    def retry_after(self, address: str) -> int | None:
        """Seconds until ``address`` may try again, or None when it may now."""
        times = self._recent(address)
        if len(times) < self.per_minute:
            return None
        return max(1, int(60 - (self._clock.monotonic() - times[0])) + 1)

    def failed(self, address: str) -> None:
        self._recent(address)
        if len(self._failures) > 10_000:  # bounded: forget the oldest addresses
            self._failures.pop(next(iter(self._failures)))
        self._failures.setdefault(address, deque()).append(self._clock.monotonic())


class Authenticator:
    def __init__(
        self,
        config: ConsoleSection,
        *,
        tokens: ConsoleTokens,
        sessions: ConsoleSessions,
        clock: Clock,
    ) -> None:
        self.config = config
        self.tokens = tokens
        self.sessions = sessions
        self.clock = clock
        self.limiter = LoginLimiter(config.login_failures_per_minute, clock)

    def configure(self, config: ConsoleSection) -> None:
        self.config = config
        self.limiter.per_minute = config.login_failures_per_minute

    async def person_of_token(self, token: str) -> str | None:
        owner = self.config.token
        if owner is not None and hmac.compare_digest(
            token.encode(), owner.get_secret_value().encode()
        ):
            return OWNER
        if not token:
            return None
        return await self.tokens.person(token, now=self.clock.time())

    async def principal(self, request: web.Request) -> Principal | web.Response:
        """The requester, or the response refusing them (401, 403 or 429)."""
        address = request.remote or "?"
        header = request.headers.get("Authorization", "")
        if header:
            wait = self.limiter.retry_after(address)
            if wait is not None:
                return refusal(
                    429, "too many failed logins; try again later", **{"Retry-After": str(wait)}
                )
            scheme, _, token = header.partition(" ")
            person = await self.person_of_token(token.strip()) if scheme == "Bearer" else None
            if person is None:
                self.limiter.failed(address)
                return refusal(
                    401,
                    "the console token is wrong or was revoked",
                    **{"WWW-Authenticate": "Bearer"},
                )
            return Principal(person)
        secret = request.cookies.get(SESSION_COOKIE, "")
        session = await self.sessions.get(secret, now=self.clock.time()) if secret else None
        if session is None:
            return refusal(
                401,
                "not logged in: POST /api/login with the console token, or send "
                "Authorization: Bearer TOKEN",
                **{"WWW-Authenticate": "Bearer"},
            )
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            given = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(given.encode(), session.csrf.encode()):
                return refusal(403, f"missing or wrong {CSRF_HEADER} header (CSRF protection)")
        origin = request.headers.get("Origin")
        if origin is not None and origin.split("://", 1)[-1] != request.host:
            return refusal(403, "cross-origin requests are refused")
        return Principal(session.person, session)

    async def login(self, request: web.Request, token: str) -> web.Response:
        address = request.remote or "?"
        wait = self.limiter.retry_after(address)
        if wait is not None:
            return refusal(
                429, "too many failed logins; try again in a minute", **{"Retry-After": str(wait)}
            )
        person = await self.person_of_token(token)
        if person is None:
            self.limiter.failed(address)
            return refusal(401, "the console token is wrong or was revoked")
        secret, session = await self.sessions.open(
            person, now=self.clock.time(), hours=self.config.session_hours
        )
        response = web.json_response({"person": person, "csrf": session.csrf})
        secure = is_tls(request)
        max_age = int(self.config.session_hours * 3600)
        response.set_cookie(
            SESSION_COOKIE,
            secret,
            httponly=True,
            samesite="Strict",
            secure=secure,
            path="/",
            max_age=max_age,
        )
        response.set_cookie(
            CSRF_COOKIE,
            session.csrf,
            httponly=False,
            samesite="Strict",
            secure=secure,
            path="/",
            max_age=max_age,
        )
        return response

    async def logout(self, request: web.Request) -> web.Response:
        secret = request.cookies.get(SESSION_COOKIE, "")
        if secret:
            await self.sessions.close(secret)
        response = web.json_response({"logged_out": True})
        response.del_cookie(SESSION_COOKIE, path="/")
        response.del_cookie(CSRF_COOKIE, path="/")
        return response
