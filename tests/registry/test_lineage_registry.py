"""Issue 15, the registry's part: gates, takedowns and reviews follow derivatives, found
from their weights.

The models are real: SmolLM2-135M-Instruct cut to two layers and 8192 tokens (bfloat16,
24 MB, built once into openward's cache) and, built once per session, a fine-tune stand-in
(5 % noise on every matrix), an abliterated copy (one residual direction removed from the
embedding and every o/down projection), and a same-architecture model drawn anew (trained
apart). ``test_the_small_models_lineage`` states the verdicts the rules rest on.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.registry.conftest import Server
from tests.registry.test_governance import _api, _entries, _ok, _ow

EMBEDDED = pytest.mark.parametrize("server", ["embedded"], indirect=True)


@pytest.fixture(scope="session")
def smol() -> dict[str, Path]:
    """The small models, built once into openward's cache (about 5 s the first time)."""
    from openward.lineage import _small

    return _small.family()


def _copy(source: Path, dest: Path, card: str | None = None) -> Path:
    shutil.copytree(source, dest)
    if card is not None:
        (dest / "README.md").write_text(card)
    return dest


def _version(server: Server, ref: str, token: str | None = None) -> Any:
    org_name, _, version = ref.partition(":")
    return _ok(_api(server, "GET", f"/api/v1/models/{org_name}/versions/{version}",
                    token or server.admin))  # fmt: skip


def _log(server: Server, kind: str) -> list[dict[str, Any]]:
    bodies = [json.loads(e["body"]) for e in _entries(server)]
    return [b for b in bodies if b["kind"] == kind]


def test_the_small_models_lineage(smol: dict[str, Path]) -> None:
    """What the registry's rules rest on, on these very models."""
    from threadpoolctl import threadpool_limits

    from openward.lineage.compare import compare
    from openward.lineage.fingerprint import compute_fingerprint
    from openward.lineage.safety import detect_safety_edit
    from openward.lineage.weights import open_weights

    fps = {k: compute_fingerprint(p) for k, p in smol.items()}
    for kind in ("derived", "derived2", "abliterated"):
        result = compare(fps[kind], fps["base"])
        assert result.verdict == "derived" and result.p_value < 1e-100, (kind, result.to_json())
    assert compare(fps["unrelated"], fps["base"]).verdict == "unrelated"
    with threadpool_limits(limits=1, user_api="blas"):
        base = open_weights(smol["base"])
        assert detect_safety_edit(open_weights(smol["abliterated"]), base).detected
        assert not detect_safety_edit(open_weights(smol["derived"]), base).detected


def test_a_derivative_of_a_taken_down_version_is_quarantined(
    server: Server, smol: dict[str, Path], tmp_path: Path
) -> None:
    pub = server.user("lin-pub", "acme", "publisher")
    eve = server.user("lin-eve", "evil", "publisher")
    assert server.client(pub).push(smol["base"], "acme/smol:1")["status"] == "published"
    base = _version(server, "acme/smol:1")
    assert base["lineage"]["fingerprint"] is True and base["lineage"]["relatives"] == []
    # A model trained apart (same architecture and tokenizer) is untouched.
    fresh = server.client(eve).push(smol["unrelated"], "evil/fresh:1")
    assert (fresh["status"], fresh["reasons"]) == ("published", [])
    assert _version(server, "evil/fresh:1")["lineage"]["relatives"] == []
    # An abliterated copy published before the takedown: held for review, released.
    assert server.client(eve).push(smol["abliterated"], "evil/abl:1")["status"] == "needs-review"
    (review,) = server.client(server.admin).lineage_reviews()
    released = server.client(server.admin).decide_lineage_review(review["id"], True, "research")
    assert released["version_status"] == "published"
    # The takedown reaches the same bytes only; derivatives published before it are listed.
    done = server.client(server.admin).takedown("acme/smol:1", "leaked training data")
    assert done["also_taken_down"] == []
    assert [(d["name"], d["version"]) for d in done["derivatives"]] == [("evil/abl", "1")]
    # Eve fine-tunes the weights she pulled before the takedown and pushes them renamed.
    pushed = server.client(eve).push(smol["derived"], "evil/smol-ft:1")
    assert pushed["status"] == "quarantined", pushed
    reason = pushed["reasons"][0]
    assert reason.startswith("derived from acme/smol:1 (fine-tuned; score 0.9"), reason
    assert reason.endswith("), which was taken down: leaked training data"), reason
    info = _version(server, "evil/smol-ft:1")
    found = {r["name"]: r for r in info["lineage"]["relatives"]}
    assert (found["acme/smol"]["verdict"], found["acme/smol"]["direct"]) == ("derived", True)
    assert found["acme/smol"]["kind"] == ["fine-tuned"] and found["acme/smol"]["p_value"] < 1e-100
    # The abliterated copy is a sibling (nearer to acme/smol:1): shown, followed by no rule.
    assert (found["evil/abl"]["direct"], found["evil/abl"]["closer_to"]) == (False, "acme/smol:1")
    # `check` flags a local derivative offline from the export; the unrelated model is clean.
    export = tmp_path / "export.json"
    common = ["--registry", server.url, "--token", server.admin]
    assert _ow("registry", "advisories", "--export", str(export), *common).exit_code == 0
    doc = json.loads(export.read_text())
    (entry,) = [v for v in doc["flagged"] if v["name"] == "acme/smol"]
    assert entry["fingerprint"] in doc["fingerprints"]
    res = _ow("check", str(smol["derived2"]), "--advisories", str(export), "--json")
    assert res.exit_code == 1, res.output
    (hit,) = json.loads(res.output)["results"][0]["flagged"]
    assert (hit["name"], hit["match"], hit["lineage"]["verdict"]) == (
        "acme/smol",
        "lineage",
        "derived",
    )
    assert hit["files"] == ["model.safetensors"]
    res = _ow("check", str(smol["unrelated"]), "--advisories", str(export))
    assert res.exit_code == 0, res.output
    # An admin's exception lets the derivative through (checked again, published).
    res = _ow("registry", "takedown-exempt", "evil/smol-ft:1", "--of", "acme/smol:1",
              "--reason", "licensed from acme", *common)  # fmt: skip
    assert res.exit_code == 0, res.output
    from tests.registry.test_governance import _wait_status

    _wait_status(server, "evil/smol-ft/versions/1", "published")


