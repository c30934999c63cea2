"""Guard metrics: the exposition parses with prometheus_client's own parser and shows what was
counted; request-derived labels stay bounded; several processes aggregate in multiprocess
mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from openward.guard.metrics import GuardMetrics

ROOT = Path(__file__).resolve().parents[2]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name, tuple(sorted(s.labels.items()))] = s.value
    return out


def test_exposition_parses_and_shows_the_counts() -> None:
    m = GuardMetrics()
    for _ in range(3):
        m.request("/v1/chat/completions", 200, "allow", 0.002)
    m.request("/v1/chat/completions", 400, "block", 0.004)
    m.request("/v1/completions", 200, "flag", 0.3)
    m.detection("model-extraction", "flag")
    m.detection("model-extraction", "flag")
    m.detection("injection", "block")
    m.upstream_error("timeout")
    m.stream_cutoff("secrets")
    m.state_error()
    body, content_type = m.render()
    assert content_type.startswith("text/plain")
    got = samples(body.decode())
    chat = "/v1/chat/completions"
    req = "openward_guard_requests_total"
    assert got[req, (("action", "allow"), ("route", chat), ("status", "200"))] == 3
    assert got[req, (("action", "block"), ("route", chat), ("status", "400"))] == 1
    det = "openward_guard_detections_total"
    assert got[det, (("action", "flag"), ("detector", "model-extraction"))] == 2
    assert got[det, (("action", "block"), ("detector", "injection"))] == 1
    assert got["openward_guard_upstream_errors_total", (("kind", "timeout"),)] == 1
    assert got["openward_guard_stream_cutoffs_total", (("detector", "secrets"),)] == 1
    assert got["openward_guard_state_errors_total", ()] == 1
    lat = "openward_guard_added_latency_seconds"
    assert got[lat + "_count", (("route", chat),)] == 4
    assert got[lat + "_bucket", (("le", "0.0025"), ("route", chat))] == 3
    assert got[lat + "_bucket", (("le", "0.005"), ("route", chat))] == 4
    assert got[lat + "_bucket", (("le", "0.25"), ("route", "/v1/completions"))] == 0
    assert got[lat + "_sum", (("route", "/v1/completions"),)] == 0.3


def test_request_derived_labels_are_bounded() -> None:
    m = GuardMetrics()
    for i in range(50):
        m.request(f"/v1/anything/{i}", 404, "allow")
        m.request("/v1/chat/completions", 200, f"made-up-{i}")
    got = samples(m.render()[0].decode())
    routes = {dict(k[1]).get("route") for k in got if k[0] == "openward_guard_requests_total"}
    actions = {dict(k[1]).get("action") for k in got if k[0] == "openward_guard_requests_total"}
    assert routes == {"other", "/v1/chat/completions"}
    assert actions == {"allow", "other"}


def test_each_guard_metrics_has_its_own_registry() -> None:
    a, b = GuardMetrics(), GuardMetrics()  # a second instance must not clash (tests, reloads)
    a.detection("burst", "flag")
    assert "openward_guard_detections_total" in a.render()[0].decode()
    assert "openward_guard_detections_total{" not in b.render()[0].decode()
    assert not any(n.startswith("openward_guard") for n in REGISTRY._names_to_collectors)


_MULTIPROCESS = """
import multiprocessing, sys
from openward.guard.metrics import GuardMetrics

def work(n):
    m = GuardMetrics()
    for _ in range(n):
        m.request("/v1/chat/completions", 200, "allow", 0.001)
        m.detection("burst", "flag")

if __name__ == "__main__":
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=work, args=(n,)) for n in (5, 7)]
    for p in procs: p.start()
    for p in procs: p.join()
    sys.stdout.write(GuardMetrics().render()[0].decode())
"""


def test_multiprocess_mode_aggregates_workers(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", _MULTIPROCESS], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    got = samples(out.stdout)
    det = "openward_guard_detections_total"
    assert got[det, (("action", "flag"), ("detector", "burst"))] == 12
