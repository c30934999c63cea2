"""Running per-recipient marks: a byte range is marked from its own first byte, the
per-copy locks do not pile up, the originals cached for marked downloads go when no
grantee can download them, and a changed mark secret stops the registry's start."""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from openward.cli.main import app as cli
from openward.registry import marks
from openward.registry.app import create_app
from openward.registry.models import Grant, RecipientCopy, Version
from openward.watermark import weights
from tests.registry.conftest import Server
from tests.registry.test_recipient_marks import SHARDS, _api, _llama, _ok

pytestmark = pytest.mark.parametrize("server", ["embedded"], indirect=True)


def _marked_model(server: Server, tmp_path: Path, name: str) -> tuple[str, str, Path]:
    """acme/NAME:1 pushed, gated with per-recipient marks, granted to ann: (publisher's
    token, ann's token, the source folder)."""
    pub = server.user("pat", "acme", "publisher")
    ann = server.user("ann", "labs", "reader")
    source = _llama(tmp_path / "src", seed=3)
    assert server.client(pub).push(source, f"acme/{name}:1")["status"] == "published"
    _ok(_api(server, "PUT", f"/api/v1/models/acme/{name}/access", pub,
             {"tier": "gated", "watermark": "per-recipient"}))  # fmt: skip
    _ok(_api(server, "POST", f"/api/v1/models/acme/{name}/access/grants", pub,
             {"user": "ann"}), 201)  # fmt: skip
    return pub, ann, source


