"""Masking of secrets in anything that leaves the process: logs, errors, health details.

Two nets: values under secret-looking keys are replaced whole, and every string is scanned
for secret-shaped substrings (bot tokens, bearer headers, API keys, PEM keys, credential query
parameters) and for the literal secret values the config holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "**********"

_SECRET_KEY = re.compile(
    r"(?:^|_|-)(?:token|secret|password|passwd|authorization|api[_-]?key|encrypt_key|"
    r"verification_token|app_secret|private_key|cookie|access_key|ticket|credentials?|"
    r"appsecret|accesskey|encryptkey|verificationtoken|accesstoken|tenantaccesstoken)$",
    re.IGNORECASE,
)

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # PEM private keys (whole block, even when truncated at the end)
    (
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)",
            re.DOTALL,
        ),
        MASK,
    ),
    # Telegram bot tokens, also inside /bot123:ABC/ URLs (no \b before the digits)
    (re.compile(r"(?<![0-9])\d{6,12}:[A-Za-z0-9_-]{30,}"), MASK),
    # Authorization: Bearer / Basic values
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + MASK),
    # credentials in query strings
    (
        re.compile(
            r"(?i)([?&;](?:access_key|ticket|token|access_token|api_key|apikey|key|secret|"
            r"sign|signature|password)=)[^&\s\"'#]+"
        ),
        r"\1" + MASK,
    ),
    # key = value / "key": "value" pairs inside free text
    (
        re.compile(
            r"(?i)((?:api[_-]?key|x-api-key|app_secret|secret|password|passwd|"
            r"access_token|tenant_access_token|encrypt_key|verification_token)"
            r"[\"']?\s*[:=]\s*[\"']?)[^\s\"',}&]{4,}"
        ),
        r"\1" + MASK,
    ),
    # quoted JSON keys that are secrets only in JSON: Feishu's event token, lark's ticket
    (re.compile(r'(?i)("(?:token|ticket|access_key)"\s*:\s*")[^"]{4,}'), r"\1" + MASK),
    # vendor key shapes: OpenAI/DeepSeek/Moonshot sk-..., Anthropic sk-ant-..., Feishu
    # tenant (t-), user (u-), app (a-) access tokens and card update tokens (c-)
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), MASK),
    (re.compile(r"\b[tuac]-[A-Za-z0-9_]{30,}"), MASK),
    # GitHub, GitLab, Slack, Hugging Face, Stripe, Google API keys, AWS access key ids
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})"), MASK),
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"), MASK),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}|\bxapp-[A-Za-z0-9-]{10,}"), MASK),
    (re.compile(r"\bhf_[A-Za-z0-9]{30,}"), MASK),
    (re.compile(r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"), MASK),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), MASK),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), MASK),
    # JSON Web Tokens (header.payload.signature, both base64url JSON objects)
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), MASK),
    # passwords inside URLs: scheme://user:password@host
    (
        re.compile(r"(?i)\b([a-z][a-z0-9+.-]{1,15}://[^\s:/@]{1,256}:)[^\s@/]{1,256}@"),
        r"\1" + MASK + "@",
    ),
    # NAME=value where NAME looks secret, as environments (ps e, /proc/*/environ,
    # systemctl show, .env files, docker inspect) print them: the value goes, the name stays
    (
        re.compile(
            r"\b((?:[A-Z_][A-Z0-9_]*)?(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|PWD|CREDENTIALS?|AUTH|"
            r"DSN|PRIVATE|COOKIE|SESSION|SIGNATURE)[A-Z0-9_]*)=(\"[^\"\n]*\"|'[^'\n]*'|[^\s\"']+)"
        ),
        r"\1=" + MASK,
    ),
)


class Redactor:
    """Masks secrets in strings and nested structures. Cheap when there is nothing to mask."""

    def __init__(self, literals: Iterable[str] = ()) -> None:
        self._literals: tuple[str, ...] = ()
        self.set_literals(literals)

    def set_literals(self, literals: Iterable[str]) -> None:
        """Exact secret values (from the config) to mask wherever they appear."""
        # Short values would mask ordinary words; the patterns still cover those keys.
        keep = {s for s in literals if len(s) >= 6}
        self._literals = tuple(sorted(keep, key=len, reverse=True))

    def text(self, value: str) -> str:
        for literal in self._literals:
            if literal in value:
                value = value.replace(literal, MASK)
        for pattern, replacement in _PATTERNS:
            value = pattern.sub(replacement, value)
        return value

    def value(self, value: Any, key: str | None = None) -> Any:
        if key is not None and _SECRET_KEY.search(key) and isinstance(value, str | bytes):
            return MASK if value else value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: self.value(v, k if isinstance(k, str) else None) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.value(v) for v in value)
        if isinstance(value, bytes):
            return self.text(value.decode("utf-8", "replace"))
        return value

    def mapping(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self.value(v, k) for k, v in data.items()}


def is_secret_key(key: str) -> bool:
    return _SECRET_KEY.search(key) is not None
