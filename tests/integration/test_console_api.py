"""The console's client API through real HTTP and WebSocket against the real daemon."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp
import pytest

from assistant.app import Daemon
from assistant.config import load_config
from assistant.core.commands import (
    Action,
    ActionCall,
    ActionResult,
    Command,
    CommandCall,
)
from assistant.core.messages import Button
from assistant.core.roles import Permission, Role
from assistant.feature import Feature
from assistant.store.console import ConsoleTokens
from tests.fakes.model import Hang
from tests.helpers import FakeClock
from tests.integration.test_cli import run_cli
from tests.integration.test_daemon import write_config

OWNER_TOKEN = "owner-console-token-0123456789abcdef"
ENV = {"ASSISTANT_CONSOLE_TOKEN": OWNER_TOKEN}


def console_config(tmp_path, fake_model, **extra: Any):
    return write_config(
        tmp_path / "config.toml",
        tmp_path / "state",
        fake_model.base_url,
        console={"token": "${ASSISTANT_CONSOLE_TOKEN:-}"},
        **extra,
    )


def bearer(token: str = OWNER_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def until_idle(ws: aiohttp.ClientWebSocketResponse, timeout: float = 15) -> list[dict]:
    """Events up to the next ``idle``; the replies' final texts by message id."""
    seen: list[dict] = []
    async with asyncio.timeout(timeout):
        while True:
            push = await ws.receive_json()
            seen.append(push)
            if push["type"] == "idle":
                return seen


def texts(events: list[dict]) -> list[str]:
    final: dict[str, str] = {}
    for e in events:
        if e["type"] in ("message", "edit"):
            final[e["message_id"]] = e["text"]
    return list(final.values())


async def start_daemon(
    path, env, clock=None, extra=(), options=None
) -> tuple[Daemon, asyncio.Task[int]]:
    d = Daemon(
        load_config(path, env),
        config_path=path,
        env=env,
        configure_logging=False,
        clock=clock,
        extra=extra,
        options=options,
    )
    task = asyncio.create_task(d.run())
    async with asyncio.timeout(15):
        await d.ready.wait()
    return d, task


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
async def daemon(tmp_path, fake_model, clock):
    d, task = await start_daemon(console_config(tmp_path, fake_model), ENV, clock)
    yield d
    d.stop()
    assert await task == 0


def base(d) -> str:
    return f"http://127.0.0.1:{d.gateway.port}"


async def test_everything_needs_auth_and_carries_a_strict_csp(daemon):
    async with aiohttp.ClientSession() as http:
        for method, path in [
            ("GET", "/api/me"),
            ("GET", "/api/messages"),
            ("POST", "/api/messages"),
            ("POST", "/api/logout"),
            ("GET", "/ws"),
        ]:
            async with http.request(method, base(daemon) + path, json={}) as r:
                assert r.status == 401, path
                assert "POST /api/login" in (await r.json())["error"]
                csp = r.headers["Content-Security-Policy"]
                assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        async with http.get(base(daemon) + "/api/me", headers=bearer("wrong")) as r:
            assert r.status == 401
        async with http.get(base(daemon) + "/healthz") as r:
            assert r.status == 200  # health stays open


async def test_bearer_chat_through_the_router_with_ws_and_missed_messages(daemon):
    url = base(daemon)
    async with aiohttp.ClientSession(headers=bearer()) as http:
        async with http.get(url + "/api/me") as r:
            me = await r.json()
            assert (me["person"], me["role"]) == ("local", "owner")
        async with http.ws_connect(url + "/ws") as ws:
            assert (await ws.receive_json())["type"] == "ready"
            async with http.post(url + "/api/messages", json={"text": "hello there"}) as r:
                assert r.status == 202
            events = await until_idle(ws)
        assert texts(events) == ["echo: hello there"]
        async with http.post(url + "/api/messages", json={"text": "/status"}) as r:
            assert r.status == 202
        await daemon.services.router.wait_idle("console:local")
        async with http.get(url + "/api/messages", params={"after": "0"}) as r:
            body = await r.json()
        assert texts(body["events"])[0] == "echo: hello there"
        assert texts(body["events"])[1].startswith("Assistant — up")
        reply = next(e for e in body["events"] if e["type"] == "message")["message_id"]
        first = max(e["id"] for e in body["events"] if e["message_id"] == reply)
        async with http.get(url + "/api/messages", params={"after": str(first)}) as r:
            later = await r.json()
        assert "echo: hello there" not in texts(later["events"])
        # a reconnecting socket replays what it missed, then serves live
        async with http.ws_connect(url + f"/ws?after={first}") as ws:
            replay = [await ws.receive_json() for _ in range(len(later["events"]) + 1)]
            assert replay[-1] == {"type": "ready", "last": later["last"]}
            assert texts(replay) == texts(later["events"])
        # the same client_id twice is answered once
        for _ in range(2):
            async with http.post(
                url + "/api/messages", json={"text": "once", "client_id": "c-1"}
            ) as r:
                assert (await r.json())["outcome"] in ("accepted", "duplicate")
        await daemon.services.router.wait_idle("console:local")
        async with http.get(url + "/api/messages", params={"after": str(later["last"])}) as r:
            events = (await r.json())["events"]
        assert texts(events) == ["echo: once"]
        assert [e["text"] for e in events if e["type"] == "mine"] == ["once"]  # shown once too


