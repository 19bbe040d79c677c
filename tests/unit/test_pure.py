"""Pure pieces: prompt assembly, history budget, command parsing, policy, routing, backoff."""

from __future__ import annotations

import random
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from assistant.agent.prompt import (
    estimate_tokens,
    from_stored,
    split_history,
    system_prompt,
    to_stored,
    user_message,
)
from assistant.config import parse_config
from assistant.core.backoff import Backoff
from assistant.core.commands import parse_command
from assistant.core.health import ComponentState, Health
from assistant.core.roles import Permission, Role
from assistant.llm.routing import choose_model
from assistant.llm.types import ChatMessage, ToolCall
from assistant.security.policy import Policy
from assistant.store.conversations import StoredMessage


def test_token_estimate_counts_cjk_per_character():
    assert estimate_tokens("hello world, how are you?") == 7
    assert estimate_tokens("你好世界") == 5
    assert estimate_tokens("") == 1


def test_system_prompt_has_name_date_and_summary():
    now = datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    text = system_prompt("You are {name}.", name="Ops", now=now, summary="We fixed nginx.")
    assert text.startswith("You are Ops.")
    assert "Sunday, 2026-03-29; time zone Europe/Berlin" in text
    assert text.endswith("Summary of this conversation so far:\nWe fixed nginx.")


def test_user_message_carries_reply_and_forward_context():
    message = user_message("is this right?", reply_to_text="df says 91%", forwarded_from="Ann")
    assert message.content == "[Forwarded from Ann]\n[In reply to: «df says 91%»]\nis this right?"


def test_stored_round_trip_keeps_tool_calls():
    original = ChatMessage("assistant", "", tool_calls=(ToolCall("c1", "run", '{"a": 1}'),))
    assert from_stored(to_stored(original)) == original


def _msg(role: str, tokens: int, i: int) -> StoredMessage:
    return StoredMessage(role=role, content="x", tokens=tokens, id=i)


def test_split_history_cuts_only_before_a_user_message():
    history = [
        _msg("user", 100, 1),
        _msg("assistant", 100, 2),
        _msg("user", 100, 3),
        _msg("assistant", 50, 4),
        _msg("tool", 50, 5),
        _msg("assistant", 100, 6),
    ]
    older, recent = split_history(history, 320)
    assert [m.id for m in older] == [1, 2] and [m.id for m in recent] == [3, 4, 5, 6]
    older, recent = split_history(history, 250)  # the last exchange alone is 300: all go
    assert recent == [] and len(older) == 6
    older, recent = split_history(history, 10_000)
    assert older == [] and len(recent) == 6


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/help", ("help", "")),
        ("/status@my_assistant_bot", ("status", "")),
        ("/Model  gpt ", ("model", "gpt")),
        ("/run web1 df -h", ("run", "web1 df -h")),
        ("/remind\n10m tea", ("remind", "10m tea")),
        ("hello /help", None),
        ("/", None),
        ("/path/to/file is missing", None),
        ("/ unix", None),
    ],
)
def test_parse_command(text, expected):
    assert parse_command(text) == expected


def test_policy_defaults_and_overrides():
    policy = Policy()
    assert policy.allows(Role.OWNER, Permission.ADMIN)
    assert policy.allows(Role.ADMIN, Permission.APPROVE) and not policy.allows(
        Role.ADMIN, Permission.ADMIN
    )
    assert policy.allows(Role.USER, Permission.EXEC_READONLY) and not policy.allows(
        Role.USER, Permission.EXEC
    )
    assert policy.permissions(Role.GUEST) == {Permission.CHAT}
    policy.configure({Role.GUEST: [Permission.CHAT, Permission.SYSTEM], Role.OWNER: []})
    assert policy.allows(Role.GUEST, Permission.SYSTEM)
    assert policy.allows(Role.OWNER, Permission.EXEC)  # the owner cannot be locked out


def test_choose_model():
    config = parse_config(
        "[[models]]\nname='a'\nbase_url='http://x'\nmodel='m'\n"
        "[[models]]\nname='tech'\nbase_url='http://x'\nmodel='m'\n"
        "[[models]]\nname='cheap'\nbase_url='http://x'\nmodel='m'\n"
        "[[routing]]\nmodel='tech'\nkeywords=['nginx', '报错']\n"
        "[[routing]]\nmodel='cheap'\nroles=['guest']\n",
        {},
    )

    def pick(text, role=Role.USER, chosen=None):
        return choose_model(
            providers=config.models, rules=config.routing, chosen=chosen, text=text, role=role
        )

    assert pick("hello") == "a"
    assert pick("NGINX won't start") == "tech"
    assert pick("这个报错怎么办") == "tech"
    assert pick("hello", Role.GUEST) == "cheap"
    assert pick("nginx", chosen="cheap") == "cheap"
    assert pick("hello", chosen="removed-model") == "a"
    assert choose_model(providers=[], rules=[], chosen=None, text="x", role=Role.OWNER) is None


def test_backoff_is_jittered_bounded_and_resets():
    backoff = Backoff(1.0, 10.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(8)]
    assert all(1.0 <= d <= 10.0 for d in delays)
    assert len(set(delays)) == len(delays)
    backoff.reset()
    assert backoff.next_delay() <= 2.0


def test_health_readiness():
    health = Health()
    health.register("router")
    health.register("optional", required=False)
    assert not health.is_ready()
    health.set("router", ComponentState.READY)
    assert health.is_ready()
    health.set("optional", ComponentState.DOWN, "restarting")
    assert health.is_ready() and health.up() == {"router": True, "optional": False}
    health.note("router", last_poll=123.0)
    assert health.snapshot()["router"]["last_poll"] == 123.0
