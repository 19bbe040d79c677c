"""Shared by the fuzz tests: junk values for hypothesis, the daemon in-process on a loop of
its own (so that hypothesis can drive it example after example), and the checks every
example ends with."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
import structlog
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from assistant.app import Daemon
from assistant.config import Config

# One daemon takes every example: the owner would soon be past any per-person limit (the
# limits have tests of their own).
NO_LIMITS = {"messages_per_minute": 0, "queue_per_conversation": 10_000}

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


# --- poison: what no parser or database should be trusted to take -----------------------------

DEEP, BIG = "@deep@", "@bignum@"  # placeholders that ``poison_json`` writes out
DEPTH = 100_000
surrogates = st.text(alphabet=st.characters(categories=["Cs"]), min_size=1, max_size=2)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*path, index))
    return out


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


@st.composite
def poisoned(draw: st.DrawFn, value: Any) -> Any:
    """``value`` (JSON-like) with, one time in three, one poison somewhere: a lone surrogate
    in a string (or as one), a value nested ``DEPTH`` deep, a number of 5,000 digits, or a
    value of the wrong type. Deep and big come out as placeholders: see ``poison_json``."""
    kind = draw(
        st.sampled_from(["none", "none", "none", "none", "surrogate", "deep", "big", "type"])
    )
    if kind == "none":
        return value
    paths = [p for p in _paths(value) if p]  # not the whole value: it must stay an object
    if not paths or not isinstance(value, dict):
        return value
    path = draw(st.sampled_from(paths))
    if kind == "surrogate":
        old = _get(value, path)
        bad = draw(surrogates)
        new: Any = (
            (old[: len(old) // 2] + bad + old[len(old) // 2 :]) if isinstance(old, str) else bad
        )
    else:
        new = {"deep": DEEP, "big": BIG}.get(kind) or draw(junk)
    out = json.loads(json.dumps(value))  # a copy
    holder = _get(out, path[:-1])
    holder[path[-1]] = new
    return out


def poison_json(value: Any) -> str:
    """JSON text of ``value`` with the deep and big placeholders written out."""
    return write_out(json.dumps(value))


def write_out(text: str) -> str:
    """JSON text with the deep and big placeholders written out."""
    text = text.replace(json.dumps(DEEP), "[" * DEPTH + "]" * DEPTH)
    return text.replace(json.dumps(BIG), "1" + "0" * 5000)


def unreadable(text: str) -> bool:
    """Whether JSON text is more than the parser takes (nested too deep, a number too big)."""
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return True
    return False


def maybe_junk(strategy: st.SearchStrategy[Any], one_in: int = 10) -> st.SearchStrategy[Any]:
    """Mostly ``strategy``; about one time in ``one_in``, a value of the wrong type.
    (Hypothesis favours small numbers: the common case must be the small one.)"""
    return st.integers(0, one_in - 1).flatmap(lambda n: junk if n == one_in - 1 else strategy)


def fuzz_settings(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def strings(value: Any) -> list[str]:
    """Every string anywhere in a JSON-like value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


class World(Protocol):
    async def start(self) -> Any: ...
    async def close(self) -> None: ...


@contextlib.contextmanager
def on_own_loop(world: World) -> Iterator[tuple[asyncio.AbstractEventLoop, Any]]:
    """``world`` started on a new event loop: (loop, started world); closed at the end."""
    loop = asyncio.new_event_loop()
    started = loop.run_until_complete(world.start())
    try:
        yield loop, started
    finally:
        loop.run_until_complete(started.close())
        loop.close()


def world_fixture(make: Callable[[Path], World], name: str) -> Any:
    """A module-scoped fixture: (loop, the world ``make(directory)`` started on it)."""

    @pytest.fixture(scope="module")
    def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
        with on_own_loop(make(tmp_path_factory.mktemp(name))) as started:
            yield started

    return world


async def start_daemon(
    config: Config, directory: Path, component: str, unhandled: list[dict[str, Any]]
) -> tuple[Daemon, asyncio.Task[int]]:
    """The real daemon on the running loop, once ``component`` is ready; exceptions nobody
    retrieved (a task that died) are collected in ``unhandled``."""
    asyncio.get_running_loop().set_exception_handler(lambda _, ctx: unhandled.append(ctx))
    daemon = Daemon(config, config_path=directory / "none.toml", env={}, configure_logging=False)
    task = asyncio.create_task(daemon.run())
    async with asyncio.timeout(30):
        await daemon.ready.wait()
        while daemon.health.state(component) != "ready":
            await asyncio.sleep(0.01)
    return daemon, task


async def stop_daemon(daemon: Daemon, task: asyncio.Task[int]) -> None:
    daemon.stop()
    await asyncio.wait_for(task, 15)


def run_quietly(
    loop: asyncio.AbstractEventLoop,
    work: Callable[[], Any],
    unhandled: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Run ``work()`` (a coroutine) to the end on ``loop``, capturing the log; fail on an
    error-level record, a failed turn, a crashed component or an unhandled task exception.
    Returns the log records."""
    with structlog.testing.capture_logs() as logs:
        loop.run_until_complete(work())
    bad = [e for e in logs if e.get("log_level") in ("error", "critical", "exception")]
    bad += [e for e in logs if e["event"] in ("turn.failed", "component.crashed")]
    assert bad == [], bad
    assert unhandled == [], unhandled
    return logs
