"""``assistant ssh hosts|trust`` (the inventory and pinned host keys) and ``assistant policy
check|list`` (the command policy as the daemon applies it)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.config import Config
from assistant.core.errors import NotFound
from assistant.core.listing import json_option, print_list, row
from assistant.feature import CliCommand, CliContext, config_option
from assistant.features.ssh import policy_cli

if TYPE_CHECKING:
    from assistant.ssh.trust import HostKey


def _arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    json_option(config_option(actions.add_parser("hosts", help="the hosts in the config")))
    trust = config_option(
        actions.add_parser("trust", help="connect, show the host key's fingerprint, and pin it")
    )
    trust.add_argument("name")
    trust.add_argument("--yes", action="store_true", help="pin without asking")


async def host_key(config: Config, name: str) -> tuple[HostKey, list[str]]:
    """The key ``name`` presents now, and the fingerprints pinned for it so far."""
    from assistant.ssh.executor import SSHExecutor
    from assistant.ssh.trust import fetch_host_key, fingerprint_of, pinned_lines

    path = config.known_hosts
    async with SSHExecutor(config.ssh, known_hosts=path) as executor:
        host = executor.host(name)
        key = await fetch_host_key(host, executor)
    return key, [fingerprint_of(line) for line in pinned_lines(path, host)]


async def pin_key(cli: CliContext, name: str, key: HostKey) -> Path:
    from assistant.core.redact import Redactor
    from assistant.ssh.trust import pin
    from assistant.store.audit import AuditLog
    from assistant.store.db import Database, prepare_state_dir

    config = cli.config
    host = config.ssh.host(name)
    if host is None:
        raise NotFound(f"there is no [[ssh.hosts]] entry named {name!r}")
    path = config.known_hosts
    prepare_state_dir(path.parent)
    pin(path, host, key)
    prepare_state_dir(config.assistant.state_dir)
    async with Database(config.assistant.state_dir / "state.db") as db:
        await AuditLog(db, Redactor()).append(
            "ssh.trust", cli.actor, host=name, fingerprint=key.fingerprint, algorithm=key.algorithm
        )
    return path


def _run(args: argparse.Namespace, cli: CliContext) -> int:
    config = cli.config
    if args.action == "hosts":
        hosts = [
            {
                "name": host.name,
                "user": host.user or config.ssh.user,
                "address": host.address,
                "port": host.port,
                "tags": list(host.tags),
                "jump": host.jump,
            }
            for host in config.ssh.hosts
        ]
        print_list(
            hosts,
            line=lambda h: row(
                h["name"], f"{h['user']}@{h['address']}:{h['port']}", ",".join(h["tags"]), h["jump"]
            ),
            empty="no hosts: add a [[ssh.hosts]] entry to the config (docs/ssh.md)",
            as_json=args.json,
        )
        return 0
    key, pinned = asyncio.run(host_key(config, args.name))
    print(f"{args.name} presents a {key.algorithm} key: {key.fingerprint}")
    if pinned == [key.fingerprint]:
        print("this key is already pinned; nothing to do")
        return 0
    if pinned:
        print(f"WARNING: this differs from the pinned key(s): {', '.join(pinned)}", file=sys.stderr)
        print(
            "Only continue if you know why the key changed (e.g. the server was reinstalled).",
            file=sys.stderr,
        )
    if not args.yes:
        if not sys.stdin.isatty():
            print("error: not pinned; confirm interactively or pass --yes", file=sys.stderr)
            return 1
        answer = input("Pin this key? Compare the fingerprint with the server's [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("not pinned")
            return 1
    path = asyncio.run(pin_key(cli, args.name, key))
    print(f"pinned {args.name} in {path}")
    return 0


SSH = CliCommand("ssh", "the SSH host inventory and pinned host keys", _arguments, _run)
POLICY = CliCommand(
    "policy", "test commands against the command policy", policy_cli.arguments, policy_cli.run
)
