"""An id a person types after /ack, /unsilence, /approve, /deny, /cancel or /pair is any text:
a number past SQLite's 64 bits, a sign, an exponent, digits of another script. Each is either
an id (known or not, answered like any unknown one) or the command's usage; never a crash that
leaves the person with the generic apology. The real kernel, state and commands (alerts,
approvals, the scheduler and pairing enabled), on a loop of the module's own so hypothesis can
send many ids to one assistant."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.app import assemble
from assistant.config import parse_config
from assistant.core.health import Health
from assistant.core.redact import Redactor
from tests.conftest import OWNER, Harness
from tests.fakes.channel import RecordingChannel

COMMANDS = ("ack", "unsilence", "approve", "deny", "cancel", "pair")
KNOWN = [
    "99999999999999999999",
    "#99999999999999999999",
    "9223372036854775807",
    "9223372036854775808",
    "-1",
    "-99999999999999999999",
    "1e9",
    "1E999",
    "0x10",
    "1_000",
    "+5",
    "0",
    "٣",
    "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦٧٨٩٠١٢",
    "𝟗𝟗𝟗𝟗𝟗𝟗𝟗𝟗𝟗𝟗𝟗𝟗𝟗𝟗𝟗𝟗𝟗𝟗𝟗𝟗",
    "nan",
    "inf",
]
IDS = st.one_of(
    st.integers().map(str),
    st.integers(min_value=2**63 - 2, max_value=2**200).map(lambda n: f"#{n}"),
    st.text(st.characters(categories=["Nd"]), min_size=1, max_size=25),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cc", "Zs"]), min_size=1),
)
APOLOGY = "Sorry, something went wrong"


def config(directory: Path) -> Any:
    data = {
        "assistant": {"state_dir": str(directory / "state"), "drain_timeout": 5},
        "gateway": {"port": 0},
        "memory": {"enabled": False},
        "scheduler": {"enabled": True},
        "limits": {"messages_per_minute": 0},  # hundreds of ids a minute from one person
        "access": {"owners": [f"telegram:{OWNER}"]},
        "alerts": {
            "enabled": True,
            "self_alerts": False,
            "people": {"ann": [f"telegram:{OWNER}"]},
            "chat": [{"name": "team", "people": ["ann"]}],
            "warning": ["team"],
            "critical": ["team"],
        },
    }
    return parse_config(tomli_w.dumps(data), {})


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Harness]]:
    loop = asyncio.new_event_loop()
    stack = AsyncExitStack()

    async def start() -> Harness:
        channel = RecordingChannel("telegram")
        made = config(tmp_path_factory.mktemp("ids"))
        assembly = await assemble(
            stack, made, health=Health(), redactor=Redactor(), channels=[channel]
        )
        await assembly.start()
        return Harness(stack, assembly, channel)

    harness = loop.run_until_complete(start())
    try:
        yield loop, harness
    finally:
        loop.run_until_complete(stack.aclose())
        loop.close()


def answers(daemon: tuple[Any, Harness], ident: str) -> list[str]:
    loop, harness = daemon
    return [loop.run_until_complete(harness.ask(f"/{c} {ident}")) for c in COMMANDS]


def check(ident: str, replies: list[str]) -> None:
    for command, reply in zip(COMMANDS, replies, strict=True):
        assert APOLOGY not in reply, (command, ident, reply)


@pytest.mark.parametrize("ident", KNOWN)
def test_known_odd_ids_are_answered(daemon, ident):
    replies = dict(zip(COMMANDS, answers(daemon, ident), strict=True))
    check(ident, list(replies.values()))
    if ident.lstrip("#").isascii() and ident.lstrip("#").isdecimal():
        assert replies["ack"] == f"There is no alert #{int(ident.lstrip('#'))}."
        assert replies["approve"] == f"There is no request #{int(ident.lstrip('#'))}."
        assert replies["unsilence"].startswith(f"There is no silence #{int(ident.lstrip('#'))}")


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(IDS)
def test_any_id_is_answered(daemon, ident):
    check(ident, answers(daemon, ident))
