"""What an outside attack on the accounts of a running registry found (issue 13's
accounts part), each reproduced as it was found: a registry that is not what it
claims gets a user's key to sign a model, a narrower token scope that hides a
conflict of interest or still writes, grants whose authority changes with the
granter's later roles, two admins unmaking each other, and two processes setting one
database up at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from openward.cli.main import app as cli
from tests.registry.conftest import PG_URL, Server, _free_port, _pg_schema
from tests.registry.test_accounts import _keypair, _token
from tests.registry.test_governance import _api, _big_model, _engine, _ok
from tests.registry.test_registry import _model

runner = CliRunner()


# -- a registry that is not what it claims ------------------------------------------------
def test_key_add_never_signs_what_a_registry_hands_it(tmp_path: Path) -> None:
    """`registry key add` against a server that asks the key to sign the DSSE envelope
    of another model (a typo-squatted registry URL, a man in the middle on plain HTTP)
    must sign nothing: before, the signature it sent back was a valid OMS signature of
    the attacker's model by the user's key."""
    import uvicorn
    from fastapi import FastAPI

    from openward.signing.bundle import INTOTO_PAYLOAD_TYPE, make_statement, pae
    from openward.signing.manifest import build_manifest

    _, victim_path, _ = _keypair(tmp_path, "victim")
    evil = _model(tmp_path / "evil", seed=66, extra={"extra.bin": b"not the victim's"})
    payload = json.dumps(make_statement(build_manifest(evil), "evil"),
                         separators=(",", ":")).encode()  # fmt: skip
    sent: list[dict[str, Any]] = []
    app = FastAPI()
    challenge = {"challenge": "eyJ4IjoxfQ.c2VhbA", "expires": 0,
                 "message": pae(INTOTO_PAYLOAD_TYPE, payload).decode(),
                 "context": "openward-key-proof-v1"}  # fmt: skip

    @app.post("/api/v1/keys/challenge")
    def issue() -> dict[str, Any]:
        return challenge

    @app.post("/api/v1/keys", status_code=201)
    def keys(body: dict[str, Any]) -> dict[str, str]:
        sent.append(body)
        return {"hint": "0" * 64}

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started and thread.is_alive():
        time.sleep(0.05)
    common = ["--registry", f"http://127.0.0.1:{port}", "--token", "t"]
    try:
        res = runner.invoke(cli, ["registry", "key", "add", str(victim_path), *common])
        assert res.exit_code != 0 and "nothing was signed" in res.output, res.output
        assert sent == []
        # Someone signing elsewhere (an HSM) is shown the bytes built from the
        # challenge, not the server's.
        res = runner.invoke(cli, ["registry", "key", "challenge", *common])
        assert res.exit_code != 0 and "nothing was signed" in res.output, res.output
        # A challenge that is not in a registry's form is refused the same way.
        challenge.update(challenge="a\nDSSEv1 1 x 1 y", message="openward-key-proof-v1\na")
        res = runner.invoke(cli, ["registry", "key", "add", str(victim_path), *common])
        assert res.exit_code != 0 and "nothing was signed" in res.output, res.output
        assert sent == []
    finally:
        srv.should_exit = True
        thread.join(10)


# -- token scopes ----------------------------------------------------------------------
def _record() -> dict[str, Any]:
    return {
        "developer": "Frontier Labs Ltd", "training_data": "web text, code",
        "training_compute": {"flop": 2.0e25, "method": "6ND"}, "intended_use": "research",
        "incident_contact": "security@frontier.example", "safety_evaluations": ["red team"],
    }  # fmt: skip


def test_a_reviewer_scoped_token_hides_no_conflict_of_interest(
    server: Server, tmp_path: Path
) -> None:
    """A reviewer who also publishes for the organisation may not decide its
    registrations; a reviewer-scoped token of theirs (which cannot publish) used to
    make them look like an outside reviewer, and accepted a colleague's model."""
    dev = server.user("dev", "frontier", "publisher")
    server.user("ria", None, "reviewer")
    _ok(_api(server, "PUT", "/api/v1/users/ria/roles", server.admin,
             {"organisation": "frontier", "role": "publisher"}))  # fmt: skip
    pushed = server.client(dev).push(_big_model(tmp_path / "big"), "frontier/huge:1")
    assert pushed["status"] == "needs-registration"
    entry = _ok(_api(server, "POST", "/api/v1/models/frontier/huge/versions/1/registration",
                     dev, {"record": _record()}), 201)  # fmt: skip
    decide = f"/api/v1/registrations/{entry['id']}/decision"
    for scope in ("reviewer", "publisher"):
        res = _token(server, "--user", "ria", "--role", scope, "--org", "frontier")
        assert res.exit_code == 0, res.output
        token = json.loads(res.stdout)["token"]
        r = _api(server, "POST", decide, token, {"accept": True, "reason": "looks fine"})
        assert r.status_code == 403 and "publishes for 'frontier'" in r.json()["detail"], scope
    assert (
        _ok(_api(server, "GET", f"/api/v1/registrations/{entry['id']}", server.admin))["status"]
        == "pending"
    )
    # The same through the web UI, signed in with the reviewer-scoped token.
    from tests.registry.test_web import _csrf, _http_session

    res = _token(server, "--user", "ria", "--role", "reviewer")
    web = _http_session(server, json.loads(res.stdout)["token"])
    page = web.get("/review")
    assert page.status_code == 200
    form = {"csrf_token": _csrf(page.text), "decision": "accept", "reason": "fine"}
    r = web.post(f"/review/{entry['id']}", data=form)
    assert r.status_code == 403
    # An outside reviewer decides it.
    outside = server.user("oz", None, "reviewer")
    assert (
        _ok(_api(server, "POST", decide, outside, {"accept": True, "reason": "complete"}))["status"]
        == "accepted"
    )


