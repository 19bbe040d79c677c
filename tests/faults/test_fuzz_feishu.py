"""Property-based fuzzing of Feishu events through the real webhook (signature, decryption,
token), the adapter (parse), the router, the turn and the renderer, against the fake Open API
(which validates what is sent back).

Events are shaped like Feishu's schema 2.0 ``im.message.receive_v1`` (every message type,
content as a JSON string that is sometimes not JSON, mentions) and ``card.action.trigger``,
with junk mixed in: missing fields, wrong types, huge strings, unknown event types, other
schemas; and poisoned: a lone surrogate in any string, a value nested 100,000 deep, a number
of 5,000 digits, a value of the wrong type. Properties, for any batch:
- the webhook always answers (200 to an authentic event, 401 without the token, 400 to a body
  that is not an object, 200 to a signed body too deep or big to parse: it is dead-lettered),
  never 5xx, and the daemon keeps serving (the owner is answered);
- nobody who may not talk to the assistant gets anything but the pairing code or a refusal,
  a stranger's button press gets no toast but the refusal, and their text never reaches the
  model;
- nothing is logged at error level, no turn fails, no task dies with an unhandled exception.

The same events as long-connection frames are each acknowledged with 200, and the owner is
still answered after every batch. The daemon runs in-process (one per module and way of
receiving) on a loop of its own, like test_fuzz.py.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.core.i18n import LOCALES, tr, using
from tests.fakes.feishu import BOT_OPEN_ID, FakeFeishu
from tests.fakes.model import FakeModel, last_user_text
from tests.faults.fuzzing import (
    NO_LIMITS,
    fuzz_settings,
    junk,
    maybe_junk,
    poisoned,
    run_quietly,
    start_daemon,
    stop_daemon,
    strings,
    unreadable,
    world_fixture,
    write_out,
)
from tests.integration.feishu_support import (
    COMPONENT,
    GROUP,
    GUEST,
    OWNER,
    OWNER_CHAT,
    STRANGER,
    STRANGER_CHAT,
    USER,
    USER_CHAT,
    feishu_config,
)

pytestmark = [pytest.mark.fault]


def _tr_in(locale: str, text: str) -> str:
    with using(locale):
        return tr(text)


REFUSED = {  # a stranger's button press, in each language
    _tr_in(locale, "You are not allowed to do that.") for locale in LOCALES
}
OTHER_GROUP = "oc_0thergr0up000000000000000000009"
GUEST_CHAT = "oc_dmguest0000000000000000000000003"
PRIVATE = {OWNER: OWNER_CHAT, USER: USER_CHAT, GUEST: GUEST_CHAT, STRANGER: STRANGER_CHAT}
# placeholders filled in as each event is posted (new ids, the verification token, more text
# than Feishu allows in a message) where the strategies leave them
FRESH_EVENT, FRESH_MESSAGE, TOKEN, HUGE = "@fresh-event@", "@fresh-message@", "@token@", "@huge@"

# --- strategies: shaped like Feishu's event JSON, with junk mixed in --------------------------


def rare(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Junk one time in 30: an event has many fields, and most events should get through."""
    return maybe_junk(strategy, one_in=30)


words = st.sampled_from(
    [
        "/help",
        "/new",
        "/status",
        "/model m0",
        "/start",
        "/cancel",
        "@_user_1 what is up?",
        "hi @_user_1 and @_user_2",
        "@_all lunch?",
        "**bold** _it_ `code` [link](http://x.y) <at id=all></at> & < >",
        "```\ncode\n```",
        "",
        " ",
    ]
)
texts = st.one_of(words, words, st.text(min_size=1, max_size=300))
huge = st.just(HUGE)
senders = st.integers(0, 9).flatmap(  # now and then someone unknown, or an odd id
    lambda n: (
        st.text(min_size=1, max_size=40)
        if n == 9
        else st.sampled_from([OWNER, USER, OWNER, USER, GUEST, STRANGER])
    )
)


