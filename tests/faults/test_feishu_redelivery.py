"""Feishu delivers the same event three times, one of them after a restart: one reply.

Feishu retries an event it did not see acknowledged in time (15 s, 5 min, 1 h, 6 h), and a
retry can overlap the first delivery while the model is still thinking. The real daemon runs
as a process receiving by webhook (encrypted, signed, as the platform posts); event E comes
twice while it runs, both deliveries at once while the model holds its answer; then the
daemon is stopped one way or another, restarted on the same state directory, and E comes a
third time. The user sees exactly one answer to E, and a new message still gets its own.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fakes.feishu import FakeFeishu
from tests.fakes.model import FakeModel, Reply, last_user_text
from tests.faults.conftest import DaemonFactory
from tests.faults.daemon import DaemonProcess, free_port, merge_config, wait_until_finished
from tests.integration.feishu_support import OWNER, OWNER_CHAT, config_data, feishu

pytestmark = [pytest.mark.fault, pytest.mark.slow]

__all__ = ["feishu"]  # fixture

ASKED = "how full is the disk on web1?"
LATER = "and on web2?"


def feishu_daemon_config(directory: Path, model: FakeModel, fake: FakeFeishu) -> dict[str, Any]:
    """The Feishu channel alone (no Telegram), by webhook, as a process on a known port."""
    data = config_data(directory, model, fake)
    return merge_config(
        data, {"gateway": {"port": free_port()}, "logging": {"level": "info", "format": "json"}}
    )


async def deliver(http: aiohttp.ClientSession, fake: FakeFeishu, proc: DaemonProcess, event: Any):
    url = f"http://127.0.0.1:{proc.port}/feishu/events"
    return await fake.post_webhook(http, url, event)


@pytest.mark.parametrize("stop", ["term-after-reply", "term-mid-turn", "kill-mid-turn"])
async def test_event_delivered_three_times_across_a_restart_is_answered_once(
    tmp_path, fake_model, feishu, daemons: DaemonFactory, stop
):
    answer = asyncio.Event()  # the model holds its answer to E until this is set
    fake_model.responder = lambda body: Reply(
        text=f"echo: {last_user_text(body)}",
        hold=answer if last_user_text(body) == ASKED else None,
    )
    config = feishu_daemon_config(tmp_path, fake_model, feishu)
    state = Path(config["assistant"]["state_dir"])
    proc = daemons(config)
    event = feishu.message_event(chat_id=OWNER_CHAT, sender=OWNER, text=ASKED)

    async with aiohttp.ClientSession() as http:
        await proc.start()
        await proc.wait_ready()
        # the first delivery and a retry at the same moment, while the model is slow
        first, retry = await asyncio.gather(
            deliver(http, feishu, proc, event), deliver(http, feishu, proc, event)
        )
        assert first == retry == (200, {})
        await fake_model.wait_requests(1)
        if stop == "term-after-reply":
            answer.set()
            await feishu.wait_sent(1)
            await wait_until_finished(state, 30)
            assert await proc.stop() == 0
        elif stop == "term-mid-turn":  # the drain gives up on the held turn
            assert await proc.stop() == 0
        else:
            assert await proc.kill() == -9
        assert [s.text for s in feishu.sent] == ([f"echo: {ASKED}"] if answer.is_set() else [])
        answer.set()

        await proc.start()  # the same state directory
        await proc.wait_ready()
        assert await deliver(http, feishu, proc, event) == (200, {})
        later = feishu.message_event(chat_id=OWNER_CHAT, sender=OWNER, text=LATER)
        assert await deliver(http, feishu, proc, later) == (200, {})
        await feishu.wait_for(lambda: f"echo: {LATER}" in [s.text for s in feishu.sent], 30)
        await wait_until_finished(state, 30)
        assert await proc.stop() == 0

    seen = Counter((s.chat_id, s.text) for s in feishu.sent)
    assert seen == {(OWNER_CHAT, f"echo: {ASKED}"): 1, (OWNER_CHAT, f"echo: {LATER}"): 1}
    assert proc.errors() == [], proc.errors()
    asked = [r for r in fake_model.requests if last_user_text(r) == ASKED]
    assert len(asked) == (1 if stop == "term-after-reply" else 2)  # once more after a cut turn
