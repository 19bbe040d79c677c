"""The delivery record across a restart, and the bot in the inbox's identity: the real daemon
(Telegram) starts on a state directory that an earlier run left as a crash leaves it, and
what the user sees in the chat is counted (the fake Bot API's history, edits included)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
import structlog

from assistant.channels.telegram.render import render_parts
from assistant.core.messages import ChatRef, InboundMessage, Sender
from assistant.store.db import Database, prepare_state_dir
from assistant.store.deliveries import DeliveryLog
from assistant.store.inbox import Inbox, encode_message
from assistant.store.schema import MIGRATIONS
from tests.fakes.model import FakeModel, Reply
from tests.fakes.telegram import FakeBotAPI
from tests.integration.test_telegram import OWNER, bot_api, run_daemon, telegram_config

__all__ = ["bot_api", "run_daemon"]  # fixtures

REPLY = "\n".join(f"line {i:03d} of a long answer " + "x" * 40 for i in range(150))


def asked(bot: FakeBotAPI, text: str, update_id: int = 41) -> InboundMessage:
    return InboundMessage(
        chat=ChatRef("telegram", str(OWNER)),
        sender=Sender(str(OWNER), "Ann"),
        text=text,
        platform_id=str(update_id),
        message_id="501",
        bot=str(bot.bot["id"]),
    )


async def left_behind(state: Path, message: InboundMessage, *, reply: str | None = None) -> int:
    """Record ``message`` (and its stored reply) as a previous run did; its inbox id."""
    prepare_state_dir(state)
    async with Database(state / "state.db") as db:
        inbox = Inbox(db)
        inbox_id = await inbox.record(message)
        assert isinstance(inbox_id, int)
        if reply is not None:
            await inbox.store_reply(inbox_id, reply)
    return inbox_id


async def log_parts(state: Path, *steps: tuple[str, int, str | None]) -> None:
    async with Database(state / "state.db") as db:
        log = DeliveryLog(db)
        for what, inbox_id, message_id in steps:
            if what == "preview":
                assert message_id is not None
                await log.preview(inbox_id, message_id)
            elif what == "sending":
                await log.sending(inbox_id, int(message_id or 0))
            else:
                part, mid = (message_id or "").split("/")
                await log.sent(inbox_id, int(part), mid, done=False)


async def test_a_split_reply_resumes_at_its_first_part_not_acknowledged(
    tmp_path, fake_model, bot_api, run_daemon
):
    parts = [p.text for p in render_parts(REPLY, "markdown")]
    assert len(parts) == 3
    state = tmp_path / "state"
    # killed between the parts: part 0 on screen and on record, part 1's send just begun
    inbox_id = await left_behind(state, asked(bot_api, "tell me a lot"), reply=REPLY)
    first = bot_api.shown(OWNER, parts[0])
    await log_parts(state, ("sent", inbox_id, f"0/{first.message_id}"), ("sending", inbox_id, "1"))

    running = await run_daemon(telegram_config(tmp_path, fake_model, bot_api))
    await bot_api.wait_sent(3)
    await running.daemon.services.router.wait_idle()
    assert [s.text for s in bot_api.history(OWNER)] == parts  # each part once, in order
    assert fake_model.requests == []  # the stored reply, not a new turn
    assert await running.daemon.services.inbox.unfinished(["telegram"]) == []


@pytest.mark.parametrize("stream", [True, False])
async def test_a_preview_left_on_screen_becomes_the_answer(
    tmp_path, fake_model: FakeModel, bot_api, run_daemon, stream
):
    state = tmp_path / "state"
    inbox_id = await left_behind(state, asked(bot_api, "what is up?"))
    preview = bot_api.shown(OWNER, "echo: wh")  # the turn was cut while streaming
    await log_parts(state, ("preview", inbox_id, str(preview.message_id)))
    fake_model.responder = lambda body: Reply(text="echo: what is up?", chunk=3, pause=0.05)

    config = telegram_config(tmp_path, fake_model, bot_api, telegram={"stream": stream})
    running = await run_daemon(config)
    await bot_api.wait_for(lambda: preview.text == "echo: what is up?", timeout=15)
    await running.daemon.services.router.wait_idle()
    assert bot_api.history(OWNER) == [preview]  # edited in place: no second message
    assert len(preview.versions) >= 2


async def test_a_stored_reply_goes_into_the_preview_without_a_new_turn(
    tmp_path, fake_model, bot_api, run_daemon
):
    state = tmp_path / "state"
    inbox_id = await left_behind(state, asked(bot_api, "and now?"), reply="All done.")
    preview = bot_api.shown(OWNER, "All d")
    await log_parts(state, ("preview", inbox_id, str(preview.message_id)))
    running = await run_daemon(telegram_config(tmp_path, fake_model, bot_api))
    await bot_api.wait_for(lambda: preview.text == "All done.", timeout=15)
    await running.daemon.services.router.wait_idle()
    assert bot_api.history(OWNER) == [preview] and fake_model.requests == []


# --- the bot in the inbox's identity ----------------------------------------------------------


async def test_a_new_bot_whose_update_ids_start_again_is_answered(tmp_path, fake_model, run_daemon):
    old, new = FakeBotAPI(), FakeBotAPI("987654321:AAHanotherFakeTokenForTests0123456789")
    await old.start()
    await new.start()
    try:
        await old.user_message(OWNER, OWNER, "hello from the old bot")  # update id 1
        running = await run_daemon(telegram_config(tmp_path, fake_model, old))
        assert (await old.wait_sent(1))[0].text == "echo: hello from the old bot"
        await running.daemon.services.router.wait_idle()
        await running.stop()

        update = await new.user_message(OWNER, OWNER, "hello from the new bot")
        assert update["update_id"] == 1  # the same id, from another bot
        running = await run_daemon(telegram_config(tmp_path, fake_model, new))
        assert (await new.wait_sent(1))[0].text == "echo: hello from the new bot"
    finally:
        await old.stop()
        await new.stop()


def schema_5_with_one_update(path: Path, message: InboundMessage) -> None:
    """A state database as the version before the bot was kept left it: update 7 done."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    for version, script in enumerate(MIGRATIONS[:5], start=1):
        conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={version};\nCOMMIT;")
    conn.execute(
        "INSERT INTO inbox (channel, platform_id, chat_key, payload, status, reply, "
        "received_at, updated_at) VALUES ('telegram', '7', ?, ?, 'done', 'hi', ?, ?)",
        (message.chat.key, encode_message(message), time.time(), time.time()),
    )
    conn.commit()
    conn.close()


