"""Finding the configured plugin tools among the installed packages' entry points, checking
that each keeps the ``Tool`` contract, and wrapping it so it runs under our rules, not its own:
the permission and the class (read / ask) the config gives it, every call audited, its
result capped (and redacted by the registry like every tool result), its failures a tool
error."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import structlog
from pydantic import BaseModel

from assistant.config.plugins import PluginsSection, PluginTool
from assistant.core.errors import ConfigError, PolicyDenied, ToolError
from assistant.core.ports import Approver
from assistant.core.redact import Redactor
from assistant.core.roles import Permission
from assistant.core.tools import ToolContext, ToolResult
from assistant.store.audit import AuditLog
from assistant.tools.ask import ask_for_call
from assistant.tools.registry import MCP_SCHEMA, MCP_SEPARATOR, reserved, truncate_middle

log = structlog.get_logger(__name__)

GROUP = "assistant.tools"
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MASK = Redactor()  # credential-shaped text in a foreign error


def installed() -> dict[str, EntryPoint]:
    """The plugin tools the packages in this environment offer, by entry point name."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def load_tools(
    section: PluginsSection,
    *,
    taken: set[str],
    approver: Callable[[], Approver | None],
    audit: AuditLog,
) -> list[Wrapped]:
    """The configured tools, wrapped; a ``ConfigError`` listing every problem otherwise."""
    found = installed()
    problems: list[str] = []
    tools: list[Wrapped] = []
    for rule in section.tools:
        entry = found.get(rule.name)
        if entry is None:
            names = ", ".join(sorted(found)) or "none"
            problems.append(
                f"[[plugins.tools]] name = {rule.name!r}: no installed package offers a tool "
                f"by that name in the entry point group {GROUP!r} (installed: {names}); install "
                "the plugin's package into the assistant's environment, or fix the name"
            )
            continue
        try:
            plugin = _instance(entry)
            permission = _checked(plugin, entry)
        except ConfigError as exc:
            problems += exc.problems
            continue
        if reserved(plugin.name):
            problems.append(
                f"plugin {rule.name!r} ({entry.value}) names its tool {plugin.name!r}, a name "
                f"kept for the MCP feature ({MCP_SCHEMA!r} and every server{MCP_SEPARATOR}tool); "
                "the plugin must name its tool otherwise"
            )
            continue
        if plugin.name in taken:
            problems.append(
                f"plugin {rule.name!r} ({entry.value}) names its tool {plugin.name!r}, which "
                "another tool already has; remove one of them from the config"
            )
            continue
        taken.add(plugin.name)
        tools.append(
            Wrapped(
                plugin,
                rule=rule,
                permission=rule.permission or permission,
                approver=approver,
                audit=audit,
                max_result=section.max_result,
            )
        )
    if problems:
        raise ConfigError(problems)
    return tools


def _instance(entry: EntryPoint) -> Any:
    where = f"plugin {entry.name!r} ({entry.value})"
    try:
        loaded = entry.load()
        return loaded() if inspect.isclass(loaded) else loaded
    except Exception as exc:  # noqa: BLE001 - any failure of foreign code, reported once
        # printed to stderr (the journal), not logged: masked here; the cause stays off it
        reason = _MASK.text(f"{type(exc).__name__}: {exc}")[:500]
        raise ConfigError([f"{where} could not be loaded: {reason}; fix or reinstall it"]) from None


def _checked(plugin: Any, entry: EntryPoint) -> Permission:
    """The permission the plugin declares, once it is shown to keep the ``Tool`` contract."""
    where = f"plugin {entry.name!r} ({entry.value})"
    wrong: list[str] = []
    name = getattr(plugin, "name", None)
    if not isinstance(name, str) or not _TOOL_NAME.match(name):
        wrong.append("name must be 1-64 letters, digits, _ or -")
    description = getattr(plugin, "description", None)
    if not isinstance(description, str) or not description.strip():
        wrong.append("description must be a non-empty string")
    params = getattr(plugin, "Params", None)
    if not (inspect.isclass(params) and issubclass(params, BaseModel)):
        wrong.append("Params must be a pydantic BaseModel class")
    if not inspect.iscoroutinefunction(getattr(plugin, "call", None)):
        wrong.append("call must be an async method call(params, ctx)")
    declared = getattr(plugin, "permission", None)
    try:
        permission = Permission(str(declared))
    except ValueError:
        known = ", ".join(p.value for p in Permission)
        wrong.append(f"permission {declared!r} is not one of {known}")
        permission = Permission.EXEC
    if wrong:
        raise ConfigError([f"{where} does not keep the Tool contract: {'; '.join(wrong)}"])
    return permission


class Wrapped:
    """A plugin's tool as the registry sees it: its name, description and parameters, our
    permission, class and cap. The plugin's own ``max_output`` or ``side_effects`` cannot
    lift them."""

    def __init__(
        self,
        plugin: Any,
        *,
        rule: PluginTool,
        permission: Permission,
        approver: Callable[[], Approver | None],
        audit: AuditLog,
        max_result: int,
    ) -> None:
        self.plugin = plugin
        self.name: str = plugin.name
        self.description: str = plugin.description.strip()[:1000]  # paid for on every turn
        self.Params: type[BaseModel] = plugin.Params
        self.permission = permission
        self.mode = rule.mode
        self.side_effects = False  # marked below, once a call is allowed to run
        self.max_output = max_result
        self._entry = rule.name
        self._marks = bool(getattr(plugin, "side_effects", True))
        self._approver = approver
        self._audit = audit

    async def call(self, params: BaseModel, ctx: ToolContext) -> ToolResult:
        shown = json.dumps(params.model_dump(mode="json"), ensure_ascii=False)
        if self.mode == "ask":
            refusal = await ask_for_call(
                self._approver(),
                self._audit,
                ctx,
                tool=self.name,
                arguments=shown,
                target=f"plugin:{self._entry}",
                reason="the config classes this plugin tool as ask",
            )
            if refusal is not None:
                return ToolResult.error(refusal)
        elif self._marks:
            await ctx.mark_side_effect(self.name)
        await self._audit.append("plugin.call", ctx.actor, tool=self.name, arguments=shown[:2000])
        try:
            result = await self.plugin.call(params, ctx)
        except (ToolError, PolicyDenied):
            raise
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - foreign code: never ends a turn
            log.warning("plugin.failed", tool=self.name, error=f"{type(exc).__name__}: {exc}")
            await self._audit.append("plugin.failed", ctx.actor, tool=self.name)
            raise ToolError(
                f"the plugin tool {self.name!r} failed ({type(exc).__name__}); the error is logged"
            ) from None
        if isinstance(result, str):
            result = ToolResult(result)
        if not isinstance(result, ToolResult):
            raise ToolError(f"the plugin tool {self.name!r} returned no ToolResult")
        return ToolResult(truncate_middle(result.content, self.max_output), result.is_error)
