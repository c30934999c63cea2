"""Governance routes of the registry API: access tiers and grants, the download log,
registrations, takedowns, advisories (OSV), content checks, key revocation and the
transparency log. Mounted by :func:`openward.registry.app.create_app`."""

# No `from __future__ import annotations`: FastAPI resolves the dependency types
# (DB, Actor) passed in as arguments when the routes are declared.

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from openward.registry import governance as gov
from openward.registry import merkle, tlog
from openward.registry.models import Advisory, Registration
from openward.registry.service import Registry, RegistryError

__all__ = ["add_governance_routes", "signed_head"]

MAX_ENTRIES = 1000
BIG = 1 << 62
Id = Annotated[int, Path(ge=0, le=BIG)]
Count = Annotated[int, Query(ge=0, le=BIG)]


class TierRequest(BaseModel):
    tier: str = Field(max_length=20)
    fields: list[str] | None = Field(default=None, max_length=20)
    watermark: str | None = Field(default=None, max_length=20)
    """``none`` or ``per-recipient`` (gated or restricted); unset: unchanged."""


class AccessRequestBody(BaseModel):
    fields: dict[str, str | bool] = Field(default_factory=dict, max_length=30)


class GrantBody(BaseModel):
    request: int | None = Field(default=None, ge=0, le=BIG)
    user: str | None = Field(default=None, max_length=100)
    organisation: str | None = Field(default=None, max_length=100)
    versions: list[str] | None = Field(default=None, max_length=1000)
    expires: str | None = Field(default=None, max_length=40)
    reason: str = Field(default="", max_length=2000)


class ReasonBody(BaseModel):
    reason: str = Field(default="", max_length=2000)


class RegistrationBody(BaseModel):
    record: dict[str, Any]


class AuditBody(BaseModel):
    bundle: dict[str, Any]
    """The signed audit attestation (a Sigstore bundle with a DSSE envelope)."""


class DecisionBody(BaseModel):
    accept: bool
    reason: str = Field(max_length=2000)


class ReviewBody(BaseModel):
    release: bool
    """True: release the version held for a safety edit; False: quarantine it."""
    reason: str = Field(max_length=2000)


class TakedownBody(BaseModel):
    reason: str = Field(max_length=2000)
    advisory: dict[str, Any] | None = None
    exceptions: list[str] = Field(default_factory=list, max_length=1000)
    """``ORG/NAME:VERSION`` of copies that stay served (an admin's explicit decision)."""
    dry_run: bool = False
    """Answer what the takedown would do, change nothing."""


class ExceptionBody(BaseModel):
    version: str = Field(max_length=400)
    """The copy that stays served: ``ORG/NAME:VERSION``."""
    reason: str = Field(max_length=2000)


class CheckBody(BaseModel):
    digest: str = Field(max_length=64)
    files: dict[str, str] = Field(max_length=100_000)


