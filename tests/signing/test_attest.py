"""Attestations and verification policies: each failure is one clear line."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openward.cli.main import app
from openward.signing.attest import (
    PolicyError,
    check_policy,
    load_verification_policy,
    read_attestation,
)
from openward.signing.keys import generate_key, load_public_key, write_key_pair

runner = CliRunner()


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Path]:
    paths = {}
    for who in ("publisher", "auditor", "stranger"):
        write_key_pair(generate_key(), tmp_path / f"{who}.pem", tmp_path / f"{who}.pub")
        paths[who] = tmp_path / f"{who}.pem"
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "llama"}))
    from openward._samples import _safetensors_bytes

    (model / "model.safetensors").write_bytes(
        _safetensors_bytes({"w": ("F32", [16, 16], bytes(1024))})
    )
    paths["model"] = model
    paths["sig"] = tmp_path / "model.sig"
    r = runner.invoke(app, ["sign", str(model), "-k", str(paths["publisher"]), "-o",
                            str(paths["sig"])])  # fmt: skip
    assert r.exit_code == 0, r.output
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "signature:\n  keys: [publisher.pub]\n"
        "attestations:\n"
        "  - type: scan\n    keys: [auditor.pub]\n    max_age_days: 30\n    max_severity: medium\n"
        "  - type: facts\n    require_compute: true\n"
    )
    paths["policy"] = policy
    return paths


def _attest(p: dict[str, Path], kind: str, who: str, out: Path, *extra: str) -> Path:
    r = runner.invoke(app, ["attest", kind, str(p["model"]), "-k", str(p[who]), "-o", str(out),
                            *extra])  # fmt: skip
    assert r.exit_code == 0, r.output
    return out


def _verify(p: dict[str, Path], *atts: Path) -> tuple[int, str]:
    args = ["verify", str(p["model"]), "-s", str(p["sig"]), "--policy", str(p["policy"])]
    for a in atts:
        args += ["-a", str(a)]
    r = runner.invoke(app, args)
    return r.exit_code, r.output


def test_policy_met(setup: dict[str, Path], tmp_path: Path) -> None:
    scan = _attest(setup, "scan", "auditor", tmp_path / "scan.json")
    facts = _attest(setup, "facts", "publisher", tmp_path / "facts.json", "--tokens", "1T")
    code, out = _verify(setup, scan, facts)
    assert code == 0, out
    assert "every requirement met" in out
    att = read_attestation(scan, {})
    assert att.predicate_type == "https://openward.dev/attestation/scan/v1"
    assert att.signer is None  # no key given: nobody vouched


def test_each_policy_failure_is_a_line(setup: dict[str, Path], tmp_path: Path) -> None:
    scan_by_stranger = _attest(setup, "scan", "stranger", tmp_path / "scan.json")
    facts_without_compute = _attest(setup, "facts", "publisher", tmp_path / "facts.json")
    code, out = _verify(setup, scan_by_stranger, facts_without_compute)
    assert code == 1
    assert "scan.json: signed by an unknown key" in out
    assert "facts.json: no compute estimate in the attested facts" in out
    code, out = _verify(setup)
    assert code == 1
    assert "no scan attestation given" in out and "no facts attestation given" in out


def test_attestation_for_other_bytes_or_too_old(setup: dict[str, Path], tmp_path: Path) -> None:
    scan = _attest(setup, "scan", "auditor", tmp_path / "scan.json")
    policy = load_verification_policy(setup["policy"])
    names = policy.signature_keys + (policy.attestations[0].keys or [])
    keys = {k: load_public_key(Path(k)) for k in names}
    digest = read_attestation(scan, keys).subject_digest
    later = datetime.now(UTC) + timedelta(days=45)
    failures = check_policy(policy, digest, [scan], keys, now=later)
    assert any("days old, the policy allows 30" in f for f in failures)
    failures = check_policy(policy, "0" * 64, [scan], keys)
    assert any("made for other bytes" in f for f in failures)


def test_scan_findings_above_the_limit(setup: dict[str, Path], tmp_path: Path) -> None:
    import pickle

    # A pickle naming builtins.eval: a critical finding.
    (setup["model"] / "extra.pkl").write_bytes(pickle.dumps(eval, protocol=2))
    r = runner.invoke(app, ["sign", str(setup["model"]), "-k", str(setup["publisher"]), "-o",
                            str(setup["sig"])])  # fmt: skip
    assert r.exit_code == 0
    scan = _attest(setup, "scan", "auditor", tmp_path / "scan.json")
    facts = _attest(setup, "facts", "publisher", tmp_path / "facts.json", "--tokens", "1T")
    code, out = _verify(setup, scan, facts)
    assert code == 1
    assert "finding(s) above medium" in out and "extra.pkl" in out


def test_bad_policies(tmp_path: Path) -> None:
    for text, message in [
        ("[1, 2]", "expected a mapping"),
        ("attestations: []", "signature.keys"),
        ("signature: {keys: [a.pub]}\nattestations:\n  - type: review\n", "type must be one of"),
        ("signature: {keys: [a.pub]}\nattestations:\n  - {type: scan, max_age_days: -1}\n",
         "positive"),
        ("signature: {keys: [a.pub]}\nattestations:\n  - {type: scan, max_severity: bad}\n",
         "max_severity"),
    ]:  # fmt: skip
        path = tmp_path / "p.yaml"
        path.write_text(text)
        with pytest.raises(PolicyError, match=message):
            load_verification_policy(path)
