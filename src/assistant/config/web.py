"""The [web] and [mcp] sections: HTTP tools with their SSRF allowlist, and MCP servers."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from assistant.config.base import Section, http_url
from assistant.core.roles import Permission

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class WebAllowRule(Section):
    """A request the model may make without approval: a method (or ``*``) and a URL glob
    (``https://hooks.example.com/deploy/*``)."""

    method: str = "*"
    url: str = Field(min_length=1)

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        value = value.upper()
        if value != "*" and value not in METHODS:
            raise ValueError(
                f"{value!r} is not an HTTP method; use one of {', '.join(METHODS)} or *"
            )
        return value


class WebSection(Section):
    enabled: bool = False
    max_body: int = Field(65_536, ge=1024)  # characters of a response body the model gets
    max_download: int = Field(2_000_000, ge=4096)  # bytes read from the network per request
    timeout: float = Field(20.0, gt=0)  # total seconds per request, redirects included
    max_redirects: int = Field(5, ge=0, le=20)
    user_agent: str = "assistant/0.1 (+https://github.com/)"
    allow_hosts: list[str] = Field(default_factory=list)  # names that may be private
    allow_networks: list[str] = Field(default_factory=list)  # CIDRs that may be private
    allow: list[WebAllowRule] = Field(default_factory=list)  # writes without approval
    searxng_url: str | None = None  # web_search through this SearXNG instance
    ca_file: Path | None = None  # PEM: CAs trusted besides the system's (an internal CA)

    @field_validator("allow_networks")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a network; write e.g. '10.1.2.0/24' or '192.168.1.5'"
                ) from None
        return values

    @field_validator("allow_hosts")
    @classmethod
    def _hosts(cls, values: list[str]) -> list[str]:
        return [v.strip().lower().rstrip(".") for v in values]

    @field_validator("searxng_url")
    @classmethod
    def _searxng(cls, value: str | None) -> str | None:
        return http_url(value) if value else None


ToolClass = Literal["read", "ask", "deny"]


class McpToolRule(Section):
    """Who may use the tools matching ``tool`` (a glob over ``server__tool`` names) and how:
    ``read`` runs, ``ask`` needs a second person's approval, ``deny`` is never offered."""

    tool: str = Field(min_length=1)
    permission: Permission = Permission.EXEC
    mode: ToolClass = "ask"


class McpServer(Section):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    command: str | None = None  # stdio: the program, its arguments and environment
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None  # streamable HTTP
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    timeout: float = Field(30.0, gt=0)  # seconds per tool call
    lazy: bool = False  # started on the first call of one of its tools, not with the daemon

    @model_validator(mode="after")
    def _transport(self) -> McpServer:
        if (self.command is None) == (self.url is None):
            raise ValueError(
                f"MCP server {self.name!r} needs exactly one of command (stdio) or url "
                "(streamable HTTP)"
            )
        if self.url is not None and not re.match(r"^https?://", self.url):
            raise ValueError(f"MCP server {self.name!r}: url {self.url!r} is not http(s)")
        return self


class McpSection(Section):
    servers: list[McpServer] = Field(default_factory=list)
    tools: list[McpToolRule] = Field(default_factory=list)
    max_result: int = Field(16_000, ge=1000)  # characters of a tool result the model gets
    check_interval: float = Field(30.0, gt=0)  # seconds between liveness checks (and re-listing)
    full_schemas: int = Field(12, ge=0)  # above this many MCP tools: compact list + mcp_schema

    @model_validator(mode="after")
    def _unique(self) -> McpSection:
        names = [s.name for s in self.servers]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"MCP server names must be unique; repeated: {', '.join(repeated)}")
        return self

    def rule(self, name: str) -> McpToolRule:
        """The first rule whose glob matches ``server__tool``; none: ask, with ``exec``."""
        from fnmatch import fnmatchcase

        for rule in self.tools:
            if fnmatchcase(name, rule.tool):
                return rule
        return McpToolRule(tool=name)
