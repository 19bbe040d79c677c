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

    _, config = _load(args, env)
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


def cmd_memory(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from assistant.admin import memory_command

    _, config = _load(args, env)
    if not config.memory.enabled:
        print("error: memory is disabled in the config ([memory] enabled = false)", file=sys.stderr)
        return 1
    return asyncio.run(memory_command(config, args, sys.stdout))


def cmd_jobs(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from assistant.admin import jobs_command

    _, config = _load(args, env)
    return asyncio.run(jobs_command(config, args, sys.stdout))


def _add_memory(command: Callable[[str, Handler, str], argparse.ArgumentParser]) -> None:
    memory = command(
        "memory",
        cmd_memory,
        "list, search, forget, export or import long-term memories (in embedded mode, while "
        "the daemon is stopped)",
    )
    actions = memory.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="memories, newest first")
    listing.add_argument("--limit", type=int, default=100)
    search = actions.add_parser("search", help="memories closest to a query, with similarity")
    search.add_argument("query")
    search.add_argument("--limit", type=int, default=10)
    forget = actions.add_parser("forget", help="delete a memory by id")
    forget.add_argument("id")
    export = actions.add_parser("export", help="write memories as JSON lines")
    export.add_argument("file", nargs="?", help="file to write (default: standard output)")
    imported = actions.add_parser("import", help="read memories from JSON lines (re-embedded)")
    imported.add_argument("file", help="file to read, or - for standard input")
    for sub in (listing, search, forget, export):
        sub.add_argument("--namespace", help="only this one, e.g. user:telegram:123456789")
    for sub in (listing, search, forget, export, imported):
        _config_option(sub)


def _add_jobs(command: Callable[[str, Handler, str], argparse.ArgumentParser]) -> None:
    jobs = command("jobs", cmd_jobs, "list, cancel or run scheduled jobs")
    actions = jobs.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="active jobs")
    listing.add_argument("--all", action="store_true", help="also finished and cancelled ones")
    cancel = actions.add_parser("cancel", help="cancel a job")
    cancel.add_argument("id")
    run = actions.add_parser("run", help="run a job now (by the running assistant)")
    run.add_argument("id")
    for sub in (listing, cancel, run):
        _config_option(sub)


def _config_option(parser: argparse.ArgumentParser) -> None:
    """``--config`` after the action too (``assistant jobs list --config PATH``)."""
    parser.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="config file")


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
    _add_memory(command)
    _add_jobs(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    env = dict(os.environ)
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
