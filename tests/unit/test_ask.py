"""Asking a second person for one call of an ``ask`` tool (MCP, plugins): the approver sees the
whole call they approve, or nobody is asked and nothing runs."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.core.messages import ChatRef, Sender
from assistant.core.roles import DEFAULT_PERMISSIONS, Role
from assistant.core.tools import ToolContext
from assistant.tools.ask import ask_for_call


@dataclass
class Outcome:
    id: int = 1
    status: str = "approved"
    decided_by: str | None = "telegram:2"
    approved: bool = True


class Approver:
    """Approves everything, and keeps what each approver was shown."""

    def __init__(self) -> None:
        self.shown: list[str] = []

    async def request(self, *, command: str, **_: object) -> Outcome:
        self.shown.append(command)
        return Outcome()


class Audit:
    def __init__(self) -> None:
        self.records: list[tuple[str, dict[str, object]]] = []

    async def append(self, kind: str, actor: str, **data: object) -> int:
        self.records.append((kind, data))
        return len(self.records)


def context(marks: list[str]) -> ToolContext:
    async def mark(what: str) -> None:
        marks.append(what)

    return ToolContext(
        turn_id="t1",
        chat=ChatRef("telegram", "1"),
        sender=Sender("1"),
        role=Role.USER,
        permissions=DEFAULT_PERMISSIONS[Role.USER],
        timezone=ZoneInfo("UTC"),
        mark_side_effect=mark,
    )


# JSON arguments as a model writes them: short ones, and long ones with something in the middle
arguments = st.builds(
    lambda head, middle, tail: f'{{"path": "{head}", "content": "{middle}{tail}"}}',
    st.text(max_size=50),
    st.sampled_from(["", "rm -rf / #", "x" * 700, "y" * 5000]),
    st.text(max_size=50),
)


@settings(max_examples=25, deadline=None)
@given(arguments)
async def test_an_approver_sees_all_of_the_call_or_nothing_runs(shown_arguments):
    approver, marks = Approver(), []
    refusal = await ask_for_call(
        approver,
        Audit(),
        context(marks),
        tool="fs__write_file",
        arguments=shown_arguments,
        target="mcp:fs",
        reason="ask",
    )
    if refusal is None:  # approved: the approver was shown every character of the call
        assert len(approver.shown) == 1
        assert shown_arguments in approver.shown[0]
        assert marks == ["fs__write_file"]
    else:  # too long to show: nobody asked, nothing marked as done
        assert approver.shown == []
        assert marks == []
        assert "Nothing was done" in refusal
