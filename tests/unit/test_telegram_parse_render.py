"""Telegram parse and render: pure functions on real Bot API JSON shapes."""

from __future__ import annotations

import pytest

from assistant.channels.telegram.parse import BotIdentity, parse_update
from assistant.channels.telegram.render import (
    inline_keyboard,
    markdown_to_html,
    render_parts,
    split_markdown,
    utf16_len,
    visible_len,
)
from assistant.core.messages import Button, MessageKind
from tests.fakes.telegram import check_html

BOT = BotIdentity(id=123456789, username="ops_helper_bot")

PRIVATE_TEXT = {
    "update_id": 10001,
    "message": {
        "message_id": 51,
        "from": {
            "id": 1001,
            "is_bot": False,
            "first_name": "Ann",
            "last_name": "Lee",
            "username": "annlee",
            "language_code": "en",
        },
        "chat": {
            "id": 1001,
            "first_name": "Ann",
            "last_name": "Lee",
            "username": "annlee",
            "type": "private",
        },
        "date": 1763800000,
        "text": "check disk on web1 🙂",
    },
}

GROUP_MENTION = {
    "update_id": 10002,
    "message": {
        "message_id": 52,
        "from": {"id": 1002, "is_bot": False, "first_name": "Bo"},
        "chat": {"id": -1001234567890, "title": "Ops", "type": "supergroup"},
        "date": 1763800001,
        "text": "🙂 @ops_helper_bot how full is /var?",
        "entities": [{"offset": 3, "length": 15, "type": "mention"}],
        "message_thread_id": 7,
        "is_topic_message": True,
    },
}

CALLBACK = {
    "update_id": 10003,
    "callback_query": {
        "id": "4382bfdwdsb323b2d9",
        "from": {"id": 1001, "is_bot": False, "first_name": "Ann"},
        "message": {
            "message_id": 60,
            "from": {"id": 123456789, "is_bot": True, "first_name": "Ops"},
            "chat": {"id": 1001, "type": "private", "first_name": "Ann"},
            "date": 1,
            "text": "Run?",
        },
        "chat_instance": "-8374629",
        "data": "ap:17:y",
    },
}


def test_private_text():
    message = parse_update(PRIVATE_TEXT, BOT)
    assert message is not None
    assert message.chat.key == "telegram:1001" and not message.chat.is_group
    assert (message.sender.user_id, message.sender.name, message.sender.username) == (
        "1001",
        "Ann Lee",
        "annlee",
    )
    assert message.text == "check disk on web1 🙂"
    assert (message.platform_id, message.message_id, message.addressed) == ("10001", "51", True)


def test_group_mention_is_stripped_with_utf16_offsets_and_topic_kept():
    message = parse_update(GROUP_MENTION, BOT)
    assert message is not None and message.addressed
    assert message.text == "🙂 how full is /var?"
    assert message.chat.is_group and message.chat.thread_id == "7"
    assert message.chat.key == "telegram:-1001234567890:7"


@pytest.mark.parametrize(
    ("text", "entities", "addressed", "expected"),
    [
        ("just talking", [], False, "just talking"),
        ("/status", [{"type": "bot_command", "offset": 0, "length": 7}], True, "/status"),
        (
            "/status@ops_helper_bot now",
            [{"type": "bot_command", "offset": 0, "length": 22}],
            True,
            "/status now",
        ),
        (
            "/status@other_bot",
            [{"type": "bot_command", "offset": 0, "length": 17}],
            False,
            "/status@other_bot",
        ),
        (
            "hey Ops",
            [
                {
                    "type": "text_mention",
                    "offset": 4,
                    "length": 3,
                    "user": {"id": 123456789, "is_bot": True, "first_name": "Ops"},
                }
            ],
            True,
            "hey Ops",
        ),
    ],
)
def test_group_addressing(text, entities, addressed, expected):
    update = {
        "update_id": 1,
        "message": {**GROUP_MENTION["message"], "text": text, "entities": entities},
    }
    message = parse_update(update, BOT)
    assert message is not None
    assert (message.addressed, message.text) == (addressed, expected)


def test_reply_to_the_bot_addresses_it_and_carries_the_quoted_text():
    update = {
        "update_id": 2,
        "message": {
            **GROUP_MENTION["message"],
            "text": "and /home?",
            "entities": [],
            "reply_to_message": {
                "message_id": 50,
                "from": {"id": 123456789, "is_bot": True, "first_name": "Ops"},
                "chat": GROUP_MENTION["message"]["chat"],
                "date": 1,
                "text": "/var is 71% full",
            },
        },
    }
    message = parse_update(update, BOT)
    assert message is not None and message.addressed
    assert message.reply_to_text == "/var is 71% full"


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        (
            {
                "type": "user",
                "date": 1,
                "sender_user": {"id": 5, "is_bot": False, "first_name": "Cy"},
            },
            "Cy",
        ),
        ({"type": "hidden_user", "date": 1, "sender_user_name": "Dee"}, "Dee"),
        (
            {
                "type": "channel",
                "date": 1,
                "chat": {"id": -100, "type": "channel", "title": "News"},
                "message_id": 3,
            },
            "News",
        ),
    ],
)
def test_forwarded_messages_name_their_origin(origin, expected):
    update = {"update_id": 3, "message": {**PRIVATE_TEXT["message"], "forward_origin": origin}}
    message = parse_update(update, BOT)
    assert message is not None and message.forwarded_from == expected


