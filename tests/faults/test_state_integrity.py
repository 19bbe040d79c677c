"""Damaged or contested state, as it happens on a real machine: 8 KB of random bytes in the
middle of state.db, a backup killed by SIGKILL on its way, a second daemon on the same state
directory. Nothing runs on damaged state, nothing damaged is backed up, nothing is left
behind, and every refusal says what to do."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest
import tomli_w

from assistant.store.db import migrate
from tests.fakes.telegram import FakeBotAPI
from tests.faults.daemon import DaemonProcess, daemon_config

pytestmark = [pytest.mark.fault]


async def cli(config: Path, *args: str, timeout: float = 60) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "assistant",
        *args,
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "ASSISTANT_ENV_FILE": "", "BOT_TOKEN": "1:x"},
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


def write(tmp_path: Path, bot: FakeBotAPI) -> tuple[Path, Path]:
    config = daemon_config(tmp_path, bot, [])
    path = tmp_path / "config.toml"
    path.write_text(tomli_w.dumps(config))
    return path, Path(config["assistant"]["state_dir"])


def fill(state: Path, messages: int = 10_000) -> None:
    """A state.db of a few megabytes of conversation, checkpointed into the main file."""
    state.mkdir(mode=0o700, parents=True, exist_ok=True)
    conn = sqlite3.connect(state / "state.db")
    migrate(conn)
    conn.execute("INSERT INTO conversations (chat_key, started_at) VALUES ('telegram:1', 0)")
    conn.executemany(
        "INSERT INTO messages (conversation_id, turn_id, role, content, created_at) "
        "VALUES (1, 't', 'user', ?, ?)",
        [(f"message {n} " + "x" * 200, time.time()) for n in range(messages)],
    )
    conn.commit()
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def corrupt_the_middle(database: Path, size: int = 8192) -> None:
    with database.open("r+b") as file:
        file.seek(database.stat().st_size // 2)
        file.write(os.urandom(size))


async def test_damaged_state_is_refused_by_start_doctor_and_backup(tmp_path, bot_api):
    config, state = write(tmp_path, bot_api)
    fill(state)
    corrupt_the_middle(state / "state.db")

    code, out = await cli(config, "run")
    assert code == 1, out
    assert f"the state database {state / 'state.db'} is damaged" in out
    assert "sudo assistant restore BACKUP.tar.gz" in out and "Traceback" not in out

    code, out = await cli(config, "doctor")
    assert code == 1, out
    line = next(line for line in out.splitlines() if line.startswith("✗ state data"))
    assert "state.db is damaged: " in line
    assert "assistant restore" in out

    archive = tmp_path / "backup.tar.gz"
    code, out = await cli(config, "backup", str(archive))
    assert code == 1, out
    assert "state.db is damaged" in out and "it was not backed up" in out
    assert not archive.exists() and not list(tmp_path.glob("*.partial"))
    assert not list(state.glob(".backup-*"))


async def test_a_backup_killed_on_its_way_leaves_nothing_for_long(tmp_path, bot_api):
    config, state = write(tmp_path, bot_api)
    fill(state, messages=2000)
    (state / "chroma").mkdir()
    (state / "chroma" / "blob.bin").write_bytes(os.urandom(40 * 1024 * 1024))  # slow to pack
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "assistant", "backup", str(tmp_path / "b.tar.gz"),
        "--config", str(config),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "ASSISTANT_ENV_FILE": "", "BOT_TOKEN": "1:x"},
    )  # fmt: skip
    async with asyncio.timeout(60):
        while not list(state.glob(".backup-*/chroma/blob.bin")):
            assert proc.returncode is None, "the backup finished before it could be killed"
            await asyncio.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    assert await proc.wait() == -9
    left = list(state.glob(".backup-*"))
    assert len(left) == 1  # a whole copy of the state, left behind

    code, out = await cli(config, "doctor")
    assert "! state data" in out and left[0].name in out  # shown, not touched
    assert left[0].exists()

    code, out = await cli(config, "backup", str(tmp_path / "again.tar.gz"))
    assert code == 0, out
    assert not list(state.glob(".backup-*"))  # the next backup removed the leftover

    (state / ".backup-killed").mkdir()  # another leftover, older than the lock files
    os.utime(state / ".backup-killed", (0, 0))
    daemon = DaemonProcess(tmp_path / "d", daemon_config(tmp_path, bot_api, []), bot_api)
    await daemon.start()
    try:
        await daemon.wait_ready()
        assert not (state / ".backup-killed").exists()  # and so does a start
        assert daemon.events("state.scratch_removed")
    finally:
        assert await daemon.stop() == 0


async def test_a_second_daemon_on_the_same_state_says_who_is_in_the_way(tmp_path, bot_api):
    first = DaemonProcess(tmp_path / "one", daemon_config(tmp_path, bot_api, []), bot_api)
    second_config = daemon_config(tmp_path, bot_api, [])  # the same state, its own port
    second = DaemonProcess(tmp_path / "two", second_config, bot_api)
    await first.start()
    try:
        await first.wait_ready()
        started = time.monotonic()
        await second.start()
        assert second.process is not None
        assert await asyncio.wait_for(second.process.wait(), 60) == 1
        waited = time.monotonic() - started
        assert f"another assistant daemon (pid {first.pid}) is running" in second.tail()
        assert "sudo systemctl stop assistant" in second.tail()
        assert [e["pid"] for e in second.events("state.daemon_running")] == [str(first.pid)]
        assert waited >= 5  # it gave the first one a moment to go away
        assert (await first.readyz()) is not None  # the first one is untouched
    finally:
        assert await first.stop() == 0
    second.write(second_config)
    await second.start()  # once the first is gone, the state is free
    await second.wait_ready()
    assert await second.stop() == 0
