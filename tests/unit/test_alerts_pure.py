"""Alerts without I/O: the [alerts] config's checks, the webhook signature and its verification,
DingTalk's signed URL, and the messages in both languages."""

from __future__ import annotations

import base64
import email.policy
import hashlib
import hmac
import json
import urllib.parse
from email.parser import BytesParser

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.config import parse_config
from assistant.core import i18n
from assistant.core.errors import ConfigError
from assistant.core.ports import Severity
from assistant.features.alerts.render import (
    Event,
    Notice,
    dingtalk_url,
    encode,
    render_email,
    render_text,
    robot_body,
    signature,
    verify,
)
from assistant.features.alerts.state import AlertRow, Status

SECRET = "s3cret-webhook-key"


def row(**changes) -> AlertRow:
    values = dict(
        id=7,
        key="monitor:web1:cpu",
        severity=Severity.CRITICAL,
        status=Status.FIRING,
        title="CPU above 90%",
        detail="cpu 97%",
        host="web1",
        source="monitor",
        params={},
        fired_at=1_800_000_000.0,
        notified=1,
        next_at=None,
        held_by=None,
        acked_by=None,
        acked_at=None,
        resolved_at=None,
        resolve_detail=None,
        pending=None,
    )
    values.update(changes)
    return AlertRow(**values)


@pytest.mark.parametrize(
    ("alerts", "problem"),
    [
        ({"critical": ["nope"]}, "[alerts] critical names route 'nope', which is not defined"),
        ({"email": [{"name": "m", "to": ["a@b.c"]}]}, "email routes need [alerts.smtp]"),
        ({"chat": [{"name": "c", "people": ["bob"]}]}, "names person 'bob'; add them"),
        ({"chat": [{"name": "c", "chats": ["12345"]}]}, "is not a chat like 'telegram:"),
        ({"chat": [{"name": "c"}]}, "chat route 'c' needs chats or people"),
        (
            {
                "chat": [{"name": "x", "chats": ["telegram:1"]}],
                "webhook": [{"name": "x", "url": "https://h"}],
            },
            "alert route names must be unique; repeated: x",
        ),
        ({"webhook": [{"name": "w", "url": "ftp://h"}]}, "is not an http(s) URL"),
    ],
)
def test_config_mistakes_are_named(alerts, problem):
    with pytest.raises(ConfigError) as caught:
        parse_config(tomli_w.dumps({"alerts": {"enabled": True, **alerts}}), {})
    assert problem in " ".join(caught.value.problems)


def test_secrets_come_from_the_environment():
    text = tomli_w.dumps(
        {
            "alerts": {
                "smtp": {"host": "smtp.x", "sender": "a@x", "password": "${SMTP_PASSWORD}"},
                "webhook": [{"name": "p", "url": "https://x/h", "secret": "${HOOK_SECRET}"}],
            }
        }
    )
    config = parse_config(text, {"SMTP_PASSWORD": "pw-123456", "HOOK_SECRET": "hs-123456"})
    assert config.alerts.smtp.password.get_secret_value() == "pw-123456"
    assert config.alerts.webhook[0].secret.get_secret_value() == "hs-123456"
    assert "pw-123456" not in repr(config) and "hs-123456" not in repr(config)


def test_a_receiver_verifies_the_signature_and_refuses_tampering_and_replays():
    raw = encode({"event": "fire", "id": 7, "timestamp": 1_800_000_000})
    header = signature(SECRET, raw)
    expected = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert header == f"sha256={expected}"
    assert verify(SECRET, raw, header, now=1_800_000_100)
    assert not verify("another-secret", raw, header, now=1_800_000_100)
    assert not verify(SECRET, raw.replace(b'"id":7', b'"id":8'), header, now=1_800_000_100)
    assert not verify(SECRET, raw, header, now=1_800_000_000 + 301)  # an old body replayed
    assert not verify(SECRET, raw, "sha256=" + "0" * 64, now=1_800_000_000)


def test_dingtalk_url_carries_its_timestamp_and_sign():
    url = dingtalk_url(
        "https://oapi.dingtalk.com/robot/send?access_token=abc", SECRET, 1_800_000_000.5
    )
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query["access_token"] == ["abc"] and query["timestamp"] == ["1800000000500"]
    digest = hmac.new(SECRET.encode(), f"1800000000500\n{SECRET}".encode(), hashlib.sha256).digest()
    assert query["sign"] == [base64.b64encode(digest).decode()]


