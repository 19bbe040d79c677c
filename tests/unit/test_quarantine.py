"""Pure parts of quarantine and of the delivery record: what a dead letter keeps, how webhooks
tell poison from junk, and what counts as the same message."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

from assistant.channels.feishu.crypto import encrypt, signature, signature_valid
from assistant.channels.feishu.webhook import Poison, Rejected
from assistant.channels.quarantine import MAX_PAYLOAD, Quarantine, describe, printable
from assistant.channels.telegram.receive import _UPDATE_ID, _only_update
from assistant.core.messages import Attachment, ChatRef, InboundMessage, Sender
from assistant.core.redact import Redactor
from assistant.store.db import Database
from assistant.store.dead_letters import DeadLetters
from assistant.store.inbox import inbox_key, same_content
from tests.unit.test_feishu_parse_render import KEY, TOKEN, check, signed

SECRET = "123456789:AAHfakeTokenForTestsOnly0123456789ab"
DEEP = "[" * 100_000 + "]" * 100_000


def quarantine() -> Quarantine:
    return Quarantine("telegram", None, Redactor([SECRET]))


@given(st.text(alphabet=st.characters(codec=None), max_size=50))
def test_anything_printed_for_a_dead_letter_can_be_stored(text):
    for kept in (
        quarantine().payload_text({"text": text}),
        quarantine().payload_text(text),
        quarantine().payload_text(text.encode("utf-8", "surrogatepass")),
        printable(text),
        describe(ValueError(text)),
    ):
        kept.encode("utf-8")  # SQLite and the log take it


@given(st.text(alphabet=st.characters(categories=["Cs", "L", "Nd"]), max_size=50))
def test_a_dead_letter_says_what_came(text):
    """Lone surrogates are kept as JSON escapes: a retry reads back exactly what came."""
    assert json.loads(quarantine().payload_text({"text": text})) == {"text": text}


@pytest.mark.parametrize(
    ("payload", "kept"),
    [
        (b'{"text": "\xff\xfe"}', '{"text": "\\xff\\xfe"}'),  # not UTF-8: escaped bytes
        ("a \ud800 b", "a \\ud800 b"),  # a lone surrogate as received: escaped
        ({"text": f"my token {SECRET}"}, '{"text": "my token **********"}'),  # redacted
    ],
)
def test_a_dead_letter_keeps_the_payload_printable_and_redacted(payload, kept):
    assert quarantine().payload_text(payload) == kept


def test_a_dead_letter_is_cut_but_never_fails():
    assert quarantine().payload_text(DEEP).endswith(" …(cut)")
    assert len(quarantine().payload_text(DEEP)) == MAX_PAYLOAD + len(" …(cut)")
    nested: list = []
    for _ in range(5000):  # deeper than json.dumps and repr go
        nested = [nested]
    assert quarantine().payload_text(nested).startswith("<a list")


def test_errors_are_described_printably():
    assert describe(UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")) == (
        "UnicodeEncodeError: 'utf-8' codec can't encode character '\\ud800' in position 0: "
        "surrogates not allowed"
    )
    assert describe(RecursionError()) == "RecursionError"
    assert describe("not a JSON object") == "not a JSON object"


def test_one_update_of_a_get_updates_answer():
    raw = b'{"ok":true,"result":[{"update_id": 12, "message": [[1]]}]}'
    assert _only_update(raw) == b'{"update_id": 12, "message": [[1]]}'
    assert _UPDATE_ID.search(raw).group(1) == b"12"  # type: ignore[union-attr]
    assert _only_update(b"garbage") == b"garbage"


# --- Feishu webhook bodies: junk is refused, signed poison is taken (to be dead-lettered) ------


def event_text(**extra: object) -> str:
    return json.dumps({"schema": "2.0", "header": {"event_id": "e1", "token": TOKEN}, **extra})


def signed_raw(text: str, *, encrypted: bool) -> tuple[bytes, CIMultiDict[str]]:
    body = (json.dumps({"encrypt": encrypt(text, KEY)}) if encrypted else text).encode()
    headers = CIMultiDict(
        {
            "x-lark-request-timestamp": "1700000000",
            "x-lark-request-nonce": "n0nce",
            "x-lark-signature": signature("1700000000", "n0nce", KEY, body),
        }
    )
    return body, headers


@pytest.mark.parametrize("encrypted", [True, False])
@pytest.mark.parametrize("poison", [DEEP, "1" + "0" * 5000])
def test_signed_json_too_deep_or_big_is_poison(encrypted, poison):
    body, headers = signed_raw(event_text()[:-1] + f', "event": {poison}}}', encrypted=encrypted)
    opened = check(body, headers)
    assert isinstance(opened, Poison)
    assert isinstance(opened.error, RecursionError | ValueError)


def test_unsigned_or_broken_bodies_are_refused_not_stored():
    body = (event_text()[:-1] + f', "event": {DEEP}}}').encode()
    assert check(body, CIMultiDict(), key=None) == Rejected(
        400, "JSON this parser cannot take (RecursionError), unsigned"
    )
    body, headers = signed_raw("{broken", encrypted=False)
    assert check(body, headers) == Rejected(400, "body is not JSON")
    body, headers = signed_raw("{broken", encrypted=True)
    assert check(body, headers).status == 401  # type: ignore[union-attr]


def test_forged_headers_and_tokens_with_lone_surrogates_are_refused():
    event = {"schema": "2.0", "header": {"event_id": "e1", "token": TOKEN}, "event": {}}
    body, headers = signed(event)
    headers["x-lark-request-nonce"] = "n\udcff"
    assert check(body, headers).status == 401  # type: ignore[union-attr]
    assert not signature_valid("1", "2", KEY, b"", "\udcff")
    bad = {**event, "header": {"event_id": "e1", "token": "vt-\ud800"}}
    assert check(*signed(bad)).status == 401  # type: ignore[union-attr]


# --- the inbox's identity ---------------------------------------------------------------------


def message(**changes: object) -> InboundMessage:
    fields: dict[str, object] = {
        "chat": ChatRef("telegram", "1"),
        "sender": Sender("1", "Ann"),
        "text": "hi",
        "platform_id": "7",
        "message_id": "50",
        "attachments": (Attachment("image", "f1"),),
        "meta": {"callback_id": "c1"},
        "bot": "123",
    }
    fields.update(changes)
    return InboundMessage(**fields)  # type: ignore[arg-type]


def test_the_inbox_key_names_the_bot():
    assert inbox_key("7", "123") == "123:7"
    assert inbox_key("job:a:1.000", "") == "job:a:1.000"  # scheduled work: no bot


@pytest.mark.parametrize(
    ("changes", "same"),
    [
        ({"sender": Sender("1", "Ann B."), "meta": {}, "received_at": 1.0}, True),
        ({"text": "hello"}, False),
        ({"sender": Sender("2")}, False),
        ({"chat": ChatRef("telegram", "2")}, False),
        ({"attachments": ()}, False),
        ({"message_id": "51"}, False),
    ],
)
def test_a_redelivery_is_the_same_message_a_reused_id_is_not(changes, same):
    assert same_content(message(), message(**changes)) is same


async def test_only_the_newest_dead_letters_are_kept(tmp_path):

    async with Database(tmp_path / "s.db") as db:
        letters = DeadLetters(db)
        for n in range(5):
            await letters.add(
                channel="telegram", bot="1", source="polling", ref=str(n), payload="{}", error="e"
            )
        assert await letters.trim(3) == 2
        assert [x.ref for x in await letters.all()] == ["2", "3", "4"]
        assert await letters.trim(3) == 0
