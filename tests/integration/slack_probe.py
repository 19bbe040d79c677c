"""Run a daemon without Slack (WhatsApp only, against its fake) through a message and a reply,
then print the slack_sdk modules it imported as JSON (the last line)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import aiohttp


async def main(tmp: Path) -> None:
    from assistant.app import Daemon
    from tests.fakes.model import FakeModel
    from tests.fakes.whatsapp import FakeWhatsApp
    from tests.integration.whatsapp_support import OWNER, whatsapp_config

    model = await FakeModel().start()
    fake = await FakeWhatsApp().start()
    config = whatsapp_config(tmp, model, fake)
    daemon = Daemon(config, config_path=tmp / "none.toml", env={}, configure_logging=False)
    task = asyncio.create_task(daemon.run())
    async with asyncio.timeout(30):
        await daemon.ready.wait()
        while daemon.health.snapshot().get("channel.whatsapp", {}).get("state") != "ready":
            await asyncio.sleep(0.01)
    assert daemon.gateway is not None
    url = f"http://127.0.0.1:{daemon.gateway.port}/whatsapp/webhook"
    async with aiohttp.ClientSession() as http:
        await fake.post_webhook(http, url, fake.delivery(fake.text(OWNER, "hi")))
    await fake.wait_sent(1)
    daemon.stop()
    await asyncio.wait_for(task, 30)
    await fake.stop()
    await model.close()
    print(json.dumps(sorted(m for m in sys.modules if m.startswith("slack_sdk"))))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
