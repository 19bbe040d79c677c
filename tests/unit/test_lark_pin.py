"""The Feishu long connection overrides private methods of lark-oapi: this fails the moment the
installed library is not the one those overrides were written for (see lark_client.py)."""

from __future__ import annotations

import asyncio
import importlib
import re
import threading
from pathlib import Path
from types import ModuleType
from unittest import mock

import pytest

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def lark_client() -> ModuleType:
    """Imported the way the long connection's thread does it: in a thread with its own loop
    (lark-oapi binds the current loop when first imported)."""
    loaded: list[ModuleType] = []

    def load() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loaded.append(importlib.import_module("assistant.channels.feishu.lark_client"))
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    thread = threading.Thread(target=load)
    thread.start()
    thread.join()
    assert loaded, "importing lark_client failed (see the thread's traceback above)"
    return loaded[0]


def pinned(text: str, pattern: str) -> str:
    found = re.search(pattern, text, re.MULTILINE)
    assert found, pattern
    return found.group(1)


def test_the_pins_name_the_version_the_overrides_were_written_for(lark_client):
    version = lark_client.LARK_OAPI_VERSION
    assert pinned((ROOT / "constraints.txt").read_text(), r"^lark-oapi==(\S+)$") == version
    assert pinned((ROOT / "pyproject.toml").read_text(), r'"lark-oapi==([^"]+)"') == version
    assert f"lark-oapi {version}" in lark_client.__doc__


def test_the_installed_lark_oapi_is_the_one_the_overrides_were_written_for(lark_client):
    assert lark_client.verify() == []


def test_every_override_is_listed_and_has_a_reason(lark_client):
    client = lark_client.SupervisedClient
    overridden = {
        name
        for name, value in vars(client).items()
        if name.startswith("_") and not name.startswith("__") and callable(value)
    }
    assert overridden == {
        "_get_conn_url",
        "_connect",
        "_handle_control_frame",
        "_handle_data_frame",
    }
    assert overridden <= set(lark_client.UPSTREAM)
    for name in overridden:
        assert f"``{name}``" in lark_client.__doc__
        source = lark_client.inspect.getsource(getattr(client, name))
        assert "# override: " in source, name


@pytest.mark.parametrize(
    "name", ["_handle_data_frame", "_write_message", "_configure", "__init__", "start"]
)
def test_a_changed_upstream_function_is_noticed(lark_client, name):
    upstream = lark_client.ws_client.Client

    def changed(self, *args, **kwargs):  # a new release's version of the function
        return None

    with mock.patch.object(upstream, name, changed):
        assert lark_client.verify() == [f"Client.{name} changed"]


def test_another_version_or_a_missing_function_is_noticed(lark_client):
    upstream = lark_client.ws_client.Client
    with mock.patch("importlib.metadata.version", return_value="1.8.0"):
        assert lark_client.verify() == ["lark-oapi 1.8.0 is installed, not 1.7.5"]
    with mock.patch.object(upstream, "_combine", None):
        assert lark_client.verify() == ["Client._combine is gone"]


def test_the_long_connection_client_loads_without_the_whole_sdk():
    """In a fresh process (as in the daemon's long-connection thread): lark-oapi's client and
    core only, none of its API models, and nothing pinned has drifted."""
    import subprocess
    import sys

    probe = (
        "import sys, time\n"
        "t = time.monotonic()\n"
        "from assistant.channels.feishu import lark_client\n"
        "took = time.monotonic() - t\n"
        "loaded = [m for m in sys.modules if m.startswith('lark_oapi')]\n"
        "assert not any(m.startswith('lark_oapi.api') for m in loaded), loaded[:5]\n"
        "assert lark_client.verify() == [], lark_client.verify()\n"
        "print(len(loaded), round(took, 2))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    modules, _seconds = result.stdout.split()
    assert int(modules) < 200  # the whole SDK is over 10,000
