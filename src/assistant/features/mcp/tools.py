"""An MCP server's tool as one of ours: ``server__tool``, its JSON schema as the parameters,
the permission and class (read / ask) the config gives it, the result capped (and redacted
by the registry like every tool result)."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from assistant.config.web import McpToolRule
from assistant.core.errors import ToolError
from assistant.core.ports import Approver
from assistant.core.tools import ToolContext, ToolResult
from assistant.store.audit import AuditLog
from assistant.tools.ask import ask_for_call
from assistant.tools.registry import MCP_SEPARATOR, truncate_middle

CallFn = Callable[[str, dict[str, Any]], Awaitable[Any]]


def local_name(server: str, remote: str) -> str:
    """``server__tool`` in the characters every model API accepts, at most 64."""
    return f"{server}{MCP_SEPARATOR}{re.sub(r'[^A-Za-z0-9_-]', '_', remote)}"[:64]


def params_for(schema: dict[str, Any]) -> type[BaseModel]:
    """A Params model whose schema is the server's and which keeps any arguments (the server
    validates them against its own schema)."""
    fixed = dict(schema) if isinstance(schema, dict) else {}
    fixed.setdefault("type", "object")

    class Params(BaseModel):
        model_config = ConfigDict(extra="allow")
        _schema: ClassVar[dict[str, Any]] = fixed

        @classmethod
        def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
            return cls._schema

    return Params


def render(result: Any) -> tuple[str, bool]:
    """A ``CallToolResult`` as text: its text parts, else its structured content (a text
    as it is: what ``resources`` gives)."""
    if isinstance(result, str):
        return result, False
    parts: list[str] = []
    for block in getattr(result, "content", None) or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind == "resource":
            resource = block.resource
            parts.append(getattr(resource, "text", None) or f"[resource {resource.uri}]")
        else:
            parts.append(f"[{kind} content]")
    structured = getattr(result, "structured_content", None)
    if not parts and structured is not None:
        parts.append(json.dumps(structured, ensure_ascii=False))
    return "\n".join(parts) or "(no output)", bool(getattr(result, "is_error", False))


class McpTool:
    side_effects = False  # an "ask" tool marks itself once approved

    def __init__(
        self,
        *,
        server: str,
        remote: str,
        description: str,
        schema: dict[str, Any],
        rule: McpToolRule,
        call: CallFn,
        approver: Callable[[], Approver | None],
        audit: AuditLog,
        max_result: int,
    ) -> None:
        self.name = local_name(server, remote)
        self.full_description = (description or remote).strip()
        self.description = self.full_description[:300]  # paid for on every turn
        self.full_schema = schema if isinstance(schema, dict) else {}
        self.permission = rule.permission
        self.mode = rule.mode
        self.Params: type[BaseModel] = params_for(self.full_schema)
        self.max_output = max_result
        self._server = server
        self._remote = remote
        self._call = call
        self._approver = approver
        self._audit = audit

    def make_compact(self) -> None:
        """Listed by name and first sentence; the parameters come from ``mcp_schema``."""
        first = re.split(r"(?<=[.!?。！？])\s*", self.full_description, maxsplit=1)[0]
        self.description = first[:80]
        self.Params = params_for({})

    async def call(self, params: BaseModel, ctx: ToolContext) -> ToolResult:
        arguments = dict(params.model_extra or {})
        shown = json.dumps(arguments, ensure_ascii=False)
        if self.mode == "ask":
            refusal = await ask_for_call(
                self._approver(),
                self._audit,
                ctx,
                tool=self.name,
                arguments=shown,
                target=f"mcp:{self._server}",
                reason="the config classes this MCP tool as ask",
            )
            if refusal is not None:
                return ToolResult.error(refusal)
        await self._audit.append("mcp.call", ctx.actor, tool=self.name, arguments=shown[:2000])
        try:
            result = await self._call(self._remote, arguments)
        except ToolError:
            raise
        except Exception as exc:  # noqa: BLE001 - the SDK's errors, translated once here
            raise ToolError(f"the MCP server {self._server!r} failed: {exc}") from None
        text, is_error = render(result)
        return ToolResult(truncate_middle(text, self.max_output), is_error=is_error)
