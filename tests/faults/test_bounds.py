"""Bounded under load, through the real daemon: one person's flood of 500 messages does not
hold up anyone else or become 500 model calls, and a thousand idle connections do not starve
the gateway.

Timings are printed for the record (docs/performance.md) and asserted only with a wide margin:
these machines are shared and noisy. What is asserted exactly is behaviour: who got answered,
how many model calls, which connections were closed.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import time
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.model import FakeModel, Reply, last_user_text
from tests.faults.daemon import OWNER, DaemonProcess, daemon_config, wait_until_finished

pytestmark = [pytest.mark.fault]

FLOODER = OWNER + 1
FLOOD = 500


async def test_a_flood_from_one_person_does_not_hold_up_another(tmp_path, bot_api, daemons):
    model = await FakeModel().start()
    model.responder = lambda body: Reply(text=f"echo: {last_user_text(body)}", delay=0.05)
    try:
        limits = {"messages_per_minute": 20, "queue_per_conversation": 20}  # the defaults
        config = daemon_config(tmp_path, bot_api, [model], users=1, limits=limits)
        proc: DaemonProcess = daemons(config, bot_api)
        await proc.start()
        await proc.wait_ready()
        pings = []
        for n in range(FLOOD):
            await bot_api.user_message(FLOODER, FLOODER, f"flood {n}")
            if n % 100 == 50:  # the owner writes in the middle of the flood, five times
                pings.append(await bot_api.user_message(OWNER, OWNER, f"ping {n}"))
        await bot_api.wait_for(lambda: sum(s.chat_id == OWNER for s in bot_api.sent) == 5, 60)
        await wait_until_finished(Path(config["assistant"]["state_dir"]))
        latencies = []
        for ping in pings:
            text = f"echo: {ping['message']['text']}"
            sent = next(s for s in bot_api.sent if s.text == text)
            latencies.append(sent.at - bot_api.available_at[ping["update_id"]])
        to_flooder = [s.text for s in bot_api.sent if s.chat_id == FLOODER]
        flood_requests = [r for r in model.requests if "flood" in last_user_text(r)]
        print(
            f"owner answered during a flood of {FLOOD}: max {max(latencies) * 1000:.0f} ms, "
            f"median {statistics.median(latencies) * 1000:.0f} ms; "
            f"{len(flood_requests)} model calls for the flood"
        )
        assert len(flood_requests) == 20  # 500 messages are not 500 model calls
        notices = [t for t in to_flooder if "faster than I can take them" in t]
        assert len(notices) == 1 and len(to_flooder) == 21
        assert max(latencies) < 5.0  # 1 s is the target (measured: see the printed line)
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{proc.port}/metrics") as response,
        ):
            body = await response.text()
        dropped = re.search(
            r'assistant_messages_dropped_total\{channel="telegram",reason="rate_limit"\} (\S+)',
            body,
        )
        assert dropped is not None and float(dropped.group(1)) == FLOOD - 20
        assert await proc.stop() == 0
        assert proc.errors() == []
        assert proc.events("state.pruned")  # the daily retention prune ran at start
    finally:
        await model.close()


@pytest.mark.parametrize("open_files", [None, 256], ids=["default-limit", "ulimit-256"])
async def test_a_thousand_idle_connections_do_not_starve_healthz(
    tmp_path, bot_api, daemons, open_files
):
    """With 256 files (how the gateway used to be starved by 250 half-open connections) the
    daemon admits 128 connections: the idle ones make room for /healthz."""
    if open_files is not None and shutil.which("prlimit") is None:
        pytest.skip("prlimit (util-linux) is not installed")
    config = daemon_config(tmp_path, bot_api, [], gateway={"header_timeout": 3})
    proc: DaemonProcess = daemons(config, bot_api)
    await proc.start(open_files=open_files)
    await proc.wait_ready()
    url = f"http://127.0.0.1:{proc.port}"
    async with aiohttp.ClientSession() as http:
        quiet = await healthz(http, url)
        idle = []
        for n in range(1000):  # half send nothing, half stop in the middle of a request head
            reader, writer = await asyncio.open_connection("127.0.0.1", proc.port)
            if n % 2:
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            idle.append((reader, writer))
        busy = await healthz(http, url)
        print(
            f"/healthz ({open_files or 'default'} files): {ms(quiet)} alone; {ms(busy)} with "
            f"1000 idle connections open (median, max of {len(busy)})"
        )
        assert max(busy) < 2.0  # 100 ms is the target (measured: see the printed line)
        closed = await asyncio.gather(*(eof(reader, 30) for reader, _ in idle))
        assert all(closed)  # the daemon closed every idle connection by itself
        for _, writer in idle:
            writer.close()
        async with http.get(f"{url}/metrics") as response:
            body = await response.text()
    closed_by = {
        reason: float(count)
        for reason, count in re.findall(
            r'assistant_gateway_connections_closed_total\{reason="(\w+)"\} (\S+)', body
        )
    }
    assert closed_by.get("header_timeout", 0) + closed_by.get("evicted", 0) >= 1000
    if open_files is not None:
        assert closed_by["evicted"] >= 1000 - 128  # at most 128 connections were admitted
    assert await proc.stop() == 0
    assert proc.errors() == []


async def healthz(http: aiohttp.ClientSession, url: str, times: int = 50) -> list[float]:
    took = []
    for _ in range(times):
        started = time.perf_counter()
        async with http.get(f"{url}/healthz") as response:
            assert response.status == 200 and await response.json() == {"status": "ok"}
        took.append(time.perf_counter() - started)
    return took


def ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.1f} ms, {max(samples) * 1000:.1f} ms"


async def eof(reader: asyncio.StreamReader, timeout: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1024), timeout) == b""
    except (ConnectionError, TimeoutError):
        return False
