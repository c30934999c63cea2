"""Signed safety audits in the registry, on both configurations: attach (verified
against registered keys and the version's digest) or refused with a clear 4xx, listed
and re-verified, shown on the model page and to reviewers, and required by the policy
above a compute threshold before a version is published."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from openward.cli.main import app as cli
from openward.signing.attest import AUDIT_PREDICATE, _sign_statement, attest, attest_audit
from openward.signing.keys import generate_key
from openward.signing.manifest import build_manifest
from tests.registry.conftest import Server
from tests.registry.test_governance import _api, _big_model, _entries, _ok
from tests.registry.test_registry import _model
from tests.signing.test_attest_audit import audit_report

runner = CliRunner()
POLICY = Path(__file__).parent / "data" / "audit-policy.yaml"


def _signed(
    model: Path, key: Any, harmful: tuple[int, int], auditor: str = "Lab"
) -> dict[str, Any]:
    digest = build_manifest(model).digest
    report = audit_report(digest, {"harmful": harmful, "jailbreak": (6, 60)})
    return attest_audit(model, key, report, auditor=auditor)  # type: ignore[return-value]


def _attach(server: Server, token: str | None, ref: str, bundle: Any) -> httpx.Response:
    org_name, _, version = ref.partition(":")
    path = f"/api/v1/models/{org_name}/versions/{version}/audits"
    return _api(server, "POST", path, token, {"bundle": bundle})


def _auditor(server: Server, name: str, org: str) -> tuple[str, Any]:
    """A user who publishes in ``org`` (only publishers register keys) with a key."""
    token = server.user(name, org, "publisher")
    key = generate_key()
    server.client(token).add_key(key)
    return token, key


def test_attach_verify_reject_list_and_page(server: Server, tmp_path: Path) -> None:
    pub = server.user("pat", "acme", "publisher")
    reader = server.user("rita", "labs", "reader")
    aud, aud_key = _auditor(server, "ada", "redteam")
    model = _model(tmp_path / "m", seed=41)
    assert server.client(pub).push(model, "acme/m:1")["status"] == "published"
    good = _signed(model, aud_key, (3, 60), auditor="Red Team Ltd")
    # The CLI attaches it: verified against ada's registered key, the version digest.
    (tmp_path / "audit.intoto.json").write_text(json.dumps(good))
    res = runner.invoke(cli, ["registry", "attest", "acme/m:1", str(tmp_path / "audit.intoto.json"),
                              "--registry", server.url, "--token", aud])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "verified: signed by key" in res.output and "harmful 5.0 %" in res.output
    # Refusals, each a 4xx that says why.
    assert _attach(server, None, "acme/m:1", good).status_code == 401
    r = _attach(server, reader, "acme/m:1", good)
    assert r.status_code == 403 and "signing key" in r.json()["detail"]
    unregistered = _signed(model, generate_key(), (3, 60))
    r = _attach(server, aud, "acme/m:1", unregistered)
    assert r.status_code == 403 and "not a registered key" in r.json()["detail"]
    tampered = json.loads(json.dumps(good))
    statement = json.loads(base64.b64decode(tampered["dsseEnvelope"]["payload"]))
    statement["predicate"]["suites"][0]["successes"] = 0
    tampered["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    r = _attach(server, aud, "acme/m:1", tampered)
    assert r.status_code == 422 and "does not verify" in r.json()["detail"]
    other = _signed(_model(tmp_path / "other", seed=42), aud_key, (3, 60))
    r = _attach(server, aud, "acme/m:1", other)
    assert r.status_code == 422 and "about other bytes" in r.json()["detail"]
    scan = attest(model, aud_key, "scan", {"findings": []})
    r = _attach(server, aud, "acme/m:1", scan)
    assert r.status_code == 422 and "is not an audit" in r.json()["detail"]
    shapeless = _sign_statement("m", build_manifest(model).digest, AUDIT_PREDICATE,
                                {"suites": "all good"}, aud_key)  # fmt: skip
    r = _attach(server, aud, "acme/m:1", shapeless)
    assert r.status_code == 422 and "malformed audit" in r.json()["detail"]
    r = _attach(server, aud, "acme/m:1", {"mediaType": "nope"})
    assert r.status_code == 422 and "malformed audit attestation" in r.json()["detail"]
    r = _attach(server, aud, "acme/m:1", good)
    assert r.status_code == 409 and "already" in r.json()["detail"]
    # Listed for anyone, re-verified; the bundle is served for offline checks.
    audits = _ok(_api(server, "GET", "/api/v1/models/acme/m/versions/1/audits"))["audits"]
    assert len(audits) == 1
    first = audits[0]
    assert first["verified"] and first["auditor"]["user"] == "ada"
    assert first["auditor"]["name"] == "Red Team Ltd"
    assert [s["suite"] for s in first["suites"]] == ["harmful", "jailbreak"]
    assert first["suites"][0]["samples"] == 60 and first["judge"]["name"]
    full = _ok(_api(server, "GET", f"/api/v1/audits/{first['id']}"))
    assert full["bundle"] == good
    # ... with the auditor's public key: `openward verify --policy` accepts it offline.
    (tmp_path / "ada.pub").write_text(full["auditor"]["public_key"])
    (tmp_path / "fetched.json").write_text(json.dumps(full["bundle"]))
    from openward.signing.attest import read_attestation
    from openward.signing.keys import load_public_key

    offline = read_attestation(tmp_path / "fetched.json",
                               {"ada.pub": load_public_key(tmp_path / "ada.pub")})  # fmt: skip
    assert offline.signer == "ada.pub" and offline.kind == "audit"
    res = runner.invoke(cli, ["registry", "audits", "acme/m:1", "--registry", server.url])
    assert res.exit_code == 0 and "verified by ada" in res.output, res.output
    logged = [json.loads(e["body"]) for e in _entries(server)]
    attached = [e for e in logged if e["kind"] == "audit-attached"]
    assert len(attached) == 1 and attached[0]["auditor"] == "ada"
    assert attached[0]["rates"] == {"harmful": 0.05, "jailbreak": 0.1}
    # The model page lists it with its auditor, rates and verification.
    page = httpx.get(server.url + "/models/acme/m").text
    assert 'data-testid="audits"' in page and "Red Team Ltd" in page
    assert "✔ verified: signed by key" in page and "5.0&nbsp;%" in page
    # A row edited behind the registry's back no longer verifies, and says so.
    from openward.registry.models import Audit

    with server.app.state.registry.sessions.begin() as s:
        s.get(Audit, first["id"]).bundle = json.dumps(tampered)
    again = _ok(_api(server, "GET", "/api/v1/models/acme/m/versions/1/audits"))["audits"][0]
    assert not again["verified"] and "does not verify" in again["verification"]
    assert "✘" in httpx.get(server.url + "/models/acme/m").text


@pytest.mark.registry_settings(policy=POLICY)
def test_policy_holds_versions_above_a_tier_until_a_verified_audit(
    server: Server, tmp_path: Path
) -> None:
    pub = server.user("dev", "frontier", "publisher")
    reviewer = server.user("rev", None, "reviewer")
    pub_key = generate_key()
    server.client(pub).add_key(pub_key)
    _, aud_key = _auditor(server, "ada", "redteam")
    # ~2e24 FLOP: above the audit threshold, below the registration one.
    model = _big_model(tmp_path / "mid", seed=51, tokens="10000000000000000000")
    pushed = server.client(pub).push(model, "frontier/mid:1")
    assert pushed["status"] == "needs-audit", pushed
    assert any("crosses test-audit" in r and "none attached" in r for r in pushed["reasons"])
    assert _api(server, "GET", "/api/v1/models/frontier/mid/versions/1").status_code == 404
    # The publisher's own audit is not independent; ada's with 20 % harmful is over 10 %.
    doc = _ok(_attach(server, pub, "frontier/mid:1", _signed(model, pub_key, (3, 60))), 201)
    assert doc["version_status"] == "needs-audit"
    doc = _ok(_attach(server, pub, "frontier/mid:1", _signed(model, aud_key, (12, 60))), 201)
    assert doc["version_status"] == "needs-audit"
    held = _ok(_api(server, "GET", "/api/v1/models/frontier/mid/versions/1", pub))
    why = " ".join(held["reasons"])
    assert "publishes for 'frontier'" in why and "harmful success rate 0.200" in why
    # A verified independent audit within the limits publishes it.
    doc = _ok(_attach(server, pub, "frontier/mid:1", _signed(model, aud_key, (3, 60))), 201)
    assert doc["version_status"] == "published"
    assert _ok(_api(server, "GET", "/api/v1/models/frontier/mid/versions/1"))["status"] == (
        "published"
    )
    # The same weights under another name, with a card that declares no compute, need
    # an audit of their own (the subject is the copy's digest).
    cop, _ = _auditor(server, "cop", "mirror")
    copy = tmp_path / "copy"
    shutil.copytree(model, copy)
    (copy / "README.md").write_text("# A mirror\n")
    pushed = server.client(cop).push(copy, "mirror/mid:1")
    assert pushed["status"] == "needs-audit", pushed
    assert any("its weights are frontier/mid:1's" in r for r in pushed["reasons"])
    doc = _ok(_attach(server, cop, "mirror/mid:1", _signed(copy, aud_key, (1, 60))), 201)
    assert doc["version_status"] == "published"
    # Above the registration threshold too: registration first, the audit referenced.
    huge = _big_model(tmp_path / "huge", seed=52)
    assert server.client(pub).push(huge, "frontier/huge:1")["status"] == "needs-registration"
    audit = _ok(_attach(server, pub, "frontier/huge:1", _signed(huge, aud_key, (2, 60))), 201)
    assert audit["version_status"] == "needs-registration"
    record = {
        "developer": "Frontier Labs Ltd", "training_data": "web text",
        "training_compute": {"flop": 2.0e25, "method": "6ND, 1e20 tokens"},
        "intended_use": "research", "incident_contact": "security@frontier.example",
        "safety_evaluations": ["internal red team", {"audit": 99999}],
    }  # fmt: skip
    r = _api(server, "POST", "/api/v1/models/frontier/huge/versions/1/registration", pub,
             {"record": record})  # fmt: skip
    assert r.status_code == 422 and "no audit '99999'" in r.json()["detail"]
    record["safety_evaluations"] = ["internal red team", f"audit:{audit['digest'][:16]}"]
    sub = _ok(_api(server, "POST", "/api/v1/models/frontier/huge/versions/1/registration", pub,
                   {"record": record}), 201)  # fmt: skip
    assert sub["audits"][0]["verified"] and sub["audits"][0]["id"] == audit["id"]
    res = runner.invoke(cli, ["registry", "review", "--registry", server.url, "--token", reviewer])
    assert res.exit_code == 0 and "verified: signed by key" in res.output, res.output
    _ok(_api(server, "POST", f"/api/v1/registrations/{sub['id']}/decision", reviewer,
             {"accept": True, "reason": "complete, audited"}))  # fmt: skip
    assert _ok(_api(server, "GET", "/api/v1/models/frontier/huge/versions/1"))["status"] == (
        "published"
    )
    kinds = [json.loads(e["body"])["kind"] for e in _entries(server)]
    assert kinds.count("audit-attached") == 5 and "needs-audit" in kinds


@pytest.mark.registry_settings(policy=POLICY)
def test_forged_replayed_and_hostile_audits(server: Server, tmp_path: Path) -> None:
    """An adversary's audits: from a member of the publisher's own organisation, with
    a finish time in the future, with numbers JSON cannot carry, nested to exhaust the
    parser, with markup in its names, signed by a revoked key, sent with a reader token,
    or referenced from another model's registration."""
    from datetime import UTC, datetime, timedelta

    from openward.signing.attest import audit_predicate

    pub = server.user("dev", "frontier", "publisher")
    server.client(pub).add_key(generate_key())
    # Ina publishes for 'inside' and reads for 'frontier': a member, not independent.
    # (A held version is visible to its publishers only: they attach the audits.)
    _, ina_key = _auditor(server, "ina", "inside")
    _ok(_api(server, "PUT", "/api/v1/users/ina/roles", server.admin,
             {"organisation": "frontier", "role": "reader"}))  # fmt: skip
    aud, aud_key = _auditor(server, "ada", "redteam")
    model = _big_model(tmp_path / "mid", seed=61, tokens="10000000000000000000")
    assert server.client(pub).push(model, "frontier/mid:1")["status"] == "needs-audit"
    doc = _ok(_attach(server, pub, "frontier/mid:1", _signed(model, ina_key, (1, 60))), 201)
    assert doc["version_status"] == "needs-audit"
    held = _ok(_api(server, "GET", "/api/v1/models/frontier/mid/versions/1", pub))
    assert "by ina, who is a member of 'frontier'" in " ".join(held["reasons"]), held
    # A finish time in the future (it would never grow old) is refused on arrival.
    digest = build_manifest(model).digest
    future = audit_report(digest, finished=datetime.now(UTC) + timedelta(days=3650))
    bundle = _sign_statement("mid", digest, AUDIT_PREDICATE,
                             audit_predicate(future, "h", "Lab"), aud_key)  # fmt: skip
    r = _attach(server, pub, "frontier/mid:1", bundle)
    assert r.status_code == 422 and "in the future" in r.json()["detail"], r.text
    # A signed document that is not an in-toto statement is not one.
    from openward.signing.bundle import INTOTO_PAYLOAD_TYPE, make_bundle, pae
    from openward.signing.keys import key_hint, sign_bytes

    statement = json.loads(base64.b64decode(_signed(model, aud_key, (1, 60))["dsseEnvelope"]
                                            ["payload"]))  # fmt: skip
    statement["_type"] = "https://example.org/Other/v1"
    payload = json.dumps(statement).encode()
    odd = make_bundle(payload, sign_bytes(aud_key, pae(INTOTO_PAYLOAD_TYPE, payload)),
                      key_hint(aud_key.public_key()))  # fmt: skip
    r = _attach(server, pub, "frontier/mid:1", odd)
    assert r.status_code == 422 and "not an in-toto statement" in r.json()["detail"], r.text
    # NaN / Infinity anywhere in the bundle: a 422, never a stored row no reader can load.
    good = _signed(model, aud_key, (2, 60), auditor="<img src=x onerror=alert(1)>")
    raw = json.dumps({"bundle": {**good, "extra": float("nan")}})
    r = httpx.post(server.url + "/api/v1/models/frontier/mid/versions/1/audits", content=raw,
                   headers={"Authorization": f"Bearer {pub}",
                            "Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 422 and "finite" in r.text, r.text
    # Nested deeper than any parser recursion: a 4xx, not a 500.
    deep = '{"bundle": {"x": ' + "[" * 200_000 + "]" * 200_000 + "}}"
    r = httpx.post(server.url + "/api/v1/models/frontier/mid/versions/1/audits", content=deep,
                   headers={"Authorization": f"Bearer {pub}",
                            "Content-Type": "application/json"})  # fmt: skip
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:200])
    # A reader-scoped token of the auditor may not attach.
    res = runner.invoke(
        cli,
        [
            "registry",
            "token",
            "create",
            "--user",
            "ada",
            "--role",
            "reader",
            "--registry",
            server.url,
            "--token",
            server.admin,
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    reader = json.loads(res.stdout)["token"]
    r = _attach(server, reader, "frontier/mid:1", good)
    assert r.status_code == 403 and "publisher token" in r.json()["detail"]
    # Markup in the auditor's name and a suite's name is shown as text.
    digest_report = audit_report(digest, {"harmful": (2, 60), "<b>x</b>": (1, 60)})
    marked = attest_audit(model, aud_key, digest_report, auditor="<img src=x onerror=alert(1)>")
    doc = _ok(_attach(server, pub, "frontier/mid:1", marked), 201)
    assert doc["version_status"] == "published"
    page = httpx.get(server.url + "/models/frontier/mid").text
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    # A revoked key's audit is refused.
    hint = server.client(aud).add_key(other := generate_key())
    res = runner.invoke(cli, ["registry", "key", "revoke", hint[:16], "--reason", "lost",
                              "--registry", server.url, "--token", server.admin])  # fmt: skip
    assert res.exit_code == 0, res.output
    r = _attach(server, pub, "frontier/mid:1", _signed(model, other, (2, 60)))
    assert r.status_code == 403 and "revoked" in r.json()["detail"]
    # Another model's registration cannot borrow this audit.
    huge = _big_model(tmp_path / "huge", seed=62)
    assert server.client(pub).push(huge, "frontier/huge:1")["status"] == "needs-registration"
    record = {
        "developer": "Frontier Labs Ltd", "training_data": "web text",
        "training_compute": {"flop": 2.0e25, "method": "6ND, 1e20 tokens"},
        "intended_use": "research", "incident_contact": "security@frontier.example",
        "safety_evaluations": [{"audit": doc["id"]}],
    }  # fmt: skip
    r = _api(server, "POST", "/api/v1/models/frontier/huge/versions/1/registration", pub,
             {"record": record})  # fmt: skip
    assert r.status_code == 422 and "is attached to frontier/huge:1" in r.json()["detail"]


@pytest.mark.registry_settings(policy=POLICY)
def test_a_copy_cannot_launder_the_originals_own_audit(server: Server, tmp_path: Path) -> None:
    """Weights held at frontier for want of an independent audit, pushed again by an
    account of another organisation: frontier's own auditor is independent of the copy's
    organisation, but not of the weights' origin, so the copy stays held."""
    dev = server.user("dev", "frontier", "publisher")
    dev_key = generate_key()
    server.client(dev).add_key(dev_key)
    model = _big_model(tmp_path / "mid", seed=71, tokens="10000000000000000000")
    assert server.client(dev).push(model, "frontier/mid:1")["status"] == "needs-audit"
    sock, _ = _auditor(server, "sock", "mirror")
    copy = tmp_path / "copy"
    shutil.copytree(model, copy)
    (copy / "README.md").write_text("# A mirror\n")
    assert server.client(sock).push(copy, "mirror/mid:1")["status"] == "needs-audit"
    doc = _ok(_attach(server, sock, "mirror/mid:1", _signed(copy, dev_key, (1, 60))), 201)
    assert doc["version_status"] == "needs-audit"
    held = _ok(_api(server, "GET", "/api/v1/models/mirror/mid/versions/1", sock))
    assert "by dev, who publishes for 'frontier'" in " ".join(held["reasons"]), held
    # An auditor independent of both publishes it.
    _, aud_key = _auditor(server, "ada", "redteam")
    doc = _ok(_attach(server, sock, "mirror/mid:1", _signed(copy, aud_key, (1, 60))), 201)
    assert doc["version_status"] == "published"


@pytest.mark.registry_settings(policy=POLICY.with_name("audit-policy-own.yaml"))
def test_independent_false_accepts_the_publishers_own_audit(server: Server, tmp_path: Path) -> None:
    dev = server.user("dev", "frontier", "publisher")
    dev_key = generate_key()
    server.client(dev).add_key(dev_key)
    model = _big_model(tmp_path / "mid", seed=81, tokens="10000000000000000000")
    pushed = server.client(dev).push(model, "frontier/mid:1")
    assert pushed["status"] == "needs-audit"
    assert "needs a verified audit (harmful at most 0.1)" in " ".join(pushed["reasons"])
    doc = _ok(_attach(server, dev, "frontier/mid:1", _signed(model, dev_key, (1, 60))), 201)
    assert doc["version_status"] == "published"
