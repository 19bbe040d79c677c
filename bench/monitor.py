"""What host monitoring costs (issue 18), printed as a table (and JSON with --json):

- one probe against the real test sshd on 127.0.0.1 (tests/fakes/sshd.py; needs root): wall
  time and this process's CPU time per probe, over the pooled connection, output size;
- the state database for HOSTS hosts after 90 days (its steady state: 24 h raw, 7 days of
  5-minute and 90 days of hourly averages of 12 metrics each), through the real schema, and
  how long one ``maintain`` (averaging and pruning) takes on it;
- matplotlib: import and a 24-hour chart of three panels (1,440 points each).

    .venv/bin/python -m bench.monitor [--hosts 50] [--probes 50] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tomli_w

METRICS = [
    *("cpu", "load1", "load5", "load15", "mem", "swap", "uptime", "disk"),
    *("disk:/", "disk:/var", "disk:/boot", "unit:nginx.service"),
]


async def probe_cost(probes: int) -> dict[str, float]:
    from tests.fakes import sshd as fake_sshd

    from assistant.config import parse_config
    from assistant.ssh.executor import SSHExecutor
    from assistant.ssh.probe import parse_probe, probe_command

    why = fake_sshd.available()
    if why is not None:
        print(f"probe: skipped ({why})", file=sys.stderr)
        return {}
    server = fake_sshd.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            known = Path(tmp) / "known_hosts"
            known.write_text(server.known_hosts_line + "\n")
            host = {"name": "box", "address": "127.0.0.1", "port": server.port, "monitor": True}
            data = {"ssh": {"user": server.user, "key_file": str(server.user_key), "hosts": [host]}}
            config = parse_config(tomli_w.dumps(data), {}).ssh
            async with SSHExecutor(config, known_hosts=known) as executor:
                command = probe_command(["ssh.service"])
                await executor.run("box", command)  # connect once: the pool keeps it
                walls, cpus, size = [], [], 0
                for _ in range(probes):
                    cpu, wall = time.process_time(), time.perf_counter()
                    result = await executor.run("box", command)
                    parse_probe(result.output, ["ssh.service"])
                    walls.append(time.perf_counter() - wall)
                    cpus.append(time.process_time() - cpu)
                    size = result.output_bytes
    finally:
        server.stop()
    return {
        "probe_wall_ms_median": 1000 * statistics.median(walls),
        "probe_wall_ms_p95": 1000 * sorted(walls)[int(0.95 * (len(walls) - 1))],
        "probe_cpu_ms_median": 1000 * statistics.median(cpus),
        "probe_output_bytes": size,
    }


def database_size(hosts: int) -> dict[str, float]:
    from assistant.features.monitor import series
    from assistant.store.db import migrate

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.db"
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        migrate(conn)
        empty = path.stat().st_size
        now = 1_800_000_000 // 3600 * 3600
        started = time.perf_counter()
        tiers = {
            series.RAW: range(now - 86400 + 60, now + 1, 60),
            series.FIVE_MINUTES: range(now - 7 * 86400, now, 300),
            series.HOURLY: range(now - 90 * 86400, now, 3600),
        }
        conn.execute("BEGIN")
        for h in range(hosts):
            for metric in METRICS:
                sid = series._series_id(conn, f"host{h:02d}", metric)
                conn.executemany(
                    "INSERT INTO monitor_samples VALUES (?, ?, ?, ?)",
                    (
                        (sid, tier, at, 37.25 + (at % 977) / 10)
                        for tier, ats in tiers.items()
                        for at in ats
                    ),
                )
        conn.execute("COMMIT")
        conn.execute("INSERT INTO monitor_rollups VALUES (1, ?), (2, ?)", (now, now))
        filled = time.perf_counter() - started
        rows = conn.execute("SELECT count(*) FROM monitor_samples").fetchone()[0]
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = path.stat().st_size - empty
        started = time.perf_counter()
        series.maintain(conn, now + 300)  # one round's upkeep: a 5-minute bucket, pruning
        maintain = time.perf_counter() - started
        started = time.perf_counter()
        points = series.window(conn, "host07", "cpu", now - 86400, now, series.RAW)
        window = time.perf_counter() - started
        conn.close()
    return {
        "hosts": hosts,
        "metrics_per_host": len(METRICS),
        "rows": rows,
        "db_mb": size / 1e6,
        "bytes_per_row": size / rows,
        "fill_s": filled,
        "maintain_ms": 1000 * maintain,
        "window_24h_ms": 1000 * window,
        "window_points": len(points),
    }


CHART = """
import time, math
t0 = time.perf_counter()
from assistant.features.monitor.charts import Panel, find_font, render
now = 1_800_000_000
points = [(now - 60 * (1440 - i), 50 + 40 * math.sin(i / 50)) for i in range(1440)]
panels = [Panel(n, points, unit="%", percent=True) for n in ("CPU", "内存", "磁盘")]
t1 = time.perf_counter()
render("web1 — 最近 24 小时", panels, zone="Asia/Shanghai", start=now - 86400, end=now,
       font=find_font())
t2 = time.perf_counter()
times, cpus = [], []
for _ in range(7):
    a, c = time.perf_counter(), time.process_time()
    png = render("web1 — 最近 24 小时", panels, zone="Asia/Shanghai", start=now - 86400,
                 end=now, font=find_font())
    times.append(time.perf_counter() - a)
    cpus.append(time.process_time() - c)
import json, resource, statistics
print(json.dumps({
    "first_chart_ms": 1000 * (t2 - t1),
    "chart_ms_median": 1000 * statistics.median(times),
    "chart_ms_min": 1000 * min(times),
    "chart_cpu_ms_median": 1000 * statistics.median(cpus),
    "chart_bytes": len(png),
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""

IMPORT = (
    "import time; t = time.perf_counter(); import matplotlib; matplotlib.use('Agg'); "
    "from matplotlib.figure import Figure; print(1000 * (time.perf_counter() - t))"
)


def chart_cost() -> dict[str, float]:
    subprocess.run([sys.executable, "-c", IMPORT], check=True, capture_output=True)  # warm .pyc
    imports = [
        float(
            subprocess.run(
                [sys.executable, "-c", IMPORT], check=True, capture_output=True, text=True
            ).stdout
        )
        for _ in range(3)
    ]
    out = subprocess.run([sys.executable, "-c", CHART], check=True, capture_output=True, text=True)
    return {"matplotlib_import_ms_median": statistics.median(imports), **json.loads(out.stdout)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--probes", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {
        **asyncio.run(probe_cost(args.probes)),
        **database_size(args.hosts),
        **chart_cost(),
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name, value in results.items():
        shown = f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"
        print(f"{name:<28} {shown:>14}")


if __name__ == "__main__":
    main()
