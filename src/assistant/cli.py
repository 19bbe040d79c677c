"""The `assistant` command line.

Exit codes: 0 success, 1 a runtime problem (message on stderr), 2 an invalid config (one line
per problem), 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant import __version__, features
from assistant.core.errors import AssistantError, ConfigError
from assistant.core.listing import json_option, print_list, row
from assistant.core.messages import ChatRef
from assistant.core.roles import Role
from assistant.feature import CliCommand, CliContext

if TYPE_CHECKING:
    from assistant.config import Config
from assistant.ops import commands as ops_commands
from assistant.ops import init as ops_init
from assistant.ops.envfile import with_env_file

Handler = Callable[[argparse.Namespace, Mapping[str, str]], int]


def _load(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[Path, Config]:
    from assistant.config import find_config_path, load_config

    path = find_config_path(getattr(args, "path", None) or args.config, env)
    return path, load_config(path, env)


@contextmanager
def _admin(args: argparse.Namespace, env: Mapping[str, str]) -> Iterator[Config]:
    """The config, logging reduced to warnings on stderr (stdout is the answer), and — when
    root runs it — the effective user of the state directory's owner."""
    from assistant import admin  # noqa: F401 - imported while still root
    from assistant.config import secret_values
    from assistant.core.redact import Redactor
    from assistant.logging import setup_logging
    from assistant.ops.envfile import as_owner

    _, config = _load(args, env)
    setup_logging(
        level="warning", fmt="console", redactor=Redactor(secret_values(config)), stream=sys.stderr
    )
    with as_owner(config.assistant.state_dir):
        yield config


def cmd_run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from assistant.app import Daemon

    path, config = _load(args, env)
    return asyncio.run(Daemon(config, config_path=path, env=env).run())


