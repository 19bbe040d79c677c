"""The gateway under idle, half-open, slow and too many connections: /healthz keeps
answering, and the connections that hold nothing are closed."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from aiohttp import web

from assistant.config import GatewaySection
from assistant.core.health import Health
from assistant.core.metrics import Metrics
from assistant.gateway.server import Gateway

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def open_gateway(**config: object) -> tuple[Gateway, Metrics]:
    metrics = Metrics()
    gateway = Gateway(
        GatewaySection.model_validate({"port": 0, **config}),
        health=Health(),
        metrics=metrics,
        status=dict,
    )
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="late")

    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    gateway.add_route("GET", "/slow", slow)
    gateway.add_route("POST", "/echo", echo)
    gateway.release = release  # type: ignore[attr-defined]
    return await gateway.__aenter__(), metrics


@pytest.fixture
async def gateways():
    opened: list[Gateway] = []
    conns: list[Conn] = []

    async def start(**config: object) -> tuple[Gateway, Metrics]:
        gateway, metrics = await open_gateway(**config)
        opened.append(gateway)
        return gateway, metrics

    yield start, conns
    for _, writer in conns:
        writer.close()
    for gateway in opened:
        gateway.release.set()  # type: ignore[attr-defined]
        await gateway.__aexit__(None, None, None)


async def idle(port: int, count: int, conns: list[Conn]) -> list[Conn]:
    """``count`` connections that send nothing (even ones) or half a request head (odd)."""
    made = []
    for n in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        if n % 2:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        made.append((reader, writer))
    conns.extend(made)
    return made


async def healthz(port: int, times: int = 20) -> list[float]:
    took = []
    async with aiohttp.ClientSession() as http:
        for _ in range(times):
            started = time.perf_counter()
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200
                assert await response.json() == {"status": "ok"}
            took.append(time.perf_counter() - started)
    return took


async def closed_by_server(conn: Conn, timeout: float) -> bool:
    try:
        return await asyncio.wait_for(conn[0].read(1024), timeout) in (b"",) or conn[0].at_eof()
    except (ConnectionError, TimeoutError):
        return False


def counter(metrics: Metrics, reason: str) -> float:
    value = metrics.registry.get_sample_value(
        "assistant_gateway_connections_closed_total", {"reason": reason}
    )
    return value or 0.0


async def test_a_thousand_idle_connections_do_not_starve_healthz(gateways):
    start, conns = gateways
    gateway, metrics = await start(header_timeout=1.5)
    made = await idle(gateway.port, 1000, conns)
    assert len(gateway.connections) == 1000
    took = await healthz(gateway.port)
    print(f"/healthz with 1000 idle connections: max {max(took) * 1000:.1f} ms")
    results = await asyncio.gather(*(closed_by_server(c, 10) for c in made))
    assert all(results)  # every idle connection was closed by the server
    assert counter(metrics, "header_timeout") == 1000
    assert len(gateway.connections) <= 1  # the keep-alive of the health checks, at most


async def test_at_the_cap_the_oldest_idle_connection_makes_room(gateways):
    start, conns = gateways
    gateway, metrics = await start(max_connections=64, header_timeout=60)
    made = await idle(gateway.port, 200, conns)
    await healthz(gateway.port, times=5)
    assert len(gateway.connections) <= 64
    assert counter(metrics, "evicted") >= 200 - 63
    oldest, newest = made[0], made[-1]
    assert await closed_by_server(oldest, 5)
    newest[1].write(b"\r\n")  # the newest half head completes: it is served
    answer = await asyncio.wait_for(newest[0].read(1024), 5)
    assert answer.startswith(b"HTTP/1.1 200")


async def test_when_every_connection_is_busy_a_new_one_gets_503(gateways):
    start, conns = gateways
    gateway, metrics = await start(max_connections=8, header_timeout=60)
    busy = [await asyncio.open_connection("127.0.0.1", gateway.port) for _ in range(8)]
    conns.extend(busy)
    for _, writer in busy:
        writer.write(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.sleep(0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    conns.append((reader, writer))
    assert (await asyncio.wait_for(reader.read(1024), 5)).startswith(b"HTTP/1.1 503")
    assert counter(metrics, "refused") == 1
    gateway.release.set()  # type: ignore[attr-defined]
    for reader, _ in busy:
        assert (await asyncio.wait_for(reader.read(1024), 5)).startswith(b"HTTP/1.1 200")


async def test_a_body_that_does_not_arrive_in_time_gets_408(gateways):
    start, conns = gateways
    gateway, metrics = await start(body_timeout=0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    conns.append((reader, writer))
    writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
    answer = await asyncio.wait_for(reader.read(4096), 5)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert counter(metrics, "body_timeout") == 1
    url = f"http://127.0.0.1:{gateway.port}/echo"
    async with aiohttp.ClientSession() as http, http.post(url, data=b"x" * 1000) as r:
        assert r.status == 200 and await r.read() == b"x" * 1000  # a whole body, as before


async def test_an_idle_kept_alive_connection_is_closed(gateways):
    start, conns = gateways
    gateway, _ = await start(keepalive_timeout=0.5, header_timeout=60)
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    conns.append((reader, writer))
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await asyncio.wait_for(reader.readuntil(b"}"), 5)).startswith(b"HTTP/1.1 200")
    assert await closed_by_server((reader, writer), 5)


async def test_a_taken_port_is_a_config_error_and_stopping_frees_the_port():
    from assistant.core.errors import ConfigError

    first, _ = await open_gateway(header_timeout=60)
    port = first.port
    assert port
    kept = await asyncio.open_connection("127.0.0.1", port)  # kept alive, served
    kept[1].write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await asyncio.wait_for(kept[0].readuntil(b"}"), 5)).startswith(b"HTTP/1.1 200")
    with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
        await open_gateway(port=port)
    await first.__aexit__(None, None, None)
    assert await closed_by_server(kept, 5)  # open connections end with the gateway
    kept[1].close()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)  # and nothing listens any more
    again, _ = await open_gateway(port=port)  # the port is free again at once
    assert again.port == port
    await again.__aexit__(None, None, None)
