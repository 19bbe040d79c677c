"""Feishu's pure edges: event JSON → InboundMessage, replies → payloads, crypto, webhook checks.

The event samples follow the examples in Feishu's documentation (im.message.receive_v1,
card.action.trigger); ids are shortened where they do not matter.
"""

from __future__ import annotations

import copy
import json

import pytest
from multidict import CIMultiDict

from assistant.channels.common import split_text
from assistant.channels.feishu.crypto import (
    DecryptError,
    decrypt,
    encrypt,
    signature,
    signature_valid,
)
from assistant.channels.feishu.parse import BotIdentity, envelope, parse_event
from assistant.channels.feishu.render import (
    CARD_BYTES,
    action_response,
    card_payloads,
    escape_markdown,
    is_simple,
    render_message,
    text_payloads,
)
from assistant.channels.feishu.webhook import Rejected, open_request
from assistant.core.messages import Button, MessageKind

BOT = BotIdentity("ou_84aad35d084aa403a838cf73ee18467", "Assistant")

RECEIVE = {
    "schema": "2.0",
    "header": {
        "event_id": "5e3702a84e847582be8db7fb73283c02",
        "event_type": "im.message.receive_v1",
        "create_time": "1608725989000",
        "token": "rvaYgkR8IpoB8UsBdq5pHflQQOiN2bJK",
        "app_id": "cli_9f5343c580712544",
        "tenant_key": "2ca1d211f64f6438",
    },
    "event": {
        "sender": {
            "sender_id": {
                "union_id": "on_8ed6aa67826108097d9ee143816345",
                "user_id": "e33ggbyz",
                "open_id": "ou_84aad35d084aa403a838cf73ee18468",
            },
            "sender_type": "user",
            "tenant_key": "736588c9260f175e",
        },
        "message": {
            "message_id": "om_5ce6d572455d361153b7cb51da133945",
            "root_id": "om_5ce6d572455d361153b7cb5xxfsdfsdfdsf",
            "parent_id": "om_5ce6d572455d361153b7cb5xxfsdfsdfdsf",
            "create_time": "1609073151345",
            "update_time": "1687343654666",
            "chat_id": "oc_5ce6d572455d361153b7xx51da133945",
            "thread_id": "omt_d4be107c616",
            "chat_type": "group",
            "message_type": "text",
            "content": '{"text":"@_user_1 hello @_user_2"}',
            "mentions": [
                {
                    "key": "@_user_1",
                    "id": {
                        "union_id": "on_8ed6aa67826108097d9ee143816345",
                        "user_id": "e33ggbyz",
                        "open_id": "ou_84aad35d084aa403a838cf73ee18467",
                    },
                    "name": "Assistant",
                    "tenant_key": "736588c9260f175e",
                },
                {
                    "key": "@_user_2",
                    "id": {"open_id": "ou_0000000000000000000000000000tom"},
                    "name": "Tom",
                    "tenant_key": "736588c9260f175e",
                },
            ],
            "user_agent": "Mozilla/5.0 (Macintosh) Lark/7.1.0",
        },
    },
}

ACTION = {
    "schema": "2.0",
    "header": {
        "event_id": "f7984f25108f8137722bb63cee927e66",
        "token": "066zT6pS4QCbgj5Do145GfDbbagCHGgF",
        "create_time": "1603977298000000",
        "event_type": "card.action.trigger",
        "tenant_key": "2df73991750",
        "app_id": "cli_a5fb0ae6a4",
    },
    "event": {
        "operator": {"tenant_key": "2df73991750", "user_id": "867", "open_id": "ou_3c14f3a59ea"},
        "token": "c-295ee57216a5dc9de90fefd0aadb4b1d7d337bc8",
        "action": {
            "value": {"action": "ap:42:y", "chat": "group", "thread": "omt_1"},
            "tag": "button",
            "timezone": "Asia/Shanghai",
        },
        "host": "im_message",
        "delivery_type": "url_preview",
        "context": {
            "open_message_id": "om_574d639e4a44e4dd646eaf628e2",
            "open_chat_id": "oc_e4d2605ca917e695f54f11aaf56",
        },
    },
}


