"""Attestations: signed claims about a model (its scan report, its facts and compute,
a safety audit of its behaviour), and policies that require them.

An attestation is an in-toto Statement in a DSSE envelope in a Sigstore bundle,
the same container as an OMS signature. Its subject is the model: the model
digest of the OMS manifest (SHA-256 over every file's SHA-256 in path order), so
an attestation made for one set of bytes never applies to another. Predicate
types are versioned URIs under the project's namespace:

- ``https://openward.dev/attestation/scan/v1``: the ``openward scan --json`` report;
- ``https://openward.dev/attestation/facts/v1``: the ``openward inspect --json`` facts;
- ``https://openward.dev/attestation/audit/v1``: an ``openward audit --json`` report
  (suites with their hashes and sample counts, rates with their 95 % intervals, the
  decoding settings, the judge and its hash, the auditor's key and name, the time).

Each predicate also carries ``attested_at`` (UTC, ISO 8601) and the openward version.

Usage::

    from openward.signing.attest import attest_audit
    from openward.signing.keys import load_private_key

    bundle = attest_audit(Path("model"), load_private_key(Path("auditor.pem")),
                          json.loads(Path("audit.json").read_text()), auditor="Lab X")
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from openward._version import __version__
from openward.errors import OpenwardError
from openward.facts.policy import AuditLimits, parse_audit_limits
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
    "AUDIT_PREDICATE",
    "FACTS_PREDICATE",
    "SCAN_PREDICATE",
    "Attestation",
    "AuditReportError",
    "PolicyError",
    "VerificationPolicy",
    "attest",
    "attest_audit",
    "audit_failures",
    "audit_predicate",
    "check_policy",
    "future_finish",
    "load_verification_policy",
    "read_attestation",
    "validate_audit_report",
    "wilson_upper",
]

SCAN_PREDICATE: Final = "https://openward.dev/attestation/scan/v1"
FACTS_PREDICATE: Final = "https://openward.dev/attestation/facts/v1"
AUDIT_PREDICATE: Final = "https://openward.dev/attestation/audit/v1"
PREDICATES: Final = {"scan": SCAN_PREDICATE, "facts": FACTS_PREDICATE, "audit": AUDIT_PREDICATE}
_STATEMENT_TYPES: Final = (STATEMENT_TYPE, "https://in-toto.io/Statement/v0.1")
_RANK: Final = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


class PolicyError(OpenwardError):
    """The verification policy file is unreadable or malformed."""


class AuditReportError(OpenwardError):
    """An audit report (or an audit predicate) does not have the audit JSON's shape."""


def _sign_statement(
    name: str, digest: str, predicate_type: str, predicate: dict[str, Any], key: PrivateKey
) -> dict[str, object]:
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {"sha256": digest}}],
        "predicateType": predicate_type,
        "predicate": {
            **predicate,
            "attested_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "attested_by": f"openward {__version__}",
        },
    }
    payload = json.dumps(statement, separators=(",", ":")).encode()
    signature = sign_bytes(key, pae(INTOTO_PAYLOAD_TYPE, payload))
    return make_bundle(payload, signature, key_hint(key.public_key()))


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
    if kind == "audit":
        return attest_audit(model, key, predicate, manifest=manifest, progress=progress)
    manifest = manifest or build_manifest(model, progress=progress)
    return _sign_statement(model.resolve().name, manifest.digest, PREDICATES[kind], predicate,
                           key)  # fmt: skip


# -- audits --------------------------------------------------------------------
_HEX64: Final = frozenset("0123456789abcdef")
_EPS: Final = 1e-9
_CLOCK_SKEW: Final = timedelta(hours=1)
"""How far in the future an audit's finish time may lie (clocks differ)."""


_KINDS: Final = {str: "string", int: "integer", list: "list", dict: "object"}
_MAX_TEXT: Final = 1000
_MAX_SAMPLES: Final = 10**12
"""The longest name, version or time an audit may carry (the registry shows them)."""


