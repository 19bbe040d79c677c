"""The `assistant` command line.

Exit codes: 0 success, 1 a runtime problem (message on stderr), 2 an invalid config (one line
per problem), 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Mapping, Sequence

from assistant import __version__
from assistant.core.errors import AssistantError, ConfigError
from assistant.ops import commands as ops_commands
from assistant.ops.envfile import with_env_file

Handler = Callable[[argparse.Namespace, Mapping[str, str]], int]


def _load(args: argparse.Namespace, env: Mapping[str, str]):  # type: ignore[no-untyped-def]
    from assistant.config import find_config_path, load_config

    path = find_config_path(getattr(args, "path", None) or args.config, env)
    return path, load_config(path, env)


def cmd_run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from assistant.app import Daemon

    path, config = _load(args, env)
    return asyncio.run(Daemon(config, config_path=path, env=env).run())


def cmd_chat(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from assistant.app import run_chat
    from assistant.ops.envfile import as_owner

    _, config = _load(args, env)
    with as_owner(config.assistant.state_dir):  # `sudo assistant chat` writes as the service
        return asyncio.run(run_chat(config, message=args.message))


def cmd_check_config(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    path, config = _load(args, env)
    models = ", ".join(m.name for m in config.models) or "none (chat answers with a hint)"
    print(f"{path}: ok (models: {models})")
    return 0


def cmd_print_config(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    import tomli_w

    from assistant.config import masked_dump

    path, config = _load(args, env)
    print(f"# effective config from {path}; secrets are masked")
    print(tomli_w.dumps(masked_dump(config)), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant",
        description="A self-hosted personal AI assistant for Telegram and Feishu.",
    )
    parser.add_argument("--version", action="version", version=f"assistant {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "--config",
            metavar="PATH",
            help="config file (default: $ASSISTANT_CONFIG, then /etc/assistant/config.toml)",
        )
        p.set_defaults(func=handler)
        return p

    command("run", cmd_run, "run the daemon (what the systemd service starts)")
    chat = command("chat", cmd_chat, "talk to the assistant in this terminal, as the owner")
    chat.add_argument("-m", "--message", help="send one message, print the reply, and exit")
    check = command("check-config", cmd_check_config, "validate the config file; exit 0 or 2")
    check.add_argument("path", nargs="?", help="config file to check (same as --config)")
    command("print-config", cmd_print_config, "print the effective config, secrets masked")
    ops_commands.add_commands(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    env = with_env_file(os.environ)  # what systemd gives the service, for `sudo assistant ...`
    try:
        code: int = args.func(args, env)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"config error: {problem}", file=sys.stderr)
        return 2
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
