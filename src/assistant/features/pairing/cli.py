"""``assistant pairing list|approve|revoke``: strangers' pairing requests, from the command line
(against the state database, whether or not the daemon runs)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from assistant.config import Config
from assistant.core.errors import NotFound
from assistant.core.listing import json_option, print_list, row
from assistant.core.messages import ChatRef
from assistant.core.roles import Role
from assistant.core.text import one_line
from assistant.feature import CliCommand, CliContext, config_option
from assistant.features import channel_names
from assistant.features.pairing.commands import welcome_text
from assistant.store.db import Database, prepare_state_dir
from assistant.store.pairing import Pairing


def role(value: str) -> Role:
    try:
        return Role(value.lower())
    except ValueError:
        raise argparse.ArgumentTypeError("a role is one of: owner, admin, user, guest") from None


def _arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    json_option(config_option(actions.add_parser("list", help="requests waiting for approval")))
    approve = config_option(actions.add_parser("approve", help="let the person in and tell them"))
    approve.add_argument("channel")
    approve.add_argument("code")
    approve.add_argument("--role", type=role, default=Role.USER, help="default: user")
    revoke = config_option(actions.add_parser("revoke", help="discard a waiting request"))
    revoke.add_argument("channel")
    revoke.add_argument("code")


@asynccontextmanager
async def _pairing(config: Config) -> AsyncIterator[Pairing]:
    prepare_state_dir(config.assistant.state_dir)
    async with Database(config.assistant.state_dir / "state.db") as db:
        yield Pairing(db)


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


async def _run(args: argparse.Namespace, cli: CliContext) -> int:
    config = cli.config
    if args.action == "list":
        async with _pairing(config) as pairing:
            pending = await pairing.pending()
        requests = [
            {
                "channel": p.channel,
                "code": p.code,
                "user_id": p.user_id,
                "name": p.name,
                "until": _when(p.expires_at),
            }
            for p in pending
        ]
        print_list(
            requests,
            line=lambda r: row(
                r["channel"], r["code"], r["user_id"], r["name"], f"until {r['until']}"
            ),
            empty="no pairing requests are waiting",
            as_json=args.json,
        )
        return 0
    channel = args.channel
    known = channel_names()
    if channel not in known:
        raise NotFound(f"unknown channel {channel!r}; use one of: {', '.join(known)}")
    if args.action == "approve":
        async with _pairing(config) as pairing:
            request = await pairing.approve(channel, args.code, args.role, by=cli.actor)
        user = one_line(request.user_id)
        print(f"approved {one_line(request.name) or user} ({channel} {user}) as {args.role.value}")
        problem = await cli.notify(ChatRef(channel, request.chat_id), welcome_text(args.role))
        if problem:
            print(f"warning: could not tell them they are in: {problem}", file=sys.stderr)
        else:
            print("they have been told")
        return 0
    async with _pairing(config) as pairing:
        request = await pairing.revoke(channel, args.code, by=cli.actor)
    who = one_line(request.name) or one_line(request.user_id)
    print(f"discarded the request of {who} ({channel})")
    return 0


PAIRING = CliCommand(
    "pairing",
    "approve or discard strangers' pairing requests",
    _arguments,
    lambda args, cli: asyncio.run(_run(args, cli)),
)
