"""Attestations: signed claims about a model (its scan report, its facts and compute),
and policies that require them.

An attestation is an in-toto Statement in a DSSE envelope in a Sigstore bundle,
the same container as an OMS signature. Its subject is the model: the model
digest of the OMS manifest (SHA-256 over every file's SHA-256 in path order), so
an attestation made for one set of bytes never applies to another. Predicate
types are versioned URIs under the project's namespace:

- ``https://openward.dev/attestation/scan/v1``: the ``openward scan --json`` report;
- ``https://openward.dev/attestation/facts/v1``: the ``openward inspect --json`` facts.

Each predicate also carries ``attested_at`` (UTC, ISO 8601) and the openward version.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from openward._version import __version__
from openward.errors import OpenwardError
from openward.signing.bundle import (
    INTOTO_PAYLOAD_TYPE,
    STATEMENT_TYPE,
    BundleError,
    make_bundle,
    pae,
    parse_bundle,
)
from openward.signing.keys import PrivateKey, PublicKey, key_hint, sign_bytes, verify_bytes
from openward.signing.manifest import Manifest, build_manifest

__all__ = [
    "FACTS_PREDICATE",
    "SCAN_PREDICATE",
    "Attestation",
    "PolicyError",
    "VerificationPolicy",
    "attest",
    "check_policy",
    "load_verification_policy",
    "read_attestation",
]

SCAN_PREDICATE: Final = "https://openward.dev/attestation/scan/v1"
FACTS_PREDICATE: Final = "https://openward.dev/attestation/facts/v1"
PREDICATES: Final = {"scan": SCAN_PREDICATE, "facts": FACTS_PREDICATE}
_RANK: Final = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


class PolicyError(OpenwardError):
    """The verification policy file is unreadable or malformed."""


def attest(
    model: Path,
    key: PrivateKey,
    kind: str,
    predicate: dict[str, Any],
    *,
    manifest: Manifest | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, object]:
    """Sign ``predicate`` (a scan report or facts document) about ``model``."""
    if kind not in PREDICATES:
        raise OpenwardError(f"unknown attestation type {kind!r}; choose from {sorted(PREDICATES)}")
    manifest = manifest or build_manifest(model, progress=progress)
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": model.resolve().name, "digest": {"sha256": manifest.digest}}],
        "predicateType": PREDICATES[kind],
        "predicate": {
            **predicate,
            "attested_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "attested_by": f"openward {__version__}",
        },
    }
    payload = json.dumps(statement, separators=(",", ":")).encode()
    signature = sign_bytes(key, pae(INTOTO_PAYLOAD_TYPE, payload))
    return make_bundle(payload, signature, key_hint(key.public_key()))


@dataclass
class Attestation:
    path: Path
    kind: str | None
    predicate_type: str
    subject_digest: str
    predicate: dict[str, Any]
    signer: str | None
    """The key file that verified it, or None when no given key did."""
    attested_at: datetime | None


def read_attestation(path: Path, keys: dict[str, PublicKey]) -> Attestation:
    """Parse an attestation bundle and find which of ``keys`` (name -> key) signed it."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise OpenwardError(f"cannot read attestation {path}: {exc.strerror}") from None
    bundle = parse_bundle(raw)
    signer = None
    for name, key in keys.items():
        if bundle.key_hint is not None and bundle.key_hint != key_hint(key):
            continue
        if verify_bytes(key, bundle.signature, pae(bundle.payload_type, bundle.payload)):
            signer = name
            break
    try:
        doc = json.loads(bundle.payload)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise BundleError(f"{path}: the signed payload is not JSON") from None
    if not isinstance(doc, dict):
        raise BundleError(f"{path}: the statement is not an object")
    subjects = doc.get("subject")
    digest = None
    if isinstance(subjects, list) and len(subjects) == 1 and isinstance(subjects[0], dict):
        d = subjects[0].get("digest")
        digest = d.get("sha256") if isinstance(d, dict) else None
    if not isinstance(digest, str):
        raise BundleError(f"{path}: the statement has no sha256 subject")
    predicate = doc.get("predicate")
    if not isinstance(predicate, dict):
        raise BundleError(f"{path}: the statement has no predicate")
    ptype = doc.get("predicateType")
    kind = next((k for k, v in PREDICATES.items() if v == ptype), None)
    when = None
    stamp = predicate.get("attested_at")
    if isinstance(stamp, str):
        try:
            when = datetime.fromisoformat(stamp)
        except ValueError:
            when = None
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    return Attestation(path, kind, str(ptype), digest.lower(), predicate, signer, when)


@dataclass
class Requirement:
    kind: str
    keys: list[str] | None = None
    """Key files allowed to sign it (default: the policy's signature keys)."""
    max_age_days: float | None = None
    max_severity: str | None = None
    """scan: no finding above this severity (e.g. medium: nothing high or critical)."""
    require_compute: bool = False
    """facts: a compute estimate must be present."""


