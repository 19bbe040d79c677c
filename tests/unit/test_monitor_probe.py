"""The host probe's parsers: a known output, the real /proc of this machine, and classes of
input (hypothesis); the threshold rules' steps; the series' averages and retention."""

from __future__ import annotations

import itertools
import sqlite3
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.config.monitor import MonitorRule
from assistant.features.monitor import series
from assistant.features.monitor.rules import Change, RuleState, step
from assistant.ssh.probe import (
    CpuTimes,
    ProbeParseError,
    cpu_percent,
    metrics,
    parse_cpu,
    parse_df,
    parse_probe,
    probe_command,
)
from assistant.store.db import migrate

SAMPLE = """\
@stat
cpu  100 0 50 800 50 0 0 0 0 0
@loadavg
0.52 0.40 0.31 2/180 12345
@meminfo
MemTotal:        4000000 kB
MemFree:          500000 kB
MemAvailable:    1000000 kB
Buffers:          100000 kB
Cached:           900000 kB
SwapTotal:       1000000 kB
SwapFree:         750000 kB
@uptime
86461.25 170000.00
@df
Filesystem     1024-blocks     Used Available Capacity Mounted on
/dev/vda1         10000000  7000000   3000000      70% /
/dev/vdb1          1000000   250000    750000      25% /var/lib/my data
@units
active
failed
"""


def test_a_known_output_gives_its_numbers():
    first = parse_probe(SAMPLE, ["nginx.service", "backup.timer"])
    later = parse_probe(
        SAMPLE.replace("cpu  100 0 50 800 50", "cpu  160 0 70 900 70"), ["nginx.service", "x"]
    )
    values = metrics(later, first)
    assert values["cpu"] == pytest.approx(100 * 80 / 200)  # 80 busy of 200 jiffies
    assert (values["load1"], values["load5"], values["load15"]) == (0.52, 0.40, 0.31)
    assert values["mem"] == 75.0 and values["swap"] == 25.0
    assert values["uptime"] == 86461.25
    assert values["disk:/"] == 70.0 and values["disk:/var/lib/my data"] == 25.0
    assert values["disk"] == 70.0
    assert first.units == {"nginx.service": "active", "backup.timer": "failed"}
    assert metrics(first)["unit:backup.timer"] == 0.0 and "cpu" not in metrics(first)


def test_the_real_proc_of_this_machine_parses():
    command = probe_command(["ssh.service"])

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)

    first = parse_probe(run().stdout, ["ssh.service"])
    subprocess.run(["sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"], check=True)
    second = parse_probe(run().stdout, ["ssh.service"])
    values = metrics(second, first)
    assert 0 <= values["cpu"] <= 100
    assert 0 < values["mem"] < 100 and 0 <= values["swap"] <= 100
    assert values["uptime"] > 0 and values["load1"] >= 0
    assert "disk:/" in values and 0 < values["disk"] <= 100
    assert "unit:ssh.service" in values  # "unknown" or "inactive" without systemd: 0


def test_output_that_is_not_the_probes_is_refused():
    with pytest.raises(ProbeParseError):
        parse_probe("Welcome to FreeBSD!\n")
    with pytest.raises(ProbeParseError):
        parse_cpu("intr 1 2 3")


def test_unit_names_are_quoted_in_the_command():
    assert "systemctl is-active 'a b' nginx.service" in probe_command(["a b", "nginx.service"])
    assert "systemctl" not in probe_command()


jiffies = st.integers(min_value=0, max_value=2**48)


@given(st.lists(jiffies, min_size=8, max_size=8), st.lists(jiffies, min_size=8, max_size=8))
def test_cpu_percent_is_a_percentage_or_nothing(before, delta):
    def line(values: list[int]) -> str:
        return "cpu  " + " ".join(map(str, values))

    a = parse_cpu(line(before))
    b = parse_cpu(line([x + d for x, d in zip(before, delta, strict=True)]))
    busy = cpu_percent(a, b)
    assert busy is None or 0 <= busy <= 100
    assert cpu_percent(b, a) is None or sum(delta) == 0  # counters that went back: no number


@given(st.text(max_size=400))
def test_any_text_parses_or_is_refused_cleanly(output):
    try:
        reading = parse_probe(output)
    except ProbeParseError:
        return
    assert all(0 <= v <= 100 for v in reading.disks.values())


@given(st.lists(st.tuples(jiffies, jiffies, st.from_regex(r"/[a-z]{0,8}", fullmatch=True))))
def test_disk_use_is_a_percentage(rows):
    lines = [f"/dev/x 1 {used} {free} 1% {mount}" for used, free, mount in rows]
    for mount, used in parse_df(lines).items():
        assert mount.startswith("/") and 0 <= used <= 100


def rule(**fields) -> MonitorRule:
    return MonitorRule(**{"metric": "cpu", "threshold": 90, **fields})


@pytest.mark.parametrize(
    ("fields", "values", "changes"),
    [
        # for 120 s over 90: fires on the third sample (60 s apart), not before
        ({"for_seconds": 120}, [95, 95, 95, 95], [None, None, Change.FIRE, None]),
        # a dip resets the wait
        ({"for_seconds": 120}, [95, 95, 50, 95, 95], [None, None, None, None, None]),
        # hysteresis: stays firing until at or below 70
        (
            {"clear": 70},
            [95, 85, 71, 70, 95],
            [Change.FIRE, None, None, Change.RESOLVE, Change.FIRE],
        ),
        # below-rules: free space under a floor
        (
            {"comparison": "<", "threshold": 10, "clear": 20},
            [5, 15, 25],
            [Change.FIRE, None, Change.RESOLVE],
        ),
    ],
)
def test_rules_fire_after_their_duration_and_resolve_past_the_clear_threshold(
    fields, values, changes
):
    state = RuleState()
    seen = [step(rule(**fields), state, v, 1000.0 + 60 * i) for i, v in enumerate(values)]
    assert seen == changes


