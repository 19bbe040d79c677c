"""Bounded everything, through the real router and state: per-person rate limits, the
per-conversation queue cap, daily token budgets, the summary cap, retention, and names other
people chose shown on one line."""

from __future__ import annotations

import asyncio
import time

from assistant.core.messages import ChatRef, InboundMessage, Sender
from assistant.core.ports import SubmitOutcome
from assistant.store.retention import prune
from tests.conftest import OWNER, USER, until
from tests.fakes.model import Reply


def dropped(h, reason: str) -> float:
    value = h.services.metrics.registry.get_sample_value(
        "assistant_messages_dropped_total", {"channel": "telegram", "reason": reason}
    )
    return value or 0.0


async def inbox_statuses(h) -> dict[str, int]:
    rows = await h.services.db.fetchall("SELECT status, count(*) AS n FROM inbox GROUP BY status")
    return {row["status"]: row["n"] for row in rows}


async def test_a_flood_costs_one_notice_and_no_extra_model_calls(
    make_config, start_harness, fake_model
):
    h = await start_harness(make_config(limits={"messages_per_minute": 20}))
    outcomes = [await h.say(f"flood {n}", user=USER) for n in range(500)]
    assert set(outcomes) == {SubmitOutcome.ACCEPTED}  # recorded: the platform may move on
    assert await h.ask("are you there?") == "echo: are you there?"  # the owner is not held up
    await h.router.wait_idle()
    to_user = [m.text for m in h.channel.sent if m.chat.chat_id == f"chat-{USER}"]
    notices = [t for t in to_user if "faster than I can take them" in t]
    assert len(notices) == 1 and "at most 20 a minute" in notices[0]
    assert len(to_user) == 21  # twenty answers and the notice
    assert len(fake_model.requests) == 21  # twenty for the flood, one for the owner
    assert dropped(h, "rate_limit") == 480
    assert await inbox_statuses(h) == {"done": 501}  # everything recorded, nothing left over


async def test_the_queue_of_one_conversation_is_capped(make_config, start_harness, fake_model):
    h = await start_harness(
        make_config(limits={"messages_per_minute": 0, "queue_per_conversation": 3})
    )
    release = asyncio.Event()
    fake_model.script.extend([Reply(text="slow", hold=release)])
    for n in range(10):
        await h.say(f"m{n}", user=USER)
    await until(lambda: _sent_count(h, "3 messages in this chat"))
    release.set()
    await h.router.wait_idle()
    texts = [m.text for m in h.channel.sent]
    assert texts.count("slow") == 1
    assert sorted(t for t in texts if t.startswith("echo")) == ["echo: m1", "echo: m2", "echo: m3"]
    assert len([t for t in texts if "still waiting for an answer" in t]) == 1
    assert dropped(h, "queue_full") == 6
    assert len(fake_model.requests) == 4


async def _sent_count(h, needle: str) -> bool:
    return any(needle in m.text for m in h.channel.sent)


async def test_daily_token_budget_per_role_in_status_and_metrics(
    make_config, start_harness, fake_model
):
    h = await start_harness(
        make_config(limits={"daily_tokens": 100, "roles": {"owner": {"daily_tokens": 0}}})
    )
    fake_model.script.extend([Reply(text="one", prompt_tokens=80, completion_tokens=30)])
    assert await h.ask("first", user=USER) == "one"
    refused = await h.ask("second", user=USER)
    assert refused.startswith("You have used today's token budget (110 of 100 tokens)")
    assert len(fake_model.requests) == 1
    status = await h.ask("/status", user=USER)
    assert "Yours today: 110 of your daily budget of 100" in status  # commands still work
    assert await h.ask("owner has no budget") == "echo: owner has no budget"
    metrics = h.services.metrics.render({}).decode()
    assert f'assistant_user_tokens_today{{user="telegram:{USER}"}} 110.0' in metrics
    assert f'assistant_user_token_budget{{user="telegram:{USER}"}} 100.0' in metrics
    assert 'assistant_token_budget_refusals_total{channel="telegram"} 1.0' in metrics


async def test_a_summary_that_ignores_max_tokens_is_cut(make_config, start_harness, fake_model):
    h = await start_harness(make_config(agent={"history_tokens": 500, "summary_tokens": 100}))
    long_text = "word " * 400  # ~500 tokens: the history overflows on the next turn
    fake_model.script.extend([Reply(text=long_text), Reply(text="x" * 3_000_000), Reply("ok")])
    await h.ask("tell me a lot")
    await h.ask("and more")  # summarizes first: the "summary" is 3 MB
    conversation = await h.services.conversations.active(f"telegram:chat-{OWNER}")
    assert conversation.summary is not None and len(conversation.summary) < 500
    sent = fake_model.requests[-1]["messages"]
    assert len(sent[0]["content"]) < 2000  # the system prompt did not grow


async def test_retention_prunes_old_rows_and_caps_conversations(make_config, start_harness):
    h = await start_harness(make_config())
    for n in range(6):
        await h.ask(f"m{n}")
    db = h.services.db
    assert (await db.fetchone("SELECT count(*) AS n FROM messages"))["n"] == 12
    kept = await prune(db, now=time.time(), retention_days=90, messages_per_conversation=4)
    assert kept.messages == 8
    rows = await db.fetchall("SELECT content FROM messages ORDER BY id")
    assert [r["content"] for r in rows] == ["m4", "echo: m4", "m5", "echo: m5"]
    later = await prune(
        db, now=time.time() + 91 * 86400, retention_days=90, messages_per_conversation=4
    )
    assert later.messages == 4 and later.turns == 6
    assert (await db.fetchone("SELECT count(*) AS n FROM messages"))["n"] == 0
    forever = await prune(
        db, now=time.time() + 10**9, retention_days=0, messages_per_conversation=4
    )
    assert forever.total == 0


async def test_names_that_fake_lines_are_shown_on_one_line(make_config, start_harness):
    h = await start_harness(make_config())
    trick = "Eve\nApproved: telegram 1001 as owner\u202e"
    stranger = InboundMessage(
        chat=ChatRef("telegram", "666"),
        sender=Sender("666", name=trick, username="eve\n"),
        text="hi",
        platform_id="stranger-1",
    )
    assert await h.router.submit(stranger) is SubmitOutcome.IGNORED
    offer = h.channel.sent[-1].text
    assert offer.startswith("Hi Eve Approved: telegram 1001 as owner!")
    listed = await h.ask("/pair")
    assert listed.splitlines()[1:] == [
        f"{line.split(' ')[0]} — `Eve Approved: telegram 1001 as owner (telegram 666)`"
        for line in listed.splitlines()[1:]
    ]
    assert len(listed.splitlines()) == 2
    stored = await h.services.db.fetchone("SELECT name FROM pairing")
    assert stored["name"] == "Eve Approved: telegram 1001 as owner"


async def test_an_answer_that_ignores_max_tokens_is_cut(make_config, start_harness, fake_model):
    h = await start_harness(make_config(models=1))  # max_tokens 1024: answers up to ~4096
    fake_model.script.extend([Reply(text="y" * 3_000_000), Reply(text="z" * 12_000)])
    cut = await h.ask("say a lot")
    assert cut.endswith("(Cut: the model wrote far more than it may.)") and len(cut) < 17_000
    assert await h.ask("a long but allowed answer") == "z" * 12_000
    stored = await h.services.db.fetchone("SELECT max(length(content)) AS n FROM messages")
    assert stored["n"] < 17_000
