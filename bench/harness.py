"""The pieces every scenario uses: the fakes on loopback, a config, the daemon as a process,
and what /proc says about it."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import tomli_w
from tests.fakes.feishu import FakeFeishu
from tests.fakes.model import FakeModel, Reply, last_user_text
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeBotAPI, Sent
from tests.fakes.whatsapp import FakeWhatsApp
from tests.helpers import free_port

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
OWNER = 1


class Inbox:
    """Replies per chat, as they arrive at the fake Bot API, for closed-loop users."""

    def __init__(self, bot: FakeBotAPI) -> None:
        self.by_chat: dict[int, list[Sent]] = defaultdict(list)
        self._waiters: dict[int, asyncio.Event] = {}
        bot.on_sent.append(self._sent)

    def _sent(self, sent: Sent) -> None:
        self.by_chat[sent.chat_id].append(sent)
        event = self._waiters.get(sent.chat_id)
        if event is not None:
            event.set()

    async def wait(self, chat_id: int, count: int, timeout: float = 60.0) -> Sent:
        """The ``count``-th reply in ``chat_id`` (1-based), once it has arrived."""
        async with asyncio.timeout(timeout):
            while len(self.by_chat[chat_id]) < count:
                event = self._waiters.setdefault(chat_id, asyncio.Event())
                event.clear()
                await event.wait()
        return self.by_chat[chat_id][count - 1]


@dataclass
class Fakes:
    bot: FakeBotAPI
    model: FakeModel
    inbox: Inbox
    feishu: FakeFeishu
    whatsapp: FakeWhatsApp
    slack: FakeSlack
    delay: float = 0.0  # the model's latency, seconds
    memories: list[str] = field(default_factory=list)

    def set_delay(self, seconds: float) -> None:
        self.delay = seconds

        def respond(body: dict[str, Any]) -> Reply:
            return Reply(text=f"echo: {last_user_text(body)}", delay=self.delay)

        self.model.responder = respond if seconds else None


@asynccontextmanager
async def fakes() -> AsyncIterator[Fakes]:
    bot = await FakeBotAPI().start()
    model = await FakeModel().start()
    feishu = await FakeFeishu().start()
    whatsapp = await FakeWhatsApp().start()
    slack = await FakeSlack().start()
    try:
        yield Fakes(bot, model, Inbox(bot), feishu, whatsapp, slack)
    finally:
        await slack.stop()
        await whatsapp.stop()
        await feishu.stop()
        await bot.stop()
        await model.close()


def write_config(
    directory: Path,
    fake: Fakes,
    *,
    users: int,
    memory: bool | str = False,  # True or "local": the embedder in the process; "openai": remote
    scheduler: bool = False,
    ssh: bool = False,
    feishu: str | None = None,  # "websocket" (the default mode) or "webhook"
    whatsapp: bool = False,
    slack: str | None = None,  # "socket" (the default mode) or "events"
    stream: bool = False,
    max_concurrent: int | None = None,
) -> tuple[Path, int]:
    """A config for the daemon under test; returns (path, gateway port)."""
    port = free_port()
    assistant: dict[str, Any] = {"state_dir": str(directory / "state"), "drain_timeout": 5}
    if max_concurrent is not None:
        assistant["max_concurrent_turns"] = max_concurrent
    data: dict[str, Any] = {
        "assistant": assistant,
        "gateway": {"port": port},
        "logging": {"level": "info", "format": "json"},
        "access": {
            "owners": [f"telegram:{OWNER}"],
            "telegram": {"users": {str(OWNER + n): "user" for n in range(1, users + 1)}},
        },
        "models": [
            {
                "name": "bench",
                "base_url": fake.model.base_url,
                "model": "fake",
                "timeout": 60,
                "stream": stream,
            }
        ],
        "telegram": {
            "enabled": True,
            "token": "${BOT_TOKEN}",
            "api_base": fake.bot.base_url,
            "stream": stream,
            # Telegram's own send limits are the platform's, not the daemon's: measure the daemon
            "rate_limit": 0,
            "group_rate_limit": 0,
        },
        "memory": {"enabled": bool(memory)},
        "scheduler": {"enabled": scheduler},
        # simulated users send faster than people may: the limits run, and never refuse
        "limits": {"messages_per_minute": 100_000, "queue_per_conversation": 10_000},
    }
    if memory == "openai":  # the fake model's /v1/embeddings
        data["memory"]["embedder"] = "openai"
        data["memory"]["embeddings"] = {"base_url": fake.model.base_url}
    if feishu:  # websocket: lark-oapi's long connection to the fake's /ws/v2
        data["feishu"] = {
            "enabled": True,
            "mode": feishu,
            "app_id": fake.feishu.app_id,
            "app_secret": fake.feishu.app_secret,
            "domain": fake.feishu.base_url,
            "verification_token": fake.feishu.verification_token,
        }
    if whatsapp:
        wa = fake.whatsapp
        data["whatsapp"] = {
            "enabled": True,
            "phone_number_id": wa.phone_id,
            "token": wa.token,
            "app_secret": wa.app_secret,
            "verify_token": wa.verify_token,
            "api_base": wa.api_base,
        }
    if slack:
        data["slack"] = {
            "enabled": True,
            "mode": slack,
            "bot_token": fake.slack.bot_token,
            "app_token": fake.slack.app_token,
            "signing_secret": fake.slack.signing_secret,
            "api_base": fake.slack.api_base,
        }
    if ssh:
        key = directory / "id_ed25519"
        key.write_text("not read until a command runs\n")
        data["ssh"] = {
            "key_file": str(key),
            "hosts": [{"name": "web1", "address": "127.0.0.1", "port": free_port()}],
        }
    path = directory / "config.toml"
    path.write_text(tomli_w.dumps(data))
    return path, port


class DaemonProcess:
    """``assistant run --config PATH`` as a child process, its logs in a file."""

    def __init__(self, config: Path, port: int, bot: FakeBotAPI, log: Path) -> None:
        self.config = config
        self.port = port
        self.bot = bot
        self.log = log
        self.process: asyncio.subprocess.Process | None = None
        self.spawned = 0.0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> DaemonProcess:
        env = {**os.environ, "BOT_TOKEN": self.bot.token, "PYTHONUNBUFFERED": "0"}
        command = [sys.executable, "-m", "assistant", "run", "--config", str(self.config)]
        with self.log.open("ab") as out:
            self.spawned = time.monotonic()
            self.process = await asyncio.create_subprocess_exec(
                *command,
                stdout=out,
                stderr=out,
                stdin=asyncio.subprocess.DEVNULL,
                env=env,
            )
        return self

    async def readyz(self, session: aiohttp.ClientSession) -> dict[str, Any] | None:
        try:
            async with session.get(f"http://127.0.0.1:{self.port}/readyz") as response:
                body: dict[str, Any] = await response.json()
                return body
        except (aiohttp.ClientError, ValueError):
            return None

    async def wait_ready(self, *, component: str | None = None, timeout: float = 60.0) -> float:
        """Seconds from spawn until /readyz says ready (and ``component`` is ready too)."""
        async with aiohttp.ClientSession() as session, asyncio.timeout(timeout):
            while True:
                if self.process is not None and self.process.returncode is not None:
                    raise RuntimeError(
                        f"the daemon exited ({self.process.returncode}); see {self.log}"
                    )
                body = await self.readyz(session)
                if body and body.get("ready"):
                    state = (
                        body["components"].get(component, {}).get("state") if component else None
                    )
                    if component is None or state == "ready":
                        return time.monotonic() - self.spawned
                await asyncio.sleep(0.01)

    def cpu_seconds(self) -> float:
        """User + system CPU of the daemon (every thread), from /proc/PID/stat."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def cpu_split(self) -> tuple[float, float]:
        """(user, system) CPU seconds of the daemon."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS

    def context_switches(self) -> int:
        """Voluntary + involuntary context switches of every thread of the daemon."""
        total = 0
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            try:
                status = (task / "status").read_text()
            except FileNotFoundError:
                continue
            for line in status.splitlines():
                if line.endswith("ctxt_switches:") or "ctxt_switches:" in line:
                    total += int(line.split()[1])
        return total

    def rss(self) -> int:
        """Resident set size in bytes (/proc/PID/statm)."""
        return int(Path(f"/proc/{self.pid}/statm").read_text().split()[1]) * PAGE

    async def settled_rss(self, *, quiet: float = 1.0, timeout: float = 15.0) -> int:
        """RSS once it stopped changing for ``quiet`` seconds (background loading done)."""
        deadline = time.monotonic() + timeout
        last, since = self.rss(), time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            now = self.rss()
            if abs(now - last) > 256 * 1024:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
        return self.rss()

    async def stop(self) -> int:
        if self.process is None or self.process.returncode is not None:
            return self.process.returncode if self.process else 0
        self.process.terminate()
        try:
            return await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            return await self.process.wait()


@asynccontextmanager
async def daemon(directory: Path, fake: Fakes, **config: Any) -> AsyncIterator[DaemonProcess]:
    directory.mkdir(parents=True, exist_ok=True)
    path, port = write_config(directory, fake, **config)
    process = DaemonProcess(path, port, fake.bot, directory / "daemon.log")
    await process.start()
    try:
        yield process
    finally:
        await process.stop()


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (every core), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]
