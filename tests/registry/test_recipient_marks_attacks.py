"""Attacks on per-recipient marks through the registry (issue 17 review): a trace must
use the version a leaked copy was cut from, and a grantee of a marked model must never
receive an unmarked copy of the weights, whatever file of the version carries them."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.registry.conftest import Server
from tests.registry.test_recipient_marks import SHARDS, _api, _llama, _ok, _ow, _st


def _finetuned(source: Path, out: Path, relative: float, seed: int = 11) -> Path:
    """``source`` with every block weight moved by ``relative`` of its spread: a later
    version trained on from the first (correlation with it about 0.97 at 0.25)."""
    from safetensors.numpy import load_file

    rng = np.random.default_rng(seed)
    out.mkdir(parents=True)
    for shard in SHARDS:
        tensors = load_file(str(source / shard))
        for name, v in tensors.items():
            if ".layers." in name and v.ndim == 2:
                tensors[name] = v + rng.normal(0, relative * float(v.std()), v.shape)
        (out / shard).write_bytes(_st(tensors))
    (out / "config.json").write_bytes((source / "config.json").read_bytes())
    return out


@pytest.mark.parametrize("server", ["embedded"], indirect=True)
def test_a_copy_of_an_earlier_version_is_traced_against_that_version(
    server: Server, tmp_path: Path
) -> None:
    pub = server.user("pat", "acme", "publisher")
    ann = server.user("ann", "labs", "reader")
    v1 = _llama(tmp_path / "v1", seed=7)
    v2 = _finetuned(v1, tmp_path / "v2", 0.25)
    assert server.client(pub).push(v1, "acme/ver:1")["status"] == "published"
    _ok(_api(server, "PUT", "/api/v1/models/acme/ver/access", pub,
             {"tier": "gated", "watermark": "per-recipient"}))  # fmt: skip
    grant = _ok(_api(server, "POST", "/api/v1/models/acme/ver/access/grants", pub,
                     {"user": "ann"}), 201)["id"]  # fmt: skip
    server.client(ann).pull("acme/ver:1", tmp_path / "ann")
    assert server.client(pub).push(v2, "acme/ver:2")["status"] == "published"
    # ann's exact copy of version 1 leaks after version 2 is out: it is traced against
    # version 1 (not the newest version it resembles, where its mark drowns in the
    # difference between the versions) and names ann's grant.
    t = _ow("trace", str(tmp_path / "ann"), "acme/ver", "--registry", server.url,
            "--token", pub, "--json")  # fmt: skip
    doc = json.loads(t.output)
    assert doc["version"] == "1", doc
    assert [m["grant"] for m in doc["matches"]] == [grant] and t.exit_code == 1


def _signed_in(server: Server, token: str) -> httpx.Client:
    """A browser-like client signed in to the web UI with ``token``."""
    import re

    web = httpx.Client(base_url=server.url, timeout=60, headers={"Origin": server.url},
                       follow_redirects=True)  # fmt: skip
    page = web.get("/signin")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None, page.text[:500]
    r = web.post("/signin", data={"token": token, "csrf_token": csrf[1]})
    assert r.status_code in (200, 303), r.text[:500]
    return web


WITHHELD = "holds weights that cannot carry a per-recipient mark"


def test_a_grantee_never_gets_unmarked_weights(server: Server, tmp_path: Path) -> None:
    """On both configurations: S3 (a redirect to the original) is no way round it."""
    pub = server.user("pat", "acme", "publisher")
    ann = server.user("ann", "labs", "reader")
    source = _llama(tmp_path / "src", seed=8)
    # The same block weights exported beside the safetensors shards (an ONNX export's
    # external data) and a quantised safetensors file (I8): weight files the scheme
    # cannot mark.
    from safetensors.numpy import load_file, save

    tensors = {k: v for shard in SHARDS for k, v in load_file(str(source / shard)).items()}
    raw = b"".join(v.astype("<f4").tobytes() for v in tensors.values())
    (source / "onnx").mkdir()
    (source / "onnx" / "model.onnx_data").write_bytes(raw)
    quant = {k: np.clip(np.round(v / 0.001), -127, 127).astype(np.int8)
             for k, v in tensors.items()}  # fmt: skip
    (source / "int8").mkdir()
    (source / "int8" / "model.safetensors").write_bytes(save(quant))
    assert server.client(pub).push(source, "acme/leak:1")["status"] == "published"
    # marks turned on in the web UI: the page warns which files recipients will not get
    import re

    owner = _signed_in(server, pub)
    manage = owner.get("/models/acme/leak/manage")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', manage.text)
    assert csrf is not None, manage.text[:500]
    done = owner.post("/models/acme/leak/manage/tier", data={
        "tier": "gated", "watermark": "per-recipient", "csrf_token": csrf[1]})  # fmt: skip
    assert done.status_code == 200 and "Warning: acme/leak:1: withheld from recipients" in done.text
    assert "int8/model.safetensors, onnx/model.onnx_data" in done.text
    # a version checked while marks are on (by the worker, scale-out) names them too
    v2 = server.client(pub).push(source, "acme/leak:2")
    assert v2["status"] == "published" and v2["reasons"] == [
        "acme/leak:2: withheld from recipients of per-recipient marks (weights that cannot "
        "carry a mark): int8/model.safetensors, onnx/model.onnx_data"
    ]
    _ok(_api(server, "POST", "/api/v1/models/acme/leak/access/grants", pub, {"user": "ann"}), 201)
    base = "/api/v1/models/acme/leak/versions/1/files/"
    web = _signed_in(server, ann)
    int8 = (source / "int8" / "model.safetensors").read_bytes()
    for path, original in (("onnx/model.onnx_data", raw), ("int8/model.safetensors", int8)):
        for method, headers in (("GET", {}), ("HEAD", {}), ("GET", {"Range": "bytes=0-99"})):
            r = _api(server, method, base + path, ann, headers=headers)
            assert r.status_code == 403, (path, method, headers, r.status_code)
            assert original[:100] not in r.content
            if method == "GET":
                assert r.json()["detail"] == (
                    f"{path} {WITHHELD}; this model's recipients receive its marked "
                    "safetensors files only"
                )  # fmt: skip
        w = web.get(f"/models/acme/leak/v/1/files/{path}")
        assert w.status_code == 403 and original[:100] not in w.content, (path, w.status_code)
    # the grantee's version page shows them withheld, with no download link
    page = web.get("/models/acme/leak/v/1").text
    assert page.count('data-testid="withheld"') == 2
    assert "/v/1/files/onnx/model.onnx_data" not in page and f"/v/1/files/{SHARDS[0]}" in page
    assert 'data-testid="withheld"' not in owner.get("/models/acme/leak/v/1").text
    # what is not weights is served as before; the publisher gets everything
    follow = {"follow_redirects": True}  # S3: a redirect to the object store
    assert _api(server, "GET", base + "config.json", ann, **follow).status_code == 200
    assert web.get("/models/acme/leak/v/1/files/config.json").status_code == 200
    assert _api(server, "GET", base + "onnx/model.onnx_data", pub, **follow).content == raw
    # the grantee's listing leaves the withheld files out
    doc = _ok(_api(server, "GET", "/api/v1/models/acme/leak/versions/1", ann))
    assert sorted(f["path"] for f in doc["files"]) == sorted(["config.json", *SHARDS])
    assert doc["recipient"]["withheld"] == ["int8/model.safetensors", "onnx/model.onnx_data"]
    full = _ok(_api(server, "GET", "/api/v1/models/acme/leak/versions/1", pub))
    assert len(full["files"]) == 5 and "recipient" not in full


@pytest.mark.parametrize("server", ["embedded"], indirect=True)
def test_a_grantee_gets_marked_bytes_in_every_single_range(server: Server, tmp_path: Path) -> None:
    pub = server.user("pat", "acme", "publisher")
    ann = server.user("ann", "labs", "reader")
    source = _llama(tmp_path / "src", seed=9)
    assert server.client(pub).push(source, "acme/rng:1")["status"] == "published"
    _ok(_api(server, "PUT", "/api/v1/models/acme/rng/access", pub,
             {"tier": "gated", "watermark": "per-recipient"}))  # fmt: skip
    _ok(_api(server, "POST", "/api/v1/models/acme/rng/access/grants", pub, {"user": "ann"}), 201)
    base = "/api/v1/models/acme/rng/versions/1/files/"
    # the marked shard: never the original, whichever single range is asked
    original = (source / SHARDS[0]).read_bytes()
    whole = _api(server, "GET", base + SHARDS[0], ann)
    assert whole.status_code == 200 and whole.content != original
    size = len(original)
    for rng, status, want in (
        ("bytes=100-", 206, whole.content[100:]),
        ("bytes=0-0", 206, whole.content[:1]),
        (f"bytes={size - 5}-{size + 100}", 206, whole.content[-5:]),
        (f"bytes=-{size + 10}", 206, whole.content),
        (f"bytes={size}-", 416, None),
        ("bytes=-0", 416, None),
        ("bytes=9-3", 416, None),
        ("items=0-3", 416, None),
    ):
        got = _api(server, "GET", base + SHARDS[0], ann, headers={"Range": rng})
        assert got.status_code == status, (rng, got.status_code)
        if want is not None:
            assert got.content == want, rng
    # nor through the web UI's route (anonymous: refused), nor after the grant is revoked
    anon = httpx.get(f"{server.url}/models/acme/rng/v/1/files/{SHARDS[0]}", timeout=60)
    assert anon.status_code != 200 or anon.content != original
    again = _api(server, "GET", base + SHARDS[0], ann)
    assert again.content == whole.content  # one copy per grant, whatever the request
    grant = _ok(_api(server, "GET", "/api/v1/models/acme/rng/versions/1", ann))["recipient"]
    _ok(_api(server, "POST", f"/api/v1/models/acme/rng/access/grants/{grant['grant']}/revoke",
             pub, {"reason": "ended"}))  # fmt: skip
    for path in (base + SHARDS[0], "/models/acme/rng/v/1/files/" + SHARDS[0]):
        after = _api(server, "GET", path, ann)
        assert after.status_code in (401, 403) and after.content != original, path


def _sparse_tar(name: str, real: int, stored: bytes = b"x" * 512) -> bytes:
    """A GNU sparse member (type ``S``) whose 512 stored bytes expand to ``real``."""
    import tarfile

    info = tarfile.TarInfo(name)
    info.size = len(stored)
    h = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))

    def octal(n: int) -> bytes:
        return b"%011o\0" % n

    h[156:157] = b"S"
    h[386:398], h[398:410] = octal(0), octal(len(stored))  # one data span, at 0
    h[482:483], h[483:495] = b"\0", octal(real)  # no extension, the real size
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h[:512])
    return bytes(h) + stored + b"\0" * (-len(stored) % 512) + b"\0" * 1024


def test_a_sparse_tar_member_cannot_outgrow_the_upload(tmp_path: Path) -> None:
    """The trace limit counts the uploaded bytes: a sparse member that would expand to
    far more on the registry's disk is refused, not written out."""
    from openward.registry.marks import unpack_suspect
    from openward.registry.service import RegistryError

    archive = tmp_path / "suspect.tar"
    archive.write_bytes(_sparse_tar("model.safetensors", 64 << 20))
    out = tmp_path / "out"
    with pytest.raises(RegistryError) as caught:
        unpack_suspect(archive, out)
    assert caught.value.status == 422 and "sparse" in str(caught.value)
    written = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert written <= archive.stat().st_size


