"""One guarded HTTP client for the web tools and the HTTP checks: every request and every
redirect hop goes through the SSRF guard's connector, with a scheme check, a redirect limit, a
total time limit, a cap on what is read, and nothing taken from the environment (no proxy, no
.netrc)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver
from multidict import CIMultiDict
from yarl import URL

from assistant.config.web import WebSection
from assistant.core.errors import ToolError
from assistant.net.guard import AddressPolicy, BlockedAddress, Guard
from assistant.net.tls import PeerCertificate, peer_certificate, trust

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# hop-by-hop and identity headers the model may not set
_FORBIDDEN_HEADERS = frozenset({"host", "connection", "transfer-encoding", "content-length"})


class FetchError(ToolError):
    """A request that got no answer. The message is a sentence for the model; ``kind`` says
    what went wrong (``timeout``, ``refused`` by the SSRF guard, ``connect``, ``invalid`` URL,
    ``redirects``, ``failed``) and ``reason`` the details, for a caller that words it itself."""

    def __init__(self, message: str, kind: str, reason: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str  # after redirects
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    truncated: bool
    charset: str | None

    def text(self) -> str:
        return self.body.decode(self.charset or "utf-8", errors="replace")

    @property
    def content_type(self) -> str:
        return next((v for k, v in self.headers if k.lower() == "content-type"), "")


class WebClient:
    """Use as an async context manager; ``configure`` applies a reloaded allowlist."""

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        timeout: float,
        max_redirects: int,
        max_download: int,
        user_agent: str,
        resolver: AbstractResolver | None = None,  # a test's fake DNS, wrapped by the guard
        ssl_context: ssl.SSLContext | None = None,  # None: the system's trusted CAs
    ) -> None:
        self.guard = Guard(policy)
        self.timeout = timeout
        self.max_redirects = max_redirects
        self.max_download = max_download
        self.user_agent = user_agent
        self._inner = resolver
        self._ssl = ssl_context
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def of(
        cls, section: WebSection, *, max_download: int, resolver: AbstractResolver | None = None
    ) -> WebClient:
        """A client under ``[web]``'s allowlist, trust, time limit, redirect limit and user
        agent (enabled or not: the HTTP checks' and the alert webhooks')."""
        return cls(
            AddressPolicy.of(section.allow_hosts, section.allow_networks),
            timeout=section.timeout,
            max_redirects=section.max_redirects,
            max_download=max_download,
            user_agent=section.user_agent,
            resolver=resolver,
            ssl_context=trust(section.ca_file) if section.ca_file else None,
        )

    def configure(self, section: WebSection) -> None:
        """Apply a reloaded ``[web]``: the allowlist, the limits and the user agent."""
        self.guard.policy = AddressPolicy.of(section.allow_hosts, section.allow_networks)
        self.timeout = section.timeout
        self.max_redirects = section.max_redirects
        self.user_agent = section.user_agent

    async def __aenter__(self) -> WebClient:
        connector = aiohttp.TCPConnector(
            resolver=self.guard.resolver(self._inner),
            socket_factory=self.guard.socket_factory(),
            use_dns_cache=False,
            limit=8,
            ssl=self._ssl if self._ssl is not None else True,
        )
        self._session = aiohttp.ClientSession(
            connector=connector, trust_env=False, auto_decompress=True
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def certificate(self, host: str, port: int, *, timeout: float) -> PeerCertificate:
        """The verified certificate ``host:port`` presents, through the same guard and trust;
        raises ``TlsFailure``."""
        if self._ssl is None:
            self._ssl = trust(None)  # what aiohttp's default is: the system's CAs
        context = self._ssl
        return await peer_certificate(
            self.guard, host, port, context=context, timeout=timeout, resolver=self._inner
        )

    async def fetch(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: str | bytes | None = None,
        max_bytes: int | None = None,
        timeout: float | None = None,
    ) -> Fetched:
        """One request, redirects followed by hand (each hop checked again), within
        ``timeout`` seconds (default: the client's); raises ``FetchError`` with a sentence the
        model can act on."""
        limit = timeout or self.timeout
        try:
            async with asyncio.timeout(limit):
                return await self._fetch(method, url, headers or {}, body, max_bytes)
        except TimeoutError:
            message = f"{url}: no complete answer within {limit:.0f} s"
            raise FetchError(message, "timeout") from None
        except BlockedAddress as exc:
            raise FetchError(f"refused by the SSRF guard: {exc}", "refused", str(exc)) from None
        except aiohttp.ClientConnectorCertificateError as exc:
            cause = exc.certificate_error
            reason = str(getattr(cause, "verify_message", "") or cause)
            message = f"{url}: cannot connect ({exc.os_error})"
            raise FetchError(message, "certificate", reason) from None
        except aiohttp.ClientConnectorError as exc:
            reason = str(exc.os_error)
            if isinstance(exc.os_error, BlockedAddress):
                message = f"refused by the SSRF guard: {reason}"
                raise FetchError(message, "refused", reason) from None
            raise FetchError(f"{url}: cannot connect ({reason})", "connect", reason) from None
        except aiohttp.InvalidURL as exc:
            message = f"{exc.url} is not a valid URL (or a non-canonical address)"
            raise FetchError(message, "invalid", str(exc.url)) from None
        except aiohttp.ClientError as exc:
            reason = f"{type(exc).__name__}: {exc}"
            raise FetchError(f"{url}: {reason}", "failed", reason) from None

    async def _fetch(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: str | bytes | None,
        max_bytes: int | None,
    ) -> Fetched:
        if self._session is None:
            raise RuntimeError("WebClient is not open")
        limit = max_bytes or self.max_download
        sent = CIMultiDict({"User-Agent": self.user_agent})
        sent.update({k: v for k, v in headers.items() if k.lower() not in _FORBIDDEN_HEADERS})
        target = URL(url)
        for _hop in range(self.max_redirects + 1):
            self.guard.policy.check_url(target)
            async with self._session.request(
                method,
                target,
                headers=sent,
                data=body.encode() if isinstance(body, str) else body,
                allow_redirects=False,
                proxy=None,
            ) as response:
                location = response.headers.get("Location")
                after = method
                if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                    after = "HEAD" if method == "HEAD" else "GET"
                # a write goes only where it was judged (and approved): a redirect that would
                # repeat it elsewhere is the answer; reads follow, every hop checked again
                if response.status in _REDIRECTS and location and after in ("GET", "HEAD"):
                    target = target.join(URL(location))
                    if after != method:
                        method, body = after, None
                    if _origin(target) != _origin(response.url):
                        sent.popall("Authorization", None)
                        sent.popall("Cookie", None)
                    continue
                data, truncated = await _read(response, limit, method)
                return Fetched(
                    url=str(response.url),
                    status=response.status,
                    reason=response.reason or "",
                    headers=tuple(response.headers.items()),
                    body=data,
                    truncated=truncated,
                    charset=response.charset,
                )
        message = f"{url}: more than {self.max_redirects} redirects"
        raise FetchError(message, "redirects", str(self.max_redirects))


def _origin(url: URL) -> tuple[str, str | None, int | None]:
    """Where credentials were given for: scheme, host and port."""
    return url.scheme, url.host, url.port


async def _read(response: aiohttp.ClientResponse, limit: int, method: str) -> tuple[bytes, bool]:
    if method == "HEAD":
        return b"", False
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(65_536):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False
