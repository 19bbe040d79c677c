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
    found = [Finding(name, Status.OK, f"token accepted; bot {bot} ({settings.mode})")]
    if settings.mode == "socket" and settings.app_token is not None:
        found.append(await _check_app_token(ctx, settings.app_token.get_secret_value()))
    return found


async def _check_app_token(ctx: CheckContext, app_token: str) -> Finding:
    """Socket Mode's app-level token: ``apps.connections.open`` hands out a websocket address
    (nothing connects to it)."""
    from assistant.channels.slack.api import SlackAPI
    from assistant.core.errors import ChannelAuthError, ChannelError

    assert ctx.config is not None
    api = SlackAPI(
        ctx.session,
        base_url=ctx.config.slack.api_base,
        token=app_token,
        redactor=Redactor(secret_values(ctx.config)),
        timeout=int(ctx.timeout),
        attempts=1,
    )
    name = "slack socket mode"
    try:
        await api.call("apps.connections.open")
    except ChannelAuthError:
        return Finding(
            name,
            Status.FAIL,
            "Slack refused the app-level token",
            "check [slack] app_token (Basic Information → App-Level Tokens, with "
            f"connections:write); see {ctx.doc('slack.md')}, section 2",
        )
    except ChannelError as exc:
        return Finding(name, Status.FAIL, f"cannot open a Socket Mode connection: {exc}")
    return Finding(name, Status.OK, "app-level token accepted")


CHECKS = (Check("slack", check_slack),)