mention = st.fixed_dictionaries(
    {
        "key": rare(st.sampled_from(["@_user_1", "@_user_2", "@_user_10", ""])),
        "id": rare(
            st.fixed_dictionaries(
                {"open_id": st.sampled_from([BOT_OPEN_ID, OWNER, STRANGER, ""])},
                optional={"union_id": st.just("on_x"), "user_id": st.just("u1")},
            )
        ),
        "name": rare(st.text(max_size=10)),
    },
    optional={"tenant_key": st.just("736588c9260f175d")},
)
post_element = st.fixed_dictionaries(
    {"tag": st.sampled_from(["text", "a", "at", "img", "code_block", "md", "emotion", "hr"])},
    optional={
        "text": rare(texts),
        "href": rare(st.sampled_from(["https://example.org/x", "javascript:x", ""])),
        "user_id": rare(st.sampled_from(["@_user_1", "@_user_2", "all"])),
        "user_name": st.text(max_size=8),
        "image_key": rare(st.sampled_from(["img_v3_01", ""])),
        "language": rare(st.sampled_from(["PYTHON", "SHELL", ""])),
        "emoji_type": st.sampled_from(["SMILE", "OK"]),
        "style": rare(st.lists(st.sampled_from(["bold", "italic", "lineThrough"]))),
    },
)
post_body = st.fixed_dictionaries(
    {"content": rare(st.lists(rare(st.lists(post_element, max_size=4)), max_size=3))},
    optional={"title": rare(st.text(max_size=20))},
)
# each message type's content object, any type with any content now and then
contents: dict[str, st.SearchStrategy[Any]] = {
    "text": st.fixed_dictionaries({"text": rare(st.one_of(texts, texts, texts, huge))}),
    "post": st.one_of(post_body, st.fixed_dictionaries({"zh_cn": post_body})),
    "image": st.fixed_dictionaries({"image_key": rare(st.sampled_from(["img_v3_01", ""]))}),
    "file": st.fixed_dictionaries(
        {"file_key": rare(st.just("file_v3_02"))},
        optional={"file_name": rare(st.sampled_from(["a.pdf", "notes.txt", "../x", ""]))},
    ),
    "audio": st.fixed_dictionaries(
        {"file_key": rare(st.just("file_v3_03")), "duration": st.integers(0, 10**6)}
    ),
    "sticker": st.fixed_dictionaries({"file_key": st.just("s")}),
    "media": st.fixed_dictionaries({"file_key": st.just("m"), "image_key": st.just("i")}),
    "share_chat": st.fixed_dictionaries({"chat_id": st.just(GROUP)}),
    "interactive": st.fixed_dictionaries({"elements": st.just([])}),
    "merge_forward": st.just({}),
    "system": st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
}
broken_json = st.sampled_from(["{not json", "", "null", "[1, 2]", '"text"', "1e999", "{" * 3000])


@st.composite
def content_string(draw: st.DrawFn, msg_type: str) -> Any:
    """The ``content`` field: the type's JSON object as a string; at times not JSON, JSON of
    another shape, or not a string at all."""
    n = draw(st.integers(0, 19))
    if n == 19:
        return draw(junk)
    if n == 18:
        return draw(broken_json)
    kind = msg_type if msg_type in contents and n < 17 else draw(st.sampled_from(sorted(contents)))
    return json.dumps(draw(contents[kind]), ensure_ascii=draw(st.booleans()))


def header(event_type: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "event_id": rare(st.just(FRESH_EVENT)),
            "event_type": rare(event_type),
            "token": st.integers(0, 29).map(lambda n: "not-the-token" if n == 29 else TOKEN),
        },
        optional={
            "create_time": rare(st.just("1700000000000")),
            "app_id": st.just("cli_a1b2c3d4e5f6a7b8"),
            "tenant_key": st.just("736588c9260f175d"),
        },
    )


def chat_of(sender: Any, chat_type: str) -> str:
    if chat_type == "p2p":
        return PRIVATE.get(sender, STRANGER_CHAT)
    return GROUP if chat_type == "group" else OTHER_GROUP


