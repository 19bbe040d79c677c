"""Sections of the chat platform channels."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from assistant.config.base import Section, blank_to_none, http_url


class TelegramSection(Section):
    enabled: bool = False
    token: SecretStr | None = None
    mode: Literal["polling", "webhook"] = "polling"
    api_base: str = "https://api.telegram.org"
    poll_timeout: int = Field(30, ge=1, le=50)
    watchdog: float = Field(120.0, ge=5)
    webhook_url: str | None = None
    webhook_path: str = Field("/telegram/webhook", pattern=r"^/[A-Za-z0-9/_.-]*$")
    webhook_secret: SecretStr | None = None
    stream: bool = True
    max_file_mb: float = Field(20.0, gt=0, le=2000)
    max_document_chars: int = Field(20000, ge=1000)
    rate_limit: float = Field(30.0, ge=0)
    group_rate_limit: float = Field(20.0, ge=0)

    _blank = field_validator("token", "webhook_secret", mode="before")(blank_to_none)

    _url = field_validator("api_base")(http_url)

    @model_validator(mode="after")
    def _complete(self) -> TelegramSection:
        if not self.enabled:
            return self
        if self.token is None:
            raise ValueError(
                'telegram is enabled but has no token; set token = "${TELEGRAM_BOT_TOKEN}" '
                "and put the token from @BotFather in the environment file"
            )
        if self.watchdog <= self.poll_timeout + 5:
            raise ValueError(
                f"watchdog ({self.watchdog:g}s) must exceed poll_timeout ({self.poll_timeout}s) "
                "by more than 5 seconds"
            )
        if self.mode == "webhook":
            if not self.webhook_url or not self.webhook_url.startswith("https://"):
                raise ValueError("webhook mode needs webhook_url, the public https:// address")
            secret = self.webhook_secret.get_secret_value() if self.webhook_secret else ""
            if not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", secret):
                raise ValueError(
                    "webhook mode needs webhook_secret: 16-256 characters of A-Z, a-z, 0-9, _ "
                    "and - (e.g. from `openssl rand -hex 32`)"
                )
        return self


FEISHU_DOMAINS = {"feishu": "https://open.feishu.cn", "lark": "https://open.larksuite.com"}
_LOOPBACK = re.compile(r"^http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$")


class FeishuSection(Section):
    enabled: bool = False
    app_id: str | None = None
    app_secret: SecretStr | None = None
    domain: str = "feishu"
    mode: Literal["websocket", "webhook"] = "websocket"
    heartbeat_timeout: float = Field(300.0, ge=2)
    webhook_path: str = Field("/feishu/events", pattern=r"^/[A-Za-z0-9/_.-]*$")
    verification_token: SecretStr | None = None
    encrypt_key: SecretStr | None = None
    timestamp_window: float = Field(300.0, ge=5)
    stream: bool = True
    max_file_mb: float = Field(20.0, gt=0, le=100)
    max_document_chars: int = Field(20000, ge=1000)

    _blank = field_validator(
        "app_id", "app_secret", "verification_token", "encrypt_key", mode="before"
    )(blank_to_none)

    @field_validator("domain")
    @classmethod
    def _known_domain(cls, value: str) -> str:
        if value in FEISHU_DOMAINS:
            return value
        if re.match(r"^https://[^\s/]+$", value.rstrip("/")) or _LOOPBACK.match(value.rstrip("/")):
            return value.rstrip("/")
        raise ValueError(
            f"{value!r} is not a Feishu domain; use 'feishu' (China), 'lark' (Lark "
            "international) or the https:// address of the Open API (no path)"
        )

    @property
    def base_url(self) -> str:
        """The Open API root, e.g. https://open.feishu.cn."""
        return FEISHU_DOMAINS.get(self.domain, self.domain)

    @model_validator(mode="after")
    def _complete(self) -> FeishuSection:
        if not self.enabled:
            return self
        if not self.app_id or self.app_secret is None:
            raise ValueError(
                'feishu is enabled but has no app_id or app_secret; set app_id = "cli_..." and '
                'app_secret = "${FEISHU_APP_SECRET}" from the app\'s Credentials page in the '
                "developer console"
            )
        if self.mode == "webhook" and self.verification_token is None:
            raise ValueError(
                "webhook mode needs verification_token (developer console → Events & Callbacks "
                '→ Encryption Strategy); set verification_token = "${FEISHU_VERIFICATION_TOKEN}"'
            )
        return self


