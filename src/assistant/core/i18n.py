"""The user's language: gettext catalogs (``assistant/locale/<lang>/LC_MESSAGES/assistant.mo``,
compiled from the ``.po`` files with Babel) and the locale of whoever is being answered.

Every sentence the assistant writes itself goes through ``tr()`` (or ``ngettext``); a module
constant is marked with ``N_()`` and translated where it is used. (Not ``_``: that name is
every module's throwaway variable, and a ``for _ in ...`` would shadow it.) The locale is a context
variable: the router sets it for each message it handles (``using``), so a reply, a card or a
hint written anywhere below is in that person's language. Translations load once per locale.

Maintaining the catalogs (docs/architecture.md#languages):

    pybabel extract -k tr -k N_ -k ngettext:1,2 --no-location --sort-output \\
        -o src/assistant/locale/assistant.pot src/assistant
    pybabel update -i src/assistant/locale/assistant.pot -d src/assistant/locale -D assistant
    pybabel compile -d src/assistant/locale -D assistant
"""

from __future__ import annotations

import gettext
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

DOMAIN = "assistant"
LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"
LOCALES = ("en", "zh_CN")  # the catalogs there are; the first is the source language
DEFAULT = "en"

_current: ContextVar[str] = ContextVar("assistant_locale", default=DEFAULT)
_zone: ContextVar[str | None] = ContextVar("assistant_zone", default=None)
_catalogs: dict[str, gettext.NullTranslations] = {}
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def catalog(locale: str) -> gettext.NullTranslations:
    found = _catalogs.get(locale)
    if found is None:
        found = gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[locale], fallback=True)
        _catalogs[locale] = found
    return found


def tr(message: str) -> str:
    """``message`` in the current locale."""
    locale = _current.get()
    if locale == DEFAULT:
        return message
    return catalog(locale).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return catalog(_current.get()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark ``message`` for the catalogs; translate it with ``tr()`` where it is used."""
    return message


def current() -> str:
    return _current.get()


@contextmanager
def using(locale: str | None) -> Iterator[str]:
    """Answer in ``locale`` (one of ``LOCALES``) inside the block."""
    token = _current.set(locale if locale in LOCALES else DEFAULT)
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def set_locale(locale: str | None) -> None:
    """Set the locale for the rest of the current task (the router, per message)."""
    _current.set(locale if locale in LOCALES else DEFAULT)


def set_zone(zone: str | None) -> None:
    """The time zone of the person being answered, for the rest of the current task."""
    _zone.set(zone)


def current_zone(default: str) -> str:
    """The person's own time zone (/tz), else ``default`` (``[assistant] timezone``)."""
    return _zone.get() or default


def normalize(tag: str | None) -> str | None:
    """A language tag as platforms send it ("zh-hans", "zh_CN", "en-US", "zh") → one of
    ``LOCALES``, or None when we have no catalog for it."""
    if not tag:
        return None
    base = tag.strip().replace("-", "_").lower().split("_", 1)[0]
    if base == "zh":
        return "zh_CN"
    if base == "en":
        return "en"
    return None


def accept_language(header: str | None) -> str | None:
    """The first language of an HTTP ``Accept-Language`` header we have a catalog for."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, index, tag))
    for quality, _index, tag in sorted(ranked):
        if quality < 0 and (found := normalize(tag)):
            return found
    return None


def from_text(text: str) -> str | None:
    """A hint from what someone wrote: Chinese characters → zh_CN; else no opinion."""
    return "zh_CN" if _CJK.search(text[:200]) else None
