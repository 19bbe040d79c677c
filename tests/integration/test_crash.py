"""The durable inbox promise: no message lost, none answered twice — across real crashes."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys

import pytest
from pydantic import BaseModel

from assistant.core.roles import Permission
from assistant.core.tools import ToolContext, ToolResult
from tests.fakes.model import Hang, Reply
from tests.integration.test_daemon import write_config

ASSISTANT = [sys.executable, "-m", "assistant"]


async def chat(config, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *ASSISTANT,
        "chat",
        "--standalone",
        "--config",
        str(config),
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.mark.slow
async def test_sigkill_in_the_middle_of_a_turn_then_restart_answers_exactly_once(
    tmp_path, fake_model
):
    state = tmp_path / "state"
    config = write_config(tmp_path / "config.toml", state, fake_model.base_url)
    fake_model.script.append(Hang(120))  # the model is thinking when the process dies

    first = await chat(config, "-m", "what is two plus two?")
    await fake_model.wait_requests(1, timeout=20)
    first.kill()
    assert await first.wait() == -9
    assert await first.stdout.read() == b""  # nothing was answered before the crash

    second = await chat(config)  # same state dir, nothing new typed
    out, err = await asyncio.wait_for(second.communicate(), 30)
    assert second.returncode == 0, err.decode()
    assert out.decode().splitlines() == ["echo: what is two plus two?"]
    assert len(fake_model.requests) == 2

    third = await chat(config)
    out, err = await asyncio.wait_for(third.communicate(), 30)
    assert third.returncode == 0, err.decode()
    assert out == b""  # nothing left to answer: exactly one reply in total
    assert len(fake_model.requests) == 2

    rows = sqlite3.connect(state / "state.db").execute("SELECT status FROM inbox").fetchall()
    assert rows == [("done",)]


class _Params(BaseModel):
    pass


class RestartServiceTool:
    """A side-effecting tool that never finishes, so a crash can hit it mid-run."""

    name = "restart_service"
    description = "Restart a service."
    permission = Permission.CHAT
    side_effects = True
    Params = _Params

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.calls = 0

    async def call(self, params: _Params, ctx: ToolContext) -> ToolResult:
        self.calls += 1
        self.started.set()
        await asyncio.Event().wait()
        return ToolResult("restarted")


async def test_a_turn_cut_during_a_side_effect_is_not_rerun(make_config, start_harness, fake_model):
    config = make_config()
    first = await start_harness(config)
    tool = RestartServiceTool()
    first.services.tools.register(tool)
    fake_model.script.append(Reply(tool_calls=[("restart_service", {})]))
    await first.say("restart nginx please")
    await asyncio.wait_for(tool.started.wait(), 10)
    await first.close()  # the process dies while the tool runs

    second = await start_harness(config)
    second_tool = RestartServiceTool()
    second.services.tools.register(second_tool)
    sent = await second.channel.wait_sent(1)
    assert "interrupted by a restart" in sent[0].text
    assert "restart_service" in sent[0].text and "restart nginx please" in sent[0].text
    await second.router.wait_idle()
    assert second_tool.calls == 0 and len(fake_model.requests) == 1
    assert await second.services.inbox.unfinished(["telegram"]) == []


async def test_a_stored_reply_is_delivered_after_restart_without_a_new_turn(
    make_config, start_harness, fake_model
):
    config = make_config()
    first = await start_harness(config)
    message = first.message("hello")
    inbox_id = await first.services.inbox.record(message)
    await first.services.inbox.store_reply(inbox_id, "the stored answer")
    await first.close()  # crashed after the turn was committed, before delivery

    second = await start_harness(config)
    await second.channel.wait_sent(1)
    await second.router.wait_idle()
    assert second.channel.texts() == ["the stored answer"]
    assert fake_model.requests == []
    unfinished = await second.services.inbox.unfinished(["telegram"])
    assert unfinished == []
    third = await start_harness(config)
    await third.router.wait_idle()
    assert third.channel.sent == []