@st.composite
def message_event(draw: st.DrawFn) -> dict[str, Any]:
    sender = draw(senders)
    place = draw(st.sampled_from(["p2p"] * 4 + ["group"] * 3 + ["other group"]))
    msg_type = draw(st.sampled_from(["text"] * 6 + sorted(contents) + ["video", ""]))
    message: dict[str, Any] = {
        "message_id": rare(st.just(FRESH_MESSAGE)),
        "chat_id": rare(st.just(chat_of(sender, place))),
        "chat_type": rare(st.just("p2p" if place == "p2p" else "group")),
        "message_type": rare(st.just(msg_type)),
        "content": content_string(msg_type),
    }
    optional: dict[str, st.SearchStrategy[Any]] = {
        "mentions": rare(st.lists(mention, max_size=3)),
        "root_id": st.just(""),
        "parent_id": st.just(""),
        "create_time": rare(st.just("1700000000000")),
        "thread_id": rare(st.just("omt_1a2b3c")),
        "user_agent": st.just("Mozilla/5.0 Lark/7.30"),
    }
    chosen = draw(st.sets(st.sampled_from(sorted(optional)), max_size=4))
    if place != "p2p" and draw(st.integers(0, 3)):
        chosen.add("mentions")  # in a group, mostly addressed to the bot
    out = {key: draw(value) for key, value in message.items()}
    for key in sorted(chosen):
        out[key] = draw(optional[key])
    if "mentions" in chosen and place != "p2p" and isinstance(out["mentions"], list):
        out["mentions"].append({"key": "@_user_1", "id": {"open_id": BOT_OPEN_ID}, "name": "A"})
    if draw(st.integers(0, 19)) == 19:  # a field gone
        out.pop(draw(st.sampled_from(sorted(out))))
    sender_object = {
        "sender_id": rare(
            st.fixed_dictionaries(
                {"open_id": rare(st.just(sender))},
                optional={"union_id": st.just("on_x"), "user_id": st.just("u1")},
            )
        ),
        "sender_type": st.integers(0, 9).flatmap(
            lambda n: st.just("user") if n < 8 else st.sampled_from(["app", "", "bot"])
        ),
    }
    event = {
        "sender": draw(rare(st.fixed_dictionaries(sender_object))),
        "message": draw(rare(st.just(out))),
    }
    return {
        "schema": "2.0",
        "header": draw(header(st.just("im.message.receive_v1"))),
        "event": event,
    }


@st.composite
def action_event(draw: st.DrawFn) -> dict[str, Any]:
    operator = draw(senders)
    value = st.fixed_dictionaries(
        {"action": rare(st.sampled_from(["ap:1:y", "gone:1", "x", ""]))},
        optional={"chat": st.sampled_from(["group", "p2p"]), "thread": st.just("omt_1")},
    )
    event = {
        "operator": rare(st.fixed_dictionaries({"open_id": rare(st.just(operator))})),
        "token": st.just("c-0123"),
        "action": rare(st.fixed_dictionaries({"value": rare(value), "tag": st.just("button")})),
        "context": rare(
            st.fixed_dictionaries(
                {
                    "open_message_id": rare(st.just("om_card01")),
                    "open_chat_id": rare(st.sampled_from([GROUP, OWNER_CHAT, OTHER_GROUP])),
                }
            )
        ),
    }
    return {
        "schema": "2.0",
        "header": draw(header(st.just("card.action.trigger"))),
        "event": draw(st.fixed_dictionaries(event)),
    }


def junk_event() -> st.SearchStrategy[Any]:
    unknown = st.sampled_from(
        [
            "im.message.message_read_v1",
            "im.chat.member.bot.added_v1",
            "im.message.reaction.created_v1",
            "contact.user.created_v3",
        ]
    )
    return st.one_of(
        st.fixed_dictionaries(  # an event of a type we do not handle
            {
                "schema": st.just("2.0"),
                "header": header(st.one_of(unknown, st.text(max_size=30))),
                "event": rare(st.dictionaries(st.text(max_size=5), junk, max_size=3)),
            }
        ),
        st.fixed_dictionaries(  # a broken envelope
            {"schema": rare(st.sampled_from(["2.0", "1.0"])), "header": junk},
            optional={"event": junk, "token": st.just(TOKEN)},
        ),
        st.fixed_dictionaries(  # the old (1.0) schema
            {"uuid": st.text(max_size=8), "token": st.just(TOKEN), "event": junk}
        ),
        junk,  # not even an object
    )


payloads = st.one_of(
    message_event(), message_event(), message_event(), action_event(), junk_event()
).flatmap(lambda event: poisoned(event) if isinstance(event, dict) else st.just(event))


# --- the daemon, in-process on a loop of its own ----------------------------------------------


@dataclass(frozen=True)
class Raw:
    """An event as JSON text: poison that ``json.loads`` would not take."""

    text: str


