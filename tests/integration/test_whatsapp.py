"""The WhatsApp channel end to end: the real daemon against the fake Cloud API (Graph API and
webhook sender) and the fake model."""

from __future__ import annotations

import asyncio
import json
import sys

import aiohttp
import tomli_w

from assistant.core.commands import ActionCall, ActionResult
from assistant.core.messages import Button, ChatRef
from assistant.core.roles import Permission
from tests.fakes.model import Reply
from tests.integration.whatsapp_support import (
    OWNER,
    STRANGER,
    USER,
    config_data,
    run_daemon,
    whatsapp,
    whatsapp_config,
)

__all__ = ["run_daemon", "whatsapp"]  # fixtures


async def test_handshake_signature_and_a_reply(tmp_path, fake_model, whatsapp, run_daemon):
    running = await run_daemon(whatsapp_config(tmp_path, fake_model, whatsapp))
    url = running.url
    hello = whatsapp.delivery(whatsapp.text(OWNER, "hi"))
    async with aiohttp.ClientSession() as http:
        query = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}
        async with http.get(url, params={**query, "hub.verify_token": whatsapp.verify_token}) as r:
            assert (r.status, await r.text()) == (200, "1158201444")
        async with http.get(url, params={**query, "hub.verify_token": "not-it"}) as r:
            assert r.status == 403
        refusals = [
            await whatsapp.post_webhook(http, url, hello, signed=False),
            await whatsapp.post_webhook(http, url, hello, tamper=True),
            await whatsapp.post_webhook(http, url, hello, secret="another-app-secret"),
        ]
        assert [status for status, _ in refusals] == [401, 401, 401]
        assert fake_model.requests == [] and whatsapp.sent == []
        statuses = whatsapp.delivery(statuses=[whatsapp.status("wamid.OUT1", OWNER, "read")])
        assert (await whatsapp.post_webhook(http, url, statuses))[0] == 200
        assert (await whatsapp.post_webhook(http, url, hello))[0] == 200
    sent = await whatsapp.wait_sent(1)
    assert (sent[0].to, sent[0].type, sent[0].text) == (OWNER, "text", "echo: hi")
    hello_id = hello["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    assert whatsapp.read == [hello_id] and whatsapp.typing == [hello_id]  # "typing…" once
    assert len(fake_model.requests) == 1
    assert running.health["state"] == "ready" and running.health["number"] == "15550783881"


async def test_redeliveries_are_answered_once_also_across_a_restart(
    tmp_path, fake_model, whatsapp, run_daemon
):
    config = whatsapp_config(tmp_path, fake_model, whatsapp)
    running = await run_daemon(config)
    once = whatsapp.delivery(whatsapp.text(OWNER, "once"))
    async with aiohttp.ClientSession() as http:
        for _ in range(3):
            assert (await whatsapp.post_webhook(http, running.url, once))[0] == 200
        await whatsapp.wait_sent(1)
        await running.daemon.services.router.wait_idle()
        assert await running.stop() == 0
        running = await run_daemon(config)
        assert (await whatsapp.post_webhook(http, running.url, once))[0] == 200
        twice = whatsapp.delivery(whatsapp.text(OWNER, "twice"))
        await whatsapp.post_webhook(http, running.url, twice)
    await whatsapp.wait_sent(2)
    await running.daemon.services.router.wait_idle()
    assert [s.text for s in whatsapp.sent] == ["echo: once", "echo: twice"]
    assert len(fake_model.requests) == 2


async def test_pairing_and_cli_approval(tmp_path, fake_model, whatsapp, run_daemon):
    from assistant.config import load_config

    path = tmp_path / "config.toml"
    path.write_text(tomli_w.dumps(config_data(tmp_path, fake_model, whatsapp)))
    running = await run_daemon(load_config(path, {}))
    async with aiohttp.ClientSession() as http:
        hello = whatsapp.delivery(whatsapp.text(STRANGER, "你好"), name="Li")
        assert (await whatsapp.post_webhook(http, running.url, hello))[0] == 200
        sent = await whatsapp.wait_sent(1)
        assert sent[0].to == STRANGER and sent[0].text.startswith("你好，Li")  # +86: Chinese
        code = sent[0].text.split("assistant pairing approve whatsapp ")[1][:8]
        assert fake_model.requests == []
        cli = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "assistant",
            "pairing",
            "approve",
            "whatsapp",
            code,
            "--config",
            str(path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(cli.communicate(), 60)
        assert cli.returncode == 0, err.decode()
        assert "they have been told" in out.decode()
        sent = await whatsapp.wait_sent(2)
        assert sent[1].to == STRANGER
        again = whatsapp.delivery(whatsapp.text(STRANGER, "now?"), name="Li")
        await whatsapp.post_webhook(http, running.url, again)
    sent = await whatsapp.wait_sent(3)
    assert sent[2].text == "echo: now?"


async def test_approval_by_reply_button(tmp_path, fake_model, whatsapp, run_daemon):
    running = await run_daemon(whatsapp_config(tmp_path, fake_model, whatsapp))
    services = running.daemon.services
    presses: list[ActionCall] = []

    async def decide(call: ActionCall) -> ActionResult:
        presses.append(call)
        return ActionResult(toast="Approved", edit_text=f"Approved by {call.message.sender.name}")

    services.actions.register("ok", Permission.APPROVE, decide)
    url = running.url
    async with aiohttp.ClientSession() as http:
        for person in (OWNER, USER):  # both wrote today: the window is open
            await whatsapp.post_webhook(http, url, whatsapp.delivery(whatsapp.text(person, "hi")))
        await whatsapp.wait_sent(2)
        buttons = (Button("Approve", "ok:42:y", "primary"), Button("Deny", "ok:42:n", "danger"))
        for person in (OWNER, USER):
            await services.router.notify(
                ChatRef("whatsapp", person), "Run `df -h` on web1?", buttons=(buttons,)
            )
        owner_card, user_card = (await whatsapp.wait_sent(4))[2:4]
        assert owner_card.type == "interactive" and owner_card.text == "Run `df -h` on web1?"
        assert owner_card.buttons == [("Approve", "ok:42:y"), ("Deny", "ok:42:n")]
        denied = whatsapp.delivery(whatsapp.button_reply(USER, user_card, 0), name="Bob")
        assert (await whatsapp.post_webhook(http, url, denied))[0] == 200
        await whatsapp.wait_sent(5)
        assert whatsapp.sent[4].to == USER and "may not do this" in whatsapp.sent[4].text
        assert presses == []
        press = whatsapp.delivery(whatsapp.button_reply(OWNER, owner_card, 0))
        for _ in range(2):  # redelivered: pressed once
            assert (await whatsapp.post_webhook(http, url, press))[0] == 200
        await whatsapp.wait_sent(7)
        await services.router.wait_idle()
    assert [s.text for s in whatsapp.sent[5:]] == ["Approved", "Approved by Ann"]
    assert [p.argument for p in presses] == ["42:y"]
    assert len(whatsapp.sent) == 7


async def test_more_than_three_buttons_become_a_list(tmp_path, fake_model, whatsapp, run_daemon):
    running = await run_daemon(whatsapp_config(tmp_path, fake_model, whatsapp))
    services = running.daemon.services
    chosen: list[str] = []

    async def choose(call: ActionCall) -> ActionResult:
        chosen.append(call.argument)
        return ActionResult(toast=f"Host {call.argument}")

    services.actions.register("host", Permission.CHAT, choose)
    async with aiohttp.ClientSession() as http:
        await whatsapp.post_webhook(http, running.url, whatsapp.delivery(whatsapp.text(OWNER, "x")))
        await whatsapp.wait_sent(1)
        rows = tuple(Button(f"web{i} in the eu-central region", f"host:{i}") for i in range(12))
        await services.router.notify(ChatRef("whatsapp", OWNER), "Which host?", buttons=(rows,))
        sent = await whatsapp.wait_sent(3)
        first, second = sent[1], sent[2]
        assert first.payload["interactive"]["type"] == "list" and len(first.buttons) == 10
        assert len(second.buttons) == 2 and first.text == "Which host?"
        assert all(len(title) <= 24 for title, _ in first.buttons)
        press = whatsapp.delivery(whatsapp.button_reply(OWNER, second, 1))
        await whatsapp.post_webhook(http, running.url, press)
        await whatsapp.wait_sent(4)
    assert chosen == ["11"] and whatsapp.sent[3].text == "Host 11"
    assert whatsapp.refused == []


async def test_long_replies_are_split_at_4096(tmp_path, fake_model, whatsapp, run_daemon):
    model = {"name": "m0", "base_url": fake_model.base_url, "model": "f", "max_tokens": 8192}
    running = await run_daemon(whatsapp_config(tmp_path, fake_model, whatsapp, models=[model]))
    text = "**Report**\n\n" + "\n\n".join(f"{i:04d} " + "word " * 60 for i in range(40))
    fake_model.script.append(Reply(text=text + "\n\nEnd."))
    async with aiohttp.ClientSession() as http:
        ask = whatsapp.delivery(whatsapp.text(OWNER, "long please"))
        await whatsapp.post_webhook(http, running.url, ask)
    await whatsapp.wait_for(lambda: any("End." in s.text for s in whatsapp.sent))
    parts = whatsapp.sent
    assert len(parts) == 4 and all(len(p.text) <= 4096 for p in parts)
    assert parts[0].text.startswith("*Report*")  # WhatsApp's bold
    joined = "\n".join(p.text for p in parts)
    assert all(f"{i:04d} " in joined for i in range(40)) and whatsapp.refused == []


async def test_images_voice_and_documents_by_media_id(tmp_path, fake_model, whatsapp, run_daemon):
    vision = {"name": "eyes", "base_url": fake_model.base_url, "model": "v", "vision": True}
    speech = {"base_url": fake_model.base_url, "model": "whisper-test"}
    config = whatsapp_config(tmp_path, fake_model, whatsapp, models=[vision], speech=speech)
    running = await run_daemon(config)
    ogg = b"OggS\x00\x02" + b"\x00" * 20 + b"OpusHead"
    whatsapp.add_media("1187325368803231", b"\xff\xd8jpeg", "image/jpeg")
    whatsapp.add_media("2298127441", b"line one\nline two", "text/plain")
    whatsapp.add_media("3312090", ogg, "audio/ogg; codecs=opus")
    image = whatsapp.media_message(
        OWNER, "image", "1187325368803231", "image/jpeg", caption="what is this?"
    )
    document = whatsapp.media_message(
        OWNER, "document", "2298127441", "text/plain", filename="notes.txt"
    )
    voice = whatsapp.media_message(OWNER, "audio", "3312090", "audio/ogg; codecs=opus", voice=True)
    async with aiohttp.ClientSession() as http:
        for message in (image, document, voice):
            await whatsapp.post_webhook(http, running.url, whatsapp.delivery(message))
            await fake_model.wait_requests(len(fake_model.requests) + 1)
    await whatsapp.wait_sent(3)
    first, second, third = (r["messages"][-1]["content"] for r in fake_model.requests)
    assert first[0]["text"] == "what is this?"
    assert first[1]["image_url"]["url"] == "data:image/jpeg;base64,/9hqcGVn"
    assert second.startswith("[Attached file: notes.txt]") and "line one\nline two" in second
    assert fake_model.uploads == [
        {"model": "whisper-test", "filename": "voice.ogg", "size": len(ogg)}
    ]
    assert third == "[voice message] please check the disk"


async def test_rate_limits_are_honoured(tmp_path, fake_model, whatsapp, run_daemon):
    running = await run_daemon(whatsapp_config(tmp_path, fake_model, whatsapp))
    whatsapp.fail(429, 130429, "(#130429) Rate limit hit", retry_after="1")
    whatsapp.fail(400, 131056, "(#131056) (Business Account, Consumer Account) pair rate limit")
    async with aiohttp.ClientSession() as http:
        await whatsapp.post_webhook(
            http, running.url, whatsapp.delivery(whatsapp.text(OWNER, "slowly"))
        )
    sent = await whatsapp.wait_sent(1)
    assert sent[0].text == "echo: slowly"
    first, second, third = whatsapp.attempts
    assert second - first >= 0.95  # Retry-After: 1
    assert third > second


async def test_wrong_token_stops_only_the_adapter(tmp_path, fake_model, whatsapp, run_daemon):
    config = whatsapp_config(tmp_path, fake_model, whatsapp, whatsapp={"token": "EAAwrong-0001"})
    running = await run_daemon(config, ready=False)
    await running.wait_state("failed")
    assert "refused the token" in running.health["detail"]
    assert "EAAwrong-0001" not in json.dumps(running.daemon.health.snapshot())


async def test_poison_is_dead_lettered_and_can_be_retried(
    tmp_path, fake_model, whatsapp, run_daemon
):
    running = await run_daemon(whatsapp_config(tmp_path, fake_model, whatsapp))
    url = running.url
    poison = whatsapp.text(OWNER, "bad \udcff surrogate")  # SQLite cannot store it
    async with aiohttp.ClientSession() as http:
        body = json.dumps(whatsapp.delivery(poison)).encode()  # \udcff escaped: valid JSON
        headers = {"X-Hub-Signature-256": whatsapp.signature(body)}
        async with http.post(url, data=body, headers=headers) as response:
            assert response.status == 200
        headers = {"X-Hub-Signature-256": whatsapp.signature(b"not json")}
        async with http.post(url, data=b"not json", headers=headers) as response:
            assert response.status == 200  # signed, unreadable: kept, acknowledged
        fine = whatsapp.delivery(whatsapp.text(OWNER, "still here?"))
        await whatsapp.post_webhook(http, url, fine)
    sent = await whatsapp.wait_sent(1)
    assert sent[0].text == "echo: still here?"
    db = running.daemon.services.db
    rows = await db.fetchall("SELECT ref, payload FROM dead_letters ORDER BY id")
    assert [row[0] for row in rows] == [poison["id"], None]
    stored = json.loads(rows[0][1])
    assert stored["entry"][0]["changes"][0]["value"]["messages"][0]["id"] == poison["id"]


GROUP = "Y2FwaV9ncm91cDoxNzA1NTU1MDEzOToxMjAzNjM0MDQ2OTQyMzM4MjAZD"


async def test_groups_are_answered_only_when_addressed(tmp_path, fake_model, whatsapp, run_daemon):
    """A group of the Groups API: a mention of our number, a reply to our message or a command
    is for us; chatter is not; a group that is not allowlisted gets nothing."""
    access = {"whatsapp": {"users": {USER: "user"}, "groups": [GROUP]}}
    running = await run_daemon(whatsapp_config(tmp_path, fake_model, whatsapp, access=access))
    display = "15550783881"
    async with aiohttp.ClientSession() as http:

        async def say(message: dict) -> None:
            delivery = whatsapp.delivery(message)
            assert (await whatsapp.post_webhook(http, running.url, delivery))[0] == 200

        await say(whatsapp.text(USER, "lunch anyone?", group=GROUP))
        await say(whatsapp.text(USER, f"@{display} how full is the disk?", group=GROUP))
        (answer,) = await whatsapp.wait_sent(1)
        await say(whatsapp.text(USER, "and memory?", group=GROUP, reply_to=answer))
        await say(whatsapp.text(USER, f"@{display} hello?", group="OTHERGROUP0001"))
        await whatsapp.wait_sent(2)
        await running.daemon.services.router.wait_idle()
    assert [(s.to, s.payload["recipient_type"], s.text) for s in whatsapp.sent] == [
        (GROUP, "group", "echo: how full is the disk?"),
        (GROUP, "group", "echo: and memory?"),
    ]
    assert len(fake_model.requests) == 2
    assert whatsapp.read == [] and whatsapp.typing == []  # no read receipts in groups
    buttons = ((Button("Approve", "ok:1:y"), Button("Deny", "ok:1:n")),)
    group = ChatRef("whatsapp", GROUP, is_group=True)
    await running.daemon.services.router.notify(group, "Run it?", buttons=buttons)
    card = (await whatsapp.wait_sent(3))[2]
    assert (card.type, card.text) == ("text", "Run it?")  # groups take no buttons
    assert whatsapp.refused == []


async def test_pairing_by_reply_buttons(tmp_path, fake_model, whatsapp, run_daemon):
    access = {"pairing_notify": True}
    running = await run_daemon(whatsapp_config(tmp_path, fake_model, whatsapp, access=access))
    async with aiohttp.ClientSession() as http:

        async def say(message: dict, name: str = "Ann") -> None:
            delivery = whatsapp.delivery(message, name=name)
            assert (await whatsapp.post_webhook(http, running.url, delivery))[0] == 200

        await say(whatsapp.text(OWNER, "hi"))  # the owner wrote today: buttons may go
        await whatsapp.wait_sent(1)
        await say(whatsapp.text(STRANGER, "你好"), name="Li")
        await whatsapp.wait_for(lambda: any(s.buttons for s in whatsapp.sent))
        (note,) = [s for s in whatsapp.sent if s.buttons]
        assert note.to == OWNER and "Li (whatsapp 8613800138000)" in note.text
        assert [title for title, _ in note.buttons] == ["Approve", "Reject"]
        await say(whatsapp.button_reply(OWNER, note, 0))
        await whatsapp.wait_for(
            lambda: any(
                s.text.startswith("Approved ") and "Li (whatsapp " in s.text for s in whatsapp.sent
            )
        )
        await say(whatsapp.text(STRANGER, "现在呢？"), name="Li")
        await whatsapp.wait_for(lambda: whatsapp.sent[-1].text == "echo: 现在呢？")
    to_stranger = [s.text for s in whatsapp.sent if s.to == STRANGER]
    assert "assistant pairing approve" in to_stranger[0]
    assert to_stranger[1].startswith("你")  # the welcome, in Chinese
