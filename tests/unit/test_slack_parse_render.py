"""Slack's pure parts: request signatures, events and interactions → InboundMessage, our
replies → chat.postMessage arguments; fuzzed."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.channels.slack.parse import BotIdentity, parse_action, parse_event, plain_text
from assistant.channels.slack.render import TEXT_LIMIT, mrkdwn, render_message
from assistant.channels.slack.webhook import signature, verified
from assistant.core.messages import Button, MessageKind
from tests.fakes.slack import BOT_USER, FakeSlack, Posted

BOT = BotIdentity(BOT_USER, "T1")
FAKE = FakeSlack()


def _never(channel: str, thread: str) -> bool:
    return False


def test_signature_window_and_constant_time_compare() -> None:
    body = b'{"type":"event_callback"}'
    good = {"X-Slack-Request-Timestamp": "1000", "X-Slack-Signature": signature(body, "1000", "s")}
    assert verified(body, good, "s", now=1100, window=300)
    assert not verified(body, good, "s", now=1400, window=300)  # replayed too late
    assert not verified(body + b" ", good, "s", now=1100, window=300)
    assert not verified(body, good, "other", now=1100, window=300)
    assert not verified(body, {**good, "X-Slack-Request-Timestamp": "x"}, "s", now=1, window=300)
    assert not verified(body, {"X-Slack-Request-Timestamp": "1000"}, "s", now=1000, window=300)


def test_events() -> None:
    dm = parse_event(FAKE.event(FAKE.message("D1", "U1", "hi &amp; <@U2>")), BOT, _never)
    assert dm is not None and dm.text == "hi & @U2" and not dm.chat.is_group
    assert dm.addressed and dm.chat.thread_id is None
    quiet = parse_event(FAKE.event(FAKE.message("C1", "U1", "chatter")), BOT, _never)
    assert quiet is not None and not quiet.addressed
    asked = FAKE.message("C1", "U1", f"<@{BOT_USER}> disk? <https://x.org|docs> <!channel>")
    found = parse_event(FAKE.event(asked), BOT, _never)
    assert found is not None and found.addressed and found.text == "disk? docs @channel"
    assert found.chat.thread_id == asked["ts"] and found.platform_id == f"C1:{asked['ts']}"
    threaded = FAKE.message("C1", "U1", "more", thread_ts="5.5")
    assert parse_event(FAKE.event(threaded), BOT, lambda c, t: (c, t) == ("C1", "5.5")).addressed
    ours = FAKE.message("C1", BOT_USER, "me")
    bot = {**FAKE.message("C1", "U1", "a bot"), "bot_id": "B1"}
    edited = {**FAKE.message("C1", "U1", "x"), "subtype": "message_changed"}
    for event in (ours, bot, edited, {"type": "reaction_added", "user": "U1"}):
        assert parse_event(FAKE.event(event), BOT, _never) is None


def test_block_actions() -> None:
    posted = Posted("C1", "9.9", "Run?", [], thread_ts="8.8")
    posted.blocks = render_message("Run?", "plain", ((Button("Yes", "ap:1:y"),),))[0]["blocks"]
    press = parse_action(FAKE.block_actions("U1", posted, 0), BOT)
    assert press is not None and press.kind is MessageKind.ACTION and press.text == "ap:1:y"
    assert press.message_id == "9.9" and press.chat.thread_id == "8.8" and press.chat.is_group


def test_mrkdwn_escapes_and_converts() -> None:
    assert mrkdwn("# T\n**b** ~~s~~ [d](https://x.org/a) <!here> & `<code>`") == (
        "*T*\n*b* ~s~ <https://x.org/a|d> &lt;!here&gt; &amp; `&lt;code&gt;`"
    )
    assert plain_text(f"<@{BOT_USER}> <#C1|general>", BOT) == "#general"


_buttons = st.lists(
    st.tuples(st.text(min_size=1, max_size=90), st.text(min_size=1, max_size=60)),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=7000), buttons=_buttons, plain=st.booleans())
def test_every_payload_fits_slack(text: str, buttons: list[tuple[str, str]], plain: bool) -> None:
    rows = (tuple(Button(label, action) for label, action in buttons),) if buttons else ()
    payloads = render_message(text, "plain" if plain else "markdown", rows)
    values: list[str] = []
    for payload in payloads:
        assert payload["text"].strip() and len(payload["text"]) <= TEXT_LIMIT
        assert "<!" not in payload["text"]  # nobody is pinged
        for block in payload.get("blocks", []):
            if block["type"] == "actions":
                assert len(block["elements"]) <= 25
                assert len({e["action_id"] for e in block["elements"]}) == len(block["elements"])
                assert all(len(e["text"]["text"]) <= 75 for e in block["elements"])
                values += [e["value"] for e in block["elements"]]
    assert values == [action for _, action in buttons]


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=12,
)
_event = st.fixed_dictionaries(
    {"type": st.sampled_from(["message", "app_mention"]) | _json},
    optional={
        "channel": st.sampled_from(["C1", "D1"]) | _json,
        "user": st.just("U1") | _json,
        "text": st.text(max_size=50) | _json,
        "ts": st.just("1.1") | _json,
        "thread_ts": _json,
        "channel_type": st.sampled_from(["im", "channel"]) | _json,
        "subtype": _json,
        "files": _json,
        "bot_id": _json,
    },
)


@settings(max_examples=300, deadline=None)
@given(event=_event, action=_json)
def test_parsers_return_a_message_or_none_or_raise_a_plain_error(event: Any, action: Any) -> None:
    for parse in (
        lambda: parse_event({"event": event, "event_id": "Ev1"}, BOT, _never),
        lambda: parse_action(
            {
                "type": "block_actions",
                "actions": [action],
                "user": {"id": "U1"},
                "channel": {"id": "C1"},
            },
            BOT,
        ),
    ):
        try:
            found = parse()
        except (ValueError, KeyError, TypeError, AttributeError):
            continue  # the adapter dead-letters it
        if found is not None:
            assert isinstance(found.text, str) and found.platform_id and found.chat.chat_id


def test_remote_files_are_not_taken_as_files_people_shared() -> None:
    """A remote file's url_private is its external_url, on any host: never fetched with our
    token (Slack: "Don't send Slack tokens or cookies to it")."""
    remote = {
        "id": "F2",
        "name": "report",
        "mimetype": "application/vnd.slack-remote",
        "mode": "external",
        "is_external": True,
        "external_type": "app",
        "url_private": "https://attacker.example/collect",
    }
    hosted = {
        "id": "F1",
        "name": "a.txt",
        "url_private": "https://files.slack.com/files-pri/T1-F1/a.txt",
    }
    event = FAKE.message("D1", "U1", "see", files=[remote, hosted])
    found = parse_event(FAKE.event(event), BOT, _never)
    assert found is not None
    assert [a.ref for a in found.attachments] == [hosted["url_private"]]


async def test_the_token_goes_only_to_slacks_own_file_hosts() -> None:
    """Whatever a file's URL says, the bot token is sent only to files.slack.com (https) or
    to the API's own origin; elsewhere nothing is requested."""
    import aiohttp
    from aiohttp import web

    from assistant.channels.slack.api import SlackAPI
    from assistant.core.errors import ChannelError
    from assistant.core.redact import Redactor

    seen: list[str | None] = []

    async def collect(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.Response(body=b"data")

    app = web.Application()
    app.router.add_get("/{tail:.*}", collect)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as session:
            own = SlackAPI(
                session,
                base_url=f"http://127.0.0.1:{port}/api/",
                token="xoxb-1-secret",
                redactor=Redactor(),
            )
            assert await own.download(f"http://127.0.0.1:{port}/files/a.txt", 100) == b"data"
            assert seen == ["Bearer xoxb-1-secret"]
            other = SlackAPI(
                session,
                base_url="https://slack.com/api/",
                token="xoxb-1-secret",
                redactor=Redactor(),
            )
            for url in (
                f"http://127.0.0.1:{port}/files-pri/T1-F1/a.txt",
                "http://files.slack.com/files-pri/T1-F1/a.txt",  # not https: readable on the way
                f"https://files.slack.com@127.0.0.1:{port}/x",  # the host is after the @
            ):
                with pytest.raises(ChannelError):
                    await other.download(url, 100)
            assert seen == ["Bearer xoxb-1-secret"]
    finally:
        await runner.cleanup()
