"""The features an assistant can have, each a package with ``setup(ctx) -> Feature``.

``NAMES`` is the registry: adding a feature is one line here. A feature package is imported
only to ask whether the config enables it (cheap); its heavy libraries load in ``setup``.
Feature packages never import each other (an import-linter contract checks it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from assistant.config import Config
    from assistant.kernel import FeatureModule

NAMES: tuple[str, ...] = (
    "telegram",
    "feishu",
    "console",
    "whatsapp",
    "slack",
    "approvals",
    "ssh",
    "memory",
    "scheduler",
    "pairing",
    "web",
    "mcp",
    "plugins",
    "alerts",
    "monitor",
)


def module(name: str) -> FeatureModule:
    return cast("FeatureModule", importlib.import_module(f"assistant.features.{name}"))


def enabled(config: Config, names: tuple[str, ...] = NAMES) -> list[FeatureModule]:
    """The feature modules ``config`` turns on, channels first (they serve soonest)."""
    return [m for m in (module(n) for n in names) if m.enabled(config)]


def disabled(config: Config, names: tuple[str, ...] = NAMES) -> list[FeatureModule]:
    """The feature modules ``config`` leaves off."""
    return [m for m in (module(n) for n in names) if not m.enabled(config)]


def channel_names() -> tuple[str, ...]:
    """The chat platforms there are features for (for command-line choices)."""
    return tuple(n for n in NAMES if getattr(module(n), "CHANNEL", False))
