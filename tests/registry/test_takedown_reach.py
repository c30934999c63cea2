"""Issue 13: takedowns that hold and gated or held weights that stay so, on both
registry configurations. Each test first replays the attack the issue describes.

- A copy of the weights published under another name before the takedown is taken
  down with it (an admin excepts copies explicitly), later re-pushes do not publish,
  and `openward check` flags a copy on disk.
- Weight files are matched by content, not by suffix (``model.onnx_data``,
  ``*.part``, no suffix), while a tokenizer or a license that unrelated models share
  never carries a takedown to them.
- A version carrying the weights of a gated, restricted or held version inherits at
  least that status.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from openward.registry.client import ClientError
from tests.registry.conftest import Server
from tests.registry.test_governance import (
    _api,
    _big_model,
    _entries,
    _ok,
    _ow,
    _sql,
    _wait_status,
)
from tests.registry.test_registry import _model


def _log(server: Server, kind: str) -> list[dict[str, Any]]:
    bodies = [json.loads(e["body"]) for e in _entries(server)]
    return [b for b in bodies if b["kind"] == kind]


def test_a_takedown_reaches_copies_published_before_it(server: Server, tmp_path: Path) -> None:
    pub = server.user("td-pub", "acme", "publisher")
    eve = server.user("td-eve", "evil", "publisher")
    common = ["--registry", server.url]
    assert server.client(pub).push(_model(tmp_path / "m", seed=131), "acme/orig:1")["status"] == (
        "published"
    )
    # Eve pulls the open model and re-publishes it in her organisation, before any takedown.
    copy = tmp_path / "copy"
    server.client().pull("acme/orig:1", copy)
    assert server.client(eve).push(copy, "evil/mirror:1")["status"] == "published"
    on_disk = tmp_path / "on-disk"
    server.client().pull("evil/mirror:1", on_disk)
    res = _ow("registry", "takedown", "acme/orig:1", "--reason", "stolen weights", *common,
              "--token", server.admin, "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    done = json.loads(res.output)
    assert [(c["name"], c["version"]) for c in done["also_taken_down"]] == [("evil/mirror", "1")]
    # The copy is refused like the original, with a reason naming the original takedown.
    r = _api(server, "GET", "/api/v1/models/evil/mirror/versions/1/files/config.json")
    assert r.status_code == 451, r.text
    assert "acme/orig:1" in r.json()["detail"] and "stolen weights" in r.json()["detail"]
    info = _ok(_api(server, "GET", "/api/v1/models/evil/mirror/versions/1"))
    assert info["status"] == "taken-down"
    assert _api(server, "GET", "/api/v1/models/evil/mirror/versions/latest").status_code == 404
    # Logged like a takedown.
    logged = [b for b in _log(server, "taken-down") if b["model"] == "evil/mirror"]
    assert logged and any("acme/orig:1" in r for r in logged[0]["reasons"])
    # Re-pushes of those weights no longer publish: another name, another organisation.
    again = server.client(eve).push(copy, "evil/again:1")
    assert again["status"] == "quarantined"
    assert any("acme/orig:1" in r and "taken down" in r for r in again["reasons"])
    (copy / "README.md").write_text("# my own model\n")
    assert server.client(eve).push(copy, "evil/renamed:1")["status"] == "quarantined"
    # `openward check` flags the copy on disk, exact and with a file added, online and offline.
    res = _ow("check", str(on_disk), *common, "--json")
    assert res.exit_code == 1, res.output
    (on_disk / "notes.txt").write_text("mine")
    res = _ow("check", str(on_disk), *common, "--json")
    assert res.exit_code == 1, res.output
    names = {h["name"] for h in json.loads(res.output)["results"][0]["flagged"]}
    assert "acme/orig" in names
    export = tmp_path / "export.json"
    assert _ow("registry", "advisories", "--export", str(export), *common).exit_code == 0
    assert _ow("check", str(on_disk), "--advisories", str(export)).exit_code == 1


def test_a_takedown_reaches_exact_copies_of_a_model_too_small_to_identify(
    server: Server, tmp_path: Path
) -> None:
    from openward._samples import _safetensors_bytes

    pub = server.user("tiny-pub", "acme", "publisher")
    eve = server.user("tiny-eve", "evil", "publisher")
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    (tiny / "model.safetensors").write_bytes(
        _safetensors_bytes({"w": ("F32", [4, 4], bytes(range(64)))})
    )
    (tiny / "config.json").write_text('{"model_type": "tiny"}')
    assert server.client(pub).push(tiny, "acme/tiny:1")["status"] == "published"
    assert server.client(eve).push(tiny, "evil/tiny:1")["status"] == "published"
    done = server.client(server.admin).takedown("acme/tiny:1", "stolen")
    assert [c["name"] for c in done["also_taken_down"]] == ["evil/tiny"]
    r = _api(server, "GET", "/api/v1/models/evil/tiny/versions/1")
    assert r.json()["status"] == "taken-down"
    assert any("the same files as acme/tiny:1" in x for x in r.json()["reasons"])


def test_an_admin_excepts_copies_explicitly_and_it_is_logged(
    server: Server, tmp_path: Path
) -> None:
    """A takedown of a repackaged base model published on the registry before the base
    itself would reach the base: an admin sees that first (--dry-run), excepts the
    legitimate versions by name, and may restore a copy later; every exception is
    logged. (A base published before the repackaging is never reached: see
    test_data_attack.)"""
    pub = server.user("ex-pub", "acme", "publisher")
    mirror = server.user("ex-mir", "mirror", "publisher")
    eve = server.user("ex-eve", "evil", "publisher")
    common = ["--registry", server.url, "--token", server.admin]
    base = _model(tmp_path / "base", seed=141)
    trojan = _model(tmp_path / "trojan", seed=141, extra={"notes.md": b"# totally the base\n"})
    assert server.client(eve).push(trojan, "evil/trojan:1")["status"] == "published"
    assert server.client(pub).push(base, "acme/base:1")["status"] == "published"
    assert server.client(mirror).push(base, "mirror/base:1")["status"] == "published"
    res = _ow("registry", "takedown", "evil/trojan:1", "--reason", "impersonation",
              "--dry-run", *common, "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    preview = json.loads(res.output)
    assert preview["dry_run"] is True
    assert sorted(c["name"] for c in preview["also_taken_down"]) == ["acme/base", "mirror/base"]
    # Nothing changed.
    for ref in ("evil/trojan", "acme/base", "mirror/base"):
        assert _ok(_api(server, "GET", f"/api/v1/models/{ref}/versions/1"))["status"] == (
            "published"
        )
    res = _ow("registry", "takedown", "evil/trojan:1", "--reason", "impersonation",
              "--except", "acme/base:1", *common, "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    done = json.loads(res.output)
    assert [c["name"] for c in done["also_taken_down"]] == ["mirror/base"]
    assert [c["name"] for c in done["exceptions"]] == ["acme/base"]
    assert _ok(_api(server, "GET", "/api/v1/models/acme/base/versions/1"))["status"] == (
        "published"
    )
    assert _api(server, "GET", "/api/v1/models/mirror/base/versions/1/files/config.json"
                ).status_code == 451  # fmt: skip
    # An exception is per version: new pushes of the weights are still held back.
    (base / "CHANGES.md").write_text("v2\n")
    assert server.client(pub).push(base, "acme/base:2")["status"] == "quarantined"
    # A later exception restores a copy taken down with the original.
    res = _ow("registry", "takedown-exempt", "mirror/base:1", "--of", "evil/trojan:1",
              "--reason", "verified mirror of acme/base", *common, "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["status"] == "published"
    assert server.client().pull("mirror/base:1", tmp_path / "restored")["files"] == 4
    # A copy of an excepted version on disk passes `check`; the trojan's copy does not.
    server.client().pull("acme/base:1", tmp_path / "legit")
    assert _ow("check", str(tmp_path / "legit"), "--registry", server.url).exit_code == 0
    assert _ow("check", str(trojan), "--registry", server.url).exit_code == 1
    # Only admins except copies.
    res = _ow("registry", "takedown-exempt", "acme/base:2", "--of", "evil/trojan:1",
              "--reason", "mine", "--registry", server.url, "--token", pub)  # fmt: skip
    assert res.exit_code == 2 and "only an admin" in res.output
    # An admin's exception for a re-push the checks held back has it checked again.
    excepted = server.client(server.admin).except_from_takedown(
        "acme/base:2", "evil/trojan:1", "the publisher's own next version"
    )
    assert excepted["status"] == "checking"
    _wait_status(server, "acme/base/versions/2", "published")
    logged = _log(server, "takedown-exception")
    assert [(b["model"], b["version"], b["of"]) for b in logged] == [
        ("acme/base", "1", "evil/trojan:1"), ("mirror/base", "1", "evil/trojan:1"),
        ("acme/base", "2", "evil/trojan:1"),
    ]  # fmt: skip
    assert logged[1]["reason"] == "verified mirror of acme/base" and logged[1]["by"] == "admin"
    assert _api(server, "GET", "/api/v1/models/acme/base/versions/latest").json()["version"] == (
        "2"
    )


def test_versions_checked_before_the_upgrade_are_classified_on_first_use(
    server: Server, tmp_path: Path
) -> None:
    """Files of versions checked before the schema knew which files identify a model
    (revision 0005) are classified from their stored blobs when a takedown needs them."""
    pub = server.user("up-pub", "acme", "publisher")
    eve = server.user("up-eve", "evil", "publisher")
    model = _model(tmp_path / "m", seed=181)
    assert server.client(pub).push(model, "acme/old:1")["status"] == "published"
    assert server.client(eve).push(model, "evil/old-copy:1")["status"] == "published"
    _sql(server, "UPDATE version_files SET weight = NULL")
    done = server.client(server.admin).takedown("acme/old:1", "stolen")
    assert [c["name"] for c in done["also_taken_down"]] == ["evil/old-copy"]
    assert sorted(done["also_taken_down"][0]["files"]) == [
        "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
    ]  # fmt: skip


def _big_text_tokenizer() -> bytes:
    vocab = {f"tok{i:06d}": i for i in range(70_000)}
    return json.dumps({"model": {"type": "BPE", "vocab": vocab}}).encode()


def test_weight_files_are_matched_by_content_not_suffix(server: Server, tmp_path: Path) -> None:
    pub = server.user("ct-pub", "acme", "publisher")
    friend = server.user("ct-fr", "friends", "publisher")
    eve = server.user("ct-eve", "evil", "publisher")
    rng = random.Random(151)
    raw = b"\x00\x01raw"  # no format's magic: only size and name can tell
    weights = {
        "model.onnx_data": raw + rng.randbytes((1 << 20) + 4096),
        "weights.part": raw + rng.randbytes((1 << 20) + 100),
        "blob": raw + rng.randbytes((1 << 20) + 7),
    }
    shared = {"tokenizer.json": _big_text_tokenizer(), "LICENSE": b"Apache License 2.0\n" * 600}
    assert len(shared["tokenizer.json"]) > 1 << 20
    legit = _model(tmp_path / "legit", seed=152, extra=shared)
    assert server.client(friend).push(legit, "friends/legit:1")["status"] == "published"
    orig = tmp_path / "orig"
    orig.mkdir()
    for name, data in {**weights, **shared}.items():
        (orig / name).write_bytes(data)
    (orig / "config.json").write_text('{"model_type": "onnx"}')
    assert server.client(pub).push(orig, "acme/onnx:1")["status"] == "published"
    # Copies published before the takedown under other names, each with one of the files.
    for n, (name, data) in enumerate(weights.items()):
        part = tmp_path / f"part{n}"
        part.mkdir()
        (part / ("renamed-" + name)).write_bytes(data)
        (part / "config.json").write_text('{"mine": true}')
        assert server.client(eve).push(part, f"evil/part{n}:1")["status"] == "published"
    res = _ow("registry", "takedown", "acme/onnx:1", "--reason", "leaked", "--registry",
              server.url, "--token", server.admin, "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    reached = sorted(c["name"] for c in json.loads(res.output)["also_taken_down"])
    assert reached == ["evil/part0", "evil/part1", "evil/part2"]
    # The model sharing only its tokenizer and license keeps being served.
    assert _ok(_api(server, "GET", "/api/v1/models/friends/legit/versions/1"))["status"] == (
        "published"
    )
    assert server.client().pull("friends/legit:1", tmp_path / "legit-copy")["files"] == 6
    # Re-pushes of the files without a weight suffix are held back ...
    again = tmp_path / "again"
    again.mkdir()
    (again / "data").write_bytes(weights["model.onnx_data"])
    (again / "x.part").write_bytes(weights["weights.part"])
    result = server.client(eve).push(again, "evil/again:1")
    assert result["status"] == "quarantined"
    assert any("data" in r and "x.part" in r and "acme/onnx:1" in r for r in result["reasons"])
    # ... a new model sharing only the tokenizer and the license is not.
    other = _model(tmp_path / "other", seed=153, extra=shared)
    assert server.client(friend).push(other, "friends/other:1")["status"] == "published"
    # `openward check` uses the same rule.
    assert _ow("check", str(again), "--registry", server.url).exit_code == 1
    assert _ow("check", str(other), "--registry", server.url).exit_code == 0


def test_gated_weights_stay_gated_when_a_grantee_republishes_them(
    server: Server, tmp_path: Path
) -> None:
    owner = server.user("gw-own", "acme", "publisher")
    grantee = server.user("gw-rita", "labs", "publisher")  # a publisher elsewhere
    other = server.user("gw-otto", "uni", "reader")
    model = _model(tmp_path / "m", seed=161)
    assert server.client(owner).push(model, "acme/gem:1")["status"] == "published"
    server.client(owner).set_tier("acme/gem", "gated")
    server.client(owner).grant("acme/gem", user="gw-rita")
    server.client(owner).grant("acme/gem", user="gw-otto")
    # The grantee re-publishes the exact weights as open, without uploading a byte.
    copy = tmp_path / "copy"
    server.client(grantee).pull("acme/gem:1", copy)
    pushed = server.client(grantee).push(copy, "labs/free:1")
    assert pushed["uploaded_bytes"] == 0
    assert pushed["status"] == "published"
    access = _ok(_api(server, "GET", "/api/v1/models/labs/free/access", grantee))
    assert access["tier"] == "gated" and access["minimum_tier"] == "gated"
    assert "acme/gem" in access["minimum_reason"]
    logged = [b for b in _log(server, "access-tier") if b["model"] == "labs/free"]
    assert logged and logged[0]["by"] == "policy" and "acme/gem" in logged[0]["reason"]
    with pytest.raises(ClientError) as info:
        server.client().pull("labs/free:1", tmp_path / "anon")
    assert info.value.status == 401
    # The re-publisher cannot open it, nor grant it; grants of the original do not carry.
    r = _api(server, "PUT", "/api/v1/models/labs/free/access", grantee, {"tier": "open"})
    assert r.status_code == 422 and "acme/gem" in r.json()["detail"]
    r = _api(server, "POST", "/api/v1/models/labs/free/access/grants", grantee,
             {"user": "gw-otto"})  # fmt: skip
    assert r.status_code == 403 and "acme/gem" in r.json()["detail"]
    with pytest.raises(ClientError, match="gated") as info:
        server.client(other).pull("labs/free:1", tmp_path / "otto")
    assert info.value.status == 403
    # A restricted original makes the copy restricted too.
    server.client(owner).set_tier("acme/gem", "restricted")
    access = _ok(_api(server, "GET", "/api/v1/models/labs/free/access", grantee))
    assert access["tier"] == "restricted"


def test_weights_held_for_registration_stay_held_under_another_card(
    server: Server, tmp_path: Path
) -> None:
    dev = server.user("hw-dev", "frontier", "publisher")
    eve = server.user("hw-eve", "evil", "publisher")
    held = _big_model(tmp_path / "big", seed=171)
    assert server.client(dev).push(held, "frontier/huge:1")["status"] == "needs-registration"
    # The same weights with a card that omits the token count.
    copy = _model(tmp_path / "copy", seed=171)
    (copy / "README.md").write_text("---\nlicense: apache-2.0\n---\n# A small model\n")
    pushed = server.client(eve).push(copy, "evil/small:1")
    assert pushed["status"] == "needs-registration", pushed
    assert any("frontier/huge:1" in r for r in pushed["reasons"])
    assert _api(server, "GET", "/api/v1/models/evil/small/versions/1").status_code == 404
    # The original's own next version with the card edited is held too.
    assert server.client(dev).push(copy, "frontier/huge:2")["status"] == "needs-registration"