async def test_updates_recorded_before_the_upgrade_are_still_recognised(
    tmp_path, fake_model, bot_api, run_daemon
):
    before = asked(bot_api, "asked before the upgrade", update_id=7)
    schema_5_with_one_update(tmp_path / "state" / "state.db", before)
    # Telegram delivers update 7 again (its offset was never confirmed), then a new one
    again = bot_api.message(OWNER, OWNER, "asked before the upgrade", message_id=501)
    other = bot_api.message(OWNER, OWNER, "not what update 7 said", message_id=502)
    with structlog.testing.capture_logs() as logs:
        running = await run_daemon(telegram_config(tmp_path, fake_model, bot_api))
        await bot_api.push_raw({"update_id": 7, "message": again})
        await bot_api.push_raw({"update_id": 7, "message": other})
        await bot_api.push_raw(
            {"update_id": 8, "message": bot_api.message(OWNER, OWNER, "asked after it")}
        )
        await bot_api.wait_sent(1)
        await running.daemon.services.router.wait_idle()
    assert [s.text for s in bot_api.sent] == ["echo: asked after it"]
    seen = [(e["event"], e["log_level"]) for e in logs if e["event"].startswith("inbox.dup")]
    assert seen == [("inbox.duplicate", "debug"), ("inbox.duplicate_differs", "warning")]
