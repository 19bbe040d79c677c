from __future__ import annotations

import asyncio
import functools
import itertools
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from assistant.app import Assembly, assemble
from assistant.config import Config, parse_config
from assistant.core.health import Health
from assistant.core.messages import ChatRef, InboundMessage, Sender
from assistant.core.ports import Clock, SubmitOutcome
from assistant.core.redact import Redactor
from assistant.logging import setup_logging
from assistant.memory.embedder import LocalEmbedder
from tests.fakes.channel import RecordingChannel
from tests.fakes.model import FakeModel
from tests.helpers import merge_config

OWNER = "1001"
USER = "1002"
GUEST = "1003"


def configure_test_logging() -> None:
    """JSON logs through our real pipeline (redaction included), to stderr."""
    setup_logging(level="debug", fmt="json", redactor=Redactor(), stream=_Stderr(), cache=False)


@pytest.fixture(autouse=True, scope="session")
def _logging() -> None:
    configure_test_logging()


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """How ``pytest -n 2`` (README's test command) shares the work: by module (a module's
    tests stay on one worker, so its module-scoped sshd or staged install is built once), and
    every module that runs the test sshd on the same worker (the sshds share one system user,
    whose home each start moves and whose processes each stop kills). Modules go out in
    collection order: the long fault tests first, not last. (``--dist loadgroup`` cannot do
    this with pytest 9: its group names never reach the node ids.)"""
    if config.getvalue("dist") not in ("load", "loadfile", "loadgroup"):
        return None  # an explicit other mode (each, loadscope, worksteal)
    from xdist.scheduler import LoadFileScheduling

    config.option.loadscopereorder = False

    class ByModule(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "sshd" if _runs_the_sshd(config.rootpath / module) else module

    return ByModule(config, log)


@functools.cache
def _runs_the_sshd(path: Path) -> bool:
    """Whether a test module starts the test sshd: imports tests.fakes.sshd or asks for the
    ``sshd`` fixture."""
    try:
        text = path.read_text()
    except OSError:
        return False
    return "from tests.fakes import sshd" in text or bool(_SSHD_PARAMETER.search(text))


_SSHD_PARAMETER = re.compile(r"def \w+\([^)]*\bsshd\b[^)]*\)")


class _Stderr:
    """Writes to whatever sys.stderr is now (pytest swaps it per test)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return False


@pytest.fixture(scope="session")
def embedder() -> Iterator[LocalEmbedder]:
    """The real offline embedder, loaded once for the whole session (about 1.6 s)."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    local = LocalEmbedder()
    local.loading.result()
    yield local
    local.close()


@pytest.fixture
async def fake_model() -> AsyncIterator[FakeModel]:
    model = await FakeModel().start()
    yield model
    await model.close()


ConfigFactory = Callable[..., Config]


@pytest.fixture
def make_config(tmp_path: Path, fake_model: FakeModel) -> ConfigFactory:
    """Config text through the real loader: a fake model, test users, a temp state dir.
    Memory and the scheduler are off unless a test turns them on."""

    def factory(models: int = 1, **sections: Any) -> Config:
        data: dict[str, Any] = {
            "assistant": {"state_dir": str(tmp_path / "state"), "drain_timeout": 5},
            "gateway": {"port": 0},
            "memory": {"enabled": False},
            "scheduler": {"enabled": False},
            "access": {
                "owners": [f"telegram:{OWNER}"],
                "telegram": {"users": {USER: "user", GUEST: "guest"}},
            },
            "models": [
                {
                    "name": f"m{i}",
                    "base_url": fake_model.base_url,
                    "api_key": "sk-test-0123456789abcdefghij",
                    "model": f"fake-{i}",
                    "timeout": 5,
                }
                for i in range(models)
            ],
        }
        data = merge_config(data, sections)
        return parse_config(tomli_w.dumps(data), {})

    return factory


class Harness:
    """The real kernel and the enabled features (store, agent, router, memory, scheduler…)
    around a recording channel."""

    def __init__(
        self, stack: AsyncExitStack, assembly: Assembly, channel: RecordingChannel
    ) -> None:
        self.stack = stack
        self.assembly = assembly
        self.services = assembly.ctx
        self.channel = channel
        self._ids = itertools.count(1)

    @property
    def memory(self):  # type: ignore[no-untyped-def]
        return self.assembly.part("memory")

    @property
    def scheduler(self):  # type: ignore[no-untyped-def]
        return self.assembly.part("scheduler")

    @property
    def router(self):  # type: ignore[no-untyped-def]
        return self.services.router

    async def close(self) -> None:
        await self.stack.aclose()

    def message(
        self,
        text: str,
        *,
        user: str = OWNER,
        chat: str | None = None,
        group: bool = False,
        addressed: bool = True,
        platform_id: str | None = None,
        language: str | None = None,
    ) -> InboundMessage:
        n = next(self._ids)
        return InboundMessage(
            chat=ChatRef("telegram", chat or f"chat-{user}", is_group=group),
            sender=Sender(user, name=f"user{user}"),
            text=text,
            platform_id=platform_id or f"m{n}-{id(self)}",
            message_id=str(n),
            addressed=addressed,
            meta={"language": language} if language else {},
        )

    async def say(self, text: str, **kwargs: Any) -> SubmitOutcome:
        return await self.router.submit(self.message(text, **kwargs))

    async def ask(self, text: str, **kwargs: Any) -> str:
        before = len(self.channel.sent)
        outcome = await self.say(text, **kwargs)
        assert outcome is SubmitOutcome.ACCEPTED, outcome
        sent = await self.channel.wait_sent(before + 1)
        return sent[before].text


HarnessFactory = Callable[..., Any]


async def until(
    condition: Callable[[], Awaitable[bool]], timeout: float = 10.0, every: float = 0.02
) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(every)


@pytest.fixture
async def start_harness() -> AsyncIterator[HarnessFactory]:
    """``await start_harness(config)`` → a running Harness; closed at the end of the test."""
    started: list[Harness] = []

    async def start(
        config: Config,
        *,
        recover: bool = True,
        embedder: LocalEmbedder | None = None,
        extra: Any = (),
        clock: Clock | None = None,
        options: dict[str, Any] | None = None,
    ) -> Harness:
        """``recover``: finish what the inbox holds and start firing scheduled jobs;
        ``clock``: the time the daemon sees (a ``FakeClock`` the test moves)."""
        stack = AsyncExitStack()
        channel = RecordingChannel("telegram")
        assembly = await assemble(
            stack,
            config,
            health=Health(),
            redactor=Redactor(),
            channels=[channel],
            extra=extra,
            clock=clock,
            options={**({"embedder": embedder} if embedder is not None else {}), **(options or {})}
            or None,
        )
        harness = Harness(stack, assembly, channel)
        started.append(harness)
        if recover:
            await assembly.start()
        return harness

    yield start
    for harness in reversed(started):
        await harness.close()
