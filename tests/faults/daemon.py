"""The real daemon as a child process (``python -m assistant run``), for the fault suite and the
benchmarks: a config written through TOML, logs in a file, /readyz on a known port."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import tomli_w

from tests.fakes.model import FakeModel
from tests.fakes.telegram import FakeBotAPI
from tests.helpers import free_port, merge_config

__all__ = ["free_port", "merge_config"]  # and what is defined below

OWNER = 1001


def unfinished(state: Path) -> int:
    """Inbox entries not done yet (read-only, beside a running daemon)."""
    with sqlite3.connect(f"file:{state / 'state.db'}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT count(*) FROM inbox WHERE status <> 'done'").fetchone()[0])


def in_flight(state: Path) -> list[tuple[str, int]]:
    """(message text, part index) of each part of a reply whose send had begun but was not
    acknowledged: the delivery log's word on what a crash may have cut (read-only)."""
    with sqlite3.connect(f"file:{state / 'state.db'}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT i.payload, d.part FROM deliveries d JOIN inbox i ON i.id = d.inbox_id "
            "WHERE d.state = 'sending'"
        ).fetchall()
    return [(json.loads(payload)["text"], part) for payload, part in rows]


def previews(state: Path) -> set[str]:
    """Texts of the messages whose streamed reply is on screen as a preview, on record."""
    with sqlite3.connect(f"file:{state / 'state.db'}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT i.payload FROM deliveries d JOIN inbox i ON i.id = d.inbox_id "
            "WHERE d.state = 'preview'"
        ).fetchall()
    return {json.loads(payload)["text"] for (payload,) in rows}


async def wait_until_finished(state: Path, timeout: float = 60.0) -> None:
    """Poll the inbox until nothing is left."""
    async with asyncio.timeout(timeout):
        while unfinished(state):
            await asyncio.sleep(0.05)


def daemon_config(
    directory: Path,
    bot: FakeBotAPI,
    models: list[FakeModel] | list[dict[str, Any]],
    *,
    users: int = 0,
    **sections: Any,
) -> dict[str, Any]:
    """A config as data: Telegram against ``bot`` (no send limits: they are Telegram's, not
    ours), the owner plus ``users`` users (ids OWNER+1...), memory and scheduler off, no
    intake limits."""
    providers = [
        m
        if isinstance(m, dict)
        else {"name": f"m{i}", "base_url": m.base_url, "model": f"fake-{i}", "timeout": 10}
        for i, m in enumerate(models)
    ]
    data: dict[str, Any] = {
        "assistant": {"state_dir": str(directory / "state"), "drain_timeout": 3},
        "gateway": {"port": free_port()},
        "logging": {"level": "info", "format": "json"},
        "access": {
            "owners": [f"telegram:{OWNER}"],
            "telegram": {"users": {str(OWNER + n): "user" for n in range(1, users + 1)}},
        },
        "models": providers,
        "telegram": {
            "enabled": True,
            "token": "${BOT_TOKEN}",
            "api_base": bot.base_url,
            "poll_timeout": 1,
            "watchdog": 7,
            "stream": False,
            "rate_limit": 0,
            "group_rate_limit": 0,
        },
        "memory": {"enabled": False},
        "scheduler": {"enabled": False},
        # load tests and crash storms send more than a person may: tests of the limits opt in
        "limits": {"messages_per_minute": 0, "queue_per_conversation": 10_000},
    }
    return merge_config(data, sections)


class DaemonProcess:
    """``assistant run --config PATH`` as a child process; its JSON log lines in a file.
    ``bot``: the fake Bot API whose token the config names as ${BOT_TOKEN} (None without
    Telegram)."""

    def __init__(
        self, directory: Path, config: dict[str, Any], bot: FakeBotAPI | None = None
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.config_path = directory / "config.toml"
        self.log = directory / "daemon.log"
        self.bot = bot
        self.process: asyncio.subprocess.Process | None = None
        self.spawned = 0.0
        self.write(config)

    def write(self, config: dict[str, Any]) -> None:
        self.config = config
        self.config_path.write_text(tomli_w.dumps(config))

    @property
    def port(self) -> int:
        return int(self.config["gateway"]["port"])

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self, *, open_files: int | None = None) -> DaemonProcess:
        """``open_files``: the daemon's limit of open files (``ulimit -n``)."""
        env = dict(os.environ)
        if self.bot is not None:
            env["BOT_TOKEN"] = self.bot.token
        command = [sys.executable, "-m", "assistant", "run", "--config", str(self.config_path)]
        if open_files is not None:
            command = ["prlimit", f"--nofile={open_files}", "--", *command]
        with self.log.open("ab") as out:
            self.spawned = asyncio.get_running_loop().time()
            self.process = await asyncio.create_subprocess_exec(
                *command, stdout=out, stderr=out, stdin=asyncio.subprocess.DEVNULL, env=env
            )
        return self

    async def readyz(self) -> tuple[int, dict[str, Any]] | None:
        """(status, body) of /readyz, or None while nothing answers."""
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(
                    f"http://127.0.0.1:{self.port}/readyz", timeout=aiohttp.ClientTimeout(total=5)
                ) as response,
            ):
                return response.status, await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None

    async def wait_readyz(
        self, check: Callable[[int, dict[str, Any]], bool], timeout: float = 60.0
    ) -> dict[str, Any]:
        """Poll /readyz until ``check(status, body)`` holds; returns the body."""
        async with asyncio.timeout(timeout):
            while True:
                if not self.running:
                    raise AssertionError(f"the daemon exited; log:\n{self.tail()}")
                answer = await self.readyz()
                if answer is not None and check(*answer):
                    return answer[1]
                await asyncio.sleep(0.05)

    async def wait_ready(self, timeout: float = 60.0) -> dict[str, Any]:
        return await self.wait_readyz(lambda status, _: status == 200, timeout)

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The daemon's log records (JSON lines), those named ``name`` when given."""
        out = []
        if not self.log.exists():
            return out
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and (name is None or record.get("event") == name):
                out.append(record)
        return out

    async def wait_event(self, name: str, count: int = 1, timeout: float = 30.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.events(name)) < count:
                await asyncio.sleep(0.05)

    def errors(self) -> list[dict[str, Any]]:
        """Log records at error level or with a traceback."""
        return [
            r for r in self.events() if r.get("level") in ("error", "critical") or "exception" in r
        ]

    def tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def signal(self, signum: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    async def kill(self) -> int:
        """SIGKILL: no cleanup of any kind."""
        assert self.process is not None
        self.process.kill()
        return await self.process.wait()

    async def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait (SIGKILL if it does not stop in time); the exit status."""
        if self.process is None:
            return 0
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        return self.process.returncode or 0