def message(
    content: dict | None = None, msg_type: str = "text", raw: str | None = None, **changes
) -> dict:
    event = copy.deepcopy(RECEIVE)
    body = event["event"]["message"]
    body.update(changes)
    body["message_type"] = msg_type
    if content is not None:
        body["content"] = json.dumps(content)
    if raw is not None:
        body["content"] = raw
    return event


def parse(event: dict):
    return parse_event(envelope(event), BOT)


# --- parse -----------------------------------------------------------------------------------


def test_group_text_mentioning_the_bot():
    parsed = parse(RECEIVE)
    assert parsed.text == "hello @Tom" and parsed.addressed
    assert parsed.chat.channel == "feishu" and parsed.chat.is_group
    assert parsed.chat.chat_id == "oc_5ce6d572455d361153b7xx51da133945"
    assert parsed.chat.thread_id == "omt_d4be107c616"
    assert parsed.sender.user_id == "ou_84aad35d084aa403a838cf73ee18468"
    assert parsed.platform_id == parsed.message_id == "om_5ce6d572455d361153b7cb51da133945"
    assert parsed.meta == {"event_id": "5e3702a84e847582be8db7fb73283c02"}
    assert parsed.received_at == 1609073151.345


def test_group_text_not_mentioning_the_bot_is_not_addressed():
    event = message(mentions=RECEIVE["event"]["message"]["mentions"][1:])
    event["event"]["message"]["content"] = '{"text":"hello @_user_2"}'
    parsed = parse(event)
    assert parsed.text == "hello @Tom" and not parsed.addressed


def test_private_chat_is_always_addressed():
    parsed = parse(message({"text": "hi"}, chat_type="p2p", mentions=[], thread_id=None))
    assert parsed.text == "hi" and parsed.addressed and not parsed.chat.is_group
    assert parsed.chat.thread_id is None


POST = {
    "title": "Deploy",
    "content": [
        [
            {"tag": "at", "user_id": "@_user_1", "user_name": "Assistant"},
            {"tag": "text", "text": " please check ", "style": []},
            {"tag": "text", "text": "web1", "style": ["bold", "italic"]},
            {"tag": "a", "href": "https://example.org/rb", "text": "runbook", "style": []},
            {"tag": "emotion", "emoji_type": "SMILE"},
        ],
        [{"tag": "img", "image_key": "img_v3_0abc"}],
        [{"tag": "code_block", "language": "PYTHON", "text": "print(1)"}],
        [{"tag": "hr"}],
        [{"tag": "text", "text": "old", "style": ["lineThrough"]}, {"tag": "md", "text": "**x**"}],
    ],
}


@pytest.mark.parametrize("wrapped", [False, True])
def test_post_is_flattened_to_markdown(wrapped):
    content = {"zh_cn": POST} if wrapped else POST
    parsed = parse(message(content, "post"))
    assert parsed.text == (
        "**Deploy**\n\nplease check ***web1***[runbook](https://example.org/rb):SMILE:\n\n"
        "```python\nprint(1)\n```\n\n---\n~~old~~**x**"
    )
    assert [a.kind for a in parsed.attachments] == ["image"]
    assert parsed.attachments[0].ref == "om_5ce6d572455d361153b7cb51da133945/img_v3_0abc"
    assert parsed.addressed


