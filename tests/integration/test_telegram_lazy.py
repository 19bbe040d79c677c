"""aiogram stays off Telegram's paths: a Telegram-only daemon starts, streams, takes button
presses, reads files and serves a webhook without importing it (its import alone is seconds
and ~170 MB). Where its typed models earn their cost is here, in the tests: they check that
our hand-written requests and the fake's answers have the Bot API's shapes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from assistant.channels.telegram.adapter import TelegramChannel
from assistant.channels.telegram.api import BotAPI
from assistant.config import TelegramSection
from assistant.core.health import Health
from assistant.core.messages import Button, ChatRef, OutboundMessage
from assistant.core.redact import Redactor
from tests.integration.test_telegram_api import CHAT, RETRIED, every_method

ROOT = Path(__file__).parents[2]


def test_a_telegram_only_daemon_never_imports_aiogram(tmp_path):
    probe = [sys.executable, "-m", "tests.integration.telegram_probe", str(tmp_path)]
    out = subprocess.run(probe, cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


async def test_requests_and_answers_have_the_bot_api_shapes(bot_api):
    methods = pytest.importorskip("aiogram.methods")
    types = pytest.importorskip("aiogram.types")
    section = TelegramSection(enabled=True, token=bot_api.token, api_base=bot_api.base_url)
    async with aiohttp.ClientSession() as http:
        api = BotAPI(http, bot_api.base_url, bot_api.token, Redactor())
        answers = {m: await every_method(api, bot_api, m) for m in RETRIED if m != "file"}
        channel = TelegramChannel(section, session=http, health=Health(), redactor=Redactor())
        group = ChatRef("telegram", "-100555", is_group=True, thread_id="7")
        buttons = ((Button("Yes", "ap:1:y"), Button("No", "ap:1:n")),)
        async with channel:
            (sent,) = await channel.send(
                OutboundMessage(group, "**Run** it?", buttons=buttons, reply_to="42")
            )
            await channel.edit(sent, "Approved", format="plain")
            await channel.typing(group)
    assert {m for m, _ in bot_api.calls} >= {*answers, "sendMessage"}
    for method, params in bot_api.calls:
        model = getattr(methods, method[0].upper() + method[1:])
        model.model_validate(params)  # raises on a field of the wrong shape
    types.User.model_validate(answers["getMe"])
    types.File.model_validate(answers["getFile"])
    message = types.Message.model_validate(answers["sendMessage"])
    assert message.chat.id == CHAT