def test_a_reader_scoped_token_neither_revokes_keys_nor_uploads(
    server: Server, tmp_path: Path
) -> None:
    """A reader token (the one a CI job downloads with) must not end its user's signing
    key for good (a key revoked while its holder held it never comes back), nor send
    bytes for its user's pushes."""
    import hashlib

    pub = server.user("pat", "acme", "publisher")
    res = _token(server, "--user", "pat", "--role", "reader", "--org", "acme")
    reader = json.loads(res.stdout)["token"]
    key, _, _ = _keypair(tmp_path, "pat")
    hint = server.client(pub).add_key(key)
    r = _api(server, "POST", f"/api/v1/keys/{hint[:16]}/revoke", reader, {"reason": "x"})
    assert r.status_code == 403 and "scope is reader" in r.json()["detail"]
    res = runner.invoke(cli, ["registry", "key", "revoke", hint[:16], "--reason", "x",
                              "--registry", server.url, "--token", reader])  # fmt: skip
    assert res.exit_code != 0 and "scope is reader" in res.output, res.output
    model, sig = tmp_path / "m", tmp_path / "m.sig"
    from openward.signing.oms import sign_model

    _model(model, seed=191)
    sig.write_text(json.dumps(sign_model(model, key)))
    pushed = server.client(pub).push(model, "acme/signed:1", signature=sig)
    assert pushed["status"] == "published", pushed["reasons"]
    # Uploads: the publisher's token starts a push, the reader token may not feed it.
    data = os.urandom(4096)
    digest = hashlib.sha256(data).hexdigest()
    _ok(_api(server, "POST", "/api/v1/models/acme/up/versions", pub,
             {"version": "1", "files": [{"path": "w.bin", "size": len(data),
                                         "sha256": digest}]}), 201)  # fmt: skip
    auth = {"Authorization": f"Bearer {reader}"}
    r = httpx.put(f"{server.url}/api/v1/blobs/{digest}", content=data, headers=auth)
    assert r.status_code == 403, r.text
    r = httpx.put(f"{server.url}/api/v1/blobs/{digest}", content=data[:100],
                  headers={**auth, "Content-Range": f"bytes 0-99/{len(data)}"})  # fmt: skip
    assert r.status_code == 403, r.text
    assert _api(server, "GET", f"/api/v1/uploads/{digest}", reader).status_code == 403
    state = _ok(_api(server, "GET", f"/api/v1/uploads/{digest}", pub))
    assert state["received"] == 0
    # The publisher's own token still does both.
    r = httpx.put(f"{server.url}/api/v1/blobs/{digest}", content=data,
                  headers={"Authorization": f"Bearer {pub}"})  # fmt: skip
    assert r.status_code == 201, r.text
    _ok(_api(server, "POST", f"/api/v1/keys/{hint[:16]}/revoke", pub, {"reason": "rotating"}))


# -- grants ----------------------------------------------------------------------------
def _fetch(server: Server, token: str, model: str) -> int:
    """200 when the file may be downloaded (scale-out answers with a redirect to the
    object store), else the refusal's status."""
    path = f"/api/v1/models/{model}/versions/1/files/config.json"
    status = _api(server, "GET", path, token).status_code
    return 200 if status in (200, 307) else status


