"""Pure parts of memory: collection names, the recall block, the import format."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest

from assistant.features.memory.cli import MemoryImportError, export_line, parse_import
from assistant.memory.service import RECALL_HEADER, format_recall
from assistant.memory.store import MemoryRecord, collection_name


def record(text: str, rid: str = "0a1b2c3d", **kw) -> MemoryRecord:
    base = dict(
        id=rid,
        namespace="user:telegram:1",
        text=text,
        owner="1",
        channel="telegram",
        chat="",
        created=1_790_000_000.0,
        source="remember",
    )
    return MemoryRecord(**{**base, **kw})


def test_chroma_collection_names_are_safe_and_distinct():
    namespaces = [
        "user:telegram:123456789",
        "user_telegram_123456789",  # sanitizes to the same slug as the one above
        "group:telegram:-1001234567890",
        "user:feishu:ou_7d8a6e6df7621556ce0d21922b676706ccs",
        "shared",
        "user:console:x" + "y" * 600,
    ]
    names = [collection_name(n) for n in namespaces]
    assert len(set(names)) == len(names)
    for name in names:
        assert 3 <= len(name) <= 512
        assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9._-]*[a-zA-Z0-9]", name)
        assert ".." not in name


def test_recall_block_is_compact_and_within_budget():
    records = [record(f"fact number {n} " * 3, rid=f"{n:08x}") for n in range(10)]
    block = format_recall(records, 60, ZoneInfo("UTC"))
    assert block is not None
    lines = block.splitlines()
    assert lines[0] == RECALL_HEADER
    assert lines[1] == "- [00000000] fact number 0 fact number 0 fact number 0 (2026-09-21)"
    assert 2 <= len(lines) < 11  # cut by the budget, best first
    assert format_recall([], 400, ZoneInfo("UTC")) is None
    assert format_recall(records, 5, ZoneInfo("UTC")) is None  # not even one fits


def test_export_lines_import_back():
    original = record("我的服务器 web1 在上海机房", chat="", source="summary")
    [back] = parse_import([export_line(original)], now=0.0)
    assert back == original


def test_import_fills_in_what_a_hand_written_line_leaves_out():
    [user, group] = parse_import(
        [
            '{"namespace": "user:telegram:42", "text": "likes tea"}',
            "",
            '{"namespace": "group:feishu:oc_1", "text": "deploys on Thursday"}',
        ],
        now=5.0,
    )
    assert (user.owner, user.channel, user.chat, user.created, user.source) == (
        "42",
        "telegram",
        "",
        5.0,
        "import",
    )
    assert (group.owner, group.channel, group.chat) == ("", "feishu", "oc_1")
    assert re.fullmatch(r"[0-9a-f]{8}", user.id)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("not json", "line 1: not a memory record"),
        ('{"namespace": "shared", "text": " "}', "empty"),
    ],
)
def test_import_names_the_bad_line(line, problem):
    with pytest.raises(MemoryImportError, match=problem):
        parse_import([line], now=0.0)
