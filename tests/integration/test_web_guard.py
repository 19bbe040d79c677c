"""The guarded web client against loopback: a "public" site on 127.0.0.2 (allowed as if it
were public) and a "secret" service on 127.0.0.1 that no refused form of address, name,
redirect, rebinding or proxy setting may reach."""

from __future__ import annotations

import pytest

from assistant.core.errors import ToolError
from assistant.net.client import WebClient
from assistant.net.guard import AddressPolicy
from tests.fakes.web import FakeDNS, Site


@pytest.fixture
async def sites():
    public = await Site("public").start("127.0.0.2")
    secret = await Site("secret").start("127.0.0.1")
    yield public, secret
    await public.stop()
    await secret.stop()


def dns(public: Site) -> FakeDNS:
    return FakeDNS(
        {
            "public.test": ["127.0.0.2"],
            "evil.test": ["127.0.0.1"],
            "meta.test": ["169.254.169.254"],
            "v6evil.test": ["::ffff:127.0.0.1", "::1"],
            "mixed.test": ["10.0.0.1", "127.0.0.2"],
            "rebind.test": [["127.0.0.2"], ["127.0.0.1"]],
            "localhost": ["127.0.0.1"],
        }
    )


async def client(resolver: FakeDNS, **kw) -> WebClient:
    policy = AddressPolicy.of(networks=["127.0.0.2/32"], hosts=kw.pop("hosts", ()))
    web = WebClient(
        policy,
        timeout=kw.pop("timeout", 5.0),
        max_redirects=5,
        max_download=kw.pop("max_download", 100_000),
        user_agent="test",
        resolver=resolver,
    )
    return await web.__aenter__()


async def test_allowed_requests_and_every_refused_form(sites, monkeypatch):
    public, secret = sites
    p, s = public.port, secret.port
    # a proxy in the environment is not used: it would be the secret service
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{s}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{s}")
    web = await client(dns(public))
    try:
        got = await web.fetch("GET", f"http://public.test:{p}/hello?x=1")
        assert got.status == 200 and b'"site": "public"' in got.body
        got = await web.fetch("POST", f"http://mixed.test:{p}/post", body="data")
        assert b'"body": "data"' in got.body  # 10.0.0.1 dropped, the allowed address used
        refused = [
            f"http://127.0.0.1:{s}/secret",
            f"http://[::1]:{s}/secret",
            f"http://[::ffff:127.0.0.1]:{s}/secret",
            f"http://[::ffff:7f00:1]:{s}/secret",
            f"http://2130706433:{s}/secret",
            f"http://0177.0.0.1:{s}/secret",
            f"http://0x7f.0.0.1:{s}/secret",
            f"http://127.1:{s}/secret",
            f"http://0:{s}/secret",
            f"http://localhost:{s}/secret",
            f"http://evil.test:{s}/secret",
            f"http://v6evil.test:{s}/secret",
            "http://meta.test/latest/meta-data/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/latest/meta-data/",
            "http://10.0.0.1/",
            "http://100.64.0.1/",
            "http://[fe80::1]/",
            "file:///etc/passwd",
            f"ftp://public.test:{p}/",
        ]
        for url in refused:
            with pytest.raises(ToolError) as caught:
                await web.fetch("GET", url)
            message = str(caught.value)
            assert "refused" in message or "not a valid URL" in message, (url, message)
        # redirects are checked again at every hop
        public.redirects["/to-secret"] = f"http://127.0.0.1:{s}/secret"
        public.redirects["/to-evil"] = f"http://evil.test:{s}/secret"
        public.redirects["/to-file"] = "file:///etc/passwd"
        for path in ("/to-secret", "/to-evil", "/to-file"):
            with pytest.raises(ToolError, match="refused"):
                await web.fetch("GET", f"http://public.test:{p}{path}")
        with pytest.raises(ToolError, match="more than 5 redirects"):
            await web.fetch("GET", f"http://public.test:{p}/loop")
        # DNS rebinding: the second answer is private, and it is checked where it is used
        got = await web.fetch("GET", f"http://rebind.test:{p}/first")
        assert got.status == 200
        with pytest.raises(ToolError, match="refused"):
            await web.fetch("GET", f"http://rebind.test:{s}/secret")
    finally:
        await web.__aexit__(None, None, None)
    assert secret.hits == []


async def test_caps_and_the_allowlist_by_name(sites):
    public, secret = sites
    web = await client(dns(public), max_download=10_000, hosts=["evil.test"])
    try:
        got = await web.fetch("GET", f"http://public.test:{public.port}/big")
        assert got.truncated and len(got.body) == 10_000
        got = await web.fetch("HEAD", f"http://public.test:{public.port}/big")
        assert got.body == b"" and got.status == 200
        # a write is not repeated where a redirect points: the redirect is the answer
        public.redirects["/moved"] = "/elsewhere"
        got = await web.fetch("PUT", f"http://public.test:{public.port}/moved", body="x")
        assert got.status == 302 and ("PUT", "/elsewhere", "x") not in public.hits
        got = await web.fetch("POST", f"http://public.test:{public.port}/moved", body="x")
        assert got.status == 200 and public.hits[-1][:2] == ("GET", "/elsewhere")
        # a name the config allows by name reaches its (private) address; nothing else does
        got = await web.fetch("GET", f"http://evil.test:{secret.port}/named")
        assert got.status == 200
        with pytest.raises(ToolError, match="refused"):
            await web.fetch("GET", f"http://127.0.0.1:{secret.port}/secret")
    finally:
        await web.__aexit__(None, None, None)
    assert [h[1] for h in secret.hits] == ["/named"]


async def test_credentials_stay_with_the_origin_they_were_given_for(sites):
    """Authorization and Cookie go to the scheme, host and port they were set for: a redirect to
    another port (another service) of the same host does not carry them on."""
    public, _secret = sites
    other = await Site("other").start("127.0.0.2")
    web = await client(dns(public))
    try:
        public.redirects["/hop"] = f"http://127.0.0.2:{other.port}/landed"
        headers = {"Authorization": "Bearer user-given", "Cookie": "session=1", "X-Trace": "t"}
        got = await web.fetch("GET", f"http://127.0.0.2:{public.port}/hop", headers=headers)
        assert got.status == 200 and other.hits[-1][1] == "/landed"
        assert public.headers[-1]["Authorization"] == "Bearer user-given"
        landed = other.headers[-1]
        assert "Authorization" not in landed and "Cookie" not in landed
        assert landed["X-Trace"] == "t"
    finally:
        await web.__aexit__(None, None, None)
        await other.stop()
