"""The monitored hosts on /metrics, read from the monitor's last probes at each scrape:
``assistant_host_value{host, metric}``, ``assistant_host_up{host}`` and
``assistant_host_probe_seconds{host}``."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from assistant.features.monitor.service import Monitor


class HostGauges(Collector):
    def __init__(self, monitor: Monitor) -> None:
        self._monitor = monitor

    def collect(self) -> Iterator[GaugeMetricFamily]:
        values = GaugeMetricFamily(
            "assistant_host_value",
            "The last successful probe's value of a monitored host's metric (percent, load, "
            "seconds, 1/0 for a unit's active state); see assistant_host_up for its freshness",
            labels=["host", "metric"],
        )
        up = GaugeMetricFamily(
            "assistant_host_up",
            "1 when the last probe of a monitored host succeeded",
            labels=["host"],
        )
        seconds = GaugeMetricFamily(
            "assistant_host_probe_seconds", "Wall time of a host's last probe", labels=["host"]
        )
        for host, state in sorted(self._monitor.hosts.items()):
            up.add_metric([host], 1 if state.up else 0)
            if state.at is not None:
                seconds.add_metric([host], state.seconds)
            for metric, value in sorted(state.values.items()):
                values.add_metric([host, metric], value)
        yield values
        yield up
        yield seconds
