"""Pictures and files out (issues 18, 19): the model's send_file, a reply's files through the
real daemon to the fake Bot API (multipart sendPhoto/sendDocument), the stand-in line for a
file the platform will not take, and a restart between a reply's parts."""

from __future__ import annotations

from pathlib import Path

from assistant.core.messages import ChatRef, OutFile
from assistant.store.db import Database, prepare_state_dir
from assistant.store.deliveries import DeliveryLog
from assistant.store.inbox import Inbox
from tests.fakes.model import FakeModel, Reply
from tests.fakes.telegram import FakeBotAPI
from tests.helpers import png_bytes
from tests.integration.test_delivery_record import asked
from tests.integration.test_telegram import OWNER, bot_api, run_daemon, telegram_config

__all__ = ["bot_api", "run_daemon"]  # fixtures

MB = 1024 * 1024


async def test_the_model_sends_a_file_with_its_reply_as_the_caption(
    tmp_path, fake_model: FakeModel, bot_api: FakeBotAPI, run_daemon
):
    running = await run_daemon(telegram_config(tmp_path, fake_model, bot_api))
    content = f"host,cpu\nweb1,93\n网关,12\nleak,{bot_api.token}\n"
    fake_model.script.extend(
        [
            Reply(tool_calls=[("send_file", {"name": "../cpu report.csv", "content": content})]),
            Reply(text="Here is the **report**."),
        ]
    )
    await bot_api.user_message(OWNER, OWNER, "cpu report as csv please")
    sent = await bot_api.wait_sent(1)
    [message] = bot_api.history(OWNER)
    assert message is sent[0] and message.file is not None
    assert message.file.kind == "document" and message.file.name == "cpu report.csv"
    assert message.file.mime_type == "text/csv"
    data = message.file.data
    assert data.startswith(b"\xef\xbb\xbf") and "网关,12".encode() in data
    assert bot_api.token.encode() not in data  # the redactor saw it first
    assert message.text == "Here is the <b>report</b>." and message.parse_mode == "HTML"
    tool_result = fake_model.requests[1]["messages"][-1]
    assert tool_result["role"] == "tool" and "will be sent" in tool_result["content"]
    await running.daemon.services.router.wait_idle()  # delivered: its stored file is dropped
    assert await running.daemon.services.db.fetchall("SELECT inbox_id FROM reply_files") == []


async def test_send_file_refuses_what_it_may_not_send(
    tmp_path, fake_model: FakeModel, bot_api: FakeBotAPI, run_daemon
):
    config = telegram_config(tmp_path, fake_model, bot_api, agent={"send_file_max_kb": 1})
    await run_daemon(config)
    fake_model.script.extend(
        [
            Reply(
                tool_calls=[
                    ("send_file", {"name": "big.md", "content": "x" * 2000}),
                    ("send_file", {"name": "run.sh", "content": "rm -rf /"}),
                ]
            ),
            Reply(text="Nothing to send."),
        ]
    )
    await bot_api.user_message(OWNER, OWNER, "send me files")
    await bot_api.wait_sent(1)
    results = [m["content"] for m in fake_model.requests[1]["messages"] if m["role"] == "tool"]
    assert "at most 1024" in results[0] and ".md" in results[1]
    assert [(s.file, s.text) for s in bot_api.history(OWNER)] == [(None, "Nothing to send.")]


async def test_pictures_files_and_what_telegram_will_not_take(
    tmp_path, fake_model: FakeModel, bot_api: FakeBotAPI, run_daemon
):
    running = await run_daemon(telegram_config(tmp_path, fake_model, bot_api))
    files = (
        OutFile("chart.png", png_bytes(4, 3), "image/png", "image"),
        OutFile("wide.png", png_bytes(9000, 2000, header_only=True), "image/png", "image"),
        OutFile("dump.bin", b"\0" * (50 * MB + 1), "application/octet-stream"),
    )
    text = (
        "A long explanation. " * 60
    ).strip()  # past a caption's 1024 characters: its own message
    chat = ChatRef("telegram", str(OWNER))
    await running.daemon.services.router.notify(chat, text, files=files, plain=True)
    history = bot_api.history(OWNER)
    assert [(s.file.kind, s.file.name) if s.file else None for s in history] == [
        ("photo", "chart.png"),
        ("document", "wide.png"),  # Telegram refused its dimensions: sent as a file
        None,
        None,
    ]
    assert history[0].file.data == files[0].data
    assert "dump.bin (50 MB) was not sent" in history[2].text and "50 MB" in history[2].text
    assert history[3].text == text


