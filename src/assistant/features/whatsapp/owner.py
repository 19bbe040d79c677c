"""Telling the owners, on another channel, that a WhatsApp reply could not be delivered (the
person last wrote more than 24 hours ago and no template is configured)."""

from __future__ import annotations

import structlog

from assistant.core import i18n
from assistant.core.errors import ChannelError
from assistant.core.i18n import N_, tr
from assistant.core.messages import ChatRef
from assistant.kernel import Context

log = structlog.get_logger(__name__)

NOTE = N_(
    "A WhatsApp reply to {person} was not delivered: they last wrote more than 24 hours ago, "
    "and WhatsApp allows only an approved template after that (none is configured). "
    "The reply was:\n\n{text}"
)
FAILED_LATER = N_(
    "A WhatsApp message to {person} was not delivered: WhatsApp refused it after it was sent, "
    "because they last wrote more than 24 hours ago. Configure an approved template "
    "([whatsapp] template_name) to reach people after that."
)
QUOTE_LIMIT = 1500


async def tell_owners(ctx: Context, chat: ChatRef, text: str | None) -> int:
    """Send the note to each owner on a running channel but WhatsApp; how many got it."""
    running = ctx.router.channels
    told = 0
    text = text or ""
    quoted = text if len(text) <= QUOTE_LIMIT else text[: QUOTE_LIMIT - 1] + "…"
    late = not text
    for owner in ctx.config.access.owners:
        channel, _, user = owner.partition(":")
        if channel == chat.channel or channel not in running:
            continue
        with i18n.using(await ctx.locales.of_person(channel, user)):
            if late:
                note = tr(FAILED_LATER).format(person=chat.chat_id)
            else:
                note = tr(NOTE).format(person=chat.chat_id, text=quoted)
        try:
            await ctx.router.notify(ChatRef(channel, user), note, plain=True)
        except ChannelError as exc:
            log.warning("whatsapp.owner_not_told", channel=channel, error=str(exc))
            continue
        told += 1
    if not told:
        log.warning("whatsapp.nobody_told", person=chat.chat_id)
    return told
