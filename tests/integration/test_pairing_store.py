"""Pairing codes: shape, reuse, expiry, the per-channel cap, approval records."""

from __future__ import annotations

import asyncio

import pytest

from assistant.core.errors import NotFound
from assistant.core.roles import Role
from assistant.store.db import Database
from assistant.store.pairing import Pairing
from assistant.store.users import Users


@pytest.fixture
async def db(tmp_path):
    async with Database(tmp_path / "state.db") as database:
        yield database


async def test_codes_are_reused_capped_and_expire(db):
    pairing = Pairing(db, ttl=0.3, max_pending=2)
    first, fresh = await pairing.request("telegram", "1", name="A", chat_id="1")
    again, fresh_again = await pairing.request("telegram", "1", name="A", chat_id="1")
    assert fresh and not fresh_again and first and again and first.code == again.code
    assert len(first.code) == 8 and not set(first.code) & set("0O1I")
    second, _ = await pairing.request("telegram", "2", name="B", chat_id="2")
    third, fresh_third = await pairing.request("telegram", "3", name="C", chat_id="3")
    assert second is not None and third is None and not fresh_third
    other, _ = await pairing.request("feishu", "ou_1", name="D", chat_id="oc_1")
    assert other is not None  # the cap is per channel
    await asyncio.sleep(0.35)
    with pytest.raises(NotFound, match="expired"):
        await pairing.approve("telegram", first.code, Role.USER, by="test")
    third, fresh_third = await pairing.request("telegram", "3", name="C", chat_id="3")
    assert third is not None and fresh_third  # expired requests free their places


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
