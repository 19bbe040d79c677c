"""Issue 18 end to end, every part together in one daemon on a fake clock: a monitored host
probed over the real SSH path (the test sshd; the probe key's forced command prints what the
test injects), a critical rule that fires after its duration with the chart of its window
(in Telegram one photo: the chart, the alert as its caption and the Acknowledge button),
routes [Telegram chat → email → webhook → Feishu group], the button pressed, the resolve
told on every route reached, a maintenance window, and /status HOST and /graph answered with
pictures on Telegram and Feishu."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import tomli_w

from assistant.config import Config, parse_config
from tests.conftest import until
from tests.fakes import sshd as fake_sshd
from tests.fakes.feishu import FakeFeishu
from tests.fakes.hook import HookReceiver
from tests.fakes.smtp import FakeSMTP
from tests.fakes.telegram import FakeBotAPI
from tests.helpers import FakeClock, running_daemons
from tests.integration import feishu_support
from tests.integration.feishu_support import FeishuRunning, feishu
from tests.integration.test_alerts import alerts_config, hook, smtp
from tests.integration.test_monitor import png_size
from tests.integration.test_telegram import OWNER

__all__ = ["feishu", "hook", "smtp"]  # fixtures

INTERVAL = 30.0
ACK = 300.0
CHART = (900, 465)  # one panel: 6.0 × 3.1 in at 150 dpi
STATUS_CHART = (900, 1035)  # three panels

needs_sshd = pytest.mark.skipif(
    fake_sshd.available() is not None, reason=str(fake_sshd.available())
)


class ProbeSource:
    """What the host's probe prints: a file the probe key's forced command shows. ``set(cpu)``
    writes the next reading (cumulative /proc/stat counters that make ``cpu`` percent busy
    since the previous one)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "probe.txt"
        self._busy = self._idle = 0
        self.set(10)

    def set(self, cpu: float) -> None:
        self._busy += round(cpu * 10)
        self._idle += round((100 - cpu) * 10)
        self.path.write_text(
            f"@stat\ncpu {self._busy} 0 0 {self._idle} 0 0 0 0\n@loadavg\n0.5 0.4 0.3 1/90 7\n"
            "@meminfo\nMemTotal: 2000000 kB\nMemAvailable: 1500000 kB\n@uptime\n86400.0 1.0\n"
            "@df\nFilesystem 1024-blocks Used Available Capacity Mounted on\n"
            "/dev/vda1 100 40 60 40% /\n"
        )
        self.path.chmod(0o644)

    def key(self, sshd: fake_sshd.Sshd) -> Path:
        """A key whose every command prints the file (after the PID line the executor reads)."""
        key = sshd.directory / "probe_key"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "probe", "-f", str(key)],
            check=True,
        )
        public = Path(f"{key}.pub").read_text().strip()
        authorized = sshd.directory / "keys" / f"authorized_keys_{sshd.user}"
        forced = f'restrict,command="echo $$; cat {self.path}" {public}\n'
        authorized.write_text(authorized.read_text() + forced)
        return key


def fleet_config(
    tmp_path: Path,
    fake_model: Any,
    bot_api: FakeBotAPI,
    fake: FakeFeishu,
    sshd: fake_sshd.Sshd,
    key: Path,
    smtp: FakeSMTP,
    hook: HookReceiver,
) -> Config:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd.known_hosts_line + "\n")
    data = feishu_support.config_data(tmp_path, fake_model, fake)
    data["telegram"] = {
        "enabled": True,
        "token": bot_api.token,
        "api_base": bot_api.base_url,
        "poll_timeout": 1,
        "stream": False,
        "rate_limit": 0,
    }
    data["access"]["owners"] = [f"telegram:{OWNER}", f"feishu:{feishu_support.OWNER}"]
    data["ssh"] = {
        "known_hosts": str(known_hosts),
        "user": sshd.user,
        "key_file": str(key),
        "hosts": [{"name": "web1", "address": "127.0.0.1", "port": sshd.port, "monitor": True}],
    }
    data["monitor"] = {
        "interval": INTERVAL,
        "rules": [
            {
                "hosts": ["web1"],
                "metric": "cpu",
                "threshold": 90,
                "for_seconds": 90,
                "clear": 70,
                "severity": "critical",
            }
        ],
    }
    alerts = alerts_config(
        smtp, hook, ack_timeout=ACK, cooldown=0, critical=["team", "mail", "pager", "ops"]
    )
    alerts["chat"].append({"name": "ops", "chats": [f"feishu:{feishu_support.GROUP}"]})
    data["alerts"] = alerts
    data["web"] = {"allow_networks": ["127.0.0.1/32"]}  # the webhook receiver, past the guard
    return parse_config(tomli_w.dumps(data), {})


