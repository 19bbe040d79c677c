"""The doctor's look at the Slack app: the bot token (``auth.test``, a call that only reads)."""

from __future__ import annotations

from assistant.config import secret_values
from assistant.core.redact import Redactor
from assistant.feature import Check, CheckContext, Finding, Status, skipped_without_config


async def check_slack(ctx: CheckContext) -> list[Finding]:
    """The Slack bot token and the bot it belongs to."""
    name = "slack"
    config = ctx.config
    if config is None:
        return skipped_without_config(name)
    settings = config.slack
    if not settings.enabled:
        return [Finding(name, Status.SKIP, "disabled ([slack] enabled = false)")]
    from assistant.channels.slack.api import SlackAPI
    from assistant.core.errors import ChannelAuthError, ChannelError

    assert settings.bot_token is not None
    api = SlackAPI(
        ctx.session,
        base_url=settings.api_base,
        token=settings.bot_token.get_secret_value(),
        redactor=Redactor(secret_values(config)),
        timeout=int(ctx.timeout),
        attempts=1,
    )
    try:
        info = await api.call("auth.test")
    except ChannelAuthError as exc:
        return [Finding(name, Status.FAIL, str(exc), f"see {ctx.doc('slack.md')}, section 1")]
    except ChannelError as exc:
        return [
            Finding(
                name,
                Status.FAIL,
                f"cannot reach {settings.api_base}: {exc}",
                "check DNS, the firewall, or set HTTPS_PROXY in the env file",
            )
        ]
    bot = info.get("user") or info.get("user_id")
    return [Finding(name, Status.OK, f"token accepted; bot {bot} ({settings.mode})")]


CHECKS = (Check("slack", check_slack),)
