"""WhatsApp's pure parts: webhook checks, Meta's payloads → InboundMessage, our replies →
Cloud API payloads (checked against the fake's copy of Meta's limits), fuzzed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.channels.whatsapp.parse import items, parse_item
from assistant.channels.whatsapp.render import (
    BODY_LIMIT,
    TEXT_LIMIT,
    render_message,
    template_payload,
    whatsapp_marks,
)
from assistant.channels.whatsapp.webhook import handshake, signature, signed
from assistant.core.messages import Button, InboundMessage, MessageKind
from tests.fakes.whatsapp import PHONE_ID, FakeWhatsApp, Sent

FAKE = FakeWhatsApp()
PERSON = "4915112345678"


def _parse(payload: dict[str, Any]) -> list[InboundMessage | None]:
    return [parse_item(item, PHONE_ID) for item in items(payload)]


def test_signature_and_handshake() -> None:
    body = json.dumps({"object": "whatsapp_business_account"}).encode()
    good = {"X-Hub-Signature-256": signature(body, "s3cret")}
    assert signed(body, good, "s3cret")
    assert not signed(body + b" ", good, "s3cret")
    assert not signed(body, good, "other")
    assert not signed(body, {}, "s3cret")
    assert not signed(body, {"X-Hub-Signature-256": "sha256=zz\udcff"}, "s3cret")
    query = {"hub.mode": "subscribe", "hub.verify_token": "vt", "hub.challenge": "42"}
    assert handshake(query, "vt") == "42"
    assert handshake({**query, "hub.verify_token": "VT"}, "vt") is None
    assert handshake({**query, "hub.mode": "unsubscribe"}, "vt") is None


def test_text_button_media_and_statuses() -> None:
    text = FAKE.text(PERSON, "hello")
    FAKE.add_media("m1", b"img", "image/jpeg")
    FAKE.add_media("m2", b"ogg", "audio/ogg; codecs=opus")
    image = FAKE.media_message(PERSON, "image", "m1", "image/jpeg", caption="look")
    voice = FAKE.media_message(PERSON, "audio", "m2", "audio/ogg; codecs=opus", voice=True)
    sticker = {**FAKE._base(PERSON, "sticker"), "sticker": {"id": "m3"}}
    payload = FAKE.delivery(
        text, image, voice, sticker, name="Ann", statuses=[FAKE.status("wamid.X", PERSON)]
    )
    first, second, third, fourth = _parse(payload)
    assert first is not None and first.text == "hello" and first.sender.name == "Ann"
    assert first.chat.chat_id == PERSON and not first.chat.is_group and first.bot == PHONE_ID
    assert first.platform_id == text["id"] and first.meta == {}
    assert second is not None and second.text == "look"
    assert second.attachments[0].kind == "image" and second.attachments[0].ref == "m1"
    assert third is not None and third.attachments[0].kind == "voice"
    assert fourth is None
    assert _parse(FAKE.delivery(statuses=[FAKE.status("wamid.X", PERSON)])) == []
    # another number of the same app: not ours
    assert _parse(FAKE.delivery(FAKE.text(PERSON, "x"), phone_id="999")) == [None]
    chinese = _parse(FAKE.delivery(FAKE.text("8613800138000", "你好")))[0]
    assert chinese is not None and chinese.meta == {"language": "zh_CN"}


def test_button_and_list_replies_are_actions() -> None:
    buttons = ((Button("Yes", "ap:1:y"), Button("No", "ap:1:n")),)
    card = Sent(PERSON, "wamid.OUT", render_message("Go?", "plain", buttons)[0])
    (press,) = _parse(FAKE.delivery(FAKE.button_reply(PERSON, card, 1)))
    assert press is not None and press.kind is MessageKind.ACTION and press.text == "ap:1:n"
    assert press.message_id == "wamid.OUT"
    choices = (tuple(Button(f"b{i}", f"h:{i}") for i in range(5)),)
    menu = Sent(PERSON, "wamid.MENU", render_message("Pick", "plain", choices)[0])
    (choice,) = _parse(FAKE.delivery(FAKE.button_reply(PERSON, menu, 4)))
    assert choice is not None and choice.text == "h:4"
    quick = {**FAKE._base(PERSON, "button"), "button": {"payload": "ap:2:y", "text": "Yes"}}
    (template_press,) = _parse(FAKE.delivery(quick))
    assert template_press is not None and template_press.kind is MessageKind.ACTION


def test_marks_and_template() -> None:
    assert whatsapp_marks("# Title\n**bold** and ~~gone~~ `**code**`") == (
        "*Title*\n*bold* and ~gone~ `**code**`"
    )
    payload = template_payload("t", "en_US", "a\n b" + "x" * 2000)
    parameter = payload["template"]["components"][0]["parameters"][0]["text"]
    assert parameter.startswith("a b") and len(parameter) == BODY_LIMIT
    assert "components" not in template_payload("t", "en_US", None)["template"]


_buttons = st.lists(
    st.tuples(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=60)),
    max_size=25,
    unique_by=lambda b: b[1],
)


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=9000), buttons=_buttons, plain=st.booleans())
def test_every_rendered_payload_is_one_meta_accepts(
    text: str, buttons: list[tuple[str, str]], plain: bool
) -> None:
    rows = (tuple(Button(label, action) for label, action in buttons),) if buttons else ()
    payloads = render_message(text, "plain" if plain else "markdown", rows)
    for payload in payloads:
        assert FAKE._invalid(payload) is None, payload
        if payload["type"] == "text":
            assert len(payload["text"]["body"]) <= TEXT_LIMIT
    offered = [
        reply_id
        for p in payloads
        if p["type"] == "interactive"
        for reply_id in (
            [b["reply"]["id"] for b in p["interactive"]["action"].get("buttons", [])]
            + [r["id"] for s in p["interactive"]["action"].get("sections", []) for r in s["rows"]]
        )
    ]
    assert offered == [action for _, action in buttons]  # every button, once, in order


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=12,
)
_message = st.fixed_dictionaries(
    {"from": st.one_of(st.just(PERSON), _json), "id": st.one_of(st.just("wamid.1"), _json)},
    optional={
        "type": st.sampled_from(["text", "interactive", "button", "image", "document", "audio"])
        | _json,
        "text": st.one_of(st.fixed_dictionaries({"body": _json}), _json),
        "interactive": _json,
        "button": _json,
        "image": _json,
        "document": _json,
        "audio": _json,
        "timestamp": _json,
        "context": _json,
    },
)


@settings(max_examples=300, deadline=None)
@given(message=_message, junk_value=_json)
def test_parse_returns_a_message_or_none_or_raises_a_plain_error(
    message: dict[str, Any], junk_value: Any
) -> None:
    payload = FAKE.delivery()
    value = payload["entry"][0]["changes"][0]["value"]
    value["messages"] = [message]
    value["contacts"] = [junk_value] if isinstance(junk_value, dict) else []
    try:
        found = _parse(payload)
    except (ValueError, KeyError, TypeError, AttributeError):
        return  # the adapter dead-letters it
    for parsed in found:
        if parsed is None:
            continue
        assert isinstance(parsed.text, str) and isinstance(parsed.platform_id, str)
        assert parsed.platform_id and parsed.chat.chat_id and parsed.sender.user_id
        if parsed.kind is MessageKind.ACTION:
            assert parsed.text


@pytest.mark.parametrize(
    "payload",
    [{}, {"object": "page"}, {"object": "whatsapp_business_account", "entry": 5}],
)
def test_not_whatsapp_deliveries_raise(payload: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError)):
        _parse(payload)


def test_template_quick_reply_buttons_carry_the_actions() -> None:
    payload = template_payload("approval", "de", None, ["ap:1:y", "ap:1:n"])
    assert payload["template"]["components"] == [
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": str(i),
            "parameters": [{"type": "payload", "payload": action}],
        }
        for i, action in enumerate(["ap:1:y", "ap:1:n"])
    ]


def test_group_messages_are_addressed_by_mention_reply_or_command() -> None:
    from assistant.channels.whatsapp.parse import Item, parse_item

    def parse(**message: Any) -> tuple[str, bool, str]:
        base = {"from": "4915112345678", "id": "wamid.G1", "type": "text", "group_id": "G1"}
        parsed = parse_item(Item({**base, **message}, None, "106", "15550783881"), "106")
        assert parsed is not None and parsed.chat.is_group and parsed.chat.chat_id == "G1"
        return parsed.text, parsed.addressed, parsed.sender.user_id

    assert parse(text={"body": "lunch?"})[1] is False
    assert parse(text={"body": "@15550783881 disk?"}) == ("disk?", True, "4915112345678")
    assert parse(text={"body": "/status"})[1] is True
    assert parse(text={"body": "ok"}, context={"from": "15550783881", "id": "x"})[1] is True
    assert parse(text={"body": "ok"}, context={"from": "4915187654321", "id": "x"})[1] is False
    image = {"id": "m1", "mime_type": "image/jpeg", "caption": "@15550783881 what?"}
    assert parse(type="image", image=image)[:2] == ("what?", True)


@pytest.mark.parametrize(
    "media_id",
    [
        "http://127.0.0.1:{port}/steal",
        "https://127.0.0.1:{port}/x",
        "../me/accounts",
        "1?x=1",
        "a/b",
        "",
    ],
)
async def test_a_media_id_is_an_id_never_an_address(media_id):
    """The token goes to the Graph API for ``/{media id}`` only: an id that is an address, a
    path or a query is refused before anything is requested."""
    import aiohttp
    from aiohttp import web

    from assistant.channels.whatsapp.api import GraphAPI
    from assistant.core.errors import ChannelError
    from assistant.core.redact import Redactor

    seen: list[str] = []

    async def collect(request: web.Request) -> web.Response:
        seen.append(request.path_qs)
        return web.json_response({"url": f"http://127.0.0.1:{port}/bytes", "file_size": 1})

    app = web.Application()
    app.router.add_get("/{tail:.*}", collect)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as session:
            api = GraphAPI(
                session,
                base_url=f"http://127.0.0.1:{port}/v21.0",
                phone_number_id="1",
                token="EAAG-secret",
                redactor=Redactor(),
                attempts=1,
            )
            with pytest.raises(ChannelError):
                await api.download(media_id.format(port=port), 100)
            assert seen == []
            assert await api.download("900000000000001", 100)  # an id: looked up, then read
            assert seen == ["/v21.0/900000000000001", "/bytes"]
    finally:
        await runner.cleanup()