async def test_ids_past_sqlite_integers_are_answered(daemon):
    """An event or record id is text from the browser: one past SQLite's 64-bit integers
    names nothing (no OverflowError, no 500)."""
    huge = "99999999999999999999"
    async with aiohttp.ClientSession(headers=bearer()) as http:
        for path, query, key in [
            ("/api/messages", {"after": huge}, "events"),
            ("/api/messages", {"before": huge}, "events"),
            ("/api/audit", {"before": huge}, "records"),
        ]:
            async with http.get(base(daemon) + path, params=query) as r:
                assert r.status == 200, (path, query, await r.text())
                assert isinstance((await r.json())[key], list)
        async with http.get(base(daemon) + "/api/messages", params={"before": "-1"}) as r:
            assert r.status == 400


async def test_browser_session_cookie_csrf_logout_and_login_limit(daemon, clock):
    url = base(daemon)
    async with aiohttp.ClientSession() as http:
        for _ in range(5):
            async with http.post(url + "/api/login", json={"token": "nope"}) as r:
                assert r.status == 401
        for headers in ({}, bearer()):  # the right token too, and by bearer: wait it out
            async with http.post(
                url + "/api/login", json={"token": OWNER_TOKEN}, headers=headers
            ) as r:
                assert r.status == 429 and 0 < int(r.headers["Retry-After"]) <= 61
    clock.advance(61)
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.post(url + "/api/login", data=b"token=x") as r:
            assert r.status == 415  # a form post (cross-site capable) is refused
        async with http.post(url + "/api/login", json={"token": OWNER_TOKEN}) as r:
            assert r.status == 200
            csrf = (await r.json())["csrf"]
            cookie = r.headers.getall("Set-Cookie")
        session_cookie = next(c for c in cookie if c.startswith("assistant_session="))
        assert "HttpOnly" in session_cookie and "SameSite=Strict" in session_cookie
        assert "Secure" not in session_cookie  # plain http on loopback
        async with http.get(url + "/api/me") as r:
            assert (await r.json())["csrf"] == csrf
        async with http.post(url + "/api/messages", json={"text": "hi"}) as r:
            assert r.status == 403 and "CSRF" in (await r.json())["error"]
        headers = {"X-CSRF-Token": csrf}
        async with http.post(url + "/api/messages", json={"text": "hi"}, headers=headers) as r:
            assert r.status == 202
        async with http.get(url + "/api/me", headers={"Origin": "http://evil.example"}) as r:
            assert r.status == 403
        async with http.post(url + "/api/logout", json={}, headers=headers) as r:
            assert r.status == 200
        async with http.get(url + "/api/me") as r:
            assert r.status == 401
        # behind a TLS proxy the cookies are Secure; a session ends after session_hours
        async with http.post(
            url + "/api/login",
            json={"token": OWNER_TOKEN},
            headers={"X-Forwarded-Proto": "https"},
        ) as r:
            assert all("Secure" in c for c in r.headers.getall("Set-Cookie"))
            cookie = {"Cookie": f"assistant_session={r.cookies['assistant_session'].value}"}
        async with http.get(url + "/api/me", headers=cookie) as r:
            assert r.status == 200
        clock.advance(12 * 3600 + 1)
        async with http.get(url + "/api/me", headers=cookie) as r:
            assert r.status == 401


