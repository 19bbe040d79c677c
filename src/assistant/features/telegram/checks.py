"""The doctor's look at the Telegram bot: its token (getMe) and its webhook (getWebhookInfo),
both calls that only read."""

from __future__ import annotations

from typing import Any

from assistant.config import secret_values
from assistant.core.redact import Redactor
from assistant.feature import Check, CheckContext, Finding, Status, skipped_without_config

BOTFATHER_FIX = (
    "put the token from @BotFather (/mybots → API Token) in the env file as "
    "TELEGRAM_BOT_TOKEN and restart"
)


async def check_telegram(ctx: CheckContext) -> list[Finding]:
    name = "telegram"
    config = ctx.config
    if config is None:
        return skipped_without_config(name)
    settings = config.telegram
    if not settings.enabled:
        return [Finding(name, Status.SKIP, "disabled ([telegram] enabled = false)")]
    assert settings.token is not None
    redactor = Redactor(secret_values(config))
    base = f"{settings.api_base}/bot{settings.token.get_secret_value()}"
    me = await _telegram_call(ctx, f"{base}/getMe")
    if isinstance(me, str):
        return [Finding(name, Status.FAIL, redactor.text(me), _telegram_fix(me, settings.api_base))]
    bot = f"@{me.get('username', '?')}"
    info = await _telegram_call(ctx, f"{base}/getWebhookInfo")
    if isinstance(info, str):
        return [Finding(name, Status.WARN, f"{bot}; webhook state unknown: {redactor.text(info)}")]
    url = str(info.get("url") or "")
    problem = str(info.get("last_error_message") or "")
    if settings.mode == "polling":
        if url:
            return [
                Finding(
                    name,
                    Status.WARN,
                    f"{bot}, polling mode, but a webhook is set ({url}); the assistant deletes "
                    "it when it starts polling, unless another program keeps setting it",
                )
            ]
        return [Finding(name, Status.OK, f"{bot}, polling mode, no webhook set")]
    expected = (settings.webhook_url or "").rstrip("/") + settings.webhook_path
    if url != expected:
        shown = url or "none"
        return [
            Finding(
                name,
                Status.FAIL,
                f"{bot}, webhook mode, but the webhook is {shown}",
                f"expected {expected}: restart the service (it sets the webhook on start)",
            )
        ]
    if problem:
        return [
            Finding(
                name,
                Status.WARN,
                f"{bot}, webhook {url}; Telegram's last delivery error: {problem}",
            )
        ]
    pending = info.get("pending_update_count", 0)
    return [Finding(name, Status.OK, f"{bot}, webhook {url}, {pending} update(s) pending")]


async def _telegram_call(ctx: CheckContext, url: str) -> dict[str, Any] | str:
    """The result of the method ``url`` names (its last part), or why it failed."""
    from assistant.channels.telegram.api import BotAPI
    from assistant.core.errors import ChannelAuthError, ChannelError

    assert ctx.config is not None
    settings = ctx.config.telegram
    assert settings.token is not None
    token, redactor = settings.token.get_secret_value(), Redactor(secret_values(ctx.config))
    api = BotAPI(ctx.session, settings.api_base, token, redactor, timeout=ctx.timeout, attempts=1)
    try:
        result = await api.call(url.rsplit("/", 1)[-1])
    except ChannelAuthError as exc:  # the fix says what to do
        return str(exc).split(";", 1)[0]
    except ChannelError as exc:
        return str(exc)
    return result if isinstance(result, dict) else {}


def _telegram_fix(problem: str, api_base: str) -> str:
    if "rejected the bot token" in problem:
        return BOTFATHER_FIX
    return f"check that this machine reaches {api_base} (DNS, firewall, HTTPS_PROXY)"


CHECKS = (Check("telegram", check_telegram),)
