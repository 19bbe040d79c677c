"""Prometheus metrics, on a registry of our own (no process-global state)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

PerPerson = Callable[[], tuple[dict[str, int], dict[str, int]]]

_TURN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_MODEL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.received = Counter(
            "assistant_messages_received", "Messages received", ["channel"], registry=r
        )
        self.answered = Counter(
            "assistant_messages_answered", "Messages answered", ["channel"], registry=r
        )
        self.turn_seconds = Histogram(
            "assistant_turn_seconds", "Turn latency", buckets=_TURN_BUCKETS, registry=r
        )
        self.model_seconds = Histogram(
            "assistant_model_request_seconds",
            "Model request latency",
            ["provider"],
            buckets=_MODEL_BUCKETS,
            registry=r,
        )
        self.model_errors = Counter(
            "assistant_model_errors", "Model request errors", ["provider", "kind"], registry=r
        )
        self.tool_calls = Counter(
            "assistant_tool_calls", "Tool calls", ["tool", "outcome"], registry=r
        )
        self.tokens = Counter(
            "assistant_tokens", "Model tokens used", ["provider", "kind"], registry=r
        )
        self.dropped = Counter(
            "assistant_messages_dropped",
            "Messages recorded and dropped by a limit",
            ["channel", "reason"],
            registry=r,
        )
        self.budget_refusals = Counter(
            "assistant_token_budget_refusals",
            "Turns refused because the sender's daily token budget was used up",
            ["channel"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "assistant_queue_depth", "Messages waiting or in a turn", registry=r
        )
        self.gateway_connections = Gauge(
            "assistant_gateway_connections", "Connections open to the gateway", registry=r
        )
        self.gateway_closed = Counter(
            "assistant_gateway_connections_closed",
            "Gateway connections closed or refused by a limit",
            ["reason"],
            registry=r,
        )
        self.component_up = Gauge(
            "assistant_component_up", "1 when a component is ready", ["component"], registry=r
        )
        self.user_tokens = UserTokens()
        r.register(self.user_tokens)

    def render(self, components_up: dict[str, bool]) -> bytes:
        for name, up in components_up.items():
            self.component_up.labels(name).set(1 if up else 0)
        return generate_latest(self.registry)


class UserTokens(Collector):
    """Tokens of today's turns and the daily budget, per person: read at each scrape from
    ``source`` (set by the token budget), as ({person: tokens}, {person: budget})."""

    def __init__(self) -> None:
        self.source: PerPerson = lambda: ({}, {})

    def collect(self) -> Iterator[GaugeMetricFamily]:
        used, budgets = self.source()
        tokens = GaugeMetricFamily(
            "assistant_user_tokens_today",
            "Model tokens of today's turns, per person",
            labels=["user"],
        )
        for who, count in sorted(used.items()):
            tokens.add_metric([who], count)
        limit = GaugeMetricFamily(
            "assistant_user_token_budget",
            "Daily token budget, per person who has one",
            labels=["user"],
        )
        for who, count in sorted(budgets.items()):
            limit.add_metric([who], count)
        yield tokens
        yield limit
