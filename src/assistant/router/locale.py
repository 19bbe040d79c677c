"""Whose language and time zone a reply is written in.

Language: the person's own choice (/lang), else the platform's hint (Telegram's
``language_code``, the Feishu tenant's region, a browser's ``Accept-Language``: the channel
puts it in ``meta["language"]``), else the script of what they wrote (Chinese characters), else
``[assistant] language``. Time zone: the person's (/tz), else ``[assistant] timezone``.

A message to someone who did not write (an approval card, a reminder firing) uses their /lang,
else the hint their own last message gave (remembered while the process runs), else the default.
"""

from __future__ import annotations

from collections.abc import Callable

from assistant.config import Config
from assistant.core import i18n
from assistant.core.bounded import BoundedDict
from assistant.core.messages import InboundMessage, MessageKind
from assistant.router.middleware import Handler, Middleware
from assistant.router.work import Work
from assistant.store.people import People


def person_of(message: InboundMessage) -> str:
    return f"{message.chat.channel}:{message.sender.user_id}"


def hinted(message: InboundMessage) -> str | None:
    """What the platform or the message itself says about the sender's language."""
    return i18n.normalize(message.meta.get("language")) or i18n.from_text(message.text)


class Locales:
    def __init__(self, people: People, config: Callable[[], Config]) -> None:
        self.people = people
        self._config = config
        self._heard: BoundedDict[str, str] = BoundedDict(4096)  # person → their last hint

    def default(self) -> str:
        return self._config().assistant.language

    def for_stranger(self, message: InboundMessage) -> str:
        """Nothing stored about a stranger: the hints (remembered for their welcome, once
        they are let in), or the default."""
        hint = hinted(message)
        if hint is not None:
            self._heard[person_of(message)] = hint
        return hint or self.default()

    def guess(self, message: InboundMessage) -> str:
        """Without the database (it may be what is failing): the hints, else what this
        process heard from the sender before, else the default."""
        return hinted(message) or self._heard.get(person_of(message)) or self.default()

    async def locale_of(self, message: InboundMessage) -> str:
        return (await self.resolve(message))[0]

    async def resolve(self, message: InboundMessage) -> tuple[str, str | None]:
        """(locale, the person's own time zone or None)."""
        person = person_of(message)
        settings = await self.people.get(person)
        if message.kind is MessageKind.SCHEDULED:  # a job firing: its creator's last hint
            hint = self._heard.get(person) or hinted(message)
        else:
            hint = hinted(message)
            if hint is not None:
                self._heard[person] = hint
        locale = settings.language or hint or self.default()
        return locale, settings.timezone

    async def of_person(self, channel: str, user_id: str) -> str:
        """For a message to someone who did not write (an approver, an alert's recipient)."""
        person = f"{channel}:{user_id}"
        settings = await self.people.get(person)
        return settings.language or self._heard.get(person) or self.default()

    async def apply(self, work: Work) -> None:
        locale, zone = await self.resolve(work.message)
        i18n.set_locale(locale)
        i18n.set_zone(zone)


def localize(locales: Locales) -> Middleware:
    """Middleware: the rest of this work speaks the sender's language, in their time zone."""

    async def localized(handler: Handler, work: Work) -> None:
        await locales.apply(work)
        await handler(work)

    return localized
