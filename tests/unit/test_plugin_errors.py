"""A plugin that fails to load is named in a config error with its reason, and a credential
in that reason (a plugin's client refusing its token) is masked: the error goes to the journal."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from assistant.core.errors import ConfigError
from assistant.features.plugins.loader import GROUP, _instance


class Broken:
    def __init__(self) -> None:
        raise RuntimeError("the API refused Authorization: Bearer sk-live0123456789abcdefghij")


def test_a_load_failure_names_the_plugin_and_masks_credentials():
    entry = EntryPoint(name="broken", value=f"{__name__}:Broken", group=GROUP)
    with pytest.raises(ConfigError) as caught:
        _instance(entry)
    (problem,) = caught.value.problems
    assert "plugin 'broken'" in problem and "RuntimeError" in problem
    assert "sk-live0123456789abcdefghij" not in problem
