"""Shared by the Feishu integration tests: config, the fake platform, the running daemon."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from assistant.app import Daemon
from assistant.config import Config, parse_config
from tests.fakes.feishu import FakeFeishu
from tests.fakes.model import FakeModel
from tests.helpers import Running, running_daemons

OWNER = "ou_0wner000000000000000000000000001"
USER = "ou_user0000000000000000000000000002"
GUEST = "ou_guest000000000000000000000000003"
STRANGER = "ou_stranger00000000000000000000004"
OWNER_CHAT = "oc_dm0wner0000000000000000000000001"
USER_CHAT = "oc_dmuser00000000000000000000000002"
STRANGER_CHAT = "oc_dmstranger0000000000000000000004"
GROUP = "oc_gr0up00000000000000000000000001"
COMPONENT = "channel.feishu"


@pytest.fixture
async def feishu():
    fake = await FakeFeishu().start()
    fake.names.update({OWNER: "Ann", USER: "Bob", GUEST: "Gus", STRANGER: "Sam"})
    yield fake
    await fake.stop()


def config_data(tmp_path: Path, fake_model: FakeModel, fake: FakeFeishu, **extra: Any) -> dict:
    feishu = {
        "enabled": True,
        "app_id": fake.app_id,
        "app_secret": fake.app_secret,
        "domain": fake.base_url,
        "mode": "webhook",
        "verification_token": fake.verification_token,
        "encrypt_key": fake.encrypt_key,
        "stream": False,
        **extra.pop("feishu", {}),
    }
    models = extra.pop("models", None) or [
        {"name": "m0", "base_url": fake_model.base_url, "model": "fake-0", "timeout": 5}
    ]
    return {
        "assistant": {"state_dir": str(tmp_path / "state"), "drain_timeout": 3},
        "gateway": {"port": 0},
        "access": {
            "owners": [f"feishu:{OWNER}"],
            "feishu": {"users": {USER: "user"}, "groups": [GROUP]},
        },
        "models": models,
        "feishu": feishu,
        # memory and the scheduler load heavy libraries: tests that need them opt in
        "memory": {"enabled": False},
        "scheduler": {"enabled": False},
        **extra,
    }


def feishu_config(tmp_path: Path, fake_model: FakeModel, fake: FakeFeishu, **extra: Any) -> Config:
    return parse_config(tomli_w.dumps(config_data(tmp_path, fake_model, fake, **extra)), {})


class FeishuRunning(Running):
    def __init__(self, daemon: Daemon, task: asyncio.Task[int]) -> None:
        super().__init__(daemon, task, COMPONENT)

    @property
    def url(self) -> str:
        assert self.daemon.gateway is not None
        return f"http://127.0.0.1:{self.daemon.gateway.port}/feishu/events"

    async def wait_state(self, state: str, timeout: float = 20) -> None:
        await super().wait_state(state, timeout)

    async def stop(self, timeout: float = 30) -> int:
        return await super().stop(timeout)


@pytest.fixture
async def run_daemon():
    async for start in running_daemons(FeishuRunning):
        yield start
