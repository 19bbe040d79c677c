"""MCP servers end to end through the daemon: a real server written with the SDK runs over
stdio; its tools are offered as ``server__tool`` with their schemas, a ``read`` tool runs,
its result redacted, an ``ask`` tool waits for a second person, a crashing server loses its
tools, shows on /readyz and comes back (with a changed tool list), a reload applies new
rules, and no server process is left after shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import sys
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import structlog
import tomli_w

from assistant.app import Daemon
from assistant.config import Config, load_config
from assistant.core.messages import ChatRef, InboundMessage, Sender
from assistant.feature import Feature
from tests.conftest import until
from tests.fakes.channel import RecordingChannel
from tests.fakes.model import Reply
from tests.integration.test_daemon import write_config
from tests.integration.test_turns import prompt_bytes

ROOT = Path(__file__).resolve().parents[2]
OWNER, USER = "1001", "1002"


class Chat:
    NAME = "chat"

    def __init__(self) -> None:
        self.channel = RecordingChannel("telegram")

    def enabled(self, config: Config) -> bool:
        return True

    async def setup(self, ctx: Any) -> Feature:
        return Feature(self.NAME, channels=[self.channel])


def message(text: str, user: str, n: int) -> InboundMessage:
    return InboundMessage(
        chat=ChatRef("telegram", user),
        sender=Sender(user, name=f"u{user}"),
        text=text,
        platform_id=f"mcp-{n}",
        message_id=str(n),
    )


def rules(leak: str) -> list[dict[str, str]]:
    return [
        {"tool": "tiny__add", "permission": "chat", "mode": "read"},
        {"tool": "tiny__crash", "permission": "chat", "mode": "read"},
        {"tool": "tiny__extra", "permission": "chat", "mode": "read"},
        {"tool": "tiny__grow", "permission": "chat", "mode": "read"},
        {"tool": "tiny__late", "permission": "chat", "mode": "read"},
        {"tool": "tiny__leak", "permission": "chat", "mode": leak},
        {"tool": "tiny__resources", "permission": "chat", "mode": "read"},
        {"tool": "tiny__*", "permission": "chat", "mode": "ask"},
    ]


def children() -> list[psutil.Process]:
    return [
        p
        for p in psutil.Process().children(recursive=True)
        if "tests.fakes.mcp_server" in " ".join(p.cmdline())
    ]


async def test_an_mcp_server_under_the_policy(tmp_path, fake_model):
    marker, extra = tmp_path / "marker", tmp_path / "extra"
    server = {
        "name": "tiny",
        "command": sys.executable,
        "args": ["-m", "tests.fakes.mcp_server", "stdio"],
        "env": {"PYTHONPATH": str(ROOT), "MCP_MARKER": str(marker), "MCP_EXTRA": str(extra)},
        "cwd": str(ROOT),
    }
    path = write_config(
        tmp_path / "config.toml",
        tmp_path / "state",
        fake_model.base_url,
        access={"owners": [f"telegram:{OWNER}"], "telegram": {"users": {USER: "user"}}},
        mcp={"servers": [server], "tools": rules("deny"), "check_interval": 60},
    )
    chat = Chat()
    daemon = Daemon(
        load_config(path, {}), config_path=path, env={}, configure_logging=False, extra=[chat]
    )
    task = asyncio.create_task(daemon.run())
    sent = chat.channel.sent
    try:
        async with asyncio.timeout(15):
            await daemon.ready.wait()
        tools = daemon.services.tools

        async def listed(*names: str, gone: tuple[str, ...] = ()) -> bool:
            return all(n in tools.names for n in names) and not any(n in tools.names for n in gone)

        await until(lambda: listed("tiny__add", "tiny__touch"), timeout=20)
        assert "tiny__leak" not in tools.names  # denied: never offered
        # a read tool: offered with its schema, run, its result back to the model
        fake_model.script.extend(
            [Reply(tool_calls=[("tiny__add", {"a": 2, "b": 40})]), Reply(text="it is 42")]
        )
        await daemon.services.router.submit(message("add 2 and 40", USER, 1))
        await chat.channel.wait_sent(1)
        offered = {t["function"]["name"]: t["function"] for t in fake_model.requests[0]["tools"]}
        assert set(offered["tiny__add"]["parameters"]["properties"]) == {"a", "b"}
        assert fake_model.requests[1]["messages"][-1]["content"] == "42"
        # its resources: listed, then one read, redacted on the way to the model
        fake_model.script.extend(
            [
                Reply(tool_calls=[("tiny__resources", {})]),
                Reply(tool_calls=[("tiny__resources", {"uri": "note://ops"})]),
                Reply(text="read"),
            ]
        )
        before = len(fake_model.requests)
        await daemon.services.router.submit(message("read the notes", USER, 7))
        await until(lambda: _async(any(m.text == "read" for m in sent)))
        listing = fake_model.requests[before + 1]["messages"][-1]["content"]
        assert listing == "note://ops  ops-note: The operations note."
        note = fake_model.requests[before + 2]["messages"][-1]["content"]
        assert "rotate the key" in note and "sk-live-0123456789" not in note
        # an ask tool: nothing happens until the owner approves
        fake_model.script.extend(
            [Reply(tool_calls=[("tiny__touch", {"text": "hello"})]), Reply(text="touched")]
        )
        await daemon.services.router.submit(message("touch it", USER, 2))
        await until(lambda: _async(any("tiny__touch" in m.text and m.buttons for m in sent)))
        assert not marker.exists()
        card = next(m for m in sent if "tiny__touch" in m.text and m.buttons)
        request_id = card.buttons[0][0].action_id.split(":")[1]
        await daemon.services.router.submit(message(f"/approve {request_id}", OWNER, 3))
        await until(lambda: _async(any(m.text == "touched" for m in sent)))
        assert marker.read_text() == "hello"
        # a reload opens tiny__leak; its secret is redacted on the way to the model
        path.write_text(path.read_text().replace('mode = "deny"', 'mode = "read"'))
        applied, _restart = await daemon.reload()
        assert "mcp.tools" in applied
        await until(lambda: listed("tiny__leak"))
        fake_model.script.extend([Reply(tool_calls=[("tiny__leak", {})]), Reply(text="ok")])
        before = len(fake_model.requests)
        await daemon.services.router.submit(message("show config", USER, 4))
        await until(lambda: _async(len(fake_model.requests) >= before + 2))
        leaked = fake_model.requests[before + 1]["messages"][-1]["content"]
        assert "api_key" in leaked and "sk-live-0123456789" not in leaked
        # the server adds a tool and says so: it is offered without a restart or a reload
        fake_model.script.extend([Reply(tool_calls=[("tiny__grow", {})]), Reply(text="grew")])
        await daemon.services.router.submit(message("grow", USER, 6))
        await until(lambda: listed("tiny__late"), timeout=10)
        # the server lists one more tool without a word: a reload (SIGHUP) finds it
        extra.write_text("yes")
        await daemon.reload()
        assert "tiny__extra" in tools.names
        # the server crashes: its tools go, /readyz says so, it comes back with its list
        pids = {p.pid for p in children()}
        fake_model.script.extend([Reply(tool_calls=[("tiny__crash", {})]), Reply(text="gone")])
        await daemon.services.router.submit(message("crash it", USER, 5))
        await until(lambda: _async(any(m.text == "gone" for m in sent)))
        await until(lambda: listed(gone=("tiny__add",)), timeout=5)
        ready = await _readyz(daemon)
        assert ready["components"]["mcp.tiny"]["state"] == "down"
        await until(lambda: listed("tiny__add", "tiny__extra"), timeout=20)
        assert {p.pid for p in children()}.isdisjoint(pids)
        ready = await _readyz(daemon)
        assert ready["components"]["mcp.tiny"]["state"] == "ready"
        # a reload adds a server and (the next one) removes one: no restart
        data = tomllib.loads(path.read_text())
        data["mcp"]["servers"].append({**server, "name": "two"})
        data["mcp"]["tools"].insert(0, {"tool": "two__add", "permission": "chat", "mode": "read"})
        path.write_text(tomli_w.dumps(data))
        tiny = {p.pid for p in children()}
        applied, _restart = await daemon.reload()
        assert "mcp.servers" in applied
        await until(lambda: listed("two__add", "tiny__add"), timeout=20)
        assert {p.pid for p in children()} > tiny  # tiny's own process kept
        del data["mcp"]["servers"][0]
        path.write_text(tomli_w.dumps(data))
        await daemon.reload()
        assert not any(n.startswith("tiny__") for n in tools.names) and "two__add" in tools.names
        assert "mcp.tiny" not in (await _readyz(daemon))["components"]
        await until(lambda: _async(not {p.pid for p in children()} & tiny), timeout=10)
    finally:
        daemon.stop()
        assert await task == 0
    await until(lambda: _async(not children()), timeout=10)


@contextlib.asynccontextmanager
async def running(
    path: Path, env: dict[str, str] | None = None
) -> AsyncIterator[tuple[Daemon, Chat]]:
    env = env or {}
    chat = Chat()
    daemon = Daemon(
        load_config(path, env), config_path=path, env=env, configure_logging=False, extra=[chat]
    )
    task = asyncio.create_task(daemon.run())
    try:
        async with asyncio.timeout(15):
            await daemon.ready.wait()
        yield daemon, chat
    finally:
        daemon.stop()
        assert await task == 0


async def _async(value: bool) -> bool:
    return value


async def _readyz(daemon: Daemon) -> dict[str, Any]:
    url = f"http://127.0.0.1:{daemon.gateway.port}/readyz"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return await response.json()  # type: ignore[no-any-return]


def owner_config(tmp_path: Path, fake_model: Any, mcp: dict[str, Any]) -> Path:
    owner = {"owners": [f"telegram:{OWNER}"]}
    state = tmp_path / "state"
    return write_config(tmp_path / "config.toml", state, fake_model.base_url, access=owner, mcp=mcp)


async def test_a_streamable_http_server_with_headers(tmp_path, fake_model, caplog):
    """The configured headers are sent (the server refuses a request without its token), and
    the token, from ${MCP_TOKEN}, is in no log line, /readyz or audit record."""
    token = "mcp-t0ken-0123456789abcdef"
    env = {"MCP_TOKEN": token}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.mcp_server",
        "http",
        str(port),
        cwd=str(ROOT),
        env={**os.environ, "PYTHONPATH": str(ROOT), "MCP_MARKER": str(tmp_path / "m"), **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    server = {
        "name": "remote",
        "url": f"http://127.0.0.1:{port}/mcp",
        "headers": {"Authorization": "Bearer ${MCP_TOKEN}"},
    }
    path = owner_config(
        tmp_path,
        fake_model,
        {
            "servers": [server],
            "tools": [{"tool": "remote__add", "permission": "chat", "mode": "read"}],
        },
    )
    caplog.set_level(logging.DEBUG)
    try:
        with structlog.testing.capture_logs() as events:
            async with running(path, env) as (daemon, chat):
                tools = daemon.services.tools
                await until(lambda: _async("remote__add" in tools.names), timeout=20)
                fake_model.script.extend(
                    [Reply(tool_calls=[("remote__add", {"a": 1, "b": 2})]), Reply(text="three")]
                )
                await daemon.services.router.submit(message("1+2", OWNER, 1))
                await chat.channel.wait_sent(1)
                assert fake_model.requests[1]["messages"][-1]["content"] == "3"
                assert "remote__touch" in tools.names  # no rule: ask, for exec (the owner has it)
                said = [json.dumps(await _readyz(daemon)), caplog.text, repr(events)]
                said += [repr(r) for r in await daemon.services.audit.tail(100)]
                assert events and all(token not in text for text in said)
    finally:
        child.terminate()
        await child.wait()


async def test_thirty_tools_are_listed_compactly_within_the_prompt_budget(tmp_path, fake_model):
    """Above [mcp] full_schemas, each tool costs its name and first sentence; the model asks
    mcp_schema for the parameters of the one it wants, then calls it."""
    server = {
        "name": "tracker",
        "command": sys.executable,
        "args": ["-m", "tests.fakes.mcp_server", "stdio"],
        "env": {"PYTHONPATH": str(ROOT), "MCP_MARKER": str(tmp_path / "m"), "MCP_MANY": "30"},
        "cwd": str(ROOT),
    }
    rules = [
        {"tool": "tracker__search_*", "permission": "chat", "mode": "read"},
        {"tool": "*", "mode": "deny"},
    ]
    path = owner_config(tmp_path, fake_model, {"servers": [server], "tools": rules})
    async with running(path) as (daemon, chat):
        tools = daemon.services.tools
        await until(lambda: _async("tracker__search_29" in tools.names), timeout=20)
        fake_model.script.extend(
            [
                Reply(tool_calls=[("mcp_schema", {"tool": "tracker__search_07"})]),
                Reply(tool_calls=[("tracker__search_07", {"query": "disk", "limit": 3})]),
                Reply(text="found"),
            ]
        )
        await daemon.services.router.submit(message("find disk issues", OWNER, 1))
        await chat.channel.wait_sent(1)
        first = fake_model.requests[0]
        offered = {t["function"]["name"]: t["function"] for t in first["tools"]}
        assert len([n for n in offered if n.startswith("tracker__")]) == 30
        assert offered["tracker__search_07"]["parameters"] == {"type": "object"}
        assert offered["tracker__search_07"]["description"] == (
            "Search collection 7 by text, state and label."
        )
        schema = json.loads(fake_model.requests[1]["messages"][-1]["content"])
        assert set(schema["parameters"]["properties"]) == {"query", "state", "limit"}
        assert "last changed" in schema["description"]
        assert fake_model.requests[2]["messages"][-1]["content"] == "3 open results for disk"
        size = prompt_bytes(first)
        assert size <= 6 * 1024, size


def _server(name: str, tmp_path: Path, **env: str) -> dict[str, Any]:
    return {
        "name": name,
        "command": sys.executable,
        "args": ["-m", "tests.fakes.mcp_server", "stdio"],
        "env": {"PYTHONPATH": str(ROOT), "MCP_MARKER": str(tmp_path / "m"), **env},
        "cwd": str(ROOT),
    }


async def test_a_lazy_server_starts_on_first_use_and_an_old_one_announces_changes(
    tmp_path, fake_model
):
    """A lazy server is listed once, then (next start) offered from what it listed and started
    by the first call of one of its tools; a handshake-era server's
    notifications/tools/list_changed has its list fetched again at once."""
    starts = tmp_path / "starts"
    lazy = {**_server("idle", tmp_path, MCP_STARTS=str(starts)), "lazy": True}
    old = _server("old", tmp_path, MCP_LEGACY="1")
    path = owner_config(
        tmp_path,
        fake_model,
        {
            "servers": [lazy, old],
            "tools": [{"tool": "*", "permission": "chat", "mode": "read"}],
            "check_interval": 600,  # only an announcement re-lists in time
        },
    )

    async def run(check: Any) -> None:
        async with running(path) as (daemon, chat):
            await check(daemon, chat)
        await until(lambda: _async(not children()), timeout=10)

    async def first(daemon: Daemon, chat: Chat) -> None:
        tools = daemon.services.tools
        await until(lambda: _async({"idle__add", "old__grow"} <= set(tools.names)), timeout=20)
        assert len(starts.read_text().split()) == 1  # never listed: started to be listed
        fake_model.script.extend([Reply(tool_calls=[("old__grow", {})]), Reply(text="grew")])
        await daemon.services.router.submit(message("grow", OWNER, 1))
        await until(lambda: _async("old__late" in tools.names), timeout=10)

    async def second(daemon: Daemon, chat: Chat) -> None:
        tools = daemon.services.tools
        await until(lambda: _async("idle__add" in tools.names), timeout=10)
        ready = await _readyz(daemon)
        assert ready["components"]["mcp.idle"]["detail"].startswith("idle: starts on first use")
        assert len(starts.read_text().split()) == 1  # not started again
        fake_model.script.extend(
            [Reply(tool_calls=[("idle__add", {"a": 40, "b": 2})]), Reply(text="forty-two")]
        )
        before = len(fake_model.requests)
        await daemon.services.router.submit(message("add", OWNER, 2))
        await chat.channel.wait_sent(1)
        assert fake_model.requests[before + 1]["messages"][-1]["content"] == "42"
        assert len(starts.read_text().split()) == 2
        ready = await _readyz(daemon)
        assert ready["components"]["mcp.idle"]["state"] == "ready"
        assert ready["components"]["mcp.idle"]["detail"] == "5 tools"
        # it dies: idle again (its tools offered), not started until the next use
        fake_model.script.extend([Reply(tool_calls=[("idle__crash", {})]), Reply(text="gone")])
        await daemon.services.router.submit(message("crash", OWNER, 3))

        async def idle() -> bool:
            detail = (await _readyz(daemon))["components"]["mcp.idle"].get("detail", "")
            return str(detail).startswith("idle") and "idle__add" in tools.names

        await until(idle, timeout=10)
        assert len(starts.read_text().split()) == 2

    await run(first)
    await run(second)
