"""Property-based fuzzing of Slack Events API requests through the real webhook (signature),
the adapter (parse), the router, the turn and the renderer, against the fake Slack.

Events (``message``, ``app_mention``, others) and ``block_actions`` payloads with junk mixed
in and poisoned (see tests/faults/fuzzing.py). Properties, for any batch: a signed request is
answered 200 (400 for JSON that is not an object), an unsigned one 401, never 5xx; the daemon
keeps serving; strangers get only the pairing code and never reach the model; nothing is
logged at error level, no turn fails, no task dies unhandled.
"""

from __future__ import annotations

import itertools
import json
import time
import urllib.parse
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.channels.slack.webhook import signature
from tests.fakes.model import FakeModel, last_user_text
from tests.fakes.slack import BOT_USER, FakeSlack
from tests.faults.fuzzing import (
    NO_LIMITS,
    fuzz_settings,
    junk,
    maybe_junk,
    poisoned,
    run_quietly,
    start_daemon,
    stop_daemon,
    world_fixture,
    write_out,
)
from tests.integration.test_slack import GENERAL, OWNER, OWNER_DM, STRANGER, USER, slack_config

pytestmark = [pytest.mark.fault]

STRANGER_DM = "D0STRANGE3"
words = st.text(min_size=1, max_size=40)


@st.composite
def event(draw: st.DrawFn) -> Any:
    user = draw(maybe_junk(st.sampled_from([OWNER, USER, STRANGER, BOT_USER])))
    channel = OWNER_DM if user == OWNER else STRANGER_DM if user == STRANGER else GENERAL
    inner: dict[str, Any] = {
        "type": draw(st.sampled_from(["message", "app_mention", "reaction_added"])),
        "channel": draw(maybe_junk(st.just(channel))),
        "user": user,
        "text": draw(maybe_junk(st.one_of(words, words.map(lambda t: f"<@{BOT_USER}> {t}")))),
        "ts": f"{draw(st.integers(1, 10**9))}.000100",
    }
    if draw(st.booleans()):
        inner["channel_type"] = draw(st.sampled_from(["im", "channel", "group"]))
    if draw(st.integers(0, 4)) == 0:
        inner["subtype"] = draw(st.sampled_from(["message_changed", "bot_message", "file_share"]))
    payload = {
        "type": draw(maybe_junk(st.just("event_callback"))),
        "event_id": f"Ev{draw(st.integers(0, 10**9))}",
        "event": inner,
    }
    return draw(st.one_of(st.just(draw(poisoned(payload))), junk))


@st.composite
def press(draw: st.DrawFn) -> Any:
    user = draw(maybe_junk(st.sampled_from([OWNER, STRANGER])))
    payload = {
        "type": "block_actions",
        "user": {"id": user},
        "channel": {"id": GENERAL},
        "container": {"message_ts": "1.1"},
        "actions": [{"value": draw(maybe_junk(words)), "action_ts": f"{time.time():.6f}"}],
    }
    return ("press", draw(poisoned(payload)))


class World:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.unhandled: list[dict[str, Any]] = []
        self.canaries = itertools.count(1)

    async def start(self) -> World:
        self.fake = await FakeSlack().start()
        self.model = await FakeModel().start()
        config = slack_config(self.directory, self.model, self.fake)
        config = config.model_copy(update={"limits": config.limits.model_copy(update=NO_LIMITS)})
        self.daemon, self.task = await start_daemon(
            config, self.directory, "channel.slack", self.unhandled
        )
        assert self.daemon.gateway is not None
        self.url = f"http://127.0.0.1:{self.daemon.gateway.port}/slack/events"
        self.http = aiohttp.ClientSession()
        return self

    async def close(self) -> None:
        await self.http.close()
        await stop_daemon(self.daemon, self.task)
        await self.fake.stop()
        await self.model.close()

    async def post(self, body: bytes, content_type: str, signed: bool) -> int:
        stamp = str(int(time.time()))
        headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp}
        if signed:
            headers["X-Slack-Signature"] = signature(body, stamp, self.fake.signing_secret)
        async with self.http.post(self.url, data=body, headers=headers) as response:
            return response.status

    async def feed(self, requests: list[Any]) -> None:
        self.statuses: list[tuple[int, int]] = []
        for item in requests:
            if isinstance(item, tuple):
                text = write_out(json.dumps(item[1]))
                body = urllib.parse.urlencode({"payload": text}).encode("utf-8", "surrogatepass")
                kind = "application/x-www-form-urlencoded"
            else:
                body = write_out(json.dumps(item)).encode("utf-8", "surrogatepass")
                kind = "application/json"
            unsigned = await self.post(body, kind, signed=False)
            self.statuses.append((unsigned, await self.post(body, kind, signed=True)))
        assert self.daemon.services is not None
        await self.daemon.services.router.wait_idle()
        canary = f"canary {next(self.canaries)}"
        ok = json.dumps(self.fake.event(self.fake.message(OWNER_DM, OWNER, canary))).encode()
        assert await self.post(ok, "application/json", signed=True) == 200
        await self.fake.wait_for(lambda: any(p.text == f"echo: {canary}" for p in self.fake.posted))
        await self.daemon.services.router.wait_idle()


world = world_fixture(World, "fuzz-slack")


@fuzz_settings(max_examples=100)
@given(requests=st.lists(st.one_of(event(), event(), press()), min_size=1, max_size=5))
def test_fuzzed_events_never_crash_leak_or_answer_strangers(world, requests):
    loop, w = world
    posted_before, requests_before = len(w.fake.posted), len(w.model.requests)
    run_quietly(loop, lambda: w.feed(requests), w.unhandled)
    for item, (unsigned, signed) in zip(requests, w.statuses, strict=True):
        assert unsigned == 401
        assert signed == (400 if not isinstance(item, dict | tuple) else 200), (signed, item)
    for posted in w.fake.posted[posted_before:]:
        if posted.channel == STRANGER_DM:
            assert "assistant pairing approve" in posted.text, posted.text
    seen = " ".join(last_user_text(r) for r in w.model.requests[requests_before:])
    for item in requests:
        inner = item.get("event") if isinstance(item, dict) else None
        if isinstance(inner, dict) and inner.get("user") == STRANGER:
            text = inner.get("text")
            if isinstance(text, str) and len(text.strip()) > 3 and "<" not in text:
                assert text.strip() not in seen, text
