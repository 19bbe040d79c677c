"""The Feishu channel end to end, receiving by webhook: the real daemon against the fake Open
API and the fake model. (The long connection: test_feishu_ws.py.)"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time

import aiohttp
import tomli_w

from assistant.core.commands import ActionCall, ActionResult
from assistant.core.messages import Button, ChatRef
from assistant.core.roles import Permission
from tests.fakes.feishu import BOT_OPEN_ID
from tests.fakes.model import Reply
from tests.helpers import pdf_bytes
from tests.integration.feishu_support import (
    GROUP,
    GUEST,
    OWNER,
    OWNER_CHAT,
    STRANGER,
    STRANGER_CHAT,
    USER,
    config_data,
    feishu,
    feishu_config,
    run_daemon,
)

__all__ = ["feishu", "run_daemon"]  # fixtures


async def test_url_verification_and_request_authentication(
    tmp_path, fake_model, feishu, run_daemon
):
    running = await run_daemon(feishu_config(tmp_path, fake_model, feishu))
    challenge = {"challenge": "ajls384kdjx98XX", "token": feishu.verification_token}
    challenge["type"] = "url_verification"
    event = feishu.message_event(chat_id=OWNER_CHAT, sender=OWNER, text="hi")
    url = running.url
    async with aiohttp.ClientSession() as http:
        # the challenge: plain or encrypted, unsigned; the token must match
        assert await feishu.post_webhook(http, url, challenge, encrypted=False, signed=False) == (
            200,
            {"challenge": "ajls384kdjx98XX"},
        )
        status, body = await feishu.post_webhook(http, url, challenge, signed=False)
        assert (status, body) == (200, {"challenge": "ajls384kdjx98XX"})
        wrong = {**challenge, "token": "not-the-token"}
        assert (await feishu.post_webhook(http, url, wrong, signed=False))[0] == 401
        # events: signed, fresh, with the right token and key; anything else is 401
        bad_token = json.loads(json.dumps(event))
        bad_token["header"]["token"] = "x" * 22
        refusals = [
            await feishu.post_webhook(http, url, event, tamper=True),
            await feishu.post_webhook(http, url, event, signed=False),
            await feishu.post_webhook(http, url, event, timestamp=int(time.time()) - 3600),
            await feishu.post_webhook(http, url, event, key="another-encrypt-key-000"),
            await feishu.post_webhook(http, url, bad_token),
            await feishu.post_webhook(http, url, event, encrypted=False, signed=False),
        ]
        assert [status for status, _ in refusals] == [401] * 6
        assert all("rejected" in json.dumps(body) for _, body in refusals)
        assert fake_model.requests == [] and feishu.sent == []  # nothing was processed
        fake_model.script.append(Reply(text="hello Ann"))
        assert await feishu.post_webhook(http, url, event) == (200, {})
    sent = await feishu.wait_sent(1)
    assert (sent[0].chat_id, sent[0].msg_type, sent[0].text) == (OWNER_CHAT, "text", "hello Ann")
    assert sent[0].reply_to is None  # a private chat: no quoting
    assert len(fake_model.requests) == 1


async def test_unencrypted_webhook_needs_only_the_token(tmp_path, fake_model, feishu, run_daemon):
    config = feishu_config(tmp_path, fake_model, feishu, feishu={"encrypt_key": ""})
    running = await run_daemon(config)
    event = feishu.message_event(chat_id=OWNER_CHAT, sender=OWNER, text="plain")
    async with aiohttp.ClientSession() as http:
        assert (await feishu.post_webhook(http, running.url, event, encrypted=False))[0] == 200
        # an encrypted body cannot be read without the key: refused, and the log says why
        assert (await feishu.post_webhook(http, running.url, event))[0] == 401
    sent = await feishu.wait_sent(1)
    assert sent[0].text == "echo: plain"


async def test_group_answers_only_when_mentioned(tmp_path, fake_model, feishu, run_daemon):
    running = await run_daemon(feishu_config(tmp_path, fake_model, feishu))
    bob = feishu.mention("@_user_2", GUEST, "Gus")
    quiet = feishu.message_event(
        chat_id=GROUP, sender=USER, text="just chatting", chat_type="group"
    )
    other = feishu.message_event(
        chat_id=GROUP, sender=USER, text="@_user_2 lunch?", chat_type="group", mentions=[bob]
    )
    asked = feishu.message_event(
        chat_id=GROUP,
        sender=USER,
        text="@_user_1 how much disk? cc @_user_2",
        chat_type="group",
        mentions=[feishu.bot_mention(), bob],
    )
    topic = feishu.message_event(
        chat_id=GROUP,
        sender=OWNER,
        text="@_user_1 and memory?",
        chat_type="group",
        mentions=[feishu.bot_mention()],
        thread_id="omt_1a2b3c",
    )
    stranger_group = feishu.message_event(
        chat_id="oc_notallowed0000000000000000000009",
        sender=OWNER,
        text="@_user_1 hi",
        chat_type="group",
        mentions=[feishu.bot_mention()],
    )
    async with aiohttp.ClientSession() as http:
        for event in (quiet, other, asked, topic, stranger_group):
            assert (await feishu.post_webhook(http, running.url, event))[0] == 200
    await feishu.wait_for(lambda: len(feishu.sent) >= 3)
    await running.daemon.services.router.wait_idle()
    by_text = {s.text: s for s in feishu.sent}
    answer = by_text["echo: how much disk? cc @Gus"]
    assert answer.chat_id == GROUP and answer.reply_to == asked["event"]["message"]["message_id"]
    assert not answer.in_thread
    threaded = by_text["echo: and memory?"]
    assert threaded.reply_to == topic["event"]["message"]["message_id"] and threaded.in_thread
    notice = [s for s in feishu.sent if "allow-group feishu oc_notallowed" in s.text]
    assert len(notice) == 1  # the owner is told how to allow the group; nothing else
    assert len(fake_model.requests) == 2
    assert fake_model.requests[1]["messages"][-1]["content"] == "and memory?"


async def test_pairing_and_cli_approval(tmp_path, fake_model, feishu, run_daemon):
    data = config_data(tmp_path, fake_model, feishu)
    path = tmp_path / "config.toml"
    path.write_text(tomli_w.dumps(data))
    from assistant.config import load_config

    running = await run_daemon(load_config(path, {}))
    hello = feishu.message_event(chat_id=STRANGER_CHAT, sender=STRANGER, text="hello?")
    async with aiohttp.ClientSession() as http:
        await feishu.post_webhook(http, running.url, hello)
        sent = await feishu.wait_sent(1)
        assert sent[0].chat_id == STRANGER_CHAT and sent[0].text.startswith(
            "你好，Sam！"
        )  # Feishu: Chinese
        code = sent[0].text.split("pairing approve feishu ")[1][:8]
        assert "assistant pairing approve feishu " + code in sent[0].text
        assert fake_model.requests == []
        cli = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "assistant",
            "pairing",
            "approve",
            "feishu",
            code,
            "--config",
            str(path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(cli.communicate(), 60)
        assert cli.returncode == 0, err.decode()
        assert "they have been told" in out.decode()
        sent = await feishu.wait_sent(2)
        assert sent[1].chat_id == STRANGER_CHAT and sent[1].text.startswith("You're in!")
        again = feishu.message_event(chat_id=STRANGER_CHAT, sender=STRANGER, text="now?")
        await feishu.post_webhook(http, running.url, again)
    sent = await feishu.wait_sent(3)
    assert sent[2].text == "echo: now?"


async def test_card_approval_button(tmp_path, fake_model, feishu, run_daemon):
    running = await run_daemon(feishu_config(tmp_path, fake_model, feishu))
    services = running.daemon.services
    presses: list[ActionCall] = []

    async def decide(call: ActionCall) -> ActionResult:
        presses.append(call)
        return ActionResult(toast="Approved", edit_text=f"Approved by {call.message.sender.name}")

    services.actions.register("ok", Permission.APPROVE, decide)
    await services.router.notify(
        ChatRef("feishu", GROUP, is_group=True),
        "Run `df -h` on web1?",
        buttons=((Button("Approve", "ok:42:y", "primary"), Button("Deny", "ok:42:n", "danger")),),
    )
    sent = await feishu.wait_sent(1)
    card = sent[0]
    assert card.msg_type == "interactive" and card.text == "Run `df -h` on web1?"
    assert card.buttons == [
        ("Approve", {"action": "ok:42:y", "chat": "group"}),
        ("Deny", {"action": "ok:42:n", "chat": "group"}),
    ]
    url = running.url
    async with aiohttp.ClientSession() as http:
        value = card.buttons[0][1]
        guest = feishu.action_event(
            operator=GUEST, value=value, chat_id=GROUP, message_id=card.message_id
        )
        status, body = await feishu.post_webhook(http, url, guest)
        assert status == 200
        assert body["toast"]["type"] == "error" and "may not do this" in body["toast"]["content"]
        assert presses == []
        owner = feishu.action_event(
            operator=OWNER, value=value, chat_id=GROUP, message_id=card.message_id
        )
        status, body = await feishu.post_webhook(http, url, owner)
        assert (status, body) == (200, {"toast": {"type": "info", "content": "Approved"}})
        await feishu.wait_for(lambda: feishu.edits)
        assert card.text == "Approved by Ann" and card.buttons == []  # decision and who
        assert await feishu.post_webhook(http, url, owner) == (200, {})  # redelivered: once
        gone = feishu.action_event(
            operator=OWNER, value={"action": "gone:1"}, chat_id=GROUP, message_id=card.message_id
        )
        status, body = await feishu.post_webhook(http, url, gone)
        assert body["toast"]["content"] == "This button is no longer valid."
    assert [p.argument for p in presses] == ["42:y"]
    assert len(feishu.edits) == 1


async def test_duplicates_are_answered_once_also_across_a_restart(
    tmp_path, fake_model, feishu, run_daemon
):
    config = feishu_config(tmp_path, fake_model, feishu)
    running = await run_daemon(config)
    event = feishu.message_event(chat_id=OWNER_CHAT, sender=OWNER, text="once")
    same_message = json.loads(json.dumps(event))
    same_message["header"]["event_id"] = "f" * 32  # replayed under a new envelope
    async with aiohttp.ClientSession() as http:
        for payload in (event, event, same_message):
            assert await feishu.post_webhook(http, running.url, payload) == (200, {})
        await feishu.wait_sent(1)
        await running.daemon.services.router.wait_idle()
        assert await running.stop() == 0
        running = await run_daemon(config)
        for payload in (event, same_message):
            assert await feishu.post_webhook(http, running.url, payload) == (200, {})
        fresh = feishu.message_event(chat_id=OWNER_CHAT, sender=OWNER, text="twice")
        await feishu.post_webhook(http, running.url, fresh)
    await feishu.wait_sent(2)
    await running.daemon.services.router.wait_idle()
    assert [s.text for s in feishu.sent] == ["echo: once", "echo: twice"]
    assert len(fake_model.requests) == 2


async def test_expired_token_is_renewed_and_rate_limits_back_off(
    tmp_path, fake_model, feishu, run_daemon
):
    running = await run_daemon(feishu_config(tmp_path, fake_model, feishu))
    async with aiohttp.ClientSession() as http:
        event = feishu.message_event(chat_id=OWNER_CHAT, sender=OWNER, text="one")
        await feishu.post_webhook(http, running.url, event)
        await feishu.wait_sent(1)
        assert feishu.token_requests == 1
        feishu.expire_tokens()
        feishu.fail("send", 99991400, "request trigger frequency limit", times=2)
        event = feishu.message_event(chat_id=OWNER_CHAT, sender=OWNER, text="two")
        await feishu.post_webhook(http, running.url, event)
        sent = await feishu.wait_sent(2)
    assert sent[1].text == "echo: two"
    assert feishu.token_requests == 2  # refreshed once, then used again
    assert [c for c in feishu.calls if c[1] == "/open-apis/im/v1/messages"].count(
        ("POST", "/open-apis/im/v1/messages")
    ) >= 4  # refused for the token, twice rate limited, then sent


async def test_rich_text_images_and_files(tmp_path, fake_model, feishu, run_daemon):
    config = feishu_config(
        tmp_path,
        fake_model,
        feishu,
        models=[{"name": "eyes", "base_url": fake_model.base_url, "model": "v", "vision": True}],
    )
    running = await run_daemon(config)
    post = feishu.message_event(
        chat_id=OWNER_CHAT,
        sender=OWNER,
        msg_type="post",
        content={
            "title": "Deploy",
            "content": [
                [
                    {"tag": "text", "text": "Check ", "style": []},
                    {"tag": "text", "text": "web1", "style": ["bold"]},
                    {"tag": "a", "href": "https://example.org/x", "text": "runbook"},
                ],
                [{"tag": "code_block", "language": "SHELL", "text": "df -h"}],
            ],
        },
    )
    image = feishu.message_event(
        chat_id=OWNER_CHAT, sender=OWNER, msg_type="image", content={"image_key": "img_v3_01"}
    )
    feishu.add_file(
        image["event"]["message"]["message_id"], "img_v3_01", b"\xff\xd8jpeg", "image/jpeg"
    )
    document = feishu.message_event(
        chat_id=OWNER_CHAT,
        sender=OWNER,
        msg_type="file",
        content={"file_key": "file_v3_02", "file_name": "notes.txt"},
    )
    feishu.add_file(
        document["event"]["message"]["message_id"],
        "file_v3_02",
        b"line one\nline two",
        "text/plain",
    )
    async with aiohttp.ClientSession() as http:
        for event in (post, image, document):
            await feishu.post_webhook(http, running.url, event)
            await fake_model.wait_requests(len(fake_model.requests) + 1)
    await feishu.wait_sent(3)
    first, second, third = (r["messages"][-1]["content"] for r in fake_model.requests)
    assert (
        first
        == "**Deploy**\n\nCheck **web1**[runbook](https://example.org/x)\n\n```shell\ndf -h\n```"
    )
    assert second[1]["image_url"]["url"] == "data:image/jpeg;base64,/9hqcGVn"
    assert third.startswith("[Attached file: notes.txt]") and "line one\nline two" in third


async def test_bad_and_unknown_events_are_acknowledged(tmp_path, fake_model, feishu, run_daemon):
    running = await run_daemon(feishu_config(tmp_path, fake_model, feishu))
    broken = feishu.message_event(chat_id=OWNER_CHAT, sender=OWNER, text="x")
    broken["event"]["message"]["content"] = "{not json"
    unknown = {"schema": "2.0", "header": {**broken["header"], "event_id": "e" * 32}}
    unknown["header"]["event_type"] = "im.message.message_read_v1"
    unknown["event"] = {"reader": {"reader_id": {"open_id": OWNER}}}
    from_bot = feishu.message_event(
        chat_id=OWNER_CHAT, sender=BOT_OPEN_ID, text="mine", sender_type="app"
    )
    sticker = feishu.message_event(
        chat_id=OWNER_CHAT, sender=OWNER, msg_type="sticker", content={"file_key": "s"}
    )
    old_schema = {"uuid": "abc", "token": feishu.verification_token, "event": {"type": "x"}}
    async with aiohttp.ClientSession() as http:
        for event in (broken, unknown, unknown, from_bot, sticker, old_schema):
            assert (await feishu.post_webhook(http, running.url, event))[0] == 200
        ok = feishu.message_event(chat_id=OWNER_CHAT, sender=OWNER, text="still here?")
        await feishu.post_webhook(http, running.url, ok)
    sent = await feishu.wait_sent(1)
    assert [s.text for s in sent] == ["echo: still here?"]


async def test_long_and_formatted_replies_become_cards(tmp_path, fake_model, feishu, run_daemon):
    model = {"name": "m0", "base_url": fake_model.base_url, "model": "f", "max_tokens": 8192}
    running = await run_daemon(feishu_config(tmp_path, fake_model, feishu, models=[model]))
    code = "\n".join(f"{i:04d} " + "字" * 40 for i in range(400))
    text = "**Report** <at id=all></at>\n\n" + "word " * 3000 + "\n\n```\n" + code + "\n```\nEnd."
    fake_model.script.append(Reply(text=text))
    async with aiohttp.ClientSession() as http:
        event = feishu.message_event(chat_id=OWNER_CHAT, sender=OWNER, text="long please")
        await feishu.post_webhook(http, running.url, event)
    await feishu.wait_for(lambda: any("End." in s.text for s in feishu.sent))
    parts = feishu.sent
    assert len(parts) >= 3 and all(p.msg_type == "interactive" for p in parts)
    joined = "\n".join(p.text for p in parts)
    assert "&lt;at id=all>" in joined and "<at" not in joined  # nobody gets mentioned
    assert all(f"{i:04d} " in joined for i in range(400))
    assert sum(p.text.count("```") for p in parts) % 2 == 0  # every split code block closed


async def test_wrong_app_secret_stops_only_the_adapter(tmp_path, fake_model, feishu, run_daemon):
    config = feishu_config(tmp_path, fake_model, feishu, feishu={"app_secret": "wrong-secret-00"})
    running = await run_daemon(config, ready=False)
    await running.wait_state("failed")
    assert "refused the app credentials" in running.health["detail"]
    assert "wrong-secret-00" not in json.dumps(running.daemon.health.snapshot())
    async with aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{running.daemon.gateway.port}"
        async with http.get(f"{base}/healthz") as r:
            assert r.status == 200


async def test_streaming_patches_one_card_at_most_once_a_second(
    tmp_path, fake_model, feishu, run_daemon
):
    config = feishu_config(tmp_path, fake_model, feishu, feishu={"stream": True})
    running = await run_daemon(config)
    text = "Streaming " + " ".join(f"w{i}" for i in range(60))
    fake_model.responder = lambda body: Reply(text=text, chunk=12, pause=0.08)
    async with aiohttp.ClientSession() as http:
        event = feishu.message_event(chat_id=OWNER_CHAT, sender=OWNER, text="stream please")
        await feishu.post_webhook(http, running.url, event)
    await feishu.wait_for(lambda: feishu.sent and feishu.sent[0].text == text, timeout=15)
    await running.daemon.services.router.wait_idle()
    assert len(feishu.sent) == 1 and feishu.sent[0].msg_type == "interactive"
    assert fake_model.requests[0]["stream"] is True
    # the card was sent, then patched with previews (the last patch is the final text)
    previews = [feishu.sent[0].at] + [e["at"] for e in feishu.edits[:-1]]
    assert len(feishu.edits) >= 2
    assert all(b - a >= 0.9 for a, b in itertools.pairwise(previews))
    assert {e["message_id"] for e in feishu.edits} == {feishu.sent[0].message_id}


async def test_a_person_is_reached_by_open_id(tmp_path, fake_model, feishu, run_daemon):
    """Approvals and notices go to people: the owners are known by open_id, not chat_id."""
    running = await run_daemon(feishu_config(tmp_path, fake_model, feishu))
    await running.daemon.services.router.notify(ChatRef("feishu", OWNER), "approval needed")
    sent = await feishu.wait_sent(1)
    assert (sent[0].chat_id, sent[0].text) == (OWNER, "approval needed")


async def test_voice_and_pdf_like_telegram(tmp_path, fake_model, feishu, run_daemon):
    """A Feishu voice note (Opus in Ogg) is transcribed under a name the endpoint takes (the
    fake refuses ".opus" as OpenAI does); a PDF's text layer reaches the model."""
    config = feishu_config(
        tmp_path,
        fake_model,
        feishu,
        speech={"base_url": fake_model.base_url, "model": "whisper-test"},
    )
    running = await run_daemon(config)
    voice = feishu.message_event(
        chat_id=OWNER_CHAT,
        sender=OWNER,
        msg_type="audio",
        content={"file_key": "file_v3_voice", "duration": 2000},
    )
    ogg = b"OggS\x00\x02" + b"\x00" * 20 + b"OpusHead"
    feishu.add_file(voice["event"]["message"]["message_id"], "file_v3_voice", ogg, "audio/opus")
    document = feishu.message_event(
        chat_id=OWNER_CHAT,
        sender=OWNER,
        msg_type="file",
        content={"file_key": "file_v3_pdf", "file_name": "report.pdf"},
    )
    feishu.add_file(
        document["event"]["message"]["message_id"],
        "file_v3_pdf",
        pdf_bytes("Quarterly uptime 99.9"),
        "application/pdf",
    )
    async with aiohttp.ClientSession() as http:
        for event in (voice, document):
            await feishu.post_webhook(http, running.url, event)
            await fake_model.wait_requests(len(fake_model.requests) + 1)
    await feishu.wait_sent(2)
    assert fake_model.uploads == [
        {"model": "whisper-test", "filename": "voice.ogg", "size": len(ogg)}
    ]
    spoken, pdf = (r["messages"][-1]["content"] for r in fake_model.requests)
    assert spoken == "[voice message] please check the disk"
    assert pdf.startswith("[Attached file: report.pdf]") and "Quarterly uptime 99.9" in pdf
