"""Admin operations behind `assistant pairing …` and `assistant users …`.

They work on the state database next to a running daemon (SQLite WAL, busy timeout) and take
effect at once: the daemon reads grants per message. Approving a pairing request also tells
the person they are in, through the channel's API.
"""

from __future__ import annotations

import getpass
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
import structlog

from assistant import features
from assistant.config import Config, secret_values
from assistant.core.errors import AssistantError, ChannelError, NotFound
from assistant.core.health import Health
from assistant.core.messages import ChatRef, OutboundMessage
from assistant.core.redact import Redactor
from assistant.core.roles import Role
from assistant.store.audit import AuditLog, AuditRecord
from assistant.store.console import ConsoleToken
from assistant.store.db import Database, prepare_state_dir
from assistant.store.totp import TotpRecord, TotpStore
from assistant.store.users import AccessChange, Users

if TYPE_CHECKING:
    pass

log = structlog.get_logger(__name__)

CHANNELS = features.channel_names()


def actor() -> str:
    return f"cli:{getpass.getuser()}"


@dataclass(frozen=True, slots=True)
class UserRow:
    channel: str
    user_id: str
    role: Role
    name: str
    source: str  # "config" or who granted it


@asynccontextmanager
async def open_state(config: Config) -> AsyncIterator[Database]:
    prepare_state_dir(config.assistant.state_dir)
    async with Database(config.assistant.state_dir / "state.db") as db:
        yield db


def _check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise NotFound(f"unknown channel {channel!r}; use one of: {', '.join(CHANNELS)}")


async def notify(config: Config, chat: ChatRef, text: str) -> str | None:
    """Send one message through the channel's API; the reason on failure, else None."""
    if chat.channel not in CHANNELS or not features.module(chat.channel).enabled(config):
        return f"[{chat.channel}] is not enabled in the config"
    redactor = Redactor(secret_values(config))
    async with AsyncExitStack() as stack:
        session = await stack.enter_async_context(aiohttp.ClientSession())
        channel = features.module(chat.channel).channel(  # type: ignore[attr-defined]
            config, session=session, health=Health(), redactor=redactor
        )
        try:
            await stack.enter_async_context(channel)
            await channel.send(OutboundMessage(chat, text, format="plain"))
        except (ChannelError, AssistantError) as exc:
            return redactor.text(str(exc))
    return None


async def users_list(config: Config) -> list[UserRow]:
    rows: list[UserRow] = []
    for owner in config.access.owners:
        channel, _, user_id = owner.partition(":")
        rows.append(UserRow(channel, user_id, Role.OWNER, "", "config"))
    for channel in CHANNELS:
        for user_id, role in config.access.channel(channel).users.items():
            rows.append(UserRow(channel, user_id, role, "", "config"))
    async with open_state(config) as db:
        for grant in await Users(db).granted():
            rows.append(
                UserRow(grant.channel, grant.user_id, grant.role, grant.name, grant.granted_by)
            )
    return rows


def _defined_in_config(config: Config, channel: str, user_id: str) -> bool:
    return f"{channel}:{user_id}" in config.access.owners or user_id in (
        config.access.channel(channel).users
    )


async def users_role(config: Config, channel: str, user_id: str, role: Role) -> None:
    _check_channel(channel)
    if _defined_in_config(config, channel, user_id):
        raise AssistantError(
            f"{channel} user {user_id} is defined in the config file, which wins; change the "
            "role there ([access]) and reload"
        )
    async with open_state(config) as db:
        await Users(db).grant(channel, user_id, role, by=actor())


async def users_revoke(config: Config, channel: str, user_id: str) -> None:
    _check_channel(channel)
    if _defined_in_config(config, channel, user_id):
        raise AssistantError(
            f"{channel} user {user_id} is defined in the config file; remove them there and reload"
        )
    async with open_state(config) as db:
        if not await Users(db).revoke(channel, user_id, by=actor()):
            raise NotFound(f"{channel} user {user_id} has no granted role")


async def groups_allow(config: Config, channel: str, chat_id: str) -> None:
    _check_channel(channel)
    async with open_state(config) as db:
        await Users(db).allow_group(channel, chat_id, by=actor())


async def groups_remove(config: Config, channel: str, chat_id: str) -> None:
    _check_channel(channel)
    if chat_id in config.access.channel(channel).groups:
        raise AssistantError(f"group {chat_id} is allowlisted in the config; remove it there")
    async with open_state(config) as db:
        if not await Users(db).remove_group(channel, chat_id, by=actor()):
            raise NotFound(f"{channel} group {chat_id} was not allowed")


async def access_history(config: Config, limit: int) -> list[AccessChange]:
    async with open_state(config) as db:
        return await Users(db).changes(limit)


async def audit_tail(config: Config, limit: int) -> list[AuditRecord]:
    async with open_state(config) as db:
        return await AuditLog(db, Redactor(secret_values(config))).tail(limit)


async def audit_verify(config: Config) -> tuple[int, list[str]]:
    """(records checked, problems)."""
    async with open_state(config) as db:
        problems = await AuditLog(db, Redactor(secret_values(config))).verify()
        row = await db.fetchone("SELECT count(*) AS n FROM audit")
        return (int(row["n"]) if row else 0), problems


async def totp_list(config: Config) -> list[TotpRecord]:
    async with open_state(config) as db:
        return await TotpStore(db).principals()


async def totp_add(config: Config, channel: str, user_id: str) -> tuple[str, str]:
    """A new authenticator secret for the person: (secret, otpauth:// URI)."""
    from assistant.security.second_factor import SecondFactor

    principal = f"{channel}:{user_id}"
    async with open_state(config) as db:
        secret, uri = await SecondFactor(TotpStore(db)).enroll(principal)
        await AuditLog(db, Redactor()).append("totp.added", actor(), principal=principal)
    return secret, uri


async def totp_remove(config: Config, channel: str, user_id: str) -> None:
    principal = f"{channel}:{user_id}"
    async with open_state(config) as db:
        if not await TotpStore(db).remove(principal):
            raise NotFound(f"{principal} has no authenticator set up")
        await AuditLog(db, Redactor()).append("totp.removed", actor(), principal=principal)


async def token_create(config: Config, name: str, role: Role) -> str:
    """A new console token for ``name`` with ``role`` (shown once; stored hashed)."""
    from assistant.store.console import ConsoleTokens

    async with open_state(config) as db:
        try:
            return await ConsoleTokens(db).create(name, role, by=actor())
        except ValueError as exc:
            raise AssistantError(str(exc)) from None


async def token_list(config: Config) -> list[ConsoleToken]:
    from assistant.store.console import ConsoleTokens

    async with open_state(config) as db:
        return await ConsoleTokens(db).list()


async def token_revoke(config: Config, name: str) -> None:
    from assistant.store.console import ConsoleTokens

    async with open_state(config) as db:
        if not await ConsoleTokens(db).revoke(name, by=actor()):
            raise NotFound(f"{name!r} has no console token; see `assistant users token list`")
