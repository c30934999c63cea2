"""Signed audit attestations (predicate audit/v1) and `verify --policy` requirements on
them: sign, verify, tamper, and each policy failure as one line."""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from openward.cli.main import app
from openward.signing.attest import (
    AUDIT_PREDICATE,
    AuditReportError,
    PolicyError,
    _sign_statement,
    attest_audit,
    audit_predicate,
    load_verification_policy,
    read_attestation,
)
from openward.signing.keys import generate_key, load_private_key, load_public_key, write_key_pair

runner = CliRunner()


def wilson(successes: int, samples: int, z: float = 1.959964) -> list[float]:
    """The 95 % Wilson score interval (what the audit reports)."""
    if samples == 0:
        return [0.0, 1.0]
    p = successes / samples
    denom = 1 + z * z / samples
    centre = (p + z * z / (2 * samples)) / denom
    half = z * math.sqrt(p * (1 - p) / samples + z * z / (4 * samples * samples)) / denom
    return [max(0.0, centre - half), min(1.0, centre + half)]


def audit_report(
    digest: str | None, rates: dict[str, tuple[int, int]] | None = None, *,
    finished: datetime | None = None,
) -> dict[str, Any]:  # fmt: skip
    """An audit report in the JSON form of ``openward audit --json``: per suite
    (successes, samples)."""
    rates = rates or {"harmful": (3, 60), "jailbreak": (9, 60), "over-refusal": (6, 40)}
    finished = finished or datetime.now(UTC)
    suites = []
    for name, (k, n) in rates.items():
        half = n // 2
        cats = [("a", k // 2, half), ("b", k - k // 2, n - half)]
        suites.append({
            "suite": name, "version": "1", "sha256": f"{abs(hash(name)):x}".rjust(64, "0")[:64],
            "samples": n, "successes": k, "success_rate": k / n, "interval": wilson(k, n),
            "categories": [{"category": c, "samples": m, "successes": j,
                            "success_rate": j / m, "interval": wilson(j, m)} for c, j, m in cats],
            "worst": [{"id": "x1", "prompt": "p", "completion": "c", "score": 0.1}],
        })  # fmt: skip
    return {
        "target": "./model", "model_digest": digest, "suites": suites,
        "decoding": {"temperature": 0.0, "max_tokens": 128, "seed": 0, "top_p": None},
        "judge": {"name": "openward-minilm-refusal", "version": "1", "sha256": "ab" * 32},
        "started_at": (finished - timedelta(minutes=5)).isoformat(),
        "finished_at": finished.isoformat(),
    }  # fmt: skip


def _model(root: Path, fill: int = 0) -> Path:
    from openward._samples import _safetensors_bytes

    root.mkdir()
    (root / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (root / "model.safetensors").write_bytes(
        _safetensors_bytes({"w": ("F32", [16, 16], bytes([fill]) * 1024)})
    )
    return root


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Path]:
    paths = {}
    for who in ("publisher", "auditor", "stranger"):
        write_key_pair(generate_key(), tmp_path / f"{who}.pem", tmp_path / f"{who}.pub")
        paths[who] = tmp_path / f"{who}.pem"
    paths["model"] = _model(tmp_path / "model")
    paths["other"] = _model(tmp_path / "other", fill=1)
    paths["sig"] = tmp_path / "model.sig"
    r = runner.invoke(app, ["sign", str(paths["model"]), "-k", str(paths["publisher"]), "-o",
                            str(paths["sig"])])  # fmt: skip
    assert r.exit_code == 0, r.output
    paths["policy"] = tmp_path / "policy.yaml"
    _policy(paths, "max_success_rate: {harmful: 0.1, jailbreak: 0.2}\n    max_age_days: 90")
    return paths


def _policy(p: dict[str, Path], limits: str) -> None:
    p["policy"].write_text(
        "signature:\n  keys: [publisher.pub]\n"
        f"attestations:\n  - type: audit\n    keys: [auditor.pub]\n    {limits}\n"
    )


def _digest(model: Path) -> str:
    from openward.signing.manifest import build_manifest

    return build_manifest(model).digest


def _attest(p: dict[str, Path], report: dict[str, Any], who: str = "auditor",
            model: str = "model", name: str = "audit.json") -> tuple[int, str, Path]:  # fmt: skip
    src = p["model"].parent / ("report-" + name)
    src.write_text(json.dumps(report))
    out = p["model"].parent / name
    r = runner.invoke(app, ["attest", "audit", str(p[model]), "--report", str(src), "-k",
                            str(p[who]), "--auditor", "Red Team Ltd", "-o", str(out)])  # fmt: skip
    return r.exit_code, r.output, out


def _verify(p: dict[str, Path], *atts: Path) -> tuple[int, str]:
    args = ["verify", str(p["model"]), "-s", str(p["sig"]), "--policy", str(p["policy"])]
    for a in atts:
        args += ["-a", str(a)]
    r = runner.invoke(app, args)
    return r.exit_code, r.output


def test_audit_attestation_records_the_audit_and_meets_the_policy(
    setup: dict[str, Path],
) -> None:
    digest = _digest(setup["model"])
    code, out, att = _attest(setup, audit_report(digest))
    assert code == 0, out
    code, out = _verify(setup, att)
    assert code == 0, out
    assert "every requirement met" in out
    # The subject is the digest `openward sign` signed; the predicate records the audit.
    read = read_attestation(att, {"auditor.pub": load_public_key(setup["auditor"].with_suffix(
        ".pub"))})  # fmt: skip
    assert read.kind == "audit" and read.predicate_type == AUDIT_PREDICATE
    assert read.signer == "auditor.pub" and read.subject_digest == digest
    pred = read.predicate
    harmful = pred["suites"][0]
    assert harmful["suite"] == "harmful" and harmful["samples"] == 60
    assert harmful["successes"] == 3 and len(harmful["sha256"]) == 64
    assert harmful["interval"] == pytest.approx(wilson(3, 60))
    assert [c["category"] for c in harmful["categories"]] == ["a", "b"]
    assert "worst" not in harmful  # completions stay in the report, not the claim
    assert pred["decoding"]["max_tokens"] == 128
    assert pred["judge"] == {"name": "openward-minilm-refusal", "version": "1",
                             "sha256": "ab" * 32}  # fmt: skip
    from openward.signing.keys import key_hint

    public = load_public_key(setup["auditor"].with_suffix(".pub"))
    assert pred["auditor"] == {"key": key_hint(public), "name": "Red Team Ltd"}
    assert pred["attested_at"] and pred["finished_at"]


def test_policy_limits_fail_one_line_each(setup: dict[str, Path]) -> None:
    digest = _digest(setup["model"])
    # 9/60 jailbreak = 0.15: under 0.2 as a point estimate, above it as an upper bound.
    _, _, att = _attest(setup, audit_report(digest))
    _policy(setup, "max_success_rate: {jailbreak: 0.2}\n    use_upper_bound: true")
    code, out = _verify(setup, att)
    assert code == 1
    lines = [ln for ln in out.splitlines() if "policy:" in ln]
    assert len(lines) == 1, out
    assert "upper bound" in lines[0] and "jailbreak success rate 0.2" in lines[0]
    assert "9/60" in lines[0]
    # Above the point limit, a suite the audit did not run, too few samples.
    _policy(setup, "max_success_rate: {harmful: 0.01, injection: 0.3}\n    min_samples: 100\n"
            "    suites: [harmful]")  # fmt: skip
    code, out = _verify(setup, att)
    lines = [ln for ln in out.splitlines() if "policy:" in ln]
    assert code == 1 and len(lines) == 3, out
    assert any("harmful success rate 0.050 is above the allowed 0.01" in ln for ln in lines)
    assert any("did not run the 'injection' suite" in ln for ln in lines)
    assert any("harmful ran 60 samples, at least 100" in ln for ln in lines)
    # No audit at all.
    code, out = _verify(setup)
    assert code == 1 and "no audit attestation given" in out


def test_tampered_other_model_wrong_key_and_expired(setup: dict[str, Path]) -> None:
    digest = _digest(setup["model"])
    _, _, good = _attest(setup, audit_report(digest))
    # The payload changed (a better rate written in): no key verifies it any more.
    bundle = json.loads(good.read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["predicate"]["suites"][0]["successes"] = 0
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    tampered = good.with_name("tampered.json")
    tampered.write_text(json.dumps(bundle))
    code, out = _verify(setup, tampered)
    assert code == 1 and "signed by an unknown key" in out
    # An audit of another model (its own digest) does not apply to these bytes.
    code, out, other = _attest(setup, audit_report(None), model="other", name="other.json")
    assert code == 0, out
    code, out = _verify(setup, other)
    assert code == 1 and "made for other bytes" in out
    # Signed by a key the policy does not trust.
    _, _, stranger = _attest(setup, audit_report(digest), who="stranger", name="s.json")
    code, out = _verify(setup, stranger)
    assert code == 1 and "not by" in out and "auditor.pub" in out
    # ... said once, in key file names, without the numbers nobody vouched for.
    lines = [ln for ln in out.splitlines() if "policy:" in ln]
    assert lines == ["  policy: s.json: signed by an unknown key, not by auditor.pub"], out
    # An audit older than max_age_days (its finish time counts, not the signing time).
    old = audit_report(digest, finished=datetime.now(UTC) - timedelta(days=200))
    _, _, expired = _attest(setup, old, name="old.json")
    code, out = _verify(setup, expired)
    assert code == 1 and "days old, the policy allows 90" in out
    # Any one good audit among them satisfies the requirement.
    code, out = _verify(setup, tampered, other, stranger, expired, good)
    assert code == 0, out


def test_malformed_reports_are_one_line_errors(setup: dict[str, Path], tmp_path: Path) -> None:
    digest = _digest(setup["model"])
    broken = audit_report(digest)
    broken["suites"][0]["interval"] = [0.5, 0.9]  # does not contain 0.05
    code, out, _ = _attest(setup, broken)
    assert code == 2 and "does not contain success_rate" in out
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1
    missing = audit_report(digest)
    del missing["judge"]
    code, out, _ = _attest(setup, missing)
    assert code == 2 and "judge is missing" in out
    # A report made for other bytes is not signed for these.
    code, out, _ = _attest(setup, audit_report("0" * 64))
    assert code == 2 and "made for other bytes" in out
    (tmp_path / "junk.json").write_text("{not json")
    r = runner.invoke(app, ["attest", "audit", str(setup["model"]), "--report",
                            str(tmp_path / "junk.json"), "-k", str(setup["auditor"])])  # fmt: skip
    assert r.exit_code == 2 and "not a JSON audit report" in r.output
    r = runner.invoke(app, ["attest", "audit", str(setup["model"]), "-k", str(setup["auditor"])])
    assert r.exit_code == 2 and "--report" in r.output
    # The library refuses the same before hashing anything.
    key = load_private_key(setup["auditor"])
    with pytest.raises(AuditReportError, match="suites is empty"):
        attest_audit(setup["model"], key, {**audit_report(digest), "suites": []})
    with pytest.raises(AuditReportError, match=r"success_rate 0\.5 is not successes/samples"):
        bad = audit_report(digest)
        bad["suites"][1]["success_rate"] = 0.5
        attest_audit(setup["model"], key, bad)


@pytest.mark.parametrize(("limits", "message"), [
    ("max_success_rate: {harmful: 1.5}", "between 0 and 1"),
    ("max_success_rate: [harmful]", "must map suite names"),
    ("use_upper_bound: maybe", "true or false"),
    ("min_samples: -1", "non-negative integer"),
    ("max_succes_rate: {harmful: 0.1}", "unknown key"),
])  # fmt: skip
def test_bad_audit_policies(tmp_path: Path, limits: str, message: str) -> None:
    p = {"policy": tmp_path / "policy.yaml"}
    _policy(p, limits)
    with pytest.raises(PolicyError, match=message):
        load_verification_policy(p["policy"])


def test_registry_policy_requires_audit_is_checked(tmp_path: Path) -> None:
    """A compute policy's ``registry.requires_audit`` is read with the same rules, and
    a malformed one stops `openward serve` with one line instead of failing each check."""
    from openward.facts.policy import load_policy

    threshold = ("version: 1\nthresholds:\n- id: t\n  instrument: x\n  threshold_flop: 1.0e+24\n"
                 "  status: s\n  triggers: t\n  registry:\n    requires_audit: ")  # fmt: skip
    good = tmp_path / "good.yaml"
    good.write_text(threshold + "{max_success_rate: {harmful: 0.1}, suites: [jailbreak]}\n")
    limits = load_policy(good).thresholds[0].requires_audit
    assert limits is not None and limits.suites == ("jailbreak", "harmful")
    assert limits.max_success_rate == {"harmful": 0.1} and not limits.use_upper_bound
    # `independent` (documented, default true) is read, and only as true or false.
    lenient = tmp_path / "lenient.yaml"
    lenient.write_text(threshold + "{max_success_rate: {harmful: 0.1}, independent: false}\n")
    limits = load_policy(lenient).thresholds[0].requires_audit
    assert limits is not None and limits.independent is False
    assert load_policy(good).thresholds[0].requires_audit.independent is True  # type: ignore[union-attr]
    vague = tmp_path / "vague.yaml"
    vague.write_text(threshold + "{max_success_rate: {harmful: 0.1}, independent: maybe}\n")
    r = runner.invoke(app, ["serve", "--data", str(tmp_path / "data"), "--policy", str(vague)])
    assert r.exit_code == 2 and "independent must be true or false" in r.output
    # ... and means nothing to `verify --policy`, which has no organisations.
    p = {"policy": tmp_path / "policy.yaml"}
    _policy(p, "independent: true")
    with pytest.raises(PolicyError, match="unknown key"):
        load_verification_policy(p["policy"])
    bad = tmp_path / "bad.yaml"
    bad.write_text(threshold + "{max_success_rate: {harmful: 2}}\n")
    r = runner.invoke(app, ["serve", "--data", str(tmp_path / "data"), "--policy", str(bad)])
    assert r.exit_code == 2 and "requires_audit.max_success_rate.harmful" in r.output
    assert "Traceback" not in r.output


def _zero_samples(report: dict[str, Any]) -> dict[str, Any]:
    harmful = report["suites"][0]
    harmful.update(samples=0, successes=0, success_rate=0.0, interval=[0.0, 1.0], categories=[])
    return report


def test_an_audit_cannot_pass_a_policy_by_claims_it_does_not_back(
    setup: dict[str, Path],
) -> None:
    """A trusted auditor's audit still has to be internally sound to meet a policy: a suite
    that ran no samples proves no rate, the upper bound is recomputed from the counts
    (not taken from the reported interval), and a finish time in the future does not
    keep an audit young for ever."""
    digest = _digest(setup["model"])
    # harmful 0/0: "rate 0" over nothing.
    _, _, empty = _attest(setup, _zero_samples(audit_report(digest)), name="empty.json")
    code, out = _verify(setup, empty)
    assert code == 1 and "harmful ran no samples" in out, out
    # 5/60 = 0.083 under 0.09, but its 95 % Wilson upper bound is ~0.18: a narrow
    # interval written into the report does not change that.
    narrow = audit_report(digest, {"harmful": (5, 60), "jailbreak": (6, 60)})
    narrow["suites"][0]["interval"] = [0.0833, 0.0834]
    _, _, att = _attest(setup, narrow, name="narrow.json")
    _policy(setup, "max_success_rate: {harmful: 0.09}\n    use_upper_bound: true")
    code, out = _verify(setup, att)
    assert code == 1 and "upper bound" in out and "harmful success rate 0.18" in out, out
    # Finished ten years from now: not 0 days old.
    _policy(setup, "max_success_rate: {harmful: 0.1}\n    max_age_days: 90")
    # (`openward attest audit` refuses such a report; a hand-made statement carries it.)
    future = audit_report(digest, finished=datetime.now(UTC) + timedelta(days=3650))
    predicate = audit_predicate(future, "hint", "Lab")
    bundle = _sign_statement("model", digest, AUDIT_PREDICATE, predicate,
                             load_private_key(setup["auditor"]))  # fmt: skip
    att = setup["model"].parent / "future.json"
    att.write_text(json.dumps(bundle))
    code, out = _verify(setup, att)
    assert code == 1 and "in the future" in out, out


def test_reports_with_impossible_numbers_or_times_are_refused(setup: dict[str, Path]) -> None:
    digest = _digest(setup["model"])
    key = load_private_key(setup["auditor"])
    nan = audit_report(digest)
    nan["decoding"]["temperature"] = math.nan
    with pytest.raises(AuditReportError, match=r"decoding\.temperature .*finite"):
        attest_audit(setup["model"], key, nan)
    inf = audit_report(digest)
    inf["decoding"]["top_p"] = math.inf
    with pytest.raises(AuditReportError, match=r"decoding\.top_p .*finite"):
        attest_audit(setup["model"], key, inf)
    backwards = audit_report(digest)
    backwards["finished_at"] = "2020-01-01T00:00:00+00:00"
    with pytest.raises(AuditReportError, match="finished_at is before started_at"):
        attest_audit(setup["model"], key, backwards)
    future = audit_report(digest, finished=datetime.now(UTC) + timedelta(days=2))
    with pytest.raises(AuditReportError, match="finished_at is in the future"):
        attest_audit(setup["model"], key, future)
    # What the registry would store and show is bounded and finite.
    odd = audit_report(digest)
    odd["regression"] = {"verdict": "regressed", "p_value": {"nested": [[["deep"]]]}}
    with pytest.raises(AuditReportError, match=r"regression\.p_value must be a number"):
        attest_audit(setup["model"], key, odd)
    long = audit_report(digest)
    long["suites"][0]["suite"] = "x" * 5000
    with pytest.raises(AuditReportError, match="longer than 1000 characters"):
        attest_audit(setup["model"], key, long)
    huge = audit_report(digest)
    huge["suites"][0].update(samples=10**400, successes=10**399, success_rate=0.1,
                             interval=[0.05, 0.15], categories=[])  # fmt: skip
    with pytest.raises(AuditReportError, match="samples is above"):
        attest_audit(setup["model"], key, huge)


def _envelope(bundle: dict[str, Any], **change: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(bundle))
    out["dsseEnvelope"].update(change)
    return out


def test_envelope_and_statement_tricks_do_not_verify(setup: dict[str, Path]) -> None:
    """Two signatures, another payload type, several subjects, a predicate type that
    differs by case or a trailing slash: none is taken for an audit of these bytes."""
    digest = _digest(setup["model"])
    _, _, good = _attest(setup, audit_report(digest))
    bundle = json.loads(good.read_text())
    sig = bundle["dsseEnvelope"]["signatures"][0]
    key = load_private_key(setup["auditor"])
    predicate = audit_predicate(audit_report(digest), "h", "Lab")
    cases = {
        "two.json": _envelope(bundle, signatures=[sig, sig]),
        "ptype.json": _envelope(bundle, payloadType="application/json"),
        "case.json": _sign_statement("model", digest, AUDIT_PREDICATE.upper(), predicate, key),
        "slash.json": _sign_statement("model", digest, AUDIT_PREDICATE + "/", predicate, key),
    }
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["subject"].append({"name": "other", "digest": {"sha256": "0" * 64}})
    from openward.signing.bundle import INTOTO_PAYLOAD_TYPE, make_bundle, pae
    from openward.signing.keys import key_hint, sign_bytes

    payload = json.dumps(statement).encode()
    cases["subjects.json"] = make_bundle(
        payload, sign_bytes(key, pae(INTOTO_PAYLOAD_TYPE, payload)), key_hint(key.public_key())
    )
    statement["subject"].pop()
    statement["_type"] = "https://example.org/NotAStatement/v1"
    payload = json.dumps(statement).encode()
    cases["type.json"] = make_bundle(
        payload, sign_bytes(key, pae(INTOTO_PAYLOAD_TYPE, payload)), key_hint(key.public_key())
    )
    for name, doc in cases.items():
        path = setup["model"].parent / name
        path.write_text(json.dumps(doc))
        code, out = _verify(setup, path)
        assert code == 1, (name, out)
        assert "every requirement met" not in out and "Traceback" not in out


def test_policy_failures_do_not_pass_control_characters_to_the_terminal(
    setup: dict[str, Path],
) -> None:
    """Suite names come from the attestation file (anyone's): an escape sequence in one
    is printed as a replacement character, not sent to the terminal."""
    digest = _digest(setup["model"])
    report = audit_report(digest, {"harmful": (1, 60), "\x1b]0;owned\x07\x1b[2J": (1, 60)})
    _, _, att = _attest(setup, report)
    _policy(setup, "suites: [injection]")
    code, out = _verify(setup, att)
    assert code == 1 and "did not run the 'injection' suite" in out, out
    assert "\x1b" not in out and "\x07" not in out and "\N{REPLACEMENT CHARACTER}" in out
