"""systemd's notify protocol, as systemd receives it: datagrams on a Unix socket."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.core.sdnotify import Notifier
from tests.integration.test_daemon import write_config


class NotifySocket:
    """What systemd listens on: a Unix datagram socket; each datagram is a set of lines."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.setblocking(False)
        self.messages: list[str] = []

    async def wait_until(self, done, timeout: float = 20) -> list[str]:
        """Read datagrams until ``done(messages)``; returns everything received so far."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            while not done(self.messages):
                self.messages.append((await loop.sock_recv(self.sock, 4096)).decode())
        return self.messages

    async def wait_for(self, line: str, *, after: int = 0, timeout: float = 20) -> str:
        """The first datagram from index ``after`` on that has ``line``."""

        def found(messages: list[str]) -> bool:
            return any(line in m.splitlines() for m in messages[after:])

        await self.wait_until(found, timeout)
        return next(m for m in self.messages[after:] if line in m.splitlines())

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def notify_path() -> Iterator[Path]:
    # a short path: Unix socket addresses are limited to 108 bytes
    with tempfile.TemporaryDirectory(prefix="notify-") as folder:
        yield Path(folder) / "notify.sock"


async def test_notifier_speaks_to_abstract_and_path_sockets(notify_path):
    name = f"assistant-test-{os.getpid()}"
    for env_value, bind in ((f"@{name}", f"\0{name}"), (str(notify_path), str(notify_path))):
        listener = NotifySocket(bind)
        try:
            notifier = Notifier({"NOTIFY_SOCKET": env_value})
            assert notifier.enabled
            assert notifier.ready("all good")
            assert notifier.reloading()
            await listener.wait_for("RELOADING=1")
            messages = listener.messages
        finally:
            listener.close()
        assert messages[0] == "READY=1\nSTATUS=all good"
        usec = dict(line.split("=", 1) for line in messages[1].splitlines())["MONOTONIC_USEC"]
        assert abs(int(usec) / 1e6 - _monotonic()) < 60


def _monotonic() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def test_notifier_without_systemd_is_inert_and_never_raises(notify_path):
    assert Notifier({}).ready() is False
    assert Notifier({"NOTIFY_SOCKET": "relative/path"}).enabled is False
    gone = Notifier({"NOTIFY_SOCKET": str(notify_path)})  # nobody listens there
    assert gone.enabled and gone.ready() is False and gone.watchdog() is False


@pytest.mark.parametrize(
    ("env", "interval"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_is_half_the_timeout(env, interval):
    assert Notifier(env).watchdog_interval == interval


@pytest.mark.slow
async def test_daemon_reports_ready_watchdog_reload_and_stopping(tmp_path, fake_model, notify_path):
    config = write_config(tmp_path / "config.toml", tmp_path / "state", fake_model.base_url)
    listener = NotifySocket(str(notify_path))
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "200000"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "assistant",
        "run",
        "--config",
        str(config),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
    )
    try:
        ready = await listener.wait_for("READY=1")
        assert "STATUS=ready; 1 model(s), gateway on port" in ready
        first_ping = listener.messages.index(await listener.wait_for("WATCHDOG=1"))
        assert first_ping > listener.messages.index(ready)
        # the pings keep coming, every 0.1 s (half of WATCHDOG_USEC)
        await listener.wait_until(lambda ms: ms.count("WATCHDOG=1") >= 3, timeout=10)
        proc.send_signal(signal.SIGHUP)
        reloading = await listener.wait_for("RELOADING=1")
        assert "MONOTONIC_USEC=" in reloading
        await listener.wait_for("READY=1", after=listener.messages.index(reloading))
        proc.send_signal(signal.SIGTERM)
        stopping = await listener.wait_for("STOPPING=1")
        assert "STATUS=draining" in stopping
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        listener.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
