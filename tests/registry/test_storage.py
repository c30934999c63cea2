"""Storage and input hardening of the registry (issue 13): Windows paths on the server
and in ``pull``, a full disk, per-uploader resumable uploads with expiry, quotas and
a free-space check, bounded request bodies, file names that need quoting in URLs,
declared sizes of stored blobs, and check scratch space that is always removed.

Each test runs on both configurations (the ``server`` fixture) where storage matters.
A full disk is simulated by fault injection at the one call that writes upload bytes
(``blobs._write_all``) and at the download log: it works on every machine, CI too.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from openward.registry.client import ClientError
from tests.registry.conftest import Server
from tests.registry.test_registry import _model, _same

MiB = 1 << 20


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _manifest(server: Server, token: str, ref: str, files: list[dict[str, Any]],
              version: str = "1") -> httpx.Response:  # fmt: skip
    return httpx.post(f"{server.url}/api/v1/models/{ref}/versions",
                      json={"version": version, "files": files}, headers=_auth(token))  # fmt: skip


def _entry(path: str, data: bytes) -> dict[str, Any]:
    return {"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _put_range(server: Server, token: str, data: bytes, start: int, end: int,
               digest: str | None = None) -> httpx.Response:  # fmt: skip
    """PUT bytes [start, end] of ``data`` as one Content-Range part (of ``digest``,
    by default the digest of ``data``)."""
    digest = digest or hashlib.sha256(data).hexdigest()
    headers = {**_auth(token), "Content-Range": f"bytes {start}-{end}/{len(data)}"}
    return httpx.put(f"{server.url}/api/v1/blobs/{digest}", content=data[start : end + 1],
                     headers=headers, timeout=60)  # fmt: skip


def _received(server: Server, token: str, data: bytes) -> int:
    digest = hashlib.sha256(data).hexdigest()
    r = httpx.get(f"{server.url}/api/v1/uploads/{digest}", headers=_auth(token))
    assert r.status_code == 200, r.text
    return int(r.json()["received"])


def _partial_bytes(server: Server) -> int:
    root = server.data / "partial"
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.exists() else 0


def _tmp_files(server: Server) -> list[Path]:
    return [p for d in (server.data / "tmp", server.data / "s3-staging" / "tmp") if d.exists()
            for p in d.iterdir()]  # fmt: skip


@pytest.fixture
def restart(server: Server) -> Iterator[Any]:
    """Start the same registry again in this process (same data, database and bucket),
    with optional ``Settings`` overrides: what an operator's restart does."""
    from fastapi.testclient import TestClient

    from openward.registry.app import create_app

    apps: list[Any] = []

    def start(**overrides: Any) -> TestClient:
        assert server.settings is not None
        app = create_app(replace(server.settings, **overrides))
        apps.append(app)
        client = TestClient(app, base_url="http://registry")
        client.__enter__()  # runs the start-up (lifespan)
        apps.append(client)
        return client

    yield start
    for thing in reversed(apps):
        if hasattr(thing, "__exit__"):
            thing.__exit__(None, None, None)
        else:
            thing.state.registry.sessions.kw["bind"].dispose()


# -- Windows paths ---------------------------------------------------------------------

WINDOWS_BAD = [
    "C:/Windows/x.dll", "C:x.bin", "x:stream", "dir/model.bin:hidden", "CON", "con",
    "NUL", "nul.txt", "aux.txt", "sub/Com1.json", "COM9", "LPT1", "lpt9.tar.gz", "COM\u00b9",
    "CONIN$", "name.", "name ", "dir./x.bin", "dir /x.bin", "a<b", "a>b", 'a"b', "a|b",
    "a?b", "a*b", "CON .txt",
]  # fmt: skip
POSIX_BAD = ["../x", "a/../../x", "/etc/passwd", "a\\b", "//server/share/x", "a//b", "", "."]
FINE = ["console.json", "nul_x.bin", "aux-data/x.bin", "COM10.bin", ".hidden", "a..b",
        "a#b.bin", "100%.bin", "sp ace/x y.bin", "caf\u00e9.bin", "dir.d/x"]  # fmt: skip


