"""``assistant doctor``: read-only checks of an installation, each with its fix.

A check (``assistant.feature.Check``) is a name, one async function ``run(ctx) ->
list[Finding]`` (several findings when it looks at several things, e.g. one per model
provider), and how long it may take. The checks that belong to no feature (the config, the
secrets file, the state, the models, the clock, the gateway) are in ``assistant.ops.checks``;
each feature declares its own as ``CHECKS`` in its package. Checks never change anything: no
file is written, no database opened for writing, no message sent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import asdict

import structlog

from assistant import __version__
from assistant.feature import Check, CheckContext, Finding, Status

log = structlog.get_logger(__name__)

MARKS = {Status.OK: "✓", Status.WARN: "!", Status.FAIL: "✗", Status.SKIP: "-"}
MARGIN = 5.0  # seconds a check may take past its network calls' limit (ctx.timeout)


async def run_checks(ctx: CheckContext, checks: Sequence[Check]) -> list[Finding]:
    """Run the checks in order; a check that crashes or hangs is a failed finding."""
    findings: list[Finding] = []
    for check in checks:
        limit = check.timeout if check.timeout is not None else ctx.timeout + MARGIN
        try:
            async with asyncio.timeout(limit):
                findings.extend(await check.run(ctx))
        except TimeoutError:
            findings.append(
                Finding(
                    check.name,
                    Status.FAIL,
                    f"the check did not finish within {limit:g} s",
                    check.timeout_fix,
                )
            )
        except Exception as exc:
            log.debug("doctor.check_crashed", check=check.name, exc_info=True)
            findings.append(
                Finding(
                    check.name,
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
