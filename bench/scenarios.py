"""The four scenarios of the benchmark: throughput, concurrency, footprint, tokens.

Every user is a private chat. "Closed loop": each user sends a message, waits for its reply,
then sends the next, so N users keep at most N messages in flight. Latency runs from the
moment the update became available to getUpdates until the fake Bot API received the reply.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

from bench.harness import OWNER, DaemonProcess, Fakes, daemon, machine_busy, percentile

MB = 1024 * 1024
FACTS = [
    "my backup server is called vault and runs every night at 02:00",
    "the production database is postgres 16 on host db1",
    "my daughter's birthday is on March 3rd",
]


async def closed_loop(fake: Fakes, users: list[int], messages: int, *, tag: str) -> dict[str, Any]:
    """Each user sends ``messages`` messages one after the other; returns the numbers."""
    latencies: list[float] = []
    bot = fake.bot

    async def user(uid: int) -> None:
        already = len(fake.inbox.by_chat[uid])
        for i in range(messages):
            text = f"{tag} u{uid} m{i}: how is my backup server doing?"
            update = await bot.user_message(uid, uid, text)
            sent = await fake.inbox.wait(uid, already + i + 1, timeout=120)
            if sent.text != f"echo: {text}":
                raise AssertionError(f"user {uid} got {sent.text!r} for {text!r}")
            latencies.append(sent.at - bot.available_at[update["update_id"]])

    started = time.monotonic()
    async with asyncio.TaskGroup() as tg:
        for uid in users:
            tg.create_task(user(uid))
    wall = time.monotonic() - started
    count = len(users) * messages
    return {
        "messages": count,
        "seconds": round(wall, 3),
        "msg_per_s": round(count / wall, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p95_ms": round(percentile(latencies, 95) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 1),
    }


async def measured(
    proc: DaemonProcess, fake: Fakes, users: list[int], messages: int, *, tag: str
) -> dict[str, Any]:
    user, system = proc.cpu_split()
    switches = proc.context_switches()
    busy, own = machine_busy(), time.process_time()
    result = await closed_loop(fake, users, messages, tag=tag)
    user_after, system_after = proc.cpu_split()
    bench_cpu = time.process_time() - own
    others = machine_busy() - busy - bench_cpu - (user_after - user + system_after - system)
    used = user_after - user + system_after - system
    count = result["messages"]
    result["cpu_s"] = round(used, 2)
    result["cpu_ms_per_msg"] = round(used * 1000 / count, 2)
    result["user_ms_per_msg"] = round((user_after - user) * 1000 / count, 2)
    result["system_ms_per_msg"] = round((system_after - system) * 1000 / count, 2)
    result["switches_per_msg"] = round((proc.context_switches() - switches) / count, 1)
    result["fakes_cores"] = round(bench_cpu / result["seconds"], 2)  # this process: fakes, users
    result["other_cores"] = round(max(0.0, others) / result["seconds"], 2)  # the rest of the box
    return result


async def remember_facts(fake: Fakes, users: list[int]) -> None:
    for uid in users:
        before = len(fake.inbox.by_chat[uid])
        for n, fact in enumerate(FACTS, start=1):
            await fake.bot.user_message(uid, uid, f"/remember {fact}")
            await fake.inbox.wait(uid, before + n)


def user_ids(count: int) -> list[int]:
    return [OWNER + n for n in range(1, count + 1)]


async def throughput(
    work: Path, fake: Fakes, *, users: int, messages: int, recall: bool, **config: Any
) -> dict[str, Any]:
    """N users × M messages, an instant model."""
    fake.set_delay(0)
    ids = user_ids(users)
    name = "throughput-recall" if recall else "throughput"
    async with daemon(work / name, fake, users=users, memory=recall, **config) as proc:
        await proc.wait_ready(component="memory" if recall else None)
        if recall:
            await remember_facts(fake, ids)
        await closed_loop(fake, ids, 2, tag="warm")  # conversations exist, pools are warm
        result = await measured(proc, fake, ids, messages, tag="run")
        result["rss_mb"] = round(proc.rss() / MB, 1)
    result.update(users=users, recall=recall, **config)
    return result


async def concurrency(
    work: Path, fake: Fakes, *, users: int, latency: float, limit: int | None, rounds: int
) -> dict[str, Any]:
    """Many users at once with a slow model: do turns overlap or queue?"""
    ids = user_ids(users)
    tag = f"concurrency-{limit or 'default'}"
    async with daemon(work / tag, fake, users=users, max_concurrent=limit) as proc:
        await proc.wait_ready()
        fake.set_delay(0)
        await closed_loop(fake, ids, 1, tag="warm")
        fake.set_delay(latency)
        rss_before = proc.rss()
        peak = rss_before

        async def sample() -> None:
            nonlocal peak
            while True:
                peak = max(peak, proc.rss())
                await asyncio.sleep(0.05)

        sampler = asyncio.create_task(sample())
        try:
            result = await measured(proc, fake, ids, rounds, tag="run")
        finally:
            sampler.cancel()
        fake.set_delay(0)
    ideal = users / latency
    result.update(
        users=users,
        model_latency_s=latency,
        max_concurrent_turns=limit or 16,
        ideal_msg_per_s=round(ideal, 1),
        of_ideal=round(result["msg_per_s"] / ideal, 2),
        rss_mb=round(rss_before / MB, 1),
        peak_rss_mb=round(peak / MB, 1),
    )
    return result


async def cold_start(work: Path, fake: Fakes, *, runs: int, **config: Any) -> dict[str, Any]:
    """Seconds from spawning the process to /readyz ready (median of ``runs``)."""
    times: list[float] = []
    memory_times: list[float] = []
    memory = bool(config.get("memory"))
    for n in range(runs):
        async with daemon(work / f"start-{n}", fake, users=1, **config) as proc:
            times.append(await proc.wait_ready())
            if memory:
                memory_times.append(await proc.wait_ready(component="memory"))
    out: dict[str, Any] = {"ready_s": round(statistics.median(times), 2), "runs": runs}
    if memory_times:
        out["memory_ready_s"] = round(statistics.median(memory_times), 2)
    return out


async def footprint(
    work: Path, fake: Fakes, *, soak_users: int, soak_messages: int, start_runs: int
) -> dict[str, Any]:
    fake.set_delay(0)
    everything = {"memory": True, "scheduler": True, "ssh": True}
    out: dict[str, Any] = {
        "start_telegram": await cold_start(work, fake, runs=start_runs),
        "start_everything": await cold_start(work, fake, runs=start_runs, **everything),
    }
    async with daemon(work / "idle-all", fake, users=1, **everything) as proc:
        await proc.wait_ready(component="memory")
        out["idle_everything_mb"] = round(await proc.settled_rss() / MB, 1)
    ids = user_ids(soak_users)
    async with daemon(work / "soak", fake, users=soak_users) as proc:
        await proc.wait_ready()
        out["idle_telegram_mb"] = round(await proc.settled_rss() / MB, 1)
        await closed_loop(fake, ids, 2, tag="warm")
        out["after_warmup_mb"] = round(await proc.settled_rss() / MB, 1)
        soak = await measured(proc, fake, ids, soak_messages, tag="soak")
        out["soak"] = soak
        out["after_soak_mb"] = round(await proc.settled_rss() / MB, 1)
    out["growth_pct"] = round(
        (out["after_soak_mb"] - out["idle_telegram_mb"]) / out["idle_telegram_mb"] * 100, 1
    )
    return out


def prompt_bytes(request: dict[str, Any]) -> dict[str, int]:
    system = next((m["content"] for m in request["messages"] if m["role"] == "system"), "")
    tools = request.get("tools") or []
    compact = json.dumps(tools, separators=(",", ":"), ensure_ascii=False)
    return {
        "system_bytes": len(system.encode()),
        "tools_bytes": len(compact.encode()),
        "tools": len(tools),
        "total_bytes": len(system.encode()) + len(compact.encode()),
        "request_bytes": len(
            json.dumps(request, separators=(",", ":"), ensure_ascii=False).encode()
        ),
    }


async def tokens(work: Path, fake: Fakes) -> dict[str, Any]:
    """Bytes of system prompt + tool schemas sent to the model, as the owner (every tool)."""
    fake.set_delay(0)
    out: dict[str, Any] = {}
    requests = fake.model.requests
    for name, config in (
        ("telegram_only", {}),
        ("everything_on", {"memory": True, "scheduler": True, "ssh": True}),
    ):
        async with daemon(work / f"tokens-{name}", fake, users=1, **config) as proc:
            await proc.wait_ready(component="memory" if config else None)
            count = len(fake.inbox.by_chat[OWNER])
            await fake.bot.user_message(OWNER, OWNER, "hello")
            await fake.inbox.wait(OWNER, count + 1)
            out[f"plain_{name}"] = prompt_bytes(requests[-1])
            if config:
                await remember_facts(fake, [OWNER])
                count = len(fake.inbox.by_chat[OWNER])
                await fake.bot.user_message(OWNER, OWNER, "when does my backup server run?")
                await fake.inbox.wait(OWNER, count + 1)
                recalled = prompt_bytes(requests[-1])
                system = requests[-1]["messages"][0]["content"]
                recalled["memories"] = system.count("\n- [")
                out["recall_everything_on"] = recalled
    return out
