"""The SSH executor against a real OpenSSH sshd on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid

import pytest
import tomli_w

from assistant.config import parse_config
from assistant.core.errors import ToolError
from assistant.ssh.executor import SSHExecutor
from tests.fakes import sshd as fake_sshd

pytestmark = pytest.mark.skipif(
    fake_sshd.available() is not None, reason=str(fake_sshd.available())
)


@pytest.fixture(scope="session")
def sshd():
    server = fake_sshd.start()
    yield server
    server.stop()


def ssh_config(server, **extra):
    hosts = extra.pop("hosts", None) or [
        {"name": "box", "address": "127.0.0.1", "port": server.port, "tags": ["lab"]},
        {"name": "box2", "address": "127.0.0.1", "port": server.port, "tags": ["lab"]},
    ]
    data = {"ssh": {"user": server.user, "key_file": str(server.user_key), "hosts": hosts, **extra}}
    return parse_config(tomli_w.dumps(data), {}).ssh


@pytest.fixture
def known_hosts(tmp_path, sshd):
    path = tmp_path / "known_hosts"
    path.write_text(sshd.known_hosts_line + "\n")
    return path


@pytest.fixture
async def executor(sshd, known_hosts):
    async with SSHExecutor(ssh_config(sshd), known_hosts=known_hosts) as ex:
        yield ex


async def test_run_returns_output_and_status_over_one_pooled_connection(executor):
    first = await executor.run("box", "echo hello; echo oops >&2; exit 3")
    assert first.exit_status == 3 and not first.ok
    assert first.output == "hello\noops\n"
    assert first.output_bytes == 11 and len(first.output_sha256) == 64
    second = await executor.run("box", "id -un")
    assert second.ok and second.output.strip() == fake_sshd.USER
    assert len(executor._pool) == 1


async def test_timeout_kills_the_remote_process(executor, sshd):
    marker = f"sleep {300 + int(uuid.uuid4().int % 1000)}"
    started = time.monotonic()
    result = await executor.run("box", f"{marker}; echo never", timeout=1)
    assert result.timed_out and result.exit_status is None
    assert "never" not in result.output
    assert time.monotonic() - started < 5
    deadline = time.monotonic() + 5
    while sshd.pids(marker) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert sshd.pids(marker) == []


async def test_cancel_kills_the_remote_process(executor, sshd):
    marker = f"sleep {1300 + int(uuid.uuid4().int % 1000)}"
    task = asyncio.create_task(executor.run("box", marker, timeout=600))
    deadline = time.monotonic() + 10
    while not sshd.pids(marker):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    deadline = time.monotonic() + 5
    while sshd.pids(marker) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert sshd.pids(marker) == []


async def test_output_is_capped_keeping_head_and_tail(sshd, known_hosts):
    config = ssh_config(sshd, max_output=1000)
    async with SSHExecutor(config, known_hosts=known_hosts) as executor:
        result = await executor.run("box", "seq 1 100000")
    assert result.truncated and result.ok
    assert result.output.startswith("1\n2\n3\n") and result.output.rstrip().endswith("100000")
    assert "bytes cut" in result.output and len(result.output) < 1200
    assert result.output_bytes == len("\n".join(str(i) for i in range(1, 100001))) + 1


async def test_output_streams_while_the_command_runs(executor):
    seen: list[str] = []
    result = await executor.run(
        "box", "for i in 1 2 3; do echo line $i; sleep 0.3; done", on_output=seen.append
    )
    assert result.ok
    assert seen[0] == "line 1" and seen[-1].endswith("line 3")
    assert len(seen) >= 3  # lines arrived one by one, before the end


async def test_fan_out_runs_concurrently(executor):
    # each command waits (up to 10 s) for the other to have started: one after the other,
    # the first would give up waiting and fail (no timing threshold: busy machines are slow)
    mark = f"$HOME/fan-out-{uuid.uuid4().hex}"

    def meet(mine: str, other: str) -> str:
        return (
            f"touch {mark}.{mine}; i=0; while [ ! -e {mark}.{other} ] && [ $i -lt 200 ]; "
            f"do sleep 0.05; i=$((i+1)); done; [ -e {mark}.{other} ] && hostname"
        )

    results = await asyncio.gather(
        executor.run("box", meet("a", "b")), executor.run("box2", meet("b", "a"))
    )
    assert [r.ok for r in results] == [True, True], [r.output for r in results]


async def test_changed_host_key_is_refused(sshd, tmp_path):
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    wrong = tmp_path / "known_hosts"
    public = " ".join((tmp_path / "other.pub").read_text().split()[:2])
    wrong.write_text(f"[127.0.0.1]:{sshd.port} {public}\n")
    async with SSHExecutor(ssh_config(sshd), known_hosts=wrong) as executor:
        with pytest.raises(ToolError) as info:
            await executor.run("box", "true")
    message = str(info.value)
    assert "not the pinned one" in message and "assistant ssh trust box" in message


async def test_unpinned_and_unreachable_and_unknown_hosts(sshd, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    async with SSHExecutor(ssh_config(sshd), known_hosts=empty) as executor:
        with pytest.raises(ToolError, match="not the pinned one"):
            await executor.run("box", "true")
    closed = {"name": "gone", "address": "127.0.0.1", "port": 1}
    config = ssh_config(sshd, hosts=[closed])
    async with SSHExecutor(config, known_hosts=empty) as executor:
        with pytest.raises(ToolError, match="unreachable"):
            await executor.run("gone", "true")
        with pytest.raises(ToolError, match="retrying in"):
            await executor.run("gone", "true")  # backoff: no hammering of a dead host
        with pytest.raises(ToolError, match="no host named 'web9'"):
            await executor.run("web9", "true")
    async with SSHExecutor(config, known_hosts=tmp_path / "missing") as executor:
        with pytest.raises(ToolError, match="assistant ssh trust"):
            await executor.run("gone", "true")


async def test_jump_host(sshd, known_hosts):
    hosts = [
        {"name": "bastion", "address": "127.0.0.1", "port": sshd.port},
        {"name": "inner", "address": "127.0.0.1", "port": sshd.port, "jump": "bastion"},
    ]
    async with SSHExecutor(ssh_config(sshd, hosts=hosts), known_hosts=known_hosts) as executor:
        result = await executor.run("inner", "echo through")
    assert result.ok and result.output == "through\n"


async def test_trust_fetches_a_key_through_the_pooled_jump_host(sshd, known_hosts):
    from assistant.ssh.trust import fetch_host_key

    hosts = [
        {"name": "bastion", "address": "127.0.0.1", "port": sshd.port},
        {"name": "inner", "address": "127.0.0.1", "port": sshd.port, "jump": "bastion"},
    ]
    config = ssh_config(sshd, hosts=hosts)
    async with SSHExecutor(config, known_hosts=known_hosts) as executor:
        key = await fetch_host_key(config.host("inner"), executor)
        bastion = await executor.connection("bastion")
        assert await executor.connection("bastion") is bastion  # the pool's, shared
        assert not bastion.is_closed()
        with pytest.raises(ToolError, match="no host named 'nowhere'"):
            await executor.connection("nowhere")
    assert key.line == sshd.known_hosts_line
    assert key.fingerprint.startswith("SHA256:")


def test_trust_pins_and_detects_a_changed_key(sshd, tmp_path):
    path = tmp_path / "known_hosts"
    config = tmp_path / "config.toml"
    config.write_text(
        tomli_w.dumps(
            {
                "assistant": {"state_dir": str(tmp_path / "state")},
                "ssh": {
                    "known_hosts": str(path),
                    "user": sshd.user,
                    "key_file": str(sshd.user_key),
                    "hosts": [{"name": "box", "address": "127.0.0.1", "port": sshd.port}],
                },
            }
        )
    )

    def trust(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "assistant",
                "ssh",
                "trust",
                "box",
                "--config",
                str(config),
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
            env={**os.environ},
        )

    refused = trust()
    assert refused.returncode == 1 and "pass --yes" in refused.stderr
    assert not path.exists()
    pinned = trust("--yes")
    assert pinned.returncode == 0, pinned.stderr
    assert "SHA256:" in pinned.stdout and "pinned box" in pinned.stdout
    assert path.read_text().strip() == sshd.known_hosts_line
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    again = trust("--yes")
    assert "already pinned" in again.stdout
    path.write_text(
        f"[127.0.0.1]:{sshd.port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ0lKgFpQYk3BMk0ePQ1Ow7G2b6Yw8Z0cS0uYpYbJ7q\n"
    )
    changed = trust("--yes")
    assert "differs from the pinned key" in changed.stderr
    assert path.read_text().strip() == sshd.known_hosts_line


async def test_doctor_checks_each_host(sshd, tmp_path):
    import aiohttp

    from assistant.feature import CheckContext, Status
    from assistant.features.ssh.checks import check_ssh

    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts_line + "\n")
    hosts = [
        {"name": "box", "address": "127.0.0.1", "port": sshd.port},
        {"name": "new", "address": "127.0.0.2", "port": sshd.port},
    ]
    config = parse_config(
        tomli_w.dumps(
            {
                "assistant": {"state_dir": str(tmp_path / "state")},
                "ssh": {
                    "known_hosts": str(known),
                    "user": sshd.user,
                    "key_file": str(sshd.user_key),
                    "hosts": hosts,
                },
            }
        ),
        {},
    )
    async with aiohttp.ClientSession() as session:
        ctx = CheckContext(
            config_path=tmp_path / "c.toml",
            env={},
            env_file=None,
            session=session,
            config=config,
            timeout=5,
        )
        found = {f.check: f for f in await check_ssh(ctx)}
    assert found["ssh box"].status is Status.OK and "key pinned, login" in found["ssh box"].detail
    assert found["ssh new"].status is Status.FAIL
    assert found["ssh new"].fix == "sudo -u assistant assistant ssh trust new"