def _need(doc: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = doc.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise AuditReportError(f"{where}.{key} is missing or not a {_KINDS.get(kind, kind)}")
    if isinstance(value, str) and len(value) > _MAX_TEXT:
        raise AuditReportError(f"{where}.{key} is longer than {_MAX_TEXT} characters")
    return value


def _rate(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise AuditReportError(f"{where} must be a number between 0 and 1")
    return float(value)


def _counts(doc: dict[str, Any], where: str) -> dict[str, Any]:
    """samples, successes, success_rate and interval of a suite or category, checked
    against each other."""
    samples = _need(doc, "samples", int, where)
    successes = _need(doc, "successes", int, where)
    if samples > _MAX_SAMPLES:
        raise AuditReportError(f"{where}.samples is above {_MAX_SAMPLES:,}: not a real count")
    if samples < 0 or not 0 <= successes <= samples:
        raise AuditReportError(f"{where}: successes must be between 0 and samples ({samples})")
    rate = _rate(doc.get("success_rate"), f"{where}.success_rate")
    if samples and abs(rate - successes / samples) > 1e-3:
        raise AuditReportError(
            f"{where}.success_rate {rate:g} is not successes/samples ({successes}/{samples})"
        )
    interval = doc.get("interval")
    if not isinstance(interval, list | tuple) or len(interval) != 2:
        raise AuditReportError(f"{where}.interval must be [low, high]")
    low = _rate(interval[0], f"{where}.interval[0]")
    high = _rate(interval[1], f"{where}.interval[1]")
    if not low - _EPS <= rate <= high + _EPS:
        raise AuditReportError(
            f"{where}.interval [{low:g}, {high:g}] does not contain success_rate {rate:g}"
        )
    return {"samples": samples, "successes": successes, "success_rate": rate,
            "interval": [low, high]}  # fmt: skip


def _sha256(doc: dict[str, Any], where: str) -> str:
    value = _need(doc, "sha256", str, where).lower()
    if len(value) != 64 or not set(value) <= _HEX64:
        raise AuditReportError(f"{where}.sha256 must be 64 hex digits")
    return str(value)


def _stamp(doc: dict[str, Any], key: str, where: str) -> tuple[str, datetime]:
    value = _need(doc, key, str, where)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise AuditReportError(f"{where}.{key} is not an ISO 8601 time: {value!r}") from None
    return str(value), when if when.tzinfo else when.replace(tzinfo=UTC)


def wilson_upper(successes: int, samples: int, z: float = 1.959964) -> float:
    """The upper end of the 95 % Wilson score interval of ``successes/samples`` (1 for no
    samples): what ``use_upper_bound`` compares, recomputed from the counts."""
    if samples <= 0:
        return 1.0
    p = successes / samples
    denom = 1 + z * z / samples
    centre = (p + z * z / (2 * samples)) / denom
    half = z * math.sqrt(p * (1 - p) / samples + z * z / (4 * samples * samples)) / denom
    return min(1.0, centre + half)


def future_finish(predicate: dict[str, Any], now: datetime | None = None) -> str | None:
    """Why the audit's ``finished_at`` cannot be right (it lies more than an hour after
    ``now``, or after the attestation was signed), or None. An audit "finished" in the
    future would never grow old enough for a policy's ``max_age_days``."""
    now = now or datetime.now(UTC)
    when = audit_time(predicate)
    if when is None:
        return None
    if when > now + _CLOCK_SKEW:
        return f"finished_at is in the future ({predicate.get('finished_at')})"
    signed = _aware_time(predicate.get("attested_at"))
    if signed is not None and when > signed + _CLOCK_SKEW:
        return f"finished_at ({predicate.get('finished_at')}) is after it was signed ({signed})"
    return None


def _aware_time(stamp: object) -> datetime | None:
    if not isinstance(stamp, str):
        return None
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def validate_audit_report(report: object, where: str = "the audit report") -> dict[str, Any]:
    """The audit JSON (``openward audit --json``, :class:`openward.audit.interface.
    AuditReport`) checked and reduced to what an attestation records: target, model
    digest, suites (name, version, content hash, samples, successes, rate, interval,
    categories), decoding settings, judge, start and finish times, and the regression
    verdict if any. Worst examples (completions) are left out. Raises
    :class:`AuditReportError` naming the first thing that is wrong."""
    if not isinstance(report, dict):
        raise AuditReportError(f"{where} is not a JSON object")
    target = _need(report, "target", str, where)
    digest = report.get("model_digest")
    if digest is not None:
        if not isinstance(digest, str) or len(digest) != 64 or not set(digest.lower()) <= _HEX64:
            raise AuditReportError(f"{where}.model_digest must be 64 hex digits or null")
        digest = digest.lower()
    suites_in = _need(report, "suites", list, where)
    if not suites_in:
        raise AuditReportError(f"{where}.suites is empty: the audit ran no suite")
    suites: list[dict[str, Any]] = []
    for i, suite in enumerate(suites_in):
        at = f"{where}.suites[{i}]"
        if not isinstance(suite, dict):
            raise AuditReportError(f"{at} is not an object")
        name = _need(suite, "suite", str, at)
        if not name or any(s["suite"] == name for s in suites):
            raise AuditReportError(f"{at}.suite {name!r} is empty or appears twice")
        entry: dict[str, Any] = {"suite": name, "version": str(_need(suite, "version", str, at)),
                                 "sha256": _sha256(suite, at), **_counts(suite, at)}  # fmt: skip
        categories = []
        for j, cat in enumerate(suite.get("categories") or []):
            cat_at = f"{at}.categories[{j}]"
            if not isinstance(cat, dict):
                raise AuditReportError(f"{cat_at} is not an object")
            categories.append({"category": str(_need(cat, "category", str, cat_at)),
                               **_counts(cat, cat_at)})  # fmt: skip
        entry["categories"] = categories
        suites.append(entry)
    decoding = _need(report, "decoding", dict, where)
    for key in ("temperature", "max_tokens", "seed"):
        value = decoding.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise AuditReportError(f"{where}.decoding.{key} is missing or not a number")
    for key, value in decoding.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise AuditReportError(f"{where}.decoding.{key} is {value}: a finite number")
    started, started_t = _stamp(report, "started_at", where)
    finished, finished_t = _stamp(report, "finished_at", where)
    if finished_t < started_t:
        raise AuditReportError(f"{where}.finished_at is before started_at ({finished} < "
                               f"{started})")  # fmt: skip
    judge = _need(report, "judge", dict, where)
    out: dict[str, Any] = {
        "target": target,
        "model_digest": digest,
        "suites": suites,
        "decoding": {
            str(k)[:100]: v[:_MAX_TEXT] if isinstance(v, str) else v
            for k, v in list(decoding.items())[:50]
            if isinstance(v, int | float | str | type(None))
        },
        "judge": {
            "name": _need(judge, "name", str, f"{where}.judge"),
            "version": _need(judge, "version", str, f"{where}.judge"),
            "sha256": _sha256(judge, f"{where}.judge"),
        },
        "started_at": started,
        "finished_at": finished,
    }
    regression = report.get("regression")
    if isinstance(regression, dict) and isinstance(regression.get("verdict"), str):
        p_value = regression.get("p_value")
        if p_value is not None:
            p_value = _rate(p_value, f"{where}.regression.p_value")
        out["regression"] = {"verdict": regression["verdict"][:200], "p_value": p_value}
    return out


def audit_predicate(report: object, auditor_key: str, auditor: str | None = None
                    ) -> dict[str, Any]:  # fmt: skip
    """The audit/v1 predicate (without the signing time) for ``report``: the checked
    report (:func:`validate_audit_report`) and the auditor (key hint, optional name)."""
    return {**validate_audit_report(report),
            "auditor": {"key": auditor_key, "name": auditor}}  # fmt: skip


def attest_audit(
    model: Path,
    key: PrivateKey,
    report: dict[str, Any],
    *,
    auditor: str | None = None,
    manifest: Manifest | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, object]:
    """Sign an audit of ``model``: an in-toto statement (predicate
    :data:`AUDIT_PREDICATE`) whose subject is the model's OMS manifest digest, the digest
    ``openward sign`` signs. ``report`` is the audit JSON; it is checked first
    (:class:`AuditReportError`), and a report made for other bytes (its
    ``model_digest`` differs) is refused. ``auditor``: a name recorded beside the key."""
    if auditor is not None and (not auditor.strip() or len(auditor) > 200):
        raise AuditReportError("the auditor name must be 1 to 200 characters")
    predicate = audit_predicate(report, key_hint(key.public_key()), auditor)
    future = future_finish(predicate)
    if future is not None:
        raise AuditReportError(f"the audit report's {future}")
    manifest = manifest or build_manifest(model, progress=progress)
    if predicate["model_digest"] not in (None, manifest.digest):
        raise AuditReportError(
            f"the audit report was made for other bytes (model digest "
            f"{predicate['model_digest'][:16]}…) than {model} ({manifest.digest[:16]}…)"
        )
    return _sign_statement(model.resolve().name, manifest.digest, AUDIT_PREDICATE, predicate,
                           key)  # fmt: skip


def audit_failures(predicate: dict[str, Any], limits: AuditLimits, label: str) -> list[str]:
    """Why the audit ``predicate`` does not meet ``limits``, one line each (empty: it
    does). ``label`` starts each line (the file or the audit's id)."""
    try:
        audit = validate_audit_report(predicate, "the audit predicate")
    except AuditReportError as exc:
        return [f"{label}: malformed audit ({exc})"]
    suites = {s["suite"]: s for s in audit["suites"]}
    out = []
    for name in limits.suites:
        suite = suites.get(name)
        if suite is None:
            out.append(f"{label}: the audit did not run the {name!r} suite (required; it ran "
                       f"{', '.join(sorted(suites))})")  # fmt: skip
            continue
        if suite["samples"] == 0:
            out.append(f"{label}: {name} ran no samples: its rate proves nothing")
            continue
        if suite["samples"] < limits.min_samples:
            out.append(f"{label}: {name} ran {suite['samples']} samples, at least "
                       f"{limits.min_samples} are required")  # fmt: skip
        limit = limits.max_success_rate.get(name)
        if limit is None:
            continue
        low, high = suite["interval"]
        # The upper bound from the counts: a narrower interval in the report does not count.
        high = max(high, wilson_upper(suite["successes"], suite["samples"]))
        value = high if limits.use_upper_bound else suite["success_rate"]
        if value > limit + _EPS:
            what = "the upper bound of the 95 % interval of the" if limits.use_upper_bound else ""
            out.append(
                f"{label}: {what + ' ' if what else ''}{name} success rate {value:.3f} is above "
                f"the allowed {limit:g} (measured {suite['success_rate']:.3f}, 95 % interval "
                f"{low:.3f}-{high:.3f}, {suite['successes']}/{suite['samples']})"
            )
    return out


def audit_time(predicate: dict[str, Any]) -> datetime | None:
    """When the audit finished (its age is what a policy's ``max_age_days`` limits)."""
    return _aware_time(predicate.get("finished_at"))


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
    if doc.get("_type") not in _STATEMENT_TYPES:
        raise BundleError(
            f"{path}: not an in-toto statement (_type {str(doc.get('_type'))[:80]!r})"
        )
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
    audit: AuditLimits | None = None
    """audit: the suites, sample counts and highest success rates required."""


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
          - type: audit
            keys: [auditor.pub]
            max_age_days: 90
            suites: [over-refusal]
            max_success_rate: {harmful: 0.1, jailbreak: 0.2}
            use_upper_bound: false
            min_samples: 100

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
        limits = None
        if item["type"] == "audit":
            from openward.facts.policy import PolicyError as FactsPolicyError

            try:
                limits = parse_audit_limits(item, f"{path}: {where}",
                                            also=("type", "keys", "max_age_days"))  # fmt: skip
            except FactsPolicyError as exc:
                raise PolicyError(str(exc)) from None
        policy.attestations.append(
            Requirement(
                item["type"],
                keys,
                float(age) if age is not None else None,
                severity,
                bool(item.get("require_compute", False)),
                limits,
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
                who = "an unknown key" if att.signer is None else Path(att.signer).name
                trusted = " or ".join(sorted(Path(k).name for k in allowed))
                problems.append(f"{att.path.name}: signed by {who}, not by {trusted}")
            if att.subject_digest != model_digest:
                problems.append(f"{att.path.name}: made for other bytes (subject digest differs)")
            if problems:  # what it says does not matter: nobody trusted vouched for it
                reasons += problems
                continue
            when = audit_time(att.predicate) if req.kind == "audit" else att.attested_at
            future = future_finish(att.predicate, now) if req.kind == "audit" else None
            if future is not None:
                problems.append(f"{att.path.name}: {future}, so its age is unknown")
            elif req.max_age_days is not None:
                if when is None:
                    problems.append(f"{att.path.name}: no attestation time")
                elif now - when > timedelta(days=req.max_age_days):
                    age = (now - when).days
                    problems.append(f"{att.path.name}: {age} days old, the policy allows "
                                    f"{req.max_age_days:g}")  # fmt: skip
            if req.kind == "scan":
                problems += _scan_failures(att, req)
            if req.kind == "audit":
                problems += audit_failures(att.predicate, req.audit or AuditLimits(),
                                           att.path.name)  # fmt: skip
            if req.kind == "facts" and req.require_compute and not att.predicate.get("compute"):
                problems.append(f"{att.path.name}: no compute estimate in the attested facts")
            if not problems:
                satisfied = True
                break
            reasons += problems
        if not satisfied:
            failures += reasons
    return failures