def test_messages_in_both_languages():
    escalated = Notice(Event.ESCALATE, row(), step=2, routes=3, ack_timeout=900, buttons=True)
    text = render_text(escalated, "Asia/Shanghai")
    assert text.splitlines() == [
        "🔴 CRITICAL · web1: CPU above 90%",
        "cpu 97%",
        "#7 fired 2027-01-15 16:00 CST.",
        "Escalated to route 2 of 3: nobody acknowledged it for 15 min.",
        "Acknowledge with the button or /ack 7.",
    ]
    resolved = row(
        status=Status.RESOLVED,
        resolved_at=1_800_000_000.0 + 7500,
        resolve_detail="load back to 1.2",
    )
    with i18n.using("zh_CN"):
        zh = render_text(Notice(Event.RESOLVE, resolved), "UTC")
        warning = render_text(Notice(Event.FIRE, row(severity=Severity.WARNING)), "UTC")
    assert zh.splitlines() == [
        "✅ 已恢复 · web1: CPU above 90%",
        "load back to 1.2",
        "#7 持续 2 小时 5 分钟 后已恢复。",
    ]
    assert warning.startswith("🟠 警告 · web1") and "/ack" not in warning


def test_self_alert_text_is_translated_with_its_params():
    alert = row(
        title="Chat channel {name} is down",
        detail="Not ready for {minutes} min ({state}: {reason}).",
        params={"name": "feishu", "minutes": "6", "state": "down", "reason": "HTTP 502"},
    )
    with i18n.using("zh_CN"):
        text = render_text(Notice(Event.FIRE, alert), "UTC")
    assert text.splitlines()[:2] == [
        "🔴 严重 · web1: 聊天渠道 feishu 已断开",
        "已 6 分钟未就绪（down：HTTP 502）。",
    ]


def test_an_alert_keeps_a_bounded_number_of_pictures():
    from assistant.core.messages import OutFile
    from assistant.features.alerts.state import MAX_FILE_BYTES, MAX_FILES, kept_files

    chart = OutFile("chart.png", b"x" * 60_000, "image/png", "image")
    assert kept_files((chart,)) == (chart,)
    assert len(kept_files((chart,) * (MAX_FILES + 2))) == MAX_FILES
    huge = OutFile("dump.bin", b"x" * MAX_FILE_BYTES, "application/octet-stream")
    assert kept_files((chart, huge, chart)) == (chart,)  # the first ones that fit together


# what a monitored host, a check or a failing command can put in an alert's title and host:
# any text, line breaks and other separators included
_WILD = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",))
    | st.sampled_from("\r\n\x0b\x0c\x85\u2028\u2029\x00:"),
    max_size=80,
)


@settings(max_examples=40, deadline=None)
@given(title=_WILD, host=st.none() | _WILD, event=st.sampled_from(list(Event)))
def test_an_email_is_written_whatever_the_title_and_host_hold(title, host, event):
    """An alert's text never fails its email (a route that always fails is a lost alert) and
    never adds a header (``Bcc:`` after a line break)."""
    notice = Notice(event, row(title=title, host=host))
    message = render_email(
        notice, "UTC", sender="bot@example.com", to=["ops@example.com"], files=(), now=1.8e9
    )
    parsed = BytesParser(policy=email.policy.default).parsebytes(message.as_bytes())
    assert sorted(parsed.keys()) == sorted(message.keys())
    assert "Bcc" not in parsed
    subject = str(parsed["Subject"])
    assert not any(c in subject for c in "\r\n\x0b\x0c\x85\u2028\u2029")
    assert parsed["To"] == "ops@example.com"
    # in a chat, the title and host make no lines of their own
    plain = Notice(event, row(title="t", host="h" if host is not None else None))
    lines = render_text(notice, "UTC").split("\n")
    assert len(lines) == len(render_text(plain, "UTC").split("\n"))


@settings(max_examples=30, deadline=None)
@given(title=_WILD, detail=_WILD, robot=st.sampled_from(["dingtalk", "wecom"]))
def test_robot_bodies_are_plain_text(title, detail, robot):
    """A group robot gets the alert as a text message: a title or detail (what a host or a
    command said) with ``[x](https://…)``, ``![](…)`` or ``<@all>`` is shown, never rendered
    as a link, a tracking image or a mention."""
    notice = Notice(Event.FIRE, row(title=title, detail=detail))
    body = robot_body(notice, "UTC", robot)
    assert body == {"msgtype": "text", "text": {"content": render_text(notice, "UTC")}}
    json.dumps(body)
