"""ModelClient against the fake server: both wire formats, streaming, fallback, deadlines."""

from __future__ import annotations

import time

import aiohttp
import pytest

from assistant.config import parse_config
from assistant.core.errors import ModelRequestError, ModelUnavailable, NoModelConfigured
from assistant.core.metrics import Metrics
from assistant.core.redact import Redactor
from assistant.llm.client import ModelClient
from assistant.llm.types import ChatMessage, ImagePart, ModelRequest, ToolSpec
from tests.fakes.model import CutStream, Fail, FakeModel, Hang, Malformed, Reply

TOOL = ToolSpec("lookup", "Look something up.", {"type": "object", "properties": {}})


def providers(fake: FakeModel, *specs: str, timeout: float = 2):
    """specs like "a:openai", "b:anthropic"."""
    lines = []
    for spec in specs:
        name, api = spec.split(":")
        lines.append(
            f'[[models]]\nname = "{name}"\napi = "{api}"\nbase_url = "{fake.base_url}"\n'
            f'api_key = "key-{name}-0123456789"\nmodel = "model-{name}"\ntimeout = {timeout}\n'
        )
    return parse_config("\n".join(lines), {}).models


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


def client(session, models, metrics=None):
    return ModelClient(
        session,
        models,
        metrics=metrics or Metrics(),
        redactor=Redactor(),
        backoff_base=0.01,
        backoff_cap=0.05,
    )


def ask(text="hi", tools=()):
    return ModelRequest((ChatMessage("system", "sys"), ChatMessage("user", text)), tuple(tools))


@pytest.mark.parametrize("api", ["openai", "anthropic"])
@pytest.mark.parametrize("stream", [False, True])
async def test_text_and_tool_calls_round_trip(session, fake_model, api, stream):
    c = client(session, providers(fake_model, f"a:{api}"))
    fake_model.script.append(
        Reply(
            text="Let me check.", tool_calls=[("lookup", {"q": "disk", "n": 2})], prompt_tokens=30
        )
    )
    seen: list[str] = []
    reply = await c.complete(ask(tools=[TOOL]), on_text=seen.append if stream else None)
    assert reply.text == "Let me check."
    assert [(t.name, t.arguments.replace(" ", "")) for t in reply.tool_calls] == [
        ("lookup", '{"q":"disk","n":2}')
    ]
    assert reply.usage.prompt_tokens == 30 and reply.usage.completion_tokens == 7
    assert reply.provider == "a"
    body = fake_model.requests[0]
    assert bool(body.get("stream")) is stream
    if stream:
        assert seen[-1] == "Let me check." and len(seen) > 1
    headers = fake_model.headers[0]
    if api == "openai":
        assert headers["Authorization"] == "Bearer key-a-0123456789"
        assert body["tools"][0]["function"]["name"] == "lookup"
    else:
        assert headers["x-api-key"] == "key-a-0123456789"
        assert headers["anthropic-version"] == "2023-06-01"
        assert body["system"] == "sys" and body["tools"][0]["input_schema"]["type"] == "object"


@pytest.mark.parametrize(
    "failure",
    [
        Fail(500, "boom"),
        Fail(503, "overloaded"),
        Fail(429, "slow down", retry_after=0),
        Hang(30),
        Malformed(),
        CutStream(),
    ],
    ids=["500", "503", "429", "timeout", "malformed", "cut-stream"],
)
async def test_falls_back_to_the_next_model(session, fake_model, failure):
    models = providers(fake_model, "a:openai", "b:anthropic", timeout=0.5)
    metrics = Metrics()
    c = client(session, models, metrics)
    fake_model.script.extend([failure, Reply(text="from b")])
    reply = await c.complete(ask(), on_text=lambda _: None)
    assert (reply.text, reply.provider) == ("from b", "b")
    assert [r["model"] for r in fake_model.requests] == ["model-a", "model-b"]
    total = sum(
        s.value
        for m in metrics.registry.collect()
        if m.name == "assistant_model_errors"
        for s in m.samples
        if s.name.endswith("_total") and s.labels["provider"] == "a"
    )
    assert total == 1


async def test_client_error_is_not_retried(session, fake_model):
    c = client(session, providers(fake_model, "a:openai", "b:openai"))
    fake_model.script.append(Fail(401, "invalid api key sk-leakedleakedleaked12"))
    with pytest.raises(ModelRequestError) as info:
        await c.complete(ask())
    assert info.value.status == 401
    assert "HTTP 401" in str(info.value) and "sk-leaked" not in str(info.value)
    assert len(fake_model.requests) == 1


async def test_single_model_retries_after_retry_after(session, fake_model):
    c = client(session, providers(fake_model, "a:openai"))
    fake_model.script.extend([Fail(429, "wait", retry_after=0.3), Reply(text="ok")])
    started = time.monotonic()
    assert (await c.complete(ask())).text == "ok"
    assert time.monotonic() - started >= 0.3


async def test_deadline_bounds_the_whole_request(session, fake_model):
    c = client(session, providers(fake_model, "a:openai", "b:openai", timeout=10))
    fake_model.responder = lambda body: Hang(30)
    started = time.monotonic()
    with pytest.raises(ModelUnavailable, match="no model answered"):
        await c.complete(ask(), deadline=time.monotonic() + 0.6)
    assert time.monotonic() - started < 1.5


async def test_explicit_fallback_list_and_chosen_model(session, fake_model):
    models = parse_config(
        "\n".join(
            f'[[models]]\nname = "{n}"\nbase_url = "{fake_model.base_url}"\nmodel = "model-{n}"\n'
            + (f"fallback = {fb}\n" if fb else "")
            for n, fb in (("a", '["c"]'), ("b", None), ("c", "[]"))
        ),
        {},
    ).models
    c = client(session, models)
    assert [p.name for p in c.chain(None)] == ["a", "c"]
    assert [p.name for p in c.chain("b")] == ["b", "a", "c"]
    assert [p.name for p in c.chain("c")] == ["c"]
    assert [p.name for p in c.chain("unknown")] == ["a", "c"]


async def test_no_model_configured(session):
    with pytest.raises(NoModelConfigured):
        await client(session, []).complete(ask())


@pytest.mark.parametrize("api", ["openai", "anthropic"])
async def test_images_are_sent_inline(session, fake_model, api):
    c = client(session, providers(fake_model, f"a:{api}"))
    request = ModelRequest(
        (ChatMessage("user", "what is this?", images=(ImagePart(b"\x89PNG", "image/png"),)),)
    )
    await c.complete(request)
    content = fake_model.requests[0]["messages"][0]["content"]
    if api == "openai":
        assert content[1]["image_url"]["url"] == "data:image/png;base64,iVBORw=="
    else:
        assert content[0]["source"] == {
            "type": "base64",
            "media_type": "image/png",
            "data": "iVBORw==",
        }
