"""`assistant init` as a newcomer runs it from a checkout, and `--config` on either side."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.cli import build_parser
from assistant.ops.init import Answers, init

ROOT = Path(__file__).parents[2]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,  # not a terminal: asks nothing
        timeout=60,
        env=env,
        check=False,
    )


def test_init_without_a_terminal_writes_a_working_local_config(tmp_path):
    result = run("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    config, env_file = tmp_path / "assistant.toml", tmp_path / "assistant.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    token = re.search(r"^ASSISTANT_CONSOLE_TOKEN=([0-9a-f]+)$", env_file.read_text(), re.M)
    assert token is not None and len(token.group(1)) == 32
    assert token.group(1) not in result.stdout  # printed nowhere
    assert "Next:" in result.stdout and "[[models]]" in result.stdout
    assert f'state_dir = "{tmp_path / "state"}"' in config.read_text()
    # found without --config, from the directory it was written in
    checked = run("check-config", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "assistant.toml: ok" in checked.stdout
    # a second run keeps what is there
    again = run("init", cwd=tmp_path)
    assert again.returncode == 1
    assert "--force" in again.stderr
    assert token.group(1) in env_file.read_text()
    assert run("init", "--force", cwd=tmp_path).returncode == 0
    assert token.group(1) not in env_file.read_text()


def test_init_with_answers_enables_telegram_and_a_model(tmp_path):
    answers = Answers(
        telegram_token="123456:ABC-def",
        owner="telegram:42",
        model_base_url="http://127.0.0.1:11434/v1",
        model_name="qwen2.5:7b",
        model_key="sk-test-not-real",
    )
    with open(os.devnull, "w") as out:
        config, env_file = init(tmp_path, answers=answers, out=out)
    env_text = env_file.read_text()
    assert "TELEGRAM_BOT_TOKEN=123456:ABC-def" in env_text
    assert "MODEL_API_KEY=sk-test-not-real" in env_text
    text = config.read_text()
    assert "sk-test-not-real" not in text and "123456:ABC" not in text
    result = run("print-config", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert 'owners = [\n    "telegram:42",\n]' in result.stdout or '"telegram:42"' in result.stdout
    assert 'model = "qwen2.5:7b"' in result.stdout
    assert "sk-test-not-real" not in result.stdout  # masked
    telegram = result.stdout.split("[telegram]", 1)[1]
    assert re.search(r"^enabled = true$", telegram, re.M)


def test_init_into_a_directory_and_the_gitignore_covers_it(tmp_path):
    result = run("init", "--dir", "sub", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "sub" / "assistant.toml").is_file()
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert {"/assistant.toml", "/assistant.env", "/state/"} <= set(ignored)


@pytest.mark.parametrize(
    "argv",
    [
        ["--config", "/x.toml", "doctor"],
        ["doctor", "--config", "/x.toml"],
        ["--config", "/x.toml", "users", "list"],
        ["users", "list", "--config", "/x.toml"],
        ["--config", "/x.toml", "jobs", "list"],
    ],
)
def test_config_before_or_after_the_command(argv):
    assert build_parser().parse_args(argv).config == "/x.toml"


def test_without_a_config_the_error_says_to_run_init(tmp_path):
    result = run("check-config", cwd=tmp_path)
    assert result.returncode == 2
    assert "assistant init" in result.stderr
