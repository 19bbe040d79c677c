"""A crashing component is restarted with backoff and its state shows; an auth failure stops
only that component."""

from __future__ import annotations

import asyncio
import random
from functools import partial

from aiohttp import ClientSession, web

from assistant.core.backoff import Backoff
from assistant.core.errors import ChannelAuthError, ChannelUnavailable
from assistant.core.health import ComponentState, Health
from assistant.core.metrics import Metrics
from assistant.core.redact import Redactor
from assistant.core.supervise import supervise
from assistant.gateway.server import Gateway
from tests.conftest import until
from tests.fakes.model import Hang
from tests.helpers import FakeClock


async def test_crashing_component_is_restarted_and_its_state_is_visible():
    health = Health()
    health.register("channel.x")
    seen_at_start: list[tuple[ComponentState | None, str]] = []
    healthy = asyncio.Event()

    async def run() -> None:
        status = health.snapshot()["channel.x"]
        seen_at_start.append((health.state("channel.x"), status.get("detail", "")))
        if len(seen_at_start) <= 2:
            raise ChannelUnavailable("connection refused by api.example.org")
        health.set("channel.x", ComponentState.READY)
        healthy.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(
        supervise(
            "channel.x",
            run,
            health=health,
            redactor=Redactor(),
            backoff=Backoff(0.01, 0.05, rng=random.Random(1)),
        )
    )
    await asyncio.wait_for(healthy.wait(), 5)
    assert [state for state, _ in seen_at_start] == [
        ComponentState.STARTING,
        ComponentState.DOWN,
        ComponentState.DOWN,
    ]
    assert "connection refused" in seen_at_start[1][1] and "restarting in" in seen_at_start[1][1]
    assert health.state("channel.x") is ComponentState.READY and health.is_ready()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_restart_waits_for_its_backoff_on_the_clock():
    clock = FakeClock()
    health = Health()
    health.register("channel.x")
    starts: list[float] = []

    async def run() -> None:
        starts.append(clock.monotonic())
        if len(starts) == 1:
            clock.advance(45)  # it ran 45 s: long enough to count as healthy …
        raise ChannelUnavailable("connection reset")  # … then the connection broke

    backoff = Backoff(10.0, 60.0, rng=random.Random(7))
    task = asyncio.create_task(
        supervise(
            "channel.x", run, health=health, redactor=Redactor(), backoff=backoff, clock=clock
        )
    )

    async def asleep() -> bool:
        return clock.sleepers == 1

    for restarts in (1, 2, 3):
        await until(asleep)
        detail = health.snapshot()["channel.x"]["detail"]
        delay = float(detail.rsplit("restarting in ", 1)[1].rstrip("s"))  # to 0.1 s
        assert 10.0 <= delay <= 60.0
        clock.advance(delay - 0.5)
        assert clock.sleepers == 1 and len(starts) == restarts  # not before its time …
        clock.advance(0.6)
        await until(partial(_started, starts, restarts + 1))  # … and then at once
    assert starts[2] - starts[1] >= 10.0
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _started(starts: list[float], n: int) -> bool:
    return len(starts) >= n


async def test_auth_failure_stops_only_that_component_with_a_redacted_detail():
    health = Health()
    health.register("channel.telegram")

    async def run() -> None:
        raise ChannelAuthError(
            "Telegram refused the token 7712345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw (401)"
        )

    await asyncio.wait_for(
        supervise("channel.telegram", run, health=health, redactor=Redactor()), 5
    )
    snapshot = health.snapshot()["channel.telegram"]
    assert snapshot["state"] == "failed"
    assert "AAHdqTcv" not in snapshot["detail"] and "(401)" in snapshot["detail"]
    assert not health.is_ready()


async def test_webhook_routes_are_served_without_the_admin_token():
    from assistant.config import parse_config

    health = Health()
    gateway = Gateway(
        parse_config("[gateway]\nport = 0\nadmin_token = 'tok-123456'\n", {}).gateway,
        health=health,
        metrics=Metrics(),
        status=dict,
    )

    async def hook(request: web.Request) -> web.Response:
        return web.json_response({"got": await request.json()})

    gateway.add_route("POST", "/webhook/test", hook)
    async with gateway, ClientSession() as http:
        url = f"http://127.0.0.1:{gateway.port}"
        async with http.post(f"{url}/webhook/test", json={"a": 1}) as r:
            assert r.status == 200 and await r.json() == {"got": {"a": 1}}
        async with http.get(f"{url}/status", headers={"Authorization": "Bearer wrong"}) as r:
            assert r.status == 401
        async with http.get(f"{url}/status", headers={"Authorization": "Bearer tok-123456"}) as r:
            assert r.status == 200


async def test_turn_timeout_answers_clearly(make_config, start_harness, fake_model):
    h = await start_harness(make_config(agent={"turn_timeout": 0.5}))
    fake_model.script.append(Hang(30))
    reply = await h.ask("slow question")
    assert reply.startswith("Sorry, this took longer than 0.5 seconds and was stopped (turn ")
