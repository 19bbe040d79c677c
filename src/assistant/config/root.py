"""The whole config, and the holder of the config in force."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from assistant.config.alerts import AlertsSection
from assistant.config.base import Section
from assistant.config.channels import (
    FeishuSection,
    SlackSection,
    TelegramSection,
    WhatsAppSection,
)
from assistant.config.limits import LimitsSection
from assistant.config.memory import MemorySection, SchedulerSection
from assistant.config.monitor import MonitorSection
from assistant.config.plugins import PluginsSection
from assistant.config.sections import (
    AccessSection,
    AgentSection,
    ApprovalsSection,
    AssistantSection,
    ConsoleSection,
    GatewaySection,
    LoggingSection,
    ModelProvider,
    RoutingRule,
    SpeechSection,
)
from assistant.config.ssh import SSHSection
from assistant.config.web import McpSection, WebSection


class Config(Section):
    assistant: AssistantSection = AssistantSection()
    agent: AgentSection = AgentSection()
    models: list[ModelProvider] = Field(default_factory=list)
    routing: list[RoutingRule] = Field(default_factory=list)
    gateway: GatewaySection = GatewaySection()
    console: ConsoleSection = ConsoleSection()
    logging: LoggingSection = LoggingSection()
    access: AccessSection = AccessSection()
    limits: LimitsSection = LimitsSection()
    approvals: ApprovalsSection = ApprovalsSection()
    telegram: TelegramSection = TelegramSection()
    feishu: FeishuSection = FeishuSection()
    whatsapp: WhatsAppSection = WhatsAppSection()
    slack: SlackSection = SlackSection()
    ssh: SSHSection = SSHSection()
    monitor: MonitorSection = MonitorSection()
    memory: MemorySection = MemorySection()
    scheduler: SchedulerSection = SchedulerSection()
    speech: SpeechSection | None = None
    web: WebSection = WebSection()
    mcp: McpSection = McpSection()
    plugins: PluginsSection = PluginsSection()
    alerts: AlertsSection = AlertsSection()

    @property
    def known_hosts(self) -> Path:
        """The pinned SSH host keys: ``[ssh] known_hosts``, or in the state directory."""
        return self.ssh.known_hosts or self.assistant.state_dir / "known_hosts"

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, data: Any) -> Any:
        """``[ssh] approval_timeout`` (deprecated) stands for ``[approvals] timeout`` where
        only the old name is set, so the new one always holds the value in force."""
        if not isinstance(data, dict) or not isinstance(data.get("ssh"), dict):
            return data
        old = data["ssh"].get("approval_timeout")
        approvals = data.get("approvals", {})
        valid = isinstance(old, int | float) and not isinstance(old, bool) and old > 0
        if valid and isinstance(approvals, dict) and "timeout" not in approvals:
            return {**data, "approvals": {**approvals, "timeout": old}}
        return data  # an invalid old value is reported under its own name

    @model_validator(mode="after")
    def _model_references(self) -> Config:
        names = [m.name for m in self.models]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"model names must be unique; repeated: {', '.join(duplicates)}")
        known = set(names)
        for model in self.models:
            for other in model.fallback or []:
                if other not in known:
                    raise ValueError(
                        f"model {model.name!r} falls back to unknown model {other!r}; "
                        f"known: {', '.join(names) or 'none'}"
                    )
        for rule in self.routing:
            if rule.model not in known:
                raise ValueError(
                    f"routing rule points to unknown model {rule.model!r}; "
                    f"known: {', '.join(names) or 'none'}"
                )
        return self

    @model_validator(mode="after")
    def _monitor_references(self) -> Config:
        known = {h.name for h in self.ssh.hosts}
        for rule in self.monitor.rules:
            unknown = [h for h in rule.hosts if h not in known]
            if unknown:
                raise ValueError(
                    f"a [[monitor.rules]] entry names unknown hosts: {', '.join(unknown)} "
                    "(hosts are the [[ssh.hosts]] names)"
                )
        for host in self.ssh.hosts:
            seen: set[tuple[str, str]] = set()
            for rule in (r for r in self.monitor.rules if r.watches(host)):
                if (rule.metric, rule.severity) in seen:
                    raise ValueError(
                        f"two [[monitor.rules]] entries watch {rule.metric!r} on host "
                        f"{host.name!r} at severity {rule.severity!r}; a host has one rule per "
                        "metric and severity"
                    )
                seen.add((rule.metric, rule.severity))
        return self

    def model(self, name: str) -> ModelProvider | None:
        return next((m for m in self.models if m.name == name), None)


class LiveConfig:
    """The config in force; replaced whole on a reload. Readers call ``get()`` per use."""

    def __init__(self, config: Config) -> None:
        self.current = config

    def get(self) -> Config:
        return self.current
