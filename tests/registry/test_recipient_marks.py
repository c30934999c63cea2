"""Per-recipient weight marks through the registry, over real HTTP on both
configurations (SQLite and files; PostgreSQL, S3 via moto and a Celery worker): two
grantees download a gated model marked per recipient, each copy differs and verifies
with the registry-signed bundle that comes with it, `openward trace` names the right
grant, traces are logged, and `openward check` relates a copy to its version."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from openward.cli.main import app as cli
from tests.registry.conftest import Server

runner = CliRunner()


def _st(tensors: dict[str, np.ndarray]) -> bytes:
    from openward._samples import _safetensors_bytes

    return _safetensors_bytes(
        {k: ("F32", list(v.shape), v.astype("<f4").tobytes()) for k, v in tensors.items()}
    )


def _llama(root: Path, seed: int = 0) -> Path:
    """A tiny llama-shaped model (two shards, trained-looking weights), built here."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for shard, layer in ((1, 0), (2, 1)):
        tensors = {} if layer else {"model.embed_tokens.weight": rng.normal(0, 0.02, (512, 256))}
        tensors |= {
            f"model.layers.{layer}.self_attn.q_proj.weight": rng.normal(0, 0.02, (256, 256)),
            f"model.layers.{layer}.mlp.up_proj.weight": rng.normal(0, 0.02, (512, 256)),
            f"model.layers.{layer}.input_layernorm.weight": np.ones(256),
        }
        (root / f"model-0000{shard}-of-00002.safetensors").write_bytes(_st(tensors))
    (root / "config.json").write_text(
        json.dumps({"model_type": "llama", "hidden_size": 256, "num_hidden_layers": 2})
    )
    return root


def _gpt2(root: Path) -> Path:
    """Weights of another architecture (other names and shapes)."""
    rng = np.random.default_rng(5)
    root.mkdir(parents=True, exist_ok=True)
    tensors = {"transformer.wte.weight": rng.normal(0, 0.02, (512, 96)),
               "transformer.h.0.attn.c_attn.weight": rng.normal(0, 0.02, (96, 288)),
               "transformer.h.0.mlp.c_fc.weight": rng.normal(0, 0.02, (96, 384))}  # fmt: skip
    (root / "model.safetensors").write_bytes(_st(tensors))
    return root


def _api(server: Server, method: str, path: str, token: str | None = None,
         body: Any = None, **kw: Any) -> httpx.Response:  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(kw.pop("headers", {}))
    return httpx.request(method, server.url + path, json=body, headers=headers, timeout=60, **kw)


def _ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, (r.status_code, r.text)
    return r.json()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _ow(*args: str) -> Any:
    return runner.invoke(cli, list(args))


SHARDS = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")