class WhatsAppSection(Section):
    """The WhatsApp Business Cloud API: a phone number of a Meta app, receiving by webhook."""

    enabled: bool = False
    phone_number_id: str | None = None
    token: SecretStr | None = None
    app_secret: SecretStr | None = None
    verify_token: SecretStr | None = None
    api_base: str = "https://graph.facebook.com/v23.0"
    webhook_path: str = Field("/whatsapp/webhook", pattern=r"^/[A-Za-z0-9/_.-]*$")
    mark_read: bool = True
    # an approved message template for replies outside the 24-hour window; none: the reply is
    # recorded as undelivered and the owner is told on another channel
    template_name: str | None = None
    template_language: str = "en_US"
    template_with_text: bool = False  # fill the template's one body parameter with the reply
    # the template's quick-reply buttons: a reply's buttons (an approval's Approve, Deny) go in
    # them, in order, when it has no more than this many
    template_buttons: int = Field(0, ge=0, le=10)
    max_file_mb: float = Field(16.0, gt=0, le=100)
    max_document_chars: int = Field(20000, ge=1000)

    _blank = field_validator(
        "phone_number_id", "token", "app_secret", "verify_token", "template_name", mode="before"
    )(blank_to_none)

    _url = field_validator("api_base")(http_url)

    @model_validator(mode="after")
    def _complete(self) -> WhatsAppSection:
        if not self.enabled:
            return self
        missing = [
            key
            for key in ("phone_number_id", "token", "app_secret", "verify_token")
            if getattr(self, key) is None
        ]
        if missing:
            raise ValueError(
                f"whatsapp is enabled but has no {', '.join(missing)}; see docs/whatsapp.md: "
                "phone_number_id from the app's WhatsApp → API Setup page, "
                'token = "${WHATSAPP_TOKEN}", app_secret = "${WHATSAPP_APP_SECRET}", '
                'verify_token = "${WHATSAPP_VERIFY_TOKEN}"'
            )
        if not self.phone_number_id or not self.phone_number_id.isdigit():
            raise ValueError(f"phone_number_id {self.phone_number_id!r} is not a number")
        return self


class SlackSection(Section):
    """A Slack app's bot: Socket Mode (no public address) or the Events API on the gateway."""

    enabled: bool = False
    bot_token: SecretStr | None = None  # xoxb-…
    app_token: SecretStr | None = None  # xapp-… (Socket Mode)
    signing_secret: SecretStr | None = None  # the Events API's request signatures
    mode: Literal["socket", "events"] = "socket"
    api_base: str = "https://slack.com/api/"
    webhook_path: str = Field("/slack/events", pattern=r"^/[A-Za-z0-9/_.-]*$")
    timestamp_window: float = Field(300.0, ge=5)
    stream: bool = True
    max_file_mb: float = Field(20.0, gt=0, le=1000)
    max_document_chars: int = Field(20000, ge=1000)

    _blank = field_validator("bot_token", "app_token", "signing_secret", mode="before")(
        blank_to_none
    )

    _url = field_validator("api_base")(http_url)

    @model_validator(mode="after")
    def _complete(self) -> SlackSection:
        if not self.enabled:
            return self
        token = self.bot_token.get_secret_value() if self.bot_token else ""
        if not token.startswith("xoxb-"):
            raise ValueError(
                "slack is enabled but bot_token is not a bot token (xoxb-…); set bot_token = "
                '"${SLACK_BOT_TOKEN}" from the app\'s OAuth & Permissions page'
            )
        if self.mode == "socket":
            app = self.app_token.get_secret_value() if self.app_token else ""
            if not app.startswith("xapp-"):
                raise ValueError(
                    "Socket Mode needs app_token, an app-level token (xapp-…) with "
                    'connections:write; set app_token = "${SLACK_APP_TOKEN}" (Basic Information '
                    "→ App-Level Tokens)"
                )
        elif self.signing_secret is None:
            raise ValueError(
                "events mode needs signing_secret (Basic Information → App Credentials); set "
                'signing_secret = "${SLACK_SIGNING_SECRET}"'
            )
        return self
