"""The Feishu Open API client against the fake platform: tokens, error codes, downloads."""

from __future__ import annotations

import aiohttp
import pytest

from assistant.channels.feishu.api import FeishuAPI, FeishuRefused
from assistant.core.errors import ChannelAuthError, ChannelError, ChannelUnavailable
from assistant.core.redact import Redactor
from tests.fakes.feishu import FakeFeishu
from tests.integration.feishu_support import OWNER, OWNER_CHAT, feishu

__all__ = ["feishu"]  # fixtures

CARD = '{"schema":"2.0","config":{"update_multi":true},"body":{"elements":[]}}'


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
async def api(feishu: FakeFeishu):
    clock = ManualClock()
    async with aiohttp.ClientSession() as session:
        client = FeishuAPI(
            session,
            base_url=feishu.base_url,
            app_id=feishu.app_id,
            app_secret=feishu.app_secret,
            redactor=Redactor(),
            backoff=0.01,
            clock=clock,
        )
        client.clock = clock  # type: ignore[attr-defined]
        yield client


async def test_the_token_is_cached_and_renewed_before_it_expires(api, feishu):
    for _ in range(3):
        await api.send(OWNER_CHAT, "text", '{"text": "hi"}')
    assert feishu.token_requests == 1
    api.clock.now += 7200 - 299  # within five minutes of expiry
    await api.send(OWNER_CHAT, "text", '{"text": "hi"}')
    assert feishu.token_requests == 2
    refused = [c for c in feishu.calls if c[1] == "/open-apis/im/v1/messages"]
    assert len(refused) == 4  # renewed before Feishu refused anything


async def test_a_refused_token_is_renewed_once(api, feishu):
    await api.bot_info()
    feishu.expire_tokens()
    assert (await api.bot_info())["open_id"] == feishu.bot["open_id"]
    assert feishu.token_requests == 2
    feishu.fail("bot", 99991663, "Invalid access token for authorization.", times=2)
    with pytest.raises(ChannelAuthError, match="keeps refusing the tenant token"):
        await api.bot_info()


@pytest.mark.parametrize(
    ("code", "status", "error", "text"),
    [
        (99991400, 400, ChannelUnavailable, "rate limit"),
        (1500, 500, ChannelUnavailable, "HTTP 500"),
        (230002, 400, FeishuRefused, "code 230002: Bot/User can NOT be out of the chat."),
    ],
)
async def test_error_codes(api, feishu, code, status, error, text):
    feishu.fail("send", code, "Bot/User can NOT be out of the chat.", status=status, times=4)
    with pytest.raises(error, match=text):
        await api.send(OWNER_CHAT, "interactive", CARD)


async def test_wrong_credentials(feishu):
    async with aiohttp.ClientSession() as session:
        client = FeishuAPI(
            session,
            base_url=feishu.base_url,
            app_id=feishu.app_id,
            app_secret="wrong",
            redactor=Redactor(),
        )
        with pytest.raises(ChannelAuthError, match="code 10014: app secret invalid"):
            await client.token()
        with pytest.raises(ChannelAuthError, match="persistent connection"):
            await client.ws_endpoint()


async def test_downloads_are_capped(api, feishu):
    feishu.add_file("om_1", "file_1", b"x" * 5000, "application/octet-stream")
    assert await api.download("om_1", "file_1", "document", 5000) == b"x" * 5000
    with pytest.raises(ChannelError, match="larger than 4999 bytes"):
        await api.download("om_1", "file_1", "document", 4999)
    with pytest.raises(FeishuRefused, match="234003"):
        await api.download("om_1", "missing", "document", 5000)
    feishu.expire_tokens()
    assert await api.download("om_1", "file_1", "document", 5000) == b"x" * 5000


async def test_names_are_best_effort(api, feishu):
    feishu.names[OWNER] = "Ann"
    assert await api.user_name(OWNER) == "Ann"
    assert await api.user_name("ou_unknown") == ""
    feishu.fail("user", 99991672, "Access denied. One of the scopes is required", times=1)
    assert await api.user_name("ou_other") == ""
    feishu.names["ou_third"] = "Cy"
    calls = len(feishu.calls)
    assert await api.user_name("ou_third") == ""  # no permission: not asked again for an hour
    assert len(feishu.calls) == calls
    assert await api.user_name(OWNER) == "Ann"  # cached


async def test_doctor_checks_the_app(tmp_path, fake_model, feishu):
    from assistant.feature import CheckContext, Status
    from assistant.features.feishu.checks import check_feishu
    from tests.integration.feishu_support import feishu_config

    async with aiohttp.ClientSession() as session:
        ctx = CheckContext(config_path=tmp_path / "c.toml", env={}, env_file=None, session=session)
        ctx.config = feishu_config(tmp_path, fake_model, feishu)
        (ok,) = await check_feishu(ctx)
        assert ok.status is Status.OK and "bot Assistant (webhook)" in ok.detail
        ctx.config = feishu_config(tmp_path, fake_model, feishu, feishu={"app_secret": "bad-1"})
        (bad,) = await check_feishu(ctx)
        assert bad.status is Status.FAIL and "refused the app credentials" in bad.detail
        assert "bad-1" not in bad.detail and bad.fix
        ctx.config = feishu_config(tmp_path, fake_model, feishu, feishu={"enabled": False})
        (off,) = await check_feishu(ctx)
        assert off.status is Status.SKIP and off.detail == "disabled ([feishu] enabled = false)"
