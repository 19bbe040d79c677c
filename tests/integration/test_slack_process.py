"""Slack with the real process: SIGKILL between the Events API's 200 and the reply."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
import tomli_w

from tests.fakes.model import Hang
from tests.helpers import free_port
from tests.integration.test_slack import OWNER, OWNER_DM, slack, slack_data
from tests.integration.test_whatsapp_process import _ready, _start

__all__ = ["slack"]  # fixtures


@pytest.mark.slow
async def test_sigkill_after_the_200_then_exactly_one_reply(tmp_path, fake_model, slack):
    port = free_port()
    path = tmp_path / "config.toml"
    path.write_text(tomli_w.dumps(slack_data(tmp_path, fake_model, slack, gateway={"port": port})))
    url = f"http://127.0.0.1:{port}/slack/events"
    fake_model.script.append(Hang(120))
    question = slack.event(slack.message(OWNER_DM, OWNER, "are you there?"))
    first = await _start(str(path))
    try:
        await _ready(port)
        async with aiohttp.ClientSession() as http:
            assert (await slack.post(http, url, question))[0] == 200  # recorded
            await fake_model.wait_requests(1, timeout=30)
            first.kill()
            await first.wait()
            assert slack.posted == []
            second = await _start(str(path))
            try:
                await _ready(port)
                posted = await slack.wait_posted(1, timeout=30)
                assert posted[0].text == "echo: are you there?"
                assert (await slack.post(http, url, question, retry=1))[0] == 200  # Slack again
                later = slack.event(slack.message(OWNER_DM, OWNER, "and now?"))
                await slack.post(http, url, later)
                await slack.wait_posted(2, timeout=30)
            finally:
                second.terminate()
                assert await asyncio.wait_for(second.wait(), 15) == 0
    finally:
        if first.returncode is None:
            first.kill()
    assert [p.text for p in slack.posted] == ["echo: are you there?", "echo: and now?"]
    assert len(fake_model.requests) == 3  # the cut turn, its rerun, the second message
