"""Shared by the WhatsApp integration tests: config, the fake platform, the running daemon."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from assistant.app import Daemon
from assistant.config import Config, parse_config
from tests.fakes.model import FakeModel
from tests.fakes.whatsapp import FakeWhatsApp
from tests.helpers import Running, running_daemons

OWNER = "4915112345678"
USER = "4915187654321"
STRANGER = "8613800138000"  # a Chinese number: pairing is answered in Chinese
COMPONENT = "channel.whatsapp"


@pytest.fixture
async def whatsapp():
    fake = await FakeWhatsApp().start()
    yield fake
    await fake.stop()


def config_data(tmp_path: Path, fake_model: FakeModel, fake: FakeWhatsApp, **extra: Any) -> dict:
    section = {
        "enabled": True,
        "phone_number_id": fake.phone_id,
        "token": fake.token,
        "app_secret": fake.app_secret,
        "verify_token": fake.verify_token,
        "api_base": fake.api_base,
        **extra.pop("whatsapp", {}),
    }
    models = extra.pop("models", None) or [
        {"name": "m0", "base_url": fake_model.base_url, "model": "fake-0", "timeout": 5}
    ]
    access = {
        "owners": [f"whatsapp:{OWNER}"],
        "whatsapp": {"users": {USER: "user"}},
        **extra.pop("access", {}),
    }
    return {
        "assistant": {"state_dir": str(tmp_path / "state"), "drain_timeout": 3},
        "gateway": {"port": 0},
        "access": access,
        "models": models,
        "whatsapp": section,
        "memory": {"enabled": False},
        "scheduler": {"enabled": False},
        **extra,
    }


def whatsapp_config(
    tmp_path: Path, fake_model: FakeModel, fake: FakeWhatsApp, **extra: Any
) -> Config:
    return parse_config(tomli_w.dumps(config_data(tmp_path, fake_model, fake, **extra)), {})


class WhatsAppRunning(Running):
    def __init__(self, daemon: Daemon, task: asyncio.Task[int]) -> None:
        super().__init__(daemon, task, COMPONENT)

    @property
    def url(self) -> str:
        assert self.daemon.gateway is not None
        return f"http://127.0.0.1:{self.daemon.gateway.port}/whatsapp/webhook"


@pytest.fixture
async def run_daemon():
    async for start in running_daemons(WhatsAppRunning):
        yield start
