"""The web feature end to end through the kernel: the fake model calls ``http_request`` and
``web_fetch``; the tools reach a loopback "public" site (allowed in config, as tests must), the
answer reaches the model redacted and capped, private addresses are refused, and a POST waits
for a second person's approval unless a ``[[web.allow]]`` rule names it."""

from __future__ import annotations

import json

import pytest

from assistant.core.roles import Permission
from tests.conftest import GUEST, OWNER, USER, until
from tests.fakes.model import Reply
from tests.fakes.web import FakeDNS, Site


@pytest.fixture
async def sites():
    public = await Site("public").start("127.0.0.2")
    secret = await Site("secret").start("127.0.0.1")
    yield public, secret
    await public.stop()
    await secret.stop()


def web_config(make_config, public: Site, **web):
    return make_config(
        web={"enabled": True, "allow_networks": ["127.0.0.2/32"], "max_body": 2000, **web},
    )


def tool_result(fake_model, n: int) -> str:
    return fake_model.requests[n]["messages"][-1]["content"]


async def start(start_harness, config, public):
    dns = FakeDNS({"public.test": ["127.0.0.2"], "evil.test": ["127.0.0.1"]})
    return await start_harness(config, options={"web.resolver": dns})


async def test_reads_are_guarded_capped_and_redacted(make_config, start_harness, fake_model, sites):
    public, secret = sites
    h = await start(start_harness, web_config(make_config, public), public)
    base = f"http://public.test:{public.port}"
    fake_model.script.extend(
        [
            Reply(tool_calls=[("http_request", {"url": f"{base}/api?q=1"})]),
            Reply(tool_calls=[("web_fetch", {"url": f"{base}/page"})]),
            Reply(tool_calls=[("http_request", {"url": f"http://evil.test:{secret.port}/secret"})]),
            Reply(tool_calls=[("http_request", {"url": f"http://127.0.0.1:{secret.port}/secret"})]),
            Reply(tool_calls=[("http_request", {"url": f"{base}/big"})]),
            Reply(text="done"),
        ]
    )
    assert await h.ask("look it up", user=USER) == "done"
    offered = {t["function"]["name"] for t in fake_model.requests[0]["tools"]}
    assert {"http_request", "web_fetch"} <= offered and "web_search" not in offered
    first = tool_result(fake_model, 1)
    assert first.startswith("HTTP 200 OK") and "X-Site: public" in first
    assert json.loads(first.split("\n\n", 1)[1])["path"] == "/api?q=1"
    page = tool_result(fake_model, 2)
    assert "# 开源助手发布新版本" in page and "- SSRF 防护" in page and "Links:" in page
    assert "广告" not in page and "京ICP备" not in page and "var x" not in page
    for n in (3, 4):
        assert "refused by the SSRF guard" in tool_result(fake_model, n)
    big = tool_result(fake_model, 5)
    assert "characters cut" in big and len(big) < 2500
    assert secret.hits == []
    # a guest has no web.read: the tools are not even offered
    before = len(fake_model.requests)
    fake_model.script.append(Reply(text="hi"))
    await h.ask("hello", user=GUEST)
    guest_tools = {t["function"]["name"] for t in fake_model.requests[before].get("tools", [])}
    assert "http_request" not in guest_tools
    assert Permission.WEB_READ.value == "web.read"


async def test_the_web_tools_cost_little_prompt(make_config, start_harness, fake_model, sites):
    """What the three web tools add to every turn of a role that may use them."""
    public, _secret = sites
    h = await start(
        start_harness, web_config(make_config, public, searxng_url="http://127.0.0.1:9"), public
    )
    await h.ask("hi", user=USER)
    web = [
        t
        for t in fake_model.requests[0]["tools"]
        if t["function"]["name"] in ("http_request", "web_fetch", "web_search")
    ]
    assert len(web) == 3
    size = len(json.dumps(web, separators=(",", ":"), ensure_ascii=False).encode())
    assert size <= 800, size


async def test_writes_ask_a_second_person_unless_a_rule_allows_them(
    make_config, start_harness, fake_model, sites
):
    public, _secret = sites
    base = f"http://public.test:{public.port}"
    config = web_config(make_config, public, allow=[{"method": "POST", "url": f"{base}/hooks/*"}])
    h = await start(start_harness, config, public)
    fake_model.script.extend(
        [
            Reply(
                tool_calls=[
                    (
                        "http_request",
                        {"method": "POST", "url": f"{base}/hooks/deploy", "body": "go"},
                    )
                ]
            ),
            Reply(tool_calls=[("http_request", {"method": "DELETE", "url": f"{base}/items/7"})]),
            Reply(text="finished"),
        ]
    )
    await h.say("deploy and clean up", user=USER)

    async def asked() -> bool:
        return any("DELETE" in m.text and m.buttons for m in h.channel.sent)

    await until(asked)
    assert [x[:2] for x in public.hits] == [("POST", "/hooks/deploy")]  # the rule's: no approval
    card = next(m for m in h.channel.sent if "DELETE" in m.text and m.buttons)
    request_id = card.buttons[0][0].action_id.split(":")[1]
    assert card.chat.chat_id != f"chat-{USER}"  # a second person decides
    await h.say(f"/approve {request_id}", user=OWNER, chat=card.chat.chat_id)

    async def finished() -> bool:
        return any(m.text == "finished" for m in h.channel.sent)

    await until(finished)
    assert [x[:2] for x in public.hits] == [("POST", "/hooks/deploy"), ("DELETE", "/items/7")]
    assert tool_result(fake_model, 2).startswith("HTTP 200")
