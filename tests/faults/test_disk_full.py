"""The state directory's disk fills up under the running daemon (a size-limited tmpfs): new
messages are refused (not acknowledged, so Telegram keeps them) with a clear log line and a
clear reply, /readyz shows it, a turn already accepted waits instead of being lost, and when
space returns everything is answered, once.

A state directory that is not writable at start is a clear error before anything runs
(tests/integration/test_cli.py); one that becomes read-only while the daemon holds its files
open cannot be made so here (``mount -o remount,ro`` refuses while files are open for
writing), and behaves like a full disk to SQLite anyway: every write fails.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from assistant.router.trouble import STATE_TROUBLE
from tests.fakes.model import FakeModel, Reply, last_user_text
from tests.faults.daemon import OWNER, daemon_config

pytestmark = [pytest.mark.fault, pytest.mark.slow]

USER = OWNER + 1


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 6 MB tmpfs for the state directory (root only; skipped where mounting is refused)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root")
    mount = tmp_path / "daemon" / "state"
    mount.mkdir(parents=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> Path:
    """Take every free block of the filesystem."""
    filler = directory / "filler"
    free = os.statvfs(directory)
    filler.write_bytes(b"\0" * (free.f_bavail * free.f_frsize))
    assert os.statvfs(directory).f_bavail == 0
    return filler


async def test_disk_full_refuses_new_work_clearly_and_loses_nothing(
    tmp_path, bot_api, daemons, small_disk
):
    hold = asyncio.Event()
    model = await FakeModel().start()

    def respond(body):
        text = last_user_text(body)
        return Reply(text=f"echo: {text}", hold=hold if "accepted" in text else None)

    model.responder = respond
    config = daemon_config(tmp_path / "daemon", bot_api, [model], users=1)
    assert Path(config["assistant"]["state_dir"]) == small_disk
    proc = daemons(config, bot_api)
    try:
        await proc.start()
        await proc.wait_ready()
        await bot_api.user_message(OWNER, OWNER, "before")
        await bot_api.wait_sent(1, timeout=30)

        await bot_api.user_message(OWNER, OWNER, "accepted while there was room")
        await model.wait_requests(2, timeout=30)  # recorded, and its turn is running
        filler = fill(small_disk)
        hold.set()  # the turn ends now, and cannot store its result
        await bot_api.user_message(USER, USER, "written while the disk is full")

        await bot_api.wait_for(  # both senders are told why their answer is late
            lambda: {s.chat_id for s in bot_api.sent if s.text == STATE_TROUBLE} == {OWNER, USER},
            timeout=30,
        )
        body = await proc.wait_readyz(lambda status, _: status == 503, timeout=30)
        detail = body["components"]["channel.telegram"]["detail"]
        assert "cannot record new messages" in detail and "full" in detail, detail
        await proc.wait_event("turn.deferred")
        await proc.wait_event("telegram.intake_refused")
        assert "full" in proc.events("telegram.intake_refused")[0]["error"]
        assert not any(s.text.startswith("echo: ") and "full" in s.text for s in bot_api.sent)

        filler.unlink()  # space returns
        expected = {"echo: accepted while there was room", "echo: written while the disk is full"}
        await bot_api.wait_for(lambda: {s.text for s in bot_api.sent} >= expected, timeout=90)
        await proc.wait_ready(timeout=60)
        assert await proc.stop() == 0
    finally:
        await model.close()
    texts = [s.text for s in bot_api.sent]
    assert texts.count("echo: accepted while there was room") == 1
    assert texts.count("echo: written while the disk is full") == 1
    assert texts.count(STATE_TROUBLE) == 2  # once per message, however often it was retried
    with sqlite3.connect(small_disk / "state.db") as db:
        assert db.execute("SELECT count(*) FROM inbox WHERE status <> 'done'").fetchone() == (0,)
    assert proc.events("turn.failed") == []
