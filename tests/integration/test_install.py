"""install.sh into a staging root (`--root DIR`): layout, modes, idempotency, upgrade,
uninstall. One real install per session, shared by the tests below.

To keep the suite fast the staged venv is prepared with the test venv's site-packages on its
path, so pip installs the package from this checkout (with constraints.txt) but finds every
dependency already there. ``ASSISTANT_TEST_FULL_INSTALL=1`` does the whole thing instead
(dependencies from the index: minutes).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
INSTALL = ROOT / "install.sh"
CHECKOUT = (
    "install.sh",
    "pyproject.toml",
    "README.md",
    "constraints.txt",
    "src",
    "config",
    "systemd",
    "docs",
)


def run_install(*args: str, script: Path = INSTALL, timeout: float = 900) -> str:
    result = subprocess.run(
        ["bash", str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" not in result.stderr, result.stderr
    return result.stdout


class Staged:
    def __init__(self, root: Path, output: str) -> None:
        self.root = root
        self.output = output
        self.prefix = root / "opt" / "assistant"
        self.etc = root / "etc" / "assistant"
        self.state = root / "var" / "lib" / "assistant"
        self.unit = root / "etc" / "systemd" / "system" / "assistant.service"

    def site_packages(self) -> Path:
        return next((self.prefix / "lib").glob("python3*/site-packages"))

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "ASSISTANT_ENV_FILE": str(self.etc / "assistant.env"),
            "ASSISTANT_STATE_DIR": str(self.state),
        }
        return subprocess.run(
            [
                str(self.prefix / "bin" / "assistant"),
                *args,
                "--config",
                str(self.etc / "config.toml"),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )


@pytest.fixture(scope="session")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Staged:
    root = tmp_path_factory.mktemp("staged")
    if not os.environ.get("ASSISTANT_TEST_FULL_INSTALL"):
        prefix = root / "opt" / "assistant"
        subprocess.run(
            [
                getattr(sys, "_base_executable", sys.executable),
                "-m",
                "venv",
                "--without-pip",
                prefix,
            ],
            check=True,
        )
        site = next((prefix / "lib").glob("python3*/site-packages"))
        (site / "_test_seed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return Staged(root, run_install("--root", str(root)))


def snapshot(root: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every path under root: mode, size, mtime and (for small files) a content hash."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        digest = ""
        if stat.S_ISREG(st.st_mode) and st.st_size < 1 << 16:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        out[str(path.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    return out


def test_layout_and_modes(staged):
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(staged.etc) == 0o750
    assert mode(staged.etc / "config.toml") == 0o640
    assert mode(staged.etc / "assistant.env") == 0o600
    assert mode(staged.state) == 0o700
    assert mode(staged.unit) == 0o644
    assert (staged.etc / "config.toml").read_text() == (
        ROOT / "config" / "assistant.example.toml"
    ).read_text()
    assert staged.unit.read_text() == (ROOT / "systemd" / "assistant.service").read_text()
    link = staged.root / "usr" / "local" / "bin" / "assistant"
    assert os.readlink(link) == str(staged.prefix / "bin" / "assistant")
    env_lines = (staged.etc / "assistant.env").read_text().splitlines()
    for name in ("TELEGRAM_BOT_TOKEN", "FEISHU_APP_ID", "ASSISTANT_MODEL_BASE_URL"):
        assert f"{name}=" in env_lines
    # the package itself was installed (not linked to the checkout), with its docs
    installed = staged.site_packages() / "assistant"
    assert (installed / "cli.py").read_text() == (ROOT / "src/assistant/cli.py").read_text()
    assert not list(staged.site_packages().glob("__editable__*"))
    assert (staged.prefix / "share/doc/assistant/operations.md").is_file()
    assert (staged.prefix / "share/doc/assistant/assistant.example.toml").is_file()  # doctor
    assert staged.cli("--version").stdout == "assistant 0.1.0\n"
    # without options it says exactly what to fill in, and what to run next
    out = staged.output
    assert "skipped  user assistant (staging root)" in out
    assert "skipped  systemd steps (staging root)" in out
    # the charts' CJK font: there already (CI installs it), or left alone under a staging root
    font = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
    found = f"ok       chart font ({font})" if Path(font).is_file() else "skipped  chart font"
    assert found in out
    assert "Left to do:" in out
    assert "ASSISTANT_MODEL_BASE_URL=, ASSISTANT_MODEL_API_KEY=, ASSISTANT_MODEL= in" in out
    assert "fill in TELEGRAM_BOT_TOKEN= (docs/telegram.md)" in out
    assert 'put "telegram:YOUR_USER_ID"' in out
    assert "\nThen: sudo systemctl restart assistant && sudo assistant doctor\n" in out


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_install_script_is_shellcheck_clean():
    result = subprocess.run(
        ["shellcheck", str(INSTALL)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd is not installed")
def test_the_unit_verifies(staged, tmp_path):
    # the staged program stands in for /opt/assistant: verify checks that ExecStart exists
    unit = tmp_path / "assistant.service"
    unit.write_text(
        staged.unit.read_text().replace(
            "/opt/assistant/bin/assistant", str(staged.prefix / "bin" / "assistant")
        )
    )
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unknown option --bogus"),
        (["--model", "gpt"], "--model-base-url and --model go together"),
        (["--model-base-url", "api.openai.com", "--model", "x"], "must be an http(s) URL"),
        (["--telegram-token"], "--telegram-token needs a value"),
    ],
)
def test_bad_options_are_refused_before_anything_happens(tmp_path, args, message):
    result = subprocess.run(
        ["bash", str(INSTALL), "--root", str(tmp_path / "r"), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1 and message in result.stderr
    assert not (tmp_path / "r" / "opt").exists()


def test_second_run_changes_nothing(staged):
    before = snapshot(staged.root)
    out = run_install("--root", str(staged.root))
    assert snapshot(staged.root) == before
    assert "  changed  " not in out
    assert "is up to date (pip skipped)" in out
    assert out.rstrip().endswith("nothing to change.")


def test_options_upgrade_uninstall_purge(staged, tmp_path):
    """Runs last: it changes the shared staging root."""
    env_file = staged.etc / "assistant.env"
    config = staged.etc / "config.toml"
    options = [
        "--telegram-token",
        "123456:AAbbCCddEEffGGhhIIjjKKllMMnnOOpp",
        "--model-base-url",
        "https://api.example.com/v1",
        "--model",
        "some-model",
        "--model-api-key",
        'sk-with "quotes" and \\ spaces',
    ]
    out = run_install("--root", str(staged.root), *options)
    for name in ("TELEGRAM_BOT_TOKEN", "ASSISTANT_MODEL_BASE_URL", "ASSISTANT_MODEL_API_KEY"):
        assert f"changed  set {name}" in out
    assert "added a [[models]] entry (openai)" in out  # the config was still the example
    assert "ok (models: default)" in out  # the installed program read it back
    lines = env_file.read_text().splitlines()
    assert "TELEGRAM_BOT_TOKEN=123456:AAbbCCddEEffGGhhIIjjKKllMMnnOOpp" in lines
    assert 'ASSISTANT_MODEL_API_KEY="sk-with \\"quotes\\" and \\\\ spaces"' in lines
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    from assistant.ops.envfile import parse_env_file

    assert parse_env_file(env_file.read_text())["ASSISTANT_MODEL_API_KEY"] == (
        'sk-with "quotes" and \\ spaces'
    )
    assert "a chat channel" not in out and "a model:" not in out

    # the same options again: nothing to do
    before = snapshot(staged.root)
    again = run_install("--root", str(staged.root), *options)
    assert snapshot(staged.root) == before and again.rstrip().endswith("nothing to change.")

    # the owner edits the config; the daemon has state
    config.write_text(config.read_text().replace('name = "Assistant"', 'name = "Mine"'))
    assert staged.cli("migrate").returncode == 0
    db = sqlite3.connect(staged.state / "state.db")
    db.execute("INSERT INTO users VALUES ('telegram', '42', 'user', 'Ann', 'owner', 0)")
    db.commit()
    db.close()

    # a newer checkout: new code and a changed unit
    newer = tmp_path / "newer"
    newer.mkdir()
    for name in CHECKOUT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, newer / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
            )
        else:
            shutil.copy2(source, newer / name)
    (newer / "src/assistant/_newer.py").write_text('"""Only in the newer checkout."""\n')
    unit = newer / "systemd/assistant.service"
    unit.write_text(unit.read_text() + "# newer\n")
    out = run_install("--root", str(staged.root), script=newer / "install.sh")
    assert f"installed assistant 0.1.0 from {newer}" in out
    assert "changed  installed the unit" in out
    assert "state.db is up to date (schema version" in out  # migrate ran on the kept state
    assert (staged.site_packages() / "assistant/_newer.py").is_file()
    assert staged.unit.read_text().endswith("# newer\n")
    assert 'name = "Mine"' in config.read_text()
    assert "TELEGRAM_BOT_TOKEN=123456:AAbbCCddEEffGGhhIIjjKKllMMnnOOpp" in env_file.read_text()
    rows = sqlite3.connect(staged.state / "state.db").execute("SELECT name FROM users").fetchall()
    assert rows == [("Ann",)]
    assert staged.cli("check-config").returncode == 0

    # uninstall keeps config and data
    out = run_install("--root", str(staged.root), "--uninstall")
    assert not staged.prefix.exists() and not staged.unit.exists()
    assert not (staged.root / "usr/local/bin/assistant").is_symlink()
    assert (staged.state / "state.db").is_file() and 'name = "Mine"' in config.read_text()
    assert f"kept {staged.etc} (--purge removes it)" in out

    # purge removes the rest
    run_install("--root", str(staged.root), "--purge")
    assert not staged.etc.exists() and not staged.state.exists()