class World:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.unhandled: list[dict[str, Any]] = []
        self.canaries = itertools.count(1)

    async def start(self) -> World:
        self.fake = await FakeFeishu().start()
        self.fake.names.update({OWNER: "Ann", USER: "Bob", GUEST: "Gus", STRANGER: "Sam"})
        self.model = await FakeModel().start()
        config = feishu_config(self.directory, self.model, self.fake, limits=NO_LIMITS)
        self.daemon, self.task = await start_daemon(
            config, self.directory, COMPONENT, self.unhandled
        )
        assert self.daemon.gateway is not None
        self.url = f"http://127.0.0.1:{self.daemon.gateway.port}/feishu/events"
        self.http = aiohttp.ClientSession()
        return self

    async def close(self) -> None:
        await self.http.close()
        await stop_daemon(self.daemon, self.task)
        await self.fake.stop()
        await self.model.close()

    async def feed(self, events: list[Any]) -> None:
        """Post each event as Feishu does (encrypted and signed) and wait until its work is
        done; then check that the owner is still answered. ``self.posted``: what was posted,
        with the webhook's answer."""
        self.posted = []
        for event in events:
            posted = self.fill(event)
            raw = posted.text if isinstance(posted, Raw) else None
            status, body = await self.fake.post_webhook(self.http, self.url, posted, raw=raw)
            self.posted.append((posted, status, body))
        assert self.daemon.services is not None
        await self.daemon.services.router.wait_idle()
        canary = f"canary {next(self.canaries)}"
        ok = self.fake.message_event(chat_id=OWNER_CHAT, sender=OWNER, text=canary)
        assert await self.fake.post_webhook(self.http, self.url, ok) == (200, {})
        await self.fake.wait_for(lambda: any(s.text == f"echo: {canary}" for s in self.fake.sent))
        await self.daemon.services.router.wait_idle()

    def fill(self, event: Any) -> Any:
        """The event with its placeholders filled in (JSON text when it is poison that the
        parser cannot take)."""
        text = json.dumps(event).replace(TOKEN, self.fake.verification_token)
        text = text.replace(HUGE, "word " * 32_000)
        text = text.replace(FRESH_EVENT, uuid.uuid4().hex)
        message_id = f"om_{uuid.uuid4().hex}"
        text = write_out(text.replace(FRESH_MESSAGE, message_id))
        if unreadable(text):
            return Raw(text)
        filled = json.loads(text)
        _, _, chat_id, _ = message_parts(filled) if isinstance(filled, dict) else (0, 0, 0, 0)
        if FRESH_MESSAGE in text and isinstance(chat_id, str):
            # Feishu knows the message: a reply quotes it in its chat, its files download
            self.fake.inbound[message_id] = chat_id
            self.fake.add_file(message_id, "img_v3_01", b"\xff\xd8jpeg", "image/jpeg")
            self.fake.add_file(message_id, "file_v3_02", b"line one\nline two", "text/plain")
        return filled


def expected_status(event: Any, token: str) -> int:
    """The webhook's answer: 200 to (signed) JSON the parser cannot take, 400 to a body that
    is not an object, 401 without the right verification token (where the webhook looks for
    it), otherwise 200."""
    if isinstance(event, Raw):
        return 200
    if not isinstance(event, dict):
        return 400
    head = event.get("header")
    if isinstance(head, dict) and "token" in head:
        return 200 if head["token"] == token else 401
    return 200 if event.get("token") == token else 401


def message_parts(event: dict[str, Any]) -> tuple[Any, Any, Any, list[str]]:
    """(sender open_id, chat_type, chat_id, every string in it with its content decoded) of
    a message event; Nones where a part is missing or of the wrong type."""
    body = event.get("event")
    found = strings(body)
    sender = body.get("sender") if isinstance(body, dict) else None
    ids = sender.get("sender_id") if isinstance(sender, dict) else None
    open_id = ids.get("open_id") if isinstance(ids, dict) else None
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, dict):
        return open_id, None, None, found
    with contextlib.suppress(TypeError, ValueError):
        found += strings(json.loads(message.get("content")))
    return open_id, message.get("chat_type"), message.get("chat_id"), found


def allowed(sender: Any, chat_type: Any, chat_id: Any) -> bool:
    """May this sender talk to the assistant in this chat (by the test's config)?"""
    if chat_type == "p2p":
        return sender in (OWNER, USER)
    return chat_id == GROUP  # everyone in the allowlisted group is a guest


def stranger_texts(events: list[dict[str, Any]]) -> set[str]:
    """Texts of messages whose sender may not talk in that chat (and that no one who may
    talk there also sent in this batch)."""
    theirs, ours = set(), []
    for event in events:
        sender, chat_type, chat_id, found = message_parts(event)
        if allowed(sender, chat_type, chat_id):
            ours.extend(found)
            continue
        try:
            text = json.loads(event["event"]["message"]["content"])["text"]
        except (KeyError, TypeError, ValueError):
            continue
        if isinstance(text, str) and len(text.strip()) > 3:
            theirs.add(text.strip())
    return {text for text in theirs if not any(text in blob for blob in ours)}


