"""Slash commands through the router: answered without the model, with real figures."""

from __future__ import annotations

import re

from tests.conftest import GUEST, USER
from tests.fakes.model import Reply


async def test_status_shows_uptime_model_tokens_and_queue(make_config, start_harness, fake_model):
    h = await start_harness(make_config(models=2))
    fake_model.script.extend(
        [
            Reply(text="a", prompt_tokens=100, completion_tokens=20),
            Reply(text="b", prompt_tokens=200, completion_tokens=30),
        ]
    )
    await h.ask("first")
    await h.ask("second", chat="other-chat")
    status = await h.ask("/status")
    lines = status.splitlines()
    assert re.fullmatch(r"Assistant — up \d+m \d+s", lines[0])
    assert lines[1] == "Model: m0 (fake-0, default)"
    assert lines[2] == "Tokens: 350 today · 120 in this conversation"
    assert lines[3] == "Yours today: 350"  # no budget configured
    assert lines[4] == "Queue: 0 waiting, 0 running"  # not counting the /status itself
    assert len(fake_model.requests) == 2  # commands never reach the model


async def test_new_starts_a_fresh_conversation(make_config, start_harness, fake_model):
    h = await start_harness(make_config())
    await h.ask("remember the word tulip")
    assert await h.ask("/new") == "Started a fresh conversation."
    assert await h.ask("/reset") == "This is already a fresh conversation."
    await h.ask("what was the word?")
    messages = fake_model.requests[-1]["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "Tokens: 36 today · 18 in this conversation" in await h.ask("/status")


async def test_model_lists_and_switches(make_config, start_harness, fake_model):
    h = await start_harness(make_config(models=2))
    listing = await h.ask("/model")
    assert "• m0 — fake-0 via openai" in listing and "  m1 — fake-1 via openai" in listing
    assert await h.ask("/model nope") == "There is no model named 'nope'. Known: m0, m1."
    assert await h.ask("/model m1") == "This chat now uses m1."
    await h.ask("hi")
    assert fake_model.requests[-1]["model"] == "fake-1"
    assert "Model: m1 (fake-1, chosen for this chat)" in await h.ask("/status")
    await h.ask("hi", user=USER)  # another chat keeps the default
    assert fake_model.requests[-1]["model"] == "fake-0"
    assert await h.ask("/model auto") == "This chat uses the default model again."
    await h.ask("hi")
    assert fake_model.requests[-1]["model"] == "fake-0"


async def test_guest_cannot_switch_models(make_config, start_harness):
    h = await start_harness(make_config(models=2))
    assert await h.ask("/model m1", user=GUEST) == "Your role may not switch models."


async def test_help_lists_commands_and_unknown_commands_are_explained(
    make_config, start_harness, fake_model
):
    h = await start_harness(make_config())
    help_text = await h.ask("/help")
    for command in ("/help", "/new (or /reset)", "/status", "/model [name|auto]"):
        assert command in help_text
    assert await h.ask("/frobnicate") == "Unknown command /frobnicate. Try /help."
    assert await h.ask("/status@assistant_bot")
    assert fake_model.requests == []
