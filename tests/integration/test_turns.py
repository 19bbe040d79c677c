"""Turns through the real router, agent, store and model client, against the fake model."""

from __future__ import annotations

import asyncio
import json

from assistant.core.ports import SubmitOutcome
from tests.conftest import GUEST, OWNER, USER, until
from tests.fakes.model import Fail, Reply
from tests.helpers import FakeClock


async def test_plain_turn_answers_and_records_history(make_config, start_harness, fake_model):
    h = await start_harness(make_config())
    assert await h.ask("hello there") == "echo: hello there"
    fake_model.script.append(Reply(text="second answer"))
    assert await h.ask("and again") == "second answer"
    # the second request carried the first exchange as history
    messages = fake_model.requests[1]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == "hello there"
    assert messages[2]["content"] == "echo: hello there"


async def test_model_calls_system_status_tool(make_config, start_harness, fake_model):
    h = await start_harness(make_config())
    fake_model.script.extend(
        [Reply(tool_calls=[("system_status", {})]), Reply(text="The machine is healthy.")]
    )
    assert await h.ask("how is the machine doing?") == "The machine is healthy."
    tool_message = fake_model.requests[1]["messages"][-1]
    assert tool_message["role"] == "tool"
    assert "load:" in tool_message["content"] and "memory:" in tool_message["content"]
    tools = [t["function"]["name"] for t in fake_model.requests[0]["tools"]]
    assert tools == ["current_time", "system_status", "send_file"]


def prompt_bytes(request: dict) -> int:
    """System prompt and tool schemas as sent: compact JSON, UTF-8."""
    tools = json.dumps(request["tools"], separators=(",", ":"), ensure_ascii=False)
    return len(request["messages"][0]["content"].encode()) + len(tools.encode())


async def test_plain_turn_prompt_stays_under_3kb(make_config, start_harness, fake_model):
    h = await start_harness(make_config())
    await h.ask("hi")
    assert prompt_bytes(fake_model.requests[0]) < 1024


async def test_plain_turn_prompt_with_everything_on_stays_under_3kb(
    make_config, start_harness, fake_model
):
    config = make_config(
        memory={
            "enabled": True,
            "embedder": "openai",
            "embeddings": {"base_url": fake_model.base_url},
        },
        scheduler={"enabled": True},
        ssh={"hosts": [{"name": "web1", "address": "127.0.0.1", "port": 1}]},
    )
    h = await start_harness(config)
    await h.ask("hi")
    request = fake_model.requests[-1]
    names = {t["function"]["name"] for t in request["tools"]}
    assert {"run_command", "schedule", "remember", "recall", "host_status"} <= names
    assert prompt_bytes(request) <= 3 * 1024, prompt_bytes(request)


async def test_guest_sees_no_system_tool_and_cannot_call_it(make_config, start_harness, fake_model):
    h = await start_harness(make_config())
    fake_model.script.extend([Reply(tool_calls=[("system_status", {})]), Reply(text="ok")])
    await h.ask("status?", user=GUEST)
    names = [t["function"]["name"] for t in fake_model.requests[0]["tools"]]
    assert names == ["current_time", "send_file"]
    refused = fake_model.requests[1]["messages"][-1]["content"]
    assert refused.startswith("Error:") and "not permitted" in refused


async def test_identical_tool_call_three_times_stops_the_turn(
    make_config, start_harness, fake_model
):
    h = await start_harness(make_config())
    call = Reply(tool_calls=[("current_time", {"timezone": "UTC"})])
    fake_model.script.extend([call, call, call, Reply(text="never reached")])
    reply = await h.ask("what time is it?")
    assert "loop" in reply and "current_time" in reply
    assert len(fake_model.requests) == 3
    last = fake_model.requests[2]["messages"]
    assert sum(1 for m in last if m["role"] == "tool") == 2  # the third call was not run


