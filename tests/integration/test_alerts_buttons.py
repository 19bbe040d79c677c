"""The Acknowledge button through the real daemon and the fake Telegram Bot API (and a Feishu
card): only a person with the permission ``alerts`` may press it, and a press stops the
escalation."""

from __future__ import annotations

import aiohttp
import pytest

from assistant.core.messages import OutFile
from assistant.core.ports import Alert, Severity
from assistant.feature import ALERTS
from tests.fakes.hook import HookReceiver
from tests.helpers import FakeClock, png_bytes, running_daemons
from tests.integration import feishu_support
from tests.integration.feishu_support import feishu
from tests.integration.test_telegram import OWNER, USER, telegram_config, telegram_running

__all__ = ["feishu"]  # fixtures

SECRET = "whsec-telegram-0123456789"
ACK = 300.0


@pytest.fixture
async def run_daemon():
    async for start in running_daemons(telegram_running):
        yield start


@pytest.fixture
async def feishu_daemon():
    async for start in running_daemons(feishu_support.FeishuRunning):
        yield start


async def test_acknowledge_button_stops_the_escalation(tmp_path, fake_model, bot_api, run_daemon):
    clock = FakeClock()
    hook = await HookReceiver(SECRET).start()
    hook.clock = clock
    try:
        alerts = {
            "enabled": True,
            "ack_timeout": ACK,
            "self_alerts": False,
            "people": {"ann": [f"telegram:{OWNER}"]},
            "chat": [{"name": "team", "people": ["ann"]}],
            "webhook": [{"name": "pager", "url": hook.url, "secret": SECRET}],
            "warning": ["team"],
            "critical": ["team", "pager"],
        }
        web = {"allow_networks": ["127.0.0.1/32"]}  # the receiver, past the SSRF guard
        config = telegram_config(tmp_path, fake_model, bot_api, alerts=alerts, web=web)
        running = await run_daemon(config, clock=clock)
        sink = running.daemon.services.ports.get(ALERTS)
        await sink.fire(Alert("monitor:web1:disk", Severity.CRITICAL, "/ 95% full", "", "web1"))
        sent = (await bot_api.wait_sent(1))[0]
        assert sent.chat_id == OWNER and sent.text.startswith("🔴 CRITICAL · web1: / 95% full")
        button = sent.reply_markup["inline_keyboard"][0][0]
        assert (button["text"], button["callback_data"]) == ("Acknowledge", "alert:ack:1")

        await bot_api.press(OWNER, USER, "alert:ack:1", sent.message_id)  # a user: no
        await bot_api.wait_for(lambda: len(bot_api.callback_answers) == 1)
        assert "may not do this" in bot_api.callback_answers[0]["text"]

        await bot_api.press(OWNER, OWNER, "alert:ack:1", sent.message_id)
        await bot_api.wait_for(lambda: len(bot_api.callback_answers) == 2)
        answer = bot_api.callback_answers[1]["text"]
        assert answer == "Alert #1 acknowledged: it will not escalate further."
        await bot_api.wait_for(lambda: bot_api.edits)
        assert sent.text.splitlines()[-1] == "👌 Acknowledged by Ann." and not sent.reply_markup
        told = (await bot_api.wait_sent(2))[1]
        assert told.text.startswith("👌 ACKNOWLEDGED · web1") and "by Ann" in told.text

        clock.advance(ACK * 3)  # long past the time the webhook would have been next
        # a warning fired after the advance arrives once the alert loop has looked again
        await sink.fire(Alert("monitor:web2:load", Severity.WARNING, "load 9", "", "web2"))
        assert (await bot_api.wait_sent(3))[2].text.startswith("🟠 WARNING · web2")
        assert hook.accepted == [] and hook.refused == 0
        records = await running.daemon.services.audit.tail(50)
        acks = [r for r in records if r.kind == "alert.acknowledged"]
        assert [(r.actor, r.data["id"]) for r in acks] == [(f"telegram:{OWNER}", 1)]
        assert not [r for r in records if r.kind == "alert.escalated"]
    finally:
        await hook.stop()


async def test_acknowledge_button_on_a_feishu_card(tmp_path, fake_model, feishu, feishu_daemon):
    alerts = {
        "enabled": True,
        "self_alerts": False,
        "chat": [{"name": "ops", "chats": [f"feishu:{feishu_support.GROUP}"]}],
        "critical": ["ops"],
    }
    running = await feishu_daemon(
        feishu_support.feishu_config(tmp_path, fake_model, feishu, alerts=alerts), clock=FakeClock()
    )
    sink = running.daemon.services.ports.get(ALERTS)
    chart = OutFile("chart.png", png_bytes(6, 4), "image/png", "image")
    alert = Alert("monitor:db1:disk", Severity.CRITICAL, "/var 97% full", "", "db1", files=(chart,))
    await sink.fire(alert)
    image, card = await feishu.wait_sent(2)  # the chart uploaded and sent, then the card
    uploaded = feishu.upload_of(image)
    assert image.msg_type == "image" and uploaded is not None and uploaded.data == chart.data
    assert card.text.startswith("🔴 CRITICAL · db1: /var 97% full")
    value = {"action": "alert:ack:1", "chat": "group"}
    assert card.buttons == [("Acknowledge", value)]
    async with aiohttp.ClientSession() as http:
        guest = feishu.action_event(
            operator=feishu_support.GUEST,
            value=value,
            chat_id=feishu_support.GROUP,
            message_id=card.message_id,
        )
        status, body = await feishu.post_webhook(http, running.url, guest)
        assert "may not do this" in body["toast"]["content"]
        owner = feishu.action_event(
            operator=feishu_support.OWNER,
            value=value,
            chat_id=feishu_support.GROUP,
            message_id=card.message_id,
        )
        status, body = await feishu.post_webhook(http, running.url, owner)
        assert status == 200 and "#1" in body["toast"]["content"]
    await feishu.wait_for(lambda: feishu.edits)
    assert card.buttons == [] and "Ann" in card.text.splitlines()[-1]
    records = await running.daemon.services.audit.tail(20)
    assert [r.actor for r in records if r.kind == "alert.acknowledged"] == [
        f"feishu:{feishu_support.OWNER}"
    ]
