"""WhatsApp's 24-hour window through the real daemon: a template outside it, or the owner told
on another channel (Feishu here) that a reply could not be delivered."""

from __future__ import annotations

import aiohttp

from assistant.core.commands import ActionCall, ActionResult
from assistant.core.messages import Button, ChatRef
from assistant.core.roles import Permission
from tests.fakes.feishu import FakeFeishu
from tests.integration.feishu_support import OWNER as FEISHU_OWNER
from tests.integration.feishu_support import feishu
from tests.integration.whatsapp_support import (
    OWNER,
    USER,
    run_daemon,
    whatsapp,
    whatsapp_config,
)

__all__ = ["feishu", "run_daemon", "whatsapp"]  # fixtures

NEVER_WROTE = "4930111222333"


def _feishu_section(fake: FakeFeishu) -> dict:
    return {
        "enabled": True,
        "app_id": fake.app_id,
        "app_secret": fake.app_secret,
        "domain": fake.base_url,
        "mode": "webhook",
        "verification_token": fake.verification_token,
        "stream": False,
    }


async def test_outside_the_window_the_owner_is_told_elsewhere(
    tmp_path, fake_model, whatsapp, feishu, run_daemon
):
    access = {"owners": [f"whatsapp:{OWNER}", f"feishu:{FEISHU_OWNER}"]}
    config = whatsapp_config(
        tmp_path, fake_model, whatsapp, access=access, feishu=_feishu_section(feishu)
    )
    running = await run_daemon(config)
    router = running.daemon.services.router
    assert await router.notify(ChatRef("whatsapp", NEVER_WROTE), "Backup finished.") == []
    told = await feishu.wait_sent(1)
    assert told[0].chat_id == FEISHU_OWNER
    assert NEVER_WROTE in told[0].text and "Backup finished." in told[0].text
    assert whatsapp.sent == [] and whatsapp.attempts == []  # not even tried
    row = await running.daemon.services.db.fetchone(
        "SELECT undelivered FROM reply_windows WHERE person = ?", (NEVER_WROTE,)
    )
    assert row is not None and row[0] == 1
    # the platform's verdict counts too: our table says open, WhatsApp says closed
    async with aiohttp.ClientSession() as http:
        hello = whatsapp.delivery(whatsapp.text(USER, "hi"), name="Bob")
        whatsapp.closed.add(USER)
        await whatsapp.post_webhook(http, running.url, hello)
        told = await feishu.wait_sent(2)
    assert USER in told[1].text and "echo: hi" in told[1].text
    assert [body["to"] for body in whatsapp.refused] == [USER]


async def test_outside_the_window_a_template_goes(tmp_path, fake_model, whatsapp, run_daemon):
    template = {
        "template_name": "reply_waiting",
        "template_language": "de",
        "template_with_text": True,
    }
    access = {"whatsapp": {"users": {USER: "user", NEVER_WROTE: "user"}}}
    config = whatsapp_config(tmp_path, fake_model, whatsapp, whatsapp=template, access=access)
    running = await run_daemon(config)
    router = running.daemon.services.router
    sent = await router.notify(ChatRef("whatsapp", NEVER_WROTE), "Backup\nfinished.")
    assert len(sent) == 1
    (message,) = await whatsapp.wait_sent(1)
    assert message.type == "template" and message.to == NEVER_WROTE
    assert message.payload["template"] == {
        "name": "reply_waiting",
        "language": {"code": "de"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Backup finished."}]}
        ],
    }
    async with aiohttp.ClientSession() as http:  # once they write, free-form replies go again
        await whatsapp.post_webhook(
            http, running.url, whatsapp.delivery(whatsapp.text(NEVER_WROTE, "ok"))
        )
    sent = await whatsapp.wait_sent(2)
    assert (sent[1].type, sent[1].text) == ("text", "echo: ok")


async def test_a_late_refusal_tells_the_owner_once(
    tmp_path, fake_model, whatsapp, feishu, run_daemon
):
    access = {"owners": [f"whatsapp:{OWNER}", f"feishu:{FEISHU_OWNER}"]}
    config = whatsapp_config(
        tmp_path, fake_model, whatsapp, access=access, feishu=_feishu_section(feishu)
    )
    running = await run_daemon(config)
    async with aiohttp.ClientSession() as http:
        await whatsapp.post_webhook(http, running.url, whatsapp.delivery(whatsapp.text(USER, "hi")))
        (reply,) = await whatsapp.wait_sent(1)
        late = whatsapp.delivery(statuses=[whatsapp.failed(reply.message_id, USER)])
        for _ in range(2):  # redelivered: told once
            assert (await whatsapp.post_webhook(http, running.url, late))[0] == 200
        told = await feishu.wait_sent(1)
        await running.daemon.services.router.wait_idle()
    assert len(feishu.sent) == 1 and told[0].chat_id == FEISHU_OWNER
    assert USER in told[0].text and "refused it after it was sent" in told[0].text
    row = await running.daemon.services.db.fetchone(
        "SELECT undelivered FROM reply_windows WHERE person = ?", (USER,)
    )
    assert row is not None and row[0] == 1


async def test_outside_the_window_an_approval_keeps_its_buttons_in_the_template(
    tmp_path, fake_model, whatsapp, run_daemon
):
    """Approve, Deny go as the template's quick replies; a press (a ``button`` message) is
    the approval, and reopens the window. Three buttons do not fit two: the text says so."""
    template = {
        "template_name": "approval_waiting",
        "template_with_text": True,
        "template_buttons": 2,
    }
    access = {"owners": [f"whatsapp:{NEVER_WROTE}"]}
    config = whatsapp_config(tmp_path, fake_model, whatsapp, whatsapp=template, access=access)
    whatsapp.template_buttons = 2
    running = await run_daemon(config)
    services = running.daemon.services
    presses: list[str] = []

    async def decide(call: ActionCall) -> ActionResult:
        presses.append(call.argument)
        return ActionResult(toast="Approved", edit_text="Approved: df -h ran")

    services.actions.register("ok", Permission.APPROVE, decide)
    chat = ChatRef("whatsapp", NEVER_WROTE)
    two = (Button("Approve", "ok:42:y", "primary"), Button("Deny", "ok:42:n", "danger"))
    three = (*two, Button("Always", "ok:42:a"))
    await services.router.notify(chat, "Run `df -h`?", buttons=(two,))
    await services.router.notify(chat, "Run `uptime`?", buttons=(three,))
    card, crowded = await whatsapp.wait_sent(2)
    assert card.type == "template" and card.buttons == [("0", "ok:42:y"), ("1", "ok:42:n")]
    assert crowded.type == "template" and crowded.buttons == []
    body = crowded.payload["template"]["components"][0]["parameters"][0]["text"]
    assert body.startswith("Run `uptime`?") and "does not allow" in body
    async with aiohttp.ClientSession() as http:
        press = whatsapp.delivery(whatsapp.template_reply(NEVER_WROTE, card, 0))
        assert (await whatsapp.post_webhook(http, running.url, press))[0] == 200
        await whatsapp.wait_sent(4)
    assert presses == ["42:y"]
    assert [(s.type, s.text) for s in whatsapp.sent[2:]] == [
        ("text", "Approved"),
        ("text", "Approved: df -h ran"),  # the window is open again: free-form
    ]
    assert whatsapp.refused == []
