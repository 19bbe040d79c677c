"""The daemon's lifecycle: start, serve the gateway, reload, drain, stop, leave nothing behind."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
import tomli_w

from assistant.app import Daemon
from assistant.config import load_config
from assistant.core.ports import SubmitOutcome
from assistant.store.inbox import InboxStatus
from tests.fakes.model import Reply

ASSISTANT = [sys.executable, "-m", "assistant"]


def write_config(path: Path, state: Path, fake_base: str, **extra) -> Path:
    data = {
        "assistant": {"state_dir": str(state), "drain_timeout": 3},
        "gateway": {"port": 0, "admin_token": "${ADMIN_TOKEN:-}"},
        "models": [{"name": "m0", "base_url": fake_base, "model": "fake-0", "timeout": 5}],
        "memory": {"enabled": False},
        "scheduler": {"enabled": False},
        **extra,
    }
    path.write_text(tomli_w.dumps(data))
    return path


@pytest.fixture
def config_path(tmp_path, fake_model):
    return write_config(tmp_path / "config.toml", tmp_path / "state", fake_model.base_url)


async def start_daemon(path: Path, env=None) -> tuple[Daemon, asyncio.Task[int]]:
    env = env or {}
    daemon = Daemon(load_config(path, env), config_path=path, env=env, configure_logging=False)
    task = asyncio.create_task(daemon.run())
    ready = asyncio.create_task(daemon.ready.wait())
    done, _ = await asyncio.wait({task, ready}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()
    assert ready in done
    return daemon, task


async def test_gateway_endpoints_and_clean_stop(config_path):
    daemon, task = await start_daemon(config_path, {"ADMIN_TOKEN": "admin-token-123456"})
    base = f"http://127.0.0.1:{daemon.gateway.port}"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/healthz") as r:
            assert r.status == 200 and (await r.json()) == {"status": "ok"}
        async with http.get(f"{base}/readyz") as r:
            body = await r.json()
            assert r.status == 200 and body["ready"] is True
            assert body["components"]["router"]["state"] == "ready"
        async with http.get(f"{base}/metrics") as r:
            text = await r.text()
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
            for name in (
                "assistant_turn_seconds_bucket",
                "assistant_queue_depth",
                'assistant_component_up{component="router"} 1.0',
            ):
                assert name in text
        async with http.get(f"{base}/status") as r:
            assert r.status == 401
        headers = {"Authorization": "Bearer admin-token-123456"}
        async with http.get(f"{base}/status", headers=headers) as r:
            assert r.status == 200 and (await r.json())["models"] == ["m0"]
    daemon.stop()
    assert await asyncio.wait_for(task, 10) == 0
    leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert leftover == []
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as http, http.get(f"{base}/healthz"):
            pass


async def test_readyz_is_503_when_a_required_component_is_down(config_path):
    daemon, task = await start_daemon(config_path)
    from assistant.core.health import ComponentState

    daemon.health.register("channel.telegram")
    daemon.health.set("channel.telegram", ComponentState.FAILED, "token rejected (401)")
    url = f"http://127.0.0.1:{daemon.gateway.port}/readyz"
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        body = await r.json()
    assert r.status == 503 and body["ready"] is False
    assert body["components"]["channel.telegram"]["detail"] == "token rejected (401)"
    daemon.stop()
    assert await task == 0


async def test_reload_applies_live_parts_and_names_the_rest(config_path, tmp_path, fake_model):
    daemon, task = await start_daemon(config_path)
    write_config(
        config_path,
        tmp_path / "elsewhere",
        fake_model.base_url,
        access={"owners": ["telegram:42"]},
    )
    config_path.write_text(config_path.read_text().replace('name = "m0"', 'name = "renamed"'))
    assert await daemon.reload() == (["models", "access.owners"], ["assistant.state_dir"])
    services = daemon.services
    assert [p.name for p in services.client.providers] == ["renamed"]
    assert await services.access.role("telegram", "42") == "owner"
    daemon.stop()
    assert await task == 0


async def test_reload_with_a_broken_config_keeps_the_running_one(config_path):
    daemon, task = await start_daemon(config_path)
    config_path.write_text(config_path.read_text() + "\n[assistant.oops]\nx = 1\n")
    assert await daemon.reload() is None
    assert [p.name for p in daemon.services.client.providers] == ["m0"]
    daemon.stop()
    assert await task == 0


async def test_readyz_shows_memory_and_scheduler(tmp_path, fake_model):
    path = write_config(
        tmp_path / "config.toml",
        tmp_path / "state",
        fake_model.base_url,
        memory={
            "enabled": True,
            "embedder": "openai",
            "embeddings": {"base_url": fake_model.base_url},
        },
        scheduler={"enabled": True},
    )
    daemon, task = await start_daemon(path)
    url = f"http://127.0.0.1:{daemon.gateway.port}/readyz"
    # staged start: the daemon serves first; memory and the scheduler become ready on their own
    async with aiohttp.ClientSession() as http, asyncio.timeout(15):
        while True:
            async with http.get(url) as r:
                components = (await r.json())["components"]
            states = {components[n]["state"] for n in ("memory", "scheduler")}
            if states == {"ready"}:
                break
            assert states <= {"starting", "ready"}, components
            await asyncio.sleep(0.05)
    path.write_text(path.read_text().replace("[scheduler]", "[scheduler]\ncheck_cooldown = 5"))
    assert await daemon.reload() == (["scheduler.check_cooldown"], [])
    daemon.stop()
    assert await task == 0


async def test_each_feature_applies_what_it_can_and_the_rest_needs_a_restart(
    make_config, start_harness, embedder
):
    """One reload path: the kernel and every feature report the keys they applied; every
    other change is named as needing a restart (no list of live fields in the root)."""
    old = make_config(memory={"enabled": True}, scheduler={"enabled": True})
    h = await start_harness(old, embedder=embedder)
    new = make_config(
        memory={"enabled": True, "recall_top_k": 3, "shared": True, "mode": "server"},
        scheduler={"enabled": True, "misfire_grace": 60, "max_jobs_per_user": 7},
        assistant={"system_prompt": "x", "drain_timeout": 9},
        gateway={"port": 1},
        access={"owners": ["telegram:1"]},
    )
    applied, restart = await h.assembly.reload(new)
    assert sorted(applied) == [
        "access.owners",
        "assistant.drain_timeout",
        "assistant.system_prompt",
        "memory.recall_top_k",
        "memory.shared",
        "scheduler.max_jobs_per_user",
        "scheduler.misfire_grace",
    ]
    assert sorted(restart) == ["gateway.port", "memory.mode"]
    assert h.services.config is new  # the config in force is the new one


async def test_drain_lets_a_turn_in_flight_finish(make_config, start_harness, fake_model):
    h = await start_harness(make_config())
    fake_model.script.append(Reply(text="finished during drain", delay=0.5))
    assert await h.say("slow one") is SubmitOutcome.ACCEPTED
    await fake_model.wait_requests(1)
    await h.router.drain(5)
    assert h.channel.texts() == ["finished during drain"]
    with pytest.raises(Exception, match="shutting down"):
        await h.say("too late")


async def test_drain_timeout_leaves_the_message_for_the_next_start(
    make_config, start_harness, fake_model
):
    config = make_config()
    first = await start_harness(config)
    fake_model.script.append(Reply(text="too slow", delay=5))
    await first.say("slow one")
    await first.say("queued behind it")
    await fake_model.wait_requests(1)
    await first.router.drain(0.2)
    assert first.channel.sent == []
    unfinished = await first.services.inbox.unfinished(["telegram"])
    assert [e.status for e in unfinished] == [InboxStatus.PROCESSING, InboxStatus.RECEIVED]
    await first.close()
    second = await start_harness(config)  # recovers both, in order
    await second.channel.wait_sent(2)
    assert second.channel.texts() == ["echo: slow one", "echo: queued behind it"]


# --- the real process and its signals -----------------------------------------------------


async def _read_until(stream: asyncio.StreamReader, event: str, timeout: float = 15) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            line = await stream.readline()
            if not line:
                raise AssertionError(f"process ended before logging {event!r}")
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("event") == event:
                return record


@pytest.mark.slow
async def test_signals_reload_and_terminate_the_process(config_path, tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = await asyncio.create_subprocess_exec(
        *ASSISTANT,
        "run",
        "--config",
        str(config_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
    )
    try:
        started = await _read_until(proc.stdout, "assistant.started")
        assert started["models"] == ["m0"]
        config_path.write_text(
            config_path.read_text().replace("drain_timeout = 3", "drain_timeout = 4")
            + '\n[[routing]]\nmodel = "m0"\nkeywords = ["disk"]\n'
        )
        proc.send_signal(signal.SIGHUP)
        reloaded = await _read_until(proc.stdout, "config.reloaded")
        assert reloaded["applied"] == ["assistant.drain_timeout", "routing"]
        assert reloaded["needs_restart"] == []
        config_path.write_text(config_path.read_text() + "\n[nonsense]\n")
        proc.send_signal(signal.SIGHUP)
        refused = await _read_until(proc.stdout, "config.reload_refused")
        assert "nonsense: unknown key" in refused["problems"][0]
        proc.send_signal(signal.SIGTERM)
        await _read_until(proc.stdout, "assistant.stopped")
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
