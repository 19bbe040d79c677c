"""The Bot API client (``BotAPI``) through the real wire format, against the fake Bot API:
every method and the file download wait out a 429, a wrong token is an auth error, refusals
and outages are told apart, secrets stay out of error text, and a file past the limit is
stopped while it streams."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from assistant.channels.telegram.adapter import TelegramChannel
from assistant.channels.telegram.api import (
    BotAPI,
    FileTooLarge,
    RetryLater,
    TelegramRefused,
    Unreadable,
)
from assistant.config import TelegramSection
from assistant.core.errors import ChannelAuthError, ChannelError, ChannelUnavailable, ConfigError
from assistant.core.health import Health
from assistant.core.messages import Attachment
from assistant.core.redact import Redactor
from tests.fakes.telegram import FakeBotAPI

CHAT = 1001
WRONG_TOKEN = "999:wrong-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaaa"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def client(http: aiohttp.ClientSession, bot: FakeBotAPI, token: str | None = None) -> BotAPI:
    token = token or bot.token
    return BotAPI(http, bot.base_url, token, Redactor([token]), timeout=10)


async def every_method(api: BotAPI, bot: FakeBotAPI, method: str) -> Any:
    """Call ``method`` the way the adapter does."""
    if method == "getMe":
        return await api.call("getMe")
    if method == "deleteWebhook":
        return await api.delete_webhook()
    if method == "setWebhook":
        return await api.set_webhook("https://bot.example.org/hook", secret="s" * 16, allowed=[])
    if method == "setMyCommands":
        return await api.set_commands([("help", "what I can do")])
    if method == "answerCallbackQuery":
        return await api.answer_callback("cbq-1", "Approved", alert=False)
    if method == "sendMessage":
        return await api.call("sendMessage", {"chat_id": CHAT, "text": "hello"})
    if method == "editMessageText":
        shown = bot.shown(CHAT, "before")
        payload = {"chat_id": CHAT, "message_id": shown.message_id, "text": "after"}
        return await api.call("editMessageText", payload)
    if method == "sendChatAction":
        return await api.call("sendChatAction", {"chat_id": CHAT, "action": "typing"})
    if method == "getFile":
        return await api.get_file(bot.add_file(b"data", "documents/a.txt"))
    if method == "getUpdates":
        return await api.get_updates(offset=None, limit=None, timeout=0, allowed=["message"])
    if method == "file":
        bot.add_file(b"file bytes", "documents/b.txt")
        return await api.download("documents/b.txt", max_bytes=100)
    raise AssertionError(method)


RETRIED = [
    "getMe",
    "deleteWebhook",
    "setWebhook",
    "setMyCommands",
    "answerCallbackQuery",
    "sendMessage",
    "editMessageText",
    "sendChatAction",
    "getFile",
    "file",
]


def requests_of(bot: FakeBotAPI, method: str) -> int:
    if method == "file":
        return len(bot.downloads)
    return [m for m, _ in bot.calls].count(method)


@pytest.mark.parametrize("method", RETRIED)
async def test_429_is_waited_out_on_every_request(bot_api, http, method):
    bot_api.fail(method, 429, "Too Many Requests: retry after 1", retry_after=1)
    api = client(http, bot_api)
    started = time.monotonic()
    result = await every_method(api, bot_api, method)
    assert time.monotonic() - started >= 0.9
    assert requests_of(bot_api, method) == 2
    if method == "getMe":
        assert result["username"] == "assistant_test_bot"
    if method == "file":
        assert result == b"file bytes"


async def test_the_receive_loop_gets_429_at_once_with_its_wait(bot_api, http):
    """getUpdates is one attempt: the poller waits (and shows why on /readyz) itself."""
    bot_api.fail("getUpdates", 429, "Too Many Requests: retry after 7", retry_after=7)
    with pytest.raises(RetryLater) as raised:
        await every_method(client(http, bot_api), bot_api, "getUpdates")
    assert raised.value.retry_after == 7 and requests_of(bot_api, "getUpdates") == 1


async def test_429_past_the_longest_wait_or_the_last_attempt_is_raised(bot_api, http):
    api = client(http, bot_api)
    bot_api.fail("sendMessage", 429, "Too Many Requests: retry after 600", retry_after=600)
    with pytest.raises(RetryLater) as raised:
        await every_method(api, bot_api, "sendMessage")
    assert raised.value.retry_after == 600 and requests_of(bot_api, "sendMessage") == 1
    bot_api.fail("sendChatAction", 429, "Too Many Requests", retry_after=0, times=3)
    with pytest.raises(RetryLater):
        await every_method(api, bot_api, "sendChatAction")
    assert requests_of(bot_api, "sendChatAction") == 3
    bot_api.fail("getMe", 429, "Too Many Requests")  # no retry_after: a few seconds
    with pytest.raises(RetryLater) as raised:
        await api.call("getMe", attempts=1)
    assert raised.value.retry_after == 5


@pytest.mark.parametrize("method", [*RETRIED, "getUpdates"])
async def test_a_wrong_token_is_an_auth_error_with_the_fix(bot_api, http, method):
    api = client(http, bot_api, WRONG_TOKEN)
    if method == "file":
        bot_api.add_file(b"file bytes", "documents/b.txt")
        call = api.download("documents/b.txt", max_bytes=100)
    else:
        call = every_method(api, bot_api, method)
    with pytest.raises(ChannelAuthError) as raised:
        await call
    text = str(raised.value)
    assert "rejected the bot token (HTTP 401)" in text and "@BotFather" in text
    assert "wrong-token" not in text


async def test_refusals_outages_and_unreadable_answers_are_told_apart(bot_api, http):
    api = client(http, bot_api)
    bot_api.blocked_chats.add(CHAT)
    with pytest.raises(TelegramRefused) as refused:
        await every_method(api, bot_api, "sendMessage")
    assert refused.value.forbidden and "blocked" in refused.value.message
    bot_api.fail("getFile", 400, "Bad Request: invalid file_id")
    with pytest.raises(TelegramRefused) as refused:
        await api.get_file("nope")
    assert refused.value.status == 400 and not refused.value.forbidden
    bot_api.fail("getMe", 502, "Bad Gateway")
    with pytest.raises(ChannelUnavailable, match="getMe answered HTTP 502 Bad Gateway"):
        await api.call("getMe")
    bot_api.fail("getUpdates", 409, "Conflict: terminated by other getUpdates request")
    with pytest.raises(ChannelUnavailable, match="409"):
        await every_method(api, bot_api, "getUpdates")
    deep = '{"update_id": 5, "message": ' + "[" * 100_000 + "]" * 100_000 + "}"
    await bot_api.push_json(deep)
    with pytest.raises(Unreadable) as unreadable:
        await every_method(api, bot_api, "getUpdates")
    assert b'"update_id": 5' in unreadable.value.raw
    await bot_api.stop()
    with pytest.raises(ChannelUnavailable, match=r"getMe failed \(Client"):
        await api.call("getMe")


async def test_secrets_never_reach_the_error_text(bot_api, http):
    api = client(http, bot_api)
    leak = f"Internal error at /bot{bot_api.token}/sendMessage"
    bot_api.fail("sendMessage", 500, leak)
    with pytest.raises(ChannelUnavailable) as raised:
        await every_method(api, bot_api, "sendMessage")
    assert bot_api.token not in str(raised.value) and "HTTP 500" in str(raised.value)
    other = "123456789:AAAAother-token-only-the-pattern-knows-0123"
    bot_api.fail("sendMessage", 400, f"Bad Request: token {other}")
    with pytest.raises(TelegramRefused) as refused:
        await every_method(api, bot_api, "sendMessage")
    assert other not in refused.value.message and "Bad Request" in refused.value.message


# --- files ---------------------------------------------------------------------------------


async def test_a_download_past_the_limit_is_stopped_while_it_streams(bot_api, http):
    size = 32 * 1024 * 1024
    path = "documents/huge.log"
    bot_api.add_file(b"x" * size, path, announce=False)
    api = client(http, bot_api)
    with pytest.raises(FileTooLarge):
        await api.download(path, max_bytes=1024 * 1024)
    await bot_api.wait_for(lambda: path in bot_api.served)
    assert bot_api.served[path] < size // 2  # the rest was never sent
    small = "documents/small.log"
    bot_api.add_file(b"y" * 1000, small, announce=False)
    assert await api.download(small, max_bytes=1000) == b"y" * 1000


async def test_the_adapter_enforces_the_limit_whatever_telegram_tells(bot_api, http):
    section = TelegramSection(enabled=True, token=bot_api.token, api_base=bot_api.base_url)
    channel = TelegramChannel(section, session=http, health=Health(), redactor=Redactor())
    limit = 4096
    announced = bot_api.add_file(b"a" * (limit + 1), "documents/announced.txt")
    silent = bot_api.add_file(b"b" * (limit * 8), "documents/silent.txt", announce=False)
    fits = bot_api.add_file(b"c" * limit, "documents/fits.txt", announce=False)
    async with channel:
        for ref in (announced, silent):
            with pytest.raises(ChannelError, match=f"notes.txt is larger than {limit} bytes"):
                await channel.fetch(Attachment("document", ref, "notes.txt"), max_bytes=limit)
        assert bot_api.downloads == ["documents/silent.txt"]  # getFile told the size
        data = await channel.fetch(Attachment("document", fits, "fits.txt"), max_bytes=limit)
        assert data == b"c" * limit
        bot_api.fail("file", 404, "Not Found")
        with pytest.raises(ChannelError, match="refused the download"):
            await channel.fetch(Attachment("document", fits, "fits.txt"), max_bytes=limit)


async def test_a_token_that_is_no_token_is_a_config_error(bot_api, http):
    section = TelegramSection(enabled=True, token="not a token", api_base=bot_api.base_url)
    channel = TelegramChannel(section, session=http, health=Health(), redactor=Redactor())
    with pytest.raises(ConfigError, match=r"telegram\.token: this is not a bot token"):
        await channel.__aenter__()
    assert bot_api.calls == []