async def test_person_tokens_have_their_role_and_can_be_revoked(daemon):
    url = base(daemon)
    tokens = ConsoleTokens(daemon.services.db)
    token = await tokens.create("ann", Role.USER, by="cli:test")
    assert len(token) >= 43  # 32 random bytes
    async with aiohttp.ClientSession(headers=bearer(token)) as http:
        async with http.get(url + "/api/me") as r:
            assert (await r.json())["role"] == "user"
        async with http.post(url + "/api/messages", json={"text": "/pair"}) as r:
            assert r.status == 202
        await daemon.services.router.wait_idle("console:ann")
        async with http.get(url + "/api/messages") as r:
            (reply,) = texts((await r.json())["events"])
        assert reply == "/pair is not available to your role (user)."
        listed = await tokens.list()
        assert [(t.name, t.role) for t in listed] == [("ann", Role.USER)]
        assert listed[0].last_used_at is not None
        assert await tokens.revoke("ann", by="cli:test")
        async with http.get(url + "/api/me") as r:
            assert r.status == 401
    rows = await daemon.services.db.fetchall("SELECT hash FROM console_tokens")
    assert rows == []


async def test_replies_survive_a_restart_and_a_cut_turn_is_answered_once(tmp_path, fake_model):
    path = console_config(tmp_path, fake_model)
    d, task = await start_daemon(path, ENV)
    url = base(d)
    fake_model.script.append(Hang(60))
    async with (
        aiohttp.ClientSession(headers=bearer()) as http,
        http.ws_connect(url + "/ws") as ws,
    ):
        async with http.post(url + "/api/messages", json={"text": "slow one"}) as r:
            assert r.status == 202
        await fake_model.wait_requests(1)
        d.stop()  # the drain (3 s) cuts the turn; the message stays in the inbox
        assert await asyncio.wait_for(task, 10) == 0  # an open socket does not hold it up
        async with asyncio.timeout(5):
            while (await ws.receive()).type is not aiohttp.WSMsgType.CLOSED:
                pass
    d, task = await start_daemon(path, ENV)
    url = base(d)
    try:
        seen: list[dict] = []
        async with (
            aiohttp.ClientSession(headers=bearer()) as http,
            http.ws_connect(url + "/ws?after=0") as ws,
            asyncio.timeout(15),
        ):
            while "echo: slow one" not in texts(seen):
                seen.append(await ws.receive_json())
        await d.services.router.wait_idle()
        async with (
            aiohttp.ClientSession(headers=bearer()) as http,
            http.get(url + "/api/messages") as r,
        ):
            events = (await r.json())["events"]
        assert texts(events).count("echo: slow one") == 1
    finally:
        d.stop()
        assert await task == 0


async def test_token_command_line_while_the_daemon_runs(daemon, tmp_path):
    config = str(tmp_path / "config.toml")

    async def cli(*args: str):
        return await asyncio.to_thread(run_cli, "users", "token", *args, "--config", config)

    made = await cli("create", "bob", "--role", "admin")
    assert made.returncode == 0, made.stderr
    token = made.stdout.splitlines()[1]
    again = await cli("create", "bob")
    assert again.returncode == 1 and "has a token already" in again.stderr
    async with aiohttp.ClientSession(headers=bearer(token)) as http:
        async with http.get(base(daemon) + "/api/me") as r:
            assert (await r.json())["role"] == "admin"
        listed = await cli("list", "--json")
        (entry,) = json.loads(listed.stdout)
        assert (entry["name"], entry["role"], entry["by"]) == ("bob", "admin", entry["by"])
        assert entry["last_used"] is not None and token not in listed.stdout
        assert (await cli("revoke", "bob")).returncode == 0
        async with http.get(base(daemon) + "/api/me") as r:
            assert r.status == 401
    missing = await cli("revoke", "bob")
    assert missing.returncode == 1 and "no console token" in missing.stderr


