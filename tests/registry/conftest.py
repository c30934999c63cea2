"""Fixtures shared by the registry tests."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from openward.registry.app import create_app
from openward.registry.client import Client
from openward.registry.service import Settings


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A local S3-compatible server (moto's server mode) for the whole session."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def _bounded_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """A check that never finishes fails the test in 90 s instead of ten minutes."""
    import openward.registry.client as client_module

    monkeypatch.setattr(client_module, "DEFAULT_WAIT", 90.0)


PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_schema() -> str:
    try:
        import psycopg

        conn = psycopg.connect(host="127.0.0.1", port=5432, dbname="test", user="postgres",
                               connect_timeout=3, autocommit=True)  # fmt: skip
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL must be reachable under CI: {exc}")
        pytest.skip(f"PostgreSQL not reachable at 127.0.0.1:5432 ({type(exc).__name__})")
    schema = "ow_" + secrets.token_hex(6)
    with conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return schema


@dataclass
class Server:
    url: str
    admin: str
    data: Path
    settings: Settings | None = None
    """What the server was started with (``create_app(settings)`` starts it again)."""
    app: Any = field(default=None, repr=False)
    """The FastAPI app the server runs (in this process)."""
    worker: subprocess.Popen[bytes] | None = None
    """The scale-out configuration's Celery worker (its own process group)."""

    def client(self, token: str | None = None) -> Client:
        return Client(self.url, token)

    def user(self, name: str, org: str | None, role: str) -> str:
        body = {"name": name, "organisation": org, "role": role}
        auth = {"Authorization": f"Bearer {self.admin}"}
        r = httpx.post(f"{self.url}/api/v1/users", json=body, headers=auth)
        assert r.status_code == 201, r.text
        return str(r.json()["token"])


def _redis_ok() -> None:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            assert sock.recv(16).startswith(b"+PONG")
    except (OSError, AssertionError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis must be reachable under CI: {exc}")
        pytest.skip("Redis not reachable at 127.0.0.1:6379")


@pytest.fixture(params=["embedded", "scale-out"])
def server(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Server]:
    """The same API on the embedded configuration (SQLite, files, in-process checks) and
    the scale-out one (PostgreSQL, S3 via moto, Celery worker processes on Redis).

    ``@pytest.mark.registry_settings(name=value, ...)`` overrides ``Settings`` fields."""
    import sys

    import uvicorn

    settings = Settings(data=tmp_path / "data")
    worker = None
    if request.param == "scale-out":
        _redis_ok()
        endpoint = request.getfixturevalue("s3_endpoint")
        import boto3

        bucket = "ow-" + secrets.token_hex(6)
        env = {
            "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "OPENWARD_DATABASE_URL": f"{PG_URL}?options=-csearch_path%3D{_pg_schema()}",
            "OPENWARD_BLOB_URL": f"s3://{bucket}/models?endpoint_url={endpoint}",
            "OPENWARD_BROKER_URL": "redis://127.0.0.1:6379/0",
            "OPENWARD_QUEUE": "checks-" + secrets.token_hex(6),
            "OPENWARD_DATA": str(tmp_path / "worker"),
            "OPENWARD_REGISTRY_KEY": str(tmp_path / "registry-key.pem"),
        }  # fmt: skip
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
            Bucket=bucket
        )
        settings = Settings(
            data=tmp_path / "data", database_url=env["OPENWARD_DATABASE_URL"],
            blob_url=env["OPENWARD_BLOB_URL"], broker_url=env["OPENWARD_BROKER_URL"],
            key_path=Path(env["OPENWARD_REGISTRY_KEY"]),
        )  # fmt: skip
    marker = request.node.get_closest_marker("registry_settings")
    if marker is not None:
        settings = replace(settings, **marker.kwargs)
        if settings.policy is not None:  # the workers check versions under it too
            monkeypatch.setenv("OPENWARD_POLICY", str(settings.policy))
    app = create_app(settings)
    if request.param == "scale-out":
        exe = Path(sys.executable).with_name("openward")
        log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - closed at teardown
        worker = subprocess.Popen([str(exe), "worker", "--concurrency", "2"],
                                  env=dict(os.environ), start_new_session=True,
                                  stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    admin = app.state.registry.bootstrap_admin()
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield Server(f"http://127.0.0.1:{port}", admin, tmp_path / "data", settings, app, worker)
    srv.should_exit = True
    thread.join(10)
    app.state.registry.sessions.kw["bind"].dispose()  # PostgreSQL allows 100 connections
    if worker is not None:
        import signal

        if worker.poll() is not None:
            print((tmp_path / "worker.log").read_text(errors="replace")[-3000:])
            pytest.fail(f"the worker exited early with status {worker.returncode}")
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
        assert worker.stdout is None
        log.close()
