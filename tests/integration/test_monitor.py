"""The monitor: a threshold crossing from a fake probe source on a fake clock (fires after its
duration with the chart of its window, resolves with hysteresis, an unreachable host is an
alert too), and the real probe over the real test sshd: /status HOST with its chart, /graph,
/metrics, the audit, and alerts told to the owner when no alerts feature is there."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import tomli_w
from PIL import Image

from assistant.config import Config, parse_config
from assistant.core.errors import ToolError
from assistant.core.messages import InboundMessage, MessageKind, OutFile, Sender
from assistant.core.ports import Alert, Severity
from assistant.features.monitor.charts import Panel, find_font, render_async
from assistant.features.monitor.series import SeriesStore
from assistant.features.monitor.service import Monitor
from assistant.store.db import Database
from tests.conftest import OWNER
from tests.fakes import sshd as fake_sshd
from tests.helpers import FakeClock, free_port
from tests.integration.test_telegram import OWNER as TG_OWNER
from tests.integration.test_telegram import run_daemon, telegram_config  # noqa: F401


class FakeProbe:
    """The HostProbe port, fed by the test: ``cpu`` is the busy percent the next probe shows;
    ``down``: the next probes fail."""

    def __init__(self) -> None:
        self.cpu = 10.0
        self.down = False
        self.calls = 0
        self._busy = self._idle = 0

    def hosts(self) -> list[str]:
        return ["web1"]

    async def probe(self, host: str, *, timeout: float) -> str:
        self.calls += 1
        if self.down:
            raise ToolError("web1 (10.0.0.1:22) is unreachable: Connection refused")
        self._busy += round(self.cpu * 10)
        self._idle += round((100 - self.cpu) * 10)
        return (
            f"@stat\ncpu {self._busy} 0 0 {self._idle} 0 0 0 0\n@loadavg\n0.1 0.1 0.1 1/1 1\n"
            "@meminfo\nMemTotal: 1000 kB\nMemAvailable: 500 kB\n"
            "@df\nFilesystem 1024-blocks Used Available Capacity Mounted on\n"
            "/dev/vda1 100 40 60 40% /\n"
        )


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, Alert | str]] = []

    async def fire(self, alert: Alert) -> None:
        self.events.append(("fire", alert.key, alert))

    async def resolve(self, key: str, detail: str) -> None:
        self.events.append(("resolve", key, detail))


def monitor_config(tmp_path, **monitor) -> Config:
    data = {
        "assistant": {"state_dir": str(tmp_path / "state")},
        "ssh": {"hosts": [{"name": "web1", "address": "10.0.0.1", "monitor": True}]},
        "monitor": monitor,
    }
    return parse_config(tomli_w.dumps(data), {})


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        image.load()  # decodes the whole picture: a cut file fails here
        return image.size


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


async def test_a_crossing_fires_after_its_duration_and_resolves_below_the_clear_level(tmp_path):
    config = monitor_config(
        tmp_path,
        interval=60,
        unreachable_after=2,
        rules=[
            {
                "metric": "cpu",
                "threshold": 90,
                "for_seconds": 180,
                "clear": 70,
                "severity": "critical",
                "tags": [],
            }
        ],
    )
    (tmp_path / "state").mkdir()
    clock, probe, sink = FakeClock(), FakeProbe(), RecordingSink()
    async with Database(tmp_path / "state" / "state.db") as db:
        store = SeriesStore(db)
        charts = []

        async def chart(host, metric, now, span, threshold):
            points = await store.window(host, metric, now=now, span=span)
            panel = Panel(metric, [(p.at, p.value) for p in points], threshold=threshold)
            png = await render_async(
                f"{host} {metric}",
                [panel],
                zone="UTC",
                start=now - span,
                end=now,
                font=find_font(),
                cache=tmp_path / "mpl",
            )
            charts.append((span, threshold))
            return OutFile("chart.png", png, "image/png", kind="image")

        monitor = Monitor(
            config=lambda: config,
            probe=lambda: probe,
            store=store,
            clock=clock,
            alerts=lambda: sink,
            chart=chart,
        )
        task = asyncio.create_task(monitor.run())

        async def minute(cpu: float | None = None, *, down: bool = False) -> None:
            if cpu is not None:
                probe.cpu = cpu
            probe.down = down
            calls = probe.calls
            clock.advance(60)
            await until(lambda: probe.calls > calls and clock.sleepers == 1)
            await asyncio.sleep(0.05)  # the round's last writes

        await until(lambda: probe.calls == 1 and clock.sleepers == 1)
        probe.cpu = 95
        for _ in range(3):  # over 90 at +60, +120, +180 s: held 120 s so far
            await minute()
            assert sink.events == []
        await minute()  # held 180 s: fires, once
        await minute()
        assert [(e[0], e[1]) for e in sink.events] == [("fire", "monitor:web1:cpu:critical")]
        alert = sink.events[0][2]
        assert isinstance(alert, Alert) and alert.severity is Severity.CRITICAL
        assert alert.host == "web1" and "95" in alert.title and "3 min" in alert.detail
        assert charts == [(3600.0, 90.0)]  # the window that triggered it, threshold drawn
        assert png_size(alert.files[0].data) == (900, 465)  # 6.0 × 3.1 in at 150 dpi
        await minute(80)  # under 90 but above the clear level: still firing
        assert len(sink.events) == 1
        await minute(60)
        assert sink.events[-1][:2] == ("resolve", "monitor:web1:cpu:critical")
        assert "60.0%" in str(sink.events[-1][2])
        # unreachable twice in a row: an alert of its own; answering again resolves it
        await minute(down=True)
        assert len(sink.events) == 2
        await minute(down=True)
        assert sink.events[-1][:2] == ("fire", "monitor:web1:unreachable")
        await minute(10)
        assert sink.events[-1][:2] == ("resolve", "monitor:web1:unreachable")
        assert monitor.hosts["web1"].up and monitor.hosts["web1"].values["cpu"] == 10.0
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


needs_sshd = pytest.mark.skipif(
    fake_sshd.available() is not None, reason=str(fake_sshd.available())
)


@needs_sshd
async def test_the_real_probe_feeds_status_graph_metrics_and_tells_the_owner(
    tmp_path, sshd, make_config, start_harness
):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd.known_hosts_line + "\n")
    clock = FakeClock()
    marker = Path(f"/tmp/assistant-monitor-{uuid.uuid4().hex}")
    config = make_config(
        ssh={
            "known_hosts": str(known_hosts),
            "user": sshd.user,
            "key_file": str(sshd.user_key),
            "hosts": [
                {
                    "name": "box",
                    "address": "127.0.0.1",
                    "port": sshd.port,
                    "monitor": True,
                    "units": ["ssh.service"],
                },
                {"name": "gone", "address": "127.0.0.1", "port": free_port(), "monitor": True},
                {"name": "quiet", "address": "127.0.0.1", "port": sshd.port},
            ],
        },
        monitor={
            "unreachable_after": 1,
            "rules": [
                # allowed outright (a built-in read-only command): runs when the alert fires
                {"hosts": ["box"], "metric": "mem", "threshold": 0, "action": "uptime"},
                # ask-class: an approval first
                {"hosts": ["box"], "metric": "disk", "threshold": 0, "action": f"touch {marker}"},
            ],
        },
    )
    h = await start_harness(config, clock=clock)
    monitor = h.assembly.part("monitor")
    await h.ask("/status box")
    assert "has not been probed yet" in h.channel.sent[-1].text
    await monitor.round()
    clock.advance(60)
    await monitor.round()
    box = monitor.hosts["box"]
    assert box.up and 0 <= box.values["cpu"] <= 100 and "disk:/" in box.values
    assert box.values["unit:ssh.service"] in (0.0, 1.0)
    # no alerts feature here: the owner is told, the memory alert with its chart
    told = [m for m in h.channel.sent if m.chat.chat_id == OWNER]
    texts = "\n".join(m.text for m in told)
    assert "🔴 gone: Unreachable over SSH" in texts and "box: Memory" in texts
    memory_alert = next(m for m in told if "box: Memory" in m.text)
    assert memory_alert.files and png_size(memory_alert.files[0].data)[0] == 900
    # the rules' actions, through the command policy: uptime ran; touch waits for approval
    await until(lambda: any(m.text.startswith("box: exit 0") for m in h.channel.sent))
    ran = next(m.text for m in h.channel.sent if m.text.startswith("box: exit 0"))
    assert "load average" in ran
    await until(lambda: any(m.buttons for m in h.channel.sent))
    card = next(m for m in h.channel.sent if m.buttons)
    assert card.chat.chat_id == OWNER and f"touch {marker}" in card.text
    assert not marker.exists()
    press = InboundMessage(
        chat=card.chat,
        sender=Sender(OWNER, name="Owner"),
        text=card.buttons[0][0].action_id,
        platform_id="press-approve",
        kind=MessageKind.ACTION,
        message_id="1",
    )
    await h.router.submit(press)
    await until(marker.exists)
    marker.unlink()
    await until(lambda: sum(m.text.startswith("box: exit 0") for m in h.channel.sent) == 2)
    # /status HOST: the numbers and a 24-hour chart of three panels
    status = await h.ask("/status box")
    answer = h.channel.sent[-1]
    assert answer.text == status and "CPU: " in status and "Memory: " in status
    assert "ssh.service: " in status
    (chart,) = answer.files
    assert chart.kind == "image" and chart.mime_type == "image/png"
    assert png_size(chart.data) == (900, 1035)  # 6.0 × 6.9 in
    # a host that is not monitored still gets the SSH feature's status (a command run)
    chinese = await h.ask("/status box", language="zh")
    assert "内存：" in chinese and "负载：" in chinese and "前探测" in chinese
    assert (await h.ask("/status quiet")).startswith("quiet: exit 0")
    assert not h.channel.sent[-1].files
    # /graph
    await h.ask("/graph box mem 7d")
    assert png_size(h.channel.sent[-1].files[0].data)[0] == 900
    assert "no metric 'nope'" in await h.ask("/graph box nope")
    assert "not monitored" in await h.ask("/graph quiet cpu")
    assert "Usage: /graph" in await h.ask("/graph box cpu 1y")
    # /metrics
    exposition = h.services.metrics.render({}).decode()
    assert 'assistant_host_up{host="box"} 1.0' in exposition
    assert 'assistant_host_up{host="gone"} 0.0' in exposition
    assert 'assistant_host_value{host="box",metric="mem"}' in exposition
    # audited once for the two probes of box (and once for gone's failure)
    with sqlite3.connect(tmp_path / "state" / "state.db") as db:
        rows = db.execute("SELECT data FROM audit WHERE kind = 'monitor.probe'").fetchall()
    probes = [json.loads(r[0]) for r in rows]
    assert sorted((p["host"], p["ok"]) for p in probes) == [("box", True), ("gone", False)]
    assert "/proc/stat" in probes[0]["command"]


async def test_chinese_labels_are_drawn_with_the_cjk_font_found_by_path():
    from assistant.core import i18n
    from assistant.features.monitor import text

    assert find_font() == "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
    with i18n.using("zh_CN"):
        panels = [
            Panel(text.label(m), [(1_800_000_000 - 60 * i, 40.0 + i % 7) for i in range(1440)])
            for m in ("cpu", "mem", "disk:/var")
        ]
        title = text.label("mem")
    assert [p.label for p in panels] == ["CPU", "内存", "磁盘 /var"]
    # a glyph missing from the font is a warning, and warnings are errors here
    png = await render_async(
        f"web1 — {title}",
        panels,
        zone="Asia/Shanghai",
        start=1_800_000_000 - 86400,
        end=1_800_000_000,
        font=find_font(),
    )
    assert png_size(png) == (900, 1035)


def test_nothing_of_matplotlib_is_imported_until_the_first_chart():
    import subprocess
    import sys

    probe = (
        "import sys, assistant.app, assistant.features.monitor.wiring; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'PIL')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@needs_sshd
async def test_the_daemon_probes_on_start_and_shows_the_host_on_metrics_and_in_telegram(
    tmp_path,
    fake_model,
    bot_api,
    sshd,
    run_daemon,  # noqa: F811
):
    import aiohttp

    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd.known_hosts_line + "\n")
    host = {"name": "box", "address": "127.0.0.1", "port": sshd.port, "monitor": True}
    ssh = {
        "known_hosts": str(known_hosts),
        "user": sshd.user,
        "key_file": str(sshd.user_key),
        "hosts": [host],
    }
    running = await run_daemon(telegram_config(tmp_path, fake_model, bot_api, ssh=ssh))
    url = f"http://127.0.0.1:{running.daemon.gateway.port}/metrics"
    async with aiohttp.ClientSession() as http:

        async def scraped() -> str:
            async with http.get(url) as response:
                return await response.text()

        async with asyncio.timeout(15):  # the component's first round, at start
            text = await scraped()
            while 'assistant_host_up{host="box"} 1.0' not in text:
                await asyncio.sleep(0.05)
                text = await scraped()
    assert 'assistant_host_value{host="box",metric="mem"}' in text
    await bot_api.user_message(TG_OWNER, TG_OWNER, "/status box")
    await bot_api.wait_for(lambda: any("Memory: " in s.text for s in bot_api.sent))
