"""HTTP and TLS checks through the real scheduler, router and SSRF-guarded client, against
loopback servers: a health endpoint that can answer well, wrongly, slowly (it moves the fake
clock while it answers: no real waiting) or with the wrong body, and TLS servers presenting
certificates made for the test. 127.0.0.1 is reachable only where the test's config allows it."""

from __future__ import annotations

import io
import time

import pytest
from aiohttp import web

from assistant.core import i18n
from assistant.net.client import WebClient
from assistant.net.guard import AddressPolicy
from assistant.net.tls import trust
from assistant.scheduler.types import HttpCheck, TlsCheck
from assistant.scheduler.webchecks import WebChecks
from tests.conftest import GUEST, OWNER, USER
from tests.fakes.model import Reply
from tests.fakes.tls import CA, TlsServer, self_signed
from tests.fakes.web import FakeDNS, Site
from tests.helpers import FakeClock
from tests.integration.test_scheduler import GROUPS, job_id, settle, step

LOOPBACK = {"allow_networks": ["127.0.0.1/32"]}


def checks_on(make_config, *, web=None, access=None, **settings):
    return make_config(
        scheduler={"enabled": True, "min_interval": 0.1, **settings},
        web=web or {},
        access={**GROUPS, **(access or {})},
    )


class Health:
    """``/health`` in the mode a test sets: up, wrong (503), slow (5 s of fake clock), mismatch
    (200 with a body saying it is degraded)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.mode = "up"
        self.hits = 0
        app = web.Application()
        app.router.add_route("*", "/health", self._health)
        self.runner = web.AppRunner(app)
        self.port = 0

    async def _health(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.mode == "wrong":
            return web.Response(status=503, text="status: down")
        if self.mode == "slow":
            self.clock.advance(5)  # the answer took 5 s of the assistant's clock
        body = "status: degraded" if self.mode == "mismatch" else "status: ok"
        return web.Response(text=body)

    async def start(self) -> Health:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"


@pytest.fixture
async def clock():
    # certificates expire in real days from now; whole seconds, as job times are microseconds
    return FakeClock(float(int(time.time())))


@pytest.fixture
async def health(clock):
    server = await Health(clock).start()
    yield server
    await server.runner.cleanup()


def alerts(h) -> list[str]:
    return [m.text for m in h.channel.sent if m.text.startswith(("🔴", "🟢"))]


async def test_an_http_check_alerts_once_and_resolves_once(
    make_config, start_harness, clock, health
):
    config = checks_on(make_config, check_cooldown=0, web=LOOPBACK)
    h = await start_harness(config, clock=clock)
    reply = await h.ask(f"/check {health.url} every 1m latency 2s match status: ok", user=USER)
    assert f"🌐 GET {health.url} (status 200-299, within 2s, body matching /status: ok/)" in reply
    jid = job_id(reply)
    states = []
    for mode in ("up", "wrong", "slow", "mismatch", "up"):
        health.mode = mode
        await step(h, clock, 60, jid)
        states.append((await h.scheduler.table.get(jid)).check_state)
    assert states == ["ok", "alert", "alert", "alert", "ok"]
    assert health.hits == 5
    assert alerts(h) == [
        f"🔴 Alert (check {jid}): GET {health.url} answered 503 in 0 ms, expected 200-299.",
        f"🟢 OK (check {jid}): GET {health.url} answered 200 in 0 ms.",
    ]


async def test_each_way_an_http_check_fails_is_named(clock, health):
    async with WebClient(
        AddressPolicy.of(networks=["127.0.0.1/32"]),
        timeout=5,
        max_redirects=2,
        max_download=10_000,
        user_agent="test",
    ) as client:
        checks = WebChecks(client, clock)
        check = HttpCheck(url=health.url, max_latency=2, regex="status: ok")
        seen = {}
        for mode in ("up", "wrong", "slow", "mismatch"):
            health.mode = mode
            observed = await checks.observe_http(check)
            seen[mode] = (observed.failing, observed.detail)
        health.mode = "slow"
        with i18n.using("zh_CN"):
            chinese = (await checks.observe_http(check)).detail
        closed = await checks.observe_http(HttpCheck(url="http://127.0.0.1:9/"))
        health.mode = "up"
        head = await checks.observe_http(HttpCheck(url=health.url, method="HEAD", status="200"))
        plain = await checks.observe_tls(TlsCheck(host="127.0.0.1", port=health.port))
    url = health.url
    assert seen == {
        "up": (False, f"GET {url} answered 200 in 0 ms"),
        "wrong": (True, f"GET {url} answered 503 in 0 ms, expected 200-299"),
        "slow": (True, f"GET {url} answered 200 in 5000 ms, slower than 2000 ms"),
        "mismatch": (True, f"GET {url} answered 200, but the body does not match /status: ok/"),
    }
    assert chinese == f"GET {url} 返回 200，用时 5000 毫秒，慢于 2000 毫秒"
    assert closed.failing and closed.detail.startswith("GET http://127.0.0.1:9/ failed: cannot")
    assert (head.failing, head.detail) == (False, f"HEAD {url} answered 200 in 0 ms")
    assert plain.failing and plain.detail == (
        f"TLS on 127.0.0.1:{health.port}: the TLS handshake failed (wrong version number)"
    )


async def test_internal_addresses_are_refused_without_the_allowlist(
    make_config, start_harness, clock, health
):
    public = await Site("public").start("127.0.0.2")  # stands in for a public address
    public.redirects["/moved"] = health.url
    dns = FakeDNS({"internal.test": ["127.0.0.1"], "public.test": ["127.0.0.2"]})
    config = checks_on(make_config, check_cooldown=0, web={"allow_networks": ["127.0.0.2/32"]})
    h = await start_harness(config, clock=clock, options={"web.resolver": dns})
    for target in (
        health.url,
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/",
        f"tls 127.0.0.1:{health.port}",
    ):
        reply = await h.ask(f"/check {target}", user=USER)
        assert reply.startswith("That address is refused by the SSRF guard"), reply
        assert "allow_networks" in reply
    assert await h.scheduler.jobs_in(h.message("x", user=USER).chat) == []

    # a name is judged by what it resolves to, and a redirect by where it leads, on every run
    named = f"http://internal.test:{health.port}/health"
    moved = f"http://public.test:{public.port}/moved"
    first = job_id(await h.ask(f"/check {named} every 1m", user=USER))
    second = job_id(await h.ask(f"/check {moved} every 1m", user=USER))
    clock.advance(60)
    await h.channel.wait_sent(len(h.channel.sent) + 2)
    await settle(h, clock)
    await public.stop()
    advice = "[web] allow_hosts or allow_networks in the config can open an internal address."
    assert sorted(alerts(h)) == sorted(
        [
            f"🔴 Alert (check {first}): GET {named} failed: refused by the SSRF guard "
            f"(internal.test resolves only to refused addresses (127.0.0.1)); {advice}",
            f"🔴 Alert (check {second}): GET {moved} failed: refused by the SSRF guard "
            f"(127.0.0.1 is a private or reserved address); {advice}",
        ]
    )
    assert health.hits == 0 and [hit[1] for hit in public.hits] == ["/moved"]


async def test_only_people_with_web_read_create_http_and_tls_checks(
    make_config, start_harness, fake_model, clock, health
):
    config = checks_on(
        make_config,
        web=LOOPBACK,
        access={"permissions": {"user": ["chat", "schedule"]}},
    )
    h = await start_harness(config, clock=clock)
    refused = await h.ask(f"/check {health.url}", user=USER)
    assert refused == (
        "HTTP and TLS checks need the web.read permission (what web requests need), and your "
        "role does not have it."
    )
    assert "not available to your role" in await h.ask(f"/check {health.url}", user=GUEST)
    call = {"kind": "check", "text": health.url, "every": "5m"}
    fake_model.script.extend([Reply(tool_calls=[("schedule", call)]), Reply(text="Sorry.")])
    await h.ask("watch my health endpoint", user=USER)
    assert fake_model.requests[1]["messages"][-1]["content"].startswith(
        "Error: HTTP and TLS checks need the web.read permission"
    )
    assert await h.scheduler.table.find() == []

    # the owner may; the model's schedule tool makes the same check
    call = {"kind": "check", "text": f"{health.url} status 200 match ok", "every": "5m"}
    fake_model.script.extend([Reply(tool_calls=[("schedule", call)]), Reply(text="Done.")])
    await h.ask("watch my health endpoint", user=OWNER)
    call = {"kind": "check", "text": "tls 127.0.0.1:8443 days 30", "cron": "0 9 * * *"}
    fake_model.script.extend([Reply(tool_calls=[("schedule", call)]), Reply(text="Done.")])
    await h.ask("and its certificate", user=OWNER)
    assert [job.task for job in await h.scheduler.table.find()] == [
        HttpCheck(url=health.url, status="200", regex="ok"),
        TlsCheck(host="127.0.0.1", port=8443, days=30),
    ]


async def test_tls_certificate_expiry_and_trust(make_config, start_harness, clock, tmp_path):
    ca = CA()
    (tmp_path / "ca.pem").write_bytes(ca.pem)
    servers = {
        "soon": await TlsServer(ca.issue(tmp_path, "soon", days=3)).start(),
        "fine": await TlsServer(ca.issue(tmp_path, "fine", days=90)).start(),
        "untrusted": await TlsServer(self_signed(tmp_path, "untrusted", days=90)).start(),
    }
    try:
        web_config = {**LOOPBACK, "ca_file": str(tmp_path / "ca.pem")}
        config = checks_on(make_config, check_cooldown=0, web=web_config)
        h = await start_harness(config, clock=clock)
        jobs = {}
        for name, server in servers.items():
            reply = await h.ask(f"/check tls 127.0.0.1:{server.port} every 1m days 14", user=USER)
            assert f"🔒 TLS certificate of 127.0.0.1:{server.port} (alert 14 days before" in reply
            jobs[name] = job_id(reply)
        clock.advance(60)
        await h.channel.wait_sent(len(servers) + 2)
        await settle(h, clock)
        soon, fine, untrusted = [await h.scheduler.table.get(jobs[n]) for n in servers]
    finally:
        for server in servers.values():
            await server.stop()
    assert (soon.check_state, fine.check_state, untrusted.check_state) == ("alert", "ok", "alert")
    assert 2.9 < soon.check_value <= 3.0 and 89.9 < fine.check_value <= 90.0
    expected = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 3 * 86400))
    port = {name: server.port for name, server in servers.items()}
    assert sorted(alerts(h)) == sorted(
        [
            f"🔴 Alert (check {jobs['soon']}): the certificate of 127.0.0.1:{port['soon']} "
            f"expires on {expected}, in 2 days (alert at 14 days).",
            f"🔴 Alert (check {jobs['untrusted']}): TLS on 127.0.0.1:{port['untrusted']}: the "
            "certificate does not verify (self-signed certificate).",
        ]
    )
    assert servers["fine"].handshakes == 1 and servers["soon"].handshakes == 1


async def test_checks_are_listed_by_the_command_line(make_config, start_harness, clock, health):
    from assistant.features.scheduler.cli import jobs_command

    config = checks_on(make_config, web=LOOPBACK)
    h = await start_harness(config, clock=clock)
    await h.ask(f"/check {health.url} head status 2xx", user=USER)
    await h.ask("/check tls 127.0.0.1:8443 days 30", user=USER)
    listed = await h.ask("/jobs", user=USER)
    assert f"🌐 HEAD {health.url} (status 200-299) — every 5m;" in listed
    assert (
        "🔒 TLS certificate of 127.0.0.1:8443 (alert 30 days before it expires) — every 12h;"
        in (listed)
    )
    await h.close()
    out = io.StringIO()

    class Args:
        action = "list"
        all = False
        json = False

    assert await jobs_command(config, Args(), out) == 0
    assert f"🌐 HEAD {health.url}" in out.getvalue()
    assert "🔒 TLS certificate of 127.0.0.1:8443" in out.getvalue()


def test_the_trust_option_names_a_bad_file(tmp_path):
    from assistant.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"\[web\] ca_file: cannot load"):
        trust(tmp_path / "missing.pem")
    assert TlsCheck(host="example.com").target == "example.com:443"


async def test_a_reload_takes_web_read_or_the_allowlist_away(
    make_config, start_harness, clock, health
):
    config = checks_on(make_config, check_cooldown=0, web=LOOPBACK)
    h = await start_harness(config, clock=clock)
    jid = job_id(await h.ask(f"/check {health.url} every 1m", user=USER))
    await step(h, clock, 60, jid)
    assert health.hits == 1

    closed = checks_on(make_config, check_cooldown=0)  # no allowlist any more
    applied, _ = await h.assembly.reload(closed)
    assert "web.allow_networks" in applied
    await step(h, clock, 60, jid)
    assert alerts(h)[-1].startswith(f"🔴 Alert (check {jid}): GET {health.url} failed: refused")

    revoked = checks_on(
        make_config, check_cooldown=0, web=LOOPBACK, access={"permissions": {"user": ["schedule"]}}
    )
    await h.assembly.reload(revoked)
    await step(h, clock, 60, jid)
    assert health.hits == 1  # neither run made a request
    assert (await h.scheduler.table.get(jid)).check_state == "alert"
    before = len(h.channel.sent)
    await h.scheduler.fire(jid, clock.time(), manual=True)  # a run on request says why
    assert (await h.channel.wait_sent(before + 1))[-1].text == (
        f"🔴 Alert (check {jid}): the check may no longer run: the creator's role no longer "
        "has web.read."
    )
