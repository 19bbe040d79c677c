"""``assistant jobs list|cancel|run``: scheduled jobs from the command line, against the state
database, whether or not the daemon runs (it picks changes up)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from assistant.config import Config
from assistant.core.listing import json_option, print_list, row
from assistant.core.text import one_line
from assistant.feature import CliCommand, CliContext, config_option
from assistant.store.db import Database, prepare_state_dir


async def jobs_command(config: Config, args: Any, out: TextIO) -> int:
    from assistant.scheduler.jobs import JobTable
    from assistant.scheduler.timer import RECHECK_EVERY
    from assistant.scheduler.timing import planned_fire
    from assistant.scheduler.types import describe_next, describe_schedule, describe_task

    prepare_state_dir(config.assistant.state_dir)
    async with Database(config.assistant.state_dir / "state.db") as db:
        table = JobTable(db)
        if args.action == "list":
            jobs = await table.find(status=None if args.all else "active")
            items = []
            for job in jobs:
                planned = planned_fire(job)
                when = None if planned is None else datetime.fromtimestamp(planned, UTC)
                active = job.status == "active"
                items.append(
                    {
                        "id": job.id,
                        "chat": f"{job.chat.channel}:{job.chat.chat_id}",
                        "by": job.sender.user_id,
                        "status": job.status,
                        "task": describe_task(job.task),
                        "schedule": describe_schedule(job.schedule, job.timezone),
                        "next": describe_next(when if active else None, job.timezone),
                        "next_at": when.isoformat() if when and active else None,
                        "runs": job.runs,
                    }
                )
            print_list(
                items,
                line=lambda j: row(
                    j["id"],
                    j["chat"],
                    f"by {j['by']}",
                    j["status"],
                    f"{one_line(j['task'], 200)} — {j['schedule']}; {j['next']}; ran {j['runs']}x",
                ),
                empty="no jobs" if args.all else "no active jobs (--all shows finished ones)",
                as_json=getattr(args, "json", False),
                out=out,
            )
            return 0
        found = await table.get(args.id)
        if found is None or found.status != "active":
            print(f"error: there is no active job {args.id!r}", file=sys.stderr)
            return 1
        if args.action == "cancel":
            await table.finish(found.id, "cancelled")
            print(f"cancelled job {found.id}: {describe_task(found.task)}", file=out)
        else:
            await table.request_run(found.id)
            print(
                f"job {found.id} will run within {RECHECK_EVERY:g} seconds if the assistant "
                f"serving {found.chat.channel} is running, else when it starts",
                file=out,
            )
    return 0


def _arguments(jobs: argparse.ArgumentParser) -> None:
    actions = jobs.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = json_option(actions.add_parser("list", help="active jobs"))
    listing.add_argument("--all", action="store_true", help="also finished and cancelled ones")
    cancel = actions.add_parser("cancel", help="cancel a job")
    cancel.add_argument("id")
    run = actions.add_parser("run", help="run a job now (by the running assistant)")
    run.add_argument("id")
    for sub in (listing, cancel, run):
        config_option(sub)


def _run(args: argparse.Namespace, cli: CliContext) -> int:
    return asyncio.run(jobs_command(cli.config, args, sys.stdout))


JOBS = CliCommand("jobs", "list, cancel or run scheduled jobs", _arguments, _run)
