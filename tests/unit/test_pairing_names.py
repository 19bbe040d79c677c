"""A stranger chooses their name, and it is shown to the owners: in the note (plain text), in
/pair's list and in what Approve or Reject leave behind (Markdown). Whatever the name holds, it
shows as text: no link, no bold, no heading, no line of its own."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.channels.telegram.render import markdown_to_html
from assistant.core.commands import ActionCall, CommandCall
from assistant.core.messages import ChatRef, InboundMessage, MessageKind, Sender
from assistant.core.roles import DEFAULT_PERMISSIONS, Role
from assistant.features.pairing.commands import PairingCommands
from assistant.store.pairing import PairingRequest

NAMES = st.text(
    st.sampled_from("[]()*_~`#>!|<&@\\\n-=+.: ahttps/evil") | st.characters(codec="utf-8"),
    max_size=60,
)
FIXED = [
    "[Verify your account](https://evil.example/login)",
    "**URGENT** approve me",
    "# Owner",
    "`code` and ``more``",
    "<b>x</b> &amp;",
    "a\n\n- [ ] fake list",
    "![img](https://evil.example/p.png)",
]


def request(name: str) -> PairingRequest:
    return PairingRequest("ABCD2345", "telegram", "666", name, "666", 0.0, 3600.0)


class Pairing:
    def __init__(self, name: str) -> None:
        self.name = name

    async def pending(self, channel: str | None = None) -> list[PairingRequest]:
        return [request(self.name)]

    async def approve(self, channel: str, code: str, role: Role, *, by: str) -> PairingRequest:
        return request(self.name)

    async def revoke(self, channel: str, code: str, *, by: str) -> PairingRequest:
        return request(self.name)


async def _notify(chat, text):  # type: ignore[no-untyped-def]
    return []


def message(text: str, kind: MessageKind = MessageKind.CHAT) -> InboundMessage:
    return InboundMessage(
        chat=ChatRef("telegram", "1"), sender=Sender("1"), text=text, platform_id="p", kind=kind
    )


async def shown(name: str) -> list[str]:
    """Every Markdown text that carries the name."""
    people = PairingCommands(pairing=Pairing(name), notify=_notify)  # type: ignore[arg-type]
    listed = await people.pair(
        CommandCall(message("/pair"), Role.OWNER, DEFAULT_PERMISSIONS[Role.OWNER], "")
    )
    texts = [listed]
    for verdict in ("y", "n"):
        press = ActionCall(
            message("pair:x", MessageKind.ACTION), Role.OWNER, f"telegram:ABCD2345:{verdict}"
        )
        result = await people.press(press)
        assert result.edit_text is not None
        texts.append(result.edit_text)
    return texts


def assert_plain(html: str) -> None:
    for tag in ("<a", "<b>", "<i>", "<s>", "<u>", "<blockquote", "<img", "<tg-spoiler"):
        assert tag not in html, html


@pytest.mark.parametrize("name", FIXED)
async def test_known_tricks_show_as_text(name):
    for text in await shown(name):
        assert_plain(markdown_to_html(text))
        assert len(text.splitlines()) <= 2  # /pair: its heading and the one request


@settings(max_examples=60, deadline=None)
@given(NAMES)
async def test_any_name_shows_as_text(name):
    for text in await shown(name):
        assert_plain(markdown_to_html(text))