async def test_the_web_page_is_static_scripted_from_files_and_speaks_the_browser_language(
    daemon,
):
    url = base(daemon)
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/", allow_redirects=False) as r:
            assert (r.status, r.headers["Location"]) == (302, "/console")
        async with http.get(url + "/console") as r:
            page = await r.text()
            assert r.status == 200 and r.content_type == "text/html"
            assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
        assert scripts == [  # no inline script
            (' src="/console/app.js" defer', ""),
            (' src="/console/pages.js" defer', ""),
        ]
        assert not re.search(r"\son[a-z]+=", page) and "http" not in page  # no handlers, no CDN
        for path, kind in [
            ("/console/app.js", "text/javascript"),
            ("/console/pages.js", "text/javascript"),
            ("/console/app.css", "text/css"),
        ]:
            async with http.get(url + path) as r:
                assert r.status == 200 and r.content_type == kind
                text = (await r.text()).replace('"http://www.w3.org/2000/svg"', "")  # a name
                assert "http://" not in text and "https://" not in text
        async with http.get(
            url + "/console/strings.json", headers={"Accept-Language": "zh-CN,zh;q=0.9"}
        ) as r:
            words = await r.json()
        assert words["lang"] == "zh-CN" and words["name"] == "Assistant"
        assert words["login"] == "登录" and words["send"] == "发送"
        async with http.get(url + "/console/strings.json") as r:
            assert (await r.json())["login"] == "Log in"
    # what the person wrote is part of the stored conversation (every session shows it)
    async with aiohttp.ClientSession(headers=bearer()) as http:
        async with http.post(url + "/api/messages", json={"text": "mine too"}) as r:
            assert r.status == 202
        await daemon.services.router.wait_idle("console:local")
        async with http.get(url + "/api/messages") as r:
            events = (await r.json())["events"]
    assert [e["type"] for e in events][:2] == ["mine", "message"]
    assert events[0]["text"] == "mine too"


class Buttons:
    """A feature with a card and two button actions, as approvals have."""

    NAME = "buttons"

    def enabled(self, config) -> bool:
        return True

    async def setup(self, ctx) -> Feature:
        async def card(call: CommandCall) -> str:
            row = (Button("Go", "go:1", "primary"), Button("Boss", "boss:1", "danger"))
            assert call.io is not None
            await call.io.send("Proceed?", buttons=(row,))
            return ""

        async def go(call: ActionCall) -> ActionResult:
            return ActionResult(toast=f"going as {call.role.value}", edit_text="Proceeded.")

        return Feature(
            self.NAME,
            commands=[Command("card", "a card with buttons", Permission.CHAT, card)],
            actions=[Action("go", Permission.CHAT, go), Action("boss", Permission.APPROVE, go)],
        )


async def test_buttons_are_actions_answered_in_the_console(tmp_path, fake_model, clock):
    path = console_config(tmp_path, fake_model)
    d, task = await start_daemon(path, ENV, clock, extra=[Buttons()])
    url = base(d)
    user = await ConsoleTokens(d.services.db).create("uma", Role.USER, by="test")
    try:
        for token, person in ((OWNER_TOKEN, "local"), (user, "uma")):
            async with aiohttp.ClientSession(headers=bearer(token)) as http:
                async with http.post(url + "/api/messages", json={"text": "/card"}) as r:
                    assert r.status == 202
                await d.services.router.wait_idle(f"console:{person}")
                async with http.get(url + "/api/messages") as r:
                    events = (await r.json())["events"]
                (shown,) = [e for e in events if e.get("buttons")]
                assert shown["text"] == "Proceed?"
                assert [b["action"] for b in shown["buttons"][0]] == ["go:1", "boss:1"]
                for action in ("boss:1", "go:1"):
                    press = {"action": action, "message_id": shown["message_id"]}
                    async with http.post(url + "/api/messages", json=press) as r:
                        assert r.status == 202
                async with asyncio.timeout(10):
                    while True:
                        async with http.get(url + "/api/messages") as r:
                            events = (await r.json())["events"]
                        if len([e for e in events if e["type"] == "notice"]) == 2:
                            break
                        await asyncio.sleep(0.02)
                notices = [e["text"] for e in events if e["type"] == "notice"]
                if person == "local":
                    assert notices == ["going as owner", "going as owner"]
                else:
                    assert notices == ["Your role (user) may not do this.", "going as user"]
                edits = [e for e in events if e["type"] == "edit"]
                assert edits[-1]["message_id"] == shown["message_id"]
                assert edits[-1]["text"] == "Proceeded."
    finally:
        d.stop()
        assert await task == 0