async def test_a_short_text_with_buttons_is_a_caption_that_an_edit_changes(
    tmp_path, fake_model: FakeModel, bot_api: FakeBotAPI, run_daemon
):
    from assistant.core.messages import Button

    running = await run_daemon(telegram_config(tmp_path, fake_model, bot_api))
    chart = OutFile("chart.png", png_bytes(), "image/png", "image")
    chat = ChatRef("telegram", str(OWNER))
    router = running.daemon.services.router
    [sent] = await router.notify(
        chat, "CPU on web1", files=(chart,), buttons=((Button("Ack", "a:1"),),)
    )
    await router.notify(chat, "CPU on web2", files=(chart,))
    history = bot_api.history(OWNER)
    assert [(bool(s.file), s.text, bool(s.reply_markup)) for s in history] == [
        (True, "CPU on web1", True),  # one message: the picture, its caption and buttons
        (True, "CPU on web2", False),
    ]
    await router.edit(sent, "CPU on web1: acknowledged")  # editMessageText refused: caption
    assert history[0].versions == ["CPU on web1", "CPU on web1: acknowledged"]
    assert not history[0].reply_markup
    await router.edit(sent, "long " * 300)  # past a caption's 1024 characters: a new message
    assert bot_api.history(OWNER)[-1].text == ("long " * 300).strip()


async def left_with_files(state: Path, bot: FakeBotAPI, reply: str, files: tuple[OutFile, ...]):
    prepare_state_dir(state)
    async with Database(state / "state.db") as db:
        inbox = Inbox(db)
        inbox_id = await inbox.record(asked(bot, "two charts please"))
        assert isinstance(inbox_id, int)
        await inbox.store_reply(inbox_id, reply, files=files)
    return inbox_id


async def test_a_restart_between_a_replys_files_sends_each_part_once(
    tmp_path, fake_model: FakeModel, bot_api: FakeBotAPI, run_daemon
):
    state = tmp_path / "state"
    files = (
        OutFile("one.png", png_bytes(1, 1), "image/png", "image"),
        OutFile("two.csv", b"a,b\n1,2\n", "text/csv"),
    )
    # killed after the first file was acknowledged, while the second was in flight
    inbox_id = await left_with_files(state, bot_api, "Both charts.", files)
    first = bot_api.shown(OWNER, "")
    async with Database(state / "state.db") as db:
        log = DeliveryLog(db)
        await log.sent(inbox_id, 0, str(first.message_id), done=False)
        await log.sending(inbox_id, 1)

    running = await run_daemon(telegram_config(tmp_path, fake_model, bot_api))
    await bot_api.wait_sent(2)
    await running.daemon.services.router.wait_idle()
    history = bot_api.history(OWNER)
    assert [(s.file.name if s.file else None, s.text) for s in history] == [
        (None, ""),  # the first file, from before the restart
        ("two.csv", "Both charts."),
    ]
    assert fake_model.requests == []
    assert await running.daemon.services.inbox.unfinished(["telegram"]) == []
    async with Database(state / "state.db") as db:  # delivered: its files are not kept
        assert await db.fetchall("SELECT inbox_id FROM reply_files") == []


async def test_a_streamed_reply_keeps_its_preview_and_sends_the_file_below(
    tmp_path, fake_model: FakeModel, bot_api: FakeBotAPI, run_daemon
):
    config = telegram_config(tmp_path, fake_model, bot_api, telegram={"stream": True})
    running = await run_daemon(config)
    fake_model.script.extend(
        [
            Reply(tool_calls=[("send_file", {"name": "notes.txt", "content": "plain notes"})]),
            Reply(text="Your notes are in the file below, as promised.", chunk=5, pause=0.05),
        ]
    )
    await bot_api.user_message(OWNER, OWNER, "notes please")
    await bot_api.wait_sent(2)
    await running.daemon.services.router.wait_idle()
    history = bot_api.history(OWNER)
    assert [(s.file.name if s.file else None, s.text) for s in history] == [
        (None, "Your notes are in the file below, as promised."),  # the preview, edited
        ("notes.txt", ""),
    ]
    assert history[1].file is not None and history[1].file.data == b"plain notes"


async def test_the_recording_channel_shows_a_turns_files(make_config, start_harness, fake_model):
    h = await start_harness(make_config())
    fake_model.script.extend(
        [
            Reply(tool_calls=[("send_file", {"name": "a.txt", "content": "first"})]),
            Reply(tool_calls=[("send_file", {"name": "b.md", "content": "second"})]),
            Reply(text="Two files."),
        ]
    )
    assert await h.ask("two files please") == "Two files."
    assert [(f.name, f.data, f.mime_type) for f in h.channel.files()] == [
        ("a.txt", b"first", "text/plain"),
        ("b.md", b"second", "text/markdown"),
    ]
