"""Feishu, streaming cards, the daemon stopped mid-turn — by SIGTERM, then by SIGKILL — in
webhook and in long-connection mode: each question ends as one card showing the whole
answer, edited in place; no cut-off card is left behind and none comes twice.

The model writes the first words of its answer and then stalls, so the card on screen shows
a preview (on record in the delivery log) when the daemon stops. After the restart (the same
state directory) the turn runs again and its text goes into that same card.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fakes.feishu import FakeFeishu
from tests.fakes.model import FakeModel, Reply, last_user_text
from tests.faults.conftest import DaemonFactory
from tests.faults.daemon import (
    DaemonProcess,
    free_port,
    merge_config,
    previews,
    wait_until_finished,
)
from tests.integration.feishu_support import OWNER, OWNER_CHAT, config_data, feishu

pytestmark = [pytest.mark.fault, pytest.mark.slow]

__all__ = ["feishu"]  # fixture

QUESTIONS = {"term": "disk on web1?", "kill": "disk on web2?"}


def answer(question: str) -> str:
    return f"The **disk** on {question[8:12]} is 41% full;" + " plenty left." * 20


@pytest.mark.parametrize("mode", ["webhook", "websocket"])
async def test_a_streamed_card_cut_by_sigterm_or_sigkill_is_finished_in_place(
    tmp_path: Path, fake_model: FakeModel, feishu: FakeFeishu, daemons: DaemonFactory, mode: str
):
    stalls = {q: asyncio.Event() for q in QUESTIONS.values()}

    def respond(body: dict[str, Any]) -> Reply:
        question = last_user_text(body)
        return Reply(text=answer(question), chunk=30, stall=stalls.get(question))

    fake_model.responder = respond
    data = config_data(
        tmp_path, fake_model, feishu, feishu={"stream": True, "mode": mode, "heartbeat_timeout": 30}
    )
    config = merge_config(
        data,
        {
            "assistant": {"drain_timeout": 1},
            "gateway": {"port": free_port()},
            "logging": {"level": "info", "format": "json"},
        },
    )
    state = Path(config["assistant"]["state_dir"])
    proc: DaemonProcess = daemons(config)

    async def started() -> None:
        connections = feishu.ws.connections
        await proc.start()
        await proc.wait_ready()
        if mode == "websocket":
            await feishu.ws.wait_connected(count=connections + 1)

    async with aiohttp.ClientSession() as http:
        await started()
        for how, question in QUESTIONS.items():
            event = feishu.message_event(chat_id=OWNER_CHAT, sender=OWNER, text=question)
            before = len(feishu.sent)
            if mode == "webhook":
                url = f"http://127.0.0.1:{proc.port}/feishu/events"
                assert await feishu.post_webhook(http, url, event) == (200, {})
            else:
                await feishu.ws.wait_ack(await feishu.ws.push(event))
            await feishu.wait_for(lambda n=before: len(feishu.sent) > n, 20)  # the preview card
            preview = feishu.sent[-1]
            assert preview.msg_type == "interactive"
            assert preview.text != answer(question)
            async with asyncio.timeout(10):  # and on record (else it is a part in flight)
                while question not in previews(state):
                    await asyncio.sleep(0.02)
            if how == "term":
                proc.signal(signal.SIGTERM)
                assert await proc.process.wait() == 0  # type: ignore[union-attr]
            else:
                assert await proc.kill() == -9
            stalls[question].set()
            await started()  # the same state directory: the turn runs again
            await feishu.wait_for(lambda p=preview, q=question: p.text == answer(q), 30)
        await wait_until_finished(state, 30)
        assert await proc.stop() == 0

    cards = [(s.chat_id, s.text) for s in feishu.sent]
    assert cards == [(OWNER_CHAT, answer(q)) for q in QUESTIONS.values()]  # no fragment, no twin
    assert all(len(s.versions) >= 2 for s in feishu.sent)  # each was a preview, then edited
    assert proc.errors() == [], proc.errors()
