"""Checking a webhook request from Feishu before anything is done with it. Pure.

With an encrypt key, Feishu signs every event request (``X-Lark-Request-Timestamp``,
``X-Lark-Request-Nonce``, ``X-Lark-Signature``); the signature is checked first, in constant
time, and the timestamp must be within the window (a captured request cannot be replayed
later). The body is then decrypted and its verification token compared, also in constant
time. The ``url_verification`` challenge is answered after the token check alone (Feishu may
send it unsigned). Every failure of authentication is the same 401, so that the answer tells
an attacker nothing about which check failed.

A body that is not JSON (or not an object) is a 400. One that is JSON but more than our parser
takes (nested too deep, a number too large) is ``Poison`` when Feishu's signature vouches for
it (the adapter dead-letters it and answers 200), else a 400: nobody can tell who sent it.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from assistant.channels.feishu.crypto import DecryptError, decrypt, signature_valid

TIMESTAMP = "X-Lark-Request-Timestamp"
NONCE = "X-Lark-Request-Nonce"
SIGNATURE = "X-Lark-Signature"


@dataclass(frozen=True, slots=True)
class Rejected:
    status: int
    reason: str  # for our log, never for the caller


@dataclass(frozen=True, slots=True)
class Poison:
    """A signed request whose JSON this parser cannot take."""

    raw: bytes | str
    error: BaseException


def _parse(text: bytes | str, *, signed: bool, not_json: Rejected) -> Any:
    """The JSON value, or why not: ``not_json``, or ``Poison`` (JSON we cannot take)."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return not_json
    except (ValueError, RecursionError) as exc:
        if signed:
            return Poison(text, exc)
        return Rejected(400, f"JSON this parser cannot take ({type(exc).__name__}), unsigned")


def _token_of(payload: Mapping[str, Any]) -> Any:
    header = payload.get("header")
    if isinstance(header, Mapping) and "token" in header:
        return header.get("token")
    return payload.get("token")


def open_request(
    body: bytes,
    headers: Mapping[str, str],
    *,
    verification_token: str,
    encrypt_key: str | None,
    window: float,
    now: float,
) -> dict[str, Any] | Rejected | Poison:
    """The verified, decrypted payload; or why it is refused; or what cannot be read."""
    signed = False
    timestamp, nonce, given = headers.get(TIMESTAMP), headers.get(NONCE), headers.get(SIGNATURE)
    if encrypt_key and given is not None:
        if timestamp is None or nonce is None:
            return Rejected(401, "signature without timestamp or nonce")
        try:
            age = abs(now - float(timestamp))
        except ValueError:
            return Rejected(401, "timestamp is not a number")
        if age > window:
            return Rejected(401, f"timestamp is {age:.0f}s away from now (window {window:g}s)")
        if not signature_valid(timestamp, nonce, encrypt_key, body, given):
            return Rejected(401, "wrong signature")
        signed = True
    payload = _parse(body, signed=signed, not_json=Rejected(400, "body is not JSON"))
    if isinstance(payload, Rejected | Poison):
        return payload
    if not isinstance(payload, dict):
        return Rejected(400, "body is not a JSON object")
    if "encrypt" in payload:
        if not encrypt_key:
            return Rejected(401, "the body is encrypted; set [feishu] encrypt_key")
        try:
            plain = decrypt(str(payload["encrypt"]), encrypt_key)
        except (DecryptError, ValueError):
            return Rejected(401, "the body does not decrypt with [feishu] encrypt_key")
        wrong_key = Rejected(401, "the body does not decrypt with [feishu] encrypt_key")
        payload = _parse(plain, signed=signed, not_json=wrong_key)
        if isinstance(payload, Rejected | Poison):
            return payload
        if not isinstance(payload, dict):
            return Rejected(400, "decrypted body is not a JSON object")
    token = _token_of(payload)
    if not isinstance(token, str) or not hmac.compare_digest(
        token.encode("utf-8", "surrogatepass"), verification_token.encode()
    ):
        return Rejected(401, "wrong or missing verification token")
    if payload.get("type") == "url_verification":
        return payload
    if encrypt_key and not signed:
        return Rejected(401, "unsigned request (an encrypt key is set: Feishu signs events)")
    return payload
