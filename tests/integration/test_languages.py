"""Fixed replies in the person's language (issue 15): the platform's hint, the script they
write in, /lang (stored), /tz (stored), and no English sentence left in a Chinese reply."""

from __future__ import annotations

import re

import aiohttp

from assistant.core.i18n import LOCALES
from tests.conftest import GUEST, USER
from tests.integration.feishu_support import OWNER, OWNER_CHAT, feishu_config
from tests.integration.feishu_support import feishu as feishu
from tests.integration.feishu_support import run_daemon as run_daemon

# three English words in a row, outside `code`, [config keys], /commands and {placeholders}
_ENGLISH = re.compile(r"\b[A-Za-z]{2,}(?:[ ,'’-]+[A-Za-z]{2,}){2,}\b")
_ALLOWED = re.compile(r"`[^`]*`|\[[^\]]*\]|/[a-z_]+(?: [A-Z][A-Za-z/|]*)*|\{[^}]*\}|docs/\S+")


def english_sentences(text: str) -> list[str]:
    return _ENGLISH.findall(_ALLOWED.sub(" ", text))


def assert_chinese(text: str) -> None:
    assert re.search(r"[\u4e00-\u9fff]", text), text
    assert not english_sentences(text), f"English left in a Chinese reply: {text!r}"


# Every fixed reply a person can reach without a model, servers, memory or jobs.
COMMANDS = [
    "/start",
    "/help",
    "/status",
    "/new",
    "/new",
    "/model",
    "/model nope",
    "/model auto",
    "/cancel",
    "/cancel 123",
    "/frobnicate",
    "/run web1 uptime",
    "/hosts",
    "/approve 1",
    "/remember the door code",
    "/memory",
    "/remind 10m tea",
    "/jobs",
    "/lang",
    "/lang xx",
    "/tz",
    "/tz Mars/Olympus",
    "/pair",
    "/pair ABCD",
]


async def test_every_fixed_reply_in_chinese(make_config, start_harness):
    h = await start_harness(make_config(models=2, limits={"messages_per_minute": 0}))
    for command in COMMANDS:
        reply = await h.ask(command, language="zh-hans")
        assert_chinese(reply)
    guest = await h.ask("/model m1", user=GUEST, language="zh")
    assert_chinese(guest)


async def test_the_no_model_hint_in_chinese(make_config, start_harness):
    h = await start_harness(make_config(models=0))
    assert_chinese(await h.ask("你好", user=USER))  # the script of the message is the hint


async def test_lang_is_stored_and_beats_the_hints(make_config, start_harness):
    config = make_config()
    h = await start_harness(config)
    assert "English" in await h.ask("/lang", language="en")
    assert await h.ask("/lang zh", language="en") == "从现在起我用中文回复你。"
    assert_chinese(await h.ask("/help", language="en"))
    await h.router.wait_idle()
    await h.close()
    h = await start_harness(config)  # a restart keeps the choice
    assert_chinese(await h.ask("/status", language="en"))
    assert await h.ask("/lang auto") == "I follow your app's language again."
    assert (await h.ask("/help", language="en")).startswith("Assistant: write to me")
    assert_chinese(await h.ask("/help", language="zh-CN"))
    await h.router.wait_idle()
    await h.close()
    # the config's default when nothing tells
    zh = await start_harness(make_config(assistant={"language": "zh-CN"}))
    assert_chinese(await zh.ask("/help", user=USER))


async def test_tz_is_stored_and_used(make_config, start_harness):
    h = await start_harness(make_config())
    reply = await h.ask("/tz asia/shanghai")
    assert reply.startswith("Your time zone is now Asia/Shanghai")
    assert "Asia/Shanghai" in await h.ask("/tz")
    assert (await h.ask("/tz auto")).startswith("Back to the assistant's time zone, UTC")
    assert "I do not know the time zone" in await h.ask("/tz ../../etc/passwd")


async def test_feishu_people_get_chinese_without_configuring_anything(
    tmp_path,
    fake_model,
    feishu,
    run_daemon,
):
    running = await run_daemon(feishu_config(tmp_path, fake_model, feishu))
    async with aiohttp.ClientSession() as http:
        for text in ("/help", "/status", "/frobnicate"):
            event = feishu.message_event(chat_id=OWNER_CHAT, sender=OWNER, text=text)
            await feishu.post_webhook(http, running.url, event)
    sent = await feishu.wait_sent(3)
    for message in sent:
        assert_chinese(message.text)


def test_the_checker_catches_english():
    assert english_sentences("Not set up yet: /run — no servers yet")
    assert not english_sentences("尚未设置：/run HOST COMMAND — `systemctl reload assistant`")
    assert LOCALES == ("en", "zh_CN")
