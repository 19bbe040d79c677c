"""``assistant doctor``: read-only checks of an installation, each with its fix.

A check is one async function ``check(ctx) -> list[Finding]`` (several findings when it
looks at several things, e.g. one per model provider). Adding a check means writing one
such function and listing it in ``CHECKS`` (see ``assistant.ops.checks``). Checks never
change anything: no file is written, no database opened for writing, no message sent.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

import aiohttp
import structlog

from assistant import __version__
from assistant.config import Config

log = structlog.get_logger(__name__)


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"  # works, but worth a look; does not fail the run
    FAIL = "fail"
    SKIP = "skip"  # not applicable (disabled, or an earlier check failed)


MARKS = {Status.OK: "✓", Status.WARN: "!", Status.FAIL: "✗", Status.SKIP: "-"}


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    status: Status
    detail: str
    fix: str = ""


@dataclass
class Context:
    """What every check may use; built once per run."""

    config_path: Path
    env: Mapping[str, str]
    env_file: Path | None
    session: aiohttp.ClientSession
    config: Config | None = None
    config_problems: list[str] = field(default_factory=list)
    now: Callable[[], float] = time.time  # wall clock, replaceable to test the clock check
    timeout: float = 20.0  # seconds any one check may take
    min_free_bytes: int = 200 * 1024 * 1024
    warn_free_bytes: int = 1024 * 1024 * 1024
    service_user: str = "assistant"


Check = Callable[[Context], Awaitable[list[Finding]]]


def skipped_without_config(name: str) -> list[Finding]:
    return [Finding(name, Status.SKIP, "skipped: the config is not valid")]


async def run_checks(ctx: Context, checks: Sequence[Check]) -> list[Finding]:
    """Run the checks in order; a check that crashes or hangs is a failed finding."""
    findings: list[Finding] = []
    for check in checks:
        name = check.__name__.removeprefix("check_").replace("_", " ")
        try:
            async with asyncio.timeout(ctx.timeout + 5):
                findings.extend(await check(ctx))
        except TimeoutError:
            findings.append(
                Finding(
                    name,
                    Status.FAIL,
                    f"the check did not finish within {ctx.timeout + 5:.0f} s",
                    "check this machine's network connection and DNS",
                )
            )
        except Exception as exc:
            log.debug("doctor.check_crashed", check=name, exc_info=True)
            findings.append(
                Finding(
                    name,
                    Status.FAIL,
                    f"the check itself failed ({type(exc).__name__}: {exc})",
                    "this is a bug in assistant: please report it with this output",
                )
            )
    return findings


def failed(findings: Sequence[Finding]) -> bool:
    return any(f.status is Status.FAIL for f in findings)


def render_text(findings: Sequence[Finding]) -> str:
    width = max((len(f.check) for f in findings), default=0) + 2
    lines = [f"assistant {__version__} doctor"]
    for f in findings:
        lines.append(f"{MARKS[f.status]} {f.check.ljust(width)}{f.detail}")
        if f.fix and f.status in (Status.FAIL, Status.WARN):
            lines.append(f"  {' ' * width}fix: {f.fix}")
    problems = sum(f.status is Status.FAIL for f in findings)
    warnings = sum(f.status is Status.WARN for f in findings)
    summary = f"{_count(problems, 'problem')} found" if problems else "all checks passed"
    lines.append(summary + (f", {_count(warnings, 'warning')}" if warnings else ""))
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def render_json(findings: Sequence[Finding]) -> str:
    return json.dumps(
        {
            "version": __version__,
            "ok": not failed(findings),
            "checks": [{**asdict(f), "status": f.status.value} for f in findings],
        },
        ensure_ascii=False,
        indent=2,
    )
