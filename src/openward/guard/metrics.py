"""Prometheus metrics of a guard process, served at ``/metrics``.

Metrics (each in a registry of the guard's own, not prometheus_client's global one):

- ``openward_guard_requests_total{route,status,action}``: requests handled, by route, HTTP
  status and the guard's action (``allow``, ``flag``, ``redact``, ``block``).
- ``openward_guard_detections_total{detector,action}``: detections, by the policy's detector
  name and the action taken for it.
- ``openward_guard_added_latency_seconds{route}``: histogram of the time the guard itself
  adds to a request (parsing, detectors, usage state), upstream time excluded; buckets from
  0.5 ms to 2.5 s.
- ``openward_guard_upstream_errors_total{kind}``: upstream failures (``unreachable``,
  ``timeout``, ``broken``, ``unreadable``...).
- ``openward_guard_stream_cutoffs_total{detector}``: streamed responses cut off mid-stream.
- ``openward_guard_state_errors_total``: state store (Redis) failures.

Label values that come from requests are bounded, so a client cannot grow the registry: a
route outside ``routes`` is counted as ``other``, an action outside the four as ``other``, a
status outside 100-599 as ``other``.

Several worker processes: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory before the
workers start (prometheus_client then keeps values in files there) and :meth:`render`
aggregates every process's values; clear the directory when the server restarts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram

from openward.guard.types import ACTIONS

__all__ = ["LATENCY_BUCKETS", "ROUTES", "GuardMetrics"]

ROUTES = (
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/responses",
    "/v1/embeddings",
    "/v1/models",
)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class GuardMetrics:
    """The guard's counters and histogram, in a registry of their own (``registry``)."""

    def __init__(self, routes: Iterable[str] = ROUTES) -> None:
        self.routes = frozenset(routes)
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "openward_guard_requests",
            "Requests handled, by route, HTTP status and the guard's action.",
            ["route", "status", "action"],
            registry=self.registry,
        )
        self.detections = Counter(
            "openward_guard_detections",
            "Detections, by detector and the action the policy took.",
            ["detector", "action"],
            registry=self.registry,
        )
        self.added_latency = Histogram(
            "openward_guard_added_latency_seconds",
            "Time the guard itself added to a request (detectors, parsing, state), "
            "upstream excluded.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.upstream_errors = Counter(
            "openward_guard_upstream_errors",
            "Upstream failures: unreachable, timeout, broken stream, unreadable response.",
            ["kind"],
            registry=self.registry,
        )
        self.stream_cutoffs = Counter(
            "openward_guard_stream_cutoffs",
            "Streamed responses cut off mid-stream, by the detector that cut them.",
            ["detector"],
            registry=self.registry,
        )
        self.state_errors = Counter(
            "openward_guard_state_errors",
            "State store (Redis) failures.",
            registry=self.registry,
        )

    def _route(self, route: str) -> str:
        return route if route in self.routes else "other"

    def request(self, route: str, status: int, action: str, added_s: float | None = None) -> None:
        """Count one request; ``added_s`` (when known) goes into the latency histogram."""
        r = self._route(route)
        code = str(status) if 100 <= status <= 599 else "other"
        self.requests.labels(r, code, action if action in ACTIONS else "other").inc()
        if added_s is not None:
            self.added_latency.labels(r).observe(max(0.0, added_s))

    def detection(self, detector: str, action: str) -> None:
        self.detections.labels(detector, action if action in ACTIONS else "other").inc()

    def upstream_error(self, kind: str) -> None:
        self.upstream_errors.labels(kind).inc()

    def stream_cutoff(self, detector: str) -> None:
        self.stream_cutoffs.labels(detector).inc()

    def state_error(self) -> None:
        self.state_errors.inc()

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type, for ``GET /metrics``."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
