"""``assistant init``: a local config for running from a checkout.

Writes ``assistant.toml`` (the example config with its state in ``DIR/state``) and
``assistant.env`` (mode 0600: a generated console token and whatever secrets were typed in),
both gitignored, and prints the next step. Asks only when stdin is a terminal; an existing
file is never overwritten without ``--force``.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from assistant.core.errors import AssistantError
from assistant.feature import doc_dirs

CONFIG_NAME = "assistant.toml"
ENV_NAME = "assistant.env"
EXAMPLE_NAME = "assistant.example.toml"


def find_example() -> Path:
    """The example config: an installation's copy (install.sh puts it beside the docs), else
    the checkout's (the doctor looks in the same places)."""
    for directory in doc_dirs():
        if (directory / EXAMPLE_NAME).is_file():
            return directory / EXAMPLE_NAME
    return doc_dirs()[-1] / EXAMPLE_NAME


Ask = Callable[[str], str]


@dataclass
class Answers:
    """What the person typed (nothing when stdin is not a terminal)."""

    telegram_token: str = ""
    owner: str = ""  # "telegram:ID"
    model_base_url: str = ""
    model_name: str = ""
    model_key: str = ""
    secrets: dict[str, str] = field(default_factory=dict)


def ask_answers(ask: Ask) -> Answers:
    answers = Answers()
    print("Press Enter to skip a question; everything can be changed in the file later.")
    answers.telegram_token = ask("Telegram bot token from @BotFather: ").strip()
    if answers.telegram_token:
        user = ask("Your Telegram user id (digits; @userinfobot tells it): ").strip()
        answers.owner = f"telegram:{user}" if user.isdigit() else ""
    answers.model_base_url = ask(
        "Model API base URL (e.g. https://api.deepseek.com/v1, http://127.0.0.1:11434/v1): "
    ).strip()
    if answers.model_base_url:
        answers.model_name = ask("Model id (e.g. deepseek-chat, qwen2.5:7b): ").strip()
        answers.model_key = ask("API key (leave empty for a local server): ").strip()
    return answers


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_config(example: str, state_dir: Path, answers: Answers) -> str:
    """The example with the state directory, the local env file and the answers filled in."""
    text = example.replace(
        'state_dir = "${ASSISTANT_STATE_DIR:-/var/lib/assistant}"',
        f"state_dir = {_toml_string(str(state_dir))}",
    )
    header = (
        f"# Written by `assistant init`. Secrets are in {ENV_NAME} beside this file (mode 0600),\n"
        "# referenced as ${NAME}. Both files are local: .gitignore keeps them out of git.\n"
        "# Check your edits with `assistant check-config --config assistant.toml`.\n\n"
    )
    if answers.owner:
        text = re.sub(
            r"^owners = \[\]$",
            f"owners = [{_toml_string(answers.owner)}]",
            text,
            count=1,
            flags=re.M,
        )
    if answers.telegram_token:
        text = re.sub(
            r"^(\[telegram\]\n)enabled = false$", r"\1enabled = true", text, count=1, flags=re.M
        )
    models = ""
    if answers.model_base_url and answers.model_name:
        models = (
            "\n[[models]]\n"
            'name = "main"\n'
            'api = "openai"\n'
            f"base_url = {_toml_string(answers.model_base_url)}\n"
            f"model = {_toml_string(answers.model_name)}\n"
        )
        if answers.model_key:
            models += 'api_key = "${MODEL_API_KEY}"\n'
    return header + text + models


def render_env(answers: Answers, token: str) -> str:
    lines = [
        "# Secrets for assistant.toml, read like systemd's EnvironmentFile (KEY=value).",
        "# The console's access token (the web console and `assistant chat` use it):",
        f"ASSISTANT_CONSOLE_TOKEN={token}",
    ]
    if answers.telegram_token:
        lines.append(f"TELEGRAM_BOT_TOKEN={answers.telegram_token}")
    if answers.model_key:
        lines.append(f"MODEL_API_KEY={answers.model_key}")
    return "\n".join(lines) + "\n"


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def init(
    directory: Path,
    *,
    force: bool = False,
    answers: Answers | None = None,
    example: Path | None = None,
    out: TextIO = sys.stdout,
) -> tuple[Path, Path]:
    """Write the two files; returns their paths."""
    directory = directory.resolve()
    config_path, env_path = directory / CONFIG_NAME, directory / ENV_NAME
    existing = [p for p in (config_path, env_path) if p.exists()]
    if existing and not force:
        names = " and ".join(str(p) for p in existing)
        raise AssistantError(
            f"{names} already exist(s); edit it, or run `assistant init --force` to replace it"
        )
    example = example or find_example()
    try:
        template = example.read_text(encoding="utf-8")
    except OSError:
        raise AssistantError(
            f"the example config is not at {example}; reinstall, or run `assistant init` from "
            "a checkout of the repository"
        ) from None
    answers = answers or Answers()
    directory.mkdir(parents=True, exist_ok=True)
    _write_private(env_path, render_env(answers, secrets.token_hex(16)))
    _write_private(config_path, render_config(template, directory / "state", answers))
    print(f"wrote {config_path}", file=out)
    print(f"wrote {env_path} (mode 0600; the console token is in it)", file=out)
    print(next_steps(config_path, answers), file=out)
    return config_path, env_path


def next_steps(config_path: Path, answers: Answers) -> str:
    here = Path.cwd()
    shown = config_path.relative_to(here) if config_path.is_relative_to(here) else config_path
    steps = ["Next:"]
    if not answers.model_base_url:
        steps.append(
            f"  - add a [[models]] entry to {shown} (the comments list presets); "
            "until then chat answers with a hint"
        )
    if not answers.telegram_token:
        steps.append(
            f"  - for Telegram: TELEGRAM_BOT_TOKEN=... in {ENV_NAME}, [telegram] enabled = true "
            "and your id in [access] owners"
        )
    steps.append(f"  - run it:      assistant run --config {shown}")
    steps.append(f"  - or talk now: assistant chat --config {shown}")
    return "\n".join(steps)


def cmd_init(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    answers = ask_answers(input) if sys.stdin.isatty() and not args.yes else Answers()
    init(Path(args.dir), force=args.force, answers=answers)
    return 0


def add_command(command: Callable[[str, Callable[..., int], str], argparse.ArgumentParser]) -> None:
    parser = command(
        "init", cmd_init, "write a local config (assistant.toml + assistant.env) to run from here"
    )
    parser.add_argument("--dir", default=".", help="where to write them (default: here)")
    parser.add_argument("--force", action="store_true", help="replace files that exist")
    parser.add_argument("-y", "--yes", action="store_true", help="ask nothing, even on a terminal")
