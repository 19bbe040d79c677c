"""What `assistant chat` prints for the console's events: streamed at a terminal, whole from
a pipe."""

from __future__ import annotations

import io

from assistant.config import Config
from assistant.features.console.client import Screen, gateway_url

STREAM = [
    {"type": "mine", "message_id": "mine-1", "text": "hi"},
    {"type": "busy"},
    {"type": "message", "message_id": "a", "text": "Hel"},
    {"type": "edit", "message_id": "a", "text": "Hello"},
    {"type": "edit", "message_id": "a", "text": "Hello world."},
    {
        "type": "message",
        "message_id": "b",
        "text": "Run it?",
        "buttons": [[{"label": "Approve", "action": "ap:1"}, {"label": "Deny", "action": "ap:2"}]],
    },
    {"type": "edit", "message_id": "b", "text": "Approved; ran it."},
    {"type": "notice", "message_id": "n", "text": "approved"},
]


def test_a_terminal_sees_replies_grow_and_rewrites_a_changed_one():
    out = io.StringIO()
    screen = Screen(out, stream=True)
    for push in STREAM:
        screen.show(push)
    screen.flush()
    assert out.getvalue() == (
        "\rassistant> Hello world.\n"
        "\rassistant> Run it?\n"
        "  [Approve]  [Deny]\n"
        "\rassistant> Approved; ran it.\n"
        "approved\n"
    )


def test_a_pipe_gets_each_reply_once_in_its_final_form():
    out = io.StringIO()
    screen = Screen(out, stream=False)
    for push in STREAM:
        screen.show(push)
    assert out.getvalue() == "approved\n"  # a notice at once; replies when answered
    screen.flush()
    assert out.getvalue() == "approved\nHello world.\nApproved; ran it.\n"


def test_the_client_reaches_a_wildcard_bind_on_loopback():
    for host, url in [
        ("127.0.0.1", "http://127.0.0.1:18789"),
        ("0.0.0.0", "http://127.0.0.1:18789"),
        ("::1", "http://[::1]:18789"),
    ]:
        assert gateway_url(Config.model_validate({"gateway": {"host": host}})) == url
