"""The message catalogs: every sentence marked in the code is in both catalogs, translated
into Chinese with the same placeholders, and the compiled .mo files match the .po files."""

from __future__ import annotations

import gettext
import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from assistant.core import i18n

SRC = Path(i18n.__file__).resolve().parents[1]
KEYWORDS = {"tr": None, "N_": None, "ngettext": (1, 2)}


def _marked() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        SRC, method_map=[("**.py", "python")], keywords=KEYWORDS, comment_tags=()
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _catalog(locale: str):
    with (i18n.LOCALE_DIR / locale / "LC_MESSAGES" / "assistant.po").open("rb") as f:
        return read_po(f, locale=locale)


def _fields(text: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name}


MARKED = _marked()


def test_strings_are_marked():
    assert len(MARKED) > 100


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_every_marked_string_is_in_the_catalog(locale):
    catalog = _catalog(locale)
    present = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
    missing = sorted(MARKED - present)
    assert not missing, (
        f"{locale} lacks {len(missing)} string(s); run the pybabel extract/update commands in "
        f"assistant/core/i18n.py and translate them: {missing[:5]}"
    )
    stale = sorted(present - MARKED)
    assert not stale, f"{locale} has strings no code uses any more: {stale[:5]}"


def test_chinese_is_complete_with_the_same_placeholders():
    for message in _catalog("zh_CN"):
        if not message.id:
            continue
        source = message.id if isinstance(message.id, str) else message.id[0]
        translated = message.string if isinstance(message.string, str) else message.string[0]
        assert translated, f"no Chinese for {source!r}"
        assert "fuzzy" not in message.flags, f"fuzzy: {source!r}"
        assert _fields(translated) == _fields(source), f"placeholders differ: {source!r}"
        translated.format(**dict.fromkeys(_fields(source), 1))  # formats without error


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_compiled_catalogs_match(locale):
    with (i18n.LOCALE_DIR / locale / "LC_MESSAGES" / "assistant.mo").open("rb") as f:
        compiled = gettext.GNUTranslations(f)
    for message in _catalog(locale):
        if message.id and isinstance(message.id, str):
            expected = message.string or message.id
            assert compiled.gettext(message.id) == expected, (
                f"{locale}/assistant.mo is stale: run pybabel compile -d src/assistant/locale "
                "-D assistant"
            )


@pytest.mark.parametrize(
    ("tag", "locale"),
    [
        ("zh", "zh_CN"),
        ("zh-hans", "zh_CN"),
        ("zh-CN", "zh_CN"),
        ("zh_TW", "zh_CN"),
        ("en", "en"),
        ("en-GB", "en"),
        ("de", None),
        ("", None),
        (None, None),
    ],
)
def test_language_tags(tag, locale):
    assert i18n.normalize(tag) == locale


def test_accept_language_and_text_hints():
    assert i18n.accept_language("de-DE,de;q=0.9,zh-CN;q=0.8,en;q=0.7") == "zh_CN"
    assert i18n.accept_language("fr, en;q=0.5") == "en"
    assert i18n.accept_language("fr") is None
    assert i18n.from_text("明天早上9点提醒我") == "zh_CN"
    assert i18n.from_text("remind me at 9") is None


def test_using_switches_and_restores():
    assert i18n.tr("Not set up yet:") == "Not set up yet:"
    with i18n.using("zh_CN"):
        assert i18n.tr("Not set up yet:") == "尚未设置："
        with i18n.using("xx"):
            assert i18n.current() == "en"
    assert i18n.current() == "en"
