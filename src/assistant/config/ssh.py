"""The [ssh] section: host inventory, command rules, run limits."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from assistant.config.base import NAME_PATTERN, Section


class CommandRule(Section):
    """Allow or deny patterns (regular expressions over a whole simple command) for the
    hosts named here, or carrying one of these tags; neither: every host."""

    hosts: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    allow: list[str] = Field(default_factory=list)
    deny: list[str] = Field(default_factory=list)
    allow_exact: list[str] = Field(default_factory=list)
    require_totp: bool = False

    @field_validator("allow", "deny")
    @classmethod
    def _regexes(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from None
        return patterns


class SSHHost(Section):
    name: str = Field(pattern=NAME_PATTERN)
    address: str = Field(min_length=1)
    port: int = Field(22, ge=1, le=65535)
    user: str | None = None
    key_file: Path | None = None
    agent: bool = False
    tags: list[str] = Field(default_factory=list)
    jump: str | None = None
    connect_timeout: float | None = Field(None, gt=0)
    require_totp: bool = False
    monitor: bool = False  # probe its metrics every [monitor] interval
    units: list[str] = Field(default_factory=list)  # systemd units whose state the probe reads

    @field_validator("units")
    @classmethod
    def _units(cls, units: list[str]) -> list[str]:
        for unit in units:
            if not re.fullmatch(r"[A-Za-z0-9@_.:-]{1,128}", unit):
                raise ValueError(f"{unit!r} is not a systemd unit name (e.g. 'nginx.service')")
        return units


class SSHSection(Section):
    enabled: bool = True
    known_hosts: Path | None = None  # default: <state_dir>/known_hosts
    user: str = "root"
    key_file: Path | None = None
    agent: bool = False
    connect_timeout: float = Field(10.0, gt=0)
    keepalive: float = Field(30.0, ge=0)
    command_timeout: float = Field(60.0, gt=0)
    max_timeout: float = Field(3600.0, gt=0)
    max_output: int = Field(16_000, ge=1000)
    max_sessions: int = Field(4, ge=1, le=9)
    approval_timeout: float | None = Field(None, gt=0)  # deprecated: [approvals] timeout
    progress_interval: float = Field(3.0, gt=0)
    builtin_readonly: bool = True
    readonly: list[str] = Field(default_factory=list)
    hosts: list[SSHHost] = Field(default_factory=list)
    rules: list[CommandRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> SSHSection:
        names = [h.name for h in self.hosts]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"ssh host names must be unique; repeated: {', '.join(repeated)}")
        known = set(names)
        for host in self.hosts:
            if host.jump is not None and (host.jump not in known or host.jump == host.name):
                raise ValueError(
                    f"ssh host {host.name!r} jumps through {host.jump!r}, which is not another "
                    f"host in [[ssh.hosts]]"
                )
        for rule in self.rules:
            unknown = [h for h in rule.hosts if h not in known]
            if unknown:
                raise ValueError(
                    f"an [[ssh.rules]] entry names unknown hosts: {', '.join(unknown)}"
                )
        for pattern in self.readonly:
            re.compile(pattern)
        return self

    def host(self, name: str) -> SSHHost | None:
        return next((h for h in self.hosts if h.name == name), None)