@EMBEDDED
def test_a_sibling_of_a_taken_down_abliteration_is_not_its_derivative(
    server: Server, smol: dict[str, Path]
) -> None:
    """A takedown of one abliterated copy of an open model must not quarantine every
    later fine-tune of that model: a new version nearer to the open base than to the
    taken-down copy is the base's relative. A fine-tune of the copy itself is caught."""
    pub = server.user("sib-pub", "acme", "publisher")
    eve = server.user("sib-eve", "evil", "publisher")
    other = server.user("sib-other", "lab", "publisher")
    assert server.client(pub).push(smol["base"], "acme/smol:1")["status"] == "published"
    assert server.client(eve).push(smol["abliterated"], "evil/abl:1")["status"] == "needs-review"
    server.client(server.admin).takedown("evil/abl:1", "safety removed")
    sibling = server.client(other).push(smol["derived"], "lab/smol-ft:1")
    assert (sibling["status"], sibling["reasons"]) == ("published", []), sibling
    found = {r["name"]: r for r in _version(server, "lab/smol-ft:1")["lineage"]["relatives"]}
    assert found["acme/smol"]["direct"] is True
    assert found["evil/abl"]["direct"] is False and found["evil/abl"]["closer_to"] == "acme/smol:1"
    pushed = server.client(eve).push(smol["abliterated-ft"], "evil/abl-ft:1")
    assert pushed["status"] == "quarantined", pushed
    assert pushed["reasons"][0].startswith("derived from evil/abl:1 ("), pushed["reasons"]
    assert pushed["reasons"][0].endswith("which was taken down: safety removed")