@pytest.mark.parametrize(
    ("msg_type", "content", "kind", "name", "mime"),
    [
        ("image", {"image_key": "img_v2_041b28e3"}, "image", "image", ""),
        (
            "file",
            {"file_key": "file_v2_9e7", "file_name": "report.pdf"},
            "document",
            "report.pdf",
            "application/pdf",
        ),
        ("file", {"file_key": "file_v2_9e8", "file_name": "app.log"}, "document", "app.log", ""),
        (
            "audio",
            {"file_key": "file_v2_a1", "duration": 2000},
            "voice",
            "voice.ogg",
            "audio/ogg",
        ),
    ],
)
def test_media_become_attachments(msg_type, content, kind, name, mime):
    parsed = parse(message(content, msg_type, chat_type="p2p", mentions=[]))
    (attachment,) = parsed.attachments
    assert (attachment.kind, attachment.name, attachment.mime_type) == (kind, name, mime)
    key = content.get("image_key") or content["file_key"]
    assert attachment.ref == f"om_5ce6d572455d361153b7cb51da133945/{key}"
    assert parsed.text == ""


@pytest.mark.parametrize(
    "event",
    [
        message({"file_key": "f"}, "sticker"),
        message({"file_key": "f"}, "media"),
        message({"text": "   "}, chat_type="p2p", mentions=[]),
        {
            **RECEIVE,
            "event": {
                **RECEIVE["event"],
                "sender": {**RECEIVE["event"]["sender"], "sender_type": "app"},
            },
        },
        {**RECEIVE, "header": {**RECEIVE["header"], "event_type": "im.message.message_read_v1"}},
        {
            **ACTION,
            "event": {**ACTION["event"], "action": {"value": {"key": "value"}, "tag": "button"}},
        },
    ],
)
def test_what_is_not_for_us_is_none(event):
    assert parse(event) is None


@pytest.mark.parametrize(
    ("event", "error"),
    [
        ({"uuid": "x", "event": {"type": "message"}}, ValueError),  # schema 1.0
        ({"schema": "2.0", "event": {}}, KeyError),
        ({"schema": "2.0", "header": {"event_id": "", "event_type": "x"}, "event": {}}, ValueError),
        (message(chat_type="p2p", raw="{not json"), ValueError),
        (message(chat_type="p2p", raw='"a string"'), TypeError),
        (message({"image_key": None}, "image"), ValueError),
        ({**ACTION, "event": {**ACTION["event"], "context": {}}}, ValueError),
        # a chat id no reply could be sent to (found by fuzzing: Feishu refused the reply)
        (message(chat_type="p2p", chat_id="0"), ValueError),
        (message(chat_type="group", chat_id="oc_../x"), ValueError),
        (message(chat_type="group", chat_id=7), ValueError),
        (
            {**ACTION, "event": {**ACTION["event"], "context": {"open_chat_id": "chat"}}},
            ValueError,
        ),
    ],
)
def test_malformed_events_raise(event, error):
    with pytest.raises(error):
        parse(event)


def test_card_press_is_an_action():
    parsed = parse(ACTION)
    assert parsed.kind is MessageKind.ACTION and parsed.text == "ap:42:y"
    assert parsed.platform_id == "event:f7984f25108f8137722bb63cee927e66"
    assert parsed.message_id == "om_574d639e4a44e4dd646eaf628e2"
    assert parsed.chat.chat_id == "oc_e4d2605ca917e695f54f11aaf56"
    assert parsed.chat.is_group and parsed.chat.thread_id == "omt_1"
    assert parsed.sender.user_id == "ou_3c14f3a59ea"


# --- render ----------------------------------------------------------------------------------


def test_short_plain_replies_are_text_and_cannot_mention():
    assert is_simple("Disk / is 71% full.") and not is_simple("**bold**")
    (payload,) = render_message('ok <at user_id="all">everyone</at>', "plain")
    assert payload.msg_type == "text"
    assert "<at" not in json.loads(payload.content)["text"]


@pytest.mark.parametrize(
    ("text", "fmt", "buttons", "prefer", "kind"),
    [
        ("hi there", "markdown", (), False, "text"),
        ("hi there", "markdown", (), True, "interactive"),  # streaming: editable cards
        ("use `df -h`", "markdown", (), False, "interactive"),
        ("- one\n- two", "markdown", (), False, "interactive"),
        ("x" * 2000, "markdown", (), False, "interactive"),
        ("a plain **notice**", "plain", (), True, "text"),
        ("Approve?", "plain", ((Button("Yes", "ap:1"),),), False, "interactive"),
    ],
)
def test_text_or_card(text, fmt, buttons, prefer, kind):
    payloads = render_message(text, fmt, buttons, prefer_cards=prefer)
    assert {p.msg_type for p in payloads} == {kind}


