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
