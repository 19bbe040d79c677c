"""``assistant memory …`` and ``assistant jobs …``: administration from the command line,
against the state directory of the config, whether or not the daemon runs (with the limits
each says)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import typing
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractContextManager, AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import aiohttp

from assistant.config import Config
from assistant.core.errors import AssistantError
from assistant.core.text import one_line
from assistant.memory.embedder import Embedder
from assistant.memory.service import MemoryService
from assistant.memory.store import MemoryRecord
from assistant.store.db import Database, prepare_state_dir

EXPORT_FIELDS = ("id", "namespace", "text", "owner", "channel", "chat", "created", "source")


class MemoryImportError(AssistantError):
    """A line of an import file is not a memory record."""


@asynccontextmanager
async def open_memory(
    config: Config, embedder: Embedder | None = None
) -> AsyncIterator[MemoryService]:
    """The memory of ``config``'s state directory (or Chroma server). In embedded mode this
    fails with a clear message while the daemon runs: one process at a time."""
    from assistant.memory.embedder import LocalEmbedder, OpenAIEmbedder
    from assistant.memory.store import MemoryStore

    settings = config.memory
    async with AsyncExitStack() as stack:
        if embedder is None and settings.embedder == "openai":
            session = await stack.enter_async_context(aiohttp.ClientSession(trust_env=True))
            embedder = OpenAIEmbedder(session, settings.embeddings)
        elif embedder is None:
            os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
            local = LocalEmbedder()  # loads only if a command needs vectors (search, import)
            stack.callback(local.close)
            embedder = local
        if settings.mode == "embedded":
            prepare_state_dir(config.assistant.state_dir)
            path = config.assistant.state_dir / "chroma"
            store = MemoryStore(embedder_name=embedder.name, path=path)
        else:
            store = MemoryStore(embedder_name=embedder.name, server=settings.server)
        await stack.enter_async_context(store)
        zone = ZoneInfo(config.assistant.timezone)
        yield await stack.enter_async_context(
            MemoryService(store=store, embedder=embedder, settings=settings, zone=zone)
        )


def _row(record: MemoryRecord, zone: ZoneInfo) -> str:
    day = datetime.fromtimestamp(record.created, zone).strftime("%Y-%m-%d %H:%M")
    score = f"  {record.score:.2f}" if record.score is not None else ""
    text = " ".join(record.text.split())
    return f"{record.id}  {record.namespace}  {day}  {record.source}{score}  {text}"


def export_line(record: MemoryRecord) -> str:
    data = {name: getattr(record, name) for name in EXPORT_FIELDS}
    return json.dumps(data, ensure_ascii=False)


def parse_import(lines: Iterable[str], now: float) -> list[MemoryRecord]:
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data: dict[str, Any] = json.loads(line)
            namespace, text = str(data["namespace"]), str(data["text"]).strip()
        except (ValueError, KeyError, TypeError):
            raise MemoryImportError(
                f"line {number}: not a memory record; each line must be a JSON object with at "
                "least 'namespace' and 'text' (as `assistant memory export` writes them)"
            ) from None
        if not text:
            raise MemoryImportError(f"line {number}: 'text' is empty")
        kind, _, rest = namespace.partition(":")
        channel, _, who = rest.partition(":")
        records.append(
            MemoryRecord(
                id=str(data.get("id") or os.urandom(4).hex()),
                namespace=namespace,
                text=text,
                owner=str(data.get("owner", who if kind == "user" else "")),
                channel=str(data.get("channel", channel)),
                chat=str(data.get("chat", who if kind == "group" else "")),
                created=float(data.get("created", now)),
                source=str(data.get("source", "import")),
            )
        )
    return records


async def memory_command(
    config: Config, args: Any, out: TextIO, *, embedder: Embedder | None = None
) -> int:
    zone = ZoneInfo(config.assistant.timezone)
    namespaces = [args.namespace] if getattr(args, "namespace", None) else None
    async with open_memory(config, embedder) as memory:
        if args.action == "list":
            records = await memory.records(namespaces)
            for record in records[: args.limit]:
                print(_row(record, zone), file=out)
            print(f"({len(records)} memories)", file=sys.stderr)
        elif args.action == "search":
            for record in await memory.search_in(args.query, namespaces, args.limit):
                print(_row(record, zone), file=out)
        elif args.action == "forget":
            gone = await memory.forget_in(args.id, namespaces)
            if gone is None:
                print(f"error: there is no memory {args.id!r}", file=sys.stderr)
                return 1
            print(f"forgot {gone.id} ({gone.namespace}): {gone.text}", file=out)
        elif args.action == "export":
            records = await memory.records(namespaces)
            with _stream(args.file, "w") as target:
                for record in sorted(records, key=lambda r: r.created):
                    print(export_line(record), file=target)
            print(f"exported {len(records)} memories", file=sys.stderr)
        else:
            with _stream(args.file, "r") as source:
                records = parse_import(source, time.time())
            count = await memory.add_many(records)
            print(f"imported {count} memories", file=out)
    return 0


def _stream(path: str | None, mode: str) -> AbstractContextManager[TextIO]:
    """``path``, or standard output/input for None and "-" (left open)."""
    if path in (None, "-"):
        return contextlib.nullcontext(sys.stdout if "w" in mode else sys.stdin)
    return typing.cast(TextIO, open(path, mode, encoding="utf-8"))


async def jobs_command(config: Config, args: Any, out: TextIO) -> int:
    from assistant.scheduler.engine import next_fire
    from assistant.scheduler.jobs import JobTable
    from assistant.scheduler.types import describe_next, describe_schedule, describe_task

    prepare_state_dir(config.assistant.state_dir)
    async with Database(config.assistant.state_dir / "state.db") as db:
        table = JobTable(db)
        if args.action == "list":
            now = datetime.now(UTC)
            jobs = await table.find(status=None if args.all else "active")
            for job in jobs:
                when = next_fire(job.schedule, ZoneInfo(job.timezone), now)
                status = "" if job.status == "active" else f"[{job.status}] "
                print(
                    f"{job.id}  {job.chat.channel}:{job.chat.chat_id}  by {job.sender.user_id}  "
                    f"{status}{one_line(describe_task(job.task), 200)} — "
                    f"{describe_schedule(job.schedule, job.timezone)}; "
                    f"{describe_next(when if job.status == 'active' else None, job.timezone)}; "
                    f"ran {job.runs}x",
                    file=out,
                )
            print(f"({len(jobs)} jobs)", file=sys.stderr)
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
                f"job {found.id} will run within 30 seconds if the assistant serving "
                f"{found.chat.channel} is running, else when it starts",
                file=out,
            )
    return 0
