"""Accounts, keys and sessions, on both configurations: `registry init`, proof of
possession for publisher keys (key squatting), token scopes separate from user roles,
server-side sign-out of the web UI, and who may loosen an access tier an admin set."""

from __future__ import annotations

import base64
import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from openward.cli.main import app as cli
from tests.registry.conftest import PG_URL, Server, _pg_schema
from tests.registry.test_governance import _api, _engine, _entries, _ok
from tests.registry.test_registry import _model
from tests.registry.test_web import _csrf, _http_session

runner = CliRunner()


def _ow(*args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(cli, list(args), env=env)


def _sql(server: Server, statement: str, **params: Any) -> None:
    from sqlalchemy import text

    engine = _engine(server)
    with engine.begin() as conn:
        conn.execute(text(statement), params)
    engine.dispose()


def _kinds(server: Server) -> list[dict[str, Any]]:
    return [json.loads(e["body"]) for e in _entries(server)]


# -- registry init ---------------------------------------------------------------------
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_registry_init_makes_the_first_admin_once(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from openward.registry.app import create_app
    from openward.registry.config import settings_from_env

    data = tmp_path / "fresh" / "data"
    monkeypatch.delenv("OPENWARD_DATABASE_URL", raising=False)
    monkeypatch.setenv("OPENWARD_REGISTRY_KEY", str(tmp_path / "keys" / "registry.pem"))
    if database == "postgresql":
        url = f"{PG_URL}?options=-csearch_path%3D{_pg_schema()}"
        monkeypatch.setenv("OPENWARD_DATABASE_URL", url)
    res = _ow("registry", "init", "--data", str(data), "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    token = doc["admin_token"]
    assert token.startswith("ow_") and doc["user"] == "admin"
    # The same OPENWARD_* settings as serve: the database named there, the key file.
    assert (data / "registry.db").exists() == (database == "sqlite")
    assert (tmp_path / "keys" / "registry.pem").exists()
    # The data directory holds every model's weights, restricted ones too: only the
    # registry's account reads it (a directory it creates; an existing one is left as is).
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    # Again: a clear refusal, not silence and exit 0.
    again = _ow("registry", "init", "--data", str(data), "--json")
    assert again.exit_code != 0 and again.stdout == ""
    assert "has an admin already" in again.output
    # What `serve` does on start: it finds the admin and makes no other.
    app = create_app(settings_from_env(data=data))
    try:
        assert app.state.registry.bootstrap_admin() is None
        with TestClient(app) as http:
            auth = {"Authorization": f"Bearer {token}"}
            assert http.get("/api/v1/whoami", headers=auth).json()["admin"] is True
            users = http.get("/api/v1/users", headers=auth).json()["users"]
            assert [u["name"] for u in users if u["admin"]] == ["admin"]
    finally:
        app.state.registry.sessions.kw["bind"].dispose()


# -- key squatting ---------------------------------------------------------------------
def _keypair(tmp_path: Path, name: str) -> tuple[Any, Path, str]:
    from openward.signing.keys import generate_key, public_pem, write_key_pair

    key = generate_key()
    write_key_pair(key, tmp_path / f"{name}.pem", tmp_path / f"{name}.pub")
    return key, tmp_path / f"{name}.pem", public_pem(key.public_key()).decode()


def _signed_model(tmp_path: Path, key: Any, seed: int) -> tuple[Path, Path]:
    from openward.signing.oms import sign_model

    model = _model(tmp_path / f"m{seed}", seed=seed)
    sig = tmp_path / f"m{seed}.sig"
    sig.write_text(json.dumps(sign_model(model, key)))
    return model, sig


def _registry_key(server: Server) -> Any:
    from openward.signing.keys import load_private_key

    path = os.environ.get("OPENWARD_REGISTRY_KEY") or server.data / "registry-signing.pem"
    return load_private_key(Path(path))


def test_only_the_holder_of_a_private_key_registers_it(server: Server, tmp_path: Path) -> None:
    from openward.signing.keys import sign_bytes

    owner = server.user("olga", "acme", "publisher")
    reader = server.user("rex", "uni", "reader")
    squatter = server.user("mal", "evil", "publisher")
    key, key_path, pem = _keypair(tmp_path, "olga")
    mal_key, _, _ = _keypair(tmp_path, "mal")
    # A reader may neither ask for a challenge nor register any key.
    assert _api(server, "POST", "/api/v1/keys/challenge", reader).status_code == 403
    assert _api(server, "POST", "/api/v1/keys", reader, {"pem": pem}).status_code == 403
    res = _ow("registry", "key", "add", str(key_path), "--registry", server.url, "--token", reader)
    assert res.exit_code != 0 and "only publishers" in res.output
    # A publisher who has only the public key gets nowhere: no proof, the wrong key's
    # proof, the owner's proof replayed, a challenge rewritten or expired.
    r = _api(server, "POST", "/api/v1/keys", squatter, {"pem": pem})
    assert r.status_code == 422 and "private key" in r.json()["detail"]
    mine = _ok(_api(server, "POST", "/api/v1/keys/challenge", squatter))
    forged = base64.b64encode(sign_bytes(mal_key, mine["message"].encode())).decode()
    r = _api(server, "POST", "/api/v1/keys", squatter,
             {"pem": pem, "challenge": mine["challenge"], "signature": forged})  # fmt: skip
    assert r.status_code == 422 and "does not verify" in r.json()["detail"]
    theirs = _ok(_api(server, "POST", "/api/v1/keys/challenge", owner))
    proof = base64.b64encode(sign_bytes(key, theirs["message"].encode())).decode()
    r = _api(server, "POST", "/api/v1/keys", squatter,
             {"pem": pem, "challenge": theirs["challenge"], "signature": proof})  # fmt: skip
    assert r.status_code == 422 and "another user" in r.json()["detail"]
    payload, seal = theirs["challenge"].split(".")
    doc = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    doc["user"] += 1
    rewritten = base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")
    r = _api(server, "POST", "/api/v1/keys", squatter,
             {"pem": pem, "challenge": f"{rewritten}.{seal}", "signature": proof})  # fmt: skip
    assert r.status_code == 422 and "not issued by this registry" in r.json()["detail"]
    old = json.dumps({**doc, "user": doc["user"] - 1, "expires": int(time.time()) - 1},
                     sort_keys=True, separators=(",", ":")).encode()  # fmt: skip
    sealed = base64.urlsafe_b64encode(sign_bytes(_registry_key(server), old)).decode()
    expired = base64.urlsafe_b64encode(old).decode().rstrip("=") + "." + sealed.rstrip("=")
    message = f"{theirs['context']}\n{expired}".encode()
    r = _api(server, "POST", "/api/v1/keys", owner,
             {"pem": pem, "challenge": expired,
              "signature": base64.b64encode(sign_bytes(key, message)).decode()})  # fmt: skip
    assert r.status_code == 422 and "expired" in r.json()["detail"]
    # The CLI refuses a public key alone with a message that says what to give instead.
    res = _ow("registry", "key", "add", str(tmp_path / "olga.pub"), "--registry", server.url,
              "--token", owner)  # fmt: skip
    assert res.exit_code != 0 and "public key" in res.output and "private key" in res.output
    # The owner registers it from the private key; the key never travels.
    res = _ow("registry", "key", "add", str(key_path), "--registry", server.url,
              "--token", owner, "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    hint = json.loads(res.stdout)["hint"]
    # The owner's signed push is verified by the owner's key; the squatter's re-push of
    # the same signed files is not.
    model, sig = _signed_model(tmp_path, key, seed=131)
    assert server.client(owner).push(model, "acme/signed:1", signature=sig)["status"] == (
        "published"
    )
    info = server.client(owner).info("acme/signed:1")
    assert info["signature_status"] == f"verified by key {hint[:16]}"
    copy = server.client(squatter).push(model, "evil/copy:1", signature=sig)
    assert copy["status"] == "quarantined"
    status = server.client(squatter).info("evil/copy:1")["signature_status"]
    assert "verified" not in status and "registered no key" in status
    # A key kept elsewhere (an HSM): the challenge is signed there, the public key sent.
    from openward.signing.keys import generate_key, key_hint, public_pem

    held = generate_key("ed25519")
    (tmp_path / "held.pub").write_bytes(public_pem(held.public_key()))
    common = ["--registry", server.url, "--token", owner]
    issued = json.loads(_ow("registry", "key", "challenge", *common, "--json").stdout)
    signed = base64.b64encode(sign_bytes(held, issued["message"].encode())).decode()
    res = _ow("registry", "key", "add", str(tmp_path / "held.pub"), "--challenge",
              issued["challenge"], "--signature", signed, *common, "--json")  # fmt: skip
    assert res.exit_code == 0 and json.loads(res.stdout)["hint"] == key_hint(held.public_key())
    added = [e for e in _kinds(server) if e["kind"] == "key-added"]
    assert [(e["user"], e["key"]) for e in added] == [
        ("olga", hint), ("olga", key_hint(held.public_key()))
    ]  # fmt: skip


def test_a_key_squatted_before_proofs_is_freed_by_revoking_the_squat(
    server: Server, tmp_path: Path
) -> None:
    """A registration made without proof (before this release) blocks the owner until
    an admin revokes it; then the owner, who proves possession, registers the key and
    its signatures verify. A key revoked while its own holder held it stays revoked."""
    from openward.signing.keys import key_hint

    owner = server.user("ola", "acme", "publisher")
    squatter = server.user("sly", "evil", "publisher")
    key, _, pem = _keypair(tmp_path, "ola")
    hint = key_hint(key.public_key())
    _sql(server, "INSERT INTO publisher_keys (user_id, hint, pem, created_at) "
                 "SELECT id, :hint, :pem, CURRENT_TIMESTAMP FROM users WHERE name = 'sly'",
         hint=hint, pem=pem)  # fmt: skip
    model, sig = _signed_model(tmp_path, key, seed=141)
    squatted = server.client(squatter).push(model, "evil/loot:1", signature=sig)
    assert squatted["status"] == "published"  # what the squat achieved before the fix
    with pytest.raises(Exception, match="registered by another user"):
        server.client(owner).add_key(key)
    res = _ow("registry", "key", "revoke", hint[:16], "--reason", "squatted",
              "--registry", server.url, "--token", server.admin)  # fmt: skip
    assert res.exit_code == 0, res.output
    assert server.client(owner).add_key(key) == hint  # revoked for another user: freed
    assert server.client(owner).push(model, "acme/real:1", signature=sig)["status"] == ("published")
    assert server.client(owner).info("acme/real:1")["signature_status"] == (
        f"verified by key {hint[:16]}"
    )
    again = server.client(squatter).push(model, "evil/loot:2", signature=sig)
    assert again["status"] == "quarantined"
    assert "revoked before this push" in again["reasons"][0]
    # The owner's hint names their live registration, not the revoked squat; a key
    # revoked while its holder held it does not come back.
    res = _ow("registry", "key", "revoke", hint[:16], "--reason", "laptop lost",
              "--registry", server.url, "--token", owner)  # fmt: skip
    assert res.exit_code == 0, res.output
    with pytest.raises(Exception, match="was revoked; generate a new key"):
        server.client(owner).add_key(key)


# -- tokens and roles ------------------------------------------------------------------
def _token(server: Server, *args: str) -> Any:
    return _ow("registry", "token", "create", *args, "--registry", server.url,
               "--token", server.admin, "--json")  # fmt: skip


def test_a_token_scope_narrows_its_user_and_never_changes_it(
    server: Server, tmp_path: Path
) -> None:
    pub = server.user("pat", "acme", "publisher")
    client = server.client(pub)
    assert client.push(_model(tmp_path / "m", seed=151), "acme/t:1")["status"] == "published"
    # A reader token made for the admin user acts as a reader.
    res = _token(server, "--user", "admin", "--role", "reader")
    assert res.exit_code == 0, res.output
    admin_reader = json.loads(res.stdout)["token"]
    assert _ok(_api(server, "GET", "/api/v1/whoami", admin_reader)) == {
        "name": "admin", "admin": False, "reviewer": False, "organisations": {},
        "scope": "reader",
    }  # fmt: skip
    for method, path, body in [
        ("POST", "/api/v1/tokens", {"name": "eve", "role": "admin"}),
        ("PUT", "/api/v1/users/pat/roles", {"admin": True}),
        ("POST", "/api/v1/models/acme/t/versions/1/takedown", {"reason": "x"}),
        ("PUT", "/api/v1/models/acme/t/access", {"tier": "gated"}),
        ("POST", "/api/v1/models/acme/t/versions", {"version": "2", "files": []}),
        ("POST", "/api/v1/admin/rescan", None),
        ("GET", "/api/v1/admin/stats", None),
    ]:
        r = _api(server, method, path, admin_reader, body)
        assert r.status_code == 403, (path, r.status_code, r.text)
    with pytest.raises(Exception, match="403"):
        server.client(admin_reader).push(_model(tmp_path / "n", seed=152), "acme/t:2")
    # A reader token for a publisher neither demotes them nor breaks their token.
    res = _token(server, "--user", "pat", "--role", "reader", "--org", "acme")
    assert res.exit_code == 0, res.output
    pat_reader = json.loads(res.stdout)["token"]
    assert _ok(_api(server, "GET", "/api/v1/whoami", pat_reader))["organisations"] == {
        "acme": "reader"
    }
    assert _ok(_api(server, "GET", "/api/v1/whoami", pub))["organisations"] == {"acme": "publisher"}
    assert _api(server, "PUT", "/api/v1/models/acme/t/access", pat_reader,
                {"tier": "gated"}).status_code == 403  # fmt: skip
    assert client.push(_model(tmp_path / "o", seed=153), "acme/t:3")["status"] == "published"
    # A scope above the user's roles is refused, and the user is left as they were.
    res = _token(server, "--user", "pat", "--role", "admin")
    assert res.exit_code != 0 and "pat is not an admin" in res.output
    res = _token(server, "--user", "pat", "--role", "reviewer")
    assert res.exit_code != 0 and "not a reviewer" in res.output
    res = _token(server, "--user", "pat", "--role", "publisher", "--org", "other")
    assert res.exit_code != 0 and "not a publisher of 'other'" in res.output
    assert _ok(_api(server, "GET", "/api/v1/users/pat", server.admin)) == {
        "name": "pat", "admin": False, "reviewer": False, "organisations": {"acme": "publisher"},
    }  # fmt: skip
    # A user who does not exist yet is created with the role (the contract's form).
    res = _token(server, "--user", "rita", "--role", "reader")
    assert res.exit_code == 0 and json.loads(res.stdout)["token"].startswith("ow_")
    res = _token(server, "--user", "nia", "--role", "publisher", "--org", "labs")
    nia = json.loads(res.stdout)["token"]
    assert _ok(_api(server, "GET", "/api/v1/whoami", nia))["organisations"] == {"labs": "publisher"}
    # Tokens made before scopes existed keep all of their user's rights.
    res = _token(server, "--user", "admin", "--role", "admin")
    legacy = json.loads(res.stdout)["token"]
    _sql(server, "UPDATE tokens SET scope = NULL WHERE label = 'admin admin'")
    assert "scope" not in _ok(_api(server, "GET", "/api/v1/whoami", legacy))
    assert _ok(_api(server, "GET", "/api/v1/admin/stats", legacy))["bytes_received"] > 0


def test_roles_are_managed_explicitly_revocably_and_logged(server: Server, tmp_path: Path) -> None:
    common = ["--registry", server.url, "--token", server.admin]
    vera = server.user("vera", None, "reviewer")
    pub = server.user("pia", "acme", "publisher")
    assert _api(server, "GET", "/api/v1/registrations", vera).status_code == 200
    # Reviewer status can be taken away, and every token of the user loses it at once.
    res = _ow("registry", "user", "set-role", "vera", "--no-reviewer", *common, "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["reviewer"] is False, res.output
    assert _api(server, "GET", "/api/v1/registrations", vera).status_code == 403
    # Organisation roles: publisher, reader, none.
    client = server.client(pub)
    assert client.push(_model(tmp_path / "m", seed=161), "acme/r:1")["status"] == "published"
    res = _ow("registry", "user", "set-role", "pia", "--org", "acme", "--role", "reader", *common)
    assert res.exit_code == 0 and "reader of acme" in res.output, res.output
    with pytest.raises(Exception, match="403"):
        client.push(_model(tmp_path / "n", seed=162), "acme/r:2")
    res = _ow("registry", "user", "set-role", "pia", "--org", "acme", "--role", "none", *common)
    assert res.exit_code == 0 and "no roles" in res.output, res.output
    res = _ow("registry", "user", "set-role", "pia", "--org", "labs", "--role", "publisher",
              *common)  # fmt: skip
    assert res.exit_code == 0 and "publisher of labs" in res.output, res.output
    assert client.push(_model(tmp_path / "o", seed=163), "labs/r:1")["status"] == "published"
    # Admin status: granted and taken away; the last admin stays. Her reviewer-scoped
    # token does not become an admin token; one made with the admin scope does, until
    # the role is taken away.
    assert _ok(_api(server, "PUT", "/api/v1/users/vera/roles", server.admin,
                    {"admin": True}))["admin"] is True  # fmt: skip
    assert _api(server, "GET", "/api/v1/users", vera).status_code == 403
    assert _api(server, "GET", "/api/v1/registrations", vera).status_code == 200
    res = _ow("registry", "token", "create", "--user", "vera", "--role", "admin", *common,
              "--json")  # fmt: skip
    vera_admin = json.loads(res.stdout)["token"]
    assert _api(server, "GET", "/api/v1/users", vera_admin).status_code == 200
    _ok(_api(server, "PUT", "/api/v1/users/vera/roles", server.admin, {"admin": False}))
    assert _api(server, "GET", "/api/v1/users", vera_admin).status_code == 403
    r = _api(server, "PUT", "/api/v1/users/admin/roles", server.admin, {"admin": False})
    assert r.status_code == 409 and "only admin" in r.json()["detail"]
    # Only admins change roles; bad requests say what is wrong.
    assert _api(server, "PUT", "/api/v1/users/pia/roles", pub, {"admin": True}).status_code == 403
    r = _api(server, "PUT", "/api/v1/users/pia/roles", server.admin, {"role": "publisher"})
    assert r.status_code == 422 and "--org" in r.json()["detail"]
    r = _api(server, "PUT", "/api/v1/users/ghost/roles", server.admin, {"reviewer": True})
    assert r.status_code == 404
    res = _ow("registry", "user", "show", "--registry", server.url, "--token", pub)
    assert res.exit_code == 0 and "pia: publisher of labs" in res.output, res.output
    # Each change is in the transparency log, with who made it.
    changes = [(e["user"], e["role"], e["to"]) for e in _kinds(server)
               if e["kind"] == "role-changed"]  # fmt: skip
    assert changes == [("vera", "reviewer", False), ("pia", "membership", "reader"),
                       ("pia", "membership", "none"), ("pia", "membership", "publisher"),
                       ("vera", "admin", True), ("vera", "admin", False)]  # fmt: skip
    created = {e["user"] for e in _kinds(server) if e["kind"] == "user-created"}
    assert {"admin", "vera", "pia"} <= created


# -- sign-out ---------------------------------------------------------------------------
def test_signing_out_ends_the_session_on_the_server(server: Server, tmp_path: Path) -> None:
    pub = server.user("sam", "acme", "publisher")
    assert server.client(pub).push(_model(tmp_path / "m", seed=171), "acme/s:1")["status"] == (
        "published"
    )
    session = _http_session(server, pub)
    manage = session.get("/models/acme/s/manage")
    assert manage.status_code == 200
    csrf = _csrf(manage.text)
    stolen = session.cookies["openward_session"]  # a copy kept by whoever saw it
    assert session.post("/signout", data={"csrf_token": csrf}).status_code == 303
    replay = httpx.Client(base_url=server.url, cookies={"openward_session": stolen})
    assert replay.get("/models/acme/s/manage").status_code == 401
    # The cookie still carries its CSRF token, so only the server's record refuses it.
    r = httpx.post(f"{server.url}/models/acme/s/manage/tier", cookies={"openward_session": stolen},
                   data={"csrf_token": csrf, "tier": "gated"})  # fmt: skip
    assert r.status_code == 401
    access = _ok(_api(server, "GET", "/api/v1/models/acme/s/access", pub))
    assert access["tier"] == "open"
    # Signing in again starts a new session that works; the old cookie stays dead.
    again = _http_session(server, pub)
    assert again.get("/models/acme/s/manage").status_code == 200
    assert httpx.get(f"{server.url}/models/acme/s/manage",
                     cookies={"openward_session": stolen}).status_code == 401  # fmt: skip
    # A browser session acts with its token's scope: a reader token of the admin may
    # not reach the reviewers' queue.
    res = _token(server, "--user", "admin", "--role", "reader")
    assert _http_session(server, json.loads(res.stdout)["token"]).get("/review").status_code == (
        403
    )


# -- tier loosening -----------------------------------------------------------------------
def test_a_tier_an_admin_set_is_loosened_only_by_an_admin(server: Server, tmp_path: Path) -> None:
    pub = server.user("tia", "acme", "publisher")
    assert server.client(pub).push(_model(tmp_path / "m", seed=181), "acme/l:1")["status"] == (
        "published"
    )

    def tier(token: str, value: str) -> httpx.Response:
        return _api(server, "PUT", "/api/v1/models/acme/l/access", token, {"tier": value})

    doc = _ok(tier(server.admin, "restricted"))
    assert (doc["tier"], doc["tier_set_by"], doc["admin_floor"]) == ("restricted", "admin",
                                                                     "restricted")  # fmt: skip
    for looser in ("open", "gated"):
        r = tier(pub, looser)
        assert r.status_code == 403 and "only an admin" in r.json()["detail"], looser
    # The publisher's page says so, and its form is refused the same way.
    web = _http_session(server, pub)
    page = web.get("/models/acme/l/manage")
    assert "only an admin makes it more open" in page.text
    r = web.post(
        "/models/acme/l/manage/tier", data={"csrf_token": _csrf(page.text), "tier": "open"}
    )
    assert r.status_code == 403 and "only an admin" in r.text
    # A publisher may tighten what an admin set, and go back, but not below it.
    _ok(tier(server.admin, "gated"))
    assert _ok(tier(pub, "restricted"))["tier_set_by"] == "tia"
    assert _ok(tier(pub, "gated"))["tier"] == "gated"
    assert tier(pub, "open").status_code == 403
    # So may an admin's publisher-scoped token not: the scope is not admin.
    res = _token(server, "--user", "admin", "--role", "publisher")
    assert tier(json.loads(res.stdout)["token"], "open").status_code == 403
    # An admin opening it lifts the floor; the publisher decides again.
    assert _ok(tier(server.admin, "open"))["admin_floor"] is None
    assert _ok(tier(pub, "gated"))["tier"] == "gated"
    assert _ok(tier(pub, "open"))["tier"] == "open"
    entries = [e for e in _kinds(server) if e["kind"] == "access-tier"]
    assert [(e["tier"], e["by"], e["floor"]) for e in entries][:2] == [
        ("restricted", "admin", "restricted"), ("gated", "admin", "gated")
    ]  # fmt: skip
