"""Component states, as shown on /readyz and in /status."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ComponentState(StrEnum):
    STARTING = "starting"
    READY = "ready"
    DEGRADED = "degraded"  # working, with trouble (e.g. retrying)
    DOWN = "down"  # not working; being restarted with backoff
    FAILED = "failed"  # stopped for good until the config is fixed (e.g. bad token)
    STOPPED = "stopped"  # shut down on purpose


_OK = {ComponentState.READY, ComponentState.DEGRADED}


@dataclass(slots=True)
class ComponentStatus:
    state: ComponentState
    required: bool
    detail: str = ""
    since: float = field(default_factory=time.time)
    info: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "state": self.state.value,
            "required": self.required,
            "since": round(self.since, 3),
        }
        if self.detail:
            out["detail"] = self.detail
        out.update(self.info)
        return out


class Health:
    """A registry of component states. Not thread-safe: use from the event loop."""

    def __init__(self) -> None:
        self._components: dict[str, ComponentStatus] = {}

    def register(self, name: str, *, required: bool = True) -> None:
        self._components[name] = ComponentStatus(ComponentState.STARTING, required)

    def unregister(self, name: str) -> None:
        """Forget a component that is gone for good (an MCP server removed from the config)."""
        self._components.pop(name, None)

    def set(self, name: str, state: ComponentState, detail: str = "") -> None:
        status = self._components.get(name)
        if status is None:
            self._components[name] = ComponentStatus(state, True, detail)
            return
        if status.state is not state:
            status.state = state
            status.since = time.time()
        status.detail = detail

    def note(self, name: str, **info: Any) -> None:
        """Attach facts shown next to the state, e.g. ``last_poll``."""
        status = self._components.get(name)
        if status is not None:
            status.info.update(info)

    def state(self, name: str) -> ComponentState | None:
        status = self._components.get(name)
        return status.state if status else None

    def is_ready(self) -> bool:
        return all(s.state in _OK for s in self._components.values() if s.required)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {name: status.as_dict() for name, status in sorted(self._components.items())}

    def up(self) -> dict[str, bool]:
        return {name: s.state in _OK for name, s in self._components.items()}
