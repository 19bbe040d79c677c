"""ToolRegistry: the schemas the model sees, and a call path that never raises.

Every failure (unknown tool, bad JSON, invalid arguments, missing permission, timeout, a
crash inside the tool) becomes a ``ToolResult`` error the model can read and explain.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import structlog
from pydantic import ValidationError

from assistant.core.errors import PolicyDenied, ToolError
from assistant.core.metrics import Metrics
from assistant.core.redact import Redactor
from assistant.core.roles import Permission
from assistant.core.tools import Tool, ToolContext, ToolResult
from assistant.llm.types import ToolSpec

log = structlog.get_logger(__name__)

# Names kept for tools that come and go while the assistant runs, so no plugin takes them: the
# MCP feature's schema tool and its servers' tools (``server__tool``).
MCP_SCHEMA = "mcp_schema"
MCP_SEPARATOR = "__"


def reserved(name: str) -> bool:
    """Whether ``name`` is kept for the MCP feature (``MCP_SCHEMA``, any ``server__tool``)."""
    return name == MCP_SCHEMA or MCP_SEPARATOR in name


_NOISE = {"title", "discriminator", "additionalProperties", "maxLength", "minLength"}


def compact_schema(schema: Any) -> Any:
    """Drop what costs tokens and tells the model nothing: titles, discriminator mappings
    (each variant's ``const`` says it), ``additionalProperties``, defaults of constants, and
    the ``null`` branch of optional fields (leaving a field out says the same)."""
    if isinstance(schema, dict):
        variants = schema.get("anyOf")
        if isinstance(variants, list) and {"type": "null"} in variants:
            rest = [v for v in variants if v != {"type": "null"}]
            merged = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
            if len(rest) == 1 and isinstance(rest[0], dict):
                merged.update(rest[0])
            else:
                merged["anyOf"] = rest
            if schema.get("default") is not None:
                merged["default"] = schema["default"]
            schema = merged
        const = "const" in schema
        return {
            k: compact_schema(v)
            for k, v in schema.items()
            if k not in _NOISE and not (k == "default" and (const or v in ("", None, [], {})))
        }
    if isinstance(schema, list):
        return [compact_schema(v) for v in schema]
    return schema


def _parameters(schema: dict[str, Any]) -> dict[str, Any]:
    compact: dict[str, Any] = compact_schema(schema)
    compact.pop("description", None)  # the Params docstring is for us; the tool has its own
    return compact


def truncate_middle(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    cut = len(text) - head - tail
    return f"{text[:head]}\n[… {cut} characters cut …]\n{text[-tail:]}"


class ToolRegistry:
    def __init__(
        self,
        *,
        metrics: Metrics,
        redactor: Redactor | None = None,
        timeout: float = 60.0,
        max_output: int = 8000,
    ) -> None:
        self._redactor = redactor or Redactor()
        self._tools: dict[str, Tool[Any]] = {}
        self._specs: dict[str, ToolSpec] = {}
        self._by_permissions: dict[frozenset[Permission], tuple[ToolSpec, ...]] = {}
        self._metrics = metrics
        self.timeout = timeout
        self.max_output = max_output

    def register(self, tool: Tool[Any]) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is registered twice")
        self._tools[tool.name] = tool
        self._specs[tool.name] = ToolSpec(
            name=tool.name,
            description=tool.description,
            parameters=_parameters(tool.Params.model_json_schema()),
        )
        self._by_permissions.clear()

    def unregister(self, name: str) -> None:
        """Take a tool away (an MCP server that stopped, or changed its list)."""
        if self._tools.pop(name, None) is not None:
            self._specs.pop(name, None)
            self._by_permissions.clear()

    def get(self, name: str) -> Tool[Any] | None:
        return self._tools.get(name)

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def specs(self, permissions: frozenset[Permission]) -> tuple[ToolSpec, ...]:
        """The tools a sender with these permissions may use (cached per permission set)."""
        cached = self._by_permissions.get(permissions)
        if cached is None:
            cached = tuple(
                self._specs[name]
                for name, tool in self._tools.items()
                if tool.permission in permissions
            )
            self._by_permissions[permissions] = cached
        return cached

    async def invoke(self, name: str, arguments: str, ctx: ToolContext) -> ToolResult:
        result = await self._invoke(name, arguments, ctx)
        # every tool result reaches the model and the conversation store through the redactor
        result = ToolResult(self._redactor.text(result.content), result.is_error)
        outcome = "error" if result.is_error else "ok"
        self._metrics.tool_calls.labels(name if name in self._tools else "unknown", outcome).inc()
        tool = self._tools.get(name)
        # a tool may declare a larger cap of its own (the web tools' [web] max_body)
        limit = max(self.max_output, getattr(tool, "max_output", 0) or 0)
        if len(result.content) > limit:
            result = ToolResult(truncate_middle(result.content, limit), result.is_error)
        return result

    async def _invoke(self, name: str, arguments: str, ctx: ToolContext) -> ToolResult:
        tool = self._tools.get(name)
        if tool is None:
            available = ", ".join(s.name for s in self.specs(ctx.permissions)) or "none"
            return ToolResult.error(f"There is no tool named {name!r}. Available: {available}.")
        if tool.permission not in ctx.permissions:
            return ToolResult.error(
                f"The tool {name!r} is not permitted for the role {ctx.role.value!r}."
            )
        try:
            raw = json.loads(arguments or "{}")
        except ValueError:
            return ToolResult.error(f"The arguments for {name!r} are not valid JSON.")
        try:
            params = tool.Params.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            return ToolResult.error(f"Invalid arguments for {name!r}: {problems}")
        if tool.side_effects:
            await ctx.mark_side_effect(name)
        log.info("tool.call", tool=name)
        try:
            async with asyncio.timeout(self.timeout) as deadline:
                held = dataclasses.replace(ctx, hold=_pausing(deadline, ctx.hold))
                return await tool.call(params, held)
        except TimeoutError:
            return ToolResult.error(f"The tool {name!r} did not finish within {self.timeout:.0f}s.")
        except (ToolError, PolicyDenied) as exc:
            return ToolResult.error(str(exc))
        except Exception:  # a bug in a tool must not end the turn: the model explains
            log.exception("tool.crashed", tool=name)
            return ToolResult.error(
                f"The tool {name!r} failed unexpectedly (turn {ctx.turn_id}); the error is logged."
            )


Hold = Callable[[], AbstractAsyncContextManager[None]]


def _pausing(deadline: asyncio.Timeout, outer: Hold | None) -> Hold:
    """A ``hold`` that pauses the tool's time limit as well as the turn's (``outer``): while a
    person decides on an approval, or a command runs under its own time limit."""

    @contextlib.asynccontextmanager
    async def hold() -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        when = deadline.when()
        remaining = max((when - loop.time()) if when is not None else 0.0, 10.0)
        deadline.reschedule(None)
        try:
            async with outer() if outer is not None else contextlib.nullcontext():
                yield
        finally:
            deadline.reschedule(loop.time() + remaining)

    return hold
