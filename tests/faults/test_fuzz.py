"""Property-based fuzzing of Telegram updates through the real adapter (parse), the router,
the turn and the renderer, against the fake Bot API (which validates what is sent back).

Properties, for any batch of updates shaped like the Bot API's (valid, odd or broken, or
poisoned: a lone surrogate in any string, a value nested 100,000 deep, a number of 5,000
digits, a value of the wrong type):
- every update is confirmed (nothing crashes the poller, nothing gets it stuck: what cannot
  be parsed or recorded is dead-lettered);
- nobody who may not talk to the assistant gets anything but the pairing code or a refusal,
  and their text never reaches the model;
- nothing is logged at error level, no turn fails, no task dies with an unhandled exception,
  and every reply renders to HTML Telegram accepts.

The same updates by webhook are each answered 200, and the owner is still answered after
every batch. The daemon runs in-process (one per module and mode) on a loop of its own, so
hypothesis can drive it example after example.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import tomli_w
from hypothesis import given
from hypothesis import strategies as st

from assistant.config import parse_config
from tests.fakes.model import FakeModel, last_user_text
from tests.fakes.telegram import FakeBotAPI
from tests.faults.fuzzing import (
    NO_LIMITS,
    fuzz_settings,
    maybe_junk,
    poison_json,
    poisoned,
    run_quietly,
    start_daemon,
    stop_daemon,
    strings,
    world_fixture,
)

pytestmark = [pytest.mark.fault]

OWNER, USER, STRANGERS = 1001, 1002, (4242, 7777)
SECRET = "s3cret-webhook-token-0123456789"
GROUP, OTHER_GROUP, CHANNEL = -100555, -100999, -100777
BOT = "assistant_test_bot"

# --- strategies: shaped like the Bot API's JSON, with junk mixed in ------------------------

words = st.sampled_from(
    [
        "/help",
        "/new",
        "/status",
        "/model",
        "/model m0",
        "/start",
        "/cancel",
        f"/help@{BOT}",
        "/help@other_bot",
        f"@{BOT} what is up?",
        f"hi @{BOT}",
        "**bold** _it_ `code` [link](http://x.y) <b>raw</b> & < >",
        "```\ncode\n```",
        "# title\n- a\n- b\n\n> quote",
        "",
        " ",
    ]
)
texts = st.one_of(
    words,
    words,
    st.text(min_size=1, max_size=300),
    st.text(alphabet="*_`[]()<>&#~|-\\ \n", min_size=1, max_size=60),
)
users = st.sampled_from([OWNER, USER, *STRANGERS])


def user_object(user_id: int) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "id": st.just(user_id),
            "is_bot": st.integers(0, 9).map(lambda n: n == 9),
            "first_name": maybe_junk(st.text()),
        },
        optional={"username": maybe_junk(st.text(max_size=12)), "last_name": st.text(max_size=12)},
    )


entity = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["bot_command", "mention", "text_mention", "bold", "url"]),
        "offset": st.integers(-3, 320),
        "length": st.integers(-3, 320),
    },
    optional={"user": st.fixed_dictionaries({"id": st.sampled_from([123456789, OWNER])})},
)
file_object = st.fixed_dictionaries(
    {"file_id": maybe_junk(st.text(min_size=1, max_size=10))},
    optional={
        "file_size": maybe_junk(st.integers(0, 10**10)),
        "file_name": st.text(max_size=20),
        "mime_type": st.sampled_from(["application/pdf", "text/plain", "audio/ogg", "image/png"]),
        "width": st.integers(0, 5000),
        "height": st.integers(0, 5000),
    },
)


@st.composite
def chat_and_sender(draw: st.DrawFn) -> tuple[dict[str, Any], int]:
    sender = draw(users)
    kind = draw(st.sampled_from(["private"] * 5 + ["group"] * 2 + ["other group", "channel"]))
    if kind == "private":
        return {"id": sender, "type": "private", "first_name": "Ann"}, sender
    if kind == "channel":
        return {"id": CHANNEL, "type": "channel", "title": "News"}, sender
    chat_id = GROUP if kind == "group" else OTHER_GROUP
    kinds = st.sampled_from(["group", "supergroup"])
    return {"id": chat_id, "type": draw(kinds), "title": draw(st.text(max_size=10))}, sender


@st.composite
def message(draw: st.DrawFn) -> dict[str, Any]:
    chat, sender = draw(chat_and_sender())
    out: dict[str, Any] = {
        "message_id": draw(maybe_junk(st.integers(1, 10**9))),
        "chat": draw(maybe_junk(st.just(chat))),
        "date": draw(st.integers(0, 2**31)),
    }
    optional: dict[str, st.SearchStrategy[Any]] = {
        "from": maybe_junk(user_object(sender)),
        "text": maybe_junk(texts),
        "caption": texts,
        "entities": maybe_junk(st.lists(entity, max_size=3)),
        "caption_entities": st.lists(entity, max_size=2),
        "reply_to_message": maybe_junk(
            st.fixed_dictionaries(
                {"message_id": st.integers(1, 99)},
                optional={
                    "text": texts,
                    "from": st.fixed_dictionaries({"id": st.sampled_from([123456789, OWNER])}),
                },
            )
        ),
        "photo": maybe_junk(st.lists(file_object, max_size=3)),
        "document": maybe_junk(file_object),
        "voice": maybe_junk(file_object),
        "forward_origin": maybe_junk(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["user", "hidden_user", "chat", "channel", "weird"])},
                optional={"sender_user": user_object(USER), "sender_user_name": st.text()},
            )
        ),
        "is_topic_message": st.booleans(),
        "message_thread_id": maybe_junk(st.integers(1, 99)),
        "sticker": st.just({"file_id": "s"}),
    }
    for key in draw(st.sets(st.sampled_from(sorted(optional)), max_size=6)) | {"from", "text"}:
        if key in ("from", "text") and draw(st.integers(0, 9)) == 9:
            continue  # sometimes missing altogether
        out[key] = draw(optional[key])
    return out


@st.composite
def callback(draw: st.DrawFn) -> dict[str, Any]:
    chat, sender = draw(chat_and_sender())
    out: dict[str, Any] = {
        "id": draw(maybe_junk(st.text(min_size=1, max_size=8))),
        "from": draw(user_object(sender)),
        "chat_instance": "ci",
        "data": draw(maybe_junk(st.one_of(st.text(max_size=20), st.sampled_from(["ap:1", "x:"])))),
    }
    if draw(st.booleans()):
        out["message"] = {"message_id": draw(st.integers(1, 99)), "chat": chat, "date": 0}
    return out


update_body = st.one_of(
    st.tuples(st.just("message"), maybe_junk(message())),
    st.tuples(st.just("message"), message()),
    st.tuples(st.just("message"), message()),
    st.tuples(st.just("callback_query"), maybe_junk(callback())),
    st.tuples(st.sampled_from(["edited_message", "channel_post", "my_chat_member"]), message()),
    st.tuples(st.just("poll"), st.just({"id": "p"})),
).flatmap(lambda kb: poisoned({kb[0]: kb[1]}))  # {kind: body}, one time in three poisoned


# --- the daemon, in-process on a loop of its own ----------------------------------------------


class World:
    webhook = False

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ids = itertools.count(1)
        self.unhandled: list[dict[str, Any]] = []

    async def start(self) -> World:
        self.bot = await FakeBotAPI().start()
        self.model = await FakeModel().start()
        receive: dict[str, Any] = {}
        if self.webhook:
            receive = {
                "mode": "webhook",
                "webhook_url": "https://x.example",
                "webhook_secret": SECRET,
            }
        data = {
            "assistant": {"state_dir": str(self.directory / "state"), "drain_timeout": 3},
            "gateway": {"port": 0} if self.webhook else {"enabled": False},
            "access": {
                "owners": [f"telegram:{OWNER}"],
                "telegram": {"users": {str(USER): "user"}, "groups": [str(GROUP)]},
            },
            "models": [{"name": "m0", "base_url": self.model.base_url, "model": "f", "timeout": 5}],
            "telegram": {
                "enabled": True,
                "token": self.bot.token,
                "api_base": self.bot.base_url,
                "poll_timeout": 1,
                "watchdog": 30,
                "stream": False,
                "rate_limit": 0,
                "group_rate_limit": 0,
                **receive,
            },
            "memory": {"enabled": False},
            "scheduler": {"enabled": False},
            "limits": NO_LIMITS,
        }
        config = parse_config(tomli_w.dumps(data), {})
        self.daemon, self.task = await start_daemon(
            config, self.directory, "channel.telegram", self.unhandled
        )
        if self.webhook:
            assert self.daemon.gateway is not None
            port = self.daemon.gateway.port
            self.bot.webhook["url"] = f"http://127.0.0.1:{port}/telegram/webhook"
            self.http = aiohttp.ClientSession()
        return self

    async def close(self) -> None:
        if self.webhook:
            await self.http.close()
        await stop_daemon(self.daemon, self.task)
        await self.bot.stop()
        await self.model.close()

    async def feed(self, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Push the updates; wait until all are confirmed and their work is done."""
        last = 0
        for body in bodies:
            last = next(self.ids)
            await self.bot.push_json(f'{{"update_id": {last}, ' + poison_json(body)[1:])
        await self.bot.wait_for(lambda: self.bot.confirmed_offset > last, timeout=30)
        assert self.daemon.services is not None
        await asyncio.wait_for(self.daemon.services.router.wait_idle(), 30)
        return [{"update_id": n} for n in range(last)]


