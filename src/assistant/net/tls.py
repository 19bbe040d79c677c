"""A TLS handshake through the SSRF guard, to read a server's certificate (the TLS checks).

The name is resolved by the guarded resolver and every connect goes through the guard's socket
factory, as for HTTP; the handshake verifies the chain against the trusted CAs and the name
against the certificate, so a certificate that does not verify is a failure with OpenSSL's
reason ("certificate has expired", "self-signed certificate", a name mismatch).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from aiohttp.abc import AbstractResolver
from yarl import URL

from assistant.core.errors import ConfigError
from assistant.net.guard import BlockedAddress, Guard

__all__ = ["PeerCertificate", "TlsFailure", "peer_certificate", "trust"]


@dataclass(frozen=True, slots=True)
class PeerCertificate:
    not_after: float  # seconds since the epoch
    subject: str  # its common name, if any


class TlsFailure(Exception):
    """No verified handshake. ``kind``: ``certificate`` (does not verify), ``handshake``,
    ``refused`` (SSRF guard), ``connect`` or ``timeout``; ``reason``: the details."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason


def trust(ca_file: Path | None) -> ssl.SSLContext:
    """The system's trusted CAs, plus those in ``ca_file`` (PEM) when given."""
    context = ssl.create_default_context()
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            problem = f"[web] ca_file: cannot load {ca_file} ({exc.strerror or exc})"
            raise ConfigError([f"{problem}; give a PEM file of CA certificates"]) from None
    return context


async def peer_certificate(
    guard: Guard,
    host: str,
    port: int,
    *,
    context: ssl.SSLContext,
    timeout: float,
    resolver: AbstractResolver | None = None,
) -> PeerCertificate:
    """The verified certificate ``host:port`` presents; raises ``TlsFailure``."""
    try:
        async with asyncio.timeout(timeout):
            return await _handshake(guard, host, port, context, resolver)
    except TimeoutError:
        raise TlsFailure("timeout", f"no handshake within {timeout:g} s") from None
    except BlockedAddress as exc:
        raise TlsFailure("refused", str(exc)) from None
    except ssl.SSLCertVerificationError as exc:
        reason = exc.verify_message or exc.reason or str(exc)
        raise TlsFailure("certificate", str(reason)) from None
    except ssl.SSLError as exc:
        reason = str(exc.reason or exc)  # OpenSSL's code, e.g. WRONG_VERSION_NUMBER: in words
        if reason.replace("_", "").isupper():
            reason = reason.replace("_", " ").lower()
        raise TlsFailure("handshake", reason) from None
    except OSError as exc:
        raise TlsFailure("connect", exc.strerror or str(exc)) from None


async def _handshake(
    guard: Guard,
    host: str,
    port: int,
    context: ssl.SSLContext,
    resolver: AbstractResolver | None,
) -> PeerCertificate:
    guard.policy.check_url(URL.build(scheme="https", host=host, port=port))
    infos = await guard.resolver(resolver).resolve(host, port, socket.AF_UNSPEC)
    loop = asyncio.get_running_loop()
    factory = guard.socket_factory()
    error: OSError = OSError(f"{host} has no address")
    for info in infos:
        address = (info["host"], port)
        sock = factory((info["family"], socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address))
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        try:
            transport, _ = await loop.create_connection(
                asyncio.Protocol, sock=sock, ssl=context, server_hostname=host
            )
        except BaseException:
            sock.close()
            raise
        try:
            ssl_object = transport.get_extra_info("ssl_object")
            cert = ssl_object.getpeercert() if ssl_object is not None else None
        finally:
            transport.close()
        if not cert or "notAfter" not in cert:
            raise ssl.SSLError(f"{host}:{port} presented no certificate")
        subject = dict(pair for rdn in cert.get("subject", ()) for pair in rdn)
        return PeerCertificate(
            ssl.cert_time_to_seconds(str(cert["notAfter"])), str(subject.get("commonName", ""))
        )
    raise error
