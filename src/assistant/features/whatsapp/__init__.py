"""WhatsApp (the Business Cloud API): a phone number as a chat channel, by webhook on the
gateway. Needs no library of its own: the adapter speaks the Graph API over our session."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.feature import Feature, Reloaded, Route

if TYPE_CHECKING:
    import aiohttp

    from assistant.channels.whatsapp.adapter import WhatsAppChannel
    from assistant.config import Config
    from assistant.core.health import Health
    from assistant.core.messages import ChatRef
    from assistant.core.redact import Redactor
    from assistant.kernel import Context

NAME = "whatsapp"
CHANNEL = True


def enabled(config: Config) -> bool:
    return config.whatsapp.enabled


def channel(
    config: Config, *, session: aiohttp.ClientSession, health: Health, redactor: Redactor
) -> WhatsAppChannel:
    """An adapter that can send but not receive (the command line's notices), not knowing
    the 24-hour window: WhatsApp's own refusal is logged."""
    from assistant.channels.whatsapp.adapter import WhatsAppChannel

    return WhatsAppChannel(config.whatsapp, session=session, health=health, redactor=redactor)


async def setup(ctx: Context) -> Feature:
    from assistant.channels.whatsapp.adapter import WhatsAppChannel
    from assistant.features.whatsapp.owner import tell_owners
    from assistant.store.dead_letters import DeadLetters
    from assistant.store.windows import ReplyWindows

    section = ctx.config.whatsapp
    assert section.phone_number_id is not None

    async def undeliverable(chat: ChatRef, text: str | None) -> None:
        await tell_owners(ctx, chat, text)

    adapter = await ctx.stack.enter_async_context(
        WhatsAppChannel(
            section,
            session=ctx.session,
            health=ctx.health,
            redactor=ctx.redactor,
            clock=ctx.clock,
            windows=ReplyWindows(ctx.db, NAME, section.phone_number_id),
            dead_letters=DeadLetters(ctx.db),
            undeliverable=undeliverable,
        )
    )
    ctx.media.set_limits(
        NAME,
        max_bytes=int(section.max_file_mb * 1024 * 1024),
        max_document_chars=section.max_document_chars,
    )

    async def reload(old: Config, new: Config) -> Reloaded:
        return Reloaded()  # the number's settings take effect at the next start

    return Feature(
        NAME,
        channels=(adapter,),
        routes=tuple(Route(*r) for r in adapter.routes()),
        reload=reload,
    )


def __getattr__(name: str) -> object:
    if name == "CHECKS":  # the doctor's, imported only by the doctor
        from assistant.features.whatsapp.checks import CHECKS

        return CHECKS
    raise AttributeError(name)
