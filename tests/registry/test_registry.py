"""The registry end to end over real HTTP (uvicorn on loopback), on SQLite and on
PostgreSQL: push/pull, dedup, quarantine, digests, authorization, hostile manifests."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import httpx
import pytest

from openward.registry.client import ClientError
from tests.registry.conftest import PG_URL, Server, _free_port, _pg_schema, _redis_ok

__all__ = ["PG_URL", "Server", "_free_port", "_model", "_pg_schema", "_redis_ok", "_same"]


def _model(root: Path, seed: int = 0, extra: dict[str, bytes] | None = None) -> Path:
    from openward._samples import _safetensors_bytes

    root.mkdir(parents=True, exist_ok=True)
    rng = __import__("random").Random(seed)
    for i in (1, 2):
        tensors = {f"layers.{i}.w": ("F32", [128, 128], rng.randbytes(128 * 128 * 4))}
        (root / f"model-0000{i}-of-00002.safetensors").write_bytes(_safetensors_bytes(tensors))
    (root / "config.json").write_text(json.dumps({"model_type": "llama", "num_hidden_layers": 2}))
    (root / "sub").mkdir(exist_ok=True)
    (root / "sub" / "tokenizer.json").write_text('{"model": {}}')
    for name, data in (extra or {}).items():
        (root / name).write_bytes(data)
    return root


def _same(a: Path, b: Path) -> bool:
    def files(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in root.rglob("*") if p.is_file()}  # fmt: skip

    return files(a) == files(b)


def test_push_pull_round_trip_and_dedup(server: Server, tmp_path: Path) -> None:
    client = server.client(server.admin)
    base = _model(tmp_path / "base")
    result = client.push(base, "acme/tiny:1.0")
    assert {"name", "version", "digest", "status"} <= set(result)
    assert result["status"] == "published", result
    total = sum(p.stat().st_size for p in base.rglob("*") if p.is_file())
    assert result["uploaded_bytes"] == total
    out = tmp_path / "pulled"
    pulled = server.client().pull("acme/tiny", out)  # anonymous: published is public
    assert pulled["version"] == "1.0" and _same(base, out)
    # A fine-tune sharing everything but one shard uploads only that shard.
    tuned = _model(tmp_path / "tuned")
    shard = tuned / "model-00002-of-00002.safetensors"
    from openward._samples import _safetensors_bytes

    shard.write_bytes(_safetensors_bytes({"layers.2.w": ("F32", [128, 128], bytes(65536))}))

    def received() -> int:
        r = httpx.get(f"{server.url}/api/v1/admin/stats",
                      headers={"Authorization": f"Bearer {server.admin}"})  # fmt: skip
        return int(r.json()["bytes_received"])

    assert received() == total
    second = client.push(tuned, "acme/tiny:1.1")
    assert second["status"] == "published"
    assert second["uploaded_bytes"] == shard.stat().st_size
    assert received() == total + shard.stat().st_size  # counted by the server
    # An unchanged re-push uploads nothing; versions are immutable.
    assert client.push(base, "acme/tiny:1.0")["uploaded_bytes"] == 0
    with pytest.raises(ClientError, match="immutable") as info:
        client.push(tuned, "acme/tiny:1.0")
    assert info.value.status == 409
    # latest moved to 1.1
    assert server.client().info("acme/tiny")["version"] == "1.1"


def test_poisoned_model_is_quarantined_and_its_files_refused(
    server: Server, tmp_path: Path
) -> None:
    import os as os_module
    import pickle

    marker = tmp_path / "marker"

    class Evil:
        def __reduce__(self) -> tuple[object, ...]:
            return (os_module.system, (f"touch {marker}",))

    model = _model(tmp_path / "bad", extra={"pytorch_model.bin": pickle.dumps(Evil(), protocol=2)})
    result = server.client(server.admin).push(model, "acme/bad:1")
    assert result["status"] == "quarantined"
    assert any(
        "pickle-dangerous-global" in r and "pytorch_model.bin" in r for r in result["reasons"]
    )
    with pytest.raises(ClientError, match="quarantined") as info:
        server.client(server.admin).pull("acme/bad:1", tmp_path / "out")
    assert info.value.status == 403
    r = httpx.get(f"{server.url}/api/v1/models/acme/bad/versions/1/files/pytorch_model.bin",
                  headers={"Authorization": f"Bearer {server.admin}"})  # fmt: skip
    assert r.status_code == 403 and "quarantined" in r.json()["detail"]
    # Invisible to the public.
    assert httpx.get(f"{server.url}/api/v1/models/acme/bad/versions/1").status_code == 404
    assert not marker.exists()


def test_digest_mismatch_and_hostile_manifests(server: Server, tmp_path: Path) -> None:
    auth = {"Authorization": f"Bearer {server.admin}"}
    data = b"hello world"
    digest = hashlib.sha256(data).hexdigest()
    manifest = {"version": "1", "files": [{"path": "a.bin", "size": len(data), "sha256": digest}]}
    r = httpx.post(f"{server.url}/api/v1/models/acme/m/versions", json=manifest, headers=auth)
    assert r.status_code == 201 and r.json()["missing"] == [digest]
    r = httpx.put(f"{server.url}/api/v1/blobs/{digest}", content=b"hello WORLD", headers=auth)
    assert r.status_code == 422 and "hash to" in r.json()["detail"]
    r = httpx.put(f"{server.url}/api/v1/blobs/{digest}", content=data + b"!", headers=auth)
    assert r.status_code == 413
    r = httpx.post(f"{server.url}/api/v1/models/acme/m/versions/1/commit", headers=auth)
    assert r.status_code == 409 and "not uploaded" in r.json()["detail"]
    assert (
        not any((server.data / "blobs").rglob(digest)) if (server.data / "blobs").exists() else True
    )
    hostile = [
        ("../etc/passwd", 1, 422),
        ("/abs", 1, 422),
        ("a/../../b", 1, 422),
        ("ok.bin", -1, 422),
        ("ok.bin", 1 << 62, 413),
        ("a\\b", 1, 422),
    ]
    for path, size, code in hostile:
        bad = {"version": "2", "files": [{"path": path, "size": size, "sha256": digest}]}
        r = httpx.post(f"{server.url}/api/v1/models/acme/m/versions", json=bad, headers=auth)
        assert r.status_code == code, (path, r.text)


def test_authorization_matrix(server: Server, tmp_path: Path) -> None:
    alice = server.user("alice", "acme", "publisher")
    assert server.user("alice", "acme", "publisher") != alice  # a second token, same role
    bob = server.user("bob", "other", "publisher")
    carol = server.user("carol", "acme", "reader")
    model = _model(tmp_path / "m")
    assert server.client(alice).push(model, "acme/x:1")["status"] == "published"
    for token, ref, status in [
        (bob, "acme/x:2", 403),      # a publisher of another organisation
        (carol, "acme/x:2", 403),    # a reader
        (None, "acme/x:2", 401),     # anonymous
        ("ow_nonsense", "acme/x:2", 401),
    ]:  # fmt: skip
        with pytest.raises(ClientError) as info:
            server.client(token).push(model, ref)
        assert info.value.status == status, (token, ref)
    assert server.client(bob).push(model, "other/x:1")["status"] == "published"
    r = httpx.post(f"{server.url}/api/v1/users", json={"name": "eve", "role": "admin"},
                   headers={"Authorization": f"Bearer {alice}"})  # fmt: skip
    assert r.status_code == 403


def test_concurrent_pushes_of_the_same_blobs(server: Server, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    model = _model(tmp_path / "m", seed=3)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(
            lambda i: server.client(server.admin).push(model, f"acme/c:{i}"), range(4)
        ))  # fmt: skip
    assert [(r["status"], r["reasons"]) for r in results] == [("published", [])] * 4
    out = tmp_path / "out"
    server.client().pull("acme/c:3", out)
    assert server.client().info("acme/c:latest")["version"] in {"0", "1", "2", "3"}
    assert _same(model, out)


def test_many_concurrent_pulls(server: Server, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    model = _model(tmp_path / "m", seed=5)
    assert server.client(server.admin).push(model, "acme/popular:1")["status"] == "published"
    with ThreadPoolExecutor(20) as pool:
        outs = list(pool.map(
            lambda i: server.client().pull("acme/popular:1", tmp_path / f"o{i}"), range(20)
        ))  # fmt: skip
    assert len(outs) == 20
    assert all(_same(model, tmp_path / f"o{i}") for i in range(20))


def test_decisions_are_signed_and_rescans_recheck(server: Server, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from openward.signing.attest import read_attestation

    model = _model(tmp_path / "m", seed=7)
    result = server.client(server.admin).push(model, "acme/signed:1")
    att = httpx.get(f"{server.url}/api/v1/models/acme/signed/versions/1/attestation")
    assert att.status_code == 200
    key = load_pem_public_key(httpx.get(f"{server.url}/api/v1/registry/key").content)
    path = tmp_path / "decision.json"
    path.write_text(att.text)
    decision = read_attestation(path, {"registry": key})  # type: ignore[dict-item]
    assert decision.signer == "registry"
    assert decision.predicate_type == "https://openward.dev/attestation/registry-decision/v1"
    assert decision.subject_digest == result["digest"]
    assert decision.predicate["status"] == "published"
    auth = {"Authorization": f"Bearer {server.admin}"}
    assert httpx.post(f"{server.url}/api/v1/admin/rescan").status_code == 401
    r = httpx.post(f"{server.url}/api/v1/admin/rescan", headers=auth)
    assert r.status_code == 202 and r.json()["queued"] >= 1
    deadline = time.monotonic() + 60
    info = server.client(server.admin).info("acme/signed:1")
    while info["recheck_pending"] and time.monotonic() < deadline:
        assert info["status"] == "published"  # visible under its verdict meanwhile
        time.sleep(0.2)
        info = server.client(server.admin).info("acme/signed:1")
    assert info["status"] == "published" and not info["recheck_pending"]
    # The request and the new verdict are both in the history.
    *_, asked, decided = info["history"]
    assert asked["status"] == "published" and "recheck requested" in asked["reasons"][0]
    assert (decided["status"], decided["reasons"]) == ("published", [])


def test_cli_push_pull_and_tokens(server: Server, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from openward.cli.main import app

    runner = CliRunner()
    common = ["--registry", server.url]
    r = runner.invoke(app, ["registry", "token", "create", "dana", "--org", "acme", "--json",
                            *common, "--token", server.admin])  # fmt: skip
    assert r.exit_code == 0, r.output
    dana = json.loads(r.stdout)["token"]
    model = _model(tmp_path / "m", seed=9)
    r = runner.invoke(app, ["push", str(model), "acme/cli:1", "--json", *common, "--token", dana])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert {"name", "version", "digest", "status"} <= set(doc) and doc["status"] == "published"
    r = runner.invoke(app, ["pull", "acme/cli:1", "-o", str(tmp_path / "o"), *common])
    assert r.exit_code == 0, r.output
    assert _same(model, tmp_path / "o")
    import pickle

    (model / "evil.pkl").write_bytes(pickle.dumps(eval, protocol=2))
    r = runner.invoke(app, ["push", str(model), "acme/cli:2", *common, "--token", dana])
    assert r.exit_code == 1 and "quarantined" in r.output
    r = runner.invoke(app, ["pull", "acme/cli:2", "-o", str(tmp_path / "o2"), *common,
                            "--token", dana])  # fmt: skip
    assert r.exit_code == 1 and "quarantined" in r.output
    r = runner.invoke(app, ["pull", "acme/nothing:1", "-o", str(tmp_path / "o3"), *common])
    assert r.exit_code == 2 and "does not exist" in r.output


def test_search_filters(server: Server, tmp_path: Path) -> None:
    model = _model(tmp_path / "m", seed=11)
    server.client(server.admin).push(model, "acme/findme:1")

    def names(**params: object) -> list[str]:
        r = httpx.get(f"{server.url}/api/v1/models", params=params)
        assert r.status_code == 200
        return [f"{d['name']}:{d['version']}" for d in r.json()["results"]]

    assert names(q="findme") == ["acme/findme:1"]
    assert names(q="findme", architecture="llama") == ["acme/findme:1"]
    assert names(q="findme", architecture="gpt2") == []
    assert names(q="findme", min_parameters=32768, max_parameters=32768) == ["acme/findme:1"]
    assert names(q="findme", min_parameters=10**9) == []
    assert names(q="findme", tier="eu-systemic-risk") == []
    assert names(q="findme", status="quarantined") == []
    assert names(q="FINDME") == ["acme/findme:1"]  # case-insensitive on both databases
    # Pages: limit and offset, next_offset until the last page.
    for i in range(2, 5):
        server.client(server.admin).push(model, f"acme/findme:{i}")
    pages, offset = [], 0
    while offset is not None:
        r = httpx.get(f"{server.url}/api/v1/models",
                      params={"q": "findme", "limit": 3, "offset": offset}).json()  # fmt: skip
        pages.append([d["version"] for d in r["results"]])
        offset = r["next_offset"]
    assert pages == [["1", "2", "3"], ["4"]]
    assert httpx.get(f"{server.url}/api/v1/models", params={"limit": 0}).status_code == 422


def test_head_and_range_requests(server: Server, tmp_path: Path) -> None:
    model = _model(tmp_path / "m", seed=13)
    server.client(server.admin).push(model, "acme/ranges:1")
    url = (
        f"{server.url}/api/v1/models/acme/ranges/versions/1/files/model-00001-of-00002.safetensors"
    )
    data = (model / "model-00001-of-00002.safetensors").read_bytes()
    with httpx.Client(follow_redirects=True) as http:
        head = http.head(url)
        assert head.status_code == 200 and int(head.headers["content-length"]) == len(data)
        part = http.get(url, headers={"Range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == data[100:200]


def test_interrupted_upload_resumes(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import openward.registry.client as client_module

    monkeypatch.setattr(client_module, "RANGE_UPLOAD", 1 << 20)
    model = _model(tmp_path / "m", seed=17)
    big = os.urandom(3 << 20)
    (model / "big.bin").write_bytes(big)
    digest = hashlib.sha256(big).hexdigest()
    files = [{"path": str(p.relative_to(model)), "size": p.stat().st_size,
              "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
             for p in sorted(model.rglob("*")) if p.is_file()]  # fmt: skip
    auth = {"Authorization": f"Bearer {server.admin}"}
    r = httpx.post(f"{server.url}/api/v1/models/acme/resume/versions",
                   json={"version": "1", "files": files}, headers=auth)  # fmt: skip
    assert digest in r.json()["missing"]
    # The first 1.5 MiB arrive, then the client "dies".
    half = (3 << 20) // 2
    r = httpx.put(f"{server.url}/api/v1/blobs/{digest}", content=big[:half],
                  headers={**auth, "Content-Range": f"bytes 0-{half - 1}/{len(big)}"})  # fmt: skip
    assert r.status_code == 201 and r.json()["received"] == half
    assert (
        httpx.get(f"{server.url}/api/v1/uploads/{digest}", headers=auth).json()["received"] == half
    )
    # A range that does not continue where the server stopped is refused.
    r = httpx.put(f"{server.url}/api/v1/blobs/{digest}", content=big[:10],
                  headers={**auth, "Content-Range": f"bytes 0-9/{len(big)}"})  # fmt: skip
    assert r.status_code == 409 and f"continues at byte {half}" in r.json()["detail"]
    other = sum(f["size"] for f in files if f["sha256"] != digest)
    result = server.client(server.admin).push(model, "acme/resume:1")
    assert result["status"] == "published"
    assert result["uploaded_bytes"] == other + len(big) - half
    server.client().pull("acme/resume:1", tmp_path / "out")
    assert _same(model, tmp_path / "out")


def test_pushed_signatures_are_checked_against_registered_keys(
    server: Server, tmp_path: Path
) -> None:
    from openward.signing.keys import generate_key, load_private_key, write_key_pair
    from openward.signing.oms import sign_model

    write_key_pair(generate_key(), tmp_path / "k.pem", tmp_path / "k.pub")
    key = load_private_key(tmp_path / "k.pem")
    model = _model(tmp_path / "m", seed=19)
    sig = tmp_path / "model.sig"
    sig.write_text(json.dumps(sign_model(model, key)))
    frank = server.user("frank", "acme", "publisher")
    # Without a registered key the signature cannot be trusted: quarantined.
    first = server.client(frank).push(model, "acme/signed-model:1", signature=sig)
    assert first["status"] == "quarantined"
    assert "registered no key" in first["reasons"][0]
    # A public key alone proves nothing: the private key must sign a challenge.
    r = httpx.post(f"{server.url}/api/v1/keys", json={"pem": (tmp_path / "k.pub").read_text()},
                   headers={"Authorization": f"Bearer {frank}"})  # fmt: skip
    assert r.status_code == 422 and "private key" in r.json()["detail"]
    server.client(frank).add_key(key)
    ok = server.client(frank).push(model, "acme/signed-model:2", signature=sig)
    assert ok["status"] == "published", ok
    info = server.client(frank).info("acme/signed-model:2")
    assert info["signature_status"].startswith("verified by key")
    # A signature over other bytes: quarantined, and the changed file is named.
    (model / "config.json").write_text('{"model_type": "llama", "num_hidden_layers": 3}')
    bad = server.client(frank).push(model, "acme/signed-model:3", signature=sig)
    assert bad["status"] == "quarantined"
    assert "config.json: content changed" in bad["reasons"][0]