@pytest.mark.parametrize("server", ["embedded"], indirect=True)
def test_withheld_files_warned_then_a_grantees_pull_skips_them_and_verifies(
    server: Server, tmp_path: Path
) -> None:
    url = ["--registry", server.url]
    pub = server.user("pat", "acme", "publisher")
    ann = server.user("ann", "labs", "reader")
    source = _llama(tmp_path / "src", seed=12)
    # a pickle-free stand-in for a PyTorch checkpoint: its suffix makes it weights
    (source / "pytorch_model.bin").write_bytes(np.random.default_rng(1).bytes(40_000))
    assert server.client(pub).push(source, "acme/wh:1")["status"] == "published"
    out = _ow("registry", "access", "set", "acme/wh", "--tier", "gated", "--watermark",
              "per-recipient", *url, "--token", pub, "--json")  # fmt: skip
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["warnings"] == [
        "acme/wh:1: withheld from recipients of per-recipient marks (weights that cannot "
        "carry a mark): pytorch_model.bin"
    ]
    text = _ow("registry", "access", "set", "acme/wh", "--tier", "gated", *url, "--token", pub)
    assert "warning: acme/wh:1: withheld" in text.stderr and "pytorch_model.bin" in text.stderr
    _ok(_api(server, "POST", "/api/v1/models/acme/wh/access/grants", pub, {"user": "ann"}), 201)
    # a version pushed while marks are on says it in its reasons
    (source / "model.gguf").write_bytes(b"GGUF" + np.random.default_rng(2).bytes(40_000))
    pushed = _ow("push", str(source), "acme/wh:2", *url, "--token", pub)
    assert pushed.exit_code == 0, pushed.output
    assert "withheld from recipients" in pushed.stdout
    assert "model.gguf, pytorch_model.bin" in pushed.stdout

    pulled = _ow("pull", "acme/wh:2", "-o", str(tmp_path / "ann"), *url, "--token", ann,
                 "--json")  # fmt: skip
    assert pulled.exit_code == 0, pulled.output
    result = json.loads(pulled.stdout)
    assert result["recipient"]["withheld"] == ["model.gguf", "pytorch_model.bin"]
    assert "2 weight file(s) withheld" in pulled.stderr
    got = sorted(p.name for p in (tmp_path / "ann").iterdir())
    assert got == sorted(["config.json", *SHARDS, "openward-recipient.sig"])
    key = tmp_path / "registry.pub"
    key.write_text(httpx.get(f"{server.url}/api/v1/registry/key").text)
    v = _ow("verify", str(tmp_path / "ann"), "--signature",
            str(tmp_path / "ann" / "openward-recipient.sig"), "--key", str(key))  # fmt: skip
    assert v.exit_code == 0, v.output
    # a withheld file slipped back into the copy fails verification
    (tmp_path / "ann" / "pytorch_model.bin").write_bytes(b"slipped in")
    bad = _ow("verify", str(tmp_path / "ann"), "--signature",
              str(tmp_path / "ann" / "openward-recipient.sig"), "--key", str(key))  # fmt: skip
    assert bad.exit_code == 1, bad.output
    # a copy kept by an older registry (its digest over the withheld files too) is made
    # again on the next look, not served
    import sqlalchemy as sa

    assert server.settings is not None
    db = sa.create_engine(server.settings.database_url
                          or f"sqlite:///{server.settings.data / 'registry.db'}")  # fmt: skip
    with db.begin() as c:
        c.execute(sa.text("UPDATE recipient_copies SET digest = :d"), {"d": "0" * 64})
    db.dispose()
    again = _ok(_api(server, "GET", "/api/v1/models/acme/wh/versions/2", ann))
    assert again["digest"] == result["digest"] and again["recipient"]["withheld"]
    # the publisher's pull is the whole version
    mine = server.client(pub).pull("acme/wh:2", tmp_path / "pat")
    assert mine["files"] == 5 and "recipient" not in mine
    assert (tmp_path / "pat" / "model.gguf").read_bytes() == (source / "model.gguf").read_bytes()
