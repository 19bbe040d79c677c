"""``/check``: an HTTP or TLS check from one line, parsed without the model.

``/check URL [head] [every 5m] [status 200-399|2xx] [latency 2s] [timeout 10s] [match REGEX]``
``/check tls HOST[:PORT] [every 12h] [days 14] [timeout 10s]``

``match`` takes the rest of the line as the regex (quotes around it are dropped), so it comes
last. Durations are those of ``/remind`` (``30s``, ``5m``, ``1h30m``) and ``500ms``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ValidationError

from assistant.core.i18n import N_, tr
from assistant.scheduler.parse import duration_seconds
from assistant.scheduler.types import Every, HttpCheck, TlsCheck, first_error, tls_target

USAGE = N_(
    "Usage: /check URL [every 5m] [status 200-399] [latency 2s] [head] [timeout 10s] "
    "[match REGEX] — or /check tls HOST[:PORT] [every 12h] [days 14]. "
    "E.g. /check https://example.com/health every 1m latency 2s match ok"
)
HTTP_EVERY = 300.0  # seconds, when no interval is given
TLS_EVERY = 43200.0
_WITH_VALUE = {"every", "status", "latency", "timeout", "days"}


def _seconds(text: str) -> float:
    if text.lower().endswith("ms") and text[:-2].replace(".", "", 1).isdigit():
        return float(text[:-2]) / 1000
    return duration_seconds(text)


def _unquoted(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"/":
        return text[1:-1]
    return text


def parse_check(text: str) -> tuple[Every, HttpCheck | TlsCheck]:
    """The schedule and check ``text`` describes; ``ValueError`` with a message for the user
    (in the current language) when it is not understood."""
    head, found, regex = text.strip().partition(" match ")
    words = head.split()
    if words and words[-1].lower() == "match":  # "match" with nothing after it
        raise ValueError(tr(USAGE))
    if not words:
        raise ValueError(tr(USAGE))
    kind = "http"
    if words[0].lower() in ("tls", "http"):
        kind = words.pop(0).lower()
    if not words:
        raise ValueError(tr(USAGE))
    target, rest = words[0], words[1:]
    options: dict[str, str] = {}
    method: Literal["GET", "HEAD"] = "GET"
    while rest:
        word = rest.pop(0).lower()
        if word in ("head", "get") and kind == "http":
            method = "HEAD" if word == "head" else "GET"
        elif word in _WITH_VALUE and rest:
            options[word] = rest.pop(0)
        else:
            raise ValueError(
                tr("I do not know “{word}” here. {usage}").format(word=word, usage=tr(USAGE))
            )
    try:
        every = _seconds(options["every"]) if "every" in options else None
        timeout = _seconds(options["timeout"]) if "timeout" in options else 10.0
        if kind == "tls":
            if "status" in options or "latency" in options or found:
                raise ValueError(tr("A TLS check takes only every, days and timeout."))
            host, port = tls_target(target)
            days_said = options.get("days", "14")
            if not days_said.isdigit():
                raise ValueError(tr("days must be a whole number, e.g. days 14."))
            days = int(days_said)
            return Every(seconds=every or TLS_EVERY), TlsCheck(
                host=host, port=port, days=days, timeout=timeout
            )
        if "days" in options:
            raise ValueError(tr("days is for TLS checks: /check tls HOST days 14."))
        check = HttpCheck(
            url=target,
            method=method,
            status=options.get("status", "200-299"),
            max_latency=_seconds(options["latency"]) if "latency" in options else None,
            regex=_unquoted(regex) if found else "",
            timeout=timeout,
        )
        return Every(seconds=every or HTTP_EVERY), check
    except ValidationError as exc:
        raise ValueError(first_error(exc)) from None
