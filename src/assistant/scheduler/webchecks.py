"""HTTP and TLS checks: a request or a handshake through the SSRF-guarded client of
``assistant.net`` (the web tools' guard, allowlist and trust), judged into an ``Observation``.

Who may create one: a person whose role has ``web.read`` (what GET requests of the web tools
need); the creator's role is looked at again on every run, and a check whose creator lost the
permission reports that instead of making the request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime

from yarl import URL

from assistant.core.i18n import N_, ngettext, tr
from assistant.core.ports import Clock
from assistant.core.roles import Permission
from assistant.net.client import FetchError, WebClient
from assistant.net.guard import BlockedAddress
from assistant.net.tls import TlsFailure
from assistant.scheduler.checks import Observation
from assistant.scheduler.patterns import search
from assistant.scheduler.types import HttpCheck, TlsCheck, WebCheck, duration, status_range

PermissionsOf = Callable[[str, str], Awaitable[Collection[Permission]]]  # (channel, user id)

BODY_BYTES = 262_144  # of a body the regex looks at
NO_WEB_READ = N_(
    "HTTP and TLS checks need the web.read permission (what web requests need), and your "
    "role does not have it."
)
REFUSED = N_(
    "refused by the SSRF guard ({reason}); [web] allow_hosts or allow_networks in the config "
    "can open an internal address"
)
_REASONS = {
    "timeout": N_("no answer within {seconds:g} s"),
    "refused": REFUSED,
    "connect": N_("cannot connect ({reason})"),
    "certificate": N_("the certificate does not verify ({reason})"),
    "handshake": N_("the TLS handshake failed ({reason})"),
    "invalid": N_("not a valid URL ({reason})"),
    "redirects": N_("more than {reason} redirects"),
    "failed": N_("the request failed ({reason})"),
}


def _reason(kind: str, reason: str, seconds: float) -> str:
    return tr(_REASONS.get(kind, _REASONS["failed"])).format(reason=reason, seconds=seconds)


def _took(seconds: float) -> str:
    if seconds < 10:
        return tr("{ms} ms").format(ms=round(seconds * 1000))
    return duration(round(seconds, 1))


class WebChecks:
    def __init__(
        self, client: WebClient, clock: Clock, permissions_of: PermissionsOf | None = None
    ) -> None:
        self.client = client
        self._clock = clock
        self._permissions_of = permissions_of

    def refusal(self, task: WebCheck, permissions: Collection[Permission] | None) -> str | None:
        """Why ``task`` may not be created by someone with ``permissions`` (None: unknown),
        else None. An address the guard refuses whatever it resolves to is refused now."""
        if permissions is None or Permission.WEB_READ not in permissions:
            return tr(NO_WEB_READ)
        if isinstance(task, HttpCheck):
            url = URL(task.url)
        else:
            url = URL.build(scheme="https", host=task.host, port=task.port)
        try:
            self.client.guard.policy.check_url(url)
        except BlockedAddress as exc:
            return tr("That address is {refused}.").format(refused=tr(REFUSED).format(reason=exc))
        except ValueError as exc:
            return str(exc)
        return None

    async def observe(self, task: WebCheck, channel: str, user_id: str) -> Observation:
        if self._permissions_of is not None:
            permissions = await self._permissions_of(channel, user_id)
            if Permission.WEB_READ not in permissions:
                refusal = tr("the creator's role no longer has web.read")
                detail = tr("the check may no longer run: {refusal}").format(refusal=refusal)
                return Observation(True, None, detail)
        if isinstance(task, HttpCheck):
            return await self.observe_http(task)
        return await self.observe_tls(task)

    async def observe_http(self, task: HttpCheck) -> Observation:
        said = {"method": task.method, "url": task.url}
        started = self._clock.monotonic()
        try:
            got = await self.client.fetch(
                task.method, task.url, max_bytes=BODY_BYTES, timeout=task.timeout
            )
        except FetchError as exc:
            reason = _reason(exc.kind, exc.reason, task.timeout)
            detail = tr("{method} {url} failed: {reason}").format(reason=reason, **said)
            return Observation(True, None, detail)
        took = self._clock.monotonic() - started
        said.update(status=str(got.status), time=_took(took))
        low, high = status_range(task.status)
        if not low <= got.status <= high:
            seen = tr("{method} {url} answered {status} in {time}, expected {expected}")
            return Observation(True, took, seen.format(expected=task.status, **said))
        if task.max_latency is not None and took > task.max_latency:
            seen = tr("{method} {url} answered {status} in {time}, slower than {limit}")
            return Observation(True, took, seen.format(limit=_took(task.max_latency), **said))
        # a person's regex on a large body may backtrack for long: off the loop, time-limited
        if task.regex and not await search(task.regex, got.text()):
            seen = tr("{method} {url} answered {status}, but the body does not match /{regex}/")
            return Observation(True, took, seen.format(regex=task.regex, **said))
        seen = tr("{method} {url} answered {status} in {time}")
        return Observation(False, took, seen.format(**said))

    async def observe_tls(self, task: TlsCheck) -> Observation:
        try:
            cert = await self.client.certificate(task.host, task.port, timeout=task.timeout)
        except TlsFailure as exc:
            reason = _reason(exc.kind, exc.reason, task.timeout)
            detail = tr("TLS on {target}: {reason}").format(target=task.target, reason=reason)
            return Observation(True, None, detail)
        left = (cert.not_after - self._clock.time()) / 86400
        days = max(0, int(left))
        on = datetime.fromtimestamp(cert.not_after, UTC).strftime("%Y-%m-%d")
        if left < task.days:
            seen = ngettext(
                "the certificate of {target} expires on {date}, in {days} day "
                "(alert at {limit} days)",
                "the certificate of {target} expires on {date}, in {days} days "
                "(alert at {limit} days)",
                days,
            )
        else:
            seen = ngettext(
                "the certificate of {target} is valid until {date} ({days} day left)",
                "the certificate of {target} is valid until {date} ({days} days left)",
                days,
            )
        detail = seen.format(target=task.target, date=on, days=days, limit=task.days)
        return Observation(left < task.days, round(left, 2), detail)
