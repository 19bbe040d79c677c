"""The SSRF guard: which addresses an HTTP tool may connect to, and a connector that connects
only to addresses it checked.

Two layers, both inside aiohttp's connector, so the address that is checked is the address
that is connected to (no second DNS lookup, so no DNS rebinding between check and connect):
the resolver drops every resolved address that is not allowed (a name with none left is
refused), and the socket factory refuses a connect to any address that is not allowed (IP
literals in URLs skip the resolver). Before that, ``check_url`` refuses schemes other than
http(s) and numeric hosts in any spelling ``inet_aton`` accepts (``2130706433``, ``0177.1``,
``0x7f.0.0.1``) that stand for a refused address.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

SCHEMES = frozenset({"http", "https"})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_METADATA = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
# refused whatever this Python's ``is_global`` says of them (its tables changed over versions)
_ALSO_REFUSED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "100.64.0.0/10",
        "192.0.0.0/24",
        "198.18.0.0/15",
        "2001:db8::/32",
        "64:ff9b:1::/48",  # NAT64 for local use (RFC 8215): a translator to internal IPv4
        "fec0::/10",  # site-local (deprecated, still routed inside old networks)
    )
)
_TRANSLATED = 0xFFFF0000  # ::ffff:0:a.b.c.d, IPv4-translated (RFC 2765, SIIT)


class BlockedAddress(OSError):
    """A connection the guard refused (an ``OSError`` so aiohttp carries it as the cause)."""


def embedded_ipv4(address: Address) -> Address:
    """The IPv4 address an IPv6 form carries (mapped, translated, compatible, 6to4, Teredo,
    NAT64), else ``address`` itself: ``::ffff:127.0.0.1`` is judged as 127.0.0.1."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or int(address) >> 32 == _TRANSLATED:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0 and int(address) > 1:  # ::a.b.c.d (IPv4-compatible)
        return ipaddress.IPv4Address(int(address))
    return address


def is_public(address: Address) -> bool:
    """Globally routable unicast: not loopback, private (RFC 1918, fc00::/7), link-local,
    CGNAT (100.64/10), multicast, unspecified, reserved or a cloud metadata address — in any
    IPv6 form that embeds an IPv4 address."""
    inner = embedded_ipv4(address)
    for a in {address, inner}:
        if a in _METADATA or a.is_multicast or not a.is_global:
            return False
        if any(a in n for n in _ALSO_REFUSED if n.version == a.version):
            return False
    return True


def parse_ip(text: str) -> Address | None:
    """An address from a URL host or a resolver answer: canonical forms, an IPv6 zone
    (``fe80::1%eth0``), and every IPv4 spelling ``inet_aton`` accepts (1–4 parts, each
    decimal, octal with a leading 0, or hex with 0x); None for a host name."""
    text = text.strip().strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    parts = text.rstrip(".").split(".") if text else []
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for part in parts:
        try:
            if part.lower().startswith("0x"):
                numbers.append(int(part[2:] or "0", 16))
            elif len(part) > 1 and part.startswith("0"):
                numbers.append(int(part, 8))
            else:
                numbers.append(int(part, 10) if part.isdigit() else -1)
        except ValueError:
            return None
    if any(n < 0 for n in numbers):
        return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        return None
    value = 0
    for n in head:
        value = value << 8 | n
    value = value << 8 * (5 - len(numbers)) | last
    return ipaddress.IPv4Address(value)


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """What may be reached beyond the public internet: host names and networks the config
    names explicitly (``[web] allow_hosts``, ``allow_networks``)."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()
    schemes: frozenset[str] = field(default=SCHEMES)

    @classmethod
    def of(cls, hosts: Iterable[str] = (), networks: Iterable[str] = ()) -> AddressPolicy:
        return cls(
            frozenset(h.lower().rstrip(".") for h in hosts),
            tuple(ipaddress.ip_network(n, strict=False) for n in networks),
        )

    def allows(self, address: Address, host: str | None = None) -> bool:
        if host is not None and host.lower().rstrip(".") in self.hosts:
            return True
        if any(
            a in n
            for a in {address, embedded_ipv4(address)}
            for n in self.networks
            if a.version == n.version
        ):
            return True
        return is_public(address)

    def check_url(self, url: URL) -> None:
        """Refuse what is wrong before any lookup: the scheme, a missing host, and a numeric
        host (in any spelling) for a refused address."""
        if url.scheme not in self.schemes:
            raise BlockedAddress(
                f"the scheme {url.scheme or 'none'!r} is not allowed (http, https)"
            )
        host = url.raw_host or ""
        if not host:
            raise BlockedAddress(f"{url} has no host")
        address = parse_ip(host)
        if address is not None and not self.allows(address, host):
            raise BlockedAddress(f"{host} is a private or reserved address")


class Guard:
    """The policy in force (replaced on reload) and the two connector layers that apply it."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy
        # addresses of names allowed by name ([web] allow_hosts), as the resolver returned them:
        # the socket factory sees only the address
        self._by_name: set[Address] = set()

    def resolver(self, inner: AbstractResolver | None = None) -> GuardedResolver:
        return GuardedResolver(self, inner)

    def allowed(self, ip: str, host: str | None) -> bool:
        address = parse_ip(ip)
        if address is None:
            return False
        if host is not None and host.lower().rstrip(".") in self.policy.hosts:
            self._by_name.add(address)
            return True
        return self.policy.allows(address)

    def socket_factory(self) -> Callable[[Any], socket.socket]:
        """The last check, on every connect: IP-literal URLs never reach the resolver."""

        def factory(addr_info: Sequence[Any]) -> socket.socket:
            family, type_, proto, _canonical, sockaddr = addr_info
            address = parse_ip(str(sockaddr[0]))
            if address is None or not (self.policy.allows(address) or address in self._by_name):
                raise BlockedAddress(f"connecting to {sockaddr[0]} is not allowed")
            return socket.socket(family, type_, proto)

        return factory


class GuardedResolver(AbstractResolver):
    """Resolves with ``inner`` and keeps only allowed addresses; none left: refused."""

    def __init__(self, guard: Guard, inner: AbstractResolver | None = None) -> None:
        self._guard = guard
        self._inner = inner or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        infos = await self._inner.resolve(host, port, family)
        kept = [i for i in infos if self._guard.allowed(i["host"], host)]
        if not kept:
            seen = ", ".join(sorted({i["host"] for i in infos})) or "nothing"
            raise BlockedAddress(f"{host} resolves only to refused addresses ({seen})")
        return kept

    async def close(self) -> None:
        await self._inner.close()