@EMBEDDED
def test_a_derivative_of_a_gated_model_inherits_its_tier(
    server: Server, smol: dict[str, Path]
) -> None:
    pub = server.user("gate-pub", "acme", "publisher")
    eve = server.user("gate-eve", "evil", "publisher")
    reader = server.user("gate-reader", "uni", "reader")
    assert server.client(pub).push(smol["base"], "acme/smol:1")["status"] == "published"
    server.client(pub).set_tier("acme/smol", "gated")
    assert server.client(eve).push(smol["derived"], "evil/smol-ft:1")["status"] == "published"
    assert server.client(eve).push(smol["unrelated"], "evil/fresh:1")["status"] == "published"
    derived = _version(server, "evil/smol-ft:1")
    assert derived["access_tier"] == "gated"
    assert _version(server, "evil/fresh:1")["access_tier"] == "open"
    raised = [b for b in _log(server, "access-tier") if b["model"] == "evil/smol-ft"]
    assert raised and raised[-1]["by"] == "policy"
    assert raised[-1]["reason"].startswith("version 1 is derived from acme/smol (gated")
    r = _api(server, "GET", "/api/v1/models/evil/smol-ft/versions/1/files/config.json", reader)
    assert r.status_code == 403 and "gated" in r.json()["detail"]
    # Its publisher may neither open it nor grant access; an admin may decide otherwise.
    r = _api(server, "PUT", "/api/v1/models/evil/smol-ft/access", eve, {"tier": "open"})
    assert r.status_code == 422 and "acme/smol" in r.json()["detail"]
    r = _api(server, "POST", "/api/v1/models/evil/smol-ft/access/grants", eve,
             {"user": "gate-reader"})  # fmt: skip
    assert r.status_code == 403, r.text
    r = _api(server, "PUT", "/api/v1/models/evil/smol-ft/access", server.admin, {"tier": "open"})
    assert _ok(r)["tier"] == "open"
    (waived,) = [b for b in _log(server, "access-tier")
                 if b["model"] == "evil/smol-ft" and b.get("lineage_waived")]  # fmt: skip
    assert waived["by"] == "admin" and "acme/smol:1" in waived["lineage_waived"][0]
    r = _api(server, "GET", "/api/v1/models/evil/smol-ft/versions/1/files/config.json", reader)
    assert r.status_code in (200, 307), r.text  # 307: the S3 store's signed URL
    # The admin's decision stands: the version stays open.
    assert _version(server, "evil/smol-ft:1")["access_tier"] == "open"


@EMBEDDED
def test_an_abliterated_copy_is_held_for_review_then_decided(
    server: Server, smol: dict[str, Path]
) -> None:
    pub = server.user("rev-pub", "acme", "publisher")
    eve = server.user("rev-eve", "evil", "publisher")
    reviewer = server.user("rev-rita", None, "reviewer")
    assert server.client(pub).push(smol["base"], "acme/smol:1")["status"] == "published"
    held = server.client(eve).push(smol["abliterated"], "evil/smol-abl:1")
    assert held["status"] == "needs-review", held
    assert held["reasons"][0].startswith("the weights differ from acme/smol:1 by a safety edit")
    info = _version(server, "evil/smol-abl:1", eve)
    (rel,) = info["lineage"]["relatives"]
    assert rel["safety_edit"] is True
    assert rel["safety_evidence"]["evidence"]["aligned_energy"] > 0.9
    # Not listed, not downloadable while held.
    assert _api(server, "GET", "/api/v1/models/evil/smol-abl/versions/1").status_code == 404
    r = _api(server, "GET", "/api/v1/models/evil/smol-abl/versions/1/files/config.json", eve)
    assert r.status_code == 403 and "needs-review" in r.json()["detail"]
    # Its publisher does not decide; a reviewer sees the evidence and releases it.
    (pending,) = server.client(reviewer).lineage_reviews()
    assert pending["model"] == "evil/smol-abl:1" and pending["base"] == "acme/smol:1"
    assert pending["evidence"]["safety_edit"]["detected"] is True
    r = _api(server, "POST", f"/api/v1/lineage/reviews/{pending['id']}/decision", eve,
             {"release": True, "reason": "mine"})  # fmt: skip
    assert r.status_code == 403, r.text
    decide = server.client(reviewer).decide_lineage_review
    done = decide(pending["id"], True, "research release, documented")
    assert (done["status"], done["version_status"]) == ("released", "published")
    assert _version(server, "evil/smol-abl:1")["status"] == "published"
    (logged,) = _log(server, "lineage-review-released")
    assert logged["model"] == "evil/smol-abl:1" and logged["by"] == "rev-rita"
    # Another abliterated copy: held, then quarantined by an admin from the CLI.
    assert server.client(eve).push(smol["abliterated2"], "evil/smol-abl2:1")["status"] == (
        "needs-review"
    )
    res = _ow("registry", "lineage-review", "--registry", server.url, "--token", server.admin)
    assert res.exit_code == 0 and "evil/smol-abl2:1" in res.output, res.output
    (second,) = server.client(server.admin).lineage_reviews()
    res = _ow("registry", "lineage-review", str(second["id"]), "--quarantine", "--reason",
              "refusals removed", "--registry", server.url, "--token", server.admin)  # fmt: skip
    assert res.exit_code == 0, res.output
    quarantined = _version(server, "evil/smol-abl2:1")
    assert quarantined["status"] == "quarantined"
    assert quarantined["reasons"] == [
        f"a safety edit against acme/smol:1: quarantined by review #{second['id']}: "
        "refusals removed"
    ]
    # A rescan checks both again and keeps both decisions.
    from tests.registry.test_governance import _wait_status

    _ok(_api(server, "POST", "/api/v1/admin/rescan", server.admin), 202)
    _wait_status(server, "evil/smol-abl/versions/1", "published")
    _wait_status(server, "evil/smol-abl2/versions/1", "quarantined")
    assert _version(server, "evil/smol-abl2:1")["reasons"] == quarantined["reasons"]