@dataclass
class VerificationPolicy:
    signature_keys: list[str]
    attestations: list[Requirement] = field(default_factory=list)
    source: str = ""


def _strs(value: object, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise PolicyError(f"{where} must be a key file or a list of key files")


def load_verification_policy(path: Path) -> VerificationPolicy:
    """Read a policy such as::

        signature:
          keys: [publisher.pub]
        attestations:
          - type: scan
            keys: [auditor.pub]
            max_age_days: 30
            max_severity: medium
          - type: facts
            require_compute: true

    Key paths are relative to the policy file.
    """
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read policy {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{path}: expected a mapping with 'signature' and 'attestations'")
    base = path.parent

    def resolve(items: list[str]) -> list[str]:
        return [str((base / p) if not Path(p).is_absolute() else Path(p)) for p in items]

    signature = data.get("signature") or {}
    if not isinstance(signature, dict) or "keys" not in signature:
        raise PolicyError(f"{path}: 'signature.keys' lists the keys a model may be signed by")
    policy = VerificationPolicy(resolve(_strs(signature["keys"], "signature.keys")), [], str(path))
    items = data.get("attestations") or []
    if not isinstance(items, list):
        raise PolicyError(f"{path}: 'attestations' must be a list")
    for i, item in enumerate(items):
        where = f"attestations[{i}]"
        if not isinstance(item, dict) or item.get("type") not in PREDICATES:
            raise PolicyError(f"{path}: {where}.type must be one of {sorted(PREDICATES)}")
        age = item.get("max_age_days")
        if age is not None and (
            isinstance(age, bool) or not isinstance(age, int | float) or age <= 0
        ):
            raise PolicyError(f"{path}: {where}.max_age_days must be a positive number")
        severity = item.get("max_severity")
        if severity is not None and severity not in _RANK:
            raise PolicyError(f"{path}: {where}.max_severity must be one of {list(_RANK)}")
        keys = resolve(_strs(item["keys"], f"{where}.keys")) if "keys" in item else None
        policy.attestations.append(
            Requirement(
                item["type"],
                keys,
                float(age) if age is not None else None,
                severity,
                bool(item.get("require_compute", False)),
            )
        )
    return policy


def _scan_failures(att: Attestation, req: Requirement) -> list[str]:
    findings = att.predicate.get("findings")
    if not isinstance(findings, list):
        return [f"{att.path.name}: the scan attestation holds no findings list"]
    limit = _RANK[req.max_severity] if req.max_severity else None
    if limit is None:
        return []
    worst = [
        f for f in findings if isinstance(f, dict) and _RANK.get(str(f.get("severity")), 0) > limit
    ]
    if worst:
        first = worst[0]
        return [
            f"{att.path.name}: the attested scan has {len(worst)} finding(s) above "
            f"{req.max_severity}, e.g. {first.get('severity')} {first.get('rule_id')} in "
            f"{first.get('path')}"
        ]
    return []


def check_policy(
    policy: VerificationPolicy,
    model_digest: str,
    attestation_files: Iterable[Path],
    keys: dict[str, PublicKey],
    *,
    now: datetime | None = None,
) -> list[str]:
    """Policy failures, one line each (empty: the policy holds). ``model_digest`` is the
    digest of the bytes already verified against the signature."""
    now = now or datetime.now(UTC)
    failures: list[str] = []
    atts: list[Attestation] = []
    for path in attestation_files:
        try:
            atts.append(read_attestation(path, keys))
        except OpenwardError as exc:
            failures.append(f"{path.name}: unreadable attestation ({exc})")
    for req in policy.attestations:
        allowed = set(req.keys or policy.signature_keys)
        candidates = [a for a in atts if a.kind == req.kind]
        if not candidates:
            failures.append(f"no {req.kind} attestation given (the policy requires one)")
            continue
        reasons: list[str] = []
        satisfied = False
        for att in candidates:
            problems = []
            if att.signer is None or att.signer not in allowed:
                who = "an unknown key" if att.signer is None else att.signer
                problems.append(f"{att.path.name}: signed by {who}, not by {sorted(allowed)}")
            if att.subject_digest != model_digest:
                problems.append(f"{att.path.name}: made for other bytes (subject digest differs)")
            if req.max_age_days is not None:
                if att.attested_at is None:
                    problems.append(f"{att.path.name}: no attestation time")
                elif now - att.attested_at > timedelta(days=req.max_age_days):
                    age = (now - att.attested_at).days
                    problems.append(f"{att.path.name}: {age} days old, the policy allows "
                                    f"{req.max_age_days:g}")  # fmt: skip
            if req.kind == "scan":
                problems += _scan_failures(att, req)
            if req.kind == "facts" and req.require_compute and not att.predicate.get("compute"):
                problems.append(f"{att.path.name}: no compute estimate in the attested facts")
            if not problems:
                satisfied = True
                break
            reasons += problems
        if not satisfied:
            failures += reasons
    return failures
