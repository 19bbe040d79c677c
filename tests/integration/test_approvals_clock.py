"""Approval requests on a fake clock: they expire after ``[approvals] timeout`` of clock time,
not a moment before, and a decision within it wins. The real database, store and audit; the
approvers' chats are recorded."""

from __future__ import annotations

import asyncio

import pytest

from assistant.core.messages import ChatRef, Sender, SentMessage
from assistant.core.redact import Redactor
from assistant.security.approvals import ApprovalService
from assistant.store.approvals import ApprovalStore
from assistant.store.audit import AuditLog
from assistant.store.db import Database
from tests.conftest import until
from tests.helpers import FakeClock

APPROVER = ChatRef("telegram", "1001")
REQUESTER = Sender("1002", "Bea")
TIMEOUT = 600.0


class Approvers:
    """The approvers' side: what was sent to them and how it was edited afterwards."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.edits: list[str] = []

    async def chats(self) -> list[ChatRef]:
        return [APPROVER]

    async def send(self, chat: ChatRef, text: str, buttons) -> list[SentMessage]:
        self.sent.append(text)
        return [SentMessage(chat, str(len(self.sent)))]

    async def edit(self, sent: SentMessage, text: str) -> None:
        self.edits.append(text)


@pytest.fixture
async def setup(tmp_path):
    clock = FakeClock()
    approvers = Approvers()
    async with Database(tmp_path / "state.db") as db:
        audit = AuditLog(db, Redactor())
        service = ApprovalService(
            ApprovalStore(db, clock),
            audit,
            approvers=approvers.chats,
            send=approvers.send,
            edit=approvers.edit,
            timeout=lambda: TIMEOUT,
            clock=clock,
        )
        yield service, clock, approvers, audit


def ask(service: ApprovalService) -> asyncio.Task:
    return asyncio.create_task(
        service.request(
            requester=REQUESTER,
            channel="telegram",
            chat=ChatRef("telegram", "1002"),
            hosts=("web1",),
            command="systemctl restart nginx",
            reason="restarts a service",
        )
    )


async def asked(clock: FakeClock, approvers: Approvers) -> None:
    async def waiting() -> bool:
        return bool(approvers.sent) and clock.sleepers == 1

    await until(waiting)


async def test_a_request_expires_after_the_timeout_of_clock_time(setup):
    service, clock, approvers, audit = setup
    request = ask(service)
    await asked(clock, approvers)
    assert "Expires in 10 minutes." in approvers.sent[0]
    clock.advance(TIMEOUT - 1)
    assert clock.sleepers == 1 and not request.done()  # a second left: the expiry still waits
    clock.advance(1)
    outcome = await asyncio.wait_for(request, 5)
    assert outcome.status == "expired" and not outcome.approved
    assert approvers.edits[0].startswith(f"⌛ #{outcome.id} expired after 10 minutes")
    decided = [r for r in await audit.tail() if r.kind == "approval.decided"]
    assert decided[0].data == {"id": outcome.id, "status": "expired", "waited": TIMEOUT}
    assert await service.decide(outcome.id, True, by="telegram:1001", by_name="Ann") == (
        f"Request #{outcome.id} was already expired."
    )


async def test_a_decision_within_the_timeout_wins(setup):
    service, clock, approvers, _ = setup
    request = ask(service)
    await asked(clock, approvers)
    clock.advance(TIMEOUT - 1)
    answer = await service.decide(1, True, by="telegram:1001", by_name="Ann")
    assert answer == "Approved."
    outcome = await asyncio.wait_for(request, 5)
    assert outcome.status == "approved" and outcome.decided_by == "telegram:1001"
    assert clock.sleepers == 0  # the expiry timer went with the request
    clock.advance(TIMEOUT)
    assert approvers.edits == [approvers.edits[0]] and approvers.edits[0].startswith("✅")


async def test_a_cancelled_turn_withdraws_its_request(setup):
    service, clock, approvers, _ = setup
    request = ask(service)
    await asked(clock, approvers)
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    assert approvers.edits[0].startswith("↩️ #1 withdrawn: the request's turn ended")
    assert clock.sleepers == 0
