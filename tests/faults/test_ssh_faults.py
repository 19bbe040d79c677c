"""SSH goes wrong under a running daemon: the host is down, its host key changed, a command
hangs. The user gets a clear message each time, no turn stays stuck, and nothing is left
running on the host (a real OpenSSH sshd)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.fakes import sshd as fake_sshd
from tests.fakes.model import FakeModel, Reply
from tests.faults.daemon import OWNER, daemon_config, free_port

pytestmark = [
    pytest.mark.fault,
    pytest.mark.slow,
    pytest.mark.skipif(fake_sshd.available() is not None, reason=str(fake_sshd.available())),
]

COMMAND_TIMEOUT = 3


@pytest.fixture(scope="module")
def two_sshds():
    """Two servers with different host keys: the second plays a host whose key changed."""
    first = fake_sshd.start()
    second = fake_sshd.start()
    yield first, second
    second.stop()
    first.stop()


async def test_host_down_key_changed_and_hanging_command(tmp_path, bot_api, daemons, two_sshds):
    sshd, moved = two_sshds
    known_hosts = tmp_path / "known_hosts"
    gone_port = free_port()  # nothing listens there
    known_hosts.write_text(
        f"{sshd.known_hosts_line}\n"
        f"[127.0.0.1]:{gone_port} {sshd.host_key_pub}\n"
        f"[127.0.0.1]:{moved.port} {sshd.host_key_pub}\n"  # not the key the host has now
    )
    model = await FakeModel().start()
    config = daemon_config(
        tmp_path,
        bot_api,
        [model],
        ssh={
            "known_hosts": str(known_hosts),
            "user": sshd.user,
            "key_file": str(sshd.user_key),
            "connect_timeout": 3,
            "command_timeout": COMMAND_TIMEOUT,
            "hosts": [
                {"name": "box", "address": "127.0.0.1", "port": sshd.port},
                {"name": "gone", "address": "127.0.0.1", "port": gone_port},
                {"name": "moved", "address": "127.0.0.1", "port": moved.port},
            ],
        },
    )
    proc = daemons(config, bot_api)
    marker = f"sleep {3000 + uuid.uuid4().int % 1000}"
    try:
        await proc.start()
        await proc.wait_ready()

        async def ask(text: str) -> str:
            count = len(bot_api.sent)
            await bot_api.user_message(OWNER, OWNER, text)
            sent = await bot_api.wait_sent(count + 1, timeout=COMMAND_TIMEOUT + 20)
            return sent[count].text

        down = await ask("/run gone uptime")
        assert "gone" in down and "unreachable" in down, down
        changed = await ask("/run moved uptime")
        assert "not the pinned one" in changed and "assistant ssh trust moved" in changed, changed

        started = asyncio.get_running_loop().time()
        count = len(bot_api.sent)
        await bot_api.user_message(OWNER, OWNER, f"/run box {marker}")
        await bot_api.wait_for(lambda: len(bot_api.sent) >= count + 2, timeout=30)
        progress, result = bot_api.sent[count : count + 2]
        assert progress.text == f"■ Finished: {marker}"  # the progress card, closed
        assert result.text.startswith(f"box: stopped after {COMMAND_TIMEOUT}s (time limit)")
        assert "the process was killed" in result.text
        assert result.at - started < COMMAND_TIMEOUT + 10
        async with asyncio.timeout(10):  # the remote process was killed, not abandoned
            while sshd.pids(marker):
                await asyncio.sleep(0.05)

        # the model's tool meets the same faults inside a turn, and the turn ends
        model.script.extend(
            [
                Reply(tool_calls=[("run_command", {"host": "gone", "command": "uptime"})]),
                Reply(text="The host gone is unreachable."),
            ]
        )
        assert await ask("how is gone?") == "The host gone is unreachable."
        tool_result = model.requests[-1]["messages"][-1]
        assert tool_result["role"] == "tool" and "unreachable" in tool_result["content"]

        assert "exit 0" in await ask("/run box echo still here")  # nothing is stuck
        assert await ask("hello") == "echo: hello"
        assert proc.events("turn.failed") == []
    finally:
        await model.close()