def test_cards_are_json_2_with_markdown_and_callback_buttons():
    buttons = ((Button("Approve", "ap:42:y", "primary"), Button("Deny", "ap:42:n", "danger")),)
    (payload,) = card_payloads("**Run** `df -h`?", "markdown", buttons, group=True, thread="omt_9")
    card = json.loads(payload.content)
    assert card["schema"] == "2.0" and card["config"] == {"update_multi": True}
    markdown, row = card["body"]["elements"]
    assert markdown == {"tag": "markdown", "content": "**Run** `df -h`?"}
    first = row["columns"][0]["elements"][0]
    assert first["text"] == {"tag": "plain_text", "content": "Approve"}
    assert first["type"] == "primary"
    assert first["behaviors"] == [
        {"type": "callback", "value": {"action": "ap:42:y", "chat": "group", "thread": "omt_9"}}
    ]
    (plain,) = card_payloads("a <b>", "plain")
    assert json.loads(plain.content)["body"]["elements"][0] == {
        "tag": "div",
        "text": {"tag": "plain_text", "content": "a <b>"},
    }


def test_markdown_escapes_tags_outside_code():
    text = "hi <at id=all></at>\n`<b>` stays\n```html\n<div>ok</div>\n```\n<font color=red>x</font>"
    assert escape_markdown(text) == (
        "hi &lt;at id=all>&lt;/at>\n`<b>` stays\n```html\n<div>ok</div>\n```\n"
        "&lt;font color=red>x&lt;/font>"
    )


def test_long_replies_are_split_under_the_card_limit_and_fences_reopened():
    code = "\n".join(f"{i:04d} " + "数据" * 30 for i in range(600))
    text = "Intro.\n\n" + "word " * 6000 + "\n\n```sql\n" + code + "\n```\nDone."
    payloads = card_payloads(text, "markdown")
    assert len(payloads) >= 3
    pieces = [json.loads(p.content)["body"]["elements"][0]["content"] for p in payloads]
    assert all(len(p.content.encode()) < 30 * 1024 for p in payloads)
    assert all(len(piece.encode()) <= CARD_BYTES for piece in pieces)
    assert all(piece.count("```") % 2 == 0 for piece in pieces)  # closed in every card
    assert sum(piece.startswith("```sql") for piece in pieces) >= 2  # and reopened
    joined = "\n".join(pieces)
    assert all(f"{i:04d} " in joined for i in range(600)) and joined.endswith("Done.")


def test_text_splitting():
    assert split_text("short", 10) == ["short"]
    pieces = split_text("\n".join(["line"] * 100), 50)
    assert all(len(p) <= 50 for p in pieces) and sum(p.count("line") for p in pieces) == 100
    assert [len(p) for p in split_text("x" * 25, 10)] == [10, 10, 5]
    assert len(text_payloads("y" * 9000)) == 3


def test_action_response():
    assert action_response(None) == {} and action_response("") == {}
    assert action_response("Approved") == {"toast": {"type": "info", "content": "Approved"}}
    assert action_response("No", alert=True)["toast"]["type"] == "error"


# --- crypto and webhook checks ---------------------------------------------------------------


def test_decrypts_the_documented_example():
    assert decrypt("P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=", "test key") == "hello world"


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ("not base64!", "test key"),
        ("aGVsbG8=", "test key"),  # too short
        ("P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=", "another key"),
    ],
)
def test_decrypt_refuses_garbage(data, key):
    with pytest.raises(DecryptError):
        decrypt(data, key)


