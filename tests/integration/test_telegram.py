"""The Telegram channel end to end: the real daemon against the fake Bot API and fake model."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest
import tomli_w

from assistant.app import Daemon
from assistant.config import parse_config
from assistant.core.commands import ActionCall, ActionResult
from assistant.core.messages import Button, ChatRef
from assistant.core.roles import Permission
from tests.fakes.model import FakeModel, Reply
from tests.fakes.telegram import FakeBotAPI
from tests.helpers import Running, pdf_bytes, running_daemons

OWNER = 1001
USER = 1002
STRANGER = 4242
GROUP = -100555


@pytest.fixture
async def bot_api():
    fake = await FakeBotAPI().start()
    yield fake
    await fake.stop()


def telegram_config(tmp_path, fake_model: FakeModel, bot_api: FakeBotAPI, **extra: Any):
    telegram = {
        "enabled": True,
        "token": bot_api.token,
        "api_base": bot_api.base_url,
        "poll_timeout": 1,
        "watchdog": 30,
        "stream": False,
        "rate_limit": 0,
        **extra.pop("telegram", {}),
    }
    models = extra.pop("models", None) or [
        {"name": "m0", "base_url": fake_model.base_url, "model": "fake-0", "timeout": 5}
    ]
    data = {
        "assistant": {"state_dir": str(tmp_path / "state"), "drain_timeout": 3},
        "gateway": {"port": 0},
        "access": {
            "owners": [f"telegram:{OWNER}"],
            "telegram": {"users": {str(USER): "user"}, "groups": [str(GROUP)]},
        },
        "models": models,
        "telegram": telegram,
        # memory and the scheduler load heavy libraries: tests that need them opt in
        "memory": {"enabled": False},
        "scheduler": {"enabled": False},
        **extra,
    }
    return parse_config(tomli_w.dumps(data), {})


def telegram_running(daemon: Daemon, task: asyncio.Task[int]) -> Running:
    return Running(daemon, task, "channel.telegram")


@pytest.fixture
async def run_daemon():
    async for start in running_daemons(telegram_running):
        yield start


async def test_private_chat_reply_and_command_menu(tmp_path, fake_model, bot_api, run_daemon):
    await run_daemon(telegram_config(tmp_path, fake_model, bot_api))
    fake_model.script.append(Reply(text="**Hello** <there> & welcome"))
    await bot_api.user_message(OWNER, OWNER, "hi")
    sent = await bot_api.wait_sent(1)
    assert sent[0].chat_id == OWNER
    assert sent[0].text == "<b>Hello</b> &lt;there&gt; &amp; welcome"
    assert sent[0].parse_mode == "HTML"
    assert [c["command"] for c in bot_api.commands][:4] == ["help", "new", "status", "model"]
    assert ("deleteWebhook", {"drop_pending_updates": "false"}) in [
        (m, {k: v for k, v in p.items() if k == "drop_pending_updates"}) for m, p in bot_api.calls
    ] or any(m == "deleteWebhook" for m, _ in bot_api.calls)
    assert any(a["action"] == "typing" for a in bot_api.actions)


async def test_group_answers_only_when_addressed(tmp_path, fake_model, bot_api, run_daemon):
    await run_daemon(telegram_config(tmp_path, fake_model, bot_api))
    bot = bot_api.bot
    await bot_api.user_message(GROUP, USER, "just chatting", chat_type="supergroup")
    await bot_api.user_message(GROUP, USER, "/status@other_bot", chat_type="supergroup")
    mention = f"@{bot['username']} how much disk?"
    await bot_api.user_message(
        GROUP,
        USER,
        mention,
        chat_type="supergroup",
        entities=[{"type": "mention", "offset": 0, "length": len(bot["username"]) + 1}],
    )
    sent = await bot_api.wait_sent(1)
    assert sent[0].chat_id == GROUP and sent[0].text == "echo: how much disk?"
    assert sent[0].reply_to is not None  # threaded to the question
    reply_to_bot = {
        "message_id": sent[0].message_id,
        "from": bot,
        "chat": bot_api.chat(GROUP, "supergroup"),
        "date": 0,
        "text": sent[0].text,
    }
    await bot_api.user_message(
        GROUP, OWNER, "and memory?", chat_type="supergroup", reply_to_message=reply_to_bot
    )
    await bot_api.user_message(GROUP, 7777, f"/help@{bot['username']}", chat_type="supergroup")
    sent = await bot_api.wait_sent(3)
    assert sent[1].text.endswith("and memory?")
    assert "/status" in sent[2].text  # a group member without a role is a guest
    assert len(fake_model.requests) == 2
    replied = fake_model.requests[1]["messages"][-1]["content"]
    assert replied.startswith("[In reply to: «echo: how much disk?»]")
    await bot_api.user_message(-100999, OWNER, "/help", chat_type="supergroup")  # not allowlisted
    sent = await bot_api.wait_sent(4)
    assert "assistant users allow-group telegram -100999" in sent[3].text


async def test_pairing_end_to_end(tmp_path, fake_model, bot_api, run_daemon):
    await run_daemon(telegram_config(tmp_path, fake_model, bot_api))
    await bot_api.user_message(STRANGER, STRANGER, "hello?")
    sent = await bot_api.wait_sent(1)
    assert sent[0].chat_id == STRANGER
    code = sent[0].text.split("pairing code is ")[1][:8]
    assert len(code) == 8 and not set(code) & set("0O1I")
    assert fake_model.requests == []  # the stranger's message was not processed
    await bot_api.user_message(STRANGER, STRANGER, "hello again?")  # same code, not repeated yet
    await bot_api.user_message(OWNER, OWNER, "/pair")
    sent = await bot_api.wait_sent(2)
    assert code in sent[1].text and str(STRANGER) in sent[1].text
    await bot_api.user_message(OWNER, OWNER, f"/pair {code.lower()} user")
    sent = await bot_api.wait_sent(4)
    by_chat = {s.chat_id: s.text for s in sent[2:]}
    assert by_chat[STRANGER].startswith("You're in!")
    assert "Approved <code>Ann (telegram" in by_chat[OWNER]  # a name shows as text, never markup
    await bot_api.user_message(STRANGER, STRANGER, "now?")
    sent = await bot_api.wait_sent(5)
    assert sent[4].text == "echo: now?"


async def test_pairing_is_limited_per_stranger_not_per_channel(
    tmp_path, fake_model, bot_api, run_daemon
):
    await run_daemon(telegram_config(tmp_path, fake_model, bot_api))
    strangers = range(5001, 5011)
    for user in strangers:
        await bot_api.user_message(user, user, "hi")
    for user in strangers:  # writing again within ten minutes gets no second code
        await bot_api.user_message(user, user, "hello?")
    await bot_api.user_message(OWNER, OWNER, "/pair")
    await bot_api.wait_for(lambda: any(s.chat_id == OWNER for s in bot_api.sent))
    codes = [s for s in bot_api.sent if "pairing code is" in s.text]
    assert sorted(s.chat_id for s in codes) == list(strangers)  # ten strangers, ten codes
    owner = next(s for s in bot_api.sent if s.chat_id == OWNER)
    assert len(owner.text.splitlines()) == 11


async def test_markdown_falls_back_to_plain_text(tmp_path, fake_model, bot_api, run_daemon):
    await run_daemon(telegram_config(tmp_path, fake_model, bot_api))
    bot_api.fail("sendMessage", 400, "Bad Request: can't parse entities: Unsupported start tag")
    fake_model.script.append(Reply(text="use **sudo** carefully"))
    await bot_api.user_message(OWNER, OWNER, "tip?")
    sent = await bot_api.wait_sent(1)
    assert sent[0].parse_mode is None and sent[0].text == "use **sudo** carefully"


async def test_long_replies_are_split_and_code_blocks_reopened(
    tmp_path, fake_model, bot_api, run_daemon
):
    await run_daemon(telegram_config(tmp_path, fake_model, bot_api))
    code = "\n".join(f"{i:04d} " + "x" * 70 for i in range(150))
    text = "Intro paragraph.\n\n" + "word " * 400 + "\n\n```python\n" + code + "\n```\n\nDone."
    fake_model.script.append(Reply(text=text))
    await bot_api.user_message(OWNER, OWNER, "long please")
    await bot_api.wait_for(lambda: any("Done." in s.text for s in bot_api.sent))
    parts = bot_api.sent
    assert len(parts) >= 3
    from tests.fakes.telegram import check_html, utf16_len

    for part in parts:
        error, visible = check_html(part.text)
        assert error is None and utf16_len(visible) <= 4096
    code_parts = [p for p in parts if "<pre><code" in p.text]
    assert len(code_parts) >= 2  # the code block was closed and reopened
    joined = "".join(p.text for p in parts)
    assert all(f"{i:04d} " in joined for i in range(150))


async def test_photo_goes_to_a_vision_model(tmp_path, fake_model, bot_api, run_daemon):
    config = telegram_config(
        tmp_path,
        fake_model,
        bot_api,
        models=[{"name": "eyes", "base_url": fake_model.base_url, "model": "v", "vision": True}],
    )
    await run_daemon(config)
    small = bot_api.add_file(b"small", "photos/s.jpg")
    large = bot_api.add_file(b"\xff\xd8large-jpeg", "photos/l.jpg")
    photo = [
        {"file_id": small, "file_unique_id": "s", "width": 90, "height": 90, "file_size": 5},
        {"file_id": large, "file_unique_id": "l", "width": 800, "height": 600, "file_size": 11},
    ]
    await bot_api.push(
        "message", bot_api.message(OWNER, OWNER, None, photo=photo, caption="what is it?")
    )
    await bot_api.wait_sent(1)
    content = fake_model.requests[0]["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "what is it?"}
    assert content[1]["image_url"]["url"] == "data:image/jpeg;base64,/9hsYXJnZS1qcGVn"


async def test_photo_without_vision_gets_a_clear_reply(tmp_path, fake_model, bot_api, run_daemon):
    await run_daemon(telegram_config(tmp_path, fake_model, bot_api))
    file_id = bot_api.add_file(b"jpeg", "photos/p.jpg")
    photo = [{"file_id": file_id, "file_unique_id": "p", "width": 9, "height": 9, "file_size": 4}]
    await bot_api.push("message", bot_api.message(OWNER, OWNER, None, photo=photo))
    sent = await bot_api.wait_sent(1)
    assert "cannot look at images" in sent[0].text and "/model" in sent[0].text
    assert fake_model.requests == []


@pytest.mark.parametrize(
    ("name", "mime", "data", "expected"),
    [
        ("notes.txt", "text/plain", b"line one\nline two", "line one\nline two"),
        (
            "report.pdf",
            "application/pdf",
            pdf_bytes("Quarterly uptime 99.9"),
            "Quarterly uptime 99.9",
        ),
    ],
)
async def test_documents_are_read(
    tmp_path, fake_model, bot_api, run_daemon, name, mime, data, expected
):
    await run_daemon(telegram_config(tmp_path, fake_model, bot_api))
    file_id = bot_api.add_file(data, f"documents/{name}")
    document = {
        "file_id": file_id,
        "file_unique_id": "d",
        "file_name": name,
        "mime_type": mime,
        "file_size": len(data),
    }
    await bot_api.push(
        "message", bot_api.message(OWNER, OWNER, None, document=document, caption="summarize")
    )
    await bot_api.wait_sent(1)
    content = fake_model.requests[0]["messages"][-1]["content"]
    assert content.startswith(f"summarize\n\n[Attached file: {name}]")
    assert expected in content


async def test_unsupported_and_oversized_files_get_clear_replies(
    tmp_path, fake_model, bot_api, run_daemon
):
    await run_daemon(telegram_config(tmp_path, fake_model, bot_api, telegram={"max_file_mb": 1}))
    archive = {
        "file_id": bot_api.add_file(b"PK", "d/a.zip"),
        "file_unique_id": "z",
        "file_name": "a.zip",
        "mime_type": "application/zip",
        "file_size": 2,
    }
    huge = {
        "file_id": "big",
        "file_unique_id": "h",
        "file_name": "big.log",
        "mime_type": "text/plain",
        "file_size": 5 * 1024 * 1024,
    }
    await bot_api.push("message", bot_api.message(OWNER, OWNER, None, document=archive))
    await bot_api.push("message", bot_api.message(OWNER, OWNER, None, document=huge))
    sent = await bot_api.wait_sent(2)
    assert "text files and PDFs" in sent[0].text
    assert "5.0 MB" in sent[1].text and "1.0 MB" in sent[1].text
    assert fake_model.requests == []


async def test_voice_is_transcribed(tmp_path, fake_model, bot_api, run_daemon):
    config = telegram_config(
        tmp_path,
        fake_model,
        bot_api,
        speech={"base_url": fake_model.base_url, "model": "whisper-test"},
    )
    await run_daemon(config)
    voice = {
        "file_id": bot_api.add_file(b"OggS-voice", "voice/v.oga"),
        "file_unique_id": "v",
        "duration": 2,
        "mime_type": "audio/ogg",
        "file_size": 10,
    }
    await bot_api.push("message", bot_api.message(OWNER, OWNER, None, voice=voice))
    await bot_api.wait_sent(1)
    assert fake_model.uploads == [{"model": "whisper-test", "filename": "voice.ogg", "size": 10}]
    assert (
        fake_model.requests[0]["messages"][-1]["content"] == "[voice message] please check the disk"
    )


async def test_voice_without_speech_config_gets_a_hint(tmp_path, fake_model, bot_api, run_daemon):
    await run_daemon(telegram_config(tmp_path, fake_model, bot_api))
    voice = {"file_id": "v1", "file_unique_id": "v", "duration": 2, "file_size": 10}
    await bot_api.push("message", bot_api.message(OWNER, OWNER, None, voice=voice))
    sent = await bot_api.wait_sent(1)
    assert "[speech]" in sent[0].text


async def test_buttons_and_callbacks(tmp_path, fake_model, bot_api, run_daemon):
    running = await run_daemon(telegram_config(tmp_path, fake_model, bot_api))
    services = running.daemon.services
    presses: list[ActionCall] = []

    async def decide(call: ActionCall) -> ActionResult:
        presses.append(call)
        return ActionResult(toast="Approved", edit_text=f"Approved by {call.message.sender.name}")

    services.actions.register("ok", Permission.APPROVE, decide)
    await services.router.notify(
        ChatRef("telegram", str(GROUP), is_group=True),
        "Run `df -h` on web1?",
        buttons=((Button("Approve", "ok:42:y", "primary"), Button("Deny", "ok:42:n", "danger")),),
    )
    sent = await bot_api.wait_sent(1)
    keyboard = sent[0].reply_markup["inline_keyboard"]
    assert [b["callback_data"] for b in keyboard[0]] == ["ok:42:y", "ok:42:n"]
    await bot_api.press(GROUP, 7777, "ok:42:y", sent[0].message_id)  # a guest in the group
    await bot_api.wait_for(lambda: len(bot_api.callback_answers) == 1)
    assert "may not do this" in bot_api.callback_answers[0]["text"]
    assert presses == []
    update = await bot_api.press(GROUP, OWNER, "ok:42:y", sent[0].message_id)
    await bot_api.wait_for(lambda: len(bot_api.callback_answers) == 2 and bot_api.edits)
    assert bot_api.callback_answers[1]["text"] == "Approved"
    assert [p.argument for p in presses] == ["42:y"]
    assert sent[0].text == "Approved by Ann" and not sent[0].reply_markup
    await bot_api.push_raw(update)  # redelivered: not handled twice
    await bot_api.press(OWNER, OWNER, "gone:1", sent[0].message_id)
    await bot_api.wait_for(lambda: len(bot_api.callback_answers) == 3)
    assert bot_api.callback_answers[2]["text"] == "This button is no longer valid."
    assert len(presses) == 1


async def test_rate_limit_429_is_honoured(tmp_path, fake_model, bot_api, run_daemon):
    await run_daemon(telegram_config(tmp_path, fake_model, bot_api))
    bot_api.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    await bot_api.user_message(OWNER, OWNER, "hi")
    started = time.monotonic()
    sent = await bot_api.wait_sent(1)
    assert sent[0].text == "echo: hi"
    assert time.monotonic() - started >= 0.9


async def test_blocked_user_is_logged_and_not_retried(tmp_path, fake_model, bot_api, run_daemon):
    running = await run_daemon(telegram_config(tmp_path, fake_model, bot_api))
    bot_api.blocked_chats.add(OWNER)
    await bot_api.user_message(OWNER, OWNER, "hi")
    await fake_model.wait_requests(1)
    await running.daemon.services.router.wait_idle()
    assert [m for m, _ in bot_api.calls].count("sendMessage") == 1
    assert await running.daemon.services.inbox.unfinished(["telegram"]) == []


async def test_bad_input_is_skipped_and_polling_goes_on(tmp_path, fake_model, bot_api, run_daemon):
    await run_daemon(telegram_config(tmp_path, fake_model, bot_api))
    await bot_api.push_raw({"update_id": 900, "poll": {"id": "p"}})  # a kind we do not ask for
    await bot_api.push_raw({"update_id": 901, "message": {"chat": "not an object"}})
    await bot_api.push_raw(
        {"update_id": 902, "message": bot_api.message(OWNER, OWNER, None, sticker={})}
    )
    await bot_api.push_raw({"update_id": 903, "edited_message": bot_api.message(OWNER, OWNER, "x")})
    await bot_api.push_raw(
        {"update_id": 904, "message": bot_api.message(OWNER, OWNER, "x" * 100_000)}
    )
    await bot_api.push_raw(
        {"update_id": 905, "message": bot_api.message(OWNER, OWNER, "still here?")}
    )
    sent = await bot_api.wait_sent(1)
    assert [s.text for s in sent] == ["echo: still here?"]
    assert bot_api.confirmed_offset >= 905


async def test_bad_token_stops_only_the_adapter(tmp_path, fake_model, bot_api, run_daemon):
    config = telegram_config(tmp_path, fake_model, bot_api, telegram={"token": "999:wrong-token"})
    running = await run_daemon(config, ready=False)
    await running.wait_state("failed")
    assert "rejected the bot token" in running.health["detail"]
    assert "wrong-token" not in json.dumps(running.daemon.health.snapshot())
    async with aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{running.daemon.gateway.port}"
        async with http.get(f"{base}/readyz") as r:
            assert r.status == 503
        async with http.get(f"{base}/healthz") as r:
            assert r.status == 200  # the rest of the daemon keeps running


async def test_ready_at_once_on_a_quiet_bot(tmp_path, fake_model, bot_api, run_daemon):
    """Connected means ready: /readyz does not wait for the first long poll to come back."""
    config = telegram_config(tmp_path, fake_model, bot_api, telegram={"poll_timeout": 20})
    running = await run_daemon(config, ready=False)
    await running.wait_state("ready", timeout=5)  # well before the first poll could return
    await bot_api.user_message(OWNER, OWNER, "still there?")
    assert (await bot_api.wait_sent(1))[0].text == "echo: still there?"


async def test_watchdog_restarts_a_deaf_poller(tmp_path, fake_model, bot_api, run_daemon):
    config = telegram_config(tmp_path, fake_model, bot_api, telegram={"watchdog": 6.5})
    running = await run_daemon(config)
    bot_api.hang_get_updates = True
    await running.wait_state("down", timeout=15)
    assert "no getUpdates call completed" in running.health["detail"]
    bot_api.hang_get_updates = False
    await running.wait_state("ready", timeout=20)
    await bot_api.user_message(OWNER, OWNER, "back?")
    sent = await bot_api.wait_sent(1, timeout=15)
    assert sent[0].text == "echo: back?"
    assert "last_poll" in running.health


async def test_streaming_edits_one_message(tmp_path, fake_model, bot_api, run_daemon):
    await run_daemon(telegram_config(tmp_path, fake_model, bot_api, telegram={"stream": True}))
    text = "Streaming " + " ".join(f"w{i}" for i in range(200))

    def slow_stream(body):
        return Reply(text=text, chunk=40, delay=0.0)

    fake_model.responder = slow_stream
    await bot_api.user_message(OWNER, OWNER, "stream please")
    await bot_api.wait_for(lambda: bot_api.sent and bot_api.sent[0].text == text)
    assert len(bot_api.sent) == 1
    assert fake_model.requests[0]["stream"] is True


async def test_webhook_mode(tmp_path, fake_model, bot_api, run_daemon):
    secret = "s3cret-webhook-token-0123456789"
    config = telegram_config(
        tmp_path,
        fake_model,
        bot_api,
        telegram={
            "mode": "webhook",
            "webhook_url": "https://bot.example.org",
            "webhook_secret": secret,
        },
    )
    running = await run_daemon(config)
    assert bot_api.webhook["url"] == "https://bot.example.org/telegram/webhook"
    assert bot_api.webhook["secret_token"] == secret
    bot_api.webhook["url"] = f"http://127.0.0.1:{running.daemon.gateway.port}/telegram/webhook"
    update = {"update_id": 77, "message": bot_api.message(OWNER, OWNER, "via webhook")}
    async with aiohttp.ClientSession() as http:
        assert await bot_api.deliver_webhook(http, update, secret="wrong") == 401
        assert await bot_api.deliver_webhook(http, update, secret="") == 401
        assert await bot_api.deliver_webhook(http, update) == 200
        assert await bot_api.deliver_webhook(http, update) == 200  # a retry: answered once
    sent = await bot_api.wait_sent(1)
    assert sent[0].text == "echo: via webhook"
    await running.daemon.services.router.wait_idle()
    assert len(bot_api.sent) == 1


async def test_server_errors_back_off_and_recover(tmp_path, fake_model, bot_api, run_daemon):
    running = await run_daemon(telegram_config(tmp_path, fake_model, bot_api))
    bot_api.fail("getUpdates", 502, "Bad Gateway", times=2)
    await running.wait_state("down")
    assert "HTTP 502" in running.health["detail"]
    await running.wait_state("ready", timeout=20)
    await bot_api.user_message(OWNER, OWNER, "after the outage")
    sent = await bot_api.wait_sent(1, timeout=15)
    assert sent[0].text == "echo: after the outage"
