"""A check's regex is a person's, and the text it runs over is someone else's (a command's
output, a web page): a pattern that backtracks for ever costs at most its time limit, and
never the event loop."""

from __future__ import annotations

import asyncio

import pytest

from assistant.core.ports import CommandOutcome
from assistant.scheduler.checks import observe_command
from assistant.scheduler.patterns import search
from assistant.scheduler.types import CommandCheck

# exponential backtracking in a backtracking engine, on output anyone can make a host print
EVIL = r"(x+x+)+y"
OUTPUT = "x" * 5000


class Runner:
    def hosts(self) -> list[str]:
        return ["web1"]

    async def refusal(self, host: str, command: str, actor: str) -> str | None:
        return None

    async def run(self, host: str, command: str, *, timeout: float, actor: str) -> CommandOutcome:
        return CommandOutcome(0, OUTPUT)


async def test_a_backtracking_regex_neither_hangs_a_check_nor_blocks_the_loop():
    check = CommandCheck(host="web1", command="cat /tmp/x", expect_regex=EVIL)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        seen = await observe_command(check, Runner(), timeout=5, actor="telegram:1")
    finally:
        ticker.cancel()
    assert seen.failing  # a regex that gave up found nothing
    assert ticks > 0  # the loop went on while it ran


async def test_search_finds_and_misses():
    assert await search(r"ok\b", "all ok here")
    assert not await search(r"^fail", "all ok here")
    assert not await search(EVIL, OUTPUT, limit=0.05)


@pytest.mark.parametrize("pattern", ["(", "[a-", "a{2,1}"])
def test_a_pattern_that_does_not_compile_is_refused_when_the_check_is_made(pattern):
    with pytest.raises(ValueError, match="not a regex"):
        CommandCheck(host="web1", command="true", expect_regex=pattern)
