"""A second factor for approvals: a current TOTP code (RFC 6238, 30 s steps, 6 digits) from
the approver's authenticator app. One secret per approver; each code works once."""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Callable
from enum import StrEnum

from assistant.store.totp import TotpStore

STEP = 30  # seconds


class Check(StrEnum):
    OK = "ok"
    INVALID = "invalid"
    REUSED = "reused"
    NOT_ENROLLED = "not_enrolled"


class SecondFactor:
    def __init__(self, store: TotpStore, *, now: Callable[[], float] = time.time) -> None:
        self._store = store
        self._now = now

    async def enroll(self, principal: str, *, issuer: str = "assistant") -> tuple[str, str]:
        """A new secret for ``principal`` (replacing any old one): (secret, otpauth:// URI)."""
        import pyotp

        secret = pyotp.random_base32()
        await self._store.put(principal, secret)
        uri = pyotp.TOTP(secret).provisioning_uri(name=principal, issuer_name=issuer)
        return secret, uri

    async def enrolled(self, principal: str) -> bool:
        return await self._store.get(principal) is not None

    async def verify(self, principal: str, code: str) -> Check:
        import pyotp

        record = await self._store.get(principal)
        if record is None:
            return Check.NOT_ENROLLED
        code = re.sub(r"\s", "", code)
        if not re.fullmatch(r"\d{6}", code):
            return Check.INVALID
        totp = pyotp.TOTP(record.secret)
        current = int(self._now() // STEP)
        for step in (current, current - 1, current + 1):  # one step of clock drift either way
            if hmac.compare_digest(totp.at(step * STEP), code):
                if await self._store.use_step(principal, step):
                    return Check.OK
                return Check.REUSED
        return Check.INVALID
