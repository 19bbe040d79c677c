"""Long-term memory through the real router, agent, Chroma and the real offline embedder."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import re
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from assistant.core.messages import ChatRef, Sender
from assistant.features.memory.cli import memory_command
from assistant.memory.summary import SUMMARY_PROMPT
from tests.conftest import OWNER, USER, until
from tests.fakes.model import Reply

GROUPS = {"telegram": {"groups": ["g1"]}}


def memory_on(make_config, **memory):
    return make_config(memory={"enabled": True, **memory}, access=GROUPS)


def system_prompt(fake_model, index: int = -1) -> str:
    return fake_model.requests[index]["messages"][0]["content"]


def memory_id(reply: str) -> str:
    found = re.search(r"[(（]([0-9a-f]{8})[)）]", reply)
    assert found, reply
    return found.group(1)


async def test_remembered_fact_is_recalled_in_a_later_conversation(
    make_config, start_harness, fake_model, embedder
):
    h = await start_harness(memory_on(make_config), embedder=embedder)
    reply = await h.ask("/remember My wife's birthday is March 3", user=USER)
    assert reply.startswith("I'll remember that (")
    mid = memory_id(reply)
    await h.ask("hello", user=USER)
    assert await h.ask("/new", user=USER) == "Started a fresh conversation."
    await h.ask("When is my wife's birthday?", user=USER)
    prompt = system_prompt(fake_model)
    assert f"[{mid}] My wife's birthday is March 3 (" in prompt
    assert prompt.index("Memories from earlier conversations") > prompt.index("Today is")
    await h.ask("How many legs does a spider have?", user=USER)
    assert "Memories from earlier" not in system_prompt(fake_model)  # nothing relevant


async def test_isolation_between_users_and_between_group_and_private_chat(
    make_config, start_harness, fake_model, embedder
):
    h = await start_harness(memory_on(make_config), embedder=embedder)
    private = memory_id(await h.ask("/remember My locker code is 4711", user=USER))
    await h.ask(
        "/remember The team stand-up is on Tuesdays at 10", user=USER, chat="g1", group=True
    )

    await h.ask("What is my locker code?", user=OWNER)  # another user
    assert "4711" not in system_prompt(fake_model)
    await h.ask("What is my locker code?", user=USER, chat="g1", group=True)  # same user, group
    assert "4711" not in system_prompt(fake_model)
    await h.ask("When is the team stand-up?", user=USER, chat="g1", group=True)
    assert "Tuesdays at 10" in system_prompt(fake_model)
    await h.ask("When is the team stand-up?", user=USER)  # the group's memory stays there
    assert "Tuesdays" not in system_prompt(fake_model)
    await h.ask("What is my locker code?", user=USER)
    assert "4711" in system_prompt(fake_model)

    assert "4711" not in await h.ask("/memory", user=OWNER)
    assert "4711" not in await h.ask("/memory locker code", user=OWNER)
    assert await h.ask(f"/forget {private}", user=OWNER) == (
        f"There is no memory {private!r} here; /memory lists them."
    )
    assert "4711" in await h.ask("/memory", user=USER)


async def test_shared_memory_is_seen_by_every_user(
    make_config, start_harness, fake_model, embedder
):
    h = await start_harness(memory_on(make_config, shared=True), embedder=embedder)
    await h.ask("/remember The wifi password is on the fridge", user=USER)
    await h.ask("Where is the wifi password?", user=OWNER)
    assert "on the fridge" in system_prompt(fake_model)


async def test_forget_and_near_duplicates(make_config, start_harness, fake_model, embedder):
    h = await start_harness(memory_on(make_config), embedder=embedder)
    first = memory_id(await h.ask("/remember My wife's birthday is March 3", user=USER))
    merged = await h.ask("/remember my wife's birthday is on March 3rd", user=USER)
    assert merged == f"Updated a similar memory ({first}) with this."
    other = memory_id(await h.ask("/remember I prefer green tea", user=USER))
    listing = await h.ask("/memory", user=USER)
    assert listing.count(first) == 1 and "March 3rd" in listing and other in listing
    found = await h.ask("/memory birthday", user=USER)
    assert found.splitlines()[1].startswith(f"{first} — my wife's birthday is on March 3rd")
    assert re.search(r"· 0\.\d\d\)$", found.splitlines()[1])  # with its similarity
    assert (
        await h.ask(f"/forget {first}", user=USER) == "Forgot: my wife's birthday is on March 3rd"
    )
    assert first not in await h.ask("/memory", user=USER)
    await h.ask("When is my wife's birthday?", user=USER)
    assert "March" not in system_prompt(fake_model)
    assert "There is no memory" in await h.ask(f"/forget {first}", user=USER)
    assert (await h.ask("/forget", user=USER)).startswith("Usage: /forget ID")


async def test_memory_tools_for_the_model(make_config, start_harness, fake_model, embedder):
    h = await start_harness(memory_on(make_config), embedder=embedder)
    fake_model.script.extend(
        [
            Reply(tool_calls=[("remember", {"text": "Anna likes green tea"})]),
            Reply(text="Noted."),
            Reply(tool_calls=[("recall", {"query": "what does Anna drink?"})]),
            Reply(text="Green tea."),
            Reply(tool_calls=[("forget", {"query": "Anna's tea"})]),
            Reply(text="Forgotten."),
        ]
    )
    assert await h.ask("remember that Anna likes green tea", user=USER) == "Noted."
    saved = fake_model.requests[1]["messages"][-1]["content"]
    assert saved.startswith("Saved as memory [")
    assert await h.ask("what does Anna drink?", user=USER) == "Green tea."
    recalled = fake_model.requests[3]["messages"][-1]["content"]
    assert re.match(r"\[[0-9a-f]{8}\] \(0\.\d\d\) Anna likes green tea \(\d{4}-", recalled)
    assert await h.ask("forget what Anna drinks", user=USER) == "Forgotten."
    assert fake_model.requests[5]["messages"][-1]["content"].startswith("Forgot [")
    assert "Anna" not in await h.ask("/memory", user=USER)
    tools = {t["function"]["name"] for t in fake_model.requests[0]["tools"]}
    assert {"remember", "recall", "forget"} <= tools


async def test_ended_conversation_is_summarized_without_delaying_new(
    make_config, start_harness, fake_model, embedder
):
    h = await start_harness(memory_on(make_config), embedder=embedder)

    def summarizer(body):
        if body["messages"][0]["content"] == SUMMARY_PROMPT:
            return Reply(text="The user's dog is called Rex.", delay=0.5)
        return None

    fake_model.responder = summarizer
    await h.ask("my dog is called Rex", user=USER)
    assert await h.ask("/new", user=USER) == "Started a fresh conversation."
    memory = h.memory
    assert not [r for r in await memory.records() if r.source == "summary"]  # not waited for

    async def summarized() -> bool:
        return any(r.source == "summary" for r in await memory.records())

    await until(summarized)
    transcript = fake_model.requests[-1]["messages"][1]["content"]
    assert "user: my dog is called Rex" in transcript
    await h.ask("What is my dog called?", user=USER)
    assert "The user's dog is called Rex." in system_prompt(fake_model)


async def test_no_summary_without_a_model(make_config, start_harness, embedder):
    h = await start_harness(make_config(models=0, memory={"enabled": True}), embedder=embedder)
    await h.ask("hello", user=USER)
    await h.ask("/remember keep this", user=USER)
    await h.ask("/new", user=USER)
    assert [r.source for r in await h.memory.records()] == ["remember"]


async def test_export_import_round_trip(make_config, start_harness, tmp_path, embedder):
    config = memory_on(make_config)
    h = await start_harness(config, embedder=embedder)
    await h.ask("/remember 我的服务器 web1 在上海机房", user=USER)
    await h.ask("/remember The backup runs nightly at 2am", user=USER)
    await h.ask("/remember Deploys happen on Thursdays", user=USER, chat="g1", group=True)
    before = await h.memory.records()
    await h.close()  # the embedded store is one process's at a time

    exported = tmp_path / "memories.jsonl"
    args = argparse.Namespace(action="export", file=str(exported), namespace=None)
    assert await memory_command(config, args, io.StringIO(), embedder=embedder) == 0
    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    assert sorted(r["text"] for r in lines) == sorted(r.text for r in before)
    assert set(lines[0]) == {
        "id",
        "namespace",
        "text",
        "owner",
        "channel",
        "chat",
        "created",
        "source",
    }

    fresh = make_config(
        memory={"enabled": True}, access=GROUPS, assistant={"state_dir": str(tmp_path / "fresh")}
    )
    out = io.StringIO()
    args = argparse.Namespace(action="import", file=str(exported))
    assert await memory_command(fresh, args, out, embedder=embedder) == 0
    assert out.getvalue() == "imported 3 memories\n"
    h2 = await start_harness(fresh, embedder=embedder)
    after = await h2.memory.records()
    assert [(r.id, r.namespace, r.text, r.created) for r in after] == [
        (r.id, r.namespace, r.text, r.created) for r in before
    ]
    listing = await h2.ask("/memory web1 在哪里", user=USER)
    assert listing.splitlines()[1].split(" — ")[1].startswith("我的服务器 web1 在上海机房")


BILINGUAL = [
    "My wife's birthday is on March 3",
    "我的服务器 web1 在上海机房",
    "I prefer tea over coffee",
    "我女儿叫小美，今年五岁",
    "The nightly backup runs at 2am",
    "我们每周四发布新版本",
]


QUESTIONS = [  # each asks, in the other language, about BILINGUAL[i]
    "我老婆的生日是哪天？",
    "Where is the server web1?",
    "我喜欢喝什么？",
    "How old is my daughter?",
    "备份什么时候运行？",
    "Which day do we release?",
]


async def test_bilingual_recall_with_the_offline_embedder(make_config, start_harness, embedder):
    h = await start_harness(memory_on(make_config), embedder=embedder)
    chat, sender = ChatRef("telegram", "chat-x"), Sender("42")
    memory = h.memory
    for text in BILINGUAL:
        await memory.remember(chat, sender, text)
    best = [(await memory.search(chat, sender, q, 1))[0].text for q in QUESTIONS]
    assert best == BILINGUAL
    for question, fact in zip(QUESTIONS, BILINGUAL, strict=True):
        block = await memory.recall(chat, sender, question)
        assert block is not None and fact in block.splitlines()[1]


async def test_recall_respects_the_token_budget(make_config, start_harness, embedder):
    h = await start_harness(memory_on(make_config, recall_tokens=40), embedder=embedder)
    chat, sender = ChatRef("telegram", "c"), Sender("7")
    for n in range(4):
        await h.memory.remember(chat, sender, f"Server web{n} runs nginx and postgres {n}")
    block = await h.memory.recall(chat, sender, "which servers run nginx?")
    assert block is not None
    assert 2 <= len(block.splitlines()) < 5  # the header and what fits 40 tokens


async def test_openai_compatible_embeddings_endpoint(make_config, start_harness, fake_model):
    config = make_config(
        memory={
            "enabled": True,
            "embedder": "openai",
            "embeddings": {"base_url": fake_model.base_url, "model": "fake-embed"},
        }
    )
    h = await start_harness(config)
    await h.ask("/remember the garage door code is 1234", user=USER)
    await h.ask("what is the garage door code?", user=USER)
    assert "garage door code is 1234" in system_prompt(fake_model)
    assert fake_model.embedding_requests[0]["model"] == "fake-embed"
    fake_model.embeddings_fail = 1  # recall fails: the turn goes on without memories
    assert await h.ask("garage door code?", user=USER) == "echo: garage door code?"
    assert "Memories from earlier" not in system_prompt(fake_model)
    fake_model.embeddings_fail = 1
    reply = await h.ask("/remember another thing", user=USER)
    assert reply.startswith("Memory is unavailable: the embeddings endpoint") and "500" in reply


@pytest.fixture
async def chroma_server(tmp_path):
    """A real Chroma server (the `chroma run` of the installed package) on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    chroma = Path(sys.executable).parent / "chroma"
    process = await asyncio.create_subprocess_exec(
        str(chroma), "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1",
        "--port", str(port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip

    async def up() -> bool:
        try:
            url = f"http://127.0.0.1:{port}/api/v2/heartbeat"
            async with aiohttp.ClientSession() as http, http.get(url) as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False

    try:
        await until(up, timeout=20, every=0.1)
        yield port
    finally:
        process.terminate()
        await process.wait()


async def test_server_mode_uses_the_same_code_path(
    make_config, start_harness, fake_model, embedder, chroma_server
):
    config = memory_on(make_config, mode="server", server={"port": chroma_server})
    h = await start_harness(config, embedder=embedder)
    mid = memory_id(await h.ask("/remember 我的服务器 web1 在上海机房", user=USER))
    await h.ask("Where is the server web1?", user=USER)
    assert f"[{mid}] 我的服务器 web1 在上海机房" in system_prompt(fake_model)
    # a second client of the same server (as `assistant memory` would be) sees it at once
    args = argparse.Namespace(action="list", limit=10, namespace=None)
    out = io.StringIO()
    assert await memory_command(config, args, out, embedder=embedder) == 0
    assert out.getvalue().startswith(f"{mid}\tuser:telegram:{USER}\t")
    assert h.services.health.snapshot()["memory"]["state"] == "ready"
    assert not (config.assistant.state_dir / "chroma").exists()
