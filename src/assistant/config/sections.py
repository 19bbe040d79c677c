"""Sections of the core: the assistant, agent, models, routing, gateway, logging, access,
approvals."""

from __future__ import annotations

import zoneinfo
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from assistant.config.base import NAME_PATTERN, Section, blank_to_none, http_url
from assistant.core.roles import Permission, Role

DEFAULT_SYSTEM_PROMPT = (
    "You are {name}, a personal assistant reached by chat. Be brief and direct; answer in "
    "the user's language. Use tools rather than guess; never invent tool results; report "
    "tool errors and refusals plainly."
)


class AssistantSection(Section):
    name: str = Field("Assistant", min_length=1, max_length=64)
    timezone: str = "UTC"
    # the language of fixed replies for people whose language nothing tells: en or zh_CN
    language: str = "en"
    state_dir: Path = Path("/var/lib/assistant")
    system_prompt: str = Field(DEFAULT_SYSTEM_PROMPT, min_length=1)
    drain_timeout: float = Field(10.0, gt=0, le=600)
    max_concurrent_turns: int = Field(128, ge=1, le=1000)

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        from assistant.core.i18n import LOCALES, normalize

        found = normalize(value)
        if found is None:
            raise ValueError(f"no catalog for {value!r}; use one of: {', '.join(LOCALES)}")
        return found

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as "
                "'UTC', 'Europe/Berlin' or 'Asia/Shanghai'"
            ) from None
        return value


class AgentSection(Section):
    max_steps: int = Field(8, ge=1, le=50)
    turn_timeout: float = Field(180.0, gt=0)
    history_tokens: int = Field(6000, ge=500)
    summary_tokens: int = Field(500, ge=50, le=10_000)
    tool_timeout: float = Field(60.0, gt=0)
    max_tool_output: int = Field(8000, ge=500)
    send_file_max_kb: int = Field(1024, ge=1, le=20 * 1024)


class ModelProvider(Section):
    name: str = Field(pattern=NAME_PATTERN)
    api: Literal["openai", "anthropic"] = "openai"
    base_url: str
    api_key: SecretStr | None = None
    model: str = Field(min_length=1)
    max_tokens: int = Field(1024, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    timeout: float = Field(60.0, gt=0)
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    vision: bool = False
    stream: bool = True
    fallback: list[str] | None = None

    _blank_key = field_validator("api_key", mode="before")(blank_to_none)

    _url = field_validator("base_url")(http_url)


class RoutingRule(Section):
    model: str
    keywords: list[str] = Field(default_factory=list)
    roles: list[Role] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_condition(self) -> RoutingRule:
        if not self.keywords and not self.roles:
            raise ValueError("a routing rule needs 'keywords' or 'roles' (or both)")
        return self


class GatewaySection(Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(18789, ge=0, le=65535)
    admin_token: SecretStr | None = None
    max_connections: int = Field(1024, ge=8, le=100_000)
    header_timeout: float = Field(10.0, gt=0, le=600)
    body_timeout: float = Field(30.0, gt=0, le=3600)
    keepalive_timeout: float = Field(15.0, gt=0, le=3600)

    _blank_token = field_validator("admin_token", mode="before")(blank_to_none)


class ConsoleSection(Section):
    """The console: the terminal chat and the web console, clients of the gateway's /api."""

    enabled: bool | None = None  # None: on when the gateway is
    token: SecretStr | None = None  # the owner's console token
    session_hours: float = Field(12.0, gt=0, le=24 * 90)
    login_failures_per_minute: int = Field(5, ge=1, le=1000)
    keep_messages_days: float = Field(30.0, gt=0)
    max_file_mb: float = Field(20.0, gt=0, le=1024)
    keep_files_mb: float = Field(200.0, gt=0)

    _blank_token = field_validator("token", mode="before")(blank_to_none)


class LoggingSection(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class SpeechSection(Section):
    """An OpenAI-compatible /audio/transcriptions endpoint for voice messages."""

    base_url: str
    api_key: SecretStr | None = None
    model: str = "whisper-1"
    timeout: float = Field(60.0, gt=0)
    max_file_mb: float = Field(20.0, gt=0)

    _blank_key = field_validator("api_key", mode="before")(blank_to_none)
    _url = field_validator("base_url")(http_url)


class ChannelAccess(Section):
    users: dict[str, Role] = Field(default_factory=dict)
    groups: list[str] = Field(default_factory=list)


def _account(item: str) -> None:
    """``channel:user_id`` for a channel that has an allowlist here (or the console)."""
    channel, _, user = item.partition(":")
    channels = [n for n, f in AccessSection.model_fields.items() if f.annotation is ChannelAccess]
    if channel not in [*channels, "console"] or not user:
        raise ValueError(
            f"{item!r} is not 'telegram:USER_ID', 'feishu:OPEN_ID', 'slack:MEMBER_ID' or "
            "'whatsapp:PHONE_NUMBER'"
        )


class AccessSection(Section):
    owners: list[str] = Field(default_factory=list)
    pairing: bool = True
    pairing_notify: bool = False  # tell owners and admins of each new request, with buttons
    group_members: Literal["guest", "user", "none"] = "guest"
    telegram: ChannelAccess = ChannelAccess()
    feishu: ChannelAccess = ChannelAccess()
    whatsapp: ChannelAccess = ChannelAccess()
    slack: ChannelAccess = ChannelAccess()
    permissions: dict[Role, list[Permission]] = Field(default_factory=dict)
    # accounts of one person on several channels: approvals treat them as one person
    people: list[list[str]] = Field(default_factory=list)

    @field_validator("owners")
    @classmethod
    def _channel_user(cls, value: list[str]) -> list[str]:
        for item in value:
            _account(item)
        return value

    @field_validator("people")
    @classmethod
    def _linked(cls, value: list[list[str]]) -> list[list[str]]:
        seen: set[str] = set()
        for accounts in value:
            if len(accounts) < 2:
                raise ValueError("each entry of people lists two or more accounts of one person")
            for account in accounts:
                _account(account)
                if account in seen:
                    raise ValueError(f"{account!r} is listed for two people")
                seen.add(account)
        return value

    def person(self, account: str) -> str:
        """One name for all of a person's accounts ("channel:user_id"): the first listed."""
        for accounts in self.people:
            if account in accounts:
                return accounts[0]
        return account

    def channel(self, name: str) -> ChannelAccess:
        found = getattr(self, name, None)
        return found if isinstance(found, ChannelAccess) else ChannelAccess()


class ApprovalsSection(Section):
    """A second person's approval of one request (an SSH command, an HTTP write, an MCP or
    plugin tool classed ``ask``): every assistant has them."""

    timeout: float = Field(600.0, gt=0)
