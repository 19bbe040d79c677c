"""Fixed replies in the person's language (issue 15): the platform's hint, the script they
write in, /lang (stored), /tz (stored), and no English sentence left in a Chinese reply."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from types import SimpleNamespace

import aiohttp
import psutil
import pytest

from assistant.core.i18n import LOCALES
from assistant.core.messages import ChatRef, InboundMessage, MessageKind, Sender
from assistant.scheduler.types import AgentJob, At, Every, Job, MetricCheck, Reminder
from tests.conftest import GUEST, USER, until
from tests.conftest import OWNER as TELEGRAM_OWNER
from tests.helpers import FakeClock, running_daemons
from tests.integration.feishu_support import OWNER, OWNER_CHAT, feishu_config
from tests.integration.feishu_support import feishu as feishu
from tests.integration.feishu_support import run_daemon as run_daemon
from tests.integration.test_scheduler import settle, step
from tests.integration.test_telegram import telegram_config, telegram_running

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
    "/remind 10m tea",  # the scheduler is off here: the hint how to turn it on
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


ZH = "zh-hans"
HERE = ChatRef("telegram", f"chat-{USER}")
CREATOR = Sender(USER, f"user{USER}")


def job_of(reply: str) -> str:
    found = re.search(r"任务 ([0-9a-f]{6})", reply)
    assert found, reply
    return found.group(1)


async def test_reminders_and_jobs_in_chinese(make_config, start_harness):
    clock = FakeClock(datetime(2027, 1, 15, 1, 0, tzinfo=UTC).timestamp())
    h = await start_harness(make_config(scheduler={"enabled": True}), clock=clock)
    once = await h.ask("/remind 10m 喝水", user=USER, language=ZH)
    assert_chinese(once)
    assert "⏰ 喝水 — 一次，2027-01-15 01:10（UTC）；下次 2027-01-15 01:10。" in once
    daily = await h.ask("/remind 每个工作日 8:30 检查备份", user=USER, language=ZH)
    assert "每个工作日 08:30（UTC）" in daily
    for reply in (
        daily,
        await h.ask("/jobs", user=USER, language=ZH),
        await h.ask("/remind", user=USER, language=ZH),
        await h.ask("/remind 随便什么时候 喝水", user=USER, language=ZH),
        await h.ask("/cancel nope", user=USER, language=ZH),
        await h.ask("/cancel", user=USER, language=ZH),
        await h.ask(f"/cancel {job_of(daily)}", user=USER, language=ZH),
    ):
        assert_chinese(reply)
    await settle(h, clock)
    before = len(h.channel.sent)
    await step(h, clock, 600, job_of(once))  # the firing answers no message: still Chinese
    assert h.channel.texts()[before:] == ["⏰ 提醒：喝水"]
    assert_chinese(await h.ask("/jobs", user=USER, language=ZH))  # none left


async def test_late_and_missed_runs_and_alerts_in_the_creators_language(
    make_config, start_harness, monkeypatch
):
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(percent=93.0))
    clock = FakeClock()
    h = await start_harness(make_config(scheduler={"enabled": True}), recover=False, clock=clock)
    await h.services.locales.people.set_language(f"telegram:{USER}", "zh_CN")  # /lang zh
    now = clock.time()
    for jid, ago, task in (
        ("aaaaaa", 600, Reminder(text="浇花")),
        ("bbbbbb", 7200, Reminder(text="给银行打电话")),
        ("cccccc", 7200, AgentJob(prompt="写周报")),
    ):
        due = datetime.fromtimestamp(now - ago, UTC)
        job = Job(jid, HERE, CREATOR, "UTC", At(time=due), task, created_at=now - ago - 60)
        assert await h.scheduler.table.insert(job)
    await h.assembly.start()
    await h.channel.wait_sent(3)
    check, _ = await h.scheduler.create(
        HERE, CREATOR, Every(seconds=60), MetricCheck(metric="memory", threshold=50)
    )
    await step(h, clock, 60, check.id)
    texts = h.channel.texts()
    assert f"🔴 警报（检查 {check.id}）：内存使用率（%）为 93.0，高于阈值 50。" in texts
    for text in texts:
        assert_chinese(text)


async def test_a_reminder_is_planned_in_the_persons_time_zone(make_config, start_harness):
    # 20:00 on the 15th in UTC is 04:00 on the 16th in Shanghai: "tomorrow" is the 17th there
    clock = FakeClock(datetime(2027, 1, 15, 20, 0, tzinfo=UTC).timestamp())
    h = await start_harness(make_config(scheduler={"enabled": True}), clock=clock)
    assert (await h.ask("/tz Asia/Shanghai")).startswith("Your time zone is now Asia/Shanghai")
    reply = await h.ask("/remind tomorrow 9:00 call Anna")
    assert "once at 2027-01-17 09:00 (Asia/Shanghai); next 2027-01-17 09:00." in reply
    [(job, when)] = await h.scheduler.jobs_in(ChatRef("telegram", f"chat-{TELEGRAM_OWNER}"))
    assert job.timezone == "Asia/Shanghai"
    assert when == datetime(2027, 1, 17, 1, 0, tzinfo=UTC)
    assert "next 2027-01-17 09:00" in await h.ask("/jobs")
    daily = await h.ask("/remind every day 7:00 stand-up")
    assert "every day at 07:00 (Asia/Shanghai); next 2027-01-16 07:00." in daily


COMMAND = "systemctl restart nginx"


async def test_an_approval_card_in_the_approvers_language(make_config, start_harness):
    approver, requester = f"{TELEGRAM_OWNER}", "1004"
    config = make_config(
        ssh={"hosts": [{"name": "web1", "address": "127.0.0.1", "port": 1}]},
        access={"telegram": {"users": {USER: "user", GUEST: "guest", requester: "admin"}}},
    )
    h = await start_harness(config)
    assert_chinese(await h.ask("/help", user=approver, language=ZH))  # the app's language
    asking = asyncio.create_task(h.ask(f"/run web1 {COMMAND}", user=requester))

    async def carded() -> bool:
        return any(m.buttons for m in h.channel.sent)

    await until(carded)
    card = next(m for m in h.channel.sent if m.buttons)
    assert card.chat == ChatRef("telegram", approver)
    assert [b.label for b in card.buttons[0]] == ["批准", "拒绝"]
    request, _, reason = card.text.partition("需要审批的原因：")
    assert reason and "nginx" in reason  # the policy's reason is not translated (yet)
    assert_chinese(request.replace(COMMAND, ""))  # the command, as it will run
    assert (await asking).startswith("⏳ Asking for approval")  # the requester's language
    press = InboundMessage(
        chat=card.chat,
        sender=Sender(approver, name="Ann"),
        text=card.buttons[0][1].action_id,
        platform_id="press-1",
        kind=MessageKind.ACTION,
        message_id="1",
        meta={"language": "zh"},
    )
    await h.router.submit(press)

    async def decided() -> bool:
        return bool(h.channel.edits) and bool(h.channel.answers)

    await until(decided)
    assert h.channel.answers[-1][1] == "已拒绝。"  # the toast, for whoever pressed
    edited = h.channel.edits[-1][1]
    assert edited.startswith("❌ #1 已被 Ann 拒绝\n")
    assert_chinese(edited.partition("需要审批的原因：")[0].replace(COMMAND, ""))
    await until(lambda: _sent_with(h, "❌ Denied by"))


async def _sent_with(h, start: str) -> bool:
    return any(m.text.startswith(start) for m in h.channel.sent)


@pytest.fixture
async def telegram_daemon():
    async for start in running_daemons(telegram_running):
        yield start


async def test_the_telegram_menus_in_english_and_chinese(
    tmp_path, fake_model, bot_api, telegram_daemon
):
    config = telegram_config(tmp_path, fake_model, bot_api, scheduler={"enabled": True})
    await telegram_daemon(config)
    assert set(bot_api.menus) == {None, "zh"}
    english = {c["command"]: c["description"] for c in bot_api.menus[None]}
    chinese = {c["command"]: c["description"] for c in bot_api.menus["zh"]}
    assert list(english) == list(chinese)
    assert {"help", "status", "lang", "tz", "remind", "jobs"} <= set(chinese)
    assert english["help"] == "what I can do" and chinese["help"] == "我能做什么"
    assert chinese["remind"] == "在指定时间提醒你，一次或重复"
    for summary in chinese.values():
        assert_chinese(summary)


def test_the_checker_catches_english():
    assert english_sentences("Not set up yet: /run — no servers yet")
    assert not english_sentences("尚未设置：/run HOST COMMAND — `systemctl reload assistant`")
    assert LOCALES == ("en", "zh_CN")
