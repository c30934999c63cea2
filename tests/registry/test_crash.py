"""kill -9 of the server during an upload and during publication, then a restart:
nothing half-visible, nothing lost, and the client's retry completes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from openward.registry.client import Client
from tests.registry.test_registry import PG_URL, _free_port, _model, _pg_schema, _redis_ok, _same

EXE = Path(sys.executable).with_name("openward")


class Proc:
    def __init__(self, data: Path, port: int, env: dict[str, str] | None = None) -> None:
        self.data, self.port, self.env = data, port, env
        self.worker: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[str] | None = None
        self.token: str | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(EXE), "serve", "--data", str(self.data), "--port", str(self.port), "--json"],
            stdout=subprocess.PIPE, text=True, start_new_session=True, env=self.env,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("the server did not start")
        if self.token is None:
            assert self.proc.stdout is not None
            self.token = json.loads(self.proc.stdout.readline())["admin_token"]

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def start_worker(self) -> None:
        if self.env is not None:
            self.worker = subprocess.Popen([str(EXE), "worker"], env=self.env,
                                           start_new_session=True)  # fmt: skip

    def kill9_worker(self) -> None:
        if self.worker is not None:
            os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait(10)


@pytest.fixture(params=["embedded", "scale-out"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Proc]:
    env = None
    if request.param == "scale-out":
        import secrets

        import boto3

        _redis_ok()
        endpoint = request.getfixturevalue("s3_endpoint")
        bucket = "crash-" + secrets.token_hex(6)
        env = dict(os.environ)
        env.update({
            "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "OPENWARD_DATABASE_URL": f"{PG_URL}?options=-csearch_path%3D{_pg_schema()}",
            "OPENWARD_BLOB_URL": f"s3://{bucket}/m?endpoint_url={endpoint}",
            "OPENWARD_BROKER_URL": "redis://127.0.0.1:6379/0",
            "OPENWARD_QUEUE": "crash-" + secrets.token_hex(6),
            "OPENWARD_DATA": str(tmp_path / "worker"),
            "OPENWARD_REGISTRY_KEY": str(tmp_path / "key.pem"),
        })  # fmt: skip
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",  # noqa: S106 - moto accepts any
        ).create_bucket(Bucket=bucket)
    proc = Proc(tmp_path / "data", _free_port(), env)
    proc.start()
    proc.start_worker()
    yield proc
    if proc.proc is not None and proc.proc.poll() is None:
        proc.kill9()
    proc.kill9_worker()


def test_kill_during_upload_then_retry(server: Proc, tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    big = os.urandom(48 << 20)
    (model / "big.bin").write_bytes(big)
    digest = hashlib.sha256(big).hexdigest()
    client = Client(server.url, server.token)
    files = [{"path": str(p.relative_to(model)), "size": p.stat().st_size,
              "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
             for p in sorted(model.rglob("*")) if p.is_file()]  # fmt: skip
    auth = {"Authorization": f"Bearer {server.token}"}
    r = httpx.post(f"{server.url}/api/v1/models/acme/crash/versions",
                   json={"version": "1", "files": files}, headers=auth)  # fmt: skip
    assert r.status_code == 201

    def slow() -> Iterator[bytes]:
        for i in range(0, len(big), 1 << 20):
            yield big[i : i + (1 << 20)]
            if i == 8 << 20:
                server.kill9()  # mid-stream

    with pytest.raises(httpx.HTTPError):
        httpx.put(f"{server.url}/api/v1/blobs/{digest}", content=slow(), headers=auth,
                  timeout=30)  # fmt: skip
    server.start()
    # The partial upload left nothing: the blob is still missing, and no bytes are held.
    r = httpx.post(f"{server.url}/api/v1/models/acme/crash/versions",
                   json={"version": "1", "files": files}, headers=auth)  # fmt: skip
    assert digest in r.json()["missing"]
    held = httpx.get(f"{server.url}/api/v1/uploads/{digest}", headers=auth).json()["received"]
    assert held == 0
    if server.env is None:
        assert not any((server.data / "tmp").iterdir())  # the temporary file was removed
    # Nothing visible yet, to anyone without the publisher's token.
    assert httpx.get(f"{server.url}/api/v1/models/acme/crash/versions/1").status_code == 404
    result = client.push(model, "acme/crash:1")
    assert result["status"] == "published"
    client.pull("acme/crash:1", tmp_path / "out")
    assert _same(model, tmp_path / "out")


def test_kill_during_publication_then_restart(server: Proc, tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    # Enough pickles that the checks take a moment.
    import pickle

    for i in range(300):
        (model / f"extra_{i}.pkl").write_bytes(pickle.dumps({"i": list(range(2000))}))
    client = Client(server.url, server.token)
    files = [{"path": str(p.relative_to(model)), "size": p.stat().st_size,
              "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
             for p in sorted(model.rglob("*")) if p.is_file()]  # fmt: skip
    auth = {"Authorization": f"Bearer {server.token}"}
    r = httpx.post(f"{server.url}/api/v1/models/acme/pub/versions",
                   json={"version": "1", "files": files}, headers=auth)  # fmt: skip
    by_digest = {f["sha256"]: model / f["path"] for f in files}
    for d in r.json()["missing"]:
        httpx.put(f"{server.url}/api/v1/blobs/{d}", content=by_digest[d].read_bytes(),
                  headers=auth).raise_for_status()  # fmt: skip
    r = httpx.post(f"{server.url}/api/v1/models/acme/pub/versions/1/commit", headers=auth)
    assert r.json()["status"] == "checking"
    server.kill9()
    server.kill9_worker()  # scale-out: the worker doing the checks dies too
    server.start()
    server.start_worker()
    assert httpx.get(f"{server.url}/api/v1/models/acme/pub/versions/1").status_code in (200, 404)
    deadline = time.monotonic() + 60
    status = "checking"
    while status == "checking" and time.monotonic() < deadline:
        time.sleep(0.2)
        status = client.info("acme/pub:1")["status"]
    assert status == "published"
    client.pull("acme/pub:1", tmp_path / "out")
    assert _same(model, tmp_path / "out")