async def test_max_steps_stops_the_turn(make_config, start_harness, fake_model):
    h = await start_harness(make_config(agent={"max_steps": 2}))
    fake_model.script.extend(
        [
            Reply(tool_calls=[("current_time", {})]),
            Reply(tool_calls=[("current_time", {"timezone": "Asia/Shanghai"})]),
        ]
    )
    reply = await h.ask("time?")
    assert "stopped after 2 steps" in reply
    assert len(fake_model.requests) == 2


async def test_the_model_is_told_the_time_of_the_clock(make_config, start_harness, fake_model):
    clock = FakeClock(1_774_000_000.0)  # 2026-03-20 09:46:40 UTC
    h = await start_harness(make_config(), clock=clock)
    fake_model.script.extend(
        [Reply(tool_calls=[("current_time", {"timezone": "Asia/Shanghai"})]), Reply(text="ok")]
    )
    assert await h.ask("what time is it?") == "ok"
    assert (
        "Today is Friday, 2026-03-20; time zone UTC."
        in (fake_model.requests[0]["messages"][0]["content"])
    )
    told = fake_model.requests[1]["messages"][-1]["content"]
    assert told == "2026-03-20 17:46:40 Friday Asia/Shanghai (UTC+0800)"


async def test_invalid_tool_arguments_reach_the_model_as_an_error(
    make_config, start_harness, fake_model
):
    h = await start_harness(make_config())
    fake_model.script.extend(
        [Reply(tool_calls=[("current_time", {"timezone": "Mars/Olympus"})]), Reply(text="sorry")]
    )
    assert await h.ask("time on mars?") == "sorry"
    assert "Unknown time zone" in fake_model.requests[1]["messages"][-1]["content"]


async def test_no_model_configured_gets_a_hint_and_commands_work(make_config, start_harness):
    h = await start_harness(make_config(models=0))
    hint = await h.ask("hello?")
    assert "[[models]]" in hint and "config" in hint
    assert "/status" in await h.ask("/help")


async def test_strangers_and_unaddressed_group_messages_are_not_processed(
    make_config, start_harness, fake_model
):
    h = await start_harness(make_config(access={"telegram": {"groups": ["g1"]}}))
    assert await h.say("hi", user="9999") is SubmitOutcome.IGNORED
    assert await h.say("hi all", chat="g1", group=True, addressed=False) is SubmitOutcome.IGNORED
    assert await h.say("hi", chat="g-other", group=True) is SubmitOutcome.IGNORED
    assert await h.ask("hi bot", chat="g1", group=True) == "echo: hi bot"
    assert len(fake_model.requests) == 1  # only the allowlisted group's mention reached the model
    stranger, owner_hint, answer = h.channel.sent
    assert stranger.chat.chat_id == "chat-9999" and "pairing code" in stranger.text
    assert (
        owner_hint.chat.chat_id == "g-other" and "allow-group telegram g-other" in owner_hint.text
    )
    assert answer.reply_to is not None  # group replies thread to the message


async def test_redelivery_is_answered_once(make_config, start_harness, fake_model):
    h = await start_harness(make_config())
    first = h.message("only once", platform_id="upd-1")
    assert await h.router.submit(first) is SubmitOutcome.ACCEPTED
    assert await h.router.submit(first) is SubmitOutcome.DUPLICATE
    await h.channel.wait_sent(1)
    await h.router.wait_idle()
    assert h.channel.texts() == ["echo: only once"]


async def test_one_turn_at_a_time_per_chat_in_order(make_config, start_harness, fake_model):
    h = await start_harness(make_config())
    fake_model.script.extend([Reply(text="one", delay=0.3), Reply(text="two"), Reply(text="three")])
    for text in ("a", "b", "c"):
        assert await h.say(text) is SubmitOutcome.ACCEPTED
    await h.channel.wait_sent(3)
    assert h.channel.texts() == ["one", "two", "three"]
    # each later request saw the earlier exchanges: they ran strictly one after another
    assert [len(r["messages"]) for r in fake_model.requests] == [2, 4, 6]