@EMBEDDED
def test_a_card_naming_another_base_is_flagged(
    server: Server, smol: dict[str, Path], tmp_path: Path
) -> None:
    pub = server.user("card-pub", "hf", "publisher")
    eve = server.user("card-eve", "evil", "publisher")
    assert server.client(pub).push(smol["base"], "hf/SmolLM2-135M-Instruct:1")["status"] == (
        "published"
    )
    # The card names the base by its Hugging Face id: no flag.
    honest = server.client(eve).push(smol["derived"], "evil/honest:1")
    assert (honest["status"], honest["reasons"]) == ("published", [])
    assert _version(server, "evil/honest:1")["lineage"]["base_model_mismatch"] is False
    card = "---\nlicense: apache-2.0\nbase_model: example-lab/other-base\n---\n# Mine\n"
    liar = _copy(smol["derived2"], tmp_path / "liar", card)
    pushed = server.client(eve).push(liar, "evil/liar:1")
    assert pushed["status"] == "published"  # a flag, not a hold
    (flag,) = pushed["reasons"]
    assert flag.startswith("the card declares base_model example-lab/other-base, but the "
                           "weights are derived from hf/SmolLM2-135M-Instruct:1 (")  # fmt: skip
    lineage = _version(server, "evil/liar:1")["lineage"]
    assert lineage["declared_base_model"] == ["example-lab/other-base"]
    assert lineage["base_model_mismatch"] is True
    import httpx

    page = httpx.get(f"{server.url}/models/evil/liar").text
    assert 'data-testid="base-mismatch"' in page and "hf/SmolLM2-135M-Instruct:1" in page
    base_page = httpx.get(f"{server.url}/models/hf/SmolLM2-135M-Instruct").text
    assert "evil/liar:1" in base_page and "evil/honest:1" in base_page


@EMBEDDED
def test_an_abliterated_copy_without_base_model_goes_to_review_and_rescans(
    server: Server, smol: dict[str, Path], tmp_path: Path
) -> None:
    """attacks/lineage2 r04: a card without base_model (or no README) made the review row
    flush half-built (IntegrityError as the quarantine reason)."""
    pub = server.user("nob-pub", "acme", "publisher")
    eve = server.user("nob-eve", "evil", "publisher")
    assert server.client(pub).push(smol["base"], "acme/smol:1")["status"] == "published"
    bare = _copy(smol["abliterated"], tmp_path / "bare")
    (bare / "README.md").unlink(missing_ok=True)
    held = server.client(eve).push(bare, "evil/bare:1")
    assert held["status"] == "needs-review", held
    assert held["reasons"][0].startswith("the weights differ from acme/smol:1 by a safety edit")
    from tests.registry.test_governance import _wait_status

    _ok(_api(server, "POST", "/api/v1/admin/rescan", server.admin), 202)
    _wait_status(server, "evil/bare/versions/1", "needs-review")
    (pending,) = server.client(server.admin).lineage_reviews("pending")
    assert pending["model"] == "evil/bare:1" and pending["evidence"]["safety_edit"]["detected"]


