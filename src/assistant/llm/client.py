"""ModelClient: one request to the first provider that answers, within a deadline.

Fallback walks the provider chain (the chosen model, then its ``fallback`` list or every
other model in config order) on timeouts, connection errors, 429, 5xx, malformed replies and
streams cut short, with jittered backoff, twice round at most. Any other 4xx is not retried:
it is raised as ``ModelRequestError`` with the provider's explanation.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

import aiohttp
import structlog

from assistant.config import ModelProvider
from assistant.core.backoff import Backoff
from assistant.core.errors import ModelRequestError, ModelUnavailable, NoModelConfigured
from assistant.core.metrics import Metrics
from assistant.core.redact import Redactor
from assistant.llm import wire_anthropic, wire_openai
from assistant.llm.sse import iter_events
from assistant.llm.types import ModelReply, ModelRequest, TextCallback

log = structlog.get_logger(__name__)

_ROUNDS = 2


class _Parser(Protocol):
    done: bool

    @property
    def text(self) -> str: ...

    def feed(self, data: str) -> bool: ...

    def result(self) -> ModelReply: ...


@dataclass(frozen=True, slots=True)
class _Failure:
    provider: str
    reason: str


def _wire(provider: ModelProvider) -> ModuleType:
    return wire_anthropic if provider.api == "anthropic" else wire_openai


class ModelClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        providers: Sequence[ModelProvider],
        *,
        metrics: Metrics,
        redactor: Redactor,
        backoff_base: float = 0.2,
        backoff_cap: float = 3.0,
    ) -> None:
        self._session = session
        self._metrics = metrics
        self._redactor = redactor
        self._backoff = (backoff_base, backoff_cap)
        self._providers: tuple[ModelProvider, ...] = ()
        self.configure(providers)

    def configure(self, providers: Sequence[ModelProvider]) -> None:
        """Replace the providers (config reload); requests in flight keep their own."""
        self._providers = tuple(providers)
        self._by_name = {p.name: p for p in self._providers}

    @property
    def providers(self) -> tuple[ModelProvider, ...]:
        return self._providers

    def get(self, name: str) -> ModelProvider | None:
        return self._by_name.get(name)

    def chain(self, first: str | None) -> list[ModelProvider]:
        if not self._providers:
            return []
        head = self._by_name.get(first or "") or self._providers[0]
        if head.fallback is not None:
            rest = [self._by_name[n] for n in head.fallback if n in self._by_name]
        else:
            rest = list(self._providers)
        chain = [head]
        chain.extend(p for p in rest if p.name != head.name)
        return chain

    async def complete(
        self,
        request: ModelRequest,
        *,
        model: str | None = None,
        deadline: float | None = None,
        on_text: TextCallback | None = None,
    ) -> ModelReply:
        """Answer ``request``; ``deadline`` is a ``time.monotonic()`` value."""
        chain = self.chain(model)
        if not chain:
            raise NoModelConfigured("no model is configured")
        deadline = deadline if deadline is not None else time.monotonic() + 600
        backoff = Backoff(*self._backoff)
        failures: list[_Failure] = []
        for attempt in range(_ROUNDS * len(chain)):
            provider = chain[attempt % len(chain)]
            remaining = deadline - time.monotonic()
            if remaining <= 0.05:
                break
            try:
                return await self._request(
                    provider, request, min(provider.timeout, remaining), on_text
                )
            except ModelUnavailable as exc:
                failures.append(_Failure(provider.name, str(exc)))
                last = attempt + 1 >= _ROUNDS * len(chain)
                log.warning("model.unavailable", provider=provider.name, error=str(exc), final=last)
                if last:
                    break
                delay = backoff.next_delay()
                if len(chain) == 1 and exc.retry_after:
                    delay = max(delay, exc.retry_after)
                delay = min(delay, deadline - time.monotonic() - 0.05)
                if delay > 0:
                    await asyncio.sleep(delay)
        summary = "; ".join(f"{f.provider}: {f.reason}" for f in failures) or "deadline reached"
        raise ModelUnavailable(f"no model answered ({summary})")

    async def _request(
        self,
        provider: ModelProvider,
        request: ModelRequest,
        timeout: float,
        on_text: TextCallback | None,
    ) -> ModelReply:
        wire = _wire(provider)
        stream = provider.stream and on_text is not None
        body = wire.build_body(provider, request, stream=stream)
        started = time.monotonic()
        kind = "ok"
        try:
            async with asyncio.timeout(timeout):
                async with self._session.post(
                    wire.endpoint(provider), json=body, headers=wire.headers(provider)
                ) as response:
                    if response.status >= 400:
                        await self._raise_for_status(provider, wire, response)
                    if stream:
                        assert on_text is not None
                        reply = await self._read_stream(provider, wire, response, on_text)
                    else:
                        reply = wire.parse_body(
                            await response.json(content_type=None), provider=provider.name
                        )
        except TimeoutError:
            kind = "timeout"
            raise ModelUnavailable(f"no answer within {timeout:.0f}s") from None
        except aiohttp.ClientError as exc:
            kind = "connection"
            raise ModelUnavailable(f"connection failed ({type(exc).__name__})") from None
        except ValueError as exc:  # JSON that does not parse
            kind = "malformed"
            raise ModelUnavailable(f"malformed response ({type(exc).__name__})") from None
        except ModelUnavailable as exc:
            kind = "http_429" if exc.retry_after is not None else "unavailable"
            raise
        except ModelRequestError:
            kind = "http_4xx"
            raise
        finally:
            self._metrics.model_seconds.labels(provider.name).observe(time.monotonic() - started)
            if kind != "ok":
                self._metrics.model_errors.labels(provider.name, kind).inc()
        assert isinstance(reply, ModelReply)
        self._metrics.tokens.labels(provider.name, "prompt").inc(reply.usage.prompt_tokens)
        self._metrics.tokens.labels(provider.name, "completion").inc(reply.usage.completion_tokens)
        return reply

    async def _read_stream(
        self,
        provider: ModelProvider,
        wire: ModuleType,
        response: aiohttp.ClientResponse,
        on_text: TextCallback,
    ) -> ModelReply:
        parser: _Parser = wire.StreamParser(provider.name)
        async for event in iter_events(response):
            if parser.feed(event.data):
                on_text(parser.text)
            if parser.done:
                break
        result = parser.result()
        assert isinstance(result, ModelReply)
        return result

    async def _raise_for_status(
        self, provider: ModelProvider, wire: ModuleType, response: aiohttp.ClientResponse
    ) -> None:
        status = response.status
        text = await response.text(errors="replace")
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = None
        detail = self._redactor.text(wire.error_message(body) or text.strip())[:300]
        if status == 429:
            raise ModelUnavailable(
                f"rate limited (HTTP 429){': ' + detail if detail else ''}",
                retry_after=_retry_after(response.headers.get("Retry-After")),
            )
        if status >= 500 or status in (408, 409):
            raise ModelUnavailable(f"HTTP {status}{': ' + detail if detail else ''}")
        raise ModelRequestError(
            f"model {provider.name!r} rejected the request (HTTP {status}"
            f"{': ' + detail if detail else ''}); check [[models]] {provider.name!r} in the config",
            status=status,
        )


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 1.0
    except ValueError:
        return 1.0
