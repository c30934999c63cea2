"""Signed safety audits attached to model versions.

Anyone with a registered signing key attaches an audit attestation
(``openward audit --sign`` or ``openward attest audit``: predicate
``https://openward.dev/attestation/audit/v1``) to a version. Before accepting it the
registry checks that a registered, unrevoked key signed the DSSE envelope, that the
statement is an audit whose subject is the version's manifest digest, and that the
predicate has the audit's shape; every refusal is a 4xx that says which. An accepted
audit is stored with its bundle (anyone re-verifies it), logged in the transparency
log (``audit-attached``), listed on the model page and in the API, may be referenced by
a registration's ``safety_evaluations``, and can be what a compute threshold's
``registry.requires_audit`` demands before a version is published (status
``needs-audit`` until then).

The auditor is the user who registered the key; the signer vouches for the numbers, the
registry only for who signed them and for which bytes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from openward.registry import tlog
from openward.registry.models import Audit, PublisherKey, User, Version
from openward.registry.service import VISIBLE, RegistryError, _aware

if TYPE_CHECKING:
    from openward.facts.policy import AuditLimits
    from openward.registry.service import Registry

__all__ = [
    "NEEDS_AUDIT",
    "attach_audit",
    "audit_doc",
    "audit_hold",
    "get_audit",
    "list_audits",
    "referenced_audits",
    "verification",
]

NEEDS_AUDIT: Final = "needs-audit"
_HELD: Final = ("needs-registration", NEEDS_AUDIT, "needs-review")
_REF: Final = re.compile(r"^(?:#?(\d{1,11})|(?:sha256:)?([0-9a-f]{12,64}))$")


def _ref(row: Version) -> str:
    return f"{row.model.organisation.name}/{row.model.name}:{row.version}"


def _statement(bundle_json: str) -> tuple[Any, bytes]:
    """(parsed bundle, payload) of a bundle, or a 422 saying what is malformed."""
    from openward.signing.bundle import BundleError, parse_bundle

    try:
        parsed = parse_bundle(bundle_json.encode())
    except BundleError as exc:
        raise RegistryError(422, f"malformed audit attestation: {exc}") from None
    return parsed, parsed.payload


def attach_audit(
    reg: Registry,
    s: Session,
    user: User | None,
    org: str,
    name: str,
    version: str,
    bundle: dict[str, Any],
) -> Audit:
    """Check and store a signed audit of ``ORG/NAME:VERSION``; publish the version if it
    was held only for want of such an audit (:func:`audit_hold`)."""
    from openward.registry.accounts import SCOPES, scope_of
    from openward.signing.attest import (
        AUDIT_PREDICATE,
        AuditReportError,
        future_finish,
        validate_audit_report,
    )

    if user is None:
        raise RegistryError(401, "attaching an audit needs a token (--token or OPENWARD_TOKEN)")
    scope = scope_of(user)
    if scope is not None and SCOPES.index(scope) < SCOPES.index("publisher"):
        raise RegistryError(
            403,
            f"this token's scope is {scope}: attaching an audit needs a "
            "publisher token (the scope that may use a signing key)",
        )
    own = s.scalars(
        select(PublisherKey.id).where(
            PublisherKey.user_id == user.id, PublisherKey.revoked_at.is_(None)
        )
    ).all()
    if not own and not user.is_admin:
        raise RegistryError(
            403,
            f"{user.name} has no registered signing key: register one "
            "first (openward registry key add KEY.pem)",
        )
    row = reg.find_version(s, user, org, name, version)
    if row.status not in (VISIBLE, *_HELD):
        raise RegistryError(
            409,
            f"{_ref(row)} is {row.status}: audits attach to published "
            "versions and to versions held for registration, an audit or a review",
        )
    try:
        text = json.dumps(bundle, allow_nan=False)
    except ValueError:
        raise RegistryError(
            422, "malformed audit attestation: NaN or Infinity in it (JSON numbers are finite)"
        ) from None
    except RecursionError:
        raise RegistryError(422, "malformed audit attestation: nested too deeply") from None
    parsed, payload = _statement(text)
    if parsed.certificate is not None:
        raise RegistryError(
            422,
            "the audit is signed with a certificate: the registry accepts "
            "audits signed with a registered key (openward registry key add)",
        )
    hint = parsed.key_hint
    candidates = s.scalars(
        select(PublisherKey).where(
            PublisherKey.revoked_at.is_(None),
            *([PublisherKey.hint == hint] if hint else [PublisherKey.user_id == user.id]),
        )
    ).all()
    if not candidates:
        who = f"key {hint[:16]}" if hint else "a key without a hint"
        raise RegistryError(
            403,
            f"the audit is signed by {who}, which is not a registered key "
            "(or was revoked): the auditor registers it with openward registry "
            "key add",
        )

    from openward.signing.bundle import STATEMENT_TYPE, pae

    signed = pae(parsed.payload_type, payload)
    key = next((k for k in candidates if _verifies(k.pem, parsed.signature, signed)), None)
    if key is None:
        raise RegistryError(
            422,
            "the audit's signature does not verify with the registered key "
            f"{(hint or '')[:16]}: the attestation was altered or made with "
            "another key",
        )
    try:
        doc = json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise RegistryError(422, "malformed audit attestation: the payload is not JSON") from None
    if not isinstance(doc, dict):
        raise RegistryError(422, "malformed audit attestation: the statement is not an object")
    if doc.get("_type") not in (STATEMENT_TYPE, "https://in-toto.io/Statement/v0.1"):
        raise RegistryError(
            422,
            f"malformed audit attestation: _type {str(doc.get('_type'))[:80]!r} is not an "
            "in-toto statement",
        )
    ptype = doc.get("predicateType")
    if ptype != AUDIT_PREDICATE:
        raise RegistryError(
            422, f"predicate type {str(ptype)[:100]!r} is not an audit ({AUDIT_PREDICATE})"
        )
    subjects = doc.get("subject")
    digest = None
    if isinstance(subjects, list) and len(subjects) == 1 and isinstance(subjects[0], dict):
        found = subjects[0].get("digest")
        digest = found.get("sha256") if isinstance(found, dict) else None
    if not isinstance(digest, str):
        raise RegistryError(422, "malformed audit attestation: no single sha256 subject")
    if digest.lower() != row.digest:
        raise RegistryError(
            422,
            f"the audit is about other bytes (subject {digest[:16]}…), not "
            f"{_ref(row)} (digest {row.digest[:16]}…)",
        )
    predicate = doc.get("predicate")
    try:
        checked = validate_audit_report(predicate, "the audit predicate")
    except AuditReportError as exc:
        raise RegistryError(422, f"malformed audit: {exc}") from None
    assert isinstance(predicate, dict)
    future = future_finish(predicate)
    if future is not None:
        raise RegistryError(422, f"malformed audit: its {future}")
    auditor = predicate.get("auditor") if isinstance(predicate.get("auditor"), dict) else {}
    name_given = auditor.get("name") if isinstance(auditor, dict) else None
    checked["auditor"] = {
        "key": key.hint,
        "name": str(name_given)[:200] if isinstance(name_given, str) else None,
    }
    checked["attested_at"] = str(predicate.get("attested_at") or "")[:40] or None
    statement_sha = hashlib.sha256(payload).hexdigest()
    existing = s.scalar(
        select(Audit).where(Audit.version_id == row.id, Audit.statement_sha256 == statement_sha)
    )
    if existing is not None:
        raise RegistryError(409, f"this audit is attached to {_ref(row)} already (#{existing.id})")
    entry = Audit(
        version_id=row.id,
        statement_sha256=statement_sha,
        key_id=key.id,
        submitted_by=user.id,
        bundle=text,
        predicate=checked,
    )
    from sqlalchemy.exc import IntegrityError

    try:
        with s.begin_nested():  # two concurrent attaches of one statement: the loser gets 409
            s.add(entry)
            s.flush()
    except IntegrityError:
        raise RegistryError(409, f"this audit is attached to {_ref(row)} already") from None
    tlog.append(
        s,
        "audit-attached",
        {
            "model": _ref(row),
            "version": row.version,
            "digest": row.digest,
            "audit": entry.id,
            "statement": statement_sha,
            "key": key.hint,
            "auditor": key.user.name,
            "by": user.name,
            "rates": {x["suite"]: round(x["success_rate"], 4) for x in checked["suites"]},
        },
    )
    if row.status == NEEDS_AUDIT:
        missing = audit_hold(reg, s, row)
        if missing:
            row.reasons = missing[:100]  # why this audit is not enough
        else:
            reg._set_status(s, row, VISIBLE, [])
    return entry


def _verifies(pem: str, signature: bytes, signed: bytes) -> bool:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from openward.signing.keys import verify_bytes

    public = load_pem_public_key(pem.encode())
    if not isinstance(public, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        return False
    return verify_bytes(public, signature, signed)


def verification(s: Session, entry: Audit) -> tuple[bool, str]:
    """Whether the stored audit verifies now, and how: its signature against the key that
    verified it on arrival (a row edited behind the registry's back fails here), that key
    still registered (or revoked only after the audit was attached), and its subject."""

    from openward.signing.bundle import BundleError, pae, parse_bundle

    key = entry.key
    try:
        parsed = parse_bundle(entry.bundle.encode())
        ok = _verifies(key.pem, parsed.signature, pae(parsed.payload_type, parsed.payload))
        doc = json.loads(parsed.payload)
        subject = doc["subject"][0]["digest"]["sha256"].lower()
    except (BundleError, ValueError, KeyError, IndexError, TypeError, AttributeError):
        return False, "the stored attestation is unreadable"
    if not ok or hashlib.sha256(parsed.payload).hexdigest() != entry.statement_sha256:
        return False, "the signature does not verify with the registered key"
    if subject != entry.version.digest:
        return False, "the attestation is about other bytes than this version"
    if key.revoked_at is not None and _aware(key.revoked_at) <= _aware(entry.created_at):
        return False, f"key {key.hint[:16]} was revoked before the audit was attached"
    text = f"verified: signed by key {key.hint[:16]} of {key.user.name}"
    if key.revoked_at is not None:
        text += f" (key revoked {_aware(key.revoked_at).date()}, after this audit)"
    return True, text


def audit_doc(s: Session, entry: Audit, *, with_bundle: bool = False) -> dict[str, Any]:
    """The audit as the API and pages show it (verification recomputed on every read)."""
    ok, how = verification(s, entry)
    pred: dict[str, Any] = dict(entry.predicate)
    submitter = s.get(User, entry.submitted_by)
    doc: dict[str, Any] = {
        "id": entry.id,
        "digest": entry.statement_sha256,
        "model": _ref(entry.version),
        "version_digest": entry.version.digest,
        "verified": ok,
        "verification": how,
        "auditor": {
            "user": entry.key.user.name,
            "key": entry.key.hint,
            "name": (pred.get("auditor") or {}).get("name"),
        },
        "submitted_by": submitter.name if submitter else None,
        "attached_at": _aware(entry.created_at).isoformat(timespec="seconds"),
        "suites": [
            {
                k: x.get(k)
                for k in (
                    "suite",
                    "version",
                    "sha256",
                    "samples",
                    "successes",
                    "success_rate",
                    "interval",
                    "categories",
                )
            }
            for x in pred.get("suites") or []
        ],
        "judge": pred.get("judge"),
        "decoding": pred.get("decoding"),
        "started_at": pred.get("started_at"),
        "finished_at": pred.get("finished_at"),
        "regression": pred.get("regression"),
    }
    if with_bundle:
        doc["bundle"] = json.loads(entry.bundle)
        doc["auditor"]["public_key"] = entry.key.pem
    return doc


def list_audits(
    reg: Registry, s: Session, user: User | None, org: str, name: str, version: str
) -> list[Audit]:
    """The audits of a version the caller may see, oldest first."""
    row = reg.find_version(s, user, org, name, version)
    return list(s.scalars(select(Audit).where(Audit.version_id == row.id).order_by(Audit.id)))


def get_audit(reg: Registry, s: Session, user: User | None, audit_id: int) -> Audit:
    entry = s.get(Audit, audit_id)
    if entry is None or not reg.may_see(s, user, entry.version):
        raise RegistryError(404, f"no audit #{audit_id}")
    return entry


def _limits(value: Any, tier: str) -> AuditLimits | None:
    from openward.facts.policy import PolicyError, parse_audit_limits

    if not isinstance(value, dict):
        return None
    try:
        return parse_audit_limits(
            value, f"threshold {tier}: registry.requires_audit", also=("independent",)
        )
    except PolicyError:
        return None


def _not_independent(reg: Registry, s: Session, entry: Audit, orgs: list[str]) -> str | None:
    """Why the audit's signer is not independent of the organisations ``orgs`` (the
    version's, and for weights first published elsewhere, theirs): they publish for one,
    or are a member of one in any role; None when they are independent."""
    from openward.registry.accounts import unscoped

    signer = entry.key.user
    for org in orgs:
        if reg.can_publish(s, unscoped(signer), org):
            return f"publishes for {org!r}"
        if any(m.organisation.name == org for m in signer.memberships):
            return f"is a member of {org!r}"
    return None


@functools.cache
def _any_audit_duty(policy: str | None) -> bool:
    """Whether the registry's compute policy requires an audit above any threshold."""
    from openward.facts.policy import load_policy

    return any(t.requires_audit is not None for t in load_policy(policy).thresholds)


def audit_hold(
    reg: Registry, s: Session, row: Version, facts: dict[str, Any] | None = None
) -> list[str]:
    """Why ``row`` may not be published yet for want of an audit: for each crossed
    threshold with ``registry.requires_audit``, the reason no verified audit attached to
    it meets the limits (empty: none is required, or each is met)."""
    from openward.signing.attest import audit_failures

    doc: dict[str, Any] = (
        facts if facts is not None else (row.facts if isinstance(row.facts, dict) else {})
    )
    tiers = doc.get("tiers")
    own = row.model.organisation.name
    required = []
    for t in tiers if isinstance(tiers, list) else []:
        if isinstance(t, dict) and t.get("crossed") and t.get("requires_audit"):
            required.append((str(t.get("id")), t["requires_audit"], [own]))
    # Weights keep the duty of the version that published them first: a copy under
    # another name (with a card that leaves out the token count) needs the audit too.
    # Its auditor must be independent of the origin's organisation too (or the origin's
    # publisher would audit its own weights, pushed again by an account elsewhere).
    # (Not looked up under a policy that requires no audit: one query less per check.)
    policy = str(reg.settings.policy) if reg.settings.policy is not None else None
    digests = {f.sha256 for f in row.files} if _any_audit_duty(policy) else set()
    origins = reg.origins(s, row, digests) if digests else {}
    for origin in {v.id: v for v in origins.values()}.values():
        if origin.model_id == row.model_id:
            continue
        theirs = origin.facts.get("tiers") if isinstance(origin.facts, dict) else None
        for t in theirs if isinstance(theirs, list) else []:
            if isinstance(t, dict) and t.get("crossed") and t.get("requires_audit"):
                required.append((
                    f"{t.get('id')} (its weights are {_ref(origin)}'s)", t["requires_audit"],
                    [own, origin.model.organisation.name],
                ))  # fmt: skip
    if not required:
        return []
    audits = list(s.scalars(select(Audit).where(Audit.version_id == row.id).order_by(Audit.id)))
    checked = [(a, verification(s, a)[0]) for a in audits]
    reasons = []
    for tier, raw, orgs in required:
        limits = _limits(raw, tier)
        if limits is None:
            reasons.append(
                f"{tier} requires an audit, but its limits are unreadable: an admin "
                "fixes the policy"
            )
            continue
        independent = limits.independent
        wanted = ", ".join(f"{k} at most {v:g}" for k, v in limits.max_success_rate.items())
        why: list[str] = []
        for entry, ok in checked:
            if not ok:
                why.append(f"audit #{entry.id} does not verify")
                continue
            insider = _not_independent(reg, s, entry, orgs) if independent else None
            if insider is not None:
                why.append(
                    f"audit #{entry.id} is by {entry.key.user.name}, who {insider} (an "
                    "independent auditor is required)"
                )
                continue
            failures = audit_failures(dict(entry.predicate), limits, f"audit #{entry.id}")
            if not failures:
                break
            why.extend(failures)
        else:
            head = (
                f"crosses {tier}: publication needs a verified "
                f"{'independent ' if independent else ''}audit"
                f"{' (' + wanted + ')' if wanted else ''}"
            )
            detail = (
                "; ".join(why[:3])
                if why
                else (
                    "none attached: attach one with openward "
                    f"registry attest {_ref(row)} AUDIT.json"
                )
            )
            reasons.append(f"{head}; {detail}")
    return reasons


def referenced_audits(
    s: Session, row: Version, record: dict[str, Any], *, strict: bool = False
) -> list[dict[str, Any]]:
    """The audits a registration's ``safety_evaluations`` reference — ``{audit: ID}`` or
    ``{audit: DIGEST}`` (12+ hex digits of the audit's statement SHA-256), or the string
    ``audit:ID`` / ``audit:DIGEST`` — each with whether it verifies now. ``strict``
    (on submission): a reference to no audit of this version is a 422."""
    out = []
    items = record.get("safety_evaluations")
    for i, item in enumerate(items if isinstance(items, list) else []):
        ref: object = None
        if isinstance(item, dict) and "audit" in item:
            ref = item["audit"]
        elif isinstance(item, str) and item.lower().startswith("audit:"):
            ref = item[6:].strip()
        if ref is None:
            continue
        text = str(ref).strip().lower()
        match = _REF.match(text) if not isinstance(ref, bool) else None
        entry = None
        if match and match.group(1):
            entry = s.get(Audit, int(match.group(1)))
        elif match:
            entry = s.scalar(
                select(Audit)
                .where(
                    Audit.version_id == row.id, Audit.statement_sha256.startswith(match.group(2))
                )
                .limit(1)
            )
        if entry is None or entry.version_id != row.id:
            if strict:
                raise RegistryError(
                    422,
                    f"safety_evaluations[{i}]: no audit {text!r} is attached "
                    f"to {_ref(row)} (attach it first with openward registry "
                    "attest)",
                )
            out.append(
                {
                    "reference": text,
                    "found": False,
                    "verified": False,
                    "verification": "no such audit of this version",
                }
            )
            continue
        doc = audit_doc(s, entry)
        out.append({"reference": text, "found": True, **doc})
    return out
