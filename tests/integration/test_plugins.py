"""Plugin tools end to end: the example package in tests/plugins is really installed (pip,
offline, into a directory put on the path), enabled by name in config, and used by the fake
model through the kernel: a tool called and audited, a result redacted and capped, a plugin's
exception a tool error, a tool whose permission the sender lacks never offered, an unknown name
refused at start with the installed names."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from assistant.app import assemble
from assistant.core.errors import ConfigError
from assistant.core.health import Health
from assistant.core.redact import Redactor
from tests.conftest import OWNER, USER, until
from tests.fakes.model import Reply

EXAMPLE = Path(__file__).resolve().parents[1] / "plugins" / "assistant-example-tools"


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example package installed as a user installs a plugin, without the network."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--target",
            str(target),
            str(EXAMPLE),
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    return target


@pytest.fixture
def installed(plugin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(plugin_dir))
    monkeypatch.delitem(sys.modules, "assistant_example_tools", raising=False)
    return plugin_dir


def tools(*rules: dict[str, str], max_result: int = 2000) -> dict[str, object]:
    return {"tools": list(rules), "max_result": max_result}


def result(fake_model, n: int) -> str:  # type: ignore[no-untyped-def]
    return fake_model.requests[n]["messages"][-1]["content"]  # type: ignore[no-any-return]


async def test_plugin_tools_run_under_the_policy(installed, make_config, start_harness, fake_model):
    config = make_config(
        plugins=tools(
            {"name": "word_count", "mode": "read"},
            {"name": "server_note", "mode": "read"},
            {"name": "flaky", "mode": "read"},
        )
    )
    h = await start_harness(config)
    fake_model.script.extend(
        [
            Reply(tool_calls=[("word_count", {"text": "a wonderful day"})]),
            Reply(tool_calls=[("server_note", {})]),
            Reply(tool_calls=[("flaky", {})]),
            Reply(text="done"),
        ]
    )
    assert await h.ask("count and read", user=OWNER) == "done"
    offered = {t["function"]["name"]: t["function"] for t in fake_model.requests[0]["tools"]}
    assert set(offered["word_count"]["parameters"]["properties"]) == {"text"}
    assert offered["word_count"]["description"].startswith("Count the words")
    assert result(fake_model, 1) == "3 words; the longest: wonderful"
    note = result(fake_model, 2)
    assert "api_key" in note and "sk-live-0123456789" not in note  # redacted
    assert "characters cut" in note and len(note) < 2100  # [plugins] max_result, not its own
    assert "flaky" in result(fake_model, 3) and "RuntimeError" in result(fake_model, 3)
    audit = await h.services.audit.tail(50)
    calls = [r.data["tool"] for r in audit if r.kind == "plugin.call"]
    assert calls == ["word_count", "server_note", "flaky"]
    assert any(r.kind == "plugin.failed" for r in audit)
    # a user's role lacks exec: server_note is not offered, and asking for it anyway fails
    before = len(fake_model.requests)
    fake_model.script.extend([Reply(tool_calls=[("server_note", {})]), Reply(text="no")])
    assert await h.ask("read the note", user=USER) == "no"
    offered_user = {t["function"]["name"] for t in fake_model.requests[before]["tools"]}
    assert "word_count" in offered_user and "server_note" not in offered_user
    assert "not permitted" in result(fake_model, before + 1)
    assert [r.data["tool"] for r in await h.services.audit.tail(50) if r.kind == "plugin.call"] == [
        "word_count",
        "server_note",
        "flaky",
    ]


async def test_the_config_decides_permission_and_approval(
    installed, make_config, start_harness, fake_model
):
    """``permission`` replaces the plugin's own; ``ask`` (the default) needs an approval:
    nothing runs while the request waits, nor after it is withdrawn."""
    config = make_config(
        plugins=tools({"name": "word_count", "permission": "exec"}, {"name": "server_note"})
    )
    h = await start_harness(config)
    fake_model.script.extend([Reply(text="hi")])
    await h.ask("hello", user=USER)
    offered = {t["function"]["name"] for t in fake_model.requests[0].get("tools", [])}
    assert not offered & {"word_count", "server_note", "flaky"}
    assert "flaky" not in h.services.tools.names  # installed, not named: not loaded
    fake_model.script.extend([Reply(tool_calls=[("word_count", {"text": "x y"})]), Reply("ok")])
    assert (await h.ask("count", user=OWNER)).startswith("⏳ Asking for approval")

    async def requested() -> list[int]:
        audit = await h.services.audit.tail(50)
        return [r.data["id"] for r in audit if r.kind == "approval.requested"]

    await until(requested)  # the card went to the other approver (the console's)
    await h.say(f"/deny {(await requested())[0]}", user=OWNER)  # the requester withdraws it

    async def answered() -> bool:
        return any(m.text == "ok" for m in h.channel.sent)

    await until(answered)
    refused = result(fake_model, 2)
    assert "was withdrawn" in refused and "Nothing was done" in refused
    audit = await h.services.audit.tail(50)
    assert not [r for r in audit if r.kind == "plugin.call"]


async def test_an_unknown_or_broken_plugin_stops_the_start(installed, make_config):
    config = make_config(plugins=tools({"name": "word_cont"}, {"name": "broken"}))
    async with AsyncExitStack() as stack:
        with pytest.raises(ConfigError) as caught:
            await assemble(stack, config, health=Health(), redactor=Redactor())
    unknown, broken = caught.value.problems
    assert "'word_cont'" in unknown and "assistant.tools" in unknown
    assert "installed: broken, flaky, server_note, word_count" in unknown
    assert "'broken' (assistant_example_tools:Broken) does not keep the Tool contract" in broken
    for wrong in ("Params must be", "call must be an async", "permission 'root'"):
        assert wrong in broken


async def test_plugins_are_imported_only_when_named(installed, make_config, start_harness):
    h = await start_harness(make_config())
    assert "assistant_example_tools" not in sys.modules
    assert not {"word_count", "server_note", "flaky"} & set(h.services.tools.names)


CLASHING = """
from pydantic import BaseModel