def allowed(chat: Any, sender: Any) -> bool:
    """May this sender talk to the assistant in this chat (by the test's config)?"""
    if not isinstance(chat, dict):
        return False
    if chat.get("type") == "private":
        return sender in (OWNER, USER)
    return chat.get("id") == GROUP


def stranger_texts(bodies: list[dict[str, Any]]) -> set[str]:
    """Texts of messages whose sender may not talk in that chat (and that no one who may
    talk there also sent, quoted or forwarded in this batch)."""
    theirs, ours = set(), []
    for update in bodies:
        ((kind, body),) = update.items()
        if kind != "message" or not isinstance(body, dict):
            continue
        sender = body.get("from", {}).get("id") if isinstance(body.get("from"), dict) else None
        if allowed(body.get("chat"), sender):
            ours.extend(strings(body))
            continue
        for key in ("text", "caption"):
            text = body.get(key)
            if isinstance(text, str) and len(text.strip()) > 3:
                theirs.add(text.strip())
    return {text for text in theirs if not any(text in blob for blob in ours)}


class WebhookWorld(World):
    webhook = True
    canaries = itertools.count(1)

    async def post(self, bodies: list[dict[str, Any]]) -> list[int]:
        """POST each update to the webhook as Telegram does; the statuses. Then check that
        the owner is still answered."""
        statuses = []
        for body in bodies:
            raw = f'{{"update_id": {next(self.ids)}, ' + poison_json(body)[1:]
            statuses.append(await self.bot.deliver_webhook(self.http, raw))
        assert self.daemon.services is not None
        await asyncio.wait_for(self.daemon.services.router.wait_idle(), 30)
        canary = f"canary {next(self.canaries)}"
        ok = {"update_id": next(self.ids), "message": self.bot.message(OWNER, OWNER, canary)}
        assert await self.bot.deliver_webhook(self.http, ok) == 200
        await self.bot.wait_for(lambda: any(s.text == f"echo: {canary}" for s in self.bot.sent))
        await asyncio.wait_for(self.daemon.services.router.wait_idle(), 30)
        return statuses


