"""A feature built in the test suite through the public contract alone: a package-like module
with ``setup(ctx) -> Feature`` that adds a slash command, a model tool, a gateway route, a
component and a reload — and the daemon serves all of them without a line of it knowing the
feature exists."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import BaseModel

from assistant.app import Daemon
from assistant.config import Config
from assistant.core.commands import Command, CommandCall
from assistant.core.messages import ChatRef, InboundMessage, Sender
from assistant.core.roles import Permission
from assistant.core.tools import ToolContext, ToolResult
from assistant.feature import Component, Feature, Reloaded, Route
from tests.fakes.channel import RecordingChannel
from tests.fakes.model import Reply
from tests.integration.test_daemon import write_config


class EchoParams(BaseModel):
    text: str


class EchoTool:
    name = "tiny_echo"
    description = "Say the text back, shouted."
    permission = Permission.CHAT
    side_effects = False
    Params = EchoParams

    async def call(self, params: EchoParams, ctx: ToolContext) -> ToolResult:
        return ToolResult(params.text.upper())


class Tiny:
    """What a feature package is, as far as the root can tell."""

    NAME = "tiny"

    def __init__(self) -> None:
        self.channel = RecordingChannel("telegram")
        self.ticks = 0
        self.reloads: list[tuple[str, str]] = []

    def enabled(self, config: Config) -> bool:
        return True

    async def setup(self, ctx: Any) -> Feature:
        async def ping(call: CommandCall) -> str:
            return f"pong from {ctx.config.assistant.name}"

        async def page(request: web.Request) -> web.Response:
            return web.Response(text="tiny is here")

        async def ticking() -> None:
            while True:
                self.ticks += 1
                await asyncio.sleep(0.01)

        async def reload(old: Config, new: Config) -> Reloaded:
            self.reloads.append((old.assistant.name, new.assistant.name))
            return Reloaded(("assistant.name",))

        return Feature(
            self.NAME,
            commands=[Command("ping", "answers pong", Permission.CHAT, ping)],
            tools=[EchoTool()],
            routes=[Route("GET", "/tiny", page)],
            channels=[self.channel],
            components=[Component("tiny.ticker", ticking)],
            reload=reload,
        )


def message(text: str, n: int) -> InboundMessage:
    return InboundMessage(
        chat=ChatRef("telegram", "1001"),
        sender=Sender("1001", name="Ann"),
        text=text,
        platform_id=f"tiny-{n}",
        message_id=str(n),
    )


async def test_a_feature_plugs_in_through_the_contract_alone(tmp_path, fake_model):
    path = write_config(
        tmp_path / "config.toml",
        tmp_path / "state",
        fake_model.base_url,
        access={"owners": ["telegram:1001"]},
    )
    from assistant.config import load_config

    tiny = Tiny()
    daemon = Daemon(
        load_config(path, {}), config_path=path, env={}, configure_logging=False, extra=[tiny]
    )
    task = asyncio.create_task(daemon.run())
    async with asyncio.timeout(15):
        await daemon.ready.wait()
    router = daemon.services.router
    # the slash command
    await router.submit(message("/ping", 1))
    sent = await tiny.channel.wait_sent(1)
    assert sent[0].text == "pong from Assistant"
    assert "/ping" in str(await _help(router, tiny))
    # the tool: offered to the model and called through the registry
    fake_model.script.extend(
        [Reply(tool_calls=[("tiny_echo", {"text": "hello"})]), Reply(text="done")]
    )
    await router.submit(message("shout hello", 3))
    await tiny.channel.wait_sent(3)
    offered = [t["function"]["name"] for t in fake_model.requests[0]["tools"]]
    assert "tiny_echo" in offered
    assert fake_model.requests[1]["messages"][-1]["content"] == "HELLO"
    # the route, on the gateway
    url = f"http://127.0.0.1:{daemon.gateway.port}/tiny"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        assert await response.text() == "tiny is here"
    # the component runs, supervised
    async with asyncio.timeout(5):
        while tiny.ticks < 3:
            await asyncio.sleep(0.01)
    # the reload reaches the feature, and what it applied is reported as applied
    path.write_text(path.read_text().replace("[assistant]", '[assistant]\nname = "renamed"'))
    applied, restart = await daemon.reload()
    assert tiny.reloads == [("Assistant", "renamed")]
    assert "assistant.name" in applied and "assistant.name" not in restart
    daemon.stop()
    assert await task == 0


async def _help(router: Any, tiny: Tiny) -> str:
    await router.submit(message("/help", 2))
    sent = await tiny.channel.wait_sent(2)
    return sent[1].text