def test_encrypt_round_trip_and_signature():
    assert decrypt(encrypt('{"a": "中文"}', "k3y"), "k3y") == '{"a": "中文"}'
    body = b'{"encrypt":"abc"}'
    sig = signature("1599360473", "7112953564", "k3y", body)
    assert signature_valid("1599360473", "7112953564", "k3y", body, sig.upper())
    assert not signature_valid("1599360474", "7112953564", "k3y", body, sig)
    assert not signature_valid("1599360473", "7112953564", "k3y", body + b" ", sig)


TOKEN = "vt-0123456789"
KEY = "ek-0123456789"


def signed(payload: dict, *, key: str = KEY, ts: int = 1_700_000_000, encrypted: bool = True):
    raw = json.dumps({"encrypt": encrypt(json.dumps(payload), key)} if encrypted else payload)
    body = raw.encode()
    headers = CIMultiDict(
        {
            "x-lark-request-timestamp": str(ts),
            "x-lark-request-nonce": "n0nce",
            "x-lark-signature": signature(str(ts), "n0nce", key, body),
        }
    )
    return body, headers


def check(body, headers, *, key: str | None = KEY, now: float = 1_700_000_010):
    return open_request(
        body, headers, verification_token=TOKEN, encrypt_key=key, window=300, now=now
    )


def test_webhook_accepts_a_signed_encrypted_event():
    event = {"schema": "2.0", "header": {"event_id": "e1", "token": TOKEN}, "event": {}}
    assert check(*signed(event)) == event


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("stale", "away from now"),
        ("tampered", "wrong signature"),
        ("unsigned", "unsigned request"),
        ("bad_token", "verification token"),
        ("other_key", "wrong signature"),
        ("no_key_configured", "set [feishu] encrypt_key"),
    ],
)
def test_webhook_refusals_are_401(case, reason):
    event = {"schema": "2.0", "header": {"event_id": "e1", "token": TOKEN}, "event": {}}
    body, headers = signed(event)
    key: str | None = KEY
    now = 1_700_000_010.0
    if case == "stale":
        now += 3600
    elif case == "tampered":
        body = body.replace(b'{"encrypt": "', b'{"encrypt": "A')
    elif case == "unsigned":
        del headers["x-lark-signature"]
    elif case == "bad_token":
        bad = copy.deepcopy(event)
        bad["header"]["token"] = "vt-other"
        body, headers = signed(bad)
    elif case == "other_key":
        body, headers = signed(event, key="other-key-000")
    elif case == "no_key_configured":
        key = None
    result = check(body, headers, key=key, now=now)
    assert isinstance(result, Rejected) and result.status == 401 and reason in result.reason


def test_url_verification_needs_only_the_token():
    challenge = {"challenge": "ajls384kdjx98XX", "token": TOKEN, "type": "url_verification"}
    body = json.dumps({"encrypt": encrypt(json.dumps(challenge), KEY)}).encode()
    assert check(body, CIMultiDict()) == challenge
    assert check(json.dumps(challenge).encode(), CIMultiDict(), key=None) == challenge
    wrong = json.dumps({**challenge, "token": "nope"}).encode()
    assert isinstance(check(wrong, CIMultiDict()), Rejected)


def test_without_encrypt_key_plain_events_need_the_token():
    event = {"schema": "2.0", "header": {"event_id": "e1", "token": TOKEN}, "event": {}}
    assert check(json.dumps(event).encode(), CIMultiDict(), key=None) == event
    assert isinstance(check(b"[1, 2]", CIMultiDict(), key=None), Rejected)
    assert check(b"not json", CIMultiDict(), key=None) == Rejected(400, "body is not JSON")


def test_sending_and_webhooks_do_not_import_the_sdk():
    """Only the long connection needs lark-oapi (3-4 s, ~180 MB); the rest of the adapter,
    used in webhook mode and by the CLI to notify people, must not import it."""
    import subprocess
    import sys

    code = (
        "import sys, assistant.channels.feishu.adapter, assistant.app;"
        "print('lark_oapi' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
