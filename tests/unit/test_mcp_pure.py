"""The MCP feature's pure parts: names, rules, parameters and results."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from assistant.config.web import McpSection, McpServer
from assistant.core.roles import Permission
from assistant.features.mcp.tools import local_name, params_for, render
from assistant.tools.registry import _parameters


def test_names_fit_every_model_api():
    assert local_name("git", "log") == "git__log"
    assert local_name("fs", "read.file/v2") == "fs__read_file_v2"
    assert len(local_name("s", "x" * 100)) == 64


def test_the_first_matching_rule_wins_and_the_default_asks_for_exec():
    section = McpSection(
        tools=[
            {"tool": "git__log", "permission": "chat", "mode": "read"},
            {"tool": "git__*", "mode": "deny"},
        ]
    )
    assert section.rule("git__log").mode == "read"
    assert section.rule("git__log").permission is Permission.CHAT
    assert section.rule("git__push").mode == "deny"
    default = section.rule("fs__write")
    assert (default.mode, default.permission) == ("ask", Permission.EXEC)


@pytest.mark.parametrize(
    "server",
    [
        {"name": "a"},
        {"name": "a", "command": "x", "url": "http://h/mcp"},
        {"name": "a", "url": "file:///tmp/s"},
        {"name": "A b", "command": "x"},
    ],
)
def test_a_server_needs_one_transport_and_a_plain_name(server):
    with pytest.raises(ValidationError):
        McpServer(**server)


def test_unique_server_names():
    with pytest.raises(ValidationError, match="unique"):
        McpSection(servers=[{"name": "a", "command": "x"}, {"name": "a", "url": "http://h/"}])


def test_parameters_are_the_servers_schema_and_arguments_pass_through():
    schema = {"type": "object", "properties": {"a": {"type": "integer", "title": "A"}}}
    params = params_for(schema)
    assert _parameters(params.model_json_schema()) == {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
    }
    assert params.model_validate({"a": 1, "b": [2]}).model_extra == {"a": 1, "b": [2]}
    assert params_for({}).model_json_schema() == {"type": "object"}


def test_results_as_text():
    text = SimpleNamespace(type="text", text="hello")
    image = SimpleNamespace(type="image")
    assert render(SimpleNamespace(content=[text, image], is_error=False)) == (
        "hello\n[image content]",
        False,
    )
    assert render(SimpleNamespace(content=[], structured_content={"n": "四"}, is_error=True)) == (
        '{"n": "四"}',
        True,
    )
    assert render(SimpleNamespace(content=[], structured_content=None)) == ("(no output)", False)
