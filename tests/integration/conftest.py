"""Fixtures the SSH end-to-end tests share: a real sshd per module, a fake Bot API per test.
Modules that need another shape define their own fixture of the same name."""

from __future__ import annotations

import pytest

from tests.fakes import sshd as fake_sshd
from tests.fakes.telegram import FakeBotAPI


@pytest.fixture(scope="module")
def sshd():
    server = fake_sshd.start()
    yield server
    server.stop()


@pytest.fixture
async def bot_api():
    fake = await FakeBotAPI().start()
    yield fake
    await fake.stop()