world = world_fixture(World, "fuzz")
webhook_world = world_fixture(WebhookWorld, "fuzz-webhook")


@fuzz_settings(max_examples=100)
@given(bodies=st.lists(update_body, min_size=1, max_size=10))
def test_fuzzed_updates_never_crash_leak_or_answer_strangers(world, bodies):
    loop, w = world
    sent_before, requests_before = len(w.bot.sent), len(w.model.requests)
    logs = run_quietly(loop, lambda: w.feed(bodies), w.unhandled)
    assert [e for e in logs if e["event"] == "telegram.entities_rejected"] == []

    for sent in w.bot.sent[sent_before:]:
        if sent.chat_id in STRANGERS:  # a stranger's private chat: the door, nothing else
            assert "assistant pairing approve" in sent.text, sent.text  # in any language
        elif sent.chat_id in (OTHER_GROUP, CHANNEL):
            assert "assistant users allow-group" in sent.text, sent.text
    seen_by_model = " ".join(
        last_user_text(request) for request in w.model.requests[requests_before:]
    )
    for text in stranger_texts(bodies):
        assert text not in seen_by_model, text


@fuzz_settings(max_examples=30)
@given(bodies=st.lists(update_body, min_size=1, max_size=4))
def test_fuzzed_webhook_updates_get_200_and_the_channel_keeps_serving(webhook_world, bodies):
    """The same updates by webhook: every one is answered 200 (taken, skipped, or
    dead-lettered), never a 5xx that would make Telegram send it again and again."""
    loop, w = webhook_world
    statuses: list[int] = []

    async def post() -> None:
        statuses.extend(await w.post(bodies))

    run_quietly(loop, post, w.unhandled)
    assert statuses == [200] * len(bodies)