@EMBEDDED
def test_held_and_quarantined_copies_carry_their_hold_and_hide_nothing(
    server: Server, smol: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """attacks/lineage2 r03, in small: copies of held weights neither crowd the real base
    out of the candidates nor pass unchecked: a link to a version held for a safety edit,
    or quarantined as a takedown's derivative, carries that hold."""
    import openward.registry.lineage as lin

    pub = server.user("crowd-pub", "acme", "publisher")
    eve = server.user("crowd-eve", "evil", "publisher")
    assert server.client(pub).push(smol["base"], "acme/smol:1")["status"] == "published"
    # Two held copies of an abliteration fill the nearest list (shrunk to 1 for the test).
    for name in ("RELATIVES", "RULED", "NEAREST"):
        monkeypatch.setattr(lin, name, 1)
    for i in (1, 2):
        pushed = server.client(eve).push(smol["abliterated"], f"evil/decoy{i}:1")
        assert pushed["status"] == "needs-review", pushed
    again = server.client(eve).push(smol["abliterated"], "evil/fresh:1")
    assert again["status"] == "needs-review", again
    info = _version(server, "evil/fresh:1")
    assert {r["name"] for r in info["lineage"]["relatives"]} >= {"acme/smol"}
    # Taken down: the fine-tune is quarantined, then its re-push under a fresh name
    # (and gated decoys of it) are quarantined too: quarantined decoys take no place.
    server.client(server.admin).takedown("acme/smol:1", "leaked training data")
    for i in (1, 2):
        pushed = server.client(eve).push(smol["derived"], f"evil/ft{i}:1")
        assert pushed["status"] == "quarantined", pushed
        server.client(eve).set_tier(f"evil/ft{i}", "gated")
    last = server.client(eve).push(smol["derived2"], "evil/ft-fresh:1")
    assert last["status"] == "quarantined", last
    assert "which was taken down: leaked training data" in last["reasons"][0], last


@EMBEDDED
def test_versions_of_the_same_model_are_compared(server: Server, smol: dict[str, Path]) -> None:
    """attacks/lineage2 r01 (next version): v2 of a model whose v1 was taken down, or that
    abliterates v1, is no longer exempt from the rules."""
    eve = server.user("same-eve", "evil", "publisher")
    assert server.client(eve).push(smol["base"], "evil/own:1")["status"] == "published"
    held = server.client(eve).push(smol["abliterated"], "evil/own:2")
    assert held["status"] == "needs-review", held
    assert held["reasons"][0].startswith("the weights differ from evil/own:1 by a safety edit")
    server.client(server.admin).takedown("evil/own:1", "backdoor found")
    pushed = server.client(eve).push(smol["derived"], "evil/own:3")
    assert pushed["status"] == "quarantined", pushed
    assert pushed["reasons"][0].startswith("derived from evil/own:1 (")
    assert pushed["reasons"][0].endswith("which was taken down: backdoor found")


@EMBEDDED
def test_a_takedown_of_a_gated_base_keeps_its_derivatives_gated(
    server: Server, smol: dict[str, Path]
) -> None:
    """attacks/lineage2 r02 part 2: a takedown never opens anything."""
    pub = server.user("tdg-pub", "acme", "publisher")
    eve = server.user("tdg-eve", "evil", "publisher")
    assert server.client(pub).push(smol["base"], "acme/gated:1")["status"] == "published"
    server.client(pub).set_tier("acme/gated", "gated")
    assert server.client(eve).push(smol["derived"], "evil/ft:1")["status"] == "published"
    assert _version(server, "evil/ft:1")["access_tier"] == "gated"
    done = server.client(server.admin).takedown("acme/gated:1", "license violation")
    assert [(d["name"], d["version"]) for d in done["derivatives"]] == [("evil/ft", "1")]
    r = _api(server, "PUT", "/api/v1/models/evil/ft/access", eve, {"tier": "open"})
    assert r.status_code == 422 and "acme/gated" in r.json()["detail"], r.text
    assert _version(server, "evil/ft:1")["access_tier"] == "gated"


@EMBEDDED
def test_the_anonymous_export_leaves_out_fingerprints_of_gated_models(
    server: Server, smol: dict[str, Path]
) -> None:
    """attacks/lineage2 r05: a restricted base's fingerprint is an offline oracle."""
    pub = server.user("exp-pub", "acme", "publisher")
    eve = server.user("exp-eve", "evil", "publisher")
    assert server.client(pub).push(smol["base"], "acme/secret:1")["status"] == "published"
    server.client(pub).set_tier("acme/secret", "restricted")
    assert server.client(eve).push(smol["derived"], "evil/leak:1")["status"] == "published"
    assert server.client(eve).push(smol["unrelated"], "evil/open:1")["status"] == "published"
    server.client(server.admin).takedown("evil/leak:1", "leak")
    server.client(server.admin).takedown("evil/open:1", "malware")

    def export(token: str | None) -> dict[str, Any]:
        doc: dict[str, Any] = dict(_ok(_api(server, "GET", "/api/v1/advisories/export", token)))
        return doc

    def entry(doc: dict[str, Any], name: str) -> dict[str, Any]:
        (found,) = [v for v in doc["flagged"] if v["name"] == name]
        return found

    anonymous, admin, owner = export(None), export(server.admin), export(pub)
    # The open model's fingerprint is everyone's; the restricted family's is not.
    assert entry(anonymous, "evil/open")["fingerprint"] in anonymous["fingerprints"]
    assert "fingerprint" not in entry(anonymous, "evil/leak")
    assert len(anonymous["fingerprints"]) == 1
    leak = entry(admin, "evil/leak")
    assert leak["fingerprint"] in admin["fingerprints"] and len(leak["lineage_bases"]) == 1
    assert leak["lineage_bases"][0] in admin["fingerprints"]
    # acme's publisher may read acme/secret's fingerprint, not evil/leak's (restricted).
    assert "fingerprint" not in entry(owner, "evil/leak")
