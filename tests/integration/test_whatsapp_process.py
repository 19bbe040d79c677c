"""WhatsApp with the real process: SIGKILL between the webhook's 200 and the reply; the doctor."""

from __future__ import annotations

import asyncio
import os
import sys

import aiohttp
import pytest
import tomli_w

from tests.fakes.model import Hang
from tests.helpers import free_port
from tests.integration.whatsapp_support import OWNER, config_data, whatsapp, whatsapp_config

__all__ = ["whatsapp"]  # fixtures

ASSISTANT = [sys.executable, "-m", "assistant"]


async def _ready(port: int, timeout: float = 30) -> None:
    async with aiohttp.ClientSession() as http, asyncio.timeout(timeout):
        while True:
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)


async def _start(config: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *ASSISTANT,
        "run",
        "--config",
        config,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env=dict(os.environ),
    )


@pytest.mark.slow
async def test_sigkill_after_the_200_then_exactly_one_reply(tmp_path, fake_model, whatsapp):
    port = free_port()
    data = config_data(tmp_path, fake_model, whatsapp, gateway={"port": port})
    path = tmp_path / "config.toml"
    path.write_text(tomli_w.dumps(data))
    url = f"http://127.0.0.1:{port}/whatsapp/webhook"
    fake_model.script.append(Hang(120))
    question = whatsapp.delivery(whatsapp.text(OWNER, "are you there?"))
    first = await _start(str(path))
    try:
        await _ready(port)
        async with aiohttp.ClientSession() as http:
            assert (await whatsapp.post_webhook(http, url, question))[0] == 200  # recorded
            await fake_model.wait_requests(1, timeout=30)
            first.kill()
            await first.wait()
            assert whatsapp.sent == []
            second = await _start(str(path))
            try:
                await _ready(port)
                sent = await whatsapp.wait_sent(1, timeout=30)
                assert sent[0].text == "echo: are you there?"
                assert (await whatsapp.post_webhook(http, url, question))[0] == 200  # Meta again
                later = whatsapp.delivery(whatsapp.text(OWNER, "and now?"))
                await whatsapp.post_webhook(http, url, later)
                await whatsapp.wait_sent(2, timeout=30)
            finally:
                second.terminate()
                assert await asyncio.wait_for(second.wait(), 15) == 0
    finally:
        if first.returncode is None:
            first.kill()
    assert [s.text for s in whatsapp.sent] == ["echo: are you there?", "echo: and now?"]
    assert len(fake_model.requests) == 3  # the cut turn, its rerun, the second message


async def test_doctor_checks_the_number(tmp_path, fake_model, whatsapp):
    from assistant.feature import CheckContext, Status
    from assistant.features.whatsapp.checks import check_whatsapp

    async with aiohttp.ClientSession() as session:
        ctx = CheckContext(config_path=tmp_path / "c.toml", env={}, env_file=None, session=session)
        ctx.config = whatsapp_config(tmp_path, fake_model, whatsapp)
        (ok,) = await check_whatsapp(ctx)
        assert ok.status is Status.OK and "number 15550783881 Assistant" in ok.detail
        bad_token = {"token": "EAAbad-0001"}
        ctx.config = whatsapp_config(tmp_path, fake_model, whatsapp, whatsapp=bad_token)
        (bad,) = await check_whatsapp(ctx)
        assert bad.status is Status.FAIL and "refused the token" in bad.detail
        assert "EAAbad-0001" not in bad.detail and bad.fix
        ctx.config = whatsapp_config(tmp_path, fake_model, whatsapp, whatsapp={"enabled": False})
        (off,) = await check_whatsapp(ctx)
        assert off.status is Status.SKIP and off.detail == "disabled ([whatsapp] enabled = false)"
