"""The doctor's look at the scheduler: the job definitions in state.db, opened read-only."""

from __future__ import annotations

from assistant.feature import Check, CheckContext, Finding, Status, skipped_without_config
from assistant.store.db import read_only_count


async def check_scheduler(ctx: CheckContext) -> list[Finding]:
    name = "scheduler"
    config = ctx.config
    if config is None:
        return skipped_without_config(name)
    if not config.scheduler.enabled:
        return [Finding(name, Status.SKIP, "disabled ([scheduler] enabled = false)")]
    state = config.assistant.state_dir
    jobs = read_only_count(state / "state.db", "SELECT count(*) FROM jobs WHERE status = 'active'")
    if jobs is None:
        if not (state / "state.db").exists():
            return [Finding(name, Status.OK, "no state yet (created at the first start)")]
        return [
            Finding(
                name,
                Status.FAIL,
                "cannot read the job definitions in state.db",
                "run `assistant migrate`, or check the state directory's owner and mode",
            )
        ]
    return [Finding(name, Status.OK, f"{jobs} active job(s)")]


CHECKS = (Check("scheduler", check_scheduler),)
