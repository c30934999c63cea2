"""Registry governance end to end over real HTTP, on both configurations: access tiers,
requests and grants, the download log, registration above the compute threshold,
takedowns and advisories reaching copies on disk, key revocation, and the
transparency log (including a database tampered with behind the registry's back)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from openward.cli.main import app as cli
from openward.registry.client import ClientError
from tests.registry.conftest import Server
from tests.registry.test_registry import _model

runner = CliRunner()


def _api(server: Server, method: str, path: str, token: str | None = None,
         body: Any = None) -> httpx.Response:  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, server.url + path, json=body, headers=headers, timeout=60)


def _ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, (r.status_code, r.text)
    return r.json()


def _ow(*args: str) -> Any:
    result = runner.invoke(cli, list(args))
    return result


def _big_model(root: Path, seed: int = 7, tokens: str = "100000000000000000000") -> Path:
    """A tiny model whose card declares enough training tokens for ~2e25 FLOP: above
    the EU systemic-risk presumption, so the policy demands registration and gating."""
    _model(root, seed=seed)
    (root / "README.md").write_text(
        f"---\nlicense: apache-2.0\ntraining_tokens: {tokens}\n---\n# Big model\n"
    )
    return root


def test_gated_access_request_grant_scope_expiry_revocation_and_download_log(
    server: Server, tmp_path: Path
) -> None:
    pub = server.user("pat", "acme", "publisher")
    reader = server.user("rita", "labs", "reader")
    other = server.user("otto", "labs2", "reader")
    model = _model(tmp_path / "m", seed=11)
    assert server.client(pub).push(model, "acme/gem:1")["status"] == "published"
    # A reader may not change the tier; the publisher may.
    assert _api(server, "PUT", "/api/v1/models/acme/gem/access", reader,
                {"tier": "gated"}).status_code == 403  # fmt: skip
    doc = _ok(_api(server, "PUT", "/api/v1/models/acme/gem/access", pub, {"tier": "gated"}))
    assert doc["tier"] == "gated" and "intended_use" in doc["fields"]
    # Anonymous and ungranted users are refused with how to ask.
    with pytest.raises(ClientError, match="sign in") as info:
        server.client().pull("acme/gem:1", tmp_path / "anon")
    assert info.value.status == 401
    with pytest.raises(ClientError, match="openward access request acme/gem"):
        server.client(reader).pull("acme/gem:1", tmp_path / "r0")
    # A request must answer the publisher's fields.
    r = _api(server, "POST", "/api/v1/models/acme/gem/access/requests", reader,
             {"fields": {"organisation": "labs"}})  # fmt: skip
    assert r.status_code == 422 and "intended_use" in r.json()["detail"]
    req = _ok(_api(server, "POST", "/api/v1/models/acme/gem/access/requests", reader, {
        "fields": {"organisation": "labs", "intended_use": "evals", "accept_license": True}
    }), 201)  # fmt: skip
    with pytest.raises(ClientError, match="awaits"):
        server.client(reader).pull("acme/gem:1", tmp_path / "r1")
    # Only the publisher (or an admin) decides; the grant covers version 1 only.
    assert _api(server, "POST", "/api/v1/models/acme/gem/access/grants", other,
                {"request": req["id"]}).status_code == 403  # fmt: skip
    grant = _ok(_api(server, "POST", "/api/v1/models/acme/gem/access/grants", pub,
                     {"request": req["id"], "versions": ["1"], "expires": "30d"}), 201)  # fmt: skip
    assert grant["state"] == "active" and grant["user"] == "rita"
    pulled = server.client(reader).pull("acme/gem:1", tmp_path / "r2")
    assert pulled["files"] == 4
    assert server.client(pub).push(_model(tmp_path / "m2", seed=12), "acme/gem:2")["status"] == (
        "published"
    )
    with pytest.raises(ClientError, match="does not cover version 2"):
        server.client(reader).pull("acme/gem:2", tmp_path / "r3")
    # The publisher sees who downloaded what with which token; others do not.
    log = _ok(_api(server, "GET", "/api/v1/models/acme/gem/downloads", pub))["downloads"]
    assert {d["user"] for d in log} == {"rita"} and len(log) == 4
    assert all(d["token_id"] and d["version"] == "1" for d in log)
    assert _api(server, "GET", "/api/v1/models/acme/gem/downloads", reader).status_code == 403
    # Revocation takes effect on the next download.
    _ok(_api(server, "POST", f"/api/v1/models/acme/gem/access/grants/{grant['id']}/revoke",
             pub, {"reason": "contract ended"}))  # fmt: skip
    with pytest.raises(ClientError, match="gated"):
        server.client(reader).pull("acme/gem:1", tmp_path / "r4")
    # Expired access says so.
    _ok(_api(server, "POST", "/api/v1/models/acme/gem/access/grants", pub,
             {"user": "otto", "expires": "2020-01-01T00:00:00+00:00"}), 201)  # fmt: skip
    with pytest.raises(ClientError, match="expired on 2020-01-01"):
        server.client(other).pull("acme/gem:1", tmp_path / "o1")
    # A denial carries its reason to the requester.
    req2 = _ok(_api(server, "POST", "/api/v1/models/acme/gem/access/requests", other, {
        "fields": {"organisation": "labs2", "intended_use": "x", "accept_license": True}
    }), 201)  # fmt: skip
    assert _api(server, "POST", f"/api/v1/models/acme/gem/access/requests/{req2['id']}/deny",
                pub, {"reason": ""}).status_code == 422  # fmt: skip
    _ok(_api(server, "POST", f"/api/v1/models/acme/gem/access/requests/{req2['id']}/deny",
             pub, {"reason": "no affiliation given"}))  # fmt: skip
    overview = _ok(_api(server, "GET", "/api/v1/models/acme/gem/access", other))
    assert [r["status"] for r in overview["requests"]] == ["denied"]
    # The publisher always downloads its own model.
    assert server.client(pub).pull("acme/gem:2", tmp_path / "p")["files"] == 4


def test_restricted_models_are_granted_to_organisations_by_admins(
    server: Server, tmp_path: Path
) -> None:
    pub = server.user("pia", "acme", "publisher")
    member = server.user("mo", "partner", "reader")
    outsider = server.user("out", "elsewhere", "reader")
    assert server.client(pub).push(_model(tmp_path / "m", seed=21), "acme/res:1")["status"] == (
        "published"
    )
    _ok(_api(server, "PUT", "/api/v1/models/acme/res/access", pub, {"tier": "restricted"}))
    r = _api(server, "POST", "/api/v1/models/acme/res/access/grants", pub,
             {"organisation": "partner"})  # fmt: skip
    assert r.status_code == 403 and "only an admin" in r.json()["detail"]
    _ok(_api(server, "POST", "/api/v1/models/acme/res/access/grants", server.admin,
             {"organisation": "partner"}), 201)  # fmt: skip
    assert server.client(member).pull("acme/res:1", tmp_path / "ok")["files"] == 4
    with pytest.raises(ClientError, match="restricted"):
        server.client(outsider).pull("acme/res:1", tmp_path / "no")


def test_registration_review_signed_and_logged(server: Server, tmp_path: Path) -> None:
    pub = server.user("dev", "frontier", "publisher")
    reviewer = server.user("rev", None, "reviewer")
    reader = server.user("joe", "labs", "reader")
    pushed = server.client(pub).push(_big_model(tmp_path / "big"), "frontier/huge:1")
    assert pushed["status"] == "needs-registration"
    assert any("eu-systemic-risk" in r for r in pushed["reasons"])
    # Held: the public cannot see it, its files cannot be downloaded.
    assert _api(server, "GET", "/api/v1/models/frontier/huge/versions/1").status_code == 404
    # The policy made the model gated; the publisher cannot loosen it.
    access = _ok(_api(server, "GET", "/api/v1/models/frontier/huge/access", pub))
    assert access["tier"] == "gated" and access["minimum_tier"] == "gated"
    r = _api(server, "PUT", "/api/v1/models/frontier/huge/access", pub, {"tier": "open"})
    assert r.status_code == 422 and "at least 'gated'" in r.json()["detail"]
    # An incomplete record is refused with what is missing.
    r = _api(server, "POST", "/api/v1/models/frontier/huge/versions/1/registration", pub,
             {"record": {"developer": "Frontier Labs"}})  # fmt: skip
    assert r.status_code == 422 and "incident_contact" in r.json()["detail"]
    record = {
        "developer": "Frontier Labs Ltd", "training_data": "web text, code",
        "training_compute": {"flop": 3e24, "method": "6ND"},  # far below the estimate
        "intended_use": "research", "incident_contact": "security@frontier.example",
        "safety_evaluations": ["internal red-team report 2026-11"],
    }  # fmt: skip
    (tmp_path / "registration.yaml").write_text(json.dumps(record))
    res = _ow("register", "frontier/huge:1", "--file", str(tmp_path / "registration.yaml"),
              "--registry", server.url, "--token", pub, "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    submitted = json.loads(res.output)
    assert any("outside the registry's estimate" in f for f in submitted["flags"])
    # Readers do not review; the reviewer sees the queue with the flag.
    assert _api(server, "GET", "/api/v1/registrations", reader).status_code == 403
    res = _ow("registry", "review", "--registry", server.url, "--token", reviewer)
    assert res.exit_code == 0 and "FLAG declared compute" in res.output, res.output
    res = _ow("registry", "review", str(submitted["id"]), "--reject", "--reason",
              "declared compute disagrees with the weights", "--registry", server.url,
              "--token", reviewer, "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (
        _ok(_api(server, "GET", "/api/v1/models/frontier/huge/versions/1", pub))["status"]
        == "needs-registration"
    )
    # Resubmitted with a figure in range, accepted: published, decision signed.
    record["training_compute"] = {"flop": 2.0e25, "method": "6ND, 1e20 tokens"}
    again = _ok(_api(server, "POST", "/api/v1/models/frontier/huge/versions/1/registration",
                     pub, {"record": record}), 201)  # fmt: skip
    assert again["flags"] == []
    decided = _ok(_api(server, "POST", f"/api/v1/registrations/{again['id']}/decision",
                       reviewer, {"accept": True, "reason": "complete"}))  # fmt: skip
    assert decided["status"] == "accepted"
    version = _ok(_api(server, "GET", "/api/v1/models/frontier/huge/versions/1"))
    assert version["status"] == "published" and version["access_tier"] == "gated"
    _check_registry_signature(server, decided["attestation"], "accepted", record)
    # A rescan (new rules) keeps the accepted registration.
    _ok(_api(server, "POST", "/api/v1/admin/rescan", server.admin), 202)
    _wait_status(server, "frontier/huge/versions/1", "published")
    kinds = [json.loads(e["body"])["kind"] for e in _entries(server)]
    for kind in ("needs-registration", "registration-submitted", "registration-rejected",
                 "registration-accepted", "published", "access-tier"):  # fmt: skip
        assert kind in kinds


def _wait_status(server: Server, path: str, status: str) -> None:
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        doc = _ok(_api(server, "GET", f"/api/v1/models/{path}", server.admin))
        if doc["status"] not in ("checking", "uploading") and not doc["recheck_pending"]:
            assert doc["status"] == status, doc["reasons"]
            return
        time.sleep(0.2)
    raise AssertionError(f"{path} still checking")


def _entries(server: Server) -> list[dict[str, Any]]:
    head = _ok(_api(server, "GET", "/api/v1/log/head"))
    out: list[dict[str, Any]] = []
    while len(out) < head["size"]:
        page = _ok(_api(server, "GET", f"/api/v1/log/entries?start={len(out)}&end={head['size']}"))
        out.extend(page["entries"])
    return out


def _check_registry_signature(server: Server, bundle_json: str, status: str,
                              record: dict[str, Any]) -> None:  # fmt: skip
    import base64

    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from openward.signing.bundle import INTOTO_PAYLOAD_TYPE, pae
    from openward.signing.keys import verify_bytes

    bundle = json.loads(bundle_json)
    envelope = bundle["dsseEnvelope"]
    payload = base64.b64decode(envelope["payload"])
    signature = base64.b64decode(envelope["signatures"][0]["sig"])
    key = load_pem_public_key(httpx.get(server.url + "/api/v1/registry/key").text.encode())
    assert verify_bytes(key, signature, pae(INTOTO_PAYLOAD_TYPE, payload))  # type: ignore[arg-type]
    statement = json.loads(payload)
    assert statement["predicateType"].endswith("/registration/v1")
    assert statement["predicate"]["decision"]["status"] == status
    assert statement["predicate"]["record"] == record


def test_takedown_451_advisory_and_check_of_a_copy_pulled_before(
    server: Server, tmp_path: Path
) -> None:
    pub = server.user("pam", "acme", "publisher")
    model = _model(tmp_path / "m", seed=31)
    clean = _model(tmp_path / "clean", seed=32)
    client = server.client(pub)
    assert client.push(model, "acme/bad:1")["status"] == "published"
    assert client.push(clean, "acme/good:1")["status"] == "published"
    copy = tmp_path / "copy"
    server.client().pull("acme/bad:1", copy)
    good_copy = tmp_path / "good-copy"
    server.client().pull("acme/good:1", good_copy)
    common = ["--registry", server.url]
    assert _ow("check", str(copy), *common).exit_code == 0
    advisory = tmp_path / "advisory.yaml"
    advisory.write_text("severity: critical\nsummary: backdoored weights\n"
                        "details: a trigger phrase flips refusals\n"
                        "references: [https://example.org/report]\n")  # fmt: skip
    res = _ow("registry", "takedown", "acme/bad:1", "--reason", "backdoor found",
              "--advisory", str(advisory), *common, "--token", pub)  # fmt: skip
    assert res.exit_code == 2 and "only an admin" in res.output
    res = _ow("registry", "takedown", "acme/bad:1", "--reason", "backdoor found",
              "--advisory", str(advisory), *common, "--token", server.admin, "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    osv = json.loads(res.output)["advisory"]
    assert osv["id"].startswith("x_OW-")
    assert osv["affected"][0]["ecosystem_specific"]["model"] == "acme/bad"
    # Downloads refused with 451 and the reason; metadata still says why.
    r = _api(server, "GET", "/api/v1/models/acme/bad/versions/1/files/config.json")
    assert r.status_code == 451 and "backdoor found" in r.json()["detail"]
    info = _ok(_api(server, "GET", "/api/v1/models/acme/bad/versions/1"))
    assert info["status"] == "taken-down"
    # OSV listing validates against the fields OSV requires.
    listed = _ok(_api(server, "GET", "/api/v1/advisories"))["advisories"]
    assert [a["id"] for a in listed] == [osv["id"]]
    _valid_osv(listed[0])
    res = _ow("registry", "advisories", *common)
    assert res.exit_code == 0 and f"{osv['id']} CRITICAL acme/bad 1: backdoored" in res.output
    _valid_osv(_ok(_api(server, "GET", f"/api/v1/advisories/{osv['id']}")))
    # The copy pulled before is flagged online, offline, and after a file was added.
    res = _ow("check", str(copy), *common, "--json")
    assert res.exit_code == 1, res.output
    hit = json.loads(res.output)["results"][0]["flagged"][0]
    assert hit["match"] == "exact" and hit["status"] == "taken-down"
    assert osv["id"] in hit["advisories"]
    export = tmp_path / "export.json"
    assert _ow("registry", "advisories", "--export", str(export), *common).exit_code == 0
    (copy / "notes.txt").write_text("mine")
    res = _ow("check", str(copy), "--advisories", str(export))
    assert res.exit_code == 1 and "FLAGGED" in res.output and "files match" in res.output
    # A clean model sharing nothing flagged passes, offline and online.
    assert _ow("check", str(good_copy), "--advisories", str(export)).exit_code == 0
    assert _ow("check", str(good_copy), *common).exit_code == 0
    kinds = [json.loads(e["body"])["kind"] for e in _entries(server)]
    assert "taken-down" in kinds and "advisory" in kinds
    # The same question through the API, as other clients ask it.
    from openward.registry.check import hash_target

    digest, files = hash_target(good_copy)
    assert _ok(_api(server, "POST", "/api/v1/check", None,
                    {"digest": digest, "files": files}))["flagged"] == []  # fmt: skip
    digest, files = hash_target(tmp_path / "m")
    hits = _ok(_api(server, "POST", "/api/v1/check", None,
                    {"digest": digest, "files": files}))["flagged"]  # fmt: skip
    assert [(h["name"], h["match"]) for h in hits] == [("acme/bad", "exact")]


def _valid_osv(doc: dict[str, Any]) -> None:
    """Against the OSV project's own JSON schema (tests/registry/data/osv-schema.json)."""
    import jsonschema

    schema = json.loads((Path(__file__).parent / "data" / "osv-schema.json").read_text())
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(doc)]
    assert errors == []


