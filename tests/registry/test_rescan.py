"""Rescans on both configurations: versions stay listed and downloadable under their
last verdict until the new one replaces it, a takedown made meanwhile stands, and
``latest`` is the newest published version in version order, whichever check
finishes last.

"During a rescan" is held open with the registry's own check runners, not a test
hook: the scale-out configuration's Celery worker is stopped (SIGSTOP; its tasks
wait in Redis), the embedded configuration's two check threads are kept busy (the
queued checks wait behind them). Where the order in which checks finish matters, the
test runs the real check pipeline (``Registry.run_checks``) itself in the order it
chooses, as a worker would; the queued tasks that run afterwards find nothing to do.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from openward.registry.client import ClientError
from openward.registry.models import Model, Organisation, Version
from tests.registry.conftest import Server
from tests.registry.test_registry import _model, _same


@contextlib.contextmanager
def checks_paused(server: Server) -> Iterator[None]:
    """No queued check runs inside the block; they all may after it."""
    if server.worker is not None:
        os.killpg(server.worker.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.killpg(server.worker.pid, signal.SIGCONT)
        return
    pool = server.app.state.check_pool
    gate, busy = threading.Event(), threading.Semaphore(0)

    def occupy() -> None:
        busy.release()
        gate.wait(120)

    for _ in range(pool._max_workers):
        pool.submit(occupy)
    try:
        for _ in range(pool._max_workers):  # every check thread is held
            assert busy.acquire(timeout=30)
        yield
    finally:
        gate.set()


def _api(server: Server, method: str, path: str, token: str | None = None,
         body: Any = None) -> httpx.Response:  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, f"{server.url}{path}", headers=headers, json=body, timeout=60)


def _doc(server: Server, ref: str, token: str | None = None) -> dict[str, Any]:
    org_name, _, version = ref.partition(":")
    r = _api(server, "GET", f"/api/v1/models/{org_name}/versions/{version or 'latest'}", token)
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def _version_id(server: Server, org: str, name: str, version: str) -> int:
    with server.app.state.registry.sessions() as s:
        found = s.scalar(select(Version.id).join(Model).join(Organisation).where(
            Organisation.name == org, Model.name == name, Version.version == version
        ))  # fmt: skip
    assert found is not None, f"{org}/{name}:{version}"
    return int(found)


def _rechecks_done(server: Server) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        stats = _api(server, "GET", "/api/v1/admin/stats", server.admin).json()
        if stats["recheck_pending"] == 0 and stats["checking"] == 0:
            return
        time.sleep(0.2)
    raise AssertionError(f"rechecks still pending: {stats}")


def test_versions_stay_downloadable_during_a_rescan(server: Server, tmp_path: Path) -> None:
    admin = server.client(server.admin)
    one, two = _model(tmp_path / "one", seed=21), _model(tmp_path / "two", seed=22)
    assert admin.push(one, "acme/r:1")["status"] == "published"
    assert admin.push(two, "acme/r:2")["status"] == "published"
    with checks_paused(server):
        r = _api(server, "POST", "/api/v1/admin/rescan", server.admin)
        assert r.status_code == 202 and r.json()["queued"] == 2
        stats = _api(server, "GET", "/api/v1/admin/stats", server.admin).json()
        assert stats["recheck_pending"] == 2  # the checks are queued, not done
        # Anonymous users still see, list and pull both versions, latest included.
        for ref, version in (("acme/r:1", "1"), ("acme/r:2", "2"), ("acme/r", "2")):
            doc = _doc(server, ref)
            assert (doc["version"], doc["status"], doc["recheck_pending"]) == (
                version, "published", True)  # fmt: skip
        pulled = server.client().pull("acme/r", tmp_path / "latest")
        assert pulled["version"] == "2" and _same(two, tmp_path / "latest")
        server.client().pull("acme/r:1", tmp_path / "first")
        assert _same(one, tmp_path / "first")
        listed = httpx.get(f"{server.url}/api/v1/models", params={"q": "acme/r"}).json()
        assert sorted(d["version"] for d in listed["results"]) == ["1", "2"]
        page = httpx.get(f"{server.url}/models/acme/r")
        assert page.status_code == 200 and 'data-testid="recheck"' in page.text
    _rechecks_done(server)
    for ref in ("acme/r:1", "acme/r:2"):
        doc = _doc(server, ref, server.admin)
        assert (doc["status"], doc["recheck_pending"]) == ("published", False)
        *_, asked, decided = doc["history"]
        assert "recheck requested" in asked["reasons"][0] and decided["status"] == "published"
    assert _doc(server, "acme/r")["version"] == "2"
    assert 'data-testid="recheck"' not in httpx.get(f"{server.url}/models/acme/r").text


def test_latest_follows_version_order_not_the_order_checks_finish(
    server: Server, tmp_path: Path
) -> None:
    admin = server.client(server.admin)
    for version, seed in (("1", 31), ("2", 32)):
        model = _model(tmp_path / version, seed=seed)
        assert admin.push(model, f"acme/o:{version}")["status"] == "published"
    registry = server.app.state.registry
    first, second = (_version_id(server, "acme", "o", v) for v in ("1", "2"))
    with checks_paused(server):
        assert _api(server, "POST", "/api/v1/admin/rescan", server.admin).status_code == 202
        # The newer version's recheck finishes first, the older one's last.
        registry.run_checks(second)
        assert _doc(server, "acme/o")["version"] == "2"
        registry.run_checks(first)
        assert _doc(server, "acme/o")["version"] == "2"
        assert not _doc(server, "acme/o:1")["recheck_pending"]
    _rechecks_done(server)
    assert _doc(server, "acme/o")["version"] == "2"
    # The same order of first checks: version 2 published first, version 1 after it.
    slow = _model(tmp_path / "3", seed=33)
    with checks_paused(server):
        for version in ("3", "4"):
            (slow / "config.json").write_text(json.dumps({"model_type": "llama", "v": version}))
            assert admin.push(slow, f"acme/o:{version}", wait=0)["status"] == "checking"
        registry.run_checks(_version_id(server, "acme", "o", "4"))
        registry.run_checks(_version_id(server, "acme", "o", "3"))
    assert _doc(server, "acme/o")["version"] == "4"
    _rechecks_done(server)


def test_a_recheck_that_now_fails_hides_the_version_and_a_takedown_meanwhile_stands(
    server: Server, tmp_path: Path
) -> None:
    admin = server.client(server.admin)
    # A model that asks to run its own code: a medium finding, published under the
    # default threshold (high).
    remote = _model(tmp_path / "remote", seed=41)
    (remote / "config.json").write_text(json.dumps(
        {"model_type": "llama", "auto_map": {"AutoModel": "modeling_x.X"}}
    ))  # fmt: skip
    assert admin.push(remote, "acme/q:1")["status"] == "published"
    assert admin.push(_model(tmp_path / "plain", seed=42), "acme/q:2")["status"] == "published"
    registry = server.app.state.registry
    first, second = (_version_id(server, "acme", "q", v) for v in ("1", "2"))
    with checks_paused(server):
        assert _api(server, "POST", "/api/v1/admin/rescan", server.admin).status_code == 202
        r = _api(server, "POST", "/api/v1/models/acme/q/versions/2/takedown", server.admin,
                 {"reason": "licence violation"})  # fmt: skip
        assert r.status_code == 200, r.text
        assert _doc(server, "acme/q")["version"] == "1"  # latest moved off the takedown
        # New rules: medium findings now quarantine.
        registry.settings.fail_on = "medium"
        try:
            registry.run_checks(second)
            registry.run_checks(first)
        finally:
            registry.settings.fail_on = "high"
    # Version 1 failed its recheck: hidden from anonymous users, files refused, no latest.
    r = _api(server, "GET", "/api/v1/models/acme/q/versions/1")
    assert r.status_code == 404
    doc = _doc(server, "acme/q:1", server.admin)
    assert doc["status"] == "quarantined" and not doc["recheck_pending"]
    assert any("remote-code" in reason for reason in doc["reasons"])
    assert _api(server, "GET", "/api/v1/models/acme/q/versions/latest").status_code == 404
    # Version 2's takedown stands: the recheck's verdict did not replace it.
    doc = _doc(server, "acme/q:2")
    assert (doc["status"], doc["reasons"], doc["recheck_pending"]) == (
        "taken-down", ["licence violation"], False)  # fmt: skip
    with pytest.raises(ClientError) as info:
        server.client().pull("acme/q:2", tmp_path / "out")
    assert info.value.status == 451
    _rechecks_done(server)
    assert _doc(server, "acme/q:2")["status"] == "taken-down"
    assert _doc(server, "acme/q:1", server.admin)["status"] == "quarantined"


@pytest.mark.parametrize("server", ["embedded"], indirect=True)
def test_a_restarted_server_finishes_the_rechecks_left_waiting(
    server: Server, tmp_path: Path
) -> None:
    """Rechecks queued in a server that stops before running them are not lost: the
    next server to start on the same data runs them (as it does first checks)."""
    from fastapi.testclient import TestClient

    from openward.registry.app import create_app
    from openward.registry.service import Settings

    model = _model(tmp_path / "m", seed=71)
    assert server.client(server.admin).push(model, "acme/w:1")["status"] == "published"
    with checks_paused(server):  # the first server never gets to them
        assert _api(server, "POST", "/api/v1/admin/rescan", server.admin).status_code == 202
        assert _doc(server, "acme/w:1")["recheck_pending"]
        restarted = create_app(Settings(data=server.data))
        try:
            with TestClient(restarted):  # its start-up enqueues what waits
                _rechecks_done(server)
        finally:
            restarted.state.registry.sessions.kw["bind"].dispose()
    doc = _doc(server, "acme/w:1")
    assert (doc["status"], doc["recheck_pending"]) == ("published", False)
    assert doc["history"][-1]["status"] == "published"
