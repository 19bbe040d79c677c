"""Who may silence what, how an acknowledged alert is shown and how /alerts lists titles (as text): a pattern that names no host or key (``*``, ``?*``, ``*:cpu``) holds
back alerts nobody named, the assistant's own trouble included, so only an owner may set it."""

from __future__ import annotations

from fnmatch import fnmatchcase

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.core.commands import CommandCall
from assistant.core.messages import ChatRef, InboundMessage, MessageKind, Sender
from assistant.core.roles import DEFAULT_PERMISSIONS, Role
from assistant.features.alerts.commands import AlertCommands, named
from assistant.features.alerts.state import Silence, Status
from assistant.router.actions import ActionRegistry
from assistant.security.policy import Policy
from tests.unit.test_pairing_names import FIXED, NAMES, assert_plain

# keys and hosts that share no first characters: a pattern matching all of them names nothing
PROBES = [f"{c}{c}probe:{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789"] + [
    "self:channel:telegram",
    "monitor:web1:cpu",
    "Web1",
]


@given(st.text(st.sampled_from("*?[]!:.-/_aeb1w"), min_size=1, max_size=12))
def test_a_pattern_that_matches_everything_is_never_named(pattern):
    if all(fnmatchcase(probe, pattern) for probe in PROBES):
        assert not named(pattern)


class Service:
    def __init__(self) -> None:
        self.made: list[str] = []

    async def silence(self, pattern: str, seconds: float, by: str) -> Silence:
        self.made.append(pattern)
        return Silence(len(self.made), pattern, 1.8e9 + seconds, by, 1.8e9)


def call(args: str, role: Role) -> CommandCall:
    message = InboundMessage(
        chat=ChatRef("telegram", "5"), sender=Sender("5"), text=f"/silence {args}", platform_id="1"
    )
    return CommandCall(message, role, DEFAULT_PERMISSIONS[role], args)


@pytest.mark.parametrize(
    ("pattern", "admin_may"),
    [("*", False), ("?*", False), ("*:cpu", False), ("[a-z]*", False), ("w*", False),
     ("web*", True), ("self:*", True), ("monitor:db1:*", True), ("web1", True)],
)  # fmt: skip
async def test_only_an_owner_silences_what_nobody_named(pattern, admin_may):
    service = Service()
    commands = AlertCommands(service, lambda: "UTC")  # type: ignore[arg-type]
    answer = await commands.silence(call(f"{pattern} 2h", Role.ADMIN))
    assert (service.made == [pattern]) is admin_may, answer
    if not admin_may:
        assert "Only an owner" in answer
    answer = await commands.silence(call(f"{pattern} 2h", Role.OWNER))
    assert service.made[-1] == pattern and answer.startswith("Silence #")


class Channel:
    """Records how the router edits the message that carried a button."""

    def __init__(self) -> None:
        self.edits: list[tuple[str, str]] = []

    async def answer_action(self, message: InboundMessage, text: str, *, alert: bool) -> None:
        return None

    async def edit(self, sent: object, text: str, *, format: str = "markdown", **_: object):  # type: ignore[no-untyped-def]
        self.edits.append((text, format))
        return []


class Acknowledging:
    async def acknowledge(self, alert_id: int, by: str, name: str):  # type: ignore[no-untyped-def]
        from dataclasses import replace

        from tests.unit.test_alerts_pure import row

        acked = replace(row(id=alert_id), status=Status.ACKNOWLEDGED, acked_by=name)
        return "acknowledged", acked


async def test_the_acknowledged_alert_is_edited_as_plain_text_like_it_was_sent():
    """Its title and detail are what a host or a command said: pressing Acknowledge must not
    turn ``[x](https://…)`` or ``**`` in them into a link or bold text."""
    registry = ActionRegistry()
    commands = AlertCommands(Acknowledging(), lambda: "UTC")  # type: ignore[arg-type]
    for action in commands.actions():
        registry.register(action.prefix, action.permission, action.handler)
    channel = Channel()
    press = InboundMessage(
        chat=ChatRef("telegram", "5"),
        sender=Sender("5", name="Ann"),
        text="alert:ack:7",
        platform_id="press-1",
        message_id="m1",
        kind=MessageKind.ACTION,
    )
    await registry.press(press, Role.OWNER, Policy(), channel)  # type: ignore[arg-type]
    ((text, shown),) = channel.edits
    assert "Acknowledged by Ann" in text and shown == "plain"


TRICKS = [*FIXED, "ok ```\n[x](https://evil.example)\n```"]


class Firing:
    """Alerts whose title, host and acknowledger came from outside (a host's output, an HTTP
    body, a display name)."""

    def __init__(self, text: str) -> None:
        self.text = text

    async def open(self):  # type: ignore[no-untyped-def]
        from dataclasses import replace

        from tests.unit.test_alerts_pure import row

        firing = row(id=1, title=self.text, host=self.text or None)
        acked = replace(row(id=2, title=self.text), status=Status.ACKNOWLEDGED, acked_by=self.text)
        return [firing, acked]


async def listed_html(text: str) -> str:
    from assistant.channels.telegram.render import markdown_to_html

    commands = AlertCommands(Firing(text), lambda: "UTC")  # type: ignore[arg-type]
    listed = await commands.alerts(call("", Role.OWNER))
    assert len(listed.splitlines()) == 3  # the heading and one line per alert
    return markdown_to_html(listed)


@pytest.mark.parametrize("text", TRICKS)
async def test_alert_titles_are_listed_as_text(text):
    html = await listed_html(text)
    assert_plain(html)
    if "evil.example" in text:
        assert "evil.example" in html  # shown, as the text it is


@settings(max_examples=60, deadline=None)
@given(NAMES)
async def test_any_alert_title_is_listed_as_text(text):
    assert_plain(await listed_html(text))