def pressed_by_stranger(event: dict[str, Any]) -> bool:
    """A button press by someone who may not act in that chat (the card's value says whether
    it is a group's)."""
    try:
        body = event["event"]
        operator, value = body["operator"]["open_id"], body["action"]["value"]
        kind, chat = event["header"]["event_type"], body["context"]["open_chat_id"]
    except (KeyError, TypeError):
        return False
    if kind != "card.action.trigger" or not isinstance(value, dict):
        return False
    return not allowed(operator, "group" if value.get("chat") == "group" else "p2p", chat)


class LongConnectionWorld(World):
    """The daemon receiving over the long connection instead of the webhook."""

    async def start(self) -> World:
        self.fake = await FakeFeishu().start()
        self.fake.names.update({OWNER: "Ann", USER: "Bob", GUEST: "Gus", STRANGER: "Sam"})
        self.model = await FakeModel().start()
        ws = {"mode": "websocket", "heartbeat_timeout": 30}
        config = feishu_config(self.directory, self.model, self.fake, feishu=ws, limits=NO_LIMITS)
        self.daemon, self.task = await start_daemon(
            config, self.directory, COMPONENT, self.unhandled
        )
        self.http = aiohttp.ClientSession()
        await self.fake.ws.wait_connected()
        return self

    async def push(self, events: list[Any]) -> list[int]:
        """Each event as a frame; the codes of their acknowledgements. Then check that the
        owner is still answered."""
        codes = []
        for event in events:
            posted = self.fill(event)
            raw = posted.text if isinstance(posted, Raw) else json.dumps(posted)
            frame = await self.fake.ws.push_raw(raw.encode())
            codes.append((await self.fake.ws.wait_ack(frame))["code"])
        assert self.daemon.services is not None
        await self.daemon.services.router.wait_idle()
        canary = f"canary {next(self.canaries)}"
        ok = self.fake.message_event(chat_id=OWNER_CHAT, sender=OWNER, text=canary)
        assert (await self.fake.ws.wait_ack(await self.fake.ws.push(ok)))["code"] == 200
        await self.fake.wait_for(lambda: any(s.text == f"echo: {canary}" for s in self.fake.sent))
        await self.daemon.services.router.wait_idle()
        return codes


world = world_fixture(World, "fuzz-feishu")
ws_world = world_fixture(LongConnectionWorld, "fuzz-feishu-ws")


@fuzz_settings(max_examples=200)
@given(events=st.lists(payloads, min_size=1, max_size=8))
def test_fuzzed_events_never_crash_leak_or_answer_strangers(world, events):
    loop, w = world
    sent_before, requests_before = len(w.fake.sent), len(w.model.requests)
    run_quietly(loop, lambda: w.feed(events), w.unhandled)

    token = w.fake.verification_token
    for posted, status, body in w.posted:
        assert status == expected_status(posted, token), (status, body, posted)
        if status == 200:
            assert isinstance(body, dict), body
        if isinstance(posted, Raw):
            assert body == {}, body  # dead-lettered
        elif status == 200 and pressed_by_stranger(posted):  # refused, or nothing at all
            assert body == {} or body["toast"]["content"] in REFUSED, body
    for sent in w.fake.sent[sent_before:]:
        if sent.chat_id in (STRANGER_CHAT, GUEST_CHAT):  # a private chat: the door only
            assert "assistant pairing approve" in sent.text, sent.text  # in any language
        elif sent.chat_id == OTHER_GROUP:
            assert "assistant users allow-group" in sent.text, sent.text
    seen_by_model = " ".join(
        last_user_text(request) for request in w.model.requests[requests_before:]
    )
    authentic = [e for e, status, _ in w.posted if status == 200 and isinstance(e, dict)]
    for text in stranger_texts(authentic):
        assert text not in seen_by_model, text


@fuzz_settings(max_examples=25)
@given(events=st.lists(payloads, min_size=1, max_size=4))
def test_fuzzed_events_over_the_long_connection_are_acknowledged(ws_world, events):
    """The same events as long-connection frames: every one is acknowledged with 200 (taken,
    skipped, or dead-lettered) and the owner is still answered after them."""
    loop, w = ws_world
    codes: list[int] = []

    async def push() -> None:
        codes.extend(await w.push(events))

    run_quietly(loop, push, w.unhandled)
    assert codes == [200] * len(events)
