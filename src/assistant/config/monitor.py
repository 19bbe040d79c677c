"""The [monitor] section: host metrics probed over SSH, and the rules that raise alerts."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from assistant.config.base import Section
from assistant.config.ssh import SSHHost

# what a rule may watch: the probe's metrics, a mount's disk use, a systemd unit
METRIC_PATTERN = (
    r"(cpu|load1|load5|load15|mem|swap|disk|uptime|disk:/\S{0,200}|unit:[A-Za-z0-9@_.:-]{1,128})"
)

Comparison = Literal[">", ">=", "<", "<="]


class MonitorRule(Section):
    """Alert when ``metric`` compares to ``threshold`` for ``for_seconds`` on the hosts named
    here, or carrying one of these tags (neither: every monitored host); resolved once the value
    is back past ``clear`` (default: the threshold itself)."""

    hosts: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    metric: str
    comparison: Comparison = ">"
    threshold: float
    for_seconds: float = Field(0.0, ge=0)
    severity: Literal["warning", "critical"] = "warning"
    clear: float | None = None
    action: str | None = Field(None, min_length=1, max_length=2000)

    @field_validator("metric")
    @classmethod
    def _metric(cls, metric: str) -> str:
        if not re.fullmatch(METRIC_PATTERN, metric):
            raise ValueError(
                f"{metric!r} is not a metric: cpu, mem, swap, disk, disk:/MOUNT, load1, load5, "
                "load15, uptime or unit:NAME"
            )
        return metric

    @model_validator(mode="after")
    def _hysteresis(self) -> MonitorRule:
        if self.clear is None:
            return self
        above = self.comparison in (">", ">=")
        if (above and self.clear > self.threshold) or (not above and self.clear < self.threshold):
            side = "at or below" if above else "at or above"
            raise ValueError(
                f"a [[monitor.rules]] entry for {self.metric!r}: clear = {self.clear} must be "
                f"{side} threshold = {self.threshold} (it is where the alert resolves)"
            )
        return self

    def watches(self, host: SSHHost) -> bool:
        """Whether this rule applies to ``host`` (by name or tag; neither given: every host)."""
        if not self.hosts and not self.tags:
            return True
        return host.name in self.hosts or bool(set(self.tags) & set(host.tags))

    @property
    def clear_at(self) -> float:
        return self.threshold if self.clear is None else self.clear


class MonitorSection(Section):
    enabled: bool = True
    interval: float = Field(60.0, ge=5)
    timeout: float = Field(20.0, gt=0)
    unreachable_after: int = Field(3, ge=1)
    unreachable_severity: Literal["warning", "critical"] = "critical"
    font: str | None = None  # a CJK font file for the charts; default: found by path
    rules: list[MonitorRule] = Field(default_factory=list)

    @field_validator("font")
    @classmethod
    def _font(cls, value: str | None) -> str | None:
        if value is not None and not re.search(r"\.(ttf|ttc|otf)$", value):
            raise ValueError(f"[monitor] font = {value!r} is not a .ttf, .ttc or .otf file")
        return value