def test_largest_photo_document_and_voice():
    photo = {
        "update_id": 4,
        "message": {
            **PRIVATE_TEXT["message"],
            "text": None,
            "caption": "this?",
            "photo": [
                {
                    "file_id": "a",
                    "file_unique_id": "1",
                    "width": 90,
                    "height": 67,
                    "file_size": 1200,
                },
                {
                    "file_id": "b",
                    "file_unique_id": "2",
                    "width": 1280,
                    "height": 960,
                    "file_size": 98000,
                },
                {
                    "file_id": "c",
                    "file_unique_id": "3",
                    "width": 320,
                    "height": 240,
                    "file_size": 14000,
                },
            ],
        },
    }
    message = parse_update(photo, BOT)
    assert message is not None and message.text == "this?"
    assert [(a.kind, a.ref, a.size) for a in message.attachments] == [("image", "b", 98000)]
    document = {
        "update_id": 5,
        "message": {
            **PRIVATE_TEXT["message"],
            "text": None,
            "document": {
                "file_id": "d",
                "file_unique_id": "4",
                "file_name": "app.log",
                "mime_type": "text/plain",
                "file_size": 2048,
            },
        },
    }
    message = parse_update(document, BOT)
    assert message is not None and message.attachments[0].name == "app.log"
    voice = {
        "update_id": 6,
        "message": {
            **PRIVATE_TEXT["message"],
            "text": None,
            "voice": {
                "file_id": "v",
                "file_unique_id": "5",
                "duration": 3,
                "mime_type": "audio/ogg",
                "file_size": 9000,
            },
        },
    }
    message = parse_update(voice, BOT)
    assert message is not None and message.attachments[0].kind == "voice"


def test_callback_query_becomes_an_action():
    message = parse_update(CALLBACK, BOT)
    assert message is not None and message.kind is MessageKind.ACTION
    assert (message.text, message.message_id) == ("ap:17:y", "60")
    assert message.meta == {"callback_id": "4382bfdwdsb323b2d9"}


@pytest.mark.parametrize(
    "update",
    [
        {"update_id": 7, "edited_message": PRIVATE_TEXT["message"]},
        {
            "update_id": 8,
            "channel_post": {
                "message_id": 1,
                "chat": {"id": -100, "type": "channel"},
                "date": 1,
                "text": "news",
            },
        },
        {
            "update_id": 9,
            "message": {
                **PRIVATE_TEXT["message"],
                "from": {"id": 5, "is_bot": True, "first_name": "x"},
            },
        },
        {
            "update_id": 10,
            "message": {**PRIVATE_TEXT["message"], "text": None, "sticker": {"file_id": "s"}},
        },
        {"update_id": 11, "callback_query": {**CALLBACK["callback_query"], "data": None}},
    ],
)
def test_what_is_not_for_us_is_none(update):
    assert parse_update(update, BOT) is None


@pytest.mark.parametrize(
    "update",
    [
        {"message": PRIVATE_TEXT["message"]},
        {"update_id": 12, "message": {"message_id": 1, "chat": "x"}},
        {"update_id": 13, "message": {**PRIVATE_TEXT["message"], "text": "x" * 20000}},
    ],
)
def test_malformed_updates_raise(update):
    with pytest.raises((KeyError, TypeError, ValueError, AttributeError)):
        parse_update(update, BOT)


def test_markdown_to_telegram_html():
    html = markdown_to_html(
        "# Title\n\n**bold** _it_ `x<1>` ~~gone~~ [site](https://e.org/?a=1&b=2) "
        "[evil](javascript:alert(1)) <script>\n\n- one\n- two\n\n> quote\n\n```sh\nls -l <dir>\n```"
    )
    assert check_html(html)[0] is None
    assert (
        "<b>Title</b>" in html
        and "<b>bold</b> <i>it</i> <code>x&lt;1&gt;</code> <s>gone</s>" in html
    )
    assert '<a href="https://e.org/?a=1&amp;b=2">site</a>' in html
    assert "javascript" not in html.split("[evil]")[0] and "&lt;script&gt;" in html
    assert "• one\n• two" in html
    assert "<blockquote>quote</blockquote>" in html
    assert '<pre><code class="language-sh">ls -l &lt;dir&gt;</code></pre>' in html


def test_splitting_keeps_every_part_valid_and_under_the_limit():
    text = "\n\n".join(f"Paragraph {i}: " + "lorem ipsum " * 40 for i in range(20))
    text += "\n\n```\n" + "\n".join("🙂 code line " + str(i) for i in range(600)) + "\n```"
    parts = render_parts(text, "markdown")
    assert len(parts) > 3
    for part in parts:
        assert check_html(part.text)[0] is None
        assert visible_len(part.text) <= 4096 and utf16_len(part.source) <= 4096
    code = [p for p in parts if p.text.startswith("<pre>") or "<pre>" in p.text]
    assert all(p.text.count("<pre>") == p.text.count("</pre>") for p in code)
    assert split_markdown("short") == ["short"]


def test_plain_parts_and_keyboards():
    parts = render_parts("a" * 5000, "plain")
    assert [len(p.text) for p in parts] == [4096, 904] and parts[0].parse_mode is None
    keyboard = inline_keyboard(((Button("Yes", "ap:1:y"), Button("No", "ap:1:n")),))
    assert keyboard == {
        "inline_keyboard": [
            [{"text": "Yes", "callback_data": "ap:1:y"}, {"text": "No", "callback_data": "ap:1:n"}]
        ]
    }
    with pytest.raises(ValueError, match="64 bytes"):
        inline_keyboard(((Button("x", "a" * 65),),))