def test_a_range_is_read_and_marked_from_its_first_byte(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, ann, source = _marked_model(server, tmp_path, "rng")
    url = "/api/v1/models/acme/rng/versions/1/files/" + SHARDS[0]
    whole = _api(server, "GET", url, ann).content
    calls: list[tuple[int, int | None]] = []
    real = weights.marked_chunks

    def recording(path: Path, key: bytes, **kw: Any) -> Iterator[memoryview]:
        calls.append((kw.get("start", 0), kw.get("end")))
        return real(path, key, **kw)

    monkeypatch.setattr(weights, "marked_chunks", recording)
    size = (source / SHARDS[0]).stat().st_size
    start = size - size // 4 + 3
    got = _api(server, "GET", url, ann, headers={"Range": f"bytes={start}-"})
    assert got.status_code == 206 and got.content == whole[start:]
    assert calls == [(start, size)]  # not from offset 0, discarding what comes before
    got = _api(server, "GET", url, ann, headers={"Range": "bytes=5-4100"})
    assert got.content == whole[5:4101] and calls[-1] == (5, 4101)


def test_copy_locks_go_with_their_last_caller(server: Server, tmp_path: Path) -> None:
    """Eight requests for one grant's new copy at once compute it once, and leave no
    per-copy lock behind (the table grew by one entry per copy ever computed)."""
    _marked_model(server, tmp_path, "locks")
    reg = server.app.state.registry
    deadline = time.monotonic() + 60
    with reg.sessions() as s:  # the grant's precomputation first, then its copy forgotten
        while s.scalar(select(func.count(RecipientCopy.id))) == 0 or marks._computing:
            assert time.monotonic() < deadline, "the copy was never precomputed"
            time.sleep(0.1)
            s.rollback()
        grant_id = s.scalars(select(Grant.id)).one()
        version_id = s.scalars(select(Version.id)).one()
        assert marks.forget_copies(s) == 1
        s.commit()
    computed: list[int] = []
    real = marks._compute_copy

    def slow(*args: Any) -> Any:
        computed.append(1)
        time.sleep(0.5)  # the others arrive while it is computed
        return real(*args)

    digests: list[str] = []
    barrier = threading.Barrier(8)

    def one() -> None:
        with reg.sessions() as s:
            grant, row = s.get(Grant, grant_id), s.get(Version, version_id)
            barrier.wait()
            digests.append(marks.recipient_copy(reg, s, grant, row).digest)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(marks, "_compute_copy", slow)
        threads = [threading.Thread(target=one) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert len(digests) == 8 and len(set(digests)) == 1
    assert len(computed) == 1
    assert marks._computing == {}


def _cache_file(data: Path, digest: str, age: float) -> Path:
    path = data / "marks-cache" / digest[:2] / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"an original")
    os.utime(path, (time.time() - age, time.time() - age))
    return path


def test_the_marks_cache_keeps_only_what_a_grantee_can_download(
    server: Server, tmp_path: Path
) -> None:
    """Originals fetched from an object store for marked downloads (``DATA/marks-cache``)
    stay while a live grant covers their version; revoked, they go at the next sweep,
    and so do fetches a killed process left behind. Entries used within the last hour
    are spared (a download may have just looked one up)."""
    pub, _, source = _marked_model(server, tmp_path, "cache")
    reg = server.app.state.registry
    hour = marks.CACHE_GRACE
    shards = [_cache_file(server.data, hashlib.sha256((source / f).read_bytes()).hexdigest(),
                          2 * hour) for f in SHARDS]  # fmt: skip
    unrelated = _cache_file(server.data, secrets.token_hex(32), 2 * hour)
    recent = _cache_file(server.data, secrets.token_hex(32), 60)
    left = server.data / "marks-cache" / "ab" / f".{'ab' * 32}.123.beef"
    left.parent.mkdir(parents=True, exist_ok=True)
    left.write_bytes(b"half a fetch")
    os.utime(left, (time.time() - 2 * hour, time.time() - 2 * hour))
    assert marks.sweep_marks_cache(reg) == 2
    assert all(p.is_file() for p in shards) and recent.is_file()
    assert not unrelated.exists() and not left.exists()
    # the grant revoked: nobody may download the version's marked copy any more
    grant = _ok(_api(server, "GET", "/api/v1/models/acme/cache/access", pub))["grants"][0]
    _ok(_api(server, "POST", f"/api/v1/models/acme/cache/access/grants/{grant['id']}/revoke",
             pub, {"reason": "ended"}))  # fmt: skip
    marks.sweep_marks_cache(reg)
    assert not any(p.exists() for p in shards)
    assert recent.is_file()


def test_a_changed_mark_secret_stops_the_start(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, ann, _ = _marked_model(server, tmp_path, "sec")
    doc = _ok(_api(server, "GET", "/api/v1/models/acme/sec/versions/1", ann))
    assert doc["recipient"]["digest"] != doc["original_digest"]
    settings = server.settings
    assert settings is not None
    secret = server.data / "registry-mark-secret"
    started: list[Any] = []

    def start(**changes: Any) -> Any:
        app = create_app(replace(settings, **changes))
        started.append(app)
        return app.state.registry

    try:
        start()  # the same secret: starts
        good = secret.read_bytes()
        secret.write_bytes(secrets.token_bytes(32))
        with pytest.raises(marks.MarkSecretError, match="not the one its recipient copies"):
            start()
        # `openward serve` says so and exits (it does not start serving)
        import uvicorn

        monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("it served"))
        monkeypatch.chdir(tmp_path)
        out = CliRunner().invoke(cli, ["serve", "--data", str(server.data)])
        assert out.exit_code == 2 and "OPENWARD_MARK_SECRET_ROTATE" in out.output
        # a deliberate change: the copies are forgotten, made again under the new secret
        reg = start(mark_secret_rotate=True)
        with reg.sessions() as s:
            assert s.scalar(select(func.count(RecipientCopy.id))) == 0
        start()  # the new fingerprint is the recorded one now
        # a lost secret is not silently replaced by a new one
        secret.unlink()
        with pytest.raises(marks.MarkSecretError, match="is missing"):
            start()
        assert not secret.exists()
        secret.write_bytes(good)  # the old one back: refused too (rotated away from it)
        with pytest.raises(marks.MarkSecretError):
            start()
    finally:
        for app in started:
            app.state.check_pool.shutdown(wait=True)
            app.state.registry.sessions.kw["bind"].dispose()
