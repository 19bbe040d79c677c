"""The command line as a user runs it: exit codes, one line per problem, masked secrets."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.integration.test_daemon import write_config

ROOT = Path(__file__).parents[2]


def run_cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None):
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_check_config_accepts_the_example():
    result = run_cli("check-config", str(ROOT / "config" / "assistant.example.toml"))
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


@pytest.mark.parametrize("command", ["check-config", "print-config", "run", "chat"])
def test_bad_config_exits_2_with_one_line_per_problem(tmp_path, command):
    path = tmp_path / "c.toml"
    path.write_text("[assistant]\nnmae = 1\n[gateway]\nport = 'x'\n")
    result = run_cli(command, "--config", str(path))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines == [
        f"config error: {path}: assistant.nmae: unknown key, remove it or fix its spelling; did you mean 'name'?",
        f"config error: {path}: gateway.port: Input should be a valid integer, unable to parse string as an integer (got 'x')",
    ]
    assert "Traceback" not in result.stderr + result.stdout


def test_config_from_environment_variable(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[assistant]\nname = 'Env'\n")
    result = run_cli("check-config", env={"ASSISTANT_CONFIG": str(path)})
    assert result.returncode == 0 and str(path) in result.stdout


def test_print_config_masks_secrets(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        "[gateway]\nadmin_token = '${TOKEN}'\n[[models]]\nname='a'\nmodel='m'\n"
        "base_url='http://127.0.0.1:1/v1'\napi_key='sk-very-secret-key-123'\n"
    )
    result = run_cli("print-config", "--config", str(path), env={"TOKEN": "admin-secret-999"})
    assert result.returncode == 0, result.stderr
    assert "sk-very-secret-key-123" not in result.stdout and "admin-secret-999" not in result.stdout
    assert result.stdout.count('"**********"') == 2
    assert 'base_url = "http://127.0.0.1:1/v1"' in result.stdout


def test_unwritable_state_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    path = tmp_path / "c.toml"
    path.write_text(f"[assistant]\nstate_dir = '{blocker}/state'\n")
    result = run_cli("chat", "--standalone", "--config", str(path), "-m", "hi")
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: cannot create state directory {blocker}/state")
    assert "Traceback" not in result.stderr


async def test_chat_answers_through_the_model(tmp_path, fake_model):
    from tests.fakes.model import Reply

    config = write_config(tmp_path / "c.toml", tmp_path / "state", fake_model.base_url)
    fake_model.script.extend([Reply(tool_calls=[("system_status", {})]), Reply(text="All good.")])
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "assistant",
        "chat",
        "--standalone",
        "--config",
        str(config),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(b"how is this machine?\n/status\n"), 60)
    assert proc.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[0] == "All good."
    assert lines[1] == "Assistant — up 0m 0s" or lines[1].startswith("Assistant — up")
    assert "load:" in fake_model.requests[1]["messages"][-1]["content"]