def test_check_reads_a_hugging_face_cache(server: Server, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    pub = server.user("hal", "acme", "publisher")
    model = _model(tmp_path / "m", seed=41)
    assert server.client(pub).push(model, "acme/cached:1")["status"] == "published"
    # Lay the same files out as huggingface_hub does: blobs and snapshot links.
    import hashlib

    cache = tmp_path / "hub"
    repo = cache / "models--acme--cached"
    snap = repo / "snapshots" / ("a" * 40)
    for f in sorted(p for p in model.rglob("*") if p.is_file()):
        data = f.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = snap / f.relative_to(model)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path("../" * (len(f.relative_to(model).parts) + 1)) / "blobs" / blob.name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    assert _ow("check", "--hf-cache", "--registry", server.url).exit_code == 0
    _ok(_api(server, "POST", "/api/v1/models/acme/cached/versions/1/takedown", server.admin,
             {"reason": "leaked credentials in the card"}))  # fmt: skip
    res = _ow("check", str(snap), "--registry", server.url)
    assert res.exit_code == 1 and "acme/cached:1 is taken-down (exact match)" in res.output
    res = _ow("check", "--hf-cache", "--registry", server.url, "--json")
    assert res.exit_code == 1 and json.loads(res.output)["flagged"] == 1


def test_revoked_key_stops_verifying_later_pushes(server: Server, tmp_path: Path) -> None:
    from openward.signing.keys import generate_key, write_key_pair

    pub = server.user("kim", "acme", "publisher")
    key_path, pub_path = tmp_path / "k.pem", tmp_path / "k.pub"
    write_key_pair(generate_key(), key_path, pub_path)
    res = _ow("registry", "key", "add", str(key_path), "--registry", server.url,
              "--token", pub, "--json")  # fmt: skip
    hint = json.loads(res.output)["hint"]
    first = _model(tmp_path / "a", seed=51)
    sig1 = first.parent / "a.sig"
    assert _ow("sign", str(first), "--key", str(key_path), "-o", str(sig1)).exit_code == 0
    assert server.client(pub).push(first, "acme/signed:1", signature=sig1)["status"] == (
        "published"
    )
    res = _ow("registry", "key", "revoke", hint[:16], "--reason", "laptop stolen",
              "--registry", server.url, "--token", pub)  # fmt: skip
    assert res.exit_code == 0, res.output
    second = _model(tmp_path / "b", seed=52)
    sig2 = second.parent / "b.sig"
    assert _ow("sign", str(second), "--key", str(key_path), "-o", str(sig2)).exit_code == 0
    result = server.client(pub).push(second, "acme/signed:2", signature=sig2)
    assert result["status"] == "quarantined"
    assert any("revoked" in r for r in result["reasons"])
    # The version signed before the revocation keeps its verified signature.
    v1 = _ok(_api(server, "GET", "/api/v1/models/acme/signed/versions/1"))
    assert v1["status"] == "published" and v1["signature_status"].startswith("verified")
    kinds = [json.loads(e["body"])["kind"] for e in _entries(server)]
    assert "key-added" in kinds and "key-revoked" in kinds


def test_transparency_log_proofs_and_tampering_caught(server: Server, tmp_path: Path) -> None:
    from openward.registry import merkle, tlog

    pub = server.user("lou", "acme", "publisher")
    client = server.client(pub)
    assert client.push(_model(tmp_path / "m1", seed=61), "acme/log:1")["status"] == "published"
    state = tmp_path / "heads.json"
    args = ["registry", "log", "verify", "--registry", server.url, "--state", str(state)]
    res = _ow(*args, "--json")
    assert res.exit_code == 0, res.output
    first = json.loads(res.output)
    assert first["ok"] and first["old_size"] is None and first["new_size"] >= 1
    # Growth: proofs verify; inclusion proof of every entry against the signed head.
    assert client.push(_model(tmp_path / "m2", seed=62), "acme/log:2")["status"] == "published"
    _ok(_api(server, "PUT", "/api/v1/models/acme/log/access", pub, {"tier": "gated"}))
    res = _ow(*args, "--json")
    assert res.exit_code == 0, res.output
    second = json.loads(res.output)
    assert second["old_size"] == first["new_size"] and second["new_entries"] >= 2
    head = _ok(_api(server, "GET", "/api/v1/log/head"))
    root = tlog.unb64(head["root"])
    for i, entry in enumerate(_entries(server)):
        proof = _ok(_api(server, "GET", f"/api/v1/log/inclusion?index={i}&size={head['size']}"))
        leaf = merkle.leaf_hash(entry["body"].encode())
        path = [tlog.unb64(h) for h in proof["proof"]]
        assert merkle.verify_inclusion(leaf, i, head["size"], path, root)
    # Tamper 1: an entry added since the last check is deleted from the database.
    client.push(_model(tmp_path / "m3", seed=63), "acme/log:3")
    saved = state.read_text()
    _sql(server, "DELETE FROM log_entries WHERE idx = (SELECT MAX(idx) FROM log_entries)")
    res = _ow(*args)
    assert res.exit_code == 1 and "INCONSISTENT" in res.output, res.output
    assert state.read_text() == saved  # a failed check never replaces the trusted head
    # Tamper 2: an old entry (covered by the trusted head) rewritten and every derived
    # hash recomputed to match: the history changed, so no consistency proof exists.
    _sql(server, "UPDATE log_entries SET body = REPLACE(body, '\"published\"', "
                 "'\"quarantined\"') WHERE idx = "
                 "(SELECT MIN(idx) FROM log_entries WHERE kind = 'published')")  # fmt: skip
    _rebuild(server)
    res = _ow(*args)
    assert res.exit_code == 1 and "not an extension" in res.output, res.output


def test_log_audit_catches_a_rewrite_that_left_hashes_alone(server: Server,
                                                            tmp_path: Path) -> None:  # fmt: skip
    pub = server.user("ann", "acme", "publisher")
    assert server.client(pub).push(_model(tmp_path / "m", seed=71), "acme/au:1")["status"] == (
        "published"
    )
    state = tmp_path / "heads.json"
    args = ["registry", "log", "verify", "--registry", server.url, "--state", str(state)]
    assert _ow(*args).exit_code == 0
    _sql(server, "UPDATE log_entries SET body = REPLACE(body, 'acme/au', 'acme/zz') WHERE "
                 "idx = (SELECT MIN(idx) FROM log_entries WHERE kind = 'published')")  # fmt: skip
    res = _ow(*args, "--audit")
    assert res.exit_code == 1 and "rewritten" in res.output, res.output


def _engine(server: Server) -> Any:
    import os

    from sqlalchemy import create_engine

    url = os.environ.get("OPENWARD_DATABASE_URL") or f"sqlite:///{server.data / 'registry.db'}"
    return create_engine(url)


def _sql(server: Server, statement: str) -> None:
    from sqlalchemy import text

    engine = _engine(server)
    with engine.begin() as conn:
        conn.execute(text(statement))
    engine.dispose()


def _rebuild(server: Server) -> None:
    from sqlalchemy.orm import Session

    from openward.registry import tlog

    engine = _engine(server)
    with Session(engine) as s, s.begin():
        tlog.rebuild(s)
    engine.dispose()


def test_cli_contract_forms(server: Server, tmp_path: Path) -> None:
    common = ["--registry", server.url]
    res = _ow("registry", "token", "create", "--user", "cara", "--role", "publisher",
              "--org", "acme", *common, "--token", server.admin, "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    pub = json.loads(res.output)["token"]
    res = _ow("registry", "token", "create", "--user", "rex", "--role", "reviewer",
              *common, "--token", server.admin, "--json")  # fmt: skip
    assert res.exit_code == 0 and json.loads(res.output)["token"].startswith("ow_")
    res = _ow("registry", "token", "create", "--user", "ula", "--role", "reader",
              "--org", "uni", *common, "--token", server.admin, "--json")  # fmt: skip
    reader = json.loads(res.output)["token"]
    assert server.client(pub).push(_model(tmp_path / "m", seed=81), "acme/cli:1")["status"] == (
        "published"
    )
    res = _ow("registry", "access", "set", "acme/cli", "--tier", "gated", *common,
              "--token", pub, "--json")  # fmt: skip
    assert res.exit_code == 0 and json.loads(res.output)["tier"] == "gated"
    res = _ow("access", "request", "acme/cli", "--organisation", "uni", "--intended-use",
              "evaluation", "--accept-license", *common, "--token", reader, "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    request_id = json.loads(res.output)["id"]
    res = _ow("registry", "access", "grant", "acme/cli", "--request", str(request_id),
              "--expires", "7d", *common, "--token", pub, "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    grant_id = json.loads(res.output)["id"]
    res = _ow("pull", "acme/cli:1", "-o", str(tmp_path / "out"), *common, "--token", reader)
    assert res.exit_code == 0, res.output
    res = _ow("registry", "downloads", "acme/cli", *common, "--token", pub)
    assert "ula" in res.output
    res = _ow("registry", "access", "revoke", "acme/cli", "--grant", str(grant_id),
              "--reason", "done", *common, "--token", pub, "--json")  # fmt: skip
    assert res.exit_code == 0 and json.loads(res.output)["state"] == "revoked"
    res = _ow("pull", "acme/cli:1", "-o", str(tmp_path / "out2"), *common, "--token", reader)
    assert res.exit_code == 1 and "gated" in res.output
    res = _ow("access", "request", "acme/cli", "--organisation", "uni", *common,
              "--token", reader)  # fmt: skip
    assert res.exit_code == 2 and "missing: intended_use" in res.output
    res = _ow("registry", "access", "deny", "acme/cli", "--request", "999", "--reason", "x",
              *common, "--token", pub)  # fmt: skip
    assert res.exit_code == 2 and "no request #999" in res.output
    # By user instead of by id.
    res = _ow("access", "request", "acme/cli", "--organisation", "uni", "--intended-use", "y",
              "--accept-license", *common, "--token", reader)  # fmt: skip
    assert res.exit_code == 0, res.output
    res = _ow("registry", "access", "deny", "acme/cli", "--user", "ula", "--reason", "dup",
              *common, "--token", pub)  # fmt: skip
    assert res.exit_code == 0 and "denied" in res.output, res.output
    res = _ow("registry", "access", "grant", "acme/cli", "--user", "ula", *common,
              "--token", pub)  # fmt: skip
    assert res.exit_code == 0, res.output
    res = _ow("registry", "access", "revoke", "acme/cli", "--user", "ula", *common,
              "--token", pub)  # fmt: skip
    assert res.exit_code == 0 and "revoked" in res.output, res.output
    res = _ow("registry", "access", "revoke", "acme/cli", "--user", "ula", *common,
              "--token", pub)  # fmt: skip
    assert res.exit_code == 2 and "no active grant of user ula" in res.output
    shutil.rmtree(tmp_path / "out")


def test_python_client_governance_methods(server: Server, tmp_path: Path) -> None:
    pub = server.client(server.user("py", "acme", "publisher"))
    reader = server.client(server.user("rd", "uni", "reader"))
    model = _model(tmp_path / "m", seed=91)
    assert pub.push(model, "acme/py:1")["status"] == "published"
    assert pub.set_tier("acme/py", "gated", ["intended_use"])["fields"] == ["intended_use"]
    req = reader.request_access("acme/py", intended_use="benchmarks")
    assert pub.access("acme/py")["requests"][0]["id"] == req["id"]
    grant = pub.grant("acme/py", request=req["id"], versions=["1"])
    reader.pull("acme/py:1", tmp_path / "out")
    assert {d["user"] for d in pub.downloads("acme/py")} == {"rd"}
    assert pub.revoke("acme/py", grant["id"], "done")["state"] == "revoked"
    admin = server.client(server.admin)
    assert admin.check(tmp_path / "out") == []
    done = admin.takedown("acme/py:1", "withdrawn by its publisher",
                          {"severity": "medium", "summary": "withdrawn"})  # fmt: skip
    assert done["status"] == "taken-down"
    assert [a["id"] for a in admin.advisories()] == [done["advisory"]["id"]]
    assert [h["match"] for h in reader.check(tmp_path / "out")] == ["exact"]
    with pytest.raises(ClientError) as info:
        reader.pull("acme/py:1", tmp_path / "again")
    assert info.value.status == 451


def test_authorization_matrix_of_governance_actions(server: Server, tmp_path: Path) -> None:
    """Every role against every governance action, on a gated model and a version held
    for registration: the status each gets (2xx allowed, 401/403 refused)."""
    tokens: dict[str, str | None] = {
        "anonymous": None,
        "reader": server.user("m-reader", "uni", "reader"),
        "publisher": server.user("m-pub", "acme", "publisher"),
        "other-publisher": server.user("m-other", "rival", "publisher"),
        "reviewer": server.user("m-rev", None, "reviewer"),
        "admin": server.admin,
    }
    server.user("m-grantee", "uni", "reader")
    pub = server.client(tokens["publisher"])
    assert pub.push(_model(tmp_path / "m", seed=95), "acme/mx:1")["status"] == "published"
    assert pub.push(_big_model(tmp_path / "big", seed=96), "acme/held:1")["status"] == (
        "needs-registration"
    )
    pub.set_tier("acme/mx", "gated")
    record = {"developer": "d", "training_compute": {"flop": 2e25, "method": "6ND"},
              "training_data": "t", "intended_use": "u", "safety_evaluations": ["e"],
              "incident_contact": "c@example.org"}  # fmt: skip
    ok, no = "allowed", "refused"
    matrix: dict[str, tuple[str, str, Any, dict[str, str]]] = {
        # action: (method, path, body, expected outcome per role)
        "set tier": ("PUT", "/api/v1/models/acme/mx/access", {"tier": "gated"},
                     {"publisher": ok, "admin": ok}),
        "grant (gated)": ("POST", "/api/v1/models/acme/mx/access/grants", {"user": "m-grantee"},
                          {"publisher": ok, "admin": ok}),
        "read download log": ("GET", "/api/v1/models/acme/mx/downloads", None,
                              {"publisher": ok, "admin": ok}),
        "download (gated, no grant)": (
            "GET", "/api/v1/models/acme/mx/versions/1/files/config.json", None,
            {"publisher": ok, "admin": ok}),
        "list registrations": ("GET", "/api/v1/registrations", None,
                               {"reviewer": ok, "admin": ok}),
        "submit registration": ("POST", "/api/v1/models/acme/held/versions/1/registration",
                                {"record": record}, {"publisher": ok, "admin": ok}),
        "take down": ("POST", "/api/v1/models/acme/mx/versions/1/takedown",
                      {"reason": "matrix"}, {"admin": ok}),
    }  # fmt: skip
    seen: dict[tuple[str, str], str] = {}
    for action, (method, path, body, allowed) in matrix.items():
        for role, token in tokens.items():
            if action == "submit registration" and role == "admin":
                continue  # one pending registration at a time: the publisher's stands
            if action == "take down" and role == "admin":
                continue  # done last, below: it changes what the others would see
            r = _api(server, method, path, token, body)
            outcome = ok if r.status_code < 400 else no  # 307: a presigned S3 URL
            seen[(action, role)] = outcome
            expected = allowed.get(role, no)
            assert outcome == expected, (action, role, r.status_code, r.text[:200])
            if outcome == no:
                assert r.status_code in (401, 403, 404), (action, role, r.status_code)
    # Deciding: only reviewers and admins.
    reg_id = _ok(_api(server, "GET", "/api/v1/registrations", server.admin))["registrations"][0][
        "id"
    ]
    for role in ("anonymous", "reader", "publisher", "other-publisher"):
        r = _api(server, "POST", f"/api/v1/registrations/{reg_id}/decision", tokens[role],
                 {"accept": True, "reason": "x"})  # fmt: skip
        assert r.status_code in (401, 403), (role, r.status_code)
    _ok(_api(server, "POST", f"/api/v1/registrations/{reg_id}/decision", tokens["reviewer"],
             {"accept": True, "reason": "complete"}))  # fmt: skip
    _ok(_api(server, "POST", "/api/v1/models/acme/mx/versions/1/takedown", server.admin,
             {"reason": "matrix"}))  # fmt: skip
    assert len(seen) == len(matrix) * len(tokens) - 2


def test_a_digest_is_not_a_key_to_someone_elses_blobs(server: Server, tmp_path: Path) -> None:
    """Manifests are public; copying a restricted model into another organisation by
    naming its digests must still require its bytes."""
    owner = server.user("own", "acme", "publisher")
    eve = server.user("eve", "evil", "publisher")
    model = _model(tmp_path / "m", seed=101)
    assert server.client(owner).push(model, "acme/secret:1")["status"] == "published"
    _ok(_api(server, "PUT", "/api/v1/models/acme/secret/access", owner, {"tier": "restricted"}))
    files = _ok(_api(server, "GET", "/api/v1/models/acme/secret/versions/1"))["files"]
    started = _ok(_api(server, "POST", "/api/v1/models/evil/copy/versions", eve,
                       {"version": "1", "files": files}), 201)  # fmt: skip
    assert sorted(started["missing"]) == sorted({f["sha256"] for f in files})
    r = _api(server, "POST", "/api/v1/models/evil/copy/versions/1/commit", eve)
    assert r.status_code == 409 and "not uploaded yet" in r.json()["detail"]
    big = max(files, key=lambda f: f["size"])
    r = httpx.put(f"{server.url}/api/v1/blobs/{big['sha256']}", content=b"\0" * big["size"],
                  headers={"Authorization": f"Bearer {eve}"})  # fmt: skip
    assert r.status_code == 422
    assert _api(server, "POST", "/api/v1/models/evil/copy/versions/1/commit", eve).status_code == (
        409
    )
    # The owner re-pushing (a new version) still sends nothing: it uploaded those bytes.
    assert server.client(owner).push(model, "acme/secret:2")["uploaded_bytes"] == 0
    # Whoever holds the bytes may push them (and proves it by sending them).
    copy = server.client(eve).push(model, "evil/copy:1")
    assert copy["status"] == "published" and copy["uploaded_bytes"] > 0


def test_taken_down_content_cannot_come_back_under_another_name(
    server: Server, tmp_path: Path
) -> None:
    pub = server.user("tdp", "acme", "publisher")
    model = _model(tmp_path / "m", seed=111)
    client = server.client(pub)
    assert client.push(model, "acme/gone:1")["status"] == "published"
    _ok(_api(server, "POST", "/api/v1/models/acme/gone/versions/1/takedown", server.admin,
             {"reason": "stolen weights"}))  # fmt: skip
    again = client.push(model, "acme/gone:2")
    assert again["status"] == "quarantined"
    assert any("taken down" in r and "stolen weights" in r for r in again["reasons"])
    # One shard of it inside an otherwise new model is caught too.
    mixed = _model(tmp_path / "mixed", seed=112)
    shutil.copy(model / "model-00001-of-00002.safetensors", mixed)
    result = client.push(mixed, "acme/other:1")
    assert result["status"] == "quarantined"
    assert any("model-00001-of-00002.safetensors also in acme/gone:1" in r
               for r in result["reasons"])  # fmt: skip
    # Sharing only a config and a tokenizer with it flags nothing.
    fresh = _model(tmp_path / "fresh", seed=113)
    assert client.push(fresh, "acme/fresh:1")["status"] == "published"
    # No tag serves any of them.
    assert _api(server, "GET", "/api/v1/models/acme/gone/versions/latest").status_code == 404


def test_review_findings_stay_fixed(server: Server, tmp_path: Path) -> None:
    """Holes an adversarial review found: each one closed, each one tested."""
    pub = server.user("rf-pub", "acme", "publisher")
    member = server.user("rf-mem", "partner", "reader")
    reader = server.user("rf-read", "uni", "reader")
    client = server.client(pub)
    assert client.push(_model(tmp_path / "m", seed=121), "acme/rf:1")["status"] == "published"
    # Restricted: a publisher's organisation grant made while gated does not carry over.
    client.set_tier("acme/rf", "gated")
    client.grant("acme/rf", organisation="partner")
    client.set_tier("acme/rf", "restricted")
    with pytest.raises(ClientError, match="restricted"):
        server.client(member).pull("acme/rf:1", tmp_path / "x1")
    # A held model is not revealed through its access page or by requesting access.
    assert client.push(_big_model(tmp_path / "big", seed=122), "acme/held:1")["status"] == (
        "needs-registration"
    )
    assert _api(server, "GET", "/api/v1/models/acme/held/access").status_code == 404
    answers = {"organisation": "u", "intended_use": "x", "accept_license": True}
    r = _api(server, "POST", "/api/v1/models/acme/held/access/requests", reader,
             {"fields": answers})  # fmt: skip
    assert r.status_code == 404
    # A publisher who is also a reviewer may not decide its own registration.
    _ok(_api(server, "PUT", "/api/v1/users/rf-pub/roles", server.admin, {"reviewer": True}))
    record = {"developer": "d", "training_compute": {"flop": 2e25, "method": "6ND"},
              "training_data": "t", "intended_use": "u", "safety_evaluations": ["e"],
              "incident_contact": "c@example.org"}  # fmt: skip
    reg = client.register("acme/held:1", record)
    r = _api(server, "POST", f"/api/v1/registrations/{reg['id']}/decision", pub,
             {"accept": True, "reason": "mine"})  # fmt: skip
    assert r.status_code == 403 and "another reviewer" in r.json()["detail"]
    # Range requests are logged like whole downloads (how a range starts is no escape).
    client.set_tier("acme/rf", "gated")
    client.grant("acme/rf", user="rf-read")
    url = f"{server.url}/api/v1/models/acme/rf/versions/1/files/config.json"
    auth = {"Authorization": f"Bearer {reader}"}
    for rng in ("bytes=-99999999", "bytes= 0-", "Bytes=0-"):
        got = httpx.get(url, headers={**auth, "Range": rng}, follow_redirects=True)
        assert got.status_code in (200, 206)
    log = client.downloads("acme/rf")
    assert [(d["user"], d["path"]) for d in log] == [("rf-read", "config.json")]  # one an hour
    # Revoked tokens are refused at once; an admin revokes a user's tokens.
    res = _ow("registry", "token", "revoke", "--user", "rf-read", "--registry", server.url,
              "--token", server.admin, "--json")  # fmt: skip
    assert res.exit_code == 0 and json.loads(res.output)["revoked"] == 1, res.output
    assert httpx.get(url, headers=auth).status_code == 401
    own = _ow("registry", "token", "revoke", "--registry", server.url, "--token", member)
    assert own.exit_code == 0, own.output
    assert _api(server, "GET", "/api/v1/models/acme/rf/access", member).status_code == 401
    kinds = [json.loads(e["body"])["kind"] for e in _entries(server)]
    assert kinds.count("token-revoked") == 2
