"""`assistant policy check|list`: test the command policy as the daemon would apply it.

``policy check`` exits 0 (allow), 3 (ask) or 4 (deny); with ``--jsonl`` it reads one JSON
object per line (``{"command": …, "role"?: …, "host"?: …}``) and prints one per line
(``{"command", "verdict", "reason", "rule"}``), exiting 0 unless an input line was invalid.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TextIO

from assistant.core.errors import AssistantError, NotFound
from assistant.core.roles import Role
from assistant.feature import CliContext, config_option

if TYPE_CHECKING:
    from assistant.config import Config
    from assistant.config.ssh import SSHHost
    from assistant.security.commands import Decision
    from assistant.security.isolated import IsolatedPolicy

EXIT = {"allow": 0, "ask": 3, "deny": 4}


def arguments(policy: argparse.ArgumentParser) -> None:
    actions = policy.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="allow / ask / deny for a command, and the rule that decided (exit 0 / 3 / 4)",
        description="Print the verdict for COMMAND as the daemon would decide it: allow "
        "(exit 0), ask for approval (exit 3) or deny (exit 4), with the rule that decided.",
    )
    check.add_argument("--role", type=_role, default=Role.OWNER, help="default: owner")
    check.add_argument("--host", help="a [[ssh.hosts]] name (default: the first host)")
    check.add_argument(
        "--jsonl",
        metavar="FILE",
        help='JSON lines in ({"command": …, "role"?: …, "host"?: …}), JSON lines out; - for stdin',
    )
    config_option(check)
    check.add_argument("words", nargs="*", metavar="COMMAND", help="after --, the command")
    config_option(actions.add_parser("list", help="the built-in read-only commands and flags"))


def _role(value: str) -> Role:
    try:
        return Role(value.lower())
    except ValueError:
        raise argparse.ArgumentTypeError("a role is one of: owner, admin, user, guest") from None


def _policy(config: Config) -> tuple[IsolatedPolicy, Callable[[Role], frozenset[Any]]]:
    """The policy exactly as the daemon runs it: in a child process with a time limit."""
    from assistant.security.isolated import IsolatedPolicy
    from assistant.security.policy import Policy

    roles = Policy(config.access.permissions)
    return IsolatedPolicy(config.ssh), roles.permissions


def _host(config: Config, name: str | None) -> SSHHost:
    from assistant.config.ssh import SSHHost

    if name:
        host = config.ssh.host(name)
        if host is None:
            known = ", ".join(h.name for h in config.ssh.hosts) or "none"
            raise NotFound(f"there is no [[ssh.hosts]] entry named {name!r} (hosts: {known})")
        return host
    if config.ssh.hosts:
        return config.ssh.hosts[0]
    return SSHHost(name="any-host", address="0.0.0.0")  # noqa: S104 - never connected to


def decide(config: Config, command: str, *, role: Role, host: str | None) -> Decision:
    policy, permissions = _policy(config)
    return policy.decide(permissions=permissions(role), host=_host(config, host), command=command)


def check_lines(config: Config, lines: Iterable[str], out: TextIO) -> int:
    """The --jsonl mode: one verdict per input line; exit 1 if any line was not usable."""
    policy, permissions = _policy(config)
    status = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict) or not isinstance(item.get("command"), str):
                raise ValueError('each line must be an object with a string "command"')
            role = Role(str(item.get("role", "owner")).lower())
            host = _host(config, item.get("host"))
        except (ValueError, NotFound) as exc:
            print(json.dumps({"line": number, "error": str(exc)}, ensure_ascii=False), file=out)
            status = 1
            continue
        decision = policy.decide(permissions=permissions(role), host=host, command=item["command"])
        print(
            json.dumps(
                {
                    "command": item["command"],
                    "verdict": decision.verdict.value,
                    "reason": decision.reason,
                    "rule": decision.rule,
                },
                ensure_ascii=False,
            ),
            file=out,
        )
    return status


def run(args: argparse.Namespace, cli: CliContext) -> int:
    from assistant.security import readonly

    config = cli.config
    if args.action == "list":
        for line in readonly.summaries():
            print(line)
        return 0
    if args.jsonl:
        if args.words:
            raise AssistantError("give either --jsonl FILE or a command, not both")
        if args.jsonl == "-":
            return check_lines(config, sys.stdin, sys.stdout)
        with open(args.jsonl, encoding="utf-8") as source:
            return check_lines(config, source, sys.stdout)
    command = " ".join(args.words)
    if not command.strip():
        raise AssistantError("usage: assistant policy check [--role R] [--host H] -- COMMAND")
    decision = decide(config, command, role=args.role, host=args.host)
    print(f"verdict: {decision.verdict.value}")
    print(f"rule:    {decision.rule}")
    print(f"why:     {decision.reason}")
    return EXIT[decision.verdict.value]