def test_a_clear_threshold_on_the_wrong_side_is_a_config_error():
    with pytest.raises(ValueError, match="clear"):
        rule(clear=95)


@pytest.fixture
def conn():
    connection = sqlite3.connect(":memory:", isolation_level=None)
    migrate(connection)
    yield connection
    connection.close()


def test_samples_are_averaged_into_tiers_and_pruned_by_age(conn):
    start = 1_800_000_000 // 3600 * 3600
    for minute in range(0, 26 * 60):  # 26 hours, one sample a minute
        series.add_samples(conn, "web1", start + 60 * minute, {"cpu": float(minute % 10)})
        if minute % 5 == 0:
            series.maintain(conn, start + 60 * minute)
    now = start + 26 * 3600
    series.maintain(conn, now)
    raw = series.window(conn, "web1", "cpu", now - 2 * 86400, now, series.RAW)
    assert raw[0].at >= now - 86400 and len(raw) == 24 * 60  # older raw samples are gone
    fives = series.window(conn, "web1", "cpu", start, now, series.FIVE_MINUTES)
    assert len(fives) == 26 * 12 and {p.value for p in fives} == {2.0, 7.0}  # 0-4, 5-9
    hours = series.window(conn, "web1", "cpu", start, now, series.HOURLY)
    assert len(hours) == 26 and all(p.value == 4.5 for p in hours)
    series.maintain(conn, now + 91 * 86400)
    left = conn.execute("SELECT count(*) FROM monitor_samples").fetchone()[0]
    assert left == 0


def test_cpu_times_count_iowait_as_idle():
    assert parse_cpu("cpu 1 2 3 4 5 6 7 8 9 10") == CpuTimes(total=36, idle=9)


def test_two_rules_for_one_metric_and_severity_on_a_host_are_a_config_error():
    import tomli_w

    from assistant.config import parse_config

    hosts = [{"name": "web1", "address": "10.0.0.1", "tags": ["web"], "monitor": True}]
    rules = [
        {"tags": ["web"], "metric": "cpu", "threshold": 90},
        {"hosts": ["web1"], "metric": "cpu", "threshold": 80},
    ]
    data = {"ssh": {"hosts": hosts}, "monitor": {"rules": rules}}
    with pytest.raises(Exception, match="one rule per metric and severity"):
        parse_config(tomli_w.dumps(data), {})
    rules[1]["severity"] = "critical"
    assert len(parse_config(tomli_w.dumps(data), {}).monitor.rules) == 2


@pytest.mark.parametrize(
    ("span", "count", "step"),
    [(3600, 4, 900), (6 * 3600, 6, 3600), (86400, 6, 4 * 3600), (7 * 86400, 7, 86400)],
)
def test_time_ticks_fall_on_round_local_times(span, count, step):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from assistant.features.monitor.charts import ticks

    zone = ZoneInfo("Asia/Shanghai")
    end = 1_800_000_123.0
    found = ticks(end - span, end, zone)
    assert len(found) in (count, count + 1)
    assert all(end - span <= t <= end for t in found)
    assert all(b - a == step for a, b in itertools.pairwise(found))
    local = datetime.fromtimestamp(found[0], zone)
    assert local.second == 0 and (local.hour * 3600 + local.minute * 60) % min(step, 86400) == 0


async def test_the_doctor_names_the_monitored_hosts_and_a_missing_cjk_font(tmp_path):
    import tomli_w

    from assistant.config import parse_config
    from assistant.feature import CheckContext, Status
    from assistant.features.monitor.checks import check_monitor

    async def findings(**monitor):
        hosts = [{"name": "web1", "address": "10.0.0.1", "monitor": True}]
        data = {"ssh": {"hosts": hosts}, "monitor": monitor}
        config = parse_config(tomli_w.dumps(data), {})
        ctx = CheckContext(tmp_path / "c.toml", {}, None, session=None, config=config)  # type: ignore[arg-type]
        return {f.check: f for f in await check_monitor(ctx)}

    found = await findings()
    assert found["monitor"].status is Status.OK and "web1 every 60 s" in found["monitor"].detail
    assert found["monitor.font"].status is Status.OK
    missing = (await findings(font=str(tmp_path / "none.ttf")))["monitor.font"]
    assert missing.status is Status.WARN and "does not exist" in missing.detail


@given(
    st.lists(st.floats(min_value=0, max_value=100), max_size=60),
    st.integers(min_value=0, max_value=4),
    st.floats(min_value=50, max_value=90),
)
def test_fire_and_resolve_alternate_and_respect_duration_and_hysteresis(values, held, clear):
    chosen = rule(for_seconds=60 * held, clear=clear)
    state, firing, streak = RuleState(), False, 0
    for i, value in enumerate(values):
        streak = streak + 1 if value > 90 else 0
        change = step(chosen, state, value, 60.0 * i)
        if change is Change.FIRE:
            assert not firing and streak >= held + 1  # over the threshold for for_seconds
            firing = True
        elif change is Change.RESOLVE:
            assert firing and value <= clear  # only once back past the clear level
            firing = False
        else:
            assert not (firing and value <= clear)  # never stuck firing below clear
            assert firing or streak < held + 1  # never late either
        assert state.firing is firing
