"""The client sends a blob again when its connection dropped without an answer, and
never when the registry answered with a refusal.

A dropped kept-alive connection is a fault a test cannot cause on demand against a
real server, so the transport is replaced here (httpx's MockTransport)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from openward.registry.client import Client, ClientError


def _model(tmp_path: Path) -> tuple[Path, str]:
    root = tmp_path / "m"
    root.mkdir()
    data = b"weights" * 100
    (root / "w.bin").write_bytes(data)
    return root, hashlib.sha256(data).hexdigest()


def _client(handler: httpx.MockTransport) -> Client:
    client = Client("http://registry.test", "ow_x")
    client.http = httpx.Client(base_url="http://registry.test", transport=handler)
    return client


def test_a_blob_upload_is_sent_again_after_a_dropped_connection(tmp_path: Path) -> None:
    root, digest = _model(tmp_path)
    received: list[bytes] = []
    drops = [1]

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/versions"):
            return httpx.Response(201, json={"status": "uploading", "missing": [digest]})
        if request.method == "PUT":
            body = request.read()
            if drops[0]:
                drops[0] -= 1
                raise httpx.RemoteProtocolError("Server disconnected without sending a response")
            received.append(body)
            return httpx.Response(201, json={"sha256": digest, "size": len(body)})
        if request.url.path.endswith("/commit"):
            return httpx.Response(202, json={"status": "published", "digest": "d" * 64})
        return httpx.Response(404, json={"detail": "unexpected"})

    result = _client(httpx.MockTransport(handle)).push(root, "acme/m:1", wait=1)
    assert result["status"] == "published"
    # The whole blob arrived, once, on the second attempt.
    assert received == [(root / "w.bin").read_bytes()]


def test_a_refused_upload_is_not_sent_again(tmp_path: Path) -> None:
    root, digest = _model(tmp_path)
    puts: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(201, json={"status": "uploading", "missing": [digest]})
        puts.append(1)
        return httpx.Response(507, content=json.dumps({"detail": "no space"}))

    with pytest.raises(ClientError) as err:
        _client(httpx.MockTransport(handle)).push(root, "acme/m:1", wait=1)
    assert err.value.status == 507 and "no space" in str(err.value)
    assert len(puts) == 1
