"""What an alert looks like where it goes: chat text, an email, a webhook body and its
signature. Pure functions; the text is in the current locale (``i18n.using``)."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import json
import urllib.parse
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from assistant.core.i18n import N_, tr
from assistant.core.messages import OutFile
from assistant.core.ports import Severity
from assistant.core.text import one_line
from assistant.features.alerts.state import AlertRow, Status

SIGNATURE_HEADER = "X-Assistant-Signature"
TIMESTAMP_HEADER = "X-Assistant-Timestamp"
HEADLINE_LIMIT = 200


class Event(StrEnum):
    FIRE = "fire"  # the first route (or every route of a warning)
    ESCALATE = "escalate"  # the next route: nobody acknowledged
    ACK = "ack"
    RESOLVE = "resolve"


EMOJI = {Severity.CRITICAL: "🔴", Severity.WARNING: "🟠"}
_LABELS = {Severity.CRITICAL: N_("CRITICAL"), Severity.WARNING: N_("WARNING")}


@dataclass(frozen=True, slots=True)
class Notice:
    event: Event
    alert: AlertRow
    step: int = 1  # the route this is, counted from 1
    routes: int = 1  # routes of the alert's severity
    ack_timeout: float = 0.0
    buttons: bool = False  # the Acknowledge button goes with it (else the /ack command)


def _text(value: str, params: dict[str, str]) -> str:
    """``value`` translated when the catalogs know it (self-alerts), with its params."""
    if not value:
        return value
    translated = tr(value)
    return translated.format(**params) if params else translated


def title(alert: AlertRow) -> str:
    return _text(alert.title, alert.params)


def detail(alert: AlertRow) -> str:
    return _text(alert.detail, alert.params)


def _minutes(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    if minutes < 120:
        return tr("{n} min").format(n=minutes)
    return tr("{h} h {m} min").format(h=minutes // 60, m=minutes % 60)


def _when(at: float, zone: str) -> str:
    return datetime.fromtimestamp(at, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def headline(notice: Notice) -> str:
    alert = notice.alert
    if notice.event is Event.RESOLVE:
        head = "✅ " + tr("RESOLVED")
    elif notice.event is Event.ACK:
        head = "👌 " + tr("ACKNOWLEDGED")
    else:
        head = f"{EMOJI[alert.severity]} {tr(_LABELS[alert.severity])}"
    where = f" · {alert.host}" if alert.host else ""
    # one line whatever the host or title hold: an email's subject (the email package refuses
    # a line break rather than let it start a header), and no fake lines under it in a chat
    return one_line(f"{head}{where}: {title(alert)}", HEADLINE_LIMIT)


def render_text(notice: Notice, zone: str) -> str:
    """The message for a chat (plain text) and an email's body."""
    alert = notice.alert
    lines = [headline(notice)]
    if notice.event is Event.RESOLVE:
        if alert.resolve_detail:
            lines.append(_text(alert.resolve_detail, alert.params))
        lasted = (alert.resolved_at or alert.fired_at) - alert.fired_at
        lines.append(
            tr("#{id} resolved after {duration}.").format(id=alert.id, duration=_minutes(lasted))
        )
        return "\n".join(lines)
    if notice.event is Event.ACK:
        lines.append(
            tr("#{id} acknowledged by {name}; no more escalation.").format(
                id=alert.id, name=alert.acked_by or "?"
            )
        )
        return "\n".join(lines)
    if detail(alert):
        lines.append(detail(alert))
    lines.append(tr("#{id} fired {when}.").format(id=alert.id, when=_when(alert.fired_at, zone)))
    if notice.event is Event.ESCALATE:
        lines.append(
            tr("Escalated to route {step} of {routes}: nobody acknowledged it for {wait}.").format(
                step=notice.step, routes=notice.routes, wait=_minutes(notice.ack_timeout)
            )
        )
    if alert.status is Status.ACKNOWLEDGED:  # the message whose button was pressed, edited
        lines.append("👌 " + tr("Acknowledged by {name}.").format(name=alert.acked_by or "?"))
    elif alert.severity is Severity.CRITICAL:
        if notice.buttons:
            lines.append(tr("Acknowledge with the button or /ack {id}.").format(id=alert.id))
        else:
            lines.append(tr("Acknowledge with /ack {id}.").format(id=alert.id))
    return "\n".join(lines)


def render_email(
    notice: Notice,
    zone: str,
    *,
    sender: str,
    to: list[str],
    files: tuple[OutFile, ...],
    now: float,
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = headline(notice)
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["X-Assistant-Alert"] = f"{notice.alert.id} {notice.event.value}"
    # mail clients thread an alert's escalations, acknowledgement and resolve under its first
    domain = sender.rpartition("@")[2] or "assistant"
    first = f"<alert-{notice.alert.id}-{int(notice.alert.fired_at)}@{domain}>"
    message["Date"] = email.utils.formatdate(now)
    if notice.event is Event.FIRE:
        message["Message-ID"] = first
    else:
        message["Message-ID"] = email.utils.make_msgid(f"alert-{notice.alert.id}", domain)
        message["In-Reply-To"] = first
        message["References"] = first
    message.set_content(render_text(notice, zone))
    for file in files:
        main, _, sub = file.mime_type.partition("/")
        message.add_attachment(
            file.data, maintype=main, subtype=sub or "octet-stream", filename=file.name
        )
    return message


def webhook_body(
    notice: Notice, zone: str, *, now: float, delivery: str, files: tuple[OutFile, ...] = ()
) -> dict[str, Any]:
    """Our JSON format: the alert's facts, the text a person would read, and when and which
    delivery this is (signed with the body, so a replay is recognised)."""
    alert = notice.alert
    return {
        "event": notice.event.value,
        "id": alert.id,
        "key": alert.key,
        "severity": alert.severity.value,
        "status": alert.status.value,
        "title": title(alert),
        "detail": detail(alert),
        "host": alert.host,
        "source": alert.source,
        "fired_at": alert.fired_at,
        "acknowledged_by": alert.acked_by,
        "resolved_at": alert.resolved_at,
        "step": notice.step,
        "routes": notice.routes,
        "files": [f.name for f in files],
        "text": render_text(notice, zone),
        "timestamp": int(now),
        "delivery": delivery,
    }


def robot_body(notice: Notice, zone: str, format: str) -> dict[str, Any]:
    """A DingTalk or WeCom group robot's message: a text message (the same shape for both),
    never Markdown, since the title and detail are what a host or a command said, and in
    Markdown ``[x](https://…)``, ``![](…)`` or WeCom's ``<@userid>`` would be rendered."""
    return {"msgtype": "text", "text": {"content": render_text(notice, zone)}}


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def signature(secret: str, raw: bytes) -> str:
    """``sha256=HEX``: HMAC-SHA256 of the raw body with the shared secret."""
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def verify(secret: str, raw: bytes, header: str, *, now: float, window: float = 300) -> bool:
    """What a receiver does: the signature matches the raw body, and the body's timestamp is
    recent (a replayed body is older; remember ``delivery`` ids to refuse exact repeats)."""
    if not hmac.compare_digest(signature(secret, raw), header):
        return False
    try:
        sent = float(json.loads(raw)["timestamp"])
    except (ValueError, KeyError, TypeError):
        return False
    return abs(now - sent) <= window


def dingtalk_url(url: str, secret: str, now: float) -> str:
    """DingTalk's signed robot URL: ``timestamp`` (ms) and ``sign`` =
    base64(HMAC-SHA256(secret, "timestamp\\nsecret"))."""
    stamp = str(int(now * 1000))
    digest = hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest))
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}timestamp={stamp}&sign={sign}"
