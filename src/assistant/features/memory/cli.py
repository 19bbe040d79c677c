"""``assistant memory list|search|forget|export|import``: long-term memory from the command
line, against the state directory of the config (in embedded mode only while the daemon is
stopped: one process at a time)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
import typing
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AbstractContextManager, AsyncExitStack, asynccontextmanager
from datetime import datetime
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import aiohttp

from assistant.config import Config
from assistant.core.errors import AssistantError
from assistant.core.listing import json_option, print_list, row
from assistant.feature import CliCommand, CliContext, config_option
from assistant.memory.embedder import Embedder
from assistant.memory.service import MemoryService
from assistant.memory.store import MemoryRecord
from assistant.store.db import prepare_state_dir

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


def _item(record: MemoryRecord, zone: ZoneInfo) -> dict[str, Any]:
    day = datetime.fromtimestamp(record.created, zone).strftime("%Y-%m-%d %H:%M")
    item: dict[str, Any] = {
        "id": record.id,
        "namespace": record.namespace,
        "created": day,
        "source": record.source,
        "text": record.text,
    }
    if record.score is not None:
        item["score"] = round(record.score, 4)
    return item


def _line(item: Mapping[str, Any]) -> str:
    score = f"{item['score']:.2f}" if "score" in item else ""
    fields = [item["id"], item["namespace"], item["created"], item["source"]]
    return row(*fields, *([score] if score else []), item["text"])


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
        if args.action in ("list", "search"):
            if args.action == "list":
                records = (await memory.records(namespaces))[: args.limit]
            else:
                records = await memory.search_in(args.query, namespaces, args.limit)
            print_list(
                [_item(record, zone) for record in records],
                line=_line,
                empty="no memories" if args.action == "list" else "no memory matches",
                as_json=getattr(args, "json", False),
                out=out,
            )
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


def _arguments(memory: argparse.ArgumentParser) -> None:
    actions = memory.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = json_option(actions.add_parser("list", help="memories, newest first"))
    listing.add_argument("--limit", type=int, default=100)
    search = json_option(
        actions.add_parser("search", help="memories closest to a query, with similarity")
    )
    search.add_argument("query")
    search.add_argument("--limit", type=int, default=10)
    forget = actions.add_parser("forget", help="delete a memory by id")
    forget.add_argument("id")
    export = actions.add_parser("export", help="write memories as JSON lines")
    export.add_argument("file", nargs="?", help="file to write (default: standard output)")
    imported = actions.add_parser("import", help="read memories from JSON lines (re-embedded)")
    imported.add_argument("file", help="file to read, or - for standard input")
    for sub in (listing, search, forget, export):
        sub.add_argument("--namespace", help="only this one, e.g. user:telegram:123456789")
    for sub in (listing, search, forget, export, imported):
        config_option(sub)


def _run(args: argparse.Namespace, cli: CliContext) -> int:
    if not cli.config.memory.enabled:
        raise AssistantError("memory is disabled in the config ([memory] enabled = false)")
    return asyncio.run(memory_command(cli.config, args, sys.stdout))


MEMORY = CliCommand(
    "memory",
    "list, search, forget, export or import long-term memories (in embedded mode, while the "
    "daemon is stopped)",
    _arguments,
    _run,
)
