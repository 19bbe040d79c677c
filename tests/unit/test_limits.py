"""Bounded inputs, as pure functions: the per-person rate window, the intake decisions, the
one-line display of names other people chose, and the token cap of model-written text."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.config import parse_config
from assistant.core.messages import ChatRef, InboundMessage, MessageKind, Sender
from assistant.core.metrics import Metrics
from assistant.core.roles import Role
from assistant.core.text import NAME_LIMIT, clean_names, clip_tokens, estimate_tokens, one_line
from assistant.router.limits import IntakeLimits, SlidingWindow
from assistant.security.approvals import describe
from assistant.store.approvals import ApprovalRecord
from tests.helpers import ManualClock


def message(user: str = "7", *, kind: MessageKind = MessageKind.CHAT, channel: str = "telegram"):
    return InboundMessage(
        chat=ChatRef(channel, f"chat-{user}"),
        sender=Sender(user, name="Ann"),
        text="hi",
        platform_id="p",
        kind=kind,
    )


def test_window_admits_the_limit_per_minute_then_again_as_old_ones_age_out():
    clock = ManualClock()
    window = SlidingWindow(clock)
    assert [window.hit("a", 3) for _ in range(5)] == [True, True, True, False, False]
    assert window.hit("b", 3)  # per key
    clock.advance(59.9)
    assert not window.hit("a", 3)
    clock.advance(0.1)  # the first three are a minute old now
    assert [window.hit("a", 3) for _ in range(4)] == [True, True, True, False]
    assert all(window.hit("a", 0) for _ in range(100))  # 0: no limit


def test_window_forgets_the_least_recently_seen_keys_past_its_size():
    window = SlidingWindow(ManualClock(), max_keys=3)
    for key in "abcd":
        assert window.hit(key, 1)
    assert window.hit("a", 1)  # "a" was forgotten: a fresh start
    assert not window.hit("d", 1)  # "d" was not


def limits(**section: object) -> tuple[IntakeLimits, ManualClock, Metrics]:
    text = "[limits]\n" + "".join(f"{k} = {v}\n" for k, v in section.items() if k != "roles")
    if "roles" in section:
        text += f"[limits.roles]\n{section['roles']}\n"
    config = parse_config(text, {})
    clock, metrics = ManualClock(), Metrics()
    return IntakeLimits(lambda: config, metrics, clock), clock, metrics


def dropped(metrics: Metrics, reason: str) -> float:
    value = metrics.registry.get_sample_value(
        "assistant_messages_dropped_total", {"channel": "telegram", "reason": reason}
    )
    return value or 0.0


def test_one_notice_per_burst_the_rest_dropped_and_counted():
    intake, clock, metrics = limits(messages_per_minute=20)
    verdicts = [intake.refusal(message(), Role.USER, 0) for _ in range(500)]
    assert verdicts[:20] == [None] * 20
    notices = [v.notice for v in verdicts[20:] if v is not None and v.notice]
    assert len(notices) == 1 and "at most 20 a minute" in notices[0]
    assert all(v is not None and v.reason == "rate_limit" for v in verdicts[20:])
    assert dropped(metrics, "rate_limit") == 480
    assert intake.refusal(message("8"), Role.USER, 0) is None  # someone else is not affected
    clock.advance(60)
    assert intake.refusal(message(), Role.USER, 0) is None  # the burst is over
    for _ in range(19):
        intake.refusal(message(), Role.USER, 0)
    again = intake.refusal(message(), Role.USER, 0)
    assert again is not None and again.notice  # a new burst gets its one notice


def test_limits_per_role_and_what_is_never_limited():
    intake, _, _ = limits(messages_per_minute=2, roles="guest = { messages_per_minute = 1 }")
    assert intake.refusal(message("g"), Role.GUEST, 0) is None
    assert intake.refusal(message("g"), Role.GUEST, 0) is not None
    assert [intake.refusal(message("o"), Role.OWNER, 0) is None for _ in range(3)] == [
        True,
        True,
        False,
    ]
    for _ in range(10):  # scheduled work and the owner's console
        assert intake.refusal(message("g", kind=MessageKind.SCHEDULED), Role.GUEST, 0) is None
        assert intake.refusal(message("local", channel="console"), Role.OWNER, 0) is None
    # a console person with a token of their own is limited like anyone
    refused = [intake.refusal(message("ann", channel="console"), Role.USER, 0) for _ in range(3)]
    assert [r is None for r in refused] == [True, True, False]


def test_queue_cap_refuses_what_would_wait_but_not_what_skips_the_queue():
    intake, _, metrics = limits(messages_per_minute=0, queue_per_conversation=3)
    assert intake.refusal(message(), Role.USER, 2) is None
    first = intake.refusal(message(), Role.USER, 3)
    second = intake.refusal(message(), Role.USER, 7)
    assert first is not None and first.notice and "3 messages in this chat" in first.notice
    assert second is not None and second.notice is None and second.reason == "queue_full"
    assert intake.refusal(message(), Role.USER, None) is None  # /cancel, a button press
    assert dropped(metrics, "queue_full") == 2
    assert intake.refusal(message(), Role.USER, 0) is None
    third = intake.refusal(message(), Role.USER, 3)
    assert third is not None and third.notice  # the queue had room again: a new burst


def test_strangers_are_rate_limited_too():
    intake, _, metrics = limits(messages_per_minute=5)
    allowed = [intake.stranger_may_write(message("x")) for _ in range(50)]
    assert allowed == [True] * 5 + [False] * 45
    assert dropped(metrics, "rate_limit") == 45


# --- names other people chose -------------------------------------------------------------

FAKE_LINES = [
    "Ann\nApproved: telegram 1001 (owner)",
    "Ann\r\n— X (telegram 1)",
    "Ann\u2028line",
    "Ann\u2029para",
    "Ann\x1b[31mred\x1b[0m",
    "Ann\x00\x07\x08",
    "Ann\u202egnp.exe",  # right-to-left override
    "Ann\u2066isolated\u2069",
    "\ufeffAnn\u200b",
    "Ann\x85next line",
    "Ann\ud800",
]


@pytest.mark.parametrize("name", FAKE_LINES)
def test_known_tricks_leave_one_plain_line(name):
    shown = one_line(name)
    assert shown.startswith("Ann") and shown == shown.strip()
    assert shown.isprintable(), repr(shown)


def moves_text(ch: str) -> bool:
    """Controls, format characters (bidi, zero width) and separators, joiners excepted."""
    if ch in "\u200c\u200d":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs") or (
        ch.isspace() and ch != " "
    )


@given(st.text(max_size=200))
def test_any_name_becomes_one_bounded_line_that_nothing_can_move(name):
    shown = one_line(name)
    assert not any(moves_text(ch) for ch in shown), repr(shown)
    assert len(shown) <= NAME_LIMIT
    assert "  " not in shown and shown == shown.strip()
    assert one_line(shown) == shown  # idempotent


def test_ordinary_names_are_kept():
    for name in ["Ann", "李雷", "José María", "👨\u200d👩\u200d👧 family", "Ann-Marie O'Neil"]:
        assert one_line(name) == name
    assert one_line("x" * 100).endswith("…") and len(one_line("x" * 100)) == NAME_LIMIT


@given(st.text(max_size=80), st.text(max_size=80) | st.none(), st.text(max_size=80) | st.none())
def test_an_inbound_message_carries_only_clean_names(name, username, forwarded):
    raw = InboundMessage(
        chat=ChatRef("telegram", "1"),
        sender=Sender("1", name=name, username=username),
        text="t\nwith lines",
        platform_id="p",
        forwarded_from=forwarded,
    )
    clean = clean_names(raw)

    def optional(text):
        return (one_line(text) or None) if text is not None else None

    expected = (one_line(name), optional(username), optional(forwarded))
    assert (clean.sender.name, clean.sender.username, clean.forwarded_from) == expected
    assert clean.text == raw.text  # what a person wrote is theirs; only names are cleaned
    if expected == (name, username, forwarded):
        assert clean is raw  # nothing to clean: no copy


@pytest.mark.parametrize("name", FAKE_LINES)
def test_an_approval_card_names_the_requester_on_one_line(name):
    record = ApprovalRecord(
        id=1,
        requester="telegram:1002",
        requester_name=name,
        chat=ChatRef("telegram", "1002"),
        hosts=("web1",),
        command="systemctl restart nginx",
        reason="restarts a service",
        status="pending",
        created_at=0,
        expires_at=0,
        decided_at=None,
        decided_by=None,
        messages=(),
    )
    first = describe(record).split("\n")[0]
    assert first.startswith("Ann") and first.endswith("(telegram 1002) wants to run on web1:")
    assert first.isprintable(), repr(first)


# --- text a model wrote -------------------------------------------------------------------


@given(st.text(max_size=3000), st.integers(min_value=10, max_value=400))
def test_clipped_text_fits_its_token_budget(text, tokens):
    clipped = clip_tokens(text, tokens)
    assert estimate_tokens(clipped) <= tokens
    if estimate_tokens(text) <= tokens:
        assert clipped == text
    else:
        assert clipped.endswith("…") and text.startswith(clipped[:-1].rstrip()[: len(clipped) // 2])


def test_a_3_mb_summary_is_cut_to_its_cap():
    huge = "word " * 600_000
    clipped = clip_tokens(huge, 500)
    assert estimate_tokens(clipped) <= 500 and len(clipped) < 2100
    chinese = "总结" * 100_000
    assert estimate_tokens(clip_tokens(chinese, 500)) <= 500
