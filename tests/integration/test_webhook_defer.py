"""The webhook rule both channels share (``channels.common``): a delivery that cannot be
recorded (the state refuses writes, or the channel is closing) is answered so that the
platform delivers it again, and is taken when it comes back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from assistant.channels.feishu.adapter import FeishuChannel
from assistant.channels.telegram.adapter import TelegramChannel
from assistant.config import FeishuSection, TelegramSection
from assistant.core.errors import IntakeClosed, StateError
from assistant.core.health import Health
from assistant.core.messages import InboundMessage
from assistant.core.ports import SubmitOutcome
from assistant.core.redact import Redactor
from tests.fakes.feishu import FakeFeishu
from tests.fakes.telegram import FakeBotAPI

OWNER = 1001


class Intake:
    """``on_message`` that refuses with each of ``refusals`` in turn, then takes messages."""

    def __init__(self, *refusals: Exception) -> None:
        self.refusals = list(refusals)
        self.taken: list[InboundMessage] = []

    async def __call__(self, message: InboundMessage) -> SubmitOutcome:
        if self.refusals:
            raise self.refusals.pop(0)
        self.taken.append(message)
        return SubmitOutcome.ACCEPTED


async def serve(routes: list[tuple[str, str, Any]]) -> TestServer:
    app = web.Application()
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def ready(health: Health, component: str) -> None:
    async with asyncio.timeout(10):
        while health.snapshot().get(component, {}).get("state") != "ready":
            await asyncio.sleep(0.01)


async def cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_telegram_webhook_defers_what_it_cannot_record(http):
    bot = await FakeBotAPI().start()
    secret = "webhook-secret-0123456789abcdef"
    section = TelegramSection(
        enabled=True,
        token=bot.token,
        api_base=bot.base_url,
        mode="webhook",
        webhook_url="https://bot.example.org",
        webhook_secret=secret,
    )
    polling = TelegramSection(enabled=True, token=bot.token, api_base=bot.base_url)
    assert (
        TelegramChannel(polling, session=http, health=Health(), redactor=Redactor()).routes() == []
    )
    health = Health()
    channel = TelegramChannel(section, session=http, health=health, redactor=Redactor())
    server = await serve(channel.routes())
    intake = Intake(StateError("disk full"), IntakeClosed("shutting down"))
    try:
        async with channel:
            running = asyncio.create_task(channel.run(intake))
            await ready(health, "channel.telegram")
            bot.webhook["url"] = str(server.make_url("/telegram/webhook"))
            update = {"update_id": 5, "message": bot.message(OWNER, OWNER, "hello")}
            assert await bot.deliver_webhook(http, update) == 503  # the state refused it
            assert await bot.deliver_webhook(http, update) == 503  # closing
            assert await bot.deliver_webhook(http, update) == 200  # delivered again: taken
            assert [m.text for m in intake.taken] == ["hello"]
            await cancelled(running)
    finally:
        await server.close()
        await bot.stop()


async def test_feishu_webhook_and_long_connection_defer_what_they_cannot_record(http):
    feishu = await FakeFeishu().start()
    section = FeishuSection(
        enabled=True,
        app_id=feishu.app_id,
        app_secret=feishu.app_secret,
        domain=feishu.base_url,
        mode="webhook",
        verification_token=feishu.verification_token,
    )
    health = Health()
    channel = FeishuChannel(section, session=http, health=health, redactor=Redactor())
    server = await serve(channel.routes())
    url = str(server.make_url("/feishu/events"))
    event = feishu.message_event(chat_id="oc_1", sender="ou_owner0000000001", text="hello")
    intake = Intake(StateError("disk full"))
    try:
        async with channel:
            deliver = feishu.post_webhook(http, url, event, encrypted=False, signed=False)
            assert await deliver == (503, {"msg": "try again later"})  # not receiving yet
            assert await channel.handle_frame(b'{"schema": "2.0"}') == (503, None)
            running = asyncio.create_task(channel.run(intake))
            await ready(health, "channel.feishu")
            deliver = feishu.post_webhook(http, url, event, encrypted=False, signed=False)
            assert (await deliver)[0] == 503  # the state refused it
            deliver = feishu.post_webhook(http, url, event, encrypted=False, signed=False)
            assert await deliver == (200, {})
            assert [m.text for m in intake.taken] == ["hello"]
            await cancelled(running)
    finally:
        await server.close()
        await feishu.stop()