from assistant.core.tools import ToolResult


class Nothing(BaseModel):
    pass


class Named:
    description = "A tool that takes a name it may not have."
    permission = "chat"
    Params = Nothing

    async def call(self, params, ctx):
        return ToolResult("x")


class Schema(Named):
    name = "mcp_schema"


class Mcpish(Named):
    name = "tracker__search"


class Clock(Named):
    name = "current_time"
"""


@pytest.fixture
def clashing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package installed as pip installs one (its dist-info with entry points) whose tools
    take names the assistant keeps: the MCP feature's and a built-in's."""
    (tmp_path / "clashing_tools.py").write_text(CLASHING)
    info = tmp_path / "clashing_tools-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: clashing-tools\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[assistant.tools]\n"
        "schema = clashing_tools:Schema\n"
        "mcpish = clashing_tools:Mcpish\n"
        "clock = clashing_tools:Clock\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "clashing_tools", raising=False)
    return tmp_path


async def test_a_plugin_tool_may_not_take_a_kept_name(clashing, make_config):
    """``mcp_schema`` and ``server__tool`` names are the MCP feature's, taken while it runs (a
    plugin there would make it fail later, when it lays out its tools); a built-in's name is
    taken already. All are refused at start, each named, whether MCP is on or not."""
    config = make_config(plugins=tools({"name": "schema"}, {"name": "mcpish"}, {"name": "clock"}))
    async with AsyncExitStack() as stack:
        with pytest.raises(ConfigError) as caught:
            await assemble(stack, config, health=Health(), redactor=Redactor())
    schema, mcpish, clock = caught.value.problems
    assert "'mcp_schema', a name kept for the MCP feature" in schema
    assert "'tracker__search', a name kept for the MCP feature" in mcpish
    assert "'current_time', which another tool already has" in clock