async def test_conversations_run_concurrently(make_config, start_harness, fake_model):
    h = await start_harness(make_config())
    fake_model.responder = lambda body: Reply(text="slow", delay=0.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for i in range(6):
        await h.say("hi", user=OWNER, chat=f"chat-{i}")
    await h.channel.wait_sent(6)
    assert loop.time() - started < 0.5 * 3  # 6 turns of 0.5 s overlapped


async def test_error_boundary_apologises_with_turn_id_and_no_detail(
    make_config, start_harness, fake_model, monkeypatch
):
    h = await start_harness(make_config())

    def broken(*args, **kwargs):
        raise RuntimeError("secret detail sk-abcdefghijklmnop0123 must not leak")

    # the third-party boundary: the model client's HTTP session raises something unexpected
    monkeypatch.setattr(h.services.client._session, "post", broken)
    reply = await h.ask("hello")
    assert reply.startswith("Sorry, something went wrong") and "turn " in reply
    assert "secret" not in reply and "sk-" not in reply
    assert await h.ask("/help")  # the router still works


async def test_model_rejection_is_reported_clearly_without_retry(
    make_config, start_harness, fake_model
):
    h = await start_harness(make_config(models=2))
    fake_model.script.append(Fail(status=400, message="context too long"))
    reply = await h.ask("hello")
    assert "rejected the request (HTTP 400: context too long)" in reply
    assert len(fake_model.requests) == 1  # neither retried nor sent to the fallback


async def test_all_models_failing_gives_a_clear_message(make_config, start_harness, fake_model):
    h = await start_harness(make_config(models=2))
    fake_model.responder = lambda body: Fail(status=503, message="overloaded")
    reply = await h.ask("hello")
    assert "no model answered" in reply and "try again" in reply
    assert len(fake_model.requests) == 4  # two providers, two rounds


async def test_transient_send_failure_is_retried(make_config, start_harness, fake_model):
    clock = FakeClock()
    h = await start_harness(make_config(), clock=clock)
    h.channel.fail_sends = 2
    assert await h.say("hello") is SubmitOutcome.ACCEPTED
    for failures_left in (1, 0):  # each failed send waits for its backoff on the clock

        async def backing_off(left: int = failures_left) -> bool:
            return h.channel.fail_sends == left and clock.sleepers == 1

        await until(backing_off)
        assert h.channel.sent == []
        clock.advance(15)  # the longest backoff between two sends
    sent = await h.channel.wait_sent(1)
    assert sent[0].text == "echo: hello"
    assert len(fake_model.requests) == 1


async def test_history_over_budget_is_summarized_and_stored(make_config, start_harness, fake_model):
    h = await start_harness(make_config(agent={"history_tokens": 500}))
    long = "word " * 300  # ~375 tokens per message
    await h.ask(long)
    await h.ask(long)
    summary_requests = []

    def responder(body):
        if body["messages"][0]["content"].startswith("Summarize the conversation"):
            summary_requests.append(body)
            return Reply(text="User sent two long messages of repeated words.")
        return None

    fake_model.responder = responder
    await h.ask("short question")
    assert len(summary_requests) == 1
    turn_request = fake_model.requests[-1]
    assert "User sent two long messages" in turn_request["messages"][0]["content"]
    assert len(json.dumps(turn_request["messages"])) < 4000
    conversation = await h.services.conversations.active("telegram:chat-1001")
    assert conversation.summary == "User sent two long messages of repeated words."
    # the next turn reuses the stored summary and does not summarize again
    await h.ask("another")
    assert len(summary_requests) == 1


async def test_user_role_is_applied(make_config, start_harness, fake_model):
    h = await start_harness(make_config())
    await h.ask("hi", user=USER)
    names = [t["function"]["name"] for t in fake_model.requests[0]["tools"]]
    assert names == ["current_time", "system_status", "send_file"]
