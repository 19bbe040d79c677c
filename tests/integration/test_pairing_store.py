"""Pairing codes: shape, reuse, expiry, limits per stranger, approval records."""

from __future__ import annotations

import pytest

from assistant.core.errors import NotFound
from assistant.core.roles import Role
from assistant.store.db import Database
from assistant.store.pairing import Pairing
from assistant.store.users import Users
from tests.helpers import FakeClock


@pytest.fixture
async def db(tmp_path):
    async with Database(tmp_path / "state.db") as database:
        yield database


async def test_codes_are_per_stranger_reused_and_expire(db):
    clock = FakeClock()
    pairing = Pairing(db, ttl=3600, clock=clock)
    first, fresh = await pairing.request("telegram", "1", name="A", chat_id="1")
    again, fresh_again = await pairing.request("telegram", "1", name="A", chat_id="1")
    assert fresh and not fresh_again and first.code == again.code
    assert len(first.code) == 8 and not set(first.code) & set("0O1I")
    others = [
        await pairing.request("telegram", str(n), name="B", chat_id=str(n)) for n in range(2, 12)
    ]
    assert all(fresh for _, fresh in others)  # a few strangers never block the next one
    assert len({r.code for r, _ in others} | {first.code}) == 11
    clock.advance(3599)
    assert first.code in {p.code for p in await pairing.pending("telegram")}  # a second left
    clock.advance(1)
    assert first.code not in {p.code for p in await pairing.pending("telegram")}
    with pytest.raises(NotFound, match="expired"):
        await pairing.approve("telegram", first.code, Role.USER, by="test")
    renewed, fresh_renewed = await pairing.request("telegram", "1", name="A", chat_id="1")
    assert fresh_renewed and renewed.code != first.code
    assert [p.user_id for p in await pairing.pending("telegram")] == ["1"]


async def test_a_channel_keeps_its_newest_requests_only(db):
    clock = FakeClock()
    pairing = Pairing(db, max_pending=5, clock=clock)
    for n in range(8):
        clock.advance(1)
        await pairing.request("telegram", str(n), name="", chat_id=str(n))
    await pairing.request("feishu", "ou_1", name="D", chat_id="oc_1")
    assert [p.user_id for p in await pairing.pending("telegram")] == ["3", "4", "5", "6", "7"]
    assert len(await pairing.pending("feishu")) == 1  # the bound is per channel


async def test_approval_grants_the_role_and_is_recorded(db):
    pairing = Pairing(db)
    request, _ = await pairing.request("telegram", "7", name="Gus", chat_id="7")
    assert request is not None
    approved = await pairing.approve("telegram", request.code.lower(), Role.ADMIN, by="cli:root")
    assert approved.user_id == "7"
    users = Users(db)
    assert await users.role("telegram", "7") is Role.ADMIN
    with pytest.raises(NotFound):
        await pairing.approve("telegram", request.code, Role.ADMIN, by="cli:root")
    changes = await users.changes()
    assert [(c.actor, c.action, c.subject, c.role) for c in changes] == [
        ("cli:root", "pairing.approve", "7", "admin")
    ]
