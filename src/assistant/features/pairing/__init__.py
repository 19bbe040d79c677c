"""Pairing: the owner lets a stranger in with ``/pair CODE [role]`` in chat (or
``assistant pairing approve`` on the command line, or the Approve button of the note a new
request sends with ``[access] pairing_notify``). Strangers get their code from the router's
gate, which every assistant has; this feature is how the owner answers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.feature import PAIRING_DESK, Feature

if TYPE_CHECKING:
    from assistant.config import Config
    from assistant.core.messages import ChatRef, SentMessage
    from assistant.kernel import Context
    from assistant.store.pairing import PairingRequest

NAME = "pairing"
NOTES_PER_HOUR = 10  # notes to the owners; beyond them, /pair lists the requests


def enabled(config: Config) -> bool:
    return True  # the owner may always answer a code (pairing off: nobody gets one)


async def setup(ctx: Context) -> Feature:
    from collections import deque

    import structlog

    from assistant.core import i18n
    from assistant.core.commands import Action
    from assistant.core.errors import ChannelError
    from assistant.core.roles import Permission
    from assistant.features.pairing.commands import PREFIX, PairingCommands

    log = structlog.get_logger(__name__)

    async def notify(chat: ChatRef, text: str) -> list[SentMessage]:
        return await ctx.router.notify(chat, text)

    people = PairingCommands(pairing=ctx.pairing, notify=notify, locale_of=ctx.locales.of_person)
    noted: deque[float] = deque()  # when the notes of the last hour went

    async def announce(request: PairingRequest) -> None:
        """A new request: the owners and admins get a note with Approve and Reject, at most
        NOTES_PER_HOUR an hour (a crowd of new accounts must neither flood the owners nor
        hold up the intake this runs in); every stranger still gets their code."""
        if not ctx.config.access.pairing_notify:
            return
        now = ctx.clock.time()
        while noted and noted[0] <= now - 3600:
            noted.popleft()
        if len(noted) >= NOTES_PER_HOUR:
            log.info("pairing.note_skipped", channel=request.channel, per_hour=NOTES_PER_HOUR)
            return
        noted.append(now)
        for chat in await ctx.access.approver_chats(set(ctx.router.channels)):
            with i18n.using(await ctx.locales.of_person(chat.channel, chat.chat_id)):
                text, buttons = people.note(request)
            try:  # plain: the stranger chose their name
                await ctx.router.notify(chat, text, buttons=buttons, plain=True)
            except ChannelError as exc:
                log.warning("pairing.announce_failed", channel=chat.channel, error=str(exc))

    ctx.pairing.subscribe(announce)
    ctx.ports.provide(PAIRING_DESK, people)
    return Feature(
        NAME,
        commands=people.commands(),
        actions=(Action(PREFIX, Permission.ADMIN, people.press),),
    )


def __getattr__(name: str) -> object:
    if name == "CLI":  # the command line, imported only by the command line
        from assistant.features.pairing.cli import PAIRING

        return (PAIRING,)
    raise AttributeError(name)
