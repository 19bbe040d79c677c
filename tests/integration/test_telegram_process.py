"""Telegram with the real process: SIGKILL between receive and reply; the admin CLI."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
import tomli_w

from tests.fakes.model import Hang
from tests.fakes.telegram import FakeBotAPI

OWNER = 1001
ASSISTANT = [sys.executable, "-m", "assistant"]


@pytest.fixture
async def bot_api():
    fake = await FakeBotAPI().start()
    yield fake
    await fake.stop()


def write_config(tmp_path, fake_model, bot_api) -> str:
    data = {
        "assistant": {"state_dir": str(tmp_path / "state"), "drain_timeout": 2},
        "gateway": {"enabled": False},
        "memory": {"enabled": False},
        "scheduler": {"enabled": False},
        "access": {"owners": [f"telegram:{OWNER}"]},
        "models": [{"name": "m0", "base_url": fake_model.base_url, "model": "f", "timeout": 60}],
        "telegram": {
            "enabled": True,
            "token": "${BOT_TOKEN}",
            "api_base": bot_api.base_url,
            "poll_timeout": 1,
            "watchdog": 30,
            "stream": False,
        },
    }
    path = tmp_path / "config.toml"
    path.write_text(tomli_w.dumps(data))
    return str(path)


async def start(config: str, bot_api: FakeBotAPI) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *ASSISTANT,
        "run",
        "--config",
        config,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "BOT_TOKEN": bot_api.token},
    )


@pytest.mark.slow
async def test_sigkill_between_receive_and_reply_then_exactly_one_reply(
    tmp_path, fake_model, bot_api
):
    config = write_config(tmp_path, fake_model, bot_api)
    fake_model.script.append(Hang(120))
    first = await start(config, bot_api)
    try:
        await bot_api.user_message(OWNER, OWNER, "are you there?")
        await fake_model.wait_requests(1, timeout=30)  # received, recorded, turn under way
        first.kill()
        await first.wait()
        assert bot_api.sent == []
        second = await start(config, bot_api)
        try:
            sent = await bot_api.wait_sent(1, timeout=30)
            assert sent[0].text == "echo: are you there?"
            await bot_api.user_message(OWNER, OWNER, "and now?")
            await bot_api.wait_sent(2, timeout=30)
        finally:
            second.terminate()
            assert await asyncio.wait_for(second.wait(), 15) == 0
    finally:
        if first.returncode is None:
            first.kill()
    assert [s.text for s in bot_api.sent] == ["echo: are you there?", "echo: and now?"]
    assert len(fake_model.requests) == 3  # the cut turn, its rerun, the second message


@pytest.mark.slow
async def test_cli_pairing_approval_while_the_daemon_runs(tmp_path, fake_model, bot_api):
    config = write_config(tmp_path, fake_model, bot_api)
    daemon = await start(config, bot_api)
    env = {**os.environ, "BOT_TOKEN": bot_api.token}
    try:
        await bot_api.user_message(7000, 7000, "let me in")
        sent = await bot_api.wait_sent(1, timeout=30)
        code = sent[0].text.split("pairing code is ")[1][:8]

        async def cli(*args: str) -> tuple[int, str, str]:
            proc = await asyncio.create_subprocess_exec(
                *ASSISTANT,
                *args,
                "--config",
                config,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(proc.communicate(), 60)
            return proc.returncode or 0, out.decode(), err.decode()

        code_, out, err = await cli("pairing", "list")
        assert code_ == 0 and code in out and "7000" in out
        code_, out, err = await cli("pairing", "approve", "telegram", "WRONGCOD")
        assert code_ == 1 and "no pending telegram pairing request" in err
        code_, out, err = await cli("pairing", "approve", "telegram", code, "--role", "guest")
        assert code_ == 0, err
        assert "approved Ann (telegram 7000) as guest" in out and "they have been told" in out
        assert bot_api.sent[-1].chat_id == 7000 and "You're in!" in bot_api.sent[-1].text
        await bot_api.user_message(7000, 7000, "hello")  # takes effect without a restart
        await bot_api.wait_for(lambda: bot_api.sent[-1].text == "echo: hello", timeout=30)
        code_, out, err = await cli("users", "list")
        assert "telegram\t7000\tguest\tAnn\tcli:" in out
        assert f"telegram\t{OWNER}\towner\t-\tconfig" in out
        code_, out, err = await cli("users", "role", "telegram", str(OWNER), "guest")
        assert code_ == 1 and "defined in the config file" in err
        code_, out, err = await cli("users", "revoke", "telegram", "7000")
        assert code_ == 0
        code_, out, err = await cli("users", "history")
        assert "pairing.approve\ttelegram\t7000\tguest" in out and "access.revoke" in out
        before = len(bot_api.sent)
        await bot_api.user_message(7000, 7000, "still in?")
        await bot_api.wait_sent(before + 1, timeout=30)
        assert "pairing code is" in bot_api.sent[-1].text  # a stranger again
    finally:
        daemon.terminate()
        assert await asyncio.wait_for(daemon.wait(), 15) == 0
