"""Masking of secrets in anything that leaves the process: logs, errors, health details.

Two nets: values under secret-looking keys are replaced whole, and every string is scanned
for secret-shaped substrings (bot tokens, bearer headers, API keys, PEM keys, credential query
parameters) and for the literal secret values the config holds.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any

MASK = "**********"

_SECRET_KEY = re.compile(
    r"(?:^|_|-)(?:token|secret|password|passwd|authorization|api[_-]?key|encrypt_key|"
    r"verification_token|app_secret|private_key|cookie|access_key|ticket|credentials?|"
    r"appsecret|accesskey|encryptkey|verificationtoken|accesstoken|tenantaccesstoken)$",
    re.IGNORECASE,
)

Replacement = str | Callable[[re.Match[str]], str]
_SECRET_NAME = re.compile(
    r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|PWD|CREDENTIAL|AUTH|DSN|PRIVATE|COOKIE|SESSION|"
    r"SIGNATURE"
)


def _secret_assignment(match: re.Match[str]) -> str:
    """NAME=value as environments print it: mask the value when NAME looks secret; otherwise
    look inside a quoted value (``Environment="DB_PASSWORD=…"``)."""
    name, value = match.group(1), match.group(2)
    if (name.isupper() or "_" in name) and _SECRET_NAME.search(name):
        return f"{name}={MASK}"
    if value[:1] in "\"'":
        return f"{name}={_ASSIGNMENT.sub(_secret_assignment, value)}"
    return match.group(0)


_ASSIGNMENT = re.compile(
    r"(?<![A-Za-z0-9_])([A-Za-z_][A-Za-z0-9_]*+)=(\"[^\"\n]*\"|'[^'\n]*'|[^\s\"']+)"
)


def _hidden_key(match: re.Match[str]) -> str:
    """key: value / key = value where the key names a secret."""
    if _HIDDEN_KEY.search(match.group(1)):
        return match.group(1) + match.group(2) + MASK
    return match.group(0)


_HIDDEN_NAMES = (
    r"password|passwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|"
    r"client[_-]?key[_-]?data|auth[_-]?token|encrypt[_-]?key|app[_-]?secret|credentials?"
)

# a key that names a secret: ends in one of the words, perhaps with _suffixes (secret_key_base)
_HIDDEN_KEY = re.compile(rf"(?i)(?:{_HIDDEN_NAMES})(?:[_.-][a-z0-9]+)*$")
_X_HEADER = re.compile(r"(?i)token|key|secret|auth")

# (pattern, replacement, needles): a pattern runs only when one of its needles occurs in the
# text (lower-cased needles are looked for in the lower-cased text). Most log lines hold none.
_PATTERNS: tuple[tuple[re.Pattern[str], Replacement, tuple[str, ...]], ...] = (
    # PEM and PGP private keys (whole block, even when cut off at the end)
    (
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?"
            r"(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|$)",
            re.DOTALL,
        ),
        MASK,
        ("PRIVATE KEY",),
    ),
    # a key's body without its header (cut by head/tail/grep): 2+ lines of only base64
    (re.compile(r"(?m)(?:^[A-Za-z0-9+/]{40,}={0,2}[ \t]*(?:\n|$)){2,}"), MASK + "\n", ("\n",)),
    # Telegram bot tokens, also inside /bot123:ABC/ URLs (no \b before the digits)
    (re.compile(r"(?<![0-9])\d{6,12}:[A-Za-z0-9_-]{30,}"), MASK, (":",)),
    # Authorization headers (Bearer, Basic, Token, Digest, …) and X-…-Token style headers
    (
        re.compile(r"(?i)\b((?:proxy-)?authorization\s*:\s*[A-Za-z]+\s+)[^\s,]+"),
        r"\1" + MASK,
        ("authorization",),
    ),
    (
        re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
        r"\1 " + MASK,
        ("bearer", "basic"),
    ),
    (
        re.compile(r"(?i)(?<![a-z0-9-])(x-[a-z0-9-]*+\s*:\s*)(\S+)"),
        lambda m: m.group(1) + MASK if _X_HEADER.search(m.group(1)) else m.group(0),
        ("x-",),
    ),
    # credentials in query strings
    (
        re.compile(
            r"(?i)([?&;](?:access_key|ticket|token|access_token|api_key|apikey|key|secret|"
            r"sign|signature|password)=)[^&\s\"'#]+"
        ),
        r"\1" + MASK,
        ("=",),
    ),
    # secret = value, secret: value, "secret": "value", secret_key_base: …, aws_secret_access_key
    (
        re.compile(
            r"(?i)(?<![a-z0-9_.-])([a-z0-9_.-]++)([\"']?\s*[:=]\s*)"
            r"(\"[^\"\n]*\"|'[^'\n]*'|[^\s\"',;}&]+)"
        ),
        _hidden_key,
        ("pass", "secret", "token", "key", "auth", "credential"),
    ),
    # define('DB_PASSWORD', '…') and other quoted name, quoted value pairs
    (
        re.compile(r"([\"'])([A-Za-z0-9_.-]++)\1(\s*,\s*)(\"[^\"\n]*\"|'[^'\n]*')"),
        lambda m: (
            m.group(1) + m.group(2) + m.group(1) + m.group(3) + MASK
            if _HIDDEN_KEY.search(m.group(2))
            else m.group(0)
        ),
        ("pass", "secret", "token", "key"),
    ),
    # passwords on command lines: --password X, mysql -pX, sshpass -p X, redis-cli -a X, -u u:p
    (
        re.compile(r"(?i)(--(?:password|passwd|pass|token|secret|api-key|auth-token)(?:=|\s+))\S+"),
        r"\1" + MASK,
        ("--",),
    ),
    (re.compile(r"(\bmysql(?:dump|admin)?\b[^\n]*?\s-p)([^\s-]\S*)"), r"\1" + MASK, ("mysql",)),
    (re.compile(r"(\bsshpass\s+-p\s*)\S+"), r"\1" + MASK, ("sshpass",)),
    (re.compile(r"(\bredis-cli\b[^\n]*?\s-a\s+)\S+"), r"\1" + MASK, ("redis-cli",)),
    (re.compile(r"(\s(?:-u|--user)\s+[^\s:]+:)\S+"), r"\1" + MASK, (" -u", "--user")),
    # vendor key shapes: OpenAI/DeepSeek/Moonshot sk-..., Anthropic sk-ant-..., Feishu
    # tenant (t-), user (u-), app (a-) access tokens and card update tokens (c-)
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), MASK, ("sk-",)),
    (re.compile(r"\b[tuac]-[A-Za-z0-9_]{30,}"), MASK, ("t-", "u-", "a-", "c-")),
    # GitHub, GitLab, Slack, Hugging Face, Stripe, Google, AWS, npm, DigitalOcean, SendGrid
    (
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})"),
        MASK,
        ("gh", "github_pat_"),
    ),
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"), MASK, ("glpat-",)),
    (
        re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}|\bxapp-[A-Za-z0-9-]{10,}"),
        MASK,
        ("xox", "xapp-"),
    ),
    (re.compile(r"\bhf_[A-Za-z0-9]{30,}"), MASK, ("hf_",)),
    (re.compile(r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"), MASK, ("k_live_", "k_test_")),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), MASK, ("AIza",)),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), MASK, ("AKIA", "ASIA")),
    (re.compile(r"\bnpm_[A-Za-z0-9]{36}"), MASK, ("npm_",)),
    (re.compile(r"\bdop_v1_[a-f0-9]{64}"), MASK, ("dop_v1_",)),
    (re.compile(r"\bSG\.[\w-]{22}\.[\w-]{43}"), MASK, ("SG.",)),
    # JSON Web Tokens (header.payload.signature, both base64url JSON objects)
    (
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
        MASK,
        ("eyJ",),
    ),
    # password hashes as /etc/shadow holds them ($6$…, $y$…, $2b$…)
    (re.compile(r"\$(?:1|2[aby]?|5|6|y|gy|7)\$[^\s:]{8,}"), MASK, ("$",)),
    # passwords inside URLs: scheme://user:password@host (user may be empty: redis://:pw@)
    (
        re.compile(r"(?i)\b([a-z][a-z0-9+.-]{1,15}://[^\s:/@]{0,256}:)[^\s@]{1,256}@"),
        r"\1" + MASK + "@",
        ("://",),
    ),
    # NAME=value where NAME looks secret, as environments print them (ps e, /proc/*/environ,
    # systemctl show, .env files): the value goes, the name stays. Linear: names start only
    # where a run of name characters starts, and are taken whole (possessive).
    (_ASSIGNMENT, _secret_assignment, ("=",)),
)
_LOWER_NEEDLES = frozenset(
    {"authorization", "bearer", "basic", "x-", "pass", "secret", "token", "key", "auth",
     "credential", "mysql", "sshpass", "redis-cli"}
)  # fmt: skip


# runs that may carry text in another form (see Redactor.disguised)
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{12,}")
_HEX_RUN = re.compile(r"[0-9a-fA-F]{16,}")
_ESCAPED = re.compile(r"\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})")


def _decoded_runs(text: str) -> list[str]:
    """What the base64 (standard or URL-safe) and hex runs of ``text`` decode to, read from
    every offset (a run may start with letters that are not part of it)."""
    found: list[str] = []
    for run in _BASE64_RUN.findall(text):
        standard = run.replace("-", "+").replace("_", "/")
        for start in range(4):
            piece = standard[start:]
            piece = piece[: len(piece) - len(piece) % 4] if len(piece) % 4 == 1 else piece
            try:
                raw = base64.b64decode(piece + "=" * (-len(piece) % 4))
            except (binascii.Error, ValueError):
                continue
            found.append(raw.decode("utf-8", "replace"))
    for run in _HEX_RUN.findall(text):
        for start in range(2):
            piece = run[start:]
            found.append(bytes.fromhex(piece[: len(piece) // 2 * 2]).decode("utf-8", "replace"))
    return found


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
        lowered = value.lower()
        for pattern, replacement, needles in _PATTERNS:
            for needle in needles:
                if needle in (lowered if needle in _LOWER_NEEDLES else value):
                    value = pattern.sub(replacement, value)
                    lowered = value.lower()
                    break
        return value

    def disguised(self, value: str) -> bool:
        """Whether a secret of the config is in ``value`` in a form ``text`` does not mask: cut
        by whitespace or line breaks, percent-encoded, as HTML entities, as ``\\u``/``\\x``
        escapes, base64 or hex. For text that leaves whole (a file): refuse it rather than
        guess a mask."""
        if not self._literals:
            return False
        compact = "".join(value.split())
        views = [compact]
        if "%" in compact:
            views.append(urllib.parse.unquote(compact))
        if "&" in compact:
            views.append(html.unescape(compact))
        if "\\" in compact:
            views.append(_ESCAPED.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), compact))
        views += _decoded_runs(compact)
        return any(literal in view for view in views for literal in self._literals)

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
