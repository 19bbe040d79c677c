"""The four scenarios of the benchmark: throughput, concurrency, footprint, tokens.

Every user is a private chat. "Closed loop": each user sends a message, waits for its reply,
then sends the next, so N users keep at most N messages in flight: that measures the most the
daemon can do, and its latency is the queue that N users build at that rate (N / throughput,
by Little's law). "Paced": each user sends at a steady rate whatever the replies do, below the
daemon's capacity: that measures the latency a user feels. Latency runs from the moment the
update became available to getUpdates until the fake Bot API received the reply.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

from tests.fakes.telegram import Sent

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


async def paced(
    fake: Fakes, users: list[int], *, rate: float, seconds: float, tag: str
) -> dict[str, Any]:
    """Open loop: ``rate`` messages/s in all, spread evenly over ``users``, for ``seconds``."""
    bot = fake.bot
    per_user = max(1, round(rate * seconds / len(users)))
    asked: dict[str, int] = {}  # expected reply text -> update_id
    replied: dict[str, float] = {}  # reply text -> when the fake Bot API received it
    everything = asyncio.Event()

    def arrived(sent: Sent) -> None:
        replied.setdefault(sent.text, sent.at)  # only these users talk meanwhile
        if len(replied) == per_user * len(users):
            everything.set()

    async def user(index: int, uid: int) -> None:
        interval = len(users) / rate
        await asyncio.sleep(interval * index / len(users))  # users out of phase
        start = time.monotonic()
        for i in range(per_user):
            text = f"{tag} u{uid} m{i}: is the disk on web1 filling up?"
            update = await bot.user_message(uid, uid, text)
            asked[f"echo: {text}"] = update["update_id"]
            await asyncio.sleep(max(0.0, start + (i + 1) * interval - time.monotonic()))

    bot.on_sent.append(arrived)
    started = time.monotonic()
    try:
        async with asyncio.TaskGroup() as tg:
            for index, uid in enumerate(users):
                tg.create_task(user(index, uid))
        async with asyncio.timeout(60):
            await everything.wait()
    finally:
        bot.on_sent.remove(arrived)
    wall = time.monotonic() - started
    latencies = [replied[text] - bot.available_at[uid] for text, uid in asked.items()]
    return {
        "messages": len(latencies),
        "offered_msg_per_s": rate,
        "msg_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p95_ms": round(percentile(latencies, 95) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
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
    work: Path,
    fake: Fakes,
    *,
    users: int,
    messages: int,
    recall: bool,
    pace: float = 0,
    **config: Any,
) -> dict[str, Any]:
    """N users × M messages, an instant model; then, with ``pace``, N users sending ``pace``
    messages/s in all."""
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
        if pace:  # the latency users feel at a steady load below capacity
            result["paced"] = await paced(fake, ids, rate=pace, seconds=10, tag="paced")
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
    """Seconds from spawning the process to the first reply to a Telegram message that was
    waiting when it started, to /readyz ready (median of ``runs``), and to the embedder
    loaded and the Feishu long connection open when those are on."""
    times: dict[str, list[float]] = {
        "first_reply_s": [],
        "ready_s": [],
        "memory_ready_s": [],
        "feishu_connected_s": [],
    }
    uid = user_ids(1)[0]
    for n in range(runs):
        before = len(fake.inbox.by_chat[uid])
        await fake.bot.user_message(uid, uid, f"first after start {n}")
        async with daemon(work / f"start-{n}", fake, users=1, **config) as proc:
            connections = fake.feishu.ws.connections
            await fake.inbox.wait(uid, before + 1)
            times["first_reply_s"].append(time.monotonic() - proc.spawned)
            times["ready_s"].append(await proc.wait_ready())
            if config.get("memory"):
                times["memory_ready_s"].append(await proc.wait_ready(component="memory"))
            if config.get("feishu") == "websocket":
                await fake.feishu.ws.wait_connected(connections + 1, timeout=60)
                times["feishu_connected_s"].append(time.monotonic() - proc.spawned)
    out: dict[str, Any] = {key: round(statistics.median(v), 2) for key, v in times.items() if v}
    out["runs"] = runs
    return out


EVERYTHING = {"memory": True, "scheduler": True, "ssh": True, "feishu": "websocket"}
PARTS: dict[str, dict[str, Any]] = {  # idle RSS of each part on top of Telegram
    "telegram_memory": {"memory": True},
    "telegram_feishu_websocket": {"feishu": "websocket"},
    "telegram_feishu_webhook": {"feishu": "webhook"},
    "telegram_scheduler_ssh": {"scheduler": True, "ssh": True},
    "telegram_memory_remote_embedder": {"memory": "openai"},
    "telegram_whatsapp": {"whatsapp": True},
    "telegram_slack_socket": {"slack": "socket"},
    "telegram_slack_events": {"slack": "events"},
}
# everything on within 300 MB: Feishu by webhook (no lark-oapi), embeddings from an endpoint
EVERYTHING_LEAN = {**EVERYTHING, "memory": "openai", "feishu": "webhook"}


async def idle_rss(work: Path, fake: Fakes, name: str, config: dict[str, Any]) -> float:
    """MB resident once the daemon with ``config`` is up, every part loaded, and quiet."""
    async with daemon(work / f"idle-{name}", fake, users=1, **config) as proc:
        connections = fake.feishu.ws.connections
        await proc.wait_ready(component="memory" if config.get("memory") else None)
        if config.get("feishu") == "websocket":
            await fake.feishu.ws.wait_connected(connections + 1)
        return round(await proc.settled_rss() / MB, 1)


async def footprint(
    work: Path, fake: Fakes, *, soak_users: int, soak_messages: int, start_runs: int
) -> dict[str, Any]:
    fake.set_delay(0)
    out: dict[str, Any] = {
        "start_telegram": await cold_start(work, fake, runs=start_runs),
        "start_everything": await cold_start(work, fake, runs=start_runs, **EVERYTHING),
        "idle_everything_mb": await idle_rss(work, fake, "everything", EVERYTHING),
        "idle_everything_lean_mb": await idle_rss(work, fake, "lean", EVERYTHING_LEAN),
        "start_everything_lean": await cold_start(work, fake, runs=start_runs, **EVERYTHING_LEAN),
        "idle_parts_mb": {name: await idle_rss(work, fake, name, c) for name, c in PARTS.items()},
    }
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
        ("everything_on", EVERYTHING),
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