def test_the_server_refuses_paths_windows_cannot_hold(server: Server) -> None:
    data = b"weights"
    for path in WINDOWS_BAD:
        r = _manifest(server, server.admin, "acme/win", [_entry(path, data)])
        assert r.status_code == 422, (path, r.text)
        assert "Windows" in r.json()["detail"], (path, r.json())
    for path in POSIX_BAD:
        r = _manifest(server, server.admin, "acme/win", [_entry(path, data)])
        assert r.status_code == 422, (path, r.text)
    # Names that differ only in case are one file on Windows and macOS: one would
    # silently replace the other on pull.
    r = _manifest(server, server.admin, "acme/win",
                  [_entry("Model.bin", data), _entry("model.bin", b"other")])  # fmt: skip
    assert r.status_code == 422 and "differ only in case" in r.json()["detail"]
    r = _manifest(server, server.admin, "acme/win", [_entry("a", data), _entry("a/b", data)])
    assert r.status_code == 422 and "both a file and a directory" in r.json()["detail"]
    r = _manifest(server, server.admin, "acme/win", [_entry(p, p.encode()) for p in FINE])
    assert r.status_code == 201, r.text


def test_pull_containment_rules_of_each_platform(tmp_path: Path) -> None:
    """The client's check as a pure function: Windows rules can be tested anywhere."""
    from openward.registry.paths import safe_target

    out = tmp_path / "out"
    out.mkdir()
    for path in WINDOWS_BAD + POSIX_BAD:
        with pytest.raises(ClientError, match="refusing to write"):
            safe_target(out, path, windows=True)
    for path in POSIX_BAD:
        with pytest.raises(ClientError, match="refusing to write"):
            safe_target(out, path, windows=False)
    for path in FINE:
        target = safe_target(out, path, windows=True)
        assert target == out.resolve().joinpath(*path.split("/"))
    # On POSIX a name Windows reserves is an ordinary name inside the directory.
    assert safe_target(out, "CON", windows=False) == out.resolve() / "CON"


def test_pull_containment_refuses_symlinks(tmp_path: Path) -> None:
    from openward.registry.paths import safe_target

    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "sub").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ClientError, match="symbolic link"):
        safe_target(out, "sub/x.bin", windows=False)
    (out / "inner").mkdir()
    (out / "inner" / "deeper").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ClientError, match="symbolic link"):
        safe_target(out, "inner/deeper/x.bin", windows=False)
    (out / "w.bin").symlink_to(elsewhere / "victim")
    with pytest.raises(ClientError, match="symbolic link"):
        safe_target(out, "w.bin", windows=False)
    (out / "v.bin.part").symlink_to(elsewhere / "victim")
    with pytest.raises(ClientError, match="symbolic link"):
        safe_target(out, "v.bin", windows=False)
    # A symlink the user chose as the output directory itself is fine.
    (tmp_path / "alias").symlink_to(out, target_is_directory=True)
    assert safe_target(tmp_path / "alias", "ok.bin", windows=False) == out.resolve() / "ok.bin"


def test_pull_writes_nothing_through_a_symlinked_directory(server: Server, tmp_path: Path) -> None:
    model = _model(tmp_path / "m", seed=31)
    assert server.client(server.admin).push(model, "acme/links:1")["status"] == "published"
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "sub").symlink_to(elsewhere, target_is_directory=True)  # the model has sub/
    with pytest.raises(ClientError, match="symbolic link"):
        server.client().pull("acme/links:1", out)
    assert list(elsewhere.iterdir()) == []


def test_pull_refuses_a_hostile_registrys_paths(tmp_path: Path) -> None:
    """A registry (or a proxy) that lists ``../`` paths gets nothing written outside."""
    from openward.registry.client import Client

    data = b"owned"
    doc = {"name": "evil/m", "version": "1", "digest": "0" * 64, "status": "published",
           "files": [_entry("../escape.bin", data)]}  # fmt: skip

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/versions/latest"):
            return httpx.Response(200, json=doc)
        return httpx.Response(200, content=data)

    client = Client("http://registry.invalid")
    client.http = httpx.Client(base_url="http://registry.invalid",
                               transport=httpx.MockTransport(handler))  # fmt: skip
    out = tmp_path / "a" / "out"
    with pytest.raises(ClientError, match="refusing to write"):
        client.pull("evil/m", out)
    assert not (tmp_path / "a" / "escape.bin").exists()
    assert not list((tmp_path / "a").glob("escape*"))


