"""The [plugins] section: tools from installed Python packages (the entry point group
``assistant.tools``), enabled by name."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from assistant.config.base import Section
from assistant.core.roles import Permission


class PluginTool(Section):
    """One plugin tool: ``name`` is its entry point's name in the group ``assistant.tools``.
    ``permission`` replaces the one the plugin declares; ``mode`` ``read`` runs, ``ask`` needs
    a second person's approval for each call."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    permission: Permission | None = None
    mode: Literal["read", "ask"] = "ask"


class PluginsSection(Section):
    tools: list[PluginTool] = Field(default_factory=list)
    max_result: int = Field(16_000, ge=1000)  # characters of a plugin tool's result the model gets

    @model_validator(mode="after")
    def _unique(self) -> PluginsSection:
        names = [t.name for t in self.tools]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"plugin tools are named once each; repeated: {', '.join(repeated)}")
        return self