@pytest.fixture
async def run_daemon():
    async for start in running_daemons(FeishuRunning):
        yield start


@needs_sshd
async def test_a_crossing_alerts_escalates_is_acknowledged_resolves_and_charts_everywhere(
    tmp_path, fake_model, bot_api, feishu, sshd, smtp, hook, run_daemon
):
    clock = FakeClock()
    hook.clock = clock
    source = ProbeSource(sshd.directory)
    config = fleet_config(tmp_path, fake_model, bot_api, feishu, sshd, source.key(sshd), smtp, hook)
    running = await run_daemon(config, clock=clock)
    daemon = running.daemon
    await asyncio.wait_for(_telegram_ready(daemon), 10)
    monitor = daemon.assembly.part("monitor")
    alerts = daemon.assembly.part("alerts")

    async def round_done() -> None:
        async with asyncio.timeout(10):  # the monitor's round ran and it sleeps again
            while not clock.sleeping("monitor"):
                await asyncio.sleep(0.005)

    async def tick(cpu: float, seconds: float = INTERVAL) -> None:
        """The next probe shows ``cpu`` percent, ``seconds`` later."""
        source.set(cpu)
        clock.advance(seconds)
        await round_done()

    await round_done()  # the round at start: the first reading
    assert monitor.hosts["web1"].up

    # over 90 % for 90 s: fires on the fourth probe over, not before
    for _ in range(3):
        await tick(95)
    assert await alerts.open() == [] and bot_api.sent == []
    await tick(95)
    [card] = await bot_api.wait_sent(1)  # one message: the chart, its caption and the button
    assert card.chat_id == OWNER and card.file is not None and card.file.kind == "photo"
    assert card.file.mime_type == "image/png" and png_size(card.file.data) == CHART
    headline = "🔴 CRITICAL · web1: CPU 95.0% (> 90.0%)"
    assert card.text.splitlines()[0] == headline
    assert card.text.splitlines()[1] == "CPU has been > 90.0% for 1 min; now 95.0%."
    assert "Acknowledge with the button or /ack 1." in card.text
    button = card.reply_markup["inline_keyboard"][0][0]
    assert (button["text"], button["callback_data"]) == ("Acknowledge", "alert:ack:1")

    # nobody acknowledged: email (the chart attached), then the webhook (signature checked)
    await tick(95, ACK)
    mail = (await smtp.wait(1))[0].message
    assert mail["Subject"] == headline
    assert "Escalated to route 2 of 4" in mail.get_body(("plain",)).get_content()
    [attached] = list(mail.iter_attachments())
    assert attached.get_filename() == "chart.png" and attached.get_content_type() == "image/png"
    assert png_size(attached.get_content()) == CHART
    await tick(95, ACK)
    event = (await hook.wait(1))[0]
    assert (event["event"], event["id"], event["step"], event["routes"]) == ("escalate", 1, 3, 4)
    assert event["files"] == ["chart.png"] and event["title"] == "CPU 95.0% (> 90.0%)"
    assert hook.refused == 0

    # Acknowledge, pressed in Telegram: the routes reached are told; the Feishu group never is
    await bot_api.press(OWNER, OWNER, "alert:ack:1", card.message_id)
    await bot_api.wait_for(lambda: bot_api.callback_answers)
    answer = bot_api.callback_answers[0]["text"]
    assert answer == "Alert #1 acknowledged: it will not escalate further."
    await bot_api.wait_for(lambda: bot_api.edits)  # the caption, without the button
    assert card.text.splitlines()[-1] == "👌 Acknowledged by Ann." and not card.reply_markup
    told = (await bot_api.wait_sent(2))[1]
    assert told.text.startswith("👌 ACKNOWLEDGED · web1") and "by Ann" in told.text
    assert (await smtp.wait(2))[1].message["Subject"].startswith("👌 ACKNOWLEDGED")
    assert (await hook.wait(2))[1]["event"] == "ack"
    await tick(95, ACK)
    await tick(95, ACK)
    records = await daemon.services.audit.tail(100)
    kinds = [r.kind for r in records if r.kind.startswith("alert.")]
    assert kinds == ["alert.escalated", "alert.escalated", "alert.acknowledged"]
    ack = next(r for r in records if r.kind == "alert.acknowledged")
    assert ack.actor == f"telegram:{OWNER}" and ack.data["routes_reached"] == 3

    # under the threshold but over the clear level: still firing; below it: resolved
    await tick(80)
    await tick(60)
    resolved = (await bot_api.wait_sent(3))[2]
    assert resolved.text.startswith("✅ RESOLVED · web1: CPU 95.0%")
    assert "web1: CPU is back to 60.0%." in resolved.text
    assert (await smtp.wait(3))[2].message["Subject"].startswith("✅ RESOLVED")
    assert (await hook.wait(3))[2]["event"] == "resolve"
    assert [s for s in feishu.sent if s.chat_id == feishu_support.GROUP] == []

    # a maintenance window: a second crossing is recorded, held back, and never told
    await bot_api.user_message(OWNER, OWNER, "/silence web* 2h")
    assert (await bot_api.wait_sent(4))[3].text.startswith("Silence #1: alerts matching")
    for _ in range(4):
        await tick(97)

    async def held() -> bool:
        return [(r.id, r.held_by, r.notified) for r in await alerts.open()] == [(2, "silence:1", 0)]

    await until(held)
    await tick(50)
    assert await alerts.open() == []
    await asyncio.sleep(0.2)  # what a loop might still send, it would have by now
    assert len(bot_api.sent) == 4 and len(smtp.received) == 3 and len(hook.accepted) == 3

    # /status HOST and /graph answer with pictures: a photo with its caption on Telegram
    await bot_api.user_message(OWNER, OWNER, "/status web1")
    status = (await bot_api.wait_sent(5))[4]
    assert status.file is not None and status.file.kind == "photo"
    assert png_size(status.file.data) == STATUS_CHART
    assert status.text.startswith("web1 — probed") and "CPU: 50.0%" in status.text
    await bot_api.user_message(OWNER, OWNER, "/graph web1 cpu 24h")
    graph = (await bot_api.wait_sent(6))[5]
    assert graph.file is not None and png_size(graph.file.data) == CHART
    assert graph.text == "web1 · CPU · 24h"

    # …and on Feishu (in Chinese, the chart's title too): the image uploaded, an image
    # message, then the text
    async with aiohttp.ClientSession() as http:
        for n, command in enumerate(("/status web1", "/graph web1 cpu 24h"), start=1):
            event = feishu.message_event(
                chat_id=feishu_support.OWNER_CHAT, sender=feishu_support.OWNER, text=command
            )
            status_code, _ = await feishu.post_webhook(http, running.url, event)
            assert status_code == 200
            await feishu.wait_for(
                lambda n=n: (
                    len([s for s in feishu.sent if s.chat_id == feishu_support.OWNER_CHAT]) >= 2 * n
                )
            )
    image, text, graph_image, graph_text = [
        s for s in feishu.sent if s.chat_id == feishu_support.OWNER_CHAT
    ]
    assert [s.msg_type for s in (image, text, graph_image, graph_text)] == [
        "image",
        "text",
        "image",
        "text",
    ]
    uploaded = feishu.upload_of(image)
    assert uploaded is not None and png_size(uploaded.data) == STATUS_CHART
    assert text.text.startswith("web1 — 0 分钟前探测") and "CPU：50.0%" in text.text  # Feishu: zh
    graph_upload = feishu.upload_of(graph_image)
    assert graph_upload is not None and png_size(graph_upload.data) == CHART
    assert graph_text.text == "web1 · CPU · 24h"


async def _telegram_ready(daemon: Any) -> None:
    while daemon.health.snapshot().get("channel.telegram", {}).get("state") != "ready":
        await asyncio.sleep(0.01)
