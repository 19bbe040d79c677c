"""Approvals without servers: with no [ssh] section, an HTTP write and an MCP tool classed
``ask`` go to a second person (the approvals feature every assistant has), run once after a
press of Approve, not at all after Deny, and the audit shows both. Through the real daemon,
the fake Telegram and the fake model; the site and the MCP server are loopback fakes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import until
from tests.fakes.model import Reply
from tests.fakes.telegram import FakeBotAPI
from tests.fakes.web import Site
from tests.integration.test_ssh_e2e import audit_kinds
from tests.integration.test_telegram import run_daemon, telegram_config  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
OWNER, USER = 1001, 1002


@pytest.fixture
async def site():
    public = await Site("public").start("127.0.0.2")  # allowed in config, as if public
    yield public
    await public.stop()


def config(tmp_path, fake_model, bot_api, **sections):
    made = telegram_config(
        tmp_path,
        fake_model,
        bot_api,
        access={"owners": [f"telegram:{OWNER}"], "telegram": {"users": {str(USER): "user"}}},
        approvals={"timeout": 30},
        **sections,
    )
    assert not made.ssh.hosts  # no [ssh]: the approvals must not depend on it
    return made


async def decide(bot_api: FakeBotAPI, ask: str, answer: int, done: str) -> str:
    """USER asks; the card reaches OWNER; OWNER presses Approve (0) or Deny (1); the turn ends
    with ``done``. Returns the card's text after the press."""
    seen = len(bot_api.sent)
    await bot_api.user_message(USER, USER, ask)
    await bot_api.wait_for(
        lambda: any(s.chat_id == OWNER and s.reply_markup for s in bot_api.sent[seen:])
    )
    card = next(s for s in bot_api.sent[seen:] if s.chat_id == OWNER and s.reply_markup)
    button = card.reply_markup["inline_keyboard"][0][answer]
    assert not any(s.chat_id == USER and s.reply_markup for s in bot_api.sent[seen:])
    await bot_api.press(OWNER, OWNER, button["callback_data"], card.message_id)
    await bot_api.wait_for(lambda: any(s.text == done for s in bot_api.sent[seen:]))
    return card.text  # edited by the press


def decisions(tmp_path) -> list[str]:
    return [d["status"] for k, d in audit_kinds(tmp_path) if k == "approval.decided"]


async def test_an_http_write_asks_a_second_person(
    tmp_path,
    fake_model,
    bot_api,
    site,
    run_daemon,  # noqa: F811
):
    web = {"enabled": True, "allow_networks": ["127.0.0.2/32"]}
    await run_daemon(config(tmp_path, fake_model, bot_api, web=web))
    url = f"http://127.0.0.2:{site.port}/deploy"
    post = ("http_request", {"method": "POST", "url": url, "body": "go"})
    fake_model.script.extend([Reply(tool_calls=[post]), Reply(text="deployed")])
    card = await decide(bot_api, "deploy it", 0, "deployed")
    assert card.startswith("✅") and f"POST {url}" in card
    assert site.hits == [("POST", "/deploy", "go")]  # once, after the approval
    assert fake_model.requests[1]["messages"][-1]["content"].startswith("HTTP 200")
    # denied: nothing is sent, and the model is told why
    fake_model.script.extend([Reply(tool_calls=[post]), Reply(text="not deployed")])
    card = await decide(bot_api, "deploy it again", 1, "not deployed")
    assert card.startswith("❌")
    assert site.hits == [("POST", "/deploy", "go")]
    refused = fake_model.requests[3]["messages"][-1]["content"]
    assert "was denied" in refused and "Nothing was done" in refused
    assert decisions(tmp_path) == ["approved", "denied"]
    kinds = [k for k, _ in audit_kinds(tmp_path)]
    assert kinds.count("approval.requested") == 2 and kinds.count("web.request") == 1


async def test_an_mcp_tool_classed_ask_asks_a_second_person(
    tmp_path,
    fake_model,
    bot_api,
    run_daemon,  # noqa: F811
):
    marker = tmp_path / "marker"
    server = {
        "name": "tiny",
        "command": sys.executable,
        "args": ["-m", "tests.fakes.mcp_server", "stdio"],
        "env": {"PYTHONPATH": str(ROOT), "MCP_MARKER": str(marker)},
        "cwd": str(ROOT),
    }
    rules = [{"tool": "tiny__touch", "permission": "chat", "mode": "ask"}]
    running = await run_daemon(
        config(tmp_path, fake_model, bot_api, mcp={"servers": [server], "tools": rules})
    )
    tools = running.daemon.services.tools

    async def listed() -> bool:
        return "tiny__touch" in tools.names

    await until(listed, timeout=20)
    touch = ("tiny__touch", {"text": "hello"})
    fake_model.script.extend([Reply(tool_calls=[touch]), Reply(text="touched")])
    card = await decide(bot_api, "touch it", 0, "touched")
    assert card.startswith("✅") and "tiny__touch" in card
    assert marker.read_text() == "hello"
    marker.unlink()
    fake_model.script.extend([Reply(tool_calls=[touch]), Reply(text="left alone")])
    card = await decide(bot_api, "touch it again", 1, "left alone")
    assert card.startswith("❌") and not marker.exists()
    assert decisions(tmp_path) == ["approved", "denied"]


async def test_cancel_withdraws_a_pending_http_write(
    tmp_path,
    fake_model,
    bot_api,
    site,
    run_daemon,  # noqa: F811
):
    """The requester's /cancel withdraws the request their turn waits for, as it does for an
    SSH command: the card says so and loses its buttons, the model reads "withdrawn", and the
    write is never sent, not even after a late press of Approve."""
    web = {"enabled": True, "allow_networks": ["127.0.0.2/32"]}
    await run_daemon(config(tmp_path, fake_model, bot_api, web=web))
    url = f"http://127.0.0.2:{site.port}/deploy"
    post = ("http_request", {"method": "POST", "url": url, "body": "go"})
    fake_model.script.extend([Reply(tool_calls=[post]), Reply(text="left alone")])
    await bot_api.user_message(USER, USER, "deploy it")
    await bot_api.wait_for(lambda: any(s.chat_id == OWNER and s.reply_markup for s in bot_api.sent))
    card = next(s for s in bot_api.sent if s.chat_id == OWNER and s.reply_markup)
    approve = card.reply_markup["inline_keyboard"][0][0]["callback_data"]
    await bot_api.user_message(USER, USER, "/cancel")
    await bot_api.wait_for(lambda: any(s.text == "left alone" for s in bot_api.sent))
    assert any(s.chat_id == USER and "Withdrew approval request #" in s.text for s in bot_api.sent)
    edit = next(e for e in bot_api.edits if e["message_id"] == card.message_id)
    assert edit["text"].startswith("↩️") and "withdrawn by" in edit["text"]
    assert not edit.get("reply_markup", {}).get("inline_keyboard")
    refused = fake_model.requests[1]["messages"][-1]["content"]
    assert "was withdrawn" in refused and "Nothing was done" in refused
    await bot_api.press(OWNER, OWNER, approve, card.message_id)
    await bot_api.wait_for(lambda: "already withdrawn" in str(bot_api.callback_answers))
    assert site.hits == []
    assert decisions(tmp_path) == ["withdrawn"]
