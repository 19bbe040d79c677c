"""The tool registry turns every failure into an error the model can read."""

from __future__ import annotations

import asyncio
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel, Field

from assistant.core.messages import ChatRef, Sender
from assistant.core.metrics import Metrics
from assistant.core.roles import DEFAULT_PERMISSIONS, Permission, Role
from assistant.core.tools import ToolContext, ToolResult
from assistant.tools.registry import ToolRegistry, truncate_middle
from assistant.tools.system import CurrentTimeTool, SystemStatusTool


class EchoParams(BaseModel):
    text: str = Field(description="what to echo")
    times: int = Field(1, ge=1, le=3)


class EchoTool:
    name = "echo"
    description = "Echo text."
    permission = Permission.CHAT
    side_effects = True
    Params = EchoParams

    async def call(self, params: EchoParams, ctx: ToolContext) -> ToolResult:
        if params.text == "crash":
            raise RuntimeError("boom")
        if params.text == "hang":
            await asyncio.sleep(10)
        return ToolResult(" ".join([params.text] * params.times))


def context(role=Role.GUEST, marks=None):
    async def mark(what: str) -> None:
        if marks is not None:
            marks.append(what)

    return ToolContext(
        turn_id="t1",
        chat=ChatRef("telegram", "1"),
        sender=Sender("1"),
        role=role,
        permissions=DEFAULT_PERMISSIONS[role],
        timezone=ZoneInfo("UTC"),
        mark_side_effect=mark,
    )


@pytest.fixture
def registry():
    r = ToolRegistry(metrics=Metrics(), timeout=0.2, max_output=120)
    r.register(EchoTool())
    r.register(CurrentTimeTool())
    r.register(SystemStatusTool())
    return r


def test_schemas_are_compact_and_filtered_by_permission(registry):
    specs = registry.specs(DEFAULT_PERMISSIONS[Role.GUEST])
    assert [s.name for s in specs] == ["echo", "current_time"]
    assert "title" not in str(specs[0].parameters)
    assert specs[0].parameters["properties"]["text"] == {
        "description": "what to echo",
        "type": "string",
    }
    assert [s.name for s in registry.specs(DEFAULT_PERMISSIONS[Role.OWNER])][-1] == "system_status"
    with pytest.raises(ValueError, match="twice"):
        registry.register(EchoTool())


@pytest.mark.parametrize(
    ("name", "arguments", "expected"),
    [
        ("echo", '{"text": "hi", "times": 2}', "hi hi"),
        ("nope", "{}", "There is no tool named 'nope'. Available: echo, current_time."),
        ("echo", "{text", "The arguments for 'echo' are not valid JSON."),
        (
            "echo",
            '{"times": 9}',
            "Invalid arguments for 'echo': text: Field required; times: Input should be less than or equal to 3",
        ),
        ("system_status", "{}", "The tool 'system_status' is not permitted for the role 'guest'."),
        (
            "echo",
            '{"text": "crash"}',
            "The tool 'echo' failed unexpectedly (turn t1); the error is logged.",
        ),
        ("echo", '{"text": "hang"}', "The tool 'echo' did not finish within 0s."),
    ],
)
async def test_invoke_outcomes(registry, name, arguments, expected):
    result = await registry.invoke(name, arguments, context())
    assert result.content == expected
    assert result.is_error is (expected != "hi hi")


async def test_side_effects_are_marked_before_the_call(registry):
    marks: list[str] = []
    await registry.invoke("echo", '{"text": "x"}', context(marks=marks))
    await registry.invoke("current_time", "{}", context(marks=marks))
    assert marks == ["echo"]


async def test_long_output_keeps_head_and_tail(registry):
    result = await registry.invoke("echo", '{"text": "' + "a" * 150 + "b" * 150 + '"}', context())
    assert result.content.startswith("aaaa") and result.content.endswith("bbbb")
    assert "characters cut" in result.content
    assert truncate_middle("short", 10) == "short"


async def test_current_time_in_a_given_zone(registry):
    result = await registry.invoke("current_time", '{"timezone": "Asia/Shanghai"}', context())
    assert "Asia/Shanghai (UTC+0800)" in result.content
