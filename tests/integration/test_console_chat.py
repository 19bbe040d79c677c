"""`assistant chat` joins the running daemon as a console session (a real subprocess against
a daemon in this process), and says so when there is none."""

from __future__ import annotations

import asyncio
import os
import sys

import aiohttp
import pytest

from assistant.app import Daemon
from assistant.config import load_config
from assistant.store.console import ConsoleEvents
from tests.fakes.model import Hang
from tests.helpers import FakeClock, free_port
from tests.integration.test_daemon import write_config

TOKEN = "owner-console-token-for-the-terminal-0123"


def config_for(tmp_path, fake_model, port: int, **extra):
    return write_config(
        tmp_path / "config.toml",
        tmp_path / "state",
        fake_model.base_url,
        gateway={"port": port},
        console={"token": "${ASSISTANT_CONSOLE_TOKEN:-}"},
        **extra,
    )


async def spawn_chat(config, *args: str, token: str = TOKEN) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "assistant",
        "chat",
        "--config",
        str(config),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "ASSISTANT_CONSOLE_TOKEN": token, "ASSISTANT_ENV_FILE": ""},
    )


async def chat(config, *args: str, stdin: bytes = b"", token: str = TOKEN):
    proc = await spawn_chat(config, *args, token=token)
    out, err = await asyncio.wait_for(proc.communicate(stdin), 60)
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
async def daemon_config(tmp_path, fake_model, clock):
    memory = {
        "enabled": True,
        "embedder": "openai",
        "embeddings": {"base_url": fake_model.base_url},
    }
    path = config_for(tmp_path, fake_model, free_port(), scheduler={"enabled": True}, memory=memory)
    env = {"ASSISTANT_CONSOLE_TOKEN": TOKEN}
    daemon = Daemon(
        load_config(path, env), config_path=path, env=env, configure_logging=False, clock=clock
    )
    task = asyncio.create_task(daemon.run())
    async with asyncio.timeout(15):
        await daemon.ready.wait()
    yield path, daemon
    daemon.stop()
    assert await task == 0


async def test_one_message_is_answered_by_the_running_daemon(daemon_config, fake_model, clock):
    path, daemon = daemon_config
    code, out, err = await chat(path, "-m", "hello daemon")
    assert (code, out) == (0, "echo: hello daemon\n"), err
    assert len(fake_model.requests) == 1  # the daemon's model client, not a second assistant
    code, out, err = await chat(path, "-m", "/remind in 2 hours stretch")
    assert code == 0, err
    assert "stretch" in out, out
    jobs = await daemon.services.db.fetchall("SELECT channel, user_id, task FROM jobs")
    task = '{"type":"reminder","text":"stretch"}'
    assert [tuple(j) for j in jobs] == [("console", "local", task)]
    # the daemon's memory, which an in-process chat would not have (one-shot calls, one after
    # the other: what the first keeps, the second finds)
    code, out, err = await chat(path, "-m", "/remember the backup server is nas2")
    assert code == 0 and "nas2" not in err, err
    code, out, err = await chat(path, "-m", "/memory")
    assert code == 0 and "the backup server is nas2" in out, (out, err)
    clock.advance(2 * 3600 + 1)  # the daemon fires it, with no terminal open
    events = ConsoleEvents(daemon.services.db)
    async with asyncio.timeout(10):
        while not any("stretch" in e.body.get("text", "") for e in await events.after("local", 0)):
            await asyncio.sleep(0.02)


async def test_lines_from_a_pipe_are_answered_in_order_until_quit(daemon_config, fake_model):
    path, _ = daemon_config
    code, out, err = await chat(path, stdin=b"first one\n/status\n/quit\nnever sent\n")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "echo: first one"
    assert lines[1].startswith("Assistant — up")
    assert "never sent" not in out and len(fake_model.requests) == 1


async def test_a_wrong_token_is_refused(daemon_config):
    path, _ = daemon_config
    code, out, err = await chat(path, "-m", "hi", token="not-the-token")
    assert code == 1 and out == ""
    assert "refused the console token" in err and "Traceback" not in err


async def test_without_a_daemon_it_says_so_and_offers_standalone(tmp_path, fake_model):
    path = config_for(tmp_path, fake_model, free_port())
    code, out, err = await chat(path, "-m", "hi")
    assert code == 1 and out == ""
    assert "daemon is not running" in err and "assistant chat --standalone" in err
    code, out, err = await chat(path, "--standalone", "-m", "hi")
    assert (code, out) == (0, "echo: hi\n"), err


async def run_daemon(config) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "assistant",
        "run",
        "--config",
        str(config),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "ASSISTANT_CONSOLE_TOKEN": TOKEN, "ASSISTANT_ENV_FILE": ""},
    )


async def ready(http: aiohttp.ClientSession, base: str) -> None:
    async with asyncio.timeout(30):
        while True:
            try:
                async with http.get(f"{base}/readyz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientConnectorError:
                pass
            await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_sigkill_mid_turn_then_restart_answers_the_console_once(tmp_path, fake_model):
    port = free_port()
    config = config_for(tmp_path, fake_model, port)
    base = f"http://127.0.0.1:{port}"
    fake_model.script.append(Hang(120))  # thinking when the daemon dies
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        first = await run_daemon(config)
        await ready(http, base)
        async with http.post(f"{base}/api/messages", json={"text": "two plus two?"}) as r:
            assert r.status == 202
        await fake_model.wait_requests(1, timeout=20)
        first.kill()
        assert await first.wait() == -9
        second = await run_daemon(config)
        try:
            await ready(http, base)
            seen: list[dict] = []
            async with http.ws_connect(f"{base}/ws?after=0") as ws, asyncio.timeout(20):
                while not any(e.get("text") == "echo: two plus two?" for e in seen):
                    seen.append(await ws.receive_json())
            async with http.get(f"{base}/api/messages") as r:
                events = (await r.json())["events"]
        finally:
            second.terminate()
            await second.wait()
    replies = {e["message_id"] for e in events if e["type"] in ("message", "edit")}
    assert len(replies) == 1 and len(fake_model.requests) == 2  # one answer, once
    assert [e["text"] for e in events if e["type"] == "mine"] == ["two plus two?"]
