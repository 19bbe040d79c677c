"""Pairing notes ([access] pairing_notify) when many strangers write: each stranger still gets
their code, but the owners get a bounded number of notes per hour (/pair lists every
request), so a crowd of new accounts can neither flood the owners nor hold up intake."""

from __future__ import annotations

from assistant.core.messages import ChatRef, InboundMessage, Sender
from assistant.router.router import SubmitOutcome
from tests.conftest import OWNER
from tests.helpers import FakeClock

STRANGERS = 30


def stranger(n: int) -> InboundMessage:
    user = str(70_000 + n)
    return InboundMessage(
        chat=ChatRef("telegram", user),
        sender=Sender(user, name=f"S{n}"),
        text="hi",
        platform_id=f"s{n}",
    )


async def test_a_crowd_of_strangers_gets_codes_and_the_owner_a_bounded_number_of_notes(
    make_config, start_harness
):
    clock = FakeClock()
    h = await start_harness(make_config(access={"pairing_notify": True}), clock=clock)
    for n in range(STRANGERS):
        assert await h.router.submit(stranger(n)) is SubmitOutcome.IGNORED
    codes = [m for m in h.channel.sent if m.chat.chat_id != str(OWNER)]
    notes = [m for m in h.channel.sent if m.chat.chat_id == str(OWNER) and m.buttons]
    assert len(codes) == STRANGERS  # everyone got their code
    assert 1 <= len(notes) <= 10
    listed = await h.ask("/pair")
    assert len(listed.splitlines()) == 1 + 20 + 1  # the newest 20 and "… and 10 older"
    clock.advance(3601)
    assert await h.router.submit(stranger(STRANGERS)) is SubmitOutcome.IGNORED
    later = [m for m in h.channel.sent if m.chat.chat_id == str(OWNER) and m.buttons]
    assert len(later) == len(notes) + 1  # an hour later, notes go again
