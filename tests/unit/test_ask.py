"""Asking a second person for one call of an ``ask`` tool (MCP, plugins): the approver sees the
whole call they approve, or nobody is asked and nothing runs."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest
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


class Denying(Approver):
    async def request(self, *, command: str, **_: object) -> Outcome:
        self.shown.append(command)
        return Outcome(status="denied", approved=False)


# what a write says, without anything credential-shaped (that is masked even to the approver)
bodies = st.text(st.characters(categories=("Lo", "Nd", "Zs")) | st.just("\n"), max_size=200)


@settings(max_examples=25, deadline=None)
@given(body=bodies, mode=st.text(st.characters(codec="ascii", min_codepoint=33), max_size=20))
async def test_an_http_write_is_approved_as_a_whole_request(body, mode):
    """The approver of a POST sees its body and headers, not just its URL (a body is what a
    write does); a header that carries a credential shows its name, never its value."""
    from assistant.config.web import WebSection
    from assistant.features.web.tools import HttpRequestTool, RequestParams

    approver = Denying()
    tool = HttpRequestTool(None, WebSection, lambda: approver, Audit())  # type: ignore[arg-type]
    headers = {"Authorization": "Bearer tok-0123456789abcdef", "X-Mode": mode}
    params = RequestParams(
        method="POST", url="https://api.example/deploy", headers=headers, body=body
    )
    result = await tool.call(params, context([]))
    assert result.is_error and "Nothing was done" in result.content
    (shown,) = approver.shown
    assert "POST https://api.example/deploy" in shown
    assert body in shown and f"X-Mode: {mode}" in shown
    assert "tok-0123456789abcdef" not in shown and "Authorization: " in shown
    approver.shown.clear()
    params = RequestParams(
        method="PUT", url="https://api.example/u", body='{"password": "hunter22"}'
    )
    await tool.call(params, context([]))
    assert "hunter22" not in approver.shown[0] and '"password"' in approver.shown[0]


@pytest.mark.parametrize("header", ["X-HTTP-Method-Override", "x-http-method", "X-Method-Override"])
async def test_a_read_that_asks_to_be_taken_as_a_write_is_a_write(header):
    from assistant.config.web import WebSection
    from assistant.features.web.tools import HttpRequestTool, RequestParams

    approver = Denying()
    tool = HttpRequestTool(None, WebSection, lambda: approver, Audit())  # type: ignore[arg-type]
    params = RequestParams(
        method="GET", url="https://api.example/items/7", headers={header: "DELETE"}
    )
    result = await tool.call(params, context([]))
    assert result.is_error and len(approver.shown) == 1 and f"{header}: DELETE" in approver.shown[0]
