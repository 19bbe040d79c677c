"""The web console's page endpoints through real HTTP: the gate on the server decides what
each role may see and do, CSRF guards every change, and actions take the chat's path."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import aiohttp
import pytest

from assistant.core.roles import Role
from assistant.store.console import ConsoleTokens
from tests.fakes import sshd as fake_sshd
from tests.helpers import FakeClock
from tests.integration.test_console_api import (
    ENV,
    OWNER_TOKEN,
    base,
    bearer,
    console_config,
    start_daemon,
    texts,
)

ADMIN_ONLY = [
    ("GET", "/api/approvals"),
    ("POST", "/api/approvals/1"),
    ("GET", "/api/people"),
    ("POST", "/api/pairing/telegram/ABCD2345"),
    ("POST", "/api/tokens"),
    ("POST", "/api/tokens/bob/revoke"),
    ("GET", "/api/hosts"),
    ("POST", "/api/hosts/box/probe"),
    ("GET", "/api/audit"),
    ("POST", "/api/audit/verify"),
    ("GET", "/api/system"),
    ("POST", "/api/system/reload"),
    ("POST", "/api/system/doctor"),
]


@pytest.fixture
def clock():
    return FakeClock(time.time())  # the console's events are stamped with the wall clock


@pytest.fixture
async def daemon(tmp_path, fake_model, clock):
    path = console_config(tmp_path, fake_model, scheduler={"enabled": True})
    d, task = await start_daemon(path, ENV, clock)
    yield d
    d.stop()
    assert await task == 0


async def token(d, name: str, role: Role) -> str:
    return await ConsoleTokens(d.services.db).create(name, role, by="test")


async def say(d, http: aiohttp.ClientSession, *said: tuple[dict[str, str], str]) -> None:
    """Each (headers, text) as a console message; then everything is answered."""
    for headers, text in said:
        async with http.post(base(d) + "/api/messages", json={"text": text}, headers=headers) as r:
            assert r.status == 202
    await d.services.router.wait_idle()


async def test_a_user_gets_chat_and_own_jobs_only_and_403_elsewhere(daemon):
    url = base(daemon)
    bob = bearer(await token(daemon, "bob", Role.USER))
    async with aiohttp.ClientSession() as http:
        for method, path in ADMIN_ONLY:
            async with http.request(method, url + path, json={}) as r:
                assert r.status == 401, path  # nobody without a token
            async with http.request(method, url + path, json={}, headers=bob) as r:
                assert r.status == 403, path
                assert "user role may not" in (await r.json())["error"]
        async with http.get(url + "/api/me", headers=bob) as r:
            assert (await r.json())["pages"] == ["chat", "jobs", "memory"]
        async with http.get(url + "/api/me", headers=bearer()) as r:
            assert (await r.json())["pages"] == [
                "chat", "approvals", "people", "jobs", "memory", "hosts", "audit", "system",
            ]  # fmt: skip
        # jobs: a user sees and cancels only their own; the owner sees all
        await say(daemon, http, (bob, "/remind 1h stretch"), (bearer(), "/remind 2h stretch"))
        async with http.get(url + "/api/jobs", headers=bob) as r:
            mine = (await r.json())["jobs"]
        async with http.get(url + "/api/jobs", headers=bearer()) as r:
            everyone = (await r.json())["jobs"]
        assert [j["owner"] for j in mine] == ["console:bob"]
        assert sorted(j["owner"] for j in everyone) == ["console:bob", "console:local"]
        owners = next(j for j in everyone if j["owner"] == "console:local")
        async with http.post(url + f"/api/jobs/{owners['id']}/cancel", headers=bob) as r:
            assert "someone else" in (await r.json())["message"]
        async with http.post(url + f"/api/jobs/{mine[0]['id']}/cancel", headers=bob) as r:
            assert (await r.json())["message"].startswith("Cancelled job")
        async with http.get(url + "/api/jobs", headers=bearer()) as r:
            assert [j["owner"] for j in (await r.json())["jobs"]] == ["console:local"]


async def test_a_paused_job_does_not_fire_until_resumed(daemon, clock):
    url = base(daemon)
    async with aiohttp.ClientSession(headers=bearer()) as http:
        await say(daemon, http, ({}, "/remind 1h stand up"))
        async with http.get(url + "/api/jobs") as r:
            (job,) = (await r.json())["jobs"]
        async with http.post(url + f"/api/jobs/{job['id']}/pause") as r:
            assert (await r.json())["message"] == f"Paused job {job['id']}."
        async with http.get(url + "/api/jobs") as r:
            (paused,) = (await r.json())["jobs"]
        assert paused["paused"] is True and paused["next_run"] is None

        async def reminded() -> bool:  # besides the answer to /remind itself
            async with http.get(url + "/api/messages") as r:
                said = texts((await r.json())["events"])
            return sum("stand up" in t for t in said) > 1

        clock.advance(2 * 3600)  # past its time: a paused job has no planned run to fire
        await daemon.services.router.wait_idle()
        assert not await reminded()
        async with http.post(url + f"/api/jobs/{job['id']}/resume") as r:
            assert (await r.json())["message"] == f"Resumed job {job['id']}."
        async with asyncio.timeout(10):
            while not await reminded():
                clock.advance(1)
                await asyncio.sleep(0.02)


async def test_cookie_sessions_need_csrf_for_every_change(daemon):
    url = base(daemon)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(url + "/api/login", json={"token": OWNER_TOKEN}) as r:
            csrf = (await r.json())["csrf"]
        for path in [p for m, p in ADMIN_ONLY if m == "POST"]:
            async with http.post(url + path, json={"name": "x", "role": "user"}) as r:
                assert r.status == 403 and "CSRF" in (await r.json())["error"], path
        async with http.get(url + "/api/tokens") as r:
            assert r.status in (404, 405)  # no such read
        headers = {"X-CSRF-Token": csrf}
        async with http.post(
            url + "/api/tokens", json={"name": "ann", "role": "admin"}, headers=headers
        ) as r:
            assert r.status == 201
            ann = (await r.json())["token"]
        async with http.get(url + "/api/me", headers=bearer(ann)) as r:
            pages = (await r.json())["pages"]
        assert pages == ["chat", "approvals", "jobs", "memory", "hosts", "audit", "system"]
        async with http.get(url + "/api/people") as r:
            people = await r.json()
        assert [(t["name"], t["role"]) for t in people["tokens"]] == [("ann", "admin")]
        assert ("console:ann", "admin") in [(u["account"], u["role"]) for u in people["users"]]
        async with http.post(url + "/api/tokens/ann/revoke", headers=headers) as r:
            assert r.status == 200
        async with http.get(url + "/api/me", headers=bearer(ann)) as r:
            assert r.status == 401
        async with http.get(url + "/api/audit", params={"kind": "console.token"}) as r:
            kinds = [a["kind"] for a in (await r.json())["records"]]
        assert kinds == ["console.token_revoked", "console.token_created"]  # newest first
        async with http.post(url + "/api/audit/verify", headers=headers) as r:
            assert (await r.json()) == {"ok": True, "problems": []}
        async with http.get(url + "/api/system") as r:
            system = await r.json()
        assert system["ready"] is True and "router" in system["components"]
        assert OWNER_TOKEN not in system["config"] and "[console]" in system["config"]
        async with http.post(url + "/api/system/doctor", headers=headers) as r:
            doctor = await r.json()  # `assistant doctor --json` on the daemon's config
        assert doctor["checks"][0]["check"] == "config"
        assert doctor["checks"][0]["status"] == "ok"
        async with http.post(url + "/api/system/reload", headers=headers) as r:
            assert r.status == 202
        async with asyncio.timeout(10):  # the daemon reloads its config, as on SIGHUP
            while True:
                async with http.get(url + "/api/audit", params={"kind": "config.reload"}) as r:
                    kinds = [a["kind"] for a in (await r.json())["records"]]
                if "config.reload" in kinds:
                    break
                await asyncio.sleep(0.05)
        assert "config.reload_requested" in kinds


async def test_pairing_approve_and_reject_and_approvals_through_the_chat_rules(daemon):
    url = base(daemon)
    pairing = daemon.services.pairing
    kept, _ = await pairing.request("console", "carol", name="Carol", chat_id="carol")
    gone, _ = await pairing.request("console", "dave", name="Dave", chat_id="dave")
    async with aiohttp.ClientSession(headers=bearer()) as http:
        async with http.get(url + "/api/people") as r:
            codes = {p["code"] for p in (await r.json())["pairing"]}
        assert codes == {kept.code, gone.code}
        async with http.post(
            url + f"/api/pairing/console/{gone.code}", json={"decision": "reject"}
        ) as r:
            assert r.status == 200
        async with http.post(
            url + f"/api/pairing/console/{kept.code}", json={"decision": "approve", "role": "user"}
        ) as r:
            assert r.status == 200 and "Carol" in (await r.json())["message"]
        async with http.get(url + "/api/people") as r:
            people = await r.json()
        assert people["pairing"] == []
        assert ("console:carol", "user") in [(u["account"], u["role"]) for u in people["users"]]
        async with http.get(url + "/api/audit", params={"kind": "pairing."}) as r:
            assert [a["kind"] for a in (await r.json())["records"]] == ["pairing.rejected"]
        # an approval decision is the person's /deny in their chat: answered there
        async with http.post(url + "/api/approvals/41", json={"decision": "deny"}) as r:
            assert r.status == 202
        async with http.post(url + "/api/approvals/41", json={"decision": "maybe"}) as r:
            assert r.status == 400
        await daemon.services.router.wait_idle("console:local")
        async with http.get(url + "/api/messages") as r:
            events = (await r.json())["events"]
        assert [e["text"] for e in events if e["type"] == "mine"] == ["/deny 41"]
        assert texts(events)  # the router answered it like a typed /deny


async def test_memory_a_user_sees_and_forgets_only_their_own(tmp_path, fake_model, embedder):
    path = console_config(tmp_path, fake_model, memory={"enabled": True})
    d, task = await start_daemon(path, ENV, options={"embedder": embedder})
    try:
        url = base(d)
        bob = bearer(await token(d, "bob", Role.USER))
        async with aiohttp.ClientSession() as http:
            await say(
                d,
                http,
                (bob, "/remember my bike is blue"),
                (bearer(), "/remember the server room code is 42"),
            )
            async with http.get(url + "/api/me", headers=bob) as r:
                assert "memory" in (await r.json())["pages"]
            async with http.get(url + "/api/memory", headers=bob) as r:
                mine = await r.json()
            assert [m["text"] for m in mine["memories"]] == ["my bike is blue"]
            assert mine["spaces"] == ["user:console:bob"]
            async with http.get(
                url + "/api/memory", params={"space": "user:console:local"}, headers=bob
            ) as r:  # asking for another's space changes nothing
                assert [m["text"] for m in (await r.json())["memories"]] == ["my bike is blue"]
            async with http.get(
                url + "/api/memory", params={"q": "door code"}, headers=bearer()
            ) as r:
                everyone = await r.json()
            assert everyone["memories"][0]["text"] == "the server room code is 42"
            assert set(everyone["spaces"]) == {"user:console:bob", "user:console:local"}
            owners = everyone["memories"][0]["id"]
            async with http.post(url + "/api/memory/forget", json={"id": owners}, headers=bob) as r:
                assert r.status == 404  # not bob's
            async with http.post(
                url + "/api/memory/forget", json={"id": owners}, headers=bearer()
            ) as r:
                assert r.status == 200
            async with http.get(url + "/api/memory", headers=bearer()) as r:
                assert [m["text"] for m in (await r.json())["memories"]] == ["my bike is blue"]
    finally:
        d.stop()
        assert await task == 0


async def test_attached_files_take_the_inbound_attachment_path(daemon, tmp_path):
    url = base(daemon)
    bob = bearer(await token(daemon, "bob", Role.USER))
    async with aiohttp.ClientSession() as http:
        headers = {**bob, "Content-Type": "text/plain", "X-File-Name": "notes%20v2.txt"}
        async with http.post(
            url + "/api/upload", data=b"the word is pineapple", headers=headers
        ) as r:
            assert r.status == 201
            upload = await r.json()
        assert (upload["name"], upload["kind"], upload["size"]) == ("notes v2.txt", "document", 21)
        async with http.post(
            url + "/api/messages",
            json={"text": "what does it say?", "attachments": [upload]},
            headers=bob,
        ) as r:
            assert r.status == 202
        await daemon.services.router.wait_idle("console:bob")
        async with http.get(url + "/api/messages", headers=bob) as r:
            events = (await r.json())["events"]
        assert events[0]["files"] == ["notes v2.txt"]
        assert "pineapple" in texts(events)[0]  # the model read the file
        # someone else's upload, or a made-up one, is refused
        async with http.post(
            url + "/api/messages", json={"attachments": [upload]}, headers=bearer()
        ) as r:
            assert r.status == 400 and "your uploads" in (await r.json())["error"]
        forged = {**upload, "ref": "bob/../../state.db"}
        async with http.post(
            url + "/api/messages", json={"attachments": [forged]}, headers=bob
        ) as r:
            assert r.status == 400
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(url + "/api/login", json={"token": OWNER_TOKEN}):
            pass
        async with http.post(url + "/api/upload", data=b"x") as r:
            assert r.status == 403 and "CSRF" in (await r.json())["error"]


@pytest.mark.skipif(fake_sshd.available() is not None, reason=str(fake_sshd.available()))
async def test_approving_on_the_page_needs_a_totp_code_where_the_host_does(
    tmp_path, fake_model, sshd
):
    import pyotp

    from assistant.security.second_factor import SecondFactor
    from assistant.store.db import Database, prepare_state_dir
    from assistant.store.totp import TotpStore

    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd.known_hosts_line + "\n")
    host = {"name": "box", "address": "127.0.0.1", "port": sshd.port, "require_totp": True}
    ssh = {"known_hosts": str(known_hosts), "user": sshd.user, "key_file": str(sshd.user_key)}
    path = console_config(tmp_path, fake_model, ssh={**ssh, "hosts": [host]})
    prepare_state_dir(tmp_path / "state")
    async with Database(tmp_path / "state" / "state.db") as db:
        secret, _ = await SecondFactor(TotpStore(db)).enroll("console:local")
    d, task = await start_daemon(path, ENV)
    marker = Path(f"/tmp/assistant-console-{uuid.uuid4().hex}")  # writable by the sshd's user
    try:
        url = base(d)
        ann = bearer(await token(d, "ann", Role.ADMIN))
        async with aiohttp.ClientSession(headers=bearer()) as http:
            async with http.post(
                url + "/api/messages", json={"text": f"/run box touch {marker}"}, headers=ann
            ) as r:
                assert r.status == 202
            async with asyncio.timeout(10):
                while True:
                    async with http.get(url + "/api/approvals") as r:
                        pending = (await r.json())["approvals"]
                    if pending:
                        break
                    await asyncio.sleep(0.05)
            (ask,) = pending
            assert ask["command"] == f"touch {marker}" and ask["requester"] == "console:ann"
            assert ask["totp"] is True  # the page shows the code field

            async def decide(code: str, answer: str) -> None:
                body = {"decision": "approve", "code": code}
                async with http.post(url + f"/api/approvals/{ask['id']}", json=body) as r:
                    assert r.status == 202
                async with asyncio.timeout(10):  # /approve is immediate: no queue to wait on
                    while True:
                        async with http.get(url + "/api/messages") as r:
                            said = texts((await r.json())["events"])
                        if said and answer in said[-1]:
                            return
                        await asyncio.sleep(0.05)

            await decide("", "one-time code")
            await decide("000000", "not valid")
            assert not marker.exists()
            await decide(pyotp.TOTP(secret).now(), "Approved")
            async with asyncio.timeout(15):
                while not marker.exists():  # the command runs on the test sshd
                    await asyncio.sleep(0.05)
            marker.unlink()
    finally:
        d.stop()
        assert await task == 0


async def test_page_answers_are_in_the_browser_language(daemon):
    url = base(daemon)
    async with aiohttp.ClientSession(headers=bearer()) as http:
        await say(daemon, http, ({}, "/remind 2h stretch"))
        zh = {"Accept-Language": "zh-CN,zh;q=0.9"}
        async with http.get(url + "/api/jobs", headers=zh) as r:
            (job,) = (await r.json())["jobs"]
        assert job["schedule"].startswith("一次，")  # once at … (UTC)
        async with http.post(url + f"/api/jobs/{job['id']}/pause", headers=zh) as r:
            assert (await r.json())["message"] == f"已暂停任务 {job['id']}。"