def cmd_chat(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    path, config = _load(args, env)
    if not args.standalone:
        from assistant.features.console.client import DaemonNotRunning, chat

        secret = config.console.token
        token = secret.get_secret_value() if secret else env.get("ASSISTANT_CONSOLE_TOKEN", "")
        if not token:
            raise AssistantError(
                "no console token: set ASSISTANT_CONSOLE_TOKEN in the env file and "
                '[console] token = "${ASSISTANT_CONSOLE_TOKEN}" (sudo reads the env file), '
                "or use --standalone"
            )
        try:
            return asyncio.run(chat(config, token, message=args.message))
        except DaemonNotRunning as exc:
            print(
                f"error: the assistant daemon is not running ({exc}).\n"
                "Start it (sudo systemctl start assistant), or talk to an assistant in this "
                "process instead: assistant chat --standalone",
                file=sys.stderr,
            )
            return 1
    from assistant.app import run_chat
    from assistant.ops.envfile import as_owner

    with as_owner(config.assistant.state_dir):  # `sudo assistant chat` writes as the service
        return asyncio.run(run_chat(config, message=args.message, config_path=path))


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


def _role(value: str) -> Role:
    try:
        return Role(value.lower())
    except ValueError:
        raise argparse.ArgumentTypeError("a role is one of: owner, admin, user, guest") from None


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def _feature_command(cli: CliCommand) -> Handler:
    def handler(args: argparse.Namespace, env: Mapping[str, str]) -> int:
        from assistant import admin

        with _admin(args, env) as config:

            async def notify(chat: ChatRef, text: str) -> str | None:
                return await admin.notify(config, chat, text)

            return cli.run(args, CliContext(config, admin.actor(), notify))

    return handler


def cmd_users(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from assistant import admin

    with _admin(args, env) as config:
        if args.action == "list":
            users = [
                {
                    "channel": u.channel,
                    "user_id": u.user_id,
                    "role": u.role.value,
                    "name": u.name,
                    "source": u.source,
                }
                for u in asyncio.run(admin.users_list(config))
            ]
            print_list(
                users,
                line=lambda u: row(u["channel"], u["user_id"], u["role"], u["name"], u["source"]),
                empty="nobody has a role yet: add owners to [access] in the config",
                as_json=args.json,
            )
        elif args.action == "role":
            asyncio.run(admin.users_role(config, args.channel, args.user_id, args.role))
            print(f"{args.channel} user {args.user_id} is now {args.role.value}")
        elif args.action == "totp":
            return _totp(config, args)
        elif args.action == "token":
            return _token(config, args)
        elif args.action == "revoke":
            asyncio.run(admin.users_revoke(config, args.channel, args.user_id))
            print(f"{args.channel} user {args.user_id} no longer has access")
        elif args.action == "allow-group":
            asyncio.run(admin.groups_allow(config, args.channel, args.chat_id))
            print(f"{args.channel} group {args.chat_id} is allowed")
        elif args.action == "remove-group":
            asyncio.run(admin.groups_remove(config, args.channel, args.chat_id))
            print(f"{args.channel} group {args.chat_id} is no longer allowed")
        else:
            changes = [
                {
                    "at": _when(c.at),
                    "actor": c.actor,
                    "action": c.action,
                    "channel": c.channel,
                    "subject": c.subject,
                    "role": c.role,
                }
                for c in asyncio.run(admin.access_history(config, args.n))
            ]
            print_list(
                changes,
                line=lambda c: row(
                    c["at"], c["actor"], c["action"], c["channel"], c["subject"], c["role"]
                ),
                empty="no grants or revocations yet",
                as_json=args.json,
            )
        return 0


def _totp(config: Config, args: argparse.Namespace) -> int:
    from assistant import admin

    if args.totp_action == "list":
        records = [
            {"person": r.principal, "since": _when(r.created_at)}
            for r in asyncio.run(admin.totp_list(config))
        ]
        print_list(
            records,
            line=lambda r: row(r["person"], f"since {r['since']}"),
            empty="nobody has an authenticator set up",
            as_json=args.json,
        )
        return 0
    if args.totp_action == "remove":
        asyncio.run(admin.totp_remove(config, args.channel, args.user_id))
        print(f"removed the authenticator of {args.channel}:{args.user_id}")
        return 0
    import segno

    secret, uri = asyncio.run(admin.totp_add(config, args.channel, args.user_id))
    who = f"{args.channel}:{args.user_id}"
    print(f"Scan this with {who}'s authenticator app (or type the secret: {secret}):")
    segno.make(uri, error="m").terminal(compact=True)
    print("Approving a request on hosts with require_totp = true now takes /approve ID CODE.")
    return 0


def _token(config: Config, args: argparse.Namespace) -> int:
    from assistant import admin

    if args.what == "list":
        tokens = [
            {
                "name": t.name,
                "role": t.role.value,
                "created": _when(t.created_at),
                "by": t.created_by,
                "last_used": _when(t.last_used_at) if t.last_used_at else None,
            }
            for t in asyncio.run(admin.token_list(config))
        ]
        print_list(
            tokens,
            line=lambda t: row(
                t["name"],
                t["role"],
                f"created {t['created']} by {t['by']}",
                f"last used {t['last_used'] or 'never'}",
            ),
            empty="no console tokens: assistant users token create NAME --role user",
            as_json=args.json,
        )
    elif args.what == "revoke":
        asyncio.run(admin.token_revoke(config, args.name))
        print(f"revoked the console token of {args.name}; their sessions are logged out")
    else:
        token = asyncio.run(admin.token_create(config, args.name, args.role))
        print(f"Console token for {args.name} ({args.role.value}); it is shown only this once:")
        print(token)
    return 0


def cmd_audit(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    import json

    from assistant import admin

    with _admin(args, env) as config:
        if args.action == "tail":
            records = [
                {
                    "id": r.id,
                    "at": _when(r.at),
                    "kind": r.kind,
                    "actor": r.actor,
                    "data": r.data,
                }
                for r in asyncio.run(admin.audit_tail(config, args.n))
            ]
            print_list(
                records,
                line=lambda r: row(
                    r["id"],
                    r["at"],
                    r["kind"],
                    r["actor"],
                    json.dumps(r["data"], ensure_ascii=False, sort_keys=True),
                ),
                empty="the audit log is empty",
                as_json=args.json,
            )
            return 0
        count, problems = asyncio.run(admin.audit_verify(config))
        for problem in problems:
            print(f"audit: {problem}", file=sys.stderr)
        if problems:
            print(
                f"the audit log has been tampered with ({len(problems)} problem(s))",
                file=sys.stderr,
            )
            return 1
        print(f"audit log intact: {count} records, hash chain verified")
        return 0


def cmd_inbox(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from assistant.ops.inbox import dead_letters_command

    with _admin(args, env) as config:
        return asyncio.run(dead_letters_command(config, args, sys.stdout))


def _add_inbox(command: Callable[[str, Handler, str], argparse.ArgumentParser]) -> None:
    inbox = command("inbox", cmd_inbox, "the inbox: input the channels could not take")
    actions = inbox.add_subparsers(dest="action", required=True, metavar="ACTION")
    letters = actions.add_parser(
        "dead-letters",
        help="list updates and events that could not be parsed or recorded; retry or drop one",
    )
    act = letters.add_mutually_exclusive_group()
    act.add_argument("--retry", type=int, metavar="ID", help="have the running assistant retry it")
    act.add_argument("--drop", type=int, metavar="ID", help="delete it")
    letters.add_argument("--json", action="store_true", help="print the list as JSON")
    _config_option(letters)


def _add_totp(users: Any, action: Callable[..., argparse.ArgumentParser]) -> None:
    totp = action(users, "totp", "approvers' authenticator codes (TOTP)")
    actions = totp.add_subparsers(dest="totp_action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="a new secret for a person, shown as a QR code")
    remove = actions.add_parser("remove", help="delete a person's secret")
    for sub in (add, remove):
        sub.add_argument("channel")
        sub.add_argument("user_id")
    listing = json_option(actions.add_parser("list", help="who has a secret"))
    for sub in (add, remove, listing):
        _config_option(sub)


def _add_token(users: Any, action: Callable[..., argparse.ArgumentParser]) -> None:
    token = action(users, "token", "console tokens: a person's login to the console")
    actions = token.add_subparsers(dest="what", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="a new token (printed once, stored hashed)")
    create.add_argument("name", help="the person (1-64 letters, digits, . _ -)")
    create.add_argument("--role", type=_role, default=Role.USER, help="admin or user (default)")
    revoke = actions.add_parser("revoke", help="delete a token and end its sessions")
    revoke.add_argument("name")
    listing = json_option(actions.add_parser("list", help="the tokens, with their last use"))
    for sub in (create, revoke, listing):
        _config_option(sub)


def _config_option(parser: argparse.ArgumentParser) -> None:
    """``--config`` after the action too (``assistant jobs list --config PATH``)."""
    parser.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="config file")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant",
        description="A self-hosted personal AI assistant for Telegram, Feishu, Slack and WhatsApp.",
    )
    parser.add_argument("--version", action="version", version=f"assistant {__version__}")
    config_help = (
        "config file (default: $ASSISTANT_CONFIG, then ./assistant.toml if it exists, then "
        "/etc/assistant/config.toml)"
    )
    # before the command (`assistant --config X doctor`) or after it: both work
    parser.add_argument("--config", metavar="PATH", default=None, help=config_help)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # nested actions accept --config too; SUPPRESS keeps them from erasing the outer value
    nested = argparse.ArgumentParser(add_help=False)
    nested.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=config_help)

    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=config_help)
        p.set_defaults(func=handler)
        return p

    def action(
        parent: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str
    ) -> argparse.ArgumentParser:
        return parent.add_parser(name, help=help_text, description=help_text, parents=[nested])

    command("run", cmd_run, "run the daemon (what the systemd service starts)")
    chat = command("chat", cmd_chat, "talk to the running assistant in this terminal, as owner")
    chat.add_argument("-m", "--message", help="send one message, print the reply, and exit")
    chat.add_argument(
        "--standalone",
        action="store_true",
        help="no daemon: run an assistant in this process (the terminal is its only channel)",
    )
    check = command("check-config", cmd_check_config, "validate the config file; exit 0 or 2")
    check.add_argument("path", nargs="?", help="config file to check (same as --config)")
    command("print-config", cmd_print_config, "print the effective config, secrets masked")

    users = command("users", cmd_users, "who may talk to the assistant, and their roles")
    users_sub = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    json_option(action(users_sub, "list", "everyone with a role (from the config or granted)"))
    role = action(users_sub, "role", "grant or change a role")
    role.add_argument("channel", choices=features.channel_names())
    role.add_argument("user_id")
    role.add_argument("role", type=_role)
    gone = action(users_sub, "revoke", "take a granted role away")
    gone.add_argument("channel", choices=features.channel_names())
    gone.add_argument("user_id")
    for name, text in (
        ("allow-group", "answer in a group chat"),
        ("remove-group", "stop answering in a group"),
    ):
        group = action(users_sub, name, text)
        group.add_argument("channel", choices=features.channel_names())
        group.add_argument("chat_id")
    audit = command("audit", cmd_audit, "the tamper-evident record of what was done")
    audit_sub = audit.add_subparsers(dest="action", required=True, metavar="ACTION")
    tail = action(audit_sub, "tail", "the latest records")
    tail.add_argument("-n", type=int, default=20, help="how many (default 20)")
    json_option(tail)
    action(audit_sub, "verify", "check the hash chain; exit 1 if a record was changed")

    history = action(users_sub, "history", "recent grants and revocations")
    history.add_argument("-n", type=int, default=50, help="how many (default 50)")
    json_option(history)
    _add_totp(users_sub, action)
    _add_token(users_sub, action)
    ops_commands.add_commands(command)
    ops_init.add_command(command)
    _add_inbox(command)
    for feature in features.NAMES:  # what each feature adds to the command line
        for cli in getattr(features.module(feature), "CLI", ()):
            cli.arguments(command(cli.name, _feature_command(cli), cli.help))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from assistant.config import find_config_path

    args = build_parser().parse_args(argv)
    # what systemd gives the service, for `sudo assistant ...`; or the env file beside a local
    # config (`assistant init` writes both)
    config = getattr(args, "path", None) or args.config
    env = with_env_file(os.environ, find_config_path(config, os.environ))
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
