"""`assistant chat` (a real subprocess) survives the daemon going away and coming back on the
same state and port: it says so once, resumes where it was (no reply missed or shown twice),
sends again what it could not send (taken once), and stops cleanly when the token was revoked
or the daemon does not come back."""

from __future__ import annotations

import asyncio
import io

import pytest

from assistant.core.roles import Role
from assistant.features.console.client import ChatClient
from assistant.features.console.link import Unreachable
from assistant.store.console import ConsoleEvents, ConsoleTokens
from tests.fakes.model import Hang
from tests.helpers import free_port
from tests.integration.test_console_chat import TOKEN, config_for, spawn_chat
from tests.integration.test_daemon import start_daemon

ENV = {"ASSISTANT_CONSOLE_TOKEN": TOKEN}
LOST = "lost the connection to the daemon; reconnecting"


class Site:
    """One daemon at a time on the same config (state, port), and the chats started."""

    def __init__(self, path) -> None:
        self.path = path
        self.daemon = None
        self.task: asyncio.Task[int] | None = None
        self.chats: list[asyncio.subprocess.Process] = []

    async def start(self) -> None:
        self.daemon, self.task = await start_daemon(self.path, ENV)

    async def stop(self) -> None:
        assert self.daemon is not None and self.task is not None
        self.daemon.stop()
        assert await self.task == 0

    async def chat(self, *args: str, token: str = TOKEN) -> asyncio.subprocess.Process:
        proc = await spawn_chat(self.path, *args, token=token)
        self.chats.append(proc)
        return proc

    async def mine(self) -> list[str]:
        """What the owner's console chat shows as written by them."""
        events = await ConsoleEvents(self.daemon.services.db).after("local", 0)
        return [e.body["text"] for e in events if e.kind == "mine"]


@pytest.fixture
async def site(tmp_path, fake_model):
    state = {"state_dir": str(tmp_path / "state"), "drain_timeout": 0.2}
    site = Site(config_for(tmp_path, fake_model, free_port(), assistant=state))
    await site.start()
    yield site
    for proc in site.chats:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if not site.task.done():
        await site.stop()


async def line(stream: asyncio.StreamReader | None) -> str:
    assert stream is not None
    return (await asyncio.wait_for(stream.readline(), 15)).decode().rstrip("\n")


async def write(proc: asyncio.subprocess.Process, text: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(text.encode())
    await proc.stdin.drain()


async def finish(proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
    """Exit code and what is left on stdout and stderr."""
    assert proc.stdout is not None and proc.stderr is not None
    out, err, code = await asyncio.wait_for(
        asyncio.gather(proc.stdout.read(), proc.stderr.read(), proc.wait()), 15
    )
    return code, out.decode(), err.decode()


async def test_a_piped_chat_carries_on_across_a_daemon_restart(site, fake_model):
    proc = await site.chat()
    await write(proc, "first line\n")
    assert await line(proc.stdout) == "echo: first line"
    await site.stop()
    assert (await line(proc.stderr)).startswith(LOST)
    await write(proc, "second line\n")  # typed while no daemon answers
    await site.start()
    assert await line(proc.stdout) == "echo: second line"
    assert proc.stdin is not None
    proc.stdin.close()
    code, out, err = await finish(proc)
    assert (code, out) == (0, ""), err  # the first reply was not shown again
    assert LOST not in err and "Traceback" not in err  # said once
    assert len(fake_model.requests) == 2
    assert await site.mine() == ["first line", "second line"]


async def test_a_reply_written_after_a_restart_mid_turn_is_shown_once(site, fake_model):
    fake_model.script.append(Hang(30))  # thinking when the daemon stops
    proc = await site.chat("-m", "two plus two?")
    await fake_model.wait_requests(1, timeout=15)
    await site.stop()  # the turn did not finish: the message stays in the inbox
    assert (await line(proc.stderr)).startswith(LOST)
    await site.start()  # recovery answers it
    code, out, err = await finish(proc)
    assert (code, out) == (0, "echo: two plus two?\n"), err
    assert LOST not in err
    # the chat posted it again after reconnecting: taken, shown and answered once
    assert await site.mine() == ["two plus two?"]
    async with asyncio.timeout(5):
        await site.daemon.services.router.wait_idle()
    assert len(fake_model.requests) == 2


async def test_a_token_revoked_while_away_ends_the_chat_cleanly(site):
    tokens = ConsoleTokens(site.daemon.services.db)
    token = await tokens.create("alice", Role.USER, by="test")
    proc = await site.chat(token=token)
    await write(proc, "hello\n")
    assert await line(proc.stdout) == "echo: hello"
    assert await tokens.revoke("alice", by="test")
    await site.stop()
    await site.start()
    code, out, err = await finish(proc)  # stdin still open: it stops on its own
    assert (code, out) == (1, "")
    assert err.count(LOST) == 1 and "Traceback" not in err
    assert "refused the console token: the console token is wrong or was revoked" in err


async def test_it_gives_up_when_the_daemon_does_not_come_back(site, fake_model):
    fake_model.script.append(Hang(30))
    out, err = io.StringIO(), io.StringIO()
    base = f"http://127.0.0.1:{site.daemon.gateway.port}"
    client = ChatClient(base, TOKEN, stdout=out, stderr=err, patience=0.5)
    chat = asyncio.create_task(client.run(message="anyone?"))
    await fake_model.wait_requests(1, timeout=15)
    await site.stop()
    with pytest.raises(Unreachable, match=r"did not come back within 0\.5 s; check that it runs"):
        await asyncio.wait_for(chat, 10)
    assert err.getvalue().count(LOST) == 1 and out.getvalue() == ""
