"""The operator docs name real metrics and link to pages that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import cast

from assistant.core.metrics import Metrics
from assistant.features.monitor.gauges import HostGauges
from assistant.features.monitor.service import Monitor

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"
# Pages other work in progress writes (channels); remove a name once its page exists.
PENDING: set[str] = set()  # pages linked before they are written


def exposed_names() -> set[str]:
    names = set()
    for metric in Metrics().registry.collect():
        suffixes = {"counter": ["_total"], "histogram": ["", "_bucket", "_count", "_sum"]}
        names.update(metric.name + s for s in suffixes.get(metric.type, [""]))
    names.update(m.name for m in HostGauges(cast(Monitor, SimpleNamespace(hosts={}))).collect())
    return names


def test_operations_doc_and_dashboard_use_real_metric_names():
    known = exposed_names()
    for path in (DOCS / "operations.md", DOCS / "grafana-dashboard.json"):
        used = set(re.findall(r"\bassistant_[a-z_]+", path.read_text()))
        assert used, path
        assert used - known == set(), path.name
    assert "assistant_turn_seconds_bucket" in (DOCS / "operations.md").read_text()


def test_dashboard_is_importable_json():
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) >= 8
    for panel in dashboard["panels"]:
        assert panel["targets"] and all(t["expr"] for t in panel["targets"])


def test_relative_links_point_to_files_that_exist():
    missing = []
    for page in [ROOT / "README.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", page.read_text()):
            if not (page.parent / target).exists() and Path(target).name not in PENDING:
                missing.append(f"{page.name} -> {target}")
    assert missing == []


def test_security_doc_lists_the_read_only_commands_as_the_code_has_them():
    from assistant.security import readonly

    text = (DOCS / "security.md").read_text()
    start = text.index("<!-- readonly:start")
    start = text.index("\n", start) + 1
    end = text.index("<!-- readonly:end -->")
    assert text[start:end] == readonly.markdown(), (
        "docs/security.md's read-only table is stale: paste readonly.markdown() between the markers"
    )


def _blocks(page: str, language: str) -> list[str]:
    """The fenced code blocks of ``page`` in ``language`` ("": those without one)."""
    found: list[str] = []
    current: list[str] | None = None
    fence = ""
    for line in (DOCS / page).read_text().splitlines(keepends=True):
        if current is None and line.startswith("```"):
            current, fence = [], line[3:].strip()
        elif current is not None and line.startswith("```"):
            if fence == language:
                found.append("".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return found


def test_monitoring_doc_config_examples_load_through_the_config_models():
    from assistant.config import parse_config

    examples = "\n".join(_blocks("monitoring.md", "toml"))
    # the hosts the examples name, beside the one they define
    inventory = '[[ssh.hosts]]\nname = "db1"\naddress = "10.0.0.12"\nmonitor = true\n'
    env = {"SMTP_PASSWORD": "p", "ALERT_WEBHOOK_SECRET": "s"}
    config = parse_config(inventory + examples, env)
    assert [h.name for h in config.ssh.hosts if h.monitor] == ["db1", "web1"]
    assert len(config.monitor.rules) == 5 and config.monitor.rules[4].action
    alerts = config.alerts
    assert alerts.enabled and alerts.critical == ["ops", "oncall-mail", "pager"]
    assert all(alerts.route(name) is not None for name in [*alerts.warning, *alerts.critical])


def test_monitoring_doc_shows_what_the_code_writes():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from assistant.config.monitor import MonitorRule
    from assistant.core.ports import Severity
    from assistant.features.alerts.render import Event, Notice, render_text, webhook_body
    from assistant.features.alerts.state import AlertRow, Status
    from assistant.features.monitor import text

    rule = MonitorRule(metric="cpu", threshold=98, for_seconds=600, severity="critical")
    fired = datetime(2026, 12, 3, 14, 2, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
    alert = AlertRow(
        12, "monitor:web1:cpu:critical", Severity.CRITICAL, Status.FIRING,
        text.fired_title(rule, 99.0), text.fired_detail(rule, 99.0, 600), "web1", "monitor",
        {}, fired, 1, None, None, None, None, None, None, None,
    )  # fmt: skip
    notice = Notice(Event.FIRE, alert, buttons=True)
    plain = [b for b in _blocks("monitoring.md", "") if b.startswith("🔴")]
    assert plain == [render_text(notice, "Asia/Shanghai") + "\n"]
    [example] = [json.loads(b) for b in _blocks("monitoring.md", "json")]
    body = webhook_body(notice, "UTC", now=fired, delivery="d")
    assert example.keys() == body.keys()
    assert (example["title"], example["detail"]) == (body["title"], body["detail"])
    status = next(b for b in _blocks("monitoring.md", "") if b.startswith("web1 — probed"))
    values = {
        "cpu": 12.5,
        "load1": 0.52,
        "load5": 0.40,
        "load15": 0.31,
        "mem": 43.1,
        "swap": 0.0,
        "disk:/": 71.2,
        "disk:/var": 40.0,
        "unit:nginx.service": 1.0,
        "uptime": (12 * 24 + 3) * 3600.0,
    }
    assert status.splitlines()[1:] == text.numbers(values)