def test_restricted_grants_keep_the_authority_they_were_made_with(
    server: Server, tmp_path: Path
) -> None:
    """Only organisation grants an admin made open a restricted model. Whether a grant
    is one was read from the granter's roles *now*: promoting a publisher revived the
    grants they had made while the model was gated, demoting an admin ended every
    restricted grant they had made, and an admin's publisher-scoped token made admin
    grants."""
    pub = server.user("pat", "acme", "publisher")
    member = server.user("mo", "partner", "reader")
    colleague = server.user("cy", "consortium", "reader")
    scoped_member = server.user("sy", "scoped", "reader")
    assert server.client(pub).push(_model(tmp_path / "m", seed=5), "acme/g:1")["status"] == (
        "published"
    )
    _ok(_api(server, "PUT", "/api/v1/models/acme/g/access", pub, {"tier": "gated"}))
    grants = "/api/v1/models/acme/g/access/grants"
    _ok(_api(server, "POST", grants, pub, {"organisation": "partner"}), 201)
    res = _token(server, "--user", "admin", "--role", "publisher")
    admin_as_publisher = json.loads(res.stdout)["token"]
    _ok(_api(server, "POST", grants, admin_as_publisher, {"organisation": "scoped"}), 201)
    assert _fetch(server, member, "acme/g") == 200
    _ok(_api(server, "PUT", "/api/v1/models/acme/g/access", server.admin, {"tier": "restricted"}))
    assert _fetch(server, member, "acme/g") == 403
    assert _fetch(server, scoped_member, "acme/g") == 403
    # Promoting the publisher does not turn their old grant into an admin's.
    _ok(_api(server, "PUT", "/api/v1/users/pat/roles", server.admin, {"admin": True}))
    assert _fetch(server, member, "acme/g") == 403
    # A grant the (new) admin makes now, with an admin token, opens it; demoting them
    # later does not close it.
    pat_admin = json.loads(_token(server, "--user", "pat", "--role", "admin").stdout)["token"]
    _ok(_api(server, "POST", grants, pat_admin, {"organisation": "consortium"}), 201)
    assert _fetch(server, colleague, "acme/g") == 200
    _ok(_api(server, "PUT", "/api/v1/users/pat/roles", server.admin, {"admin": False}))
    assert _fetch(server, colleague, "acme/g") == 200
    assert _fetch(server, member, "acme/g") == 403


# -- the last admin ----------------------------------------------------------------------
def _unmake(server: Server, barrier: threading.Barrier, status: dict[str, int], actor: str,
            token: str, target: str) -> None:  # fmt: skip
    barrier.wait()
    r = _api(server, "PUT", f"/api/v1/users/{target}/roles", token, {"admin": False})
    status[actor] = r.status_code


def test_two_admins_unmaking_each_other_at_once_leave_one(server: Server) -> None:
    """Two admins taking each other's admin role at the same moment: one wins, the
    other is refused (not a 500), and the registry always keeps an admin. On SQLite
    both used to succeed, leaving no admin and no way to make one (`registry init`
    refuses once the first admin's name is taken)."""
    from sqlalchemy import text

    other = server.user("vera", None, "admin")
    tokens = {"admin": server.admin, "vera": other}
    engine = _engine(server)
    try:
        for _round in range(4):
            barrier = threading.Barrier(2)
            status: dict[str, int] = {}
            threads = [threading.Thread(target=_unmake, args=(server, barrier, status, actor,
                                                              tokens[actor], target))
                       for actor, target in (("admin", "vera"), ("vera", "admin"))]  # fmt: skip
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            with engine.connect() as conn:
                admins = [r[0] for r in conn.execute(text("SELECT name FROM users WHERE is_admin"))]
            assert len(admins) == 1, (status, admins)
            assert sorted(status.values())[0] == 200 and set(status.values()) <= {200, 403, 409}
            # The survivor makes the other an admin again for the next round.
            survivor, other_name = admins[0], ({"admin", "vera"} - set(admins)).pop()
            _ok(_api(server, "PUT", f"/api/v1/users/{other_name}/roles", tokens[survivor],
                     {"admin": True}))  # fmt: skip
    finally:
        engine.dispose()


# -- registry init ------------------------------------------------------------------------
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_processes_setting_one_database_up_at_once_do_not_crash(
    database: str, tmp_path: Path
) -> None:
    """`registry init` run while `serve` (or another replica) sets up the same new
    database: both ran the migrations at once and one crashed with a traceback
    ("table blobs already exists", a duplicate key). One migrates, the others wait and
    find the schema current: exactly one prints the admin token, the others say the
    registry has an admin."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENWARD_")}
    if database == "postgresql":
        env["OPENWARD_DATABASE_URL"] = f"{PG_URL}?options=-csearch_path%3D{_pg_schema()}"
    data = tmp_path / "data"
    exe = Path(sys.executable).with_name("openward")
    command = [str(exe), "registry", "init", "--data", str(data), "--json"]
    procs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
        for _ in range(4)
    ]  # fmt: skip
    results = [(p.wait(120), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2, 2, 2], [(c, err[-300:]) for c, _, err in results]
    (out,) = [out for code, out, _ in results if code == 0]
    assert json.loads(out)["admin_token"].startswith("ow_")
    for code, _, err in results:
        if code == 2:
            assert "has an admin already" in err and "Traceback" not in err
