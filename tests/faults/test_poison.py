"""Poison updates (a lone surrogate that SQLite cannot store, JSON nested 100,000 levels deep, a
number of 5,000 digits) in polling and in webhook mode: each is dead-lettered and confirmed
(the offset moves past it, the webhook answers 200), the next message is answered, and
``assistant inbox dead-letters`` lists them; ``--drop`` deletes one (the command line is
run against the polling daemon only: it reads the same table in both modes). A body that is not JSON
gets a 400, never a 500.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fakes.model import FakeModel
from tests.fakes.telegram import FakeBotAPI
from tests.faults.conftest import DaemonFactory
from tests.faults.daemon import OWNER, DaemonProcess, daemon_config

pytestmark = [pytest.mark.fault, pytest.mark.slow]

SECRET = "s3cret-webhook-token-0123456789"


def poison(bot: FakeBotAPI) -> dict[str, str]:
    """Each kind of poison as the raw JSON of one update."""
    message = json.dumps(bot.message(OWNER, OWNER, "lone \ud800 surrogate"))
    depth = 100_000
    huge = "1" + "0" * 5000
    return {
        "surrogate": f'{{"update_id": {bot.next_update_id()}, "message": {message}}}',
        "deep": f'{{"update_id": {bot.next_update_id()}, "message": '
        + "[" * depth
        + "]" * depth
        + "}",
        "huge": f'{{"update_id": {bot.next_update_id()}, "message": {{"message_id": {huge}}}}}',
    }


async def cli(proc: DaemonProcess, *args: str) -> tuple[int, str]:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "assistant",
        "inbox",
        "dead-letters",
        "--config",
        str(proc.config_path),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "BOT_TOKEN": proc.bot.token if proc.bot else ""},
    )
    out, err = await asyncio.wait_for(child.communicate(), 30)
    assert child.returncode is not None
    return child.returncode, out.decode() + err.decode()


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_poison_is_dead_lettered_and_the_channel_keeps_serving(
    tmp_path: Path, bot_api: FakeBotAPI, fake_model: FakeModel, daemons: DaemonFactory, mode: str
):
    telegram: dict[str, Any] = {}
    if mode == "webhook":
        telegram = {"mode": "webhook", "webhook_url": "https://bot.example.org"}
        telegram["webhook_secret"] = SECRET
    config = daemon_config(tmp_path, bot_api, [fake_model], telegram=telegram)
    proc = daemons(config, bot_api)
    bad = poison(bot_api)
    await proc.start()
    await proc.wait_ready()
    async with aiohttp.ClientSession() as http:
        if mode == "polling":
            for raw in bad.values():
                await bot_api.push_json(raw)
            await bot_api.user_message(OWNER, OWNER, "still there?")
        else:
            bot_api.webhook["url"] = f"http://127.0.0.1:{proc.port}/telegram/webhook"
            for raw in bad.values():
                assert await bot_api.deliver_webhook(http, raw) == 200
            assert await bot_api.deliver_webhook(http, "this is { not JSON") == 400
            assert await bot_api.deliver_webhook(http, "[1, 2]") == 400
            update = {"update_id": 99, "message": bot_api.message(OWNER, OWNER, "still there?")}
            assert await bot_api.deliver_webhook(http, update) == 200
    sent = await bot_api.wait_sent(1, timeout=30)
    assert [s.text for s in sent] == ["echo: still there?"]
    if mode == "polling":
        await bot_api.wait_for(lambda: bot_api.confirmed_offset > 4, timeout=30)

    if mode == "webhook":  # the command line is the same for both: shown once, below
        letters = stored_letters(Path(config["assistant"]["state_dir"]))
    else:
        code, out = await cli(proc, "--json")
        assert code == 0, out
        letters = json.loads(out)
    assert sorted(letter["ref"] for letter in letters) == sorted(
        raw.split(":", 1)[1].split(",", 1)[0].strip() for raw in bad.values()
    )
    assert {letter["source"] for letter in letters} == {mode}
    assert {letter["channel"] for letter in letters} == {"telegram"}
    errors = " ".join(letter["error"] for letter in letters)
    assert "UnicodeEncodeError" in errors and "RecursionError" in errors, errors
    assert all(letter["bot"] == str(bot_api.bot["id"]) for letter in letters)
    assert proc.events("inbox.dead_letter") and proc.errors() == [], proc.errors()

    if mode == "polling":
        code, out = await cli(proc, "--drop", str(letters[0]["id"]))
        assert code == 0 and f"dropped dead letter {letters[0]['id']}" in out
        code, out = await cli(proc)
        assert code == 0 and "(2 dead letters)" in out, out
    assert await proc.stop() == 0


def stored_letters(state: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{state / 'state.db'}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM dead_letters ORDER BY id")]
