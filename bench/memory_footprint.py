"""Memory footprint and recall latency of the long-term memory (not part of the test suite).

    .venv/bin/python bench/memory_footprint.py [--memories 1000]

Prints: the time to open the store and load the local embedder, the resident memory they add,
and recall latency (embedding the message + querying Chroma) by number of stored memories.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path

import psutil

from assistant import features
from assistant.app import assemble
from assistant.config import parse_config
from assistant.core.health import Health
from assistant.core.messages import ChatRef, Sender
from assistant.core.redact import Redactor
from assistant.logging import setup_logging

TOPICS = ["server", "backup", "birthday", "meeting", "password", "deploy", "tea", "trip"]


async def main(memories: int) -> dict[str, float]:
    process = psutil.Process()
    with tempfile.TemporaryDirectory() as state:
        config = parse_config(f'[assistant]\nstate_dir = "{state}"\n[memory]\nenabled = true\n', {})
        rss_before = process.memory_info().rss
        started = time.perf_counter()
        async with AsyncExitStack() as stack:
            assembly = await assemble(
                stack,
                config,
                health=Health(),
                redactor=Redactor(),
                modules=[features.module("memory")],
            )
            await assembly.start()  # opens the store and loads the embedder
            memory = assembly.part("memory")
            opened = time.perf_counter() - started
            chat, sender = ChatRef("telegram", "1"), Sender("1")
            await memory.recall(chat, sender, "warm up")  # waits for the embedder
            loaded = time.perf_counter() - started
            rss_loaded = process.memory_info().rss
            out = {
                "store_open_s": round(opened, 3),
                "ready_s": round(loaded, 3),
                "rss_added_mb": round((rss_loaded - rss_before) / 2**20, 1),
            }
            stored = 0
            for size in (10, 100, memories):
                batch = []
                while stored < size:
                    topic = TOPICS[stored % len(TOPICS)]
                    text = f"Note {stored}: the {topic} detail number {stored * 7919 % 1000}"
                    batch.append(_record(memory, chat, sender, text, stored))
                    stored += 1
                begin = time.perf_counter()
                await memory.add_many(batch)
                out[f"add_ms_per_memory_{size}"] = round(
                    (time.perf_counter() - begin) * 1000 / max(len(batch), 1), 2
                )
                times = []
                for n in range(30):
                    begin = time.perf_counter()
                    await memory.recall(chat, sender, f"what about the {TOPICS[n % 8]}?")
                    times.append((time.perf_counter() - begin) * 1000)
                out[f"recall_ms_p50_{size}"] = round(statistics.median(times), 2)
                out[f"recall_ms_max_{size}"] = round(max(times), 2)
            out["rss_with_memories_mb"] = round((process.memory_info().rss - rss_before) / 2**20, 1)
            files = [p for p in Path(state).rglob("*") if p.is_file()]
            out["disk_mb"] = round(sum(p.stat().st_size for p in files) / 2**20, 1)
    return out


def _record(memory, chat, sender, text, n):  # type: ignore[no-untyped-def]
    from assistant.memory.store import MemoryRecord

    return MemoryRecord(
        id=f"{n:08x}",
        namespace=memory.write_namespace(chat, sender),
        text=text,
        owner=sender.user_id,
        channel=chat.channel,
        chat="",
        created=time.time(),
        source="remember",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--memories", type=int, default=1000)
    setup_logging(level="warning", fmt="console", redactor=Redactor())
    result = asyncio.run(main(parser.parse_args().memories))
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    print(json.dumps(result))