# -- names that need quoting ---------------------------------------------------------------


def test_files_named_with_hash_percent_and_spaces_are_pulled(
    server: Server, tmp_path: Path
) -> None:
    names = {"a#b.bin": b"1", "100%.bin": b"2", "%41.bin": b"3", "sp ace.bin": b"4",
             "caf\u00e9.bin": b"5"}  # fmt: skip
    model = _model(tmp_path / "m", seed=37, extra=names)
    (model / "d#1").mkdir()
    (model / "d#1" / "x%20y.bin").write_bytes(b"6")
    result = server.client(server.admin).push(model, "acme/names:1")
    assert result["status"] == "published", result
    out = tmp_path / "out"
    server.client().pull("acme/names:1", out)
    assert _same(model, out)
    # The web page's links work too.
    with httpx.Client(follow_redirects=True) as http:
        r = http.get(f"{server.url}/models/acme/names/v/1/files/a%23b.bin")
        assert r.status_code == 200 and r.content == b"1"
    # '?' cannot be a Windows file name: refused at push with the reason.
    (model / "what?.bin").write_bytes(b"7")
    with pytest.raises(ClientError, match="Windows") as info:
        server.client(server.admin).push(model, "acme/names:2")
    assert info.value.status == 422


# -- declared sizes -------------------------------------------------------------------


def test_declared_size_must_match_the_stored_blob(server: Server) -> None:
    data = b"hello world"
    digest = hashlib.sha256(data).hexdigest()
    right = [{"path": "a.bin", "size": len(data), "sha256": digest}]
    wrong = [{"path": "a.bin", "size": 5, "sha256": digest}]
    assert _manifest(server, server.admin, "acme/sizes", right, "1").status_code == 201
    # Declared before the bytes exist: accepted for now...
    assert _manifest(server, server.admin, "acme/sizes", wrong, "2").status_code == 201
    r = httpx.put(f"{server.url}/api/v1/blobs/{digest}", content=data, headers=_auth(server.admin))
    assert r.status_code == 201, r.text
    r = httpx.post(f"{server.url}/api/v1/models/acme/sizes/versions/1/commit",
                   headers=_auth(server.admin))  # fmt: skip
    assert r.status_code == 202
    # ...but never committed with a size the stored bytes do not have,
    r = httpx.post(f"{server.url}/api/v1/models/acme/sizes/versions/2/commit",
                   headers=_auth(server.admin))  # fmt: skip
    assert r.status_code == 422 and "declares 5 bytes" in r.json()["detail"], r.text
    # and a manifest naming the stored blob with another size is refused at once.
    r = _manifest(server, server.admin, "acme/sizes", wrong, "3")
    assert r.status_code == 422 and "11 bytes" in r.json()["detail"], r.text
    bigger = [{"path": "a.bin", "size": 12, "sha256": digest}]
    assert _manifest(server, server.admin, "acme/sizes", bigger, "4").status_code == 422


# -- a full disk ---------------------------------------------------------------------------


class FullDisk:
    """``blobs._write_all`` on a disk with ``free`` bytes left: the write that does not
    fit stores what fits, then fails with ENOSPC, as a real full disk does."""

    def __init__(self, free: int) -> None:
        self.free = free

    def __call__(self, f: Any, data: bytes) -> None:
        view = memoryview(data)
        if len(view) > self.free:
            f.write(view[: self.free])
            self.free = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        f.write(view)
        self.free -= len(view)


