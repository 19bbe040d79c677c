"""Pairing: the owner lets a stranger in with ``/pair CODE [role]`` in chat (or
``assistant pairing approve`` on the command line). Strangers get their code from the router's
gate, which every assistant has; this feature is how the owner answers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.feature import PAIRING_DESK, Feature

if TYPE_CHECKING:
    from assistant.config import Config
    from assistant.core.messages import ChatRef, SentMessage
    from assistant.kernel import Context

NAME = "pairing"


def enabled(config: Config) -> bool:
    return True  # the owner may always answer a code (pairing off: nobody gets one)


async def setup(ctx: Context) -> Feature:
    from assistant.features.pairing.commands import PairingCommands

    async def notify(chat: ChatRef, text: str) -> list[SentMessage]:
        return await ctx.router.notify(chat, text)

    people = PairingCommands(pairing=ctx.pairing, notify=notify, locale_of=ctx.locales.of_person)
    ctx.ports.provide(PAIRING_DESK, people)
    return Feature(NAME, commands=people.commands())


def __getattr__(name: str) -> object:
    if name == "CLI":  # the command line, imported only by the command line
        from assistant.features.pairing.cli import PAIRING

        return (PAIRING,)
    raise AttributeError(name)
