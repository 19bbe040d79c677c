"""Alerts end to end on a fake clock: the real kernel, state and audit; chats recorded, email
to a loopback SMTP server (aiosmtpd, STARTTLS or TLS), a loopback webhook that checks the
signature; and the Acknowledge button through the fake Telegram Bot API."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog

from assistant.core.health import ComponentState
from assistant.core.messages import OutFile
from assistant.core.ports import Alert, Severity
from assistant.feature import ALERTS, CheckContext, Status
from assistant.features.alerts.checks import check_alerts
from assistant.features.alerts.selfwatch import Usage
from assistant.features.alerts.state import AlertStore, Pending
from assistant.store.db import Database
from tests.conftest import OWNER, USER, until
from tests.fakes.hook import HookReceiver
from tests.fakes.model import Fail
from tests.fakes.smtp import FakeSMTP
from tests.helpers import FakeClock

SECRET = "whsec-0123456789abcdef"
ACK = 600.0
PNG = OutFile("cpu.png", b"\x89PNG\r\n\x1a\nfake", "image/png", "image")
HOOK_WEB = {"allow_networks": ["127.0.0.1/32"]}  # the webhook receiver, past the SSRF guard


@pytest.fixture
async def smtp(tmp_path):
    server = await FakeSMTP(tmp_path, users={"alerts": "smtp-pass-123"}).start()
    yield server
    await server.stop()


@pytest.fixture
async def hook():
    receiver = await HookReceiver(SECRET).start()
    yield receiver
    await receiver.stop()


def alerts_config(smtp: FakeSMTP | None, hook: HookReceiver | None, **extra: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "enabled": True,
        "ack_timeout": ACK,
        "cooldown": 300,
        "self_alerts": False,
        "people": {"ann": [f"telegram:{OWNER}"]},
        "chat": [{"name": "team", "people": ["ann"]}],
        "warning": ["team"],
        "critical": ["team"],
    }
    if smtp is not None:
        section["smtp"] = {
            "host": "127.0.0.1",
            "port": smtp.port,
            "security": smtp.security,
            "username": "alerts",
            "password": "smtp-pass-123",
            "sender": "assistant@example.test",
            "ca_file": str(smtp.cert),
            "timeout": 5,
        }
        section["email"] = [{"name": "mail", "to": ["oncall@example.test"]}]
    if hook is not None:
        section["webhook"] = [{"name": "pager", "url": hook.url, "secret": SECRET}]
    section.update(extra)
    return section


def cpu(severity: Severity = Severity.CRITICAL, host: str = "web1", **kw: Any) -> Alert:
    return Alert(
        key=f"monitor:{host}:cpu",
        severity=severity,
        title="CPU above 90%",
        detail="cpu 97% for 5 min",
        host=host,
        **kw,
    )


async def audit_kinds(h) -> list[str]:
    return [r.kind for r in await h.services.audit.tail(100) if r.kind.startswith("alert.")]


async def open_alerts(h):
    return await h.assembly.part("alerts").open()


async def test_critical_escalates_to_email_then_webhook_and_resolves(
    make_config, start_harness, smtp, hook
):
    clock = FakeClock()
    hook.clock = clock
    config = make_config(
        alerts=alerts_config(smtp, hook, critical=["team", "mail", "pager"]), web=HOOK_WEB
    )
    h = await start_harness(config, clock=clock)
    sink = h.services.ports.get(ALERTS)
    await sink.fire(cpu(files=(PNG,)))
    sent = await h.channel.wait_sent(1)
    first = sent[0]
    assert first.chat.chat_id == OWNER and first.files == (PNG,)
    assert first.text.startswith("🔴 CRITICAL · web1: CPU above 90%")
    assert "cpu 97% for 5 min" in first.text and "/ack 1" in first.text
    assert first.buttons[0][0].action_id == "alert:ack:1"
    await sink.fire(cpu())  # still holds: nothing new
    clock.advance(ACK - 1)
    await settle(clock)
    assert smtp.received == []
    clock.advance(1)
    mail = (await smtp.wait(1))[0]
    assert mail.rcpt_tos == ["oncall@example.test"] and mail.login == "alerts"
    message = mail.message
    assert message["From"] == "assistant@example.test" and message["To"] == "oncall@example.test"
    assert message["Subject"] == "🔴 CRITICAL · web1: CPU above 90%"
    body = message.get_body(("plain",)).get_content()
    assert "Escalated to route 2 of 3: nobody acknowledged it for 10 min." in body
    attachments = list(message.iter_attachments())
    assert [(a.get_filename(), a.get_content()) for a in attachments] == [("cpu.png", PNG.data)]
    assert hook.accepted == []
    clock.advance(ACK)
    event = (await hook.wait(1))[0]
    assert event["event"] == "escalate" and event["id"] == 1 and event["step"] == 3
    assert event["key"] == "monitor:web1:cpu" and event["severity"] == "critical"
    assert event["files"] == ["cpu.png"] and event["timestamp"] == int(clock.time())
    assert hook.refused == 0
    assert await audit_kinds(h) == ["alert.escalated", "alert.escalated"]
    clock.advance(ACK * 3)  # the last route was reached: no more
    await sink.resolve("monitor:web1:cpu", "cpu 40%")
    resolved = await h.channel.wait_sent(2)
    assert resolved[1].text.startswith("✅ RESOLVED · web1: CPU above 90%")
    assert "cpu 40%" in resolved[1].text and not resolved[1].buttons
    resolve_mail = (await smtp.wait(2))[1].message
    assert resolve_mail["Subject"].startswith("✅ RESOLVED")
    assert resolve_mail["In-Reply-To"] == "<alert-1-1800000000@example.test>"
    assert (await hook.wait(2))[1]["event"] == "resolve"
    assert await open_alerts(h) == []
    assert len(h.channel.sent) == 2 and len(smtp.received) == 2


async def settle(clock: FakeClock) -> None:
    """Wait until the alert loop has done what the clock made due and sleeps again."""

    async def sleeping() -> bool:
        return clock.sleepers >= 1

    await until(sleeping)


@pytest.mark.parametrize("security", ["tls", "none"])
async def test_email_over_implicit_tls_or_plain(tmp_path, make_config, start_harness, security):
    server = await FakeSMTP(tmp_path, security=security).start()
    try:
        section = alerts_config(server, None, warning=["mail"])
        del section["smtp"]["username"], section["smtp"]["password"]
        h = await start_harness(make_config(alerts=section), clock=FakeClock())
        leaky = Alert(
            "check:web1:api",
            Severity.WARNING,
            "CPU above 90%",
            "curl -u admin:x -H 'Authorization: Bearer abcdef0123456789abcdef' failed",
            "web1",
        )
        await h.services.ports.get(ALERTS).fire(leaky)
        mail = (await server.wait(1))[0]
        assert mail.message["Subject"] == "🟠 WARNING · web1: CPU above 90%"
        body = mail.message.get_body(("plain",)).get_content()
        assert "/ack" not in body and "abcdef0123456789abcdef" not in body
        assert "Authorization: Bearer **********" in body  # secrets leave masked
    finally:
        await server.stop()


async def test_acknowledge_stops_escalation_and_is_audited(make_config, start_harness, hook):
    clock = FakeClock()
    hook.clock = clock
    h = await start_harness(
        make_config(alerts=alerts_config(None, hook, critical=["team", "pager"]), web=HOOK_WEB),
        clock=clock,
    )
    await h.services.ports.get(ALERTS).fire(cpu())
    await h.channel.wait_sent(1)
    assert await h.ask("/ack 1", user=USER) == "/ack is not available to your role (user)."
    assert await h.ask("/ack 1") == "Alert #1 acknowledged: it will not escalate further."
    told = await h.channel.wait_sent(4)  # the refusal, the answer, and the routes reached are told
    assert any(
        m.text.startswith("👌 ACKNOWLEDGED · web1") and "by user1001" in m.text for m in told
    )
    clock.advance(ACK * 2)
    await settle(clock)
    assert hook.accepted == []
    assert await h.ask("/ack 1") == "Alert #1 was already acknowledged by user1001."
    assert "acknowledged by `user1001`" in await h.ask("/alerts")
    record = next(r for r in await h.services.audit.tail(50) if r.kind == "alert.acknowledged")
    assert record.actor == f"telegram:{OWNER}" and record.data["id"] == 1


async def test_silence_holds_alerts_back_and_records_them(make_config, start_harness):
    clock = FakeClock()
    h = await start_harness(make_config(alerts=alerts_config(None, None)), clock=clock)
    assert "not available to your role" in await h.ask("/silence web* 2h", user=USER)
    answer = await h.ask("/silence web* 2h")
    assert answer.startswith("Silence #1: alerts matching `web*` are held back until")
    assert "#1 `web*` until" in await h.ask("/silences")
    before = len(h.channel.sent)
    sink = h.services.ports.get(ALERTS)
    await sink.fire(cpu(host="web7"))
    await sink.fire(cpu(host="db1"))  # not matched: sent
    await h.channel.wait_sent(before + 1)

    async def held() -> bool:
        rows = await open_alerts(h)
        return any(r.host == "web7" and r.held_by == "silence:1" for r in rows)

    await until(held)
    assert [m.text.split(":")[0] for m in h.channel.sent[before:]] == ["🔴 CRITICAL · db1"]
    assert "#1 🔴 `web7`: `CPU above 90%` — held back by silence #1" in await h.ask("/alerts")
    assert await h.ask("/unsilence 1") == "Silence #1 ended."
    later = await h.channel.wait_sent(len(h.channel.sent) + 1)
    assert later[-1].text.startswith("🔴 CRITICAL · web7")
    assert await audit_kinds(h) == ["alert.silenced", "alert.unsilenced"]
    assert await h.ask("/silences") == "No silences are in force."


async def test_a_silence_that_ends_releases_what_still_fires(make_config, start_harness):
    clock = FakeClock()
    h = await start_harness(make_config(alerts=alerts_config(None, None)), clock=clock)
    await h.ask("/silence monitor:* 1h")
    before = len(h.channel.sent)
    sink = h.services.ports.get(ALERTS)
    await sink.fire(cpu(host="a1"))
    await sink.fire(cpu(host="a2"))

    async def held() -> bool:
        return len([r for r in await open_alerts(h) if r.held_by]) == 2

    await until(held)
    await sink.resolve("monitor:a2:cpu", "fine")  # resolved while silenced: never told
    clock.advance(3600)
    sent = await h.channel.wait_sent(before + 1)
    assert [m.text.split(":")[0] for m in sent[before:]] == ["🔴 CRITICAL · a1"]


async def test_cooldown_holds_a_flapping_alert(make_config, start_harness):
    clock = FakeClock()
    h = await start_harness(make_config(alerts=alerts_config(None, None)), clock=clock)
    sink = h.services.ports.get(ALERTS)
    await sink.fire(cpu(Severity.WARNING))
    await h.channel.wait_sent(1)
    await sink.resolve("monitor:web1:cpu", "ok")
    await h.channel.wait_sent(2)
    clock.advance(60)
    await sink.fire(cpu(Severity.WARNING))  # again within the cooldown: held

    async def cooling() -> bool:
        rows = await open_alerts(h)
        return bool(rows) and rows[0].held_by == "cooldown"

    await until(cooling)
    clock.advance(300)  # past the cooldown and still firing: told now
    sent = await h.channel.wait_sent(3)
    assert sent[2].text.startswith("🟠 WARNING · web1")
    assert len(sent) == 3


async def test_a_restart_neither_resends_nor_forgets_an_escalation(
    make_config, start_harness, hook
):
    clock = FakeClock()
    hook.clock = clock
    config = make_config(alerts=alerts_config(None, hook, critical=["team", "pager"]), web=HOOK_WEB)
    first = await start_harness(config, clock=clock)
    await first.services.ports.get(ALERTS).fire(cpu())
    await first.channel.wait_sent(1)
    await first.close()
    clock.advance(ACK / 2)
    second = await start_harness(config, clock=clock)
    await second.services.ports.get(ALERTS).fire(cpu())  # the monitor sees it still holds
    clock.advance(ACK / 2 - 1)
    await settle(clock)
    assert second.channel.sent == [] and hook.accepted == []
    clock.advance(1)
    event = (await hook.wait(1))[0]
    assert event["event"] == "escalate" and event["id"] == 1
    assert second.channel.sent == []


async def test_an_escalation_after_a_restart_still_carries_the_chart(
    make_config, start_harness, smtp
):
    clock = FakeClock()
    config = make_config(alerts=alerts_config(smtp, None, critical=["team", "mail"]))
    first = await start_harness(config, clock=clock)
    await first.services.ports.get(ALERTS).fire(cpu(files=(PNG,)))
    assert (await first.channel.wait_sent(1))[0].files == (PNG,)
    await first.close()
    second = await start_harness(config, clock=clock)
    clock.advance(ACK)
    mail = (await smtp.wait(1))[0].message
    attachments = [(a.get_filename(), a.get_content()) for a in mail.iter_attachments()]
    assert attachments == [("cpu.png", PNG.data)]
    assert await second.ask("/ack 1") == "Alert #1 acknowledged: it will not escalate further."
    kept = await second.services.db.fetchall("SELECT alert_id FROM alert_files")
    assert kept == []  # it will not escalate again: its pictures are not kept


def ready(h) -> None:
    health = h.services.health
    for name in health.snapshot():  # the harness runs no channel: say they serve
        health.set(name, ComponentState.READY)


@pytest.mark.parametrize(
    ("component", "language", "first", "back"),
    [
        ("channel.slack", "zh", "🔴 严重 · Assistant: 聊天渠道 slack 已断开", "✅ 已恢复"),
        ("mcp.time", "en", "🟠 WARNING · Assistant: MCP server time is down", "✅ RESOLVED"),
    ],
)
async def test_self_alert_for_a_component_down_in_the_recipients_language(
    make_config, start_harness, component, language, first, back
):
    clock = FakeClock()
    config = make_config(
        alerts=alerts_config(
            None, None, self_alerts=True, down_after=300, check_interval=60, warning=["team"]
        )
    )
    h = await start_harness(
        config, clock=clock, options={"disk_usage": lambda path: Usage(100, 50, 50)}
    )
    await h.ask(f"/lang {language}")
    if language == "zh":
        await h.ask("/tz Asia/Shanghai")
    ready(h)
    health = h.services.health
    health.register(component)
    health.set(component, ComponentState.DOWN, "connection refused; restarting in 5.0s")
    before = len(h.channel.sent)
    for _ in range(5):
        clock.advance(60)
        await settle(clock)
    assert len(h.channel.sent) == before  # down for 4 min: not yet
    clock.advance(60)
    sent = await h.channel.wait_sent(before + 1)
    text = sent[before].text
    assert text.startswith(first) and "connection refused" in text
    assert (" CST。" if language == "zh" else " UTC.") in text  # in the person's time zone
    await settle(clock)
    health.set(component, ComponentState.READY)
    clock.advance(60)
    sent = await h.channel.wait_sent(before + 2)
    assert sent[before + 1].text.startswith(back)


async def test_self_alert_when_no_model_answers(make_config, start_harness, fake_model):
    clock = FakeClock()
    config = make_config(alerts=alerts_config(None, None, self_alerts=True, check_interval=60))
    h = await start_harness(
        config, clock=clock, options={"disk_usage": lambda path: Usage(100, 50, 50)}
    )
    ready(h)
    await settle(clock)  # the first look: what the counters say now
    fake_model.responder = lambda body: Fail(503, "overloaded")
    await h.ask("hello")  # answered with an apology: every attempt failed
    before = len(h.channel.sent)
    clock.advance(60)
    sent = await h.channel.wait_sent(before + 1)
    assert sent[before].text.startswith("🔴 CRITICAL · Assistant: No model answers")
    await settle(clock)
    fake_model.responder = None
    assert await h.ask("hello again") == "echo: hello again"
    clock.advance(60)
    sent = await h.channel.wait_sent(before + 3)
    assert sent[before + 2].text.startswith("✅ RESOLVED · Assistant: No model answers")


async def test_a_route_that_reaches_nobody_passes_the_alert_on_at_once(make_config, start_harness):
    refusing = await HookReceiver(SECRET, status=500).start()
    try:
        clock = FakeClock()
        section = alerts_config(None, refusing, critical=["pager", "team"])
        h = await start_harness(make_config(alerts=section, web=HOOK_WEB), clock=clock)
        await h.services.ports.get(ALERTS).fire(cpu())
        sent = await h.channel.wait_sent(1)  # no ack_timeout waited: the webhook failed
        assert "Escalated to route 2 of 2" in sent[0].text
        assert len(refusing.accepted) == 1 and clock.now == 1_800_000_000.0
        metrics = h.services.metrics.render({}).decode()
        assert (
            'assistant_alerts_sent_total{event="fire",outcome="failed",route="pager"} 1.0'
            in metrics
        )
        assert (
            'assistant_alerts_sent_total{event="escalate",outcome="reached",route="team"} 1.0'
            in metrics
        )
    finally:
        await refusing.stop()


async def test_self_alerts_for_disk_and_backups(tmp_path, make_config, start_harness):
    clock = FakeClock()
    backups = tmp_path / "backups"
    backups.mkdir()
    config = make_config(
        alerts=alerts_config(
            None, None, self_alerts=True, backups=str(backups / "*.tar.gz"), backup_max_age_days=2
        )
    )
    free = {"bytes": 5}
    h = await start_harness(
        config,
        clock=clock,
        options={"disk_usage": lambda path: Usage(100, 100 - free["bytes"], free["bytes"])},
    )
    sent = await h.channel.wait_sent(2)
    titles = sorted(m.text.splitlines()[0] for m in sent)
    assert titles == [
        "🔴 CRITICAL · Assistant: The state disk is nearly full",
        "🟠 WARNING · Assistant: Backups are too old",
    ]
    archive = backups / "a.tar.gz"
    archive.write_bytes(b"x")
    os.utime(archive, (clock.time(), clock.time()))
    free["bytes"] = 50
    clock.advance(60)
    sent = await h.channel.wait_sent(4)
    assert sorted(m.text.splitlines()[0].split(":")[0] for m in sent[2:]) == [
        "✅ RESOLVED · Assistant",
        "✅ RESOLVED · Assistant",
    ]


async def test_alerts_off_commands_say_how_to_turn_them_on(make_config, start_harness):
    h = await start_harness(make_config(), clock=FakeClock())
    assert "[alerts] enabled = true" in await h.ask("/silence web* 2h")


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        (
            "smtp-pass-123",
            [
                ("alerts", Status.WARN, "chat route 'ops' names feishu, which is not enabled"),
                ("alerts smtp", Status.OK, "starttls, login accepted"),
            ],
        ),
        (
            "wrong",
            [
                ("alerts", Status.WARN, "chat route 'ops' names feishu"),
                ("alerts smtp", Status.FAIL, "refused the login of alerts"),
            ],
        ),
    ],
)
async def test_the_doctor_checks_routes_and_the_mail_server(make_config, smtp, password, expected):
    section = alerts_config(smtp, None, warning=["mail"], critical=["ops"])
    section["smtp"]["password"] = password
    section["chat"] = [{"name": "ops", "chats": ["feishu:oc_0123456789"]}]
    config = make_config(alerts=section)
    async with aiohttp.ClientSession() as session:
        ctx = CheckContext(Path("c.toml"), {}, None, session, config=config, timeout=5)
        found = await check_alerts(ctx)
    assert [(f.check, f.status) for f in found] == [(c, s) for c, s, _ in expected]
    assert all(text in f.detail for f, (_, _, text) in zip(found, expected, strict=True))


async def test_a_reload_applies_routes_and_times(make_config, start_harness):
    h = await start_harness(make_config(alerts=alerts_config(None, None)), clock=FakeClock())
    new = make_config(alerts=alerts_config(None, None, ack_timeout=120, warning=[]))
    applied, restart = await h.assembly.reload(new)
    assert (applied, restart) == (["alerts.warning", "alerts.ack_timeout"], [])


async def test_one_process_sends_alerts(make_config, start_harness):
    clock = FakeClock()
    config = make_config(alerts=alerts_config(None, None))
    daemon = await start_harness(config, clock=clock)
    chat = await start_harness(config, clock=clock)  # `assistant chat --standalone` beside it
    assert chat.services.health.snapshot()["alerts"]["state"] == "degraded"
    assert daemon.services.health.snapshot()["alerts"]["state"] == "ready"
    await chat.services.ports.get(ALERTS).fire(cpu())  # recorded there, sent by the daemon
    await daemon.services.ports.get(ALERTS).fire(cpu(host="web2"))
    sent = await daemon.channel.wait_sent(2)
    assert sorted(m.text.split(":")[0] for m in sent) == [
        "🔴 CRITICAL · web1",
        "🔴 CRITICAL · web2",
    ]
    assert chat.channel.sent == []


async def test_a_step_read_before_an_ack_or_resolve_sends_nothing_stale(tmp_path):
    async with Database(tmp_path / "state.db") as db:
        store = AlertStore(db)
        read, _ = await store.fire(cpu(), None, 1000.0)
        await store.acknowledge(read.id, "Ann", 1001.0)
        assert not await store.advance(read, 1, 1600.0)  # acknowledged meanwhile: not sent
        resolved = await store.resolve(read.key, "ok", 1002.0)
        assert resolved is not None and resolved.pending is None  # nothing was sent: no notice
        again, news = await store.fire(cpu(), None, 1003.0)
        assert news and again.id != read.id
        assert await store.advance(again, 1, None)
        told = await store.resolve(again.key, "ok", 1004.0)
        assert told is not None and told.pending is Pending.RESOLVE
        await store.acknowledge(again.id, "Ann", 1005.0)  # too late: resolved
        assert await store.take_pending(told) and not await store.take_pending(told)


async def test_a_webhook_to_an_internal_address_is_refused_unless_allowed(
    make_config, start_harness, hook
):
    """The SSRF guard of the web tools stands before the webhooks too: the loopback receiver,
    in any spelling, is refused (and the alert passes on) until [web] allow_networks names it."""
    port = hook.port
    urls = [f"http://127.0.0.1:{port}/hook", f"http://2130706433:{port}/hook"]
    urls.append(f"http://[::ffff:127.0.0.1]:{port}/hook")
    hooks = [{"name": f"hook{i}", "url": url, "secret": SECRET} for i, url in enumerate(urls)]
    section = alerts_config(
        None, None, webhook=hooks, critical=[*(h["name"] for h in hooks), "team"]
    )
    with structlog.testing.capture_logs() as logs:
        h = await start_harness(make_config(alerts=section), clock=FakeClock())
        await h.services.ports.get(ALERTS).fire(cpu())
        sent = await h.channel.wait_sent(1)  # each refused at once: on to the chat route
    assert "Escalated to route 4 of 4" in sent[0].text and hook.accepted == []
    failed = [e for e in logs if e["event"] == "alerts.send_failed"]
    assert [(e["route"], e["error"]) for e in failed] == [(n["name"], "refused") for n in hooks]
    assert all(str(port) not in e["reason"] for e in failed)  # no URL (a robot's token) logged
    await h.close()
    allowed = make_config(alerts=section, web=HOOK_WEB)
    h = await start_harness(allowed, clock=FakeClock())
    await h.services.ports.get(ALERTS).fire(cpu(host="web2"))  # a new alert: the first is open
    assert len(await hook.wait(1)) == 1
