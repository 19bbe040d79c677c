"""The Bot API goes away for 30 seconds (5xx, 429 with retry_after, hanging requests, refused
connections): the daemon recovers by itself, loses nothing, answers nothing twice, and
/readyz shows the outage while it lasts.

The four outages run side by side (one daemon and one fake Bot API each): they are mostly
waiting, and one after the other they would take four times as long.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.model import FakeModel, Reply, last_user_text
from tests.fakes.telegram import FakeBotAPI
from tests.faults.daemon import OWNER, DaemonProcess, daemon_config

pytestmark = [pytest.mark.fault, pytest.mark.slow]

OUTAGE = 30.0
USER = OWNER + 1


def slow_model(body: dict[str, Any]) -> Reply:
    text = last_user_text(body)
    return Reply(text=f"echo: {text}", delay=2.0 if "slow" in text else 0.0)


async def outage(mode: str, directory: Path) -> dict[str, Any]:
    bot = await FakeBotAPI().start()
    model = await FakeModel().start()
    model.responder = slow_model
    proc = DaemonProcess(directory, daemon_config(directory, bot, [model], users=1), bot)
    loop = asyncio.get_running_loop()
    try:
        await proc.start()
        await proc.wait_ready()
        await bot.user_message(OWNER, OWNER, f"{mode} before")
        await bot.wait_sent(1, timeout=30)
        requests = len(model.requests)
        await bot.user_message(OWNER, OWNER, f"{mode} slow: replied during the outage")
        await model.wait_requests(requests + 1, timeout=30)  # its turn is under way
        if mode == "refuse":
            await bot.refuse_connections()
        else:
            bot.begin_outage(mode, retry_after=5)
        began = loop.time()
        await bot.user_message(USER, USER, f"{mode} during: sent while Telegram is down")
        down = await proc.wait_readyz(lambda status, _: status == 503, timeout=OUTAGE - 1)
        shown = down["components"]["channel.telegram"]
        seen_down = loop.time() - began
        await asyncio.sleep(max(0.0, began + OUTAGE - loop.time()))  # the outage lasts 30 s
        if mode == "refuse":
            await bot.accept_connections()
        else:
            bot.end_outage()
        ended = loop.time()
        expected = {
            f"echo: {mode} before",
            f"echo: {mode} slow: replied during the outage",
            f"echo: {mode} during: sent while Telegram is down",
        }
        await bot.wait_for(lambda: {s.text for s in bot.sent} >= expected, timeout=90)
        recovered = loop.time() - ended
        await proc.wait_ready(timeout=60)
        assert await proc.stop() == 0
        return {
            "mode": mode,
            "texts": sorted(s.text for s in bot.sent),
            "expected": sorted(expected),
            "shown": shown,
            "seen_down_after": round(seen_down, 1),
            "recovered_after": round(recovered, 1),
            "failures": proc.events("turn.failed") + [r for r in proc.events() if "exception" in r],
            "log": proc.tail(),
        }
    finally:
        if proc.running:
            await proc.stop(timeout=10)
        bot.end_outage()
        await bot.stop()
        await model.close()


async def test_bot_api_outages_of_30_seconds(tmp_path):
    modes = ("5xx", "429", "hang", "refuse")
    results = await asyncio.gather(*(outage(mode, tmp_path / mode) for mode in modes))
    for result in results:
        mode = result["mode"]
        assert result["texts"] == result["expected"], (mode, result["texts"], result["log"])
        assert result["shown"]["state"] in ("down", "starting"), (mode, result["shown"])
        assert result["failures"] == [], (mode, result["failures"])
        print(
            f"{mode}: /readyz showed it after {result['seen_down_after']}s "
            f"({result['shown'].get('detail')}); all answered {result['recovered_after']}s "
            "after it ended"
        )
