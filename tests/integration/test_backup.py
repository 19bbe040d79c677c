"""`assistant backup` while the assistant runs, `assistant restore` only when it does not."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import sqlite3
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

from assistant.core.errors import StateError
from assistant.store.backup import restore_backup
from assistant.store.db import migrate
from assistant.store.scratch import Scratch, remove_stale
from tests.integration.test_daemon import write_config


async def cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "assistant",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "ASSISTANT_ENV_FILE": ""},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def history(fake_model) -> list[str]:
    return [m["content"] for m in fake_model.requests[-1]["messages"] if m["role"] != "system"]


async def test_backup_while_running_then_restore_keeps_the_conversation(
    tmp_path, make_config, start_harness, fake_model
):
    first = await start_harness(make_config())
    assert await first.ask("my code word is pineapple") == "echo: my code word is pineapple"
    config_a = write_config(tmp_path / "a.toml", tmp_path / "state", fake_model.base_url)
    archive = tmp_path / "backup.tar.gz"

    code, out, err = await cli("backup", str(archive), "--config", str(config_a))
    assert code == 0, err
    assert out.startswith(f"backed up state.db from {tmp_path / 'state'} to {archive}")
    assert oct(archive.stat().st_mode & 0o777) == "0o600"
    await first.ask("this came after the backup")

    # restoring over a running assistant is refused, and changes nothing
    code, out, err = await cli("restore", str(archive), "--config", str(config_a))
    assert code == 1 and out == ""
    assert err.startswith(f"error: the state directory {tmp_path / 'state'} is in use")
    assert "sudo systemctl stop assistant" in err
    assert sorted(p.name for p in (tmp_path / "state").iterdir() if "restore" in p.name) == []

    fresh = tmp_path / "fresh"
    config_b = write_config(tmp_path / "b.toml", fresh, fake_model.base_url)
    code, out, err = await cli("restore", str(archive), "--config", str(config_b))
    assert code == 0, err
    assert out.startswith(f"restored state.db into {fresh} from a backup made ")
    assert "moved to" not in out  # there was nothing to move aside

    second = await start_harness(make_config(assistant={"state_dir": str(fresh)}))
    await second.ask("what was my code word?")
    assert history(fake_model) == [
        "my code word is pineapple",
        "echo: my code word is pineapple",
        "what was my code word?",
    ]


async def test_backup_takes_jobs_and_memory_and_restore_moves_the_old_state_aside(
    tmp_path, fake_model
):
    state = tmp_path / "state"
    config = write_config(tmp_path / "c.toml", state, fake_model.base_url)
    assert (await cli("migrate", "--config", str(config)))[0] == 0
    jobs = sqlite3.connect(state / "jobs.db")
    jobs.execute("PRAGMA journal_mode=WAL")
    jobs.execute("CREATE TABLE apscheduler_jobs (id TEXT PRIMARY KEY, job_state BLOB)")
    jobs.execute("INSERT INTO apscheduler_jobs VALUES ('reminder-1', x'00')")
    jobs.commit()  # kept open: the row is in the WAL, which the backup API reads
    (state / "chroma" / "0f3a").mkdir(parents=True)
    (state / "chroma" / "0f3a" / "data_level0.bin").write_bytes(b"\x01" * 4096)
    chroma_db = sqlite3.connect(state / "chroma" / "chroma.sqlite3")
    chroma_db.execute("CREATE TABLE embeddings (id TEXT)")
    chroma_db.execute("INSERT INTO embeddings VALUES ('memory-1')")
    chroma_db.commit()
    chroma_db.close()

    archive = tmp_path / "all.tar.gz"
    code, out, err = await cli("backup", str(archive), "--config", str(config))
    jobs.close()
    assert code == 0, err
    assert "backed up state.db, jobs.db, chroma/ from" in out
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    assert names[0] == "MANIFEST.json"
    assert sorted(names[1:]) == [
        "chroma/0f3a/data_level0.bin",
        "chroma/chroma.sqlite3",
        "jobs.db",
        "state.db",
    ]
    assert manifest["schema_version"] >= 1 and manifest["program"] == "assistant"

    # the live state moves on, then the backup comes back
    (state / "chroma" / "0f3a" / "data_level0.bin").write_bytes(b"\x02")
    (state / "jobs.db").unlink()
    code, out, err = await cli("restore", str(archive), "--config", str(config))
    assert code == 0, err
    aside = next(state.glob("pre-restore-*"))
    assert f"the previous state was moved to {aside}" in out
    assert (aside / "chroma" / "0f3a" / "data_level0.bin").read_bytes() == b"\x02"
    assert (state / "chroma" / "0f3a" / "data_level0.bin").read_bytes() == b"\x01" * 4096
    rows = sqlite3.connect(state / "jobs.db").execute("SELECT id FROM apscheduler_jobs")
    assert rows.fetchall() == [("reminder-1",)]
    memory = sqlite3.connect(state / "chroma" / "chroma.sqlite3").execute(
        "SELECT id FROM embeddings"
    )
    assert memory.fetchall() == [("memory-1",)]
    assert not any(p.name.startswith((".backup-", ".restore-")) for p in state.iterdir())


def _archive(members: dict[str, bytes], manifest: dict | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        if manifest is not None:
            members = {"MANIFEST.json": json.dumps(manifest).encode(), **members}
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


GOOD = {"format": 1, "program": "assistant", "schema_version": 1, "files": ["state.db"]}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not an archive at all", "not a readable assistant backup"),
        (_archive({"../escape.db": b"x"}, GOOD), "unexpected member '../escape.db'"),
        (_archive({"etc/passwd": b"x"}, GOOD), "unexpected member 'etc/passwd'"),
        (_archive({"state.db": b"x"}), "MANIFEST.json is missing"),
        (_archive({}, GOOD), "the backup has no state.db"),
        (_archive({"state.db": b"garbage"}, GOOD), "state.db in the backup is damaged"),
        (
            _archive({"state.db": b""}, {**GOOD, "schema_version": 999, "version": "9.0"}),
            "made by a newer assistant (9.0, schema 999",
        ),
    ],
    ids=["garbage", "traversal", "foreign", "no-manifest", "no-state", "damaged", "newer"],
)
def test_restore_refuses_what_is_not_a_good_backup(tmp_path, content, message):
    state = tmp_path / "state"
    state.mkdir()
    conn = sqlite3.connect(state / "state.db")
    migrate(conn)
    conn.close()
    before = sorted(p.name for p in state.iterdir())
    with pytest.raises(StateError) as info:
        restore_backup(state, io.BytesIO(content))
    assert message in str(info.value)
    assert sorted(p.name for p in state.iterdir()) == sorted([*before, "assistant.lock"])
    assert not (tmp_path / "escape.db").exists()


async def test_restore_of_a_broken_file_says_so(tmp_path, fake_model):
    config = write_config(tmp_path / "c.toml", tmp_path / "state", fake_model.base_url)
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not an archive at all")
    code, out, err = await cli("restore", str(bad), "--config", str(config))
    assert (code, out) == (1, "")
    assert err.startswith("error: not a readable assistant backup (")
    code, out, err = await cli("restore", str(tmp_path / "missing"), "--config", str(config))
    assert (code, err) == (
        1,
        f"error: cannot read {tmp_path / 'missing'} (No such file or directory)\n",
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can act as another user")
async def test_root_works_on_the_service_users_state_as_that_user(tmp_path, fake_model):
    base = Path(tempfile.mkdtemp(prefix="svc-"))
    try:
        base.chmod(0o755)
        state = base / "state"
        state.mkdir(mode=0o700)
        config = write_config(base / "c.toml", state, fake_model.base_url)
        os.chown(state, 65534, 65534)  # the service user ("nobody" here)
        assert (await cli("migrate", "--config", str(config)))[0] == 0
        archive = tmp_path / "b.tar.gz"  # a folder only root may write
        code, _, err = await cli("backup", str(archive), "--config", str(config))
        assert code == 0, err
        assert archive.stat().st_uid == 0
        code, _, err = await cli("restore", str(archive), "--config", str(config))
        assert code == 0, err
        owners = {p.relative_to(state): p.lstat().st_uid for p in state.rglob("*")}
        assert owners and set(owners.values()) == {65534}, owners
    finally:
        shutil.rmtree(base)


async def test_every_state_file_is_backed_up_and_restored(tmp_path, fake_model):
    """known_hosts, the console's job store, anything else in the state directory: in the
    backup and back after a restore; locks and leftovers are not."""
    state = tmp_path / "state"
    config = write_config(tmp_path / "c.toml", state, fake_model.base_url)
    assert (await cli("migrate", "--config", str(config)))[0] == 0
    pinned = "[ssh.example]:22 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample\n"
    (state / "known_hosts").write_text(pinned)
    console_jobs = sqlite3.connect(state / "jobs-console.db")
    console_jobs.execute("CREATE TABLE apscheduler_jobs (id TEXT PRIMARY KEY)")
    console_jobs.execute("INSERT INTO apscheduler_jobs VALUES ('console-1')")
    console_jobs.commit()
    console_jobs.close()
    for lock in ("daemon.lock", "chroma.lock", "jobs.db.lock"):
        (state / lock).write_text("123\n")
    (state / "pre-restore-20260101T000000").mkdir()
    (state / "pre-restore-20260101T000000" / "state.db").write_bytes(b"old")

    archive = tmp_path / "all.tar.gz"
    code, out, err = await cli("backup", str(archive), "--config", str(config))
    assert code == 0, err
    assert out.startswith("backed up state.db, jobs-console.db, known_hosts from")
    with tarfile.open(archive) as tar:
        names = sorted(tar.getnames()[1:])
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    assert names == ["jobs-console.db", "known_hosts", "state.db"]
    assert manifest["format"] == 2 and sorted(manifest["files"]) == names

    fresh = tmp_path / "fresh"
    config_b = write_config(tmp_path / "b.toml", fresh, fake_model.base_url)
    code, _, err = await cli("restore", str(archive), "--config", str(config_b))
    assert code == 0, err
    assert (fresh / "known_hosts").read_text() == pinned
    rows = sqlite3.connect(fresh / "jobs-console.db").execute("SELECT id FROM apscheduler_jobs")
    assert rows.fetchall() == [("console-1",)]

    (state / "known_hosts").write_text("changed\n")  # a restore over it sets the old aside
    code, _, err = await cli("restore", str(archive), "--config", str(config))
    assert code == 0, err
    aside = max(state.glob("pre-restore-*"))
    assert (aside / "known_hosts").read_text() == "changed\n"
    assert (state / "known_hosts").read_text() == pinned
    assert (state / "daemon.lock").exists() and not (aside / "daemon.lock").exists()


def test_a_scratch_folder_in_use_is_kept_and_a_leftover_removed(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    leftover = state / ".backup-leftover"
    leftover.mkdir()
    (leftover / ".in-use").write_text("")  # its process is gone: nobody holds the lock
    (leftover / "state.db").write_bytes(b"a whole copy of the state")
    with Scratch(state, ".backup-") as working:
        assert not leftover.exists()  # removed when the next one began
        assert remove_stale(state) == []  # the one at work is in use
        assert working.exists()
    assert not working.exists()
    fresh = state / ".restore-just-made"
    fresh.mkdir()  # no lock file yet: being created right now, or left a minute ago
    assert remove_stale(state) == [] and fresh.exists()
    os.utime(fresh, (0, 0))
    assert remove_stale(state) == [".restore-just-made"]
