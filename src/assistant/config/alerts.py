"""The [alerts] section: where alerts go (routes per severity), escalation, self-alerts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from assistant.config.base import Section, blank_to_none

_ROUTE_NAME = r"^[a-z0-9][a-z0-9_-]{0,31}$"
_ACCOUNT = re.compile(r"^[a-z]+:\S+$")


def _accounts(values: list[str], what: str) -> list[str]:
    for value in values:
        if not _ACCOUNT.match(value):
            raise ValueError(
                f"{value!r} is not a {what} like 'telegram:-1001234567' or 'feishu:oc_abc'"
            )
    return values


class SmtpServer(Section):
    """The mail server email routes send through."""

    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(min_length=3)  # the From address
    ca_file: Path | None = None  # a private CA the server's certificate is signed by
    timeout: float = Field(20.0, gt=0, le=300)

    _blank = field_validator("username", "password", mode="before")(blank_to_none)


class ChatRoute(Section):
    name: str = Field(pattern=_ROUTE_NAME)
    chats: list[str] = Field(default_factory=list)  # "channel:chat_id"
    people: list[str] = Field(default_factory=list)  # names in [alerts.people]

    @field_validator("chats")
    @classmethod
    def _chats(cls, value: list[str]) -> list[str]:
        return _accounts(value, "chat")

    @model_validator(mode="after")
    def _somewhere(self) -> ChatRoute:
        if not self.chats and not self.people:
            raise ValueError(f"chat route {self.name!r} needs chats or people")
        return self


class EmailRoute(Section):
    name: str = Field(pattern=_ROUTE_NAME)
    to: list[str] = Field(min_length=1)
    language: str | None = None  # en or zh_CN; default: [assistant] language

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str | None) -> str | None:
        from assistant.core.i18n import LOCALES, normalize

        if value is None:
            return None
        found = normalize(value)
        if found is None:
            raise ValueError(f"no catalog for {value!r}; use one of: {', '.join(LOCALES)}")
        return found


class WebhookRoute(Section):
    name: str = Field(pattern=_ROUTE_NAME)
    url: SecretStr  # secret: a robot's URL carries its access token
    secret: SecretStr | None = None  # signs the body (X-Assistant-Signature)
    format: Literal["json", "dingtalk", "wecom"] = "json"
    timeout: float = Field(10.0, gt=0, le=120)

    _blank = field_validator("secret", mode="before")(blank_to_none)

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        if not re.match(r"^https?://[^\s/]+", url):
            raise ValueError(f"{url.split('?', 1)[0]!r} is not an http(s) URL")
        return value


class AlertsSection(Section):
    enabled: bool = False
    warning: list[str] = Field(default_factory=list)  # routes that each get a warning
    critical: list[str] = Field(default_factory=list)  # routes in turn until acknowledged
    ack_timeout: float = Field(900.0, ge=10)
    cooldown: float = Field(300.0, ge=0)
    people: dict[str, list[str]] = Field(default_factory=dict)
    smtp: SmtpServer | None = None
    chat: list[ChatRoute] = Field(default_factory=list)
    email: list[EmailRoute] = Field(default_factory=list)
    webhook: list[WebhookRoute] = Field(default_factory=list)
    self_alerts: bool = True
    check_interval: float = Field(60.0, ge=5)
    down_after: float = Field(300.0, ge=0)
    disk_free_percent: float = Field(10.0, ge=0, le=100)
    backups: str | None = None  # a glob of backup archives, e.g. /var/backups/assistant-*.tar.gz
    backup_max_age_days: float = Field(2.0, gt=0)

    _blank = field_validator("backups", mode="before")(blank_to_none)

    @field_validator("people")
    @classmethod
    def _people(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, accounts in value.items():
            if not accounts:
                raise ValueError(f"person {name!r} in [alerts.people] needs an account")
            _accounts(accounts, "person's account")
        return value

    @model_validator(mode="after")
    def _references(self) -> AlertsSection:
        names = [r.name for r in self.routes()]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"alert route names must be unique; repeated: {', '.join(repeated)}")
        for severity in ("warning", "critical"):
            for name in getattr(self, severity):
                if name not in names:
                    raise ValueError(
                        f"[alerts] {severity} names route {name!r}, which is not defined; "
                        f"defined: {', '.join(names) or 'none'}"
                    )
        for route in self.chat:
            for person in route.people:
                if person not in self.people:
                    raise ValueError(
                        f"chat route {route.name!r} names person {person!r}; add them to "
                        "[alerts.people] with their accounts"
                    )
        if self.email and self.smtp is None:
            raise ValueError("email routes need [alerts.smtp] (host, port, sender)")
        return self

    def routes(self) -> list[ChatRoute | EmailRoute | WebhookRoute]:
        return [*self.chat, *self.email, *self.webhook]

    def route(self, name: str) -> ChatRoute | EmailRoute | WebhookRoute | None:
        return next((r for r in self.routes() if r.name == name), None)
