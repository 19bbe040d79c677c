"""Fixtures of the fault suite: the real daemon as a process against the fakes.

Every test here breaks something the way production breaks it and asserts what users see.
They are slow by nature (each starts the daemon, ~3 s): each module is marked ``fault``
(``pytest -m "not fault"`` leaves them out).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.telegram import FakeBotAPI
from tests.faults.daemon import DaemonProcess


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotAPI]:
    fake = await FakeBotAPI().start()
    yield fake
    fake.end_outage()
    await fake.stop()


DaemonFactory = Callable[..., DaemonProcess]


@pytest.fixture
async def daemons(tmp_path: Path) -> AsyncIterator[DaemonFactory]:
    """``daemons(config, bot)`` → a DaemonProcess (not started); stopped at the end. ``bot``
    is None for a daemon without Telegram."""
    made: list[DaemonProcess] = []

    def make(
        config: dict[str, Any], bot: FakeBotAPI | None = None, name: str = "daemon"
    ) -> DaemonProcess:
        process = DaemonProcess(tmp_path / name, config, bot)
        made.append(process)
        return process

    yield make
    for process in made:
        if process.running:
            await process.stop(timeout=10)
