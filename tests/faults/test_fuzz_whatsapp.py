"""Property-based fuzzing of WhatsApp deliveries through the real webhook (signature), the
adapter (parse), the router, the turn and the renderer, against the fake Graph API (which
validates what is sent back).

Deliveries are shaped like Meta's (``entry[].changes[].value`` with ``metadata``,
``contacts[]``, ``messages[]`` of every type we read and some we do not, ``statuses[]``) with
junk mixed in and poisoned (a lone surrogate anywhere, a value nested 100,000 deep, a number of
5,000 digits, a value of the wrong type). Properties, for any batch:
- a signed delivery is always answered 200 (what cannot be read is dead-lettered), an unsigned
  one 401, never 5xx; the daemon keeps serving (the owner is answered after every batch);
- a stranger gets nothing but the pairing code, and their text never reaches the model;
- nothing is logged at error level, no turn fails, no task dies unhandled.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.core import i18n
from tests.fakes.model import FakeModel, last_user_text
from tests.fakes.whatsapp import PHONE_ID, FakeWhatsApp
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
from tests.integration.whatsapp_support import COMPONENT, OWNER, STRANGER, USER, whatsapp_config

pytestmark = [pytest.mark.fault]

people = st.sampled_from([OWNER, USER, STRANGER])
words = st.text(min_size=1, max_size=40)


@st.composite
def message(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            ["text", "text", "interactive", "button", "image", "audio", "reaction", "unsupported"]
        )
    )
    body: dict[str, Any] = {
        "from": draw(maybe_junk(people)),
        "id": f"wamid.F{draw(st.integers(0, 10**9))}",
        "timestamp": draw(maybe_junk(st.just("1800000000"))),
        "type": kind,
    }
    if kind == "text":
        body["text"] = {"body": draw(maybe_junk(words))}
    elif kind == "interactive":
        reply = draw(st.sampled_from(["button_reply", "list_reply", "nfm_reply"]))
        body["interactive"] = {"type": reply, reply: {"id": draw(words), "title": "x"}}
    elif kind == "button":
        body["button"] = {"payload": draw(maybe_junk(words)), "text": "Yes"}
    elif kind in ("image", "audio"):
        body[kind] = {"id": "m1", "mime_type": "image/jpeg", "caption": draw(words)}
    if draw(st.booleans()):  # a group of the Groups API, maybe mentioning us
        body["group_id"] = draw(maybe_junk(st.just("R3JvdXAx")))
        if kind == "text" and draw(st.booleans()):
            body["text"] = {"body": f"@15550783881 {draw(words)}"}
    return draw(poisoned(body))


@st.composite
def delivery(draw: st.DrawFn) -> Any:
    messages = draw(st.lists(message(), max_size=3))
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": "15550783881",
            "phone_number_id": draw(maybe_junk(st.just(PHONE_ID))),
        },
        "contacts": [{"profile": {"name": draw(words)}, "wa_id": p} for p in (OWNER, STRANGER)],
        "messages": messages,
    }
    if draw(st.booleans()):
        value["statuses"] = [{"id": "wamid.X", "status": draw(words), "recipient_id": OWNER}]
    payload = {
        "object": draw(maybe_junk(st.just("whatsapp_business_account"))),
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    return draw(st.one_of(st.just(payload), st.just(payload), junk))


class World:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.unhandled: list[dict[str, Any]] = []
        self.canaries = itertools.count(1)

    async def start(self) -> World:
        self.fake = await FakeWhatsApp().start()
        self.fake.add_media("m1", b"\xff\xd8jpeg", "image/jpeg")
        self.model = await FakeModel().start()
        config = whatsapp_config(self.directory, self.model, self.fake, limits=NO_LIMITS)
        self.daemon, self.task = await start_daemon(
            config, self.directory, COMPONENT, self.unhandled
        )
        assert self.daemon.gateway is not None
        self.url = f"http://127.0.0.1:{self.daemon.gateway.port}/whatsapp/webhook"
        self.http = aiohttp.ClientSession()
        return self

    async def close(self) -> None:
        await self.http.close()
        await stop_daemon(self.daemon, self.task)
        await self.fake.stop()
        await self.model.close()

    async def post(self, body: bytes, signed: bool) -> int:
        headers = {"Content-Type": "application/json"}
        if signed:
            headers["X-Hub-Signature-256"] = self.fake.signature(body)
        async with self.http.post(self.url, data=body, headers=headers) as response:
            return response.status

    async def feed(self, deliveries: list[Any]) -> None:
        """Post each delivery unsigned, then signed; ``self.statuses``: the answers. Then
        check that the owner is still answered."""
        self.statuses: list[int] = []
        statuses = self.statuses
        for item in deliveries:
            body = write_out(json.dumps(item)).encode("utf-8", "surrogatepass")
            statuses.append(await self.post(body, signed=False))
            statuses.append(await self.post(body, signed=True))
        assert self.daemon.services is not None
        await self.daemon.services.router.wait_idle()
        canary = f"canary {next(self.canaries)}"
        ok = json.dumps(self.fake.delivery(self.fake.text(OWNER, canary))).encode()
        assert await self.post(ok, signed=True) == 200
        await self.fake.wait_for(lambda: any(s.text == f"echo: {canary}" for s in self.fake.sent))
        await self.daemon.services.router.wait_idle()


world = world_fixture(World, "fuzz-whatsapp")


def _refused() -> set[str]:
    found = set()
    for locale in ("en", "zh_CN"):
        with i18n.using(locale):
            found.add(i18n.tr("You are not allowed to do that."))
    return found


REFUSED = _refused()


def _stranger_texts(deliveries: list[Any]) -> set[str]:
    found = set()
    for item in deliveries:
        try:
            for message in item["entry"][0]["changes"][0]["value"]["messages"]:
                if message["from"] == STRANGER and message["type"] == "text":
                    text = message["text"]["body"]
                    if isinstance(text, str) and len(text.strip()) > 3:
                        found.add(text.strip())
        except (KeyError, TypeError, IndexError):
            continue
    return found


@fuzz_settings(max_examples=100)
@given(deliveries=st.lists(delivery(), min_size=1, max_size=5))
def test_fuzzed_deliveries_never_crash_leak_or_answer_strangers(world, deliveries):
    loop, w = world
    sent_before, requests_before = len(w.fake.sent), len(w.model.requests)
    run_quietly(loop, lambda: w.feed(deliveries), w.unhandled)
    assert w.statuses == [401, 200] * len(deliveries), w.statuses
    for sent in w.fake.sent[sent_before:]:
        if sent.to == STRANGER:  # the pairing door, or a forged button press refused
            assert "assistant pairing approve" in sent.text or sent.text in REFUSED, sent.text
    seen = " ".join(last_user_text(r) for r in w.model.requests[requests_before:])
    for text in _stranger_texts(deliveries):
        assert text not in seen, text
