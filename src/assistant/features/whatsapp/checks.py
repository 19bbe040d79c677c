"""The doctor's look at the WhatsApp number: the token reads the phone number (a call that
only reads)."""

from __future__ import annotations

from assistant.config import secret_values
from assistant.core.redact import Redactor
from assistant.feature import Check, CheckContext, Finding, Status, skipped_without_config


async def check_whatsapp(ctx: CheckContext) -> list[Finding]:
    """The WhatsApp Cloud API token and the phone number it serves."""
    name = "whatsapp"
    config = ctx.config
    if config is None:
        return skipped_without_config(name)
    settings = config.whatsapp
    if not settings.enabled:
        return [Finding(name, Status.SKIP, "disabled ([whatsapp] enabled = false)")]
    from assistant.channels.whatsapp.api import GraphAPI
    from assistant.core.errors import ChannelAuthError, ChannelError

    assert settings.phone_number_id is not None
    assert settings.token is not None
    api = GraphAPI(
        ctx.session,
        base_url=settings.api_base,
        phone_number_id=settings.phone_number_id,
        token=settings.token.get_secret_value(),
        redactor=Redactor(secret_values(config)),
        timeout=ctx.timeout,
        attempts=1,
    )
    try:
        info = await api.phone_info()
    except ChannelAuthError as exc:
        return [Finding(name, Status.FAIL, str(exc), f"see {ctx.doc('whatsapp.md')}, section 1")]
    except ChannelError as exc:
        return [
            Finding(
                name,
                Status.FAIL,
                f"cannot read phone number {settings.phone_number_id}: {exc}",
                "check phone_number_id, DNS and the firewall (or HTTPS_PROXY in the env file)",
            )
        ]
    number = info.get("display_phone_number") or settings.phone_number_id
    shown = info.get("verified_name") or ""
    return [Finding(name, Status.OK, f"token accepted; number {number} {shown}".rstrip())]


CHECKS = (Check("whatsapp", check_whatsapp),)
