"""Profile the daemon's per-message hot path with py-spy (``pip install py-spy``).

    .venv/bin/python -m bench.profile [--users 20] [--messages 100] [--recall] [--top 40]

Runs the throughput scenario with py-spy attached to the daemon for the measured part, writes
the collapsed stacks (and a speedscope file) under bench/results/, and prints the functions
with the most samples: "self" (on top of the stack) and "inclusive" (anywhere on it).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench import scenarios
from bench.harness import daemon, fakes

RESULTS = Path(__file__).parent / "results"


def summarize(collapsed: Path, top: int) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = [f.split(" (")[0] + " " + f.split("/")[-1].rstrip(")") for f in stack.split(";")]
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    lines = [f"{total} samples", "", "self:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in own.most_common(top)]
    lines += ["", "inclusive:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines)


async def profile(args: argparse.Namespace) -> Path:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    RESULTS.mkdir(exist_ok=True)
    raw = RESULTS / f"profile-{stamp}.txt"
    ids = scenarios.user_ids(args.users)
    with tempfile.TemporaryDirectory(prefix="assistant-profile-") as tmp:
        async with (
            fakes() as fake,
            daemon(Path(tmp), fake, users=args.users, memory=args.recall) as proc,
        ):
            await proc.wait_ready(component="memory" if args.recall else None)
            if args.recall:
                await scenarios.remember_facts(fake, ids)
            await scenarios.closed_loop(fake, ids, 2, tag="warm")
            recorder = await asyncio.create_subprocess_exec(
                spy,
                "record",
                "--pid",
                str(proc.pid),
                "--rate",
                "250",
                "--format",
                "raw",
                "--threads",
                "--gil",
                "--output",
                str(raw),
                "--nonblocking",
            )
            await asyncio.sleep(1.0)  # py-spy attaches
            result = await scenarios.measured(proc, fake, ids, args.messages, tag="profile")
            recorder.send_signal(signal.SIGINT)
            await recorder.wait()
    print(result, file=sys.stderr)
    return raw


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--recall", action="store_true")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    raw = asyncio.run(profile(args))
    print(summarize(raw, args.top))
    print(f"\n(collapsed stacks: {raw})")


if __name__ == "__main__":
    main()
