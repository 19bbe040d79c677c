"""Checking WhatsApp webhook requests before anything is done with them. Pure.

The subscription handshake (``GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…``)
is answered with the challenge when the token matches (compared in constant time), else 403.
Every delivery (``POST``) carries ``X-Hub-Signature-256: sha256=<hex>``, the HMAC-SHA256 of
the raw body keyed with the app secret; it is compared in constant time, and anything that is
not signed so is a 401 before its body is parsed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

SIGNATURE = "X-Hub-Signature-256"


def signature(body: bytes, app_secret: str) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def signed(body: bytes, headers: Mapping[str, str], app_secret: str) -> bool:
    given = headers.get(SIGNATURE)
    if not given:
        return False
    expected = signature(body, app_secret)
    return hmac.compare_digest(given.strip().encode("utf-8", "replace"), expected.encode())


def handshake(query: Mapping[str, str], verify_token: str) -> str | None:
    """The challenge to echo, or None: not a subscription with our token."""
    token = query.get("hub.verify_token", "")
    if query.get("hub.mode") != "subscribe":
        return None
    if not hmac.compare_digest(token.encode("utf-8", "replace"), verify_token.encode()):
        return None
    return query.get("hub.challenge", "")