def test_a_full_disk_during_uploads_leaves_nothing_behind(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import openward.registry.blobs as blobs
    import openward.registry.client as client_module

    small = _model(tmp_path / "small", seed=41)
    assert server.client(server.admin).push(small, "acme/small:1")["status"] == "published"
    big = os.urandom(3 * MiB)
    model = _model(tmp_path / "m", seed=43, extra={"big.bin": big})
    files = [_entry(str(p.relative_to(model)), p.read_bytes())
             for p in sorted(model.rglob("*")) if p.is_file()]  # fmt: skip
    assert _manifest(server, server.admin, "acme/full", files).status_code == 201
    monkeypatch.setattr(blobs, "_write_all", FullDisk(MiB + MiB // 2))
    # The first range fits; the second fills the disk: 507, and the partial upload is
    # back where that range began (the half-written range's bytes are freed).
    assert _put_range(server, server.admin, big, 0, MiB - 1).status_code == 201
    r = _put_range(server, server.admin, big, MiB, 2 * MiB - 1)
    assert r.status_code == 507, r.text
    assert "storage" in r.json()["detail"]
    assert _received(server, server.admin, big) == MiB
    assert _partial_bytes(server) == MiB
    # A whole-blob upload on the full disk: 507, its temporary file removed.
    digest = hashlib.sha256(big).hexdigest()
    r = httpx.put(f"{server.url}/api/v1/blobs/{digest}", content=big, headers=_auth(server.admin))
    assert r.status_code == 507, r.text
    assert _tmp_files(server) == []
    # Reading still works meanwhile (downloads are logged in the database).
    url = f"{server.url}/api/v1/models/acme/small/versions/1/files/config.json"
    assert httpx.get(url, follow_redirects=True).status_code == 200
    # Space again: the push resumes after the first range and publishes.
    monkeypatch.setattr(blobs, "_write_all", FullDisk(1 << 40))
    monkeypatch.setattr(client_module, "RANGE_UPLOAD", MiB)
    result = server.client(server.admin).push(model, "acme/full:1")
    assert result["status"] == "published", result
    shared = ("config.json", "sub/tokenizer.json")  # stored already, with acme/small
    assert (
        result["uploaded_bytes"] == sum(f["size"] for f in files if f["path"] not in shared) - MiB
    )
    server.client().pull("acme/full:1", tmp_path / "out")
    assert _same(model, tmp_path / "out")
    assert _partial_bytes(server) == 0


def test_downloads_when_the_download_log_cannot_be_written(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from sqlalchemy.exc import OperationalError

    import openward.registry.governance as governance

    model = _model(tmp_path / "m", seed=47)
    admin = server.client(server.admin)
    assert admin.push(model, "acme/open:1")["status"] == "published"
    assert admin.push(model, "acme/gated:1")["status"] == "published"
    admin.set_tier("acme/gated", "gated")

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OperationalError("INSERT INTO downloads", {},
                               sqlite3.OperationalError("database or disk is full"))  # fmt: skip

    monkeypatch.setattr(governance, "record_download", disk_full)
    want = (model / "config.json").read_bytes()
    with httpx.Client(follow_redirects=True) as http:
        # An open model's file is served: its download record is best effort.
        for url in (f"{server.url}/api/v1/models/acme/open/versions/1/files/config.json",
                    f"{server.url}/models/acme/open/v/1/files/config.json"):  # fmt: skip
            r = http.get(url)
            assert r.status_code == 200 and r.content == want, (url, r.text)
            r = http.get(url, headers=_auth(server.admin))
            assert r.status_code == 200 and r.content == want, (url, r.text)
        # A gated model's downloads must be logged (its publishers rely on the log):
        # a clear, retryable refusal instead of an unlogged download or a 500.
        r = http.get(f"{server.url}/api/v1/models/acme/gated/versions/1/files/config.json",
                     headers=_auth(server.admin))  # fmt: skip
        assert r.status_code == 503, r.text
        assert "download log" in r.json()["detail"] and r.headers.get("retry-after")


def test_a_restart_removes_expired_partials_and_relieves_a_full_disk(
    server: Server, tmp_path: Path, restart: Any
) -> None:
    small = _model(tmp_path / "small", seed=53)
    assert server.client(server.admin).push(small, "acme/small:1")["status"] == "published"
    fresh, stale = os.urandom(2 * MiB), os.urandom(2 * MiB)
    files = [_entry("fresh.bin", fresh), _entry("stale.bin", stale)]
    assert _manifest(server, server.admin, "acme/parts", files).status_code == 201
    for data in (fresh, stale):
        assert _put_range(server, server.admin, data, 0, MiB - 1).status_code == 201
    # A left-over from before per-uploader partial uploads (one shared directory).
    legacy = server.data / "partial" / ("e" * 64)
    legacy.write_bytes(b"x" * 100)
    two_days_ago = time.time() - 2 * 86400
    for p in (server.data / "partial").rglob(hashlib.sha256(stale).hexdigest() + "*"):
        os.utime(p, (two_days_ago, two_days_ago))
    again = restart()
    assert not legacy.exists()
    auth = _auth(server.admin)
    state = {d: again.get(f"/api/v1/uploads/{hashlib.sha256(d).hexdigest()}",
                          headers=auth).json()["received"] for d in (fresh, stale)}  # fmt: skip
    assert state == {fresh: MiB, stale: 0}  # the expired one is gone, the other kept
    # A restart on a disk with less free space than the reserve evicts partial uploads
    # (their clients resume from what is left) so that the database can write again.
    full = restart(min_free_bytes=1 << 62)
    digest = hashlib.sha256(fresh).hexdigest()
    assert full.get(f"/api/v1/uploads/{digest}", headers=auth).json()["received"] == 0
    assert _partial_bytes(server) == 0
    r = full.get("/api/v1/models/acme/small/versions/1/files/config.json", follow_redirects=False)
    assert r.status_code in (200, 307)
    r = full.post("/api/v1/models/acme/parts2/versions", headers=auth,
                  json={"version": "1", "files": files})  # fmt: skip
    assert r.status_code == 201, r.text
    r = full.put(f"/api/v1/blobs/{digest}", content=fresh[:MiB],
                 headers={**auth, "Content-Range": f"bytes 0-{MiB - 1}/{len(fresh)}"})  # fmt: skip
    assert r.status_code == 507 and "free" in r.json()["detail"], r.text
    r = full.put(f"/api/v1/blobs/{digest}", content=fresh, headers=auth)
    assert r.status_code == 507 and "free" in r.json()["detail"], r.text


# -- resumable uploads: per uploader, quotas ---------------------------------------------


def test_partial_uploads_belong_to_their_uploader(server: Server, tmp_path: Path) -> None:
    alice = server.user("alice", "acme", "publisher")
    mallory = server.user("mallory", "evil", "publisher")
    big = os.urandom(2 * MiB)
    model = _model(tmp_path / "m", seed=59, extra={"big.bin": big})
    files = [_entry(str(p.relative_to(model)), p.read_bytes())
             for p in sorted(model.rglob("*")) if p.is_file()]  # fmt: skip
    assert _manifest(server, alice, "acme/victim", files).status_code == 201
    # Manifests are public: another organisation's publisher knows the digest.
    assert _manifest(server, mallory, "evil/copy", [_entry("big.bin", big)]).status_code == 201
    assert _put_range(server, alice, big, 0, MiB - 1).status_code == 201
    assert _received(server, mallory, big) == 0  # alice's progress is not shown to her
    digest = hashlib.sha256(big).hexdigest()
    garbage = b"\0" * len(big)
    r = _put_range(server, mallory, garbage, MiB, MiB, digest)  # cannot append to alice's
    assert r.status_code == 409 and "continues at byte 0" in r.json()["detail"], r.text
    r = _put_range(server, mallory, garbage, 0, 0, digest)  # her own upload starts
    assert r.status_code == 201 and r.json()["received"] == 1, r.text
    assert _received(server, alice, big) == MiB  # untouched
    r = _put_range(server, alice, big, MiB, len(big) - 1)
    assert r.status_code == 201 and r.json()["received"] == len(big), r.text
    result = server.client(alice).push(model, "acme/victim:1")
    assert result["status"] == "published", result
    server.client().pull("acme/victim:1", tmp_path / "out")
    assert _same(model, tmp_path / "out")


@pytest.mark.registry_settings(partial_quota_bytes=3 * MiB)
def test_partial_upload_quota_and_huge_declarations(server: Server) -> None:
    pub = server.user("pat", "acme", "publisher")
    a, b = os.urandom(2 * MiB), os.urandom(2 * MiB)
    huge = {"path": "huge.bin", "size": 1 << 40, "sha256": "ab" * 32}
    r = _manifest(server, pub, "acme/quota", [_entry("a.bin", a), _entry("b.bin", b), huge])
    assert r.status_code == 201, r.text
    assert _put_range(server, pub, a, 0, 0).status_code == 201
    r = _put_range(server, pub, b, 0, 0)  # 2 + 2 MiB of uploads in progress > 3 MiB
    assert r.status_code == 507 and "quota" in r.json()["detail"], r.text
    # A 1 TiB declaration is refused before a byte is stored (quota or free space).
    r = httpx.put(f"{server.url}/api/v1/blobs/{'ab' * 32}", content=b"x",
                  headers={**_auth(pub), "Content-Range": f"bytes 0-0/{1 << 40}"})  # fmt: skip
    assert r.status_code == 507, r.text
    r = httpx.put(f"{server.url}/api/v1/blobs/{'ab' * 32}", content=b"x", headers=_auth(pub))
    assert r.status_code == 507, r.text
    assert _tmp_files(server) == []
    # Once the first upload completes its reservation is released.
    assert _put_range(server, pub, a, 1, len(a) - 1).status_code == 201
    assert _put_range(server, pub, b, 0, 0).status_code == 201


# -- request bodies ----------------------------------------------------------------------


def _json_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every route that reads a body, path parameters filled in."""
    import re

    from fastapi.routing import APIRoute

    out = []
    routes = list(app.routes)
    while routes:
        route = routes.pop(0)
        if hasattr(route, "original_router"):  # newer FastAPI: an included router
            routes.extend(route.original_router.routes)  # (the web pages', no prefix)
        if not isinstance(route, APIRoute):
            continue
        for method in sorted(route.methods - {"GET", "HEAD"}):
            path = re.sub(r"\{[^}:]+(:path)?\}", "1", route.path)
            out.append((method, path))
    return out


def test_request_bodies_are_bounded(server: Server) -> None:
    routes = _json_routes(server.app)
    assert ("POST", "/api/v1/check") in routes and ("POST", "/signin") in routes
    assert len(routes) >= 20
    over = b"{" + b" " * (MiB + 10) + b"}"
    with httpx.Client(base_url=server.url) as http:
        for method, path in routes:
            if path.startswith("/api/v1/blobs/"):
                continue  # streamed, bounded by the declared size (below)
            if path.endswith("/trace"):
                continue  # a streamed model upload, bounded by OPENWARD_MAX_TRACE_BYTES
                # (tests/registry/test_recipient_marks.py: over the limit -> 413)
            r = http.request(method, path, content=over,
                             headers={"Content-Type": "application/json"})  # fmt: skip
            assert r.status_code == 413, (method, path, r.status_code, r.text[:200])
        # Without Content-Length (chunked): refused once the limit is crossed.
        r = http.post(
            "/api/v1/check", content=iter([over[i : i + 65536] for i in range(0, len(over), 65536)])
        )
        assert r.status_code == 413 and "1 MiB" in r.json()["detail"], r.text
        # A publisher's large manifest (long signature) is within the manifest limit.
        data = b"weights"
        body = json.dumps({"version": "1", "files": [_entry("w.bin", data)],
                           "signature": "s" * (2 * MiB)})  # fmt: skip
        r = http.post(
            "/api/v1/models/acme/large-manifest/versions",
            content=body,
            headers={**_auth(server.admin), "Content-Type": "application/json"},
        )
        assert r.status_code == 201, r.text
        # Anonymous, the same body is refused before it is parsed.
        r = http.post("/api/v1/models/acme/large-manifest/versions", content=body,
                      headers={"Content-Type": "application/json"})  # fmt: skip
        assert r.status_code == 413, r.text


def test_body_limits_stop_reading_at_the_limit(server: Server) -> None:
    """The body is read incrementally and refused as soon as it crosses the limit."""
    app = server.app
    chunk = b" " * 65536

    async def run(path: str, method: str = "POST", headers: dict[str, str] | None = None,
                  limit_chunks: int = 1600) -> tuple[int, int]:  # fmt: skip
        sent = 0

        async def body() -> AsyncIterator[bytes]:
            nonlocal sent
            for _ in range(limit_chunks):  # 100 MiB if nobody stops
                sent += 1
                yield chunk

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://registry") as http:
            r = await http.request(method, path, content=body(), headers=headers or {})
        return r.status_code, sent

    status, sent = anyio.run(run, "/api/v1/check")
    assert status == 413 and sent <= MiB // len(chunk) + 2, (status, sent)
    # A form: past the origin check (same origin), refused while its body streams.
    same_origin = {"Origin": "http://registry", "Content-Type": "application/x-www-form-urlencoded"}
    status, sent = anyio.run(run, "/signin", "POST", same_origin)
    assert status == 413 and sent <= MiB // len(chunk) + 2, (status, sent)
    # Blob uploads stream, but never past the size the manifest declared.
    data = b"hello blob"
    digest = hashlib.sha256(data).hexdigest()
    r = _manifest(server, server.admin, "acme/stream", [_entry("x.bin", data)])
    assert r.status_code == 201
    status, sent = anyio.run(run, f"/api/v1/blobs/{digest}", "PUT", _auth(server.admin))
    assert status == 413 and sent <= 2, (status, sent)


# -- check scratch space -----------------------------------------------------------------


def _scratch(server: Server) -> list[Path]:
    roots = [server.data, server.data / "s3-staging", server.data.parent / "worker",
             server.data.parent / "worker" / "s3-staging"]  # fmt: skip
    return [p for r in roots if r.exists() for p in r.glob("check-*")]


def test_check_scratch_space_is_always_removed(
    server: Server, tmp_path: Path, restart: Any
) -> None:
    from openward.registry.models import PublisherKey, User
    from openward.signing.keys import generate_key, key_hint, public_pem
    from openward.signing.oms import sign_model

    key = generate_key()
    model = _model(tmp_path / "m", seed=61)
    sig = tmp_path / "model.sig"
    sig.write_text(json.dumps(sign_model(model, key)))
    registry = server.app.state.registry
    from sqlalchemy import select

    with registry.sessions.begin() as s:  # the admin's key, registered directly
        admin = s.scalar(select(User).where(User.name == "admin"))
        s.add(PublisherKey(user_id=admin.id, hint=key_hint(key.public_key()),
                           pem=public_pem(key.public_key()).decode()))  # fmt: skip
    ok = server.client(server.admin).push(model, "acme/scratch:1", signature=sig)
    assert ok["status"] == "published", ok
    assert _scratch(server) == []  # neither the copy of the files nor the signature
    (model / "config.json").write_text('{"model_type": "llama", "num_hidden_layers": 5}')
    bad = server.client(server.admin).push(model, "acme/scratch:2", signature=sig)
    assert bad["status"] == "quarantined"
    assert _scratch(server) == []
    # What a killed check leaves behind is removed at start-up; a check still running
    # (its lock held, e.g. by a worker sharing the directory) is left alone.
    import fcntl

    root = registry.scratch_root
    old = time.time() - 7200
    for name in ("check-legacy", "check-killed"):
        (root / name / "model").mkdir(parents=True)
        (root / name / "model" / "w.bin").write_bytes(b"w")
    (root / "check-killed" / ".lock").touch()
    (root / "check-legacy.sig").write_text("{}")
    for p in (root / "check-legacy", root / "check-legacy.sig"):
        os.utime(p, (old, old))
    (root / "check-running" / "model").mkdir(parents=True)
    with open(root / "check-running" / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        restart()
        assert sorted(p.name for p in root.glob("check-*")) == ["check-running"]