def signed_head(registry: Registry, s: Any) -> dict[str, Any]:
    """The current tree head, signed by the registry's key."""
    from openward.signing.keys import key_hint

    size, root = tlog.root(s)
    head = {"context": tlog.HEAD_CONTEXT, "origin": registry.settings.log_origin,
            "size": size, "root": tlog.b64(root),
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds")}  # fmt: skip
    signature = registry.sign_bytes(tlog.canonical(head))
    return {**head, "signature": tlog.b64(signature),
            "key": key_hint(registry.signing_key.public_key())}  # fmt: skip


def add_governance_routes(app: FastAPI, registry: Registry, DB: Any, Actor: Any) -> None:
    # -- access ---------------------------------------------------------------
    @app.get("/api/v1/models/{org}/{name}/access")
    def access(org: str, name: str, s: DB, user: Actor) -> dict[str, Any]:
        """The model's access tier, the fields a request must give, and (for its
        publishers) requests and grants; for others their own."""
        return gov.access_overview(registry, s, user, org, name)

    def precompute(grant_ids: list[int]) -> None:
        """The recipient copies of these grants, computed in the API's pool (this
        process holds the mark secret; workers do not)."""
        from openward.registry.marks import precompute as run

        if grant_ids:
            app.state.check_pool.submit(run, registry, grant_ids)

    def sweep_cache() -> None:
        """Originals cached for marked downloads that no grantee can download any more,
        removed in the API's pool (:func:`openward.registry.marks.sweep_marks_cache`)."""
        from openward.registry.marks import sweep_marks_cache

        app.state.check_pool.submit(sweep_marks_cache, registry)

    @app.put("/api/v1/models/{org}/{name}/access")
    def set_access(org: str, name: str, body: TierRequest, s: DB, user: Actor) -> dict[str, Any]:
        model = gov.set_tier(registry, s, user, org, name, body.tier, body.fields,
                             body.watermark)  # fmt: skip
        s.commit()
        doc = gov.access_overview(registry, s, user, org, name)
        if model.watermark == "per-recipient":
            from openward.registry.marks import withheld_notes

            # Weight files no recipient will receive (no mark can be put in them).
            doc["warnings"] = withheld_notes(registry, s, model)
            precompute([g["id"] for g in doc.get("grants") or [] if g["state"] == "active"])
        else:  # marks off: the originals cached for marked downloads may go
            sweep_cache()
        return doc

    @app.post("/api/v1/models/{org}/{name}/access/requests", status_code=201)
    def request_access(
        org: str, name: str, body: AccessRequestBody, s: DB, user: Actor
    ) -> dict[str, Any]:
        row = gov.request_access(registry, s, user, org, name, dict(body.fields))
        s.commit()
        return gov._request_doc(row)

    @app.post("/api/v1/models/{org}/{name}/access/requests/{request_id}/deny")
    def deny(org: str, name: str, request_id: Id, body: ReasonBody, s: DB,
             user: Actor) -> dict[str, Any]:  # fmt: skip
        row = gov.deny_access(registry, s, user, org, name, request_id, body.reason)
        s.commit()
        return gov._request_doc(row)

    @app.post("/api/v1/models/{org}/{name}/access/grants", status_code=201)
    def grant(org: str, name: str, body: GrantBody, s: DB, user: Actor) -> dict[str, Any]:
        row = gov.grant_access(
            registry, s, user, org, name, request_id=body.request, grantee=body.user,
            organisation=body.organisation, versions=body.versions, expires=body.expires,
            reason=body.reason,
        )  # fmt: skip
        s.commit()
        if row.model.watermark == "per-recipient":
            precompute([row.id])
        return gov._grant_doc(row)

    @app.post("/api/v1/models/{org}/{name}/access/grants/{grant_id}/revoke")
    def revoke(org: str, name: str, grant_id: Id, body: ReasonBody, s: DB,
               user: Actor) -> dict[str, Any]:  # fmt: skip
        row = gov.revoke_access(registry, s, user, org, name, grant_id, body.reason)
        s.commit()
        if row.model.watermark == "per-recipient":
            sweep_cache()
        return gov._grant_doc(row)

    @app.get("/api/v1/models/{org}/{name}/downloads")
    def downloads(
        org: str,
        name: str,
        s: DB,
        user: Actor,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> dict[str, Any]:
        """Who downloaded what, when, with which token (publishers and admins)."""
        return {"downloads": gov.download_log(registry, s, user, org, name, min(limit, 10_000))}

    # -- audits -----------------------------------------------------------------
    @app.post("/api/v1/models/{org}/{name}/versions/{version}/audits", status_code=201)
    def attach_audit(org: str, name: str, version: str, body: AuditBody, s: DB,
                     user: Actor) -> dict[str, Any]:  # fmt: skip
        """Attach a signed audit (predicate audit/v1): its signature must verify with a
        registered key and its subject must be this version's digest."""
        from openward.registry import audits

        entry = audits.attach_audit(registry, s, user, org, name, version, body.bundle)
        doc = audits.audit_doc(s, entry)
        doc["version_status"] = entry.version.status
        s.commit()
        return doc

    @app.get("/api/v1/models/{org}/{name}/versions/{version}/audits")
    def list_audits(org: str, name: str, version: str, s: DB, user: Actor) -> dict[str, Any]:
        """The version's audits, each re-verified (``verified``, ``verification``)."""
        from openward.registry import audits

        rows = audits.list_audits(registry, s, user, org, name, version)
        return {"audits": [audits.audit_doc(s, a) for a in rows]}

    @app.get("/api/v1/audits/{audit_id}")
    def get_audit(audit_id: Id, s: DB, user: Actor) -> dict[str, Any]:
        """One audit with its signed bundle, to verify it offline
        (``openward verify --policy … --attestation``)."""
        from openward.registry import audits

        return audits.audit_doc(s, audits.get_audit(registry, s, user, audit_id),
                                with_bundle=True)  # fmt: skip

    # -- registration -----------------------------------------------------------
    @app.post("/api/v1/models/{org}/{name}/versions/{version}/registration", status_code=201)
    def register(org: str, name: str, version: str, body: RegistrationBody, s: DB,
                 user: Actor) -> dict[str, Any]:  # fmt: skip
        row = gov.submit_registration(registry, s, user, org, name, version, body.record)
        s.commit()
        return gov.registration_doc(row)

    @app.get("/api/v1/registrations")
    def registrations(s: DB, user: Actor, status: str | None = None) -> dict[str, Any]:
        rows = gov.list_registrations(s, user, status)
        return {"registrations": [gov.registration_doc(r) for r in rows]}

    @app.get("/api/v1/registrations/{registration_id}")
    def registration(registration_id: Id, s: DB, user: Actor) -> dict[str, Any]:
        gov.list_registrations(s, user, None)  # authorisation
        row = s.get(Registration, registration_id)
        if row is None:
            raise RegistryError(404, f"no registration #{registration_id}")
        doc = gov.registration_doc(row)
        doc["attestation"] = row.attestation
        return doc

    @app.post("/api/v1/registrations/{registration_id}/decision")
    def decide(registration_id: Id, body: DecisionBody, s: DB, user: Actor) -> dict[str, Any]:
        row = gov.decide_registration(registry, s, user, registration_id, body.accept,
                                      body.reason)  # fmt: skip
        s.commit()
        doc = gov.registration_doc(row)
        doc["attestation"] = row.attestation
        return doc

    # -- lineage: reviews of safety edits -------------------------------------------
    @app.get("/api/v1/lineage/reviews")
    def lineage_reviews(s: DB, user: Actor, status: str | None = None) -> dict[str, Any]:
        """Versions held (``needs-review``) because their weights differ from a registered
        base's by a safety edit, with the evidence (reviewers and admins)."""
        from openward.registry import lineage

        rows = lineage.list_reviews(s, user, status)
        return {"reviews": [lineage.review_doc(r) for r in rows]}

    @app.post("/api/v1/lineage/reviews/{review_id}/decision")
    def lineage_decide(review_id: Id, body: ReviewBody, s: DB, user: Actor) -> dict[str, Any]:
        """Release the version (it goes on to the verdict its checks gave otherwise) or
        quarantine it; logged (``lineage-review-released`` / ``-quarantined``)."""
        from openward.registry import lineage

        row = lineage.decide_review(registry, s, user, review_id, body.release, body.reason)
        s.commit()
        return lineage.review_doc(row)

    # -- takedowns, advisories, checks ----------------------------------------------
    @app.post("/api/v1/models/{org}/{name}/versions/{version}/takedown")
    def takedown(org: str, name: str, version: str, body: TakedownBody, s: DB,
                 user: Actor, request: Request) -> dict[str, Any]:  # fmt: skip
        done = gov.take_down(registry, s, user, org, name, version, body.reason,
                             body.advisory, body.exceptions)  # fmt: skip
        row, adv = done.row, done.advisory
        base = str(request.base_url).rstrip("/")
        doc = {"name": f"{org}/{name}", "version": row.version, "digest": row.digest,
               "status": row.status, "reasons": row.reasons,
               "advisory": gov.osv_document(s, adv, base) if adv else None,
               "also_taken_down": [{**_brief(v), "files": paths} for v, paths in done.reached],
               "exceptions": [_brief(v) for v in done.excepted],
               # Earlier versions of other organisations with the same weights: left
               # served (this version copied them); an admin takes them down by name.
               "earlier_elsewhere": [{**_brief(v), "files": paths}
                                     for v, paths in done.elsewhere],
               # Versions found derived from it (not the same bytes): left served.
               "derivatives": [_brief(v) for v in done.derivatives],
               "dry_run": body.dry_run}  # fmt: skip
        if body.dry_run:
            s.rollback()
            return doc
        s.commit()
        for vid in done.recheck:
            request.app.state.enqueue(vid)
        return doc

    def _brief(v: Any) -> dict[str, Any]:
        return {"name": f"{v.model.organisation.name}/{v.model.name}", "version": v.version,
                "digest": v.digest}  # fmt: skip

    @app.post("/api/v1/models/{org}/{name}/versions/{version}/takedown/exceptions")
    def takedown_exception(org: str, name: str, version: str, body: ExceptionBody, s: DB,
                           user: Actor, request: Request) -> dict[str, Any]:  # fmt: skip
        """An admin's exception: the copy stays served although it carries the weights
        of this taken-down version (restored if the takedown had reached it)."""
        copy, recheck = gov.except_copy(registry, s, user, org, name, version, body.version,
                                        body.reason)  # fmt: skip
        doc = {**_brief(copy), "status": copy.status, "reasons": copy.reasons,
               "of": f"{org}/{name}:{version}"}  # fmt: skip
        s.commit()
        if recheck:
            request.app.state.enqueue(copy.id)
        return doc

    @app.get("/api/v1/advisories")
    def advisories(s: DB, request: Request) -> dict[str, Any]:
        """Every advisory in the OSV schema."""
        base = str(request.base_url).rstrip("/")
        rows = s.scalars(select(Advisory).order_by(Advisory.id))
        return {"advisories": [gov.osv_document(s, a, base) for a in rows]}

    @app.get("/api/v1/advisories/export")
    def advisories_export(s: DB, request: Request, user: Actor) -> dict[str, Any]:
        """Advisories plus the digests of every flagged version, for offline checks
        (``openward check --advisories FILE``) and mirrors. Weight fingerprints of gated
        or restricted models only for an admin or a caller with access to them."""
        doc = gov.export(registry, s, str(request.base_url).rstrip("/"), user,
                         everything=False)  # fmt: skip
        s.commit()  # keeps what it classified of versions checked before revision 0005
        return doc

    @app.get("/api/v1/advisories/{advisory_id}")
    def advisory(advisory_id: str, s: DB, request: Request) -> dict[str, Any]:
        row = s.get(Advisory, advisory_id)
        if row is None:
            raise RegistryError(404, f"no advisory {advisory_id}")
        return gov.osv_document(s, row, str(request.base_url).rstrip("/"))

    @app.post("/api/v1/check")
    def check(body: CheckBody, s: DB, user: Actor) -> dict[str, Any]:
        """Is this exact content (manifest digest, per-file digests) taken down,
        quarantined or under an advisory? A recipient's marked copy is matched as the
        version it was cut from (``recipient_copy``: the grant only for the model's
        publishers and admins)."""
        flagged = gov.check_submitted(registry, s, body.digest, body.files, user)
        doc: dict[str, Any] = {"digest": body.digest, "flagged": flagged}
        copy = gov.recipient_copy_of(registry, s, user, body.files)
        if copy is not None:
            doc["recipient_copy"] = copy
        s.commit()  # keeps what it classified of versions checked before revision 0005
        return doc

    # -- keys -----------------------------------------------------------------------
    @app.post("/api/v1/keys/{hint}/revoke")
    def revoke_key(hint: str, body: ReasonBody, s: DB, user: Actor) -> dict[str, Any]:
        key = registry.revoke_key(s, user, hint, body.reason)
        s.commit()
        return {"hint": key.hint, "revoked_at": gov._iso(key.revoked_at)}

    class RevokeTokensBody(BaseModel):
        user: str | None = Field(default=None, max_length=100)

    @app.post("/api/v1/tokens/revoke")
    def revoke_tokens(body: RevokeTokensBody, s: DB, user: Actor,
                      request: Request) -> dict[str, Any]:  # fmt: skip
        """Revoke every token of a user (admins), or, without a user, the caller's own."""
        from openward.registry.app import bearer_token

        name, count = registry.revoke_tokens(s, user, body.user, bearer_token(request))
        s.commit()
        return {"user": name, "revoked": count}

    # -- transparency log ---------------------------------------------------------------
    @app.get("/api/v1/log/head")
    def log_head(s: DB) -> dict[str, Any]:
        """The signed tree head: canonical JSON of {context, origin, size, root,
        timestamp} signed with the registry key (``/api/v1/registry/key``)."""
        return signed_head(registry, s)

    @app.get("/api/v1/log/consistency")
    def log_consistency(old: Count, new: Count, s: DB) -> dict[str, Any]:
        current = tlog.size(s)
        if not 0 <= old <= new <= current:
            raise RegistryError(422, f"need 0 <= old <= new <= {current} (the log's size)")
        proof = tlog.consistency(s, old, new)
        return {"old": old, "new": new, "proof": [tlog.b64(h) for h in proof]}

    @app.get("/api/v1/log/inclusion")
    def log_inclusion(index: Count, size: Count, s: DB) -> dict[str, Any]:
        current = tlog.size(s)
        if not 0 <= index < size <= current:
            raise RegistryError(422, f"need 0 <= index < size <= {current} (the log's size)")
        proof = tlog.inclusion(s, index, size)
        return {"index": index, "size": size, "proof": [tlog.b64(h) for h in proof]}

    @app.get("/api/v1/log/entries")
    def log_entries(start: Count, end: Count, s: DB) -> dict[str, Any]:
        """Entries at positions [start, end), at most 1000 per call; each body is the
        exact text its leaf hash covers."""
        if start < 0 or end < start:
            raise RegistryError(422, "need 0 <= start <= end")
        end = min(end, start + MAX_ENTRIES)
        rows = tlog.entries(s, start, end)
        return {"start": start, "entries": [
            {"body": e.body, "leaf": tlog.b64(merkle.leaf_hash(e.body.encode()))} for e in rows
        ]}  # fmt: skip
