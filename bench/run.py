"""Run the benchmark scenarios; print one table and write JSON under bench/results/.

    .venv/bin/python -m bench.run [--only throughput,concurrency,footprint,tokens]
                                  [--users 20] [--messages 50] [--soak 10000]
                                  [--limits 16,64,128] [--quick]

The daemon runs as a subprocess (``assistant run``) against the fake Telegram Bot API and the
fake OpenAI-compatible model from tests/fakes, which run in this process on loopback and
share the machine's cores with it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import scenarios
from bench.harness import fakes

RESULTS = Path(__file__).parent / "results"
SCENARIOS = ("throughput", "concurrency", "footprint", "tokens")


def machine() -> dict[str, Any]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    only = set(args.only.split(",")) if args.only else set(SCENARIOS)
    out: dict[str, Any] = {"machine": machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    with tempfile.TemporaryDirectory(prefix="assistant-bench-") as tmp:
        work = Path(tmp)
        async with fakes() as fake:
            if "throughput" in only:
                for recall in (False, True):
                    key = "throughput_recall" if recall else "throughput"
                    out[key] = await scenarios.throughput(
                        work,
                        fake,
                        users=args.users,
                        messages=args.messages,
                        recall=recall,
                        pace=args.pace / (2 if recall else 1),
                    )
                    progress(key, out[key])
            if "concurrency" in only:
                out["concurrency"] = []
                for limit in args.limits:
                    result = await scenarios.concurrency(
                        work, fake, users=args.crowd, latency=1.0, limit=limit, rounds=args.rounds
                    )
                    out["concurrency"].append(result)
                    progress(f"concurrency limit={limit}", result)
            if "footprint" in only:
                out["footprint"] = await scenarios.footprint(
                    work,
                    fake,
                    soak_users=args.users,
                    soak_messages=max(1, args.soak // args.users),
                    start_runs=args.starts,
                )
                progress("footprint", out["footprint"])
            if "tokens" in only:
                out["tokens"] = await scenarios.tokens(work, fake)
                progress("tokens", out["tokens"])
    return out


def progress(name: str, result: Any) -> None:
    print(f"# {name}: {json.dumps(result)}", file=sys.stderr, flush=True)


def row(metric: str, value: Any, target: str = "", ok: bool | None = None) -> list[str]:
    verdict = "" if ok is None else ("ok" if ok else "MISSED")
    return [metric, str(value), target, verdict]


def paced_rows(result: dict[str, Any], target: str = "") -> list[list[str]]:
    p = result.get("paced")
    if not p:
        return []
    label = f"  latency p50 / p95 / p99 at a steady {p['offered_msg_per_s']:g} msg/s"
    value = f"{p['p50_ms']} / {p['p95_ms']} / {p['p99_ms']} ms"
    return [row(label, value, target, p["p99_ms"] <= 50) if target else row(label, value)]


def table(out: dict[str, Any]) -> str:
    rows: list[list[str]] = [["metric", "measured", "target", ""]]
    t = out.get("throughput")
    if t:
        users = f"{t['users']}×{t['messages'] // t['users']}"
        rows += [
            row(
                f"throughput, recall off ({users})",
                f"{t['msg_per_s']} msg/s",
                "≥ 200",
                t["msg_per_s"] >= 200,
            ),
            row(
                "  latency p50 / p95 / p99, closed loop (= users / throughput)",
                f"{t['p50_ms']} / {t['p95_ms']} / {t['p99_ms']} ms",
            ),
            row(
                "  daemon CPU per message",
                f"{t['cpu_ms_per_msg']} ms",
                "≤ 5 ms",
                t["cpu_ms_per_msg"] <= 5,
            ),
        ]
        rows += paced_rows(t, "p99 ≤ 50 ms")
    t = out.get("throughput_recall")
    if t:
        rows += [
            row("throughput, recall on", f"{t['msg_per_s']} msg/s", "≥ 100", t["msg_per_s"] >= 100),
            row("  latency p50 / p95 / p99", f"{t['p50_ms']} / {t['p95_ms']} / {t['p99_ms']} ms"),
            row("  daemon CPU per message", f"{t['cpu_ms_per_msg']} ms"),
        ]
        rows += paced_rows(t)
    for c in out.get("concurrency", []):
        rows += [
            row(
                f"concurrency {c['users']} users, {c['model_latency_s']:g} s model, "
                f"max_concurrent_turns={c['max_concurrent_turns']}",
                f"{c['msg_per_s']} msg/s ({c['of_ideal']:.0%} of {c['ideal_msg_per_s']:g})",
                "close to users/latency",
                c["of_ideal"] >= 0.8,
            ),
            row(
                "  latency p50 / p99, peak RSS",
                f"{c['p50_ms']:.0f} / {c['p99_ms']:.0f} ms, {c['peak_rss_mb']} MB",
            ),
        ]
    f = out.get("footprint")
    if f:
        start_all = f["start_everything"]
        rows += [
            row(
                "idle RSS, Telegram only",
                f"{f['idle_telegram_mb']} MB",
                "≤ 180 MB",
                f["idle_telegram_mb"] <= 180,
            ),
            row(
                "idle RSS, Telegram + Feishu + memory + scheduler + SSH",
                f"{f['idle_everything_mb']} MB",
                "≤ 350 MB",
                f["idle_everything_mb"] <= 350,
            ),
            row(
                "idle RSS, the same with Feishu by webhook and a remote embedder",
                f"{f['idle_everything_lean_mb']} MB",
            ),
            row(
                f"RSS after {f['soak']['messages']} messages",
                f"{f['after_soak_mb']} MB ({f['growth_pct']:+.1f}%)",
                "within 10% of idle",
                abs(f["growth_pct"]) <= 10,
            ),
        ]
        for name, mb in f["idle_parts_mb"].items():
            part = name.removeprefix("telegram_").replace("_", " ")
            rows.append(row(f"  idle RSS, Telegram + {part}", f"{mb} MB"))
        start_tg, lean = f["start_telegram"], f["start_everything_lean"]
        rows += [
            row(
                "first reply after exec, Telegram only",
                f"{start_tg['first_reply_s']} s",
                "≤ 3 s",
                start_tg["first_reply_s"] <= 3,
            ),
            row("  … /readyz ready", f"{start_tg['ready_s']} s"),
            row(
                "first reply after exec, everything on",
                f"{start_all['first_reply_s']} s",
                "≤ 5 s",
                start_all["first_reply_s"] <= 5,
            ),
            row("  … /readyz ready (channels serving)", f"{start_all['ready_s']} s"),
            row(
                "  … fully ready (embedder loaded)",
                f"{start_all.get('memory_ready_s')} s",
                "≤ 12 s",
                (start_all.get("memory_ready_s") or 0) <= 12,
            ),
            row("  … Feishu connected", f"{start_all.get('feishu_connected_s')} s"),
            row(
                "first reply, Feishu by webhook and a remote embedder",
                f"{lean['first_reply_s']} s (ready {lean['ready_s']} s)",
            ),
        ]
    k = out.get("tokens")
    if k:
        for key, label in (
            ("plain_telegram_only", "prompt + tools, plain turn, Telegram only"),
            ("plain_everything_on", "prompt + tools, plain turn, everything on"),
        ):
            b = k[key]
            rows.append(
                row(
                    label,
                    f"{b['total_bytes']} B ({b['tools']} tools)",
                    "≤ 3 KB",
                    b["total_bytes"] <= 3072,
                )
            )
        b = k["recall_everything_on"]
        rows.append(
            row(
                "prompt + tools, memories recalled",
                f"{b['total_bytes']} B ({b['memories']} memories)",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(SCENARIOS)}")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--messages", type=int, default=50, help="per user (throughput)")
    parser.add_argument(
        "--pace", type=float, default=100, help="msg/s of the paced latency run (recall: half)"
    )
    parser.add_argument("--crowd", type=int, default=100, help="users (concurrency)")
    parser.add_argument("--rounds", type=int, default=3, help="messages per user (concurrency)")
    parser.add_argument(
        "--limits", default="16,64,128", help="max_concurrent_turns values to compare (concurrency)"
    )
    parser.add_argument("--soak", type=int, default=10_000, help="messages (footprint)")
    parser.add_argument("--starts", type=int, default=3, help="cold starts to time (median)")
    parser.add_argument("--quick", action="store_true", help="small sizes, to try the bench")
    args = parser.parse_args()
    args.limits = [int(x) for x in args.limits.split(",")]
    if args.quick:
        args.messages, args.crowd, args.rounds, args.soak, args.starts = 10, 30, 1, 400, 1
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    out = asyncio.run(run(args))
    out["table"] = table(out)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=2, ensure_ascii=False))
    print(out["table"])
    print(f"\n(JSON: {path})")


if __name__ == "__main__":
    main()
