"""The doctor's look at the Feishu app: its credentials (a tenant token) and its bot's info,
both calls that only read."""

from __future__ import annotations

from assistant.config import secret_values
from assistant.core.redact import Redactor
from assistant.feature import Check, CheckContext, Finding, Status, skipped_without_config


async def check_feishu(ctx: CheckContext) -> list[Finding]:
    """The Feishu app's credentials and its bot (a tenant token, then the bot's info)."""
    name = "feishu"
    config = ctx.config
    if config is None:
        return skipped_without_config(name)
    settings = config.feishu
    if not settings.enabled:
        return [Finding(name, Status.SKIP, "disabled ([feishu] enabled = false)")]
    from assistant.channels.feishu.api import FeishuAPI
    from assistant.core.errors import ChannelAuthError, ChannelError

    assert settings.app_id is not None
    assert settings.app_secret is not None
    api = FeishuAPI(
        ctx.session,
        base_url=settings.base_url,
        app_id=settings.app_id,
        app_secret=settings.app_secret.get_secret_value(),
        redactor=Redactor(secret_values(config)),
        timeout=ctx.timeout,
        attempts=1,
    )
    try:
        bot = await api.bot_info()
    except ChannelAuthError as exc:
        return [Finding(name, Status.FAIL, str(exc), f"see {ctx.doc('feishu.md')}, section 1")]
    except ChannelError as exc:
        return [
            Finding(
                name,
                Status.FAIL,
                f"cannot reach {settings.base_url}: {exc}",
                "check DNS, the firewall, or set HTTPS_PROXY in the env file",
            )
        ]
    bot_name = bot.get("app_name") or bot.get("open_id")
    return [Finding(name, Status.OK, f"credentials accepted; bot {bot_name} ({settings.mode})")]


CHECKS = (Check("feishu", check_feishu),)
