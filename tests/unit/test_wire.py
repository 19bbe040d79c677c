"""Wire formats: our types ↔ provider JSON, from the providers' documented shapes."""

from __future__ import annotations

import json

import pytest

from assistant.config import parse_config
from assistant.core.errors import ModelUnavailable
from assistant.llm import wire_anthropic, wire_openai
from assistant.llm.types import ChatMessage, ModelRequest, ToolCall, ToolSpec

PROVIDER = parse_config(
    "[[models]]\nname='a'\nbase_url='https://api.example.com/v1/'\nmodel='m'\n"
    "temperature=1.5\nmax_tokens=99\napi_key='k-123456'\nheaders={X-Org='acme'}\n",
    {},
).models[0]

CONVERSATION = (
    ChatMessage("system", "be brief"),
    ChatMessage("user", "disk on web1?"),
    ChatMessage("assistant", "", tool_calls=(ToolCall("call_1", "run", '{"host": "web1"}'),)),
    ChatMessage("tool", "12% used", tool_call_id="call_1", name="run"),
    ChatMessage("assistant", "12% of the disk is used."),
)
TOOLS = (
    ToolSpec("run", "Run it.", {"type": "object", "properties": {"host": {"type": "string"}}}),
)


def test_openai_request_shape():
    body = wire_openai.build_body(PROVIDER, ModelRequest(CONVERSATION, TOOLS), stream=True)
    assert wire_openai.endpoint(PROVIDER) == "https://api.example.com/v1/chat/completions"
    assert body["max_tokens"] == 99 and body["temperature"] == 1.5
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"][2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "run", "arguments": '{"host": "web1"}'},
            }
        ],
    }
    assert body["messages"][3] == {"role": "tool", "tool_call_id": "call_1", "content": "12% used"}
    assert body["tools"][0]["type"] == "function"
    headers = wire_openai.headers(PROVIDER)
    assert headers["Authorization"] == "Bearer k-123456" and headers["X-Org"] == "acme"


def test_anthropic_request_shape():
    body = wire_anthropic.build_body(PROVIDER, ModelRequest(CONVERSATION, TOOLS), stream=False)
    assert body["system"] == "be brief"
    assert body["temperature"] == 1.0  # clamped to the API's range
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user", "assistant"]
    assert body["messages"][1]["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "run", "input": {"host": "web1"}}
    ]
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "12% used"}
    ]
    assert body["tools"][0]["input_schema"]["properties"]["host"] == {"type": "string"}


def test_openai_response_parsing_and_malformed_bodies():
    reply = wire_openai.parse_body(
        {
            "model": "m-2024",
            "choices": [
                {"message": {"content": [{"type": "text", "text": "hi"}]}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2},
        },
        provider="a",
    )
    assert (reply.text, reply.usage.total, reply.model) == ("hi", 7, "m-2024")
    for bad in ({}, {"choices": []}, {"choices": [{"message": None}]}, []):
        with pytest.raises(ModelUnavailable, match="malformed"):
            wire_openai.parse_body(bad, provider="a")


def test_openai_stream_with_tool_call_fragments_and_usage():
    parser = wire_openai.StreamParser("a")
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Chec"}}]},
        {"choices": [{"index": 0, "delta": {"content": "king"}}]},
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "c1",
                                "function": {"name": "run", "arguments": '{"ho'},
                            }
                        ]
                    },
                }
            ]
        },
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": 'st": 1}'}}]},
                }
            ]
        },
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}},
    ]
    added = [parser.feed(json.dumps(c)) for c in chunks]
    assert added == [True, True, False, False, False, False]
    parser.feed("[DONE]")
    reply = parser.result()
    assert reply.text == "Checking"
    assert reply.tool_calls == (ToolCall("c1", "run", '{"host": 1}'),)
    assert reply.usage.total == 13


def test_a_cut_stream_is_an_error_not_a_short_answer():
    parser = wire_openai.StreamParser("a")
    parser.feed(json.dumps({"choices": [{"index": 0, "delta": {"content": "half"}}]}))
    with pytest.raises(ModelUnavailable, match="ended before"):
        parser.result()
    anthropic = wire_anthropic.StreamParser("b")
    anthropic.feed(json.dumps({"type": "message_start", "message": {"usage": {"input_tokens": 3}}}))
    with pytest.raises(ModelUnavailable, match="ended before"):
        anthropic.result()


def test_stream_error_events_are_errors():
    with pytest.raises(ModelUnavailable, match="overloaded"):
        wire_anthropic.StreamParser("b").feed(
            json.dumps(
                {"type": "error", "error": {"type": "overloaded_error", "message": "overloaded"}}
            )
        )
    with pytest.raises(ModelUnavailable, match="malformed"):
        wire_openai.StreamParser("a").feed("{not json")