def test_two_recipients_marked_copies_verify_trace_and_check(
    server: Server, tmp_path: Path
) -> None:
    url = ["--registry", server.url]
    pub = server.user("pat", "acme", "publisher")
    ann = server.user("ann", "labs", "reader")
    bob = server.user("bob", "labs2", "reader")
    otto = server.user("otto", "labs3", "reader")
    source = _llama(tmp_path / "src")
    assert server.client(pub).push(source, "acme/mk:1")["status"] == "published"
    # An open model cannot be marked; gated with per-recipient marks can (and shows it).
    r = _api(server, "PUT", "/api/v1/models/acme/mk/access", pub,
             {"tier": "open", "watermark": "per-recipient"})  # fmt: skip
    assert r.status_code == 422 and "gated or restricted" in r.json()["detail"]
    out = _ow("registry", "access", "set", "acme/mk", "--tier", "gated", "--watermark",
              "per-recipient", *url, "--token", pub)  # fmt: skip
    assert out.exit_code == 0 and "marked per recipient" in out.output, out.output
    shown = _ow("registry", "access", "show", "acme/mk", *url, "--token", pub, "--json")
    assert json.loads(shown.output)["watermark"] == "per-recipient"
    page = httpx.get(f"{server.url}/models/acme/mk")
    assert 'data-testid="watermark"' in page.text
    grants = {u: _ok(_api(server, "POST", "/api/v1/models/acme/mk/access/grants", pub,
                          {"user": u}), 201)["id"] for u in ("ann", "bob")}  # fmt: skip

    # Each grantee downloads their own copy: the shards differ from the original and from
    # each other, the rest is unchanged; the publisher gets the original.
    copies = {}
    for who, token in (("ann", ann), ("bob", bob), ("pat", pub)):
        result = server.client(token).pull("acme/mk:1", tmp_path / who)
        copies[who] = tmp_path / who
        if who != "pat":
            assert result["recipient"]["grant"] == grants[who]
            assert result["digest"] != result["recipient"]["original_digest"]
    for shard in SHARDS:
        originals = {_sha(source / shard)}
        assert _sha(copies["pat"] / shard) in originals
        assert _sha(copies["ann"] / shard) not in originals
        assert _sha(copies["bob"] / shard) not in originals
        assert _sha(copies["ann"] / shard) != _sha(copies["bob"] / shard)
        assert (copies["ann"] / shard).stat().st_size == (source / shard).stat().st_size
    assert (copies["ann"] / "config.json").read_bytes() == (source / "config.json").read_bytes()
    assert not (copies["pat"] / "openward-recipient.sig").exists()

    # Each copy verifies with the registry's key and its own bundle, not another's.
    key = tmp_path / "registry.pub"
    key.write_text(httpx.get(f"{server.url}/api/v1/registry/key").text)
    for who in ("ann", "bob"):
        sig = copies[who] / "openward-recipient.sig"
        v = _ow("verify", str(copies[who]), "--signature", str(sig), "--key", str(key))
        assert v.exit_code == 0, v.output
    swapped = _ow("verify", str(copies["ann"]), "--signature",
                  str(copies["bob"] / "openward-recipient.sig"), "--key", str(key))  # fmt: skip
    assert swapped.exit_code == 1

    # Marked files are streamed by the registry (no redirect to the object store), in
    # one byte range too; other files are served as before.
    shard_url = f"/api/v1/models/acme/mk/versions/1/files/{SHARDS[0]}"
    whole = (copies["ann"] / SHARDS[0]).read_bytes()
    r = _api(server, "GET", shard_url, ann, headers={"Range": "bytes=100-4195"})
    assert r.status_code == 206 and r.content == whole[100:4196]
    assert r.headers["content-range"] == f"bytes 100-4195/{len(whole)}"
    r = _api(server, "GET", shard_url, ann, headers={"Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == whole[-10:]
    r = _api(server, "GET", shard_url, ann, headers={"Range": "bytes=0-1,5-9"})
    assert r.status_code == 416 and "one byte range" in r.json()["detail"]
    r = _api(server, "HEAD", shard_url, ann)
    assert r.status_code == 200 and r.headers["x-sha256"] == _sha(copies["ann"] / SHARDS[0])
    with httpx.Client(follow_redirects=False, timeout=60) as h:
        auth = {"Authorization": f"Bearer {ann}"}
        assert h.get(server.url + shard_url, headers=auth).status_code == 200
        cfg = h.get(server.url + "/api/v1/models/acme/mk/versions/1/files/config.json",
                    headers=auth)  # fmt: skip
        assert cfg.status_code == (200 if server.settings.blob_url is None else 307)

    # The publisher traces bob's copy: bob's grant, not ann's, p <= 1e-6.
    t = _ow("trace", str(copies["bob"]), "acme/mk", *url, "--token", pub, "--json")
    assert t.exit_code == 1, t.output
    doc = json.loads(t.output)
    assert [m["grant"] for m in doc["matches"]] == [grants["bob"]]
    assert doc["matches"][0]["user"] == "bob" and doc["matches"][0]["p_value"] <= 1e-6
    text = _ow("trace", str(copies["bob"]), "acme/mk", *url, "--token", server.admin)
    assert text.exit_code == 1 and f"grant #{grants['bob']} to bob" in text.output
    # The original carries no recipient's mark.
    clean = _ow("trace", str(source), "acme/mk", *url, "--token", pub, "--json")
    assert clean.exit_code == 0 and json.loads(clean.output)["matches"] == []
    assert "no recipient's mark found" in _ow("trace", str(source), "acme/mk", *url,
                                              "--token", pub).output  # fmt: skip
    # Only its publishers and admins may trace (a grantee may not either).
    for token in (otto, ann):
        denied = _ow("trace", str(copies["bob"]), "acme/mk", *url, "--token", token)
        assert denied.exit_code == 2 and "403" in denied.output
    # Weights of another architecture: one line, exit 2.
    other = _ow("trace", str(_gpt2(tmp_path / "gpt2")), "acme/mk", *url, "--token", pub)
    assert other.exit_code == 2 and "not a copy of this model" in other.output
    assert len(other.output.strip().splitlines()) == 1

    # Every trace is in the transparency log: who, the suspect's digest, the grants.
    entries = _ok(_api(server, "GET", "/api/v1/log/entries?start=0&end=1000"))["entries"]
    traces = [json.loads(e["body"]) for e in entries if '"kind":"trace"' in e["body"]]
    assert [(t["by"], t["result"], t["grants"]) for t in traces] == [
        ("pat", "match", [grants["bob"]]), ("admin", "match", [grants["bob"]]),
        ("pat", "none", []), ("pat", "none", []), ("pat", "not-a-copy", []),
    ]  # fmt: skip
    assert all(len(t["suspect"]) == 64 for t in traces)
    assert not any("key" in k for t in traces for k in t)

    # `openward check` relates the copy to its version: the grant only for the publisher.
    mine = _ow("check", str(copies["bob"]), *url, "--token", pub, "--json")
    related = json.loads(mine.output)["results"][0]["recipient_copy"]
    assert related["name"] == "acme/mk" and related["version"] == "1" and related["exact"]
    assert related["grant"] == grants["bob"] and related["user"] == "bob"
    theirs = _ow("check", str(copies["bob"]), *url, "--token", otto, "--json")
    related = json.loads(theirs.output)["results"][0]["recipient_copy"]
    assert related["name"] == "acme/mk" and "grant" not in related and "user" not in related
    assert "a recipient copy of acme/mk:1" in _ow("check", str(copies["bob"]), *url).output


@pytest.mark.parametrize("server", ["embedded"], indirect=True)
def test_marks_follow_the_tier_and_a_takedown_reaches_marked_copies(
    server: Server, tmp_path: Path
) -> None:
    url = ["--registry", server.url]
    pub = server.user("pat", "acme", "publisher")
    ann = server.user("ann", "labs", "reader")
    source = _llama(tmp_path / "src", seed=3)
    assert server.client(pub).push(source, "acme/tk:1")["status"] == "published"
    _ok(_api(server, "PUT", "/api/v1/models/acme/tk/access", pub,
             {"tier": "gated", "watermark": "per-recipient"}))  # fmt: skip
    _ok(_api(server, "POST", "/api/v1/models/acme/tk/access/grants", pub, {"user": "ann"}), 201)
    server.client(ann).pull("acme/tk:1", tmp_path / "ann")
    assert _sha(tmp_path / "ann" / SHARDS[0]) != _sha(source / SHARDS[0])
    # An admin takes the version down: the marked copy is flagged as a copy of it.
    _ok(_api(server, "POST", "/api/v1/models/acme/tk/versions/1/takedown", server.admin,
             {"reason": "leaked secrets"}))  # fmt: skip
    flagged = _ow("check", str(tmp_path / "ann"), *url, "--json")
    assert flagged.exit_code == 1, flagged.output
    hit = json.loads(flagged.output)["results"][0]["flagged"][0]
    assert (hit["name"], hit["version"], hit["match"]) == ("acme/tk", "1", "exact")
    # ... and by the registry's own check (POST /api/v1/check), which says whose copy
    # only to the model's publishers.
    from openward.registry.check import hash_target

    digest, files = hash_target(tmp_path / "ann")
    for token, whose in ((pub, "ann"), (None, None)):
        doc = _ok(_api(server, "POST", "/api/v1/check", token, {"digest": digest, "files": files}))
        assert [(h["name"], h["match"]) for h in doc["flagged"]] == [("acme/tk", "exact")]
        assert doc["recipient_copy"]["version"] == "1"
        assert doc["recipient_copy"].get("user") == whose
    # Opening the model turns the marks off (logged).
    _ok(_api(server, "PUT", "/api/v1/models/acme/tk/access", pub, {"tier": "open"}))
    assert _ok(_api(server, "GET", "/api/v1/models/acme/tk/access", pub))["watermark"] == "none"
    entries = _ok(_api(server, "GET", "/api/v1/log/entries?start=0&end=1000"))["entries"]
    marks = [json.loads(e["body"]) for e in entries if '"kind":"watermark"' in e["body"]]
    assert [(m["watermark"], m["by"]) for m in marks] == [("per-recipient", "pat"),
                                                          ("none", "pat")]  # fmt: skip


@pytest.mark.parametrize("server", ["embedded"], indirect=True)
@pytest.mark.registry_settings(
    policy=Path(__file__).parent / "data" / "marks-policy.yaml", max_trace_bytes=64 << 10
)
def test_a_policy_threshold_demands_marks(server: Server, tmp_path: Path) -> None:
    pub = server.user("pat", "acme", "publisher")
    source = _llama(tmp_path / "src", seed=4)
    (source / "README.md").write_text("---\nlicense: apache-2.0\ntraining_tokens: 1000000\n---\n")
    (source / "model.onnx").write_bytes(np.random.default_rng(3).bytes(40_000))  # unmarkable
    pushed = server.client(pub).push(source, "acme/pol:1")
    assert pushed["status"] == "published"
    # the marks the policy turned on at check time withhold the ONNX file: said there
    assert pushed["reasons"] == [
        "acme/pol:1: withheld from recipients of per-recipient marks (weights that cannot "
        "carry a mark): model.onnx"
    ]
    doc = _ok(_api(server, "GET", "/api/v1/models/acme/pol/access", pub))
    assert (doc["tier"], doc["watermark"]) == ("gated", "per-recipient")
    r = _api(server, "PUT", "/api/v1/models/acme/pol/access", pub,
             {"tier": "gated", "watermark": "none"})  # fmt: skip
    assert r.status_code == 422 and "test-marks" in r.json()["detail"]
    entries = _ok(_api(server, "GET", "/api/v1/log/entries?start=0&end=1000"))["entries"]
    marks = [json.loads(e["body"]) for e in entries if '"kind":"watermark"' in e["body"]]
    assert [(m["watermark"], m["by"]) for m in marks] == [("per-recipient", "policy")]
    # A suspect larger than the registry's trace limit is refused before it is read.
    big = _ow("trace", str(source), "acme/pol", "--registry", server.url, "--token", pub)
    assert big.exit_code == 2 and "413" in big.output and "trace limit" in big.output


def test_policy_watermark_needs_a_closed_tier(tmp_path: Path) -> None:
    from openward.facts.policy import PolicyError, load_policy

    text = (Path(__file__).parent / "data" / "marks-policy.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("minimum_access: gated", "minimum_access: open"))
    with pytest.raises(PolicyError, match="needs a minimum_access of gated or restricted"):
        load_policy(bad)
    assert (
        load_policy(Path(__file__).parent / "data" / "marks-policy.yaml").thresholds[0].watermark
        == "per-recipient"
    )
