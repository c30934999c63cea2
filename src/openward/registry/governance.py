"""Registry governance: access tiers and grants, the download log, registration of
models above the compute threshold, takedowns and advisories, and the check of a
copy already on disk. Every decision is appended to the transparency log in the
transaction that makes it.

Who may do what (the authorization matrix; tests walk it):

=====================  ======  ========  ======================  ========  ======
action                 anon    reader    publisher (own org)     reviewer  admin
=====================  ======  ========  ======================  ========  ======
see published/taken    yes     yes       yes                     yes       yes
download open          yes     yes       yes                     yes       yes
download gated         no      grant     yes                     grant     yes
download restricted    no      org grant yes                     org grant yes
set access tier        no      no        yes (>= policy minimum, no        yes
                                         >= a tier an admin set)
request access         no      yes       yes                     yes       yes
approve/deny gated     no      no        yes (1)                 no        yes
grant restricted       no      no        no                      no        yes
revoke a grant         no      no        yes (gated)             no        yes
see download log       no      no        yes                     no        yes
submit registration    no      no        yes                     no        yes
decide registration    no      no        no                      yes       yes
decide lineage review  no      no        no                      yes       yes
take down, advisories  no      no        no                      no        yes
except from takedown   no      no        no                      no        yes
=====================  ======  ========  ======================  ========  ======

(1) Not grants on a model whose tier comes from another model's gated weights that
its versions carry, or were found derived from (:func:`inherited_tier`): only an admin
grants those, and only an admin sets a tier inherited through lineage lower.

A takedown reaches every version carrying a file that identifies the version taken
down (``check.identifies_model``), unless an admin excepted it; a version carrying
the weights of an earlier gated, restricted or held version inherits at least that
tier or hold.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from openward.registry import lineage, tlog
from openward.registry.check import check_content
from openward.registry.models import (
    AccessRequest,
    Advisory,
    Download,
    Grant,
    LineageLink,
    Model,
    Organisation,
    Registration,
    StatusEvent,
    Tag,
    TakedownExemption,
    Token,
    User,
    Version,
    VersionFile,
)
from openward.registry.service import (
    FINAL,
    HELD,
    TAKEN_DOWN,
    VISIBLE,
    RegistryError,
    _aware,
    hash_token,
)

_log = logging.getLogger("openward.registry")

if TYPE_CHECKING:
    from openward.registry.service import Registry

__all__ = [
    "ACCESS_TIERS",
    "DEFAULT_FIELDS",
    "REGISTRATION_FIELDS",
    "check_content",
    "decide_registration",
    "except_copy",
    "grant_access",
    "may_download",
    "osv_document",
    "request_access",
    "set_tier",
    "submit_registration",
    "take_down",
]

ACCESS_TIERS: Final = ("open", "gated", "restricted")
DEFAULT_FIELDS: Final = ("organisation", "intended_use", "accept_license")
REGISTRATION_FIELDS: Final = {
    "developer": "who trained the model (name and organisation, legal entity)",
    "training_compute": "declared training compute: {flop: number, method: text}",
    "training_data": "a summary of the training data",
    "intended_use": "what the model is for",
    "safety_evaluations": "the evaluations run (attestations, reports), a list",
    "incident_contact": "where to report incidents (e-mail or URL)",
}
SEVERITIES: Final = ("low", "medium", "high", "critical")


def _now() -> datetime:
    return datetime.now(UTC)


def _ref(row: Version) -> str:
    return f"{row.model.organisation.name}/{row.model.name}:{row.version}"


def _model(s: Session, org: str, name: str) -> Model:
    model = s.scalar(
        select(Model).join(Organisation).where(Organisation.name == org, Model.name == name)
    )
    if model is None:
        raise RegistryError(404, f"model {org}/{name} does not exist")
    return model


def visible_versions(reg: Registry, s: Session, user: User | None, model: Model) -> list[Version]:
    """The model's versions the caller may see, newest first."""
    rows = s.scalars(
        select(Version).where(Version.model_id == model.id).order_by(Version.id.desc())
    ).all()
    return [v for v in rows if reg.may_see(s, user, v)]


def visible_model(reg: Registry, s: Session, user: User | None, org: str,
                  name: str) -> tuple[Model, list[Version]]:  # fmt: skip
    """The model and the versions the caller may see; the same 404 as a model that
    does not exist when there are none (held models stay unlisted)."""
    model = s.scalar(
        select(Model).join(Organisation).where(Organisation.name == org, Model.name == name)
    )
    versions = visible_versions(reg, s, user, model) if model is not None else []
    if model is None or not versions:
        raise RegistryError(404, f"model {org}/{name} does not exist or is not visible")
    return model, versions


def _visible_model(reg: Registry, s: Session, user: User | None, org: str, name: str) -> Model:
    return visible_model(reg, s, user, org, name)[0]


def _need(user: User | None, what: str) -> User:
    if user is None:
        raise RegistryError(401, f"{what} needs a token (--token or OPENWARD_TOKEN)")
    return user


def _owner(reg: Registry, s: Session, user: User | None, model: Model, what: str) -> User:
    user = _need(user, what)
    if not reg.can_publish(s, user, model.organisation.name):
        raise RegistryError(
            403, f"only a publisher of {model.organisation.name!r} or an admin may {what}"
        )
    return user


def _model_name(model: Model) -> str:
    return f"{model.organisation.name}/{model.name}"


# -- access tiers --------------------------------------------------------------
def minimum_tier(s: Session, model: Model, reg: Registry | None = None, *,
                 lineage: bool = True) -> tuple[str, str]:  # fmt: skip
    """The least open tier the policy allows for the model, and why: the strictest
    ``minimum_access`` over its versions' crossed thresholds, and (given the registry)
    the tier of every model whose weights a later version of this one carries or (with
    ``lineage``) that a version of this one was found derived from."""
    level, why = 0, "no compute threshold crossed"
    for row in s.scalars(select(Version).where(Version.model_id == model.id)
                         .options(undefer(Version.facts))):  # fmt: skip
        facts: dict[str, Any] = row.facts if isinstance(row.facts, dict) else {}
        tier = str(facts.get("minimum_access") or "open")
        if tier in ACCESS_TIERS and ACCESS_TIERS.index(tier) > level:
            crossed = [t.get("id") for t in facts.get("tiers") or [] if t.get("crossed")]
            level = ACCESS_TIERS.index(tier)
            why = f"version {row.version} crosses {', '.join(map(str, crossed)) or 'a threshold'}"
    inherited = inherited_tier(reg, s, model, lineage=lineage) if reg is not None else None
    if inherited is not None and ACCESS_TIERS.index(inherited[0]) > level:
        return inherited
    return ACCESS_TIERS[level], why


def _first_carriers(s: Session, model: Model, statuses: list[str] | None = None,
                    ) -> dict[str, tuple[int, str]]:  # fmt: skip
    """sha256 -> (id, version name) of the model's earliest version listing it."""
    query = select(VersionFile.sha256, Version.id, Version.version).join(Version).where(
        Version.model_id == model.id, Version.status != "uploading"
    )  # fmt: skip
    if statuses is not None:
        query = query.where(Version.status.in_(statuses))
    first: dict[str, tuple[int, str]] = {}
    for digest, vid, name in s.execute(query.order_by(Version.id.desc())):
        first[digest] = (vid, name)
    return first


def inherited_tier(reg: Registry, s: Session, model: Model, *,
                   lineage: bool = True) -> tuple[str, str] | None:  # fmt: skip
    """The strictest tier of the models that first published (or held) weights a later
    version of ``model`` carries, and why (None: it carries none whose first publisher
    is gated or restricted). Another name does not open gated weights, and its grants
    are not theirs: only the tier is inherited, never the original's grants. Weights
    take the tier of the version that published them first: a later copy that someone
    gated (anyone may copy an open model) does not gate the original or other copies.

    With ``lineage``, also the tier of every model an earlier version of which a version
    of ``model`` was found identical to or derived from (:mod:`openward.registry.lineage`:
    direct links an admin has not waived, see :func:`set_tier`)."""
    first = _first_carriers(s, model)
    origins: dict[str, Version] = {}
    for other, shared in reg.holders(s, set(first), [VISIBLE, *HELD], -1):
        for digest in shared:
            origins.setdefault(digest, other)  # oldest first: the first publisher
    level, why = 0, ""
    for digest, other in sorted(origins.items(), key=lambda item: item[1].id):
        if other.model_id == model.id or other.model.access_tier not in ACCESS_TIERS:
            continue
        if first[digest][0] < other.id:
            continue  # this model carried them first
        tier = other.model.access_tier
        if ACCESS_TIERS.index(tier) > level:
            level = ACCESS_TIERS.index(tier)
            why = (f"version {first[digest][1]} carries the weights of "
                   f"{_model_name(other.model)} ({tier})")  # fmt: skip
    if lineage:
        for link, version, base in _lineage_links(s, model):
            tier = base.model.access_tier
            if tier in ACCESS_TIERS and ACCESS_TIERS.index(tier) > level:
                level = ACCESS_TIERS.index(tier)
                why = (f"version {version.version} is {link.verdict} from "
                       f"{_model_name(base.model)} ({tier}; lineage score "
                       f"{link.score:.2f})")  # fmt: skip
    return (ACCESS_TIERS[level], why) if level else None


def _lineage_links(s: Session, model: Model, *, waived: bool = False,
                   ) -> list[tuple[LineageLink, Version, Version]]:  # fmt: skip
    """(link, version, base) of the direct lineage links of ``model``'s versions to checked
    versions of other models, served or not (``waived``: also those an admin waived): a
    takedown or a quarantine of a gated base never opens its derivatives."""
    from sqlalchemy.orm import aliased

    base = aliased(Version)
    query = (
        select(LineageLink, Version, base)
        .join(Version, LineageLink.version_id == Version.id)
        .join(base, LineageLink.base_version_id == base.id)
        .where(Version.model_id == model.id, Version.status != "uploading",
               base.model_id != model.id,
               base.status.in_([VISIBLE, *HELD, TAKEN_DOWN, "quarantined"]),
               LineageLink.closer_to_id.is_(None),
               LineageLink.verdict.in_(["identical", "derived"]))
        .order_by(LineageLink.id)
    )  # fmt: skip
    if not waived:
        query = query.where(LineageLink.tier_waived_by.is_(None))
    return [(link, v, b) for link, v, b in s.execute(query).all()]


def _raise_copies(reg: Registry, s: Session, model: Model) -> None:
    """After ``model`` became less open: raise the models whose later versions carry its
    weights to their new minimum (each logs its own ``access-tier`` entry)."""
    s.flush()
    live = [VISIBLE, *HELD]
    first = _first_carriers(s, model, live)
    weights: set[str] = set()
    query = select(Version).where(Version.model_id == model.id, Version.status.in_(live))
    for row in s.scalars(query):
        weights |= set(reg.identifying(row))
    statuses = [VISIBLE, *HELD, "quarantined", "checking", TAKEN_DOWN]
    done: set[int] = {model.id}
    for copy, shared in reg.holders(s, weights, statuses, -1):
        if copy.model_id in done or not any(copy.id > first[d][0] for d in shared if d in first):
            continue
        done.add(copy.model_id)
        enforce_minimum_tier(s, copy.model, reg)
    # ... and the models found derived from it (lineage links to its live versions).
    from sqlalchemy.orm import aliased

    base = aliased(Version)
    derived = s.scalars(
        select(Version.model_id).join(LineageLink, LineageLink.version_id == Version.id)
        .join(base, LineageLink.base_version_id == base.id)
        .where(base.model_id == model.id, LineageLink.closer_to_id.is_(None))
        .distinct()
    ).all()  # fmt: skip
    for other_id in sorted(derived):
        other = s.get(Model, other_id)
        if other is not None and other.id not in done:
            done.add(other.id)
            enforce_minimum_tier(s, other, reg)


def enforce_minimum_tier(s: Session, model: Model, reg: Registry | None = None) -> None:
    """Raise the model's tier to the policy's minimum when a version crosses a
    threshold that demands it, or carries the weights of a model with a stricter tier
    (the publisher may tighten it further, never loosen)."""
    s.flush()
    least, why = minimum_tier(s, model, reg)
    if ACCESS_TIERS.index(least) > ACCESS_TIERS.index(model.access_tier):
        old = model.access_tier
        model.access_tier = least
        tlog.append(s, "access-tier", {"model": _model_name(model), "tier": least,
                                       "previous": old, "by": "policy", "reason": why})  # fmt: skip
        if reg is not None:
            _raise_copies(reg, s, model)
    if model.access_tier != "open" and required_watermark(s, model) is not None:
        from openward.registry import marks

        marks.set_watermark(s, model, "per-recipient", "policy")


def set_tier(
    reg: Registry, s: Session, user: User | None, org: str, name: str, tier: str,
    fields: list[str] | None, watermark: str | None = None,
) -> Model:  # fmt: skip
    """Set the model's tier (and, with ``watermark``, whether its grantees get copies
    marked per recipient: ``none`` or ``per-recipient``, gated or restricted only; an
    open tier turns marks off; a threshold whose policy demands marks keeps them on)."""
    from openward.registry import marks

    model = _model(s, org, name)
    actor = _owner(reg, s, user, model, "set the access tier")
    if watermark is not None and watermark not in marks.WATERMARKS:
        raise RegistryError(422, "watermark must be none or per-recipient")
    wanted = watermark if watermark is not None else model.watermark
    if tier == "open":
        if watermark == "per-recipient":
            raise RegistryError(422, f"{org}/{name}: per-recipient marks need a gated or "
                                "restricted tier")  # fmt: skip
        wanted = "none"
    required = required_watermark(s, model)
    if required is not None and wanted != "per-recipient" and tier != "open":
        raise RegistryError(422, f"{org}/{name} must be marked per recipient under the "
                            f"registry's policy ({required})")  # fmt: skip

    if tier not in ACCESS_TIERS:
        raise RegistryError(422, "tier must be open, gated or restricted")
    least, why = minimum_tier(s, model, reg)
    waive: list[tuple[LineageLink, Version, Version]] = []
    if ACCESS_TIERS.index(tier) < ACCESS_TIERS.index(least):
        # A tier inherited through lineage (weights found derived, not the same bytes)
        # stands until an admin decides otherwise: an admin may set it lower, and the
        # links that raised it stop raising it (logged with the tier).
        if actor.is_admin and ACCESS_TIERS.index(tier) >= ACCESS_TIERS.index(
            minimum_tier(s, model, reg, lineage=False)[0]
        ):
            strict = ACCESS_TIERS[ACCESS_TIERS.index(tier) + 1 :]
            waive = [(link, v, b) for link, v, b in _lineage_links(s, model)
                     if b.model.access_tier in strict]  # fmt: skip
        else:
            raise RegistryError(
                422, f"{org}/{name} must be at least {least!r} under the registry's policy "
                f"({why})" + ("; an admin may set a lineage-inherited tier lower"
                              if "lineage" in why else "")
            )  # fmt: skip
    if fields is not None:
        bad = [f for f in fields if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", f)]
        if bad or len(fields) > 20:
            raise RegistryError(422, "fields are up to 20 snake_case names")
    floor = model.access_tier_floor
    if (not actor.is_admin and floor in ACCESS_TIERS
            and ACCESS_TIERS.index(tier) < ACCESS_TIERS.index(floor)):  # fmt: skip
        raise RegistryError(
            403, f"an admin set {org}/{name} to {floor!r}: only an admin makes it more open "
            "than that (a publisher may tighten it)"
        )  # fmt: skip
    if actor.is_admin:  # what an admin sets, only an admin loosens
        floor = tier if tier != "open" else None
    old = model.access_tier
    new_fields = list(dict.fromkeys(fields)) if fields is not None else model.access_fields
    if (old == tier and new_fields == model.access_fields and floor == model.access_tier_floor
            and not waive):  # fmt: skip
        marks.set_watermark(s, model, wanted, actor.name)  # logged if it changed
        return model  # nothing else changed: nothing to log
    for link, _, _ in waive:
        link.tier_waived_by = actor.id
    model.access_tier = tier
    model.access_fields = new_fields
    model.access_tier_set_by = actor.id
    model.access_tier_floor = floor
    entry: dict[str, Any] = {"model": _model_name(model), "tier": tier, "previous": old,
                             "floor": floor, "by": actor.name}  # fmt: skip
    if waive:
        entry["lineage_waived"] = sorted({f"{_ref(v)} from {_ref(b)} ({b.model.access_tier})"
                                          for _, v, b in waive})  # fmt: skip
    tlog.append(s, "access-tier", entry)
    marks.set_watermark(s, model, wanted, actor.name)  # logged if it changed
    if ACCESS_TIERS.index(tier) > ACCESS_TIERS.index(old):
        _raise_copies(reg, s, model)
    return model


def required_watermark(s: Session, model: Model) -> str | None:
    """Why the policy demands per-recipient marks for ``model`` (a crossed threshold
    whose ``registry.watermark`` is ``per-recipient``), or None."""
    for row in s.scalars(select(Version).where(Version.model_id == model.id)
                         .options(undefer(Version.facts))):  # fmt: skip
        facts: dict[str, Any] = row.facts if isinstance(row.facts, dict) else {}
        for t in facts.get("tiers") or []:
            if isinstance(t, dict) and t.get("crossed") and t.get("watermark") == "per-recipient":
                return f"version {row.version} crosses {t.get('id')}"
    return None


def access_fields(model: Model) -> list[str]:
    return list(model.access_fields) if model.access_fields is not None else list(DEFAULT_FIELDS)


def _active_grants(s: Session, model: Model, user: User) -> list[Grant]:
    orgs = [m.organisation_id for m in user.memberships]
    query = select(Grant).where(Grant.model_id == model.id, Grant.revoked_at.is_(None))
    rows = s.scalars(query).all()
    return [g for g in rows if g.user_id == user.id or (g.organisation_id in orgs)]


def how_to_request(model: Model) -> str:
    named = {"organisation": "--organisation ORG", "intended_use": "--intended-use TEXT"}
    fields = " ".join(named.get(f, f"--field {f}=…") for f in access_fields(model)
                      if f != "accept_license")  # fmt: skip
    accept = " --accept-license" if "accept_license" in access_fields(model) else ""
    return f"request it with: openward access request {_model_name(model)} {fields}{accept}"


def _by_admin(s: Session, grant: Grant) -> bool:
    """Whether the grant was made with an admin's authority: recorded when it was made
    (a publisher later made an admin does not turn their old grants into admin grants,
    and an admin who steps down does not take theirs away)."""
    if grant.by_admin is not None:
        return grant.by_admin
    granter = s.get(User, grant.granted_by) if grant.granted_by is not None else None
    return granter is not None and granter.is_admin


def may_read_weights(reg: Registry, s: Session, user: User | None, row: Version) -> bool:
    """Whether ``user`` may have what describes ``row``'s weights (their fingerprint),
    whatever the version's status: its model is open, or the user is an admin, one of its
    publishers, or holds a live grant covering the version (for a restricted model, an
    organisation grant an admin made)."""
    model = row.model
    if model.access_tier == "open":
        return True
    if user is None:
        return False
    if user.is_admin or reg.can_publish(s, user, model.organisation.name):
        return True
    grants = _active_grants(s, model, user)
    if model.access_tier == "restricted":
        grants = [g for g in grants if g.organisation_id is not None and _by_admin(s, g)]
    now = _now()
    return any((g.expires_at is None or _aware(g.expires_at) > now)
               and (g.versions is None or row.version in g.versions) for g in grants)  # fmt: skip


def may_download(reg: Registry, s: Session, user: User | None, row: Version) -> None:
    """Raise the refusal a download of ``row`` gets, or return if it is allowed."""
    ref = _ref(row)
    if row.status == TAKEN_DOWN:
        why = "; ".join(row.reasons[:3]) or "taken down"
        raise RegistryError(451, f"{ref} was taken down: {why}")
    if row.status != VISIBLE:
        why = "; ".join(row.reasons[:3]) or row.status
        raise RegistryError(
            403, f"{ref} is {row.status}, so its files cannot be downloaded: {why}"
        )  # fmt: skip
    model = row.model
    if model.access_tier == "open":
        return
    if user is None:
        raise RegistryError(
            401, f"{_model_name(model)} is {model.access_tier}: sign in with a token, then "
            + how_to_request(model)
        )  # fmt: skip
    if user.is_admin or reg.can_publish(s, user, model.organisation.name):
        return
    now = _now()
    grants = _active_grants(s, model, user)
    if model.access_tier == "restricted":
        # Only organisation grants an admin made count: a publisher's grant made while
        # the model was gated does not survive the move to restricted.
        grants = [g for g in grants if g.organisation_id is not None and _by_admin(s, g)]
    live = [g for g in grants if g.expires_at is None or _aware(g.expires_at) > now]
    if any(g.versions is None or row.version in g.versions for g in live):
        return
    if live:
        raise RegistryError(
            403, f"your access to {_model_name(model)} does not cover version {row.version}: "
            + how_to_request(model)
        )  # fmt: skip
    if grants:
        expired = max(_aware(g.expires_at) for g in grants if g.expires_at is not None)
        raise RegistryError(
            403, f"your access to {_model_name(model)} expired on "
            f"{expired.isoformat(timespec='seconds')}: " + how_to_request(model)
        )  # fmt: skip
    pending = s.scalar(select(AccessRequest).where(
        AccessRequest.model_id == model.id, AccessRequest.user_id == user.id
    ).order_by(AccessRequest.id.desc()))  # fmt: skip
    if pending is not None and pending.status == "pending":
        raise RegistryError(
            403, f"your request #{pending.id} for {_model_name(model)} awaits the publisher's "
            "decision"
        )  # fmt: skip
    if pending is not None and pending.status == "denied":
        raise RegistryError(
            403, f"your request #{pending.id} for {_model_name(model)} was denied "
            f"({pending.reason}); " + how_to_request(model)
        )  # fmt: skip
    if model.access_tier == "restricted":
        raise RegistryError(
            403, f"{_model_name(model)} is restricted to organisations an admin names: "
            + how_to_request(model)
        )  # fmt: skip
    raise RegistryError(403, f"{_model_name(model)} is gated: " + how_to_request(model))


def record_download(s: Session, user: User | None, token: str | None, row: Version,
                    path: str) -> None:  # fmt: skip
    token_id = None
    if token:
        token_id = s.scalar(select(Token.id).where(Token.digest == hash_token(token)))
    if user is not None:
        recent = s.scalar(select(Download.id).where(
            Download.version_id == row.id, Download.user_id == user.id, Download.path == path,
            Download.at > _now() - timedelta(hours=1),
        ).limit(1))  # fmt: skip
        if recent is not None:  # the rest of a download already recorded
            return
    s.add(Download(version_id=row.id, user_id=user.id if user else None, token_id=token_id,
                   path=path))  # fmt: skip


def log_download(s: Session, user: User | None, token: str | None, row: Version, path: str,
                 *, token_id: int | None = None) -> None:  # fmt: skip
    """Record a download (:func:`record_download`) and commit it, or say why not.

    When the record cannot be written (a full disk: SQLite's file shares it with the
    blobs; a database that is down), an open model's file is served anyway, with a
    warning in the server log: anyone may fetch it, so the record is statistics.
    Downloads of gated and restricted models are always recorded (their publishers
    grant access on that condition): those are refused with 503 and Retry-After
    instead of being served unrecorded. ``token_id``: the token a web session signed
    in with (the API passes the token itself)."""
    from sqlalchemy.exc import SQLAlchemyError

    tier = row.model.access_tier
    ref = _ref(row)
    try:
        record_download(s, user, token, row, path)
        if token_id is not None:
            for pending in s.new:
                if isinstance(pending, Download) and pending.token_id is None:
                    pending.token_id = token_id
        s.commit()
    except (SQLAlchemyError, OSError) as exc:
        s.rollback()
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
        if tier == "open":
            _log.warning("download of %s %s not recorded: %s", ref, path, reason)
            return
        raise RegistryError(
            503,
            f"{ref} is {tier}, so every download is recorded, and the registry cannot "
            f"write its download log right now ({reason}): try again later",
            headers={"Retry-After": "60"},
        ) from None


def download_log(reg: Registry, s: Session, user: User | None, org: str, name: str,
                 limit: int = 1000) -> list[dict[str, Any]]:  # fmt: skip
    model = _model(s, org, name)
    _owner(reg, s, user, model, "read the download log")
    rows = s.scalars(
        select(Download).join(Version).where(Version.model_id == model.id)
        .order_by(Download.id.desc()).limit(limit)
    ).all()  # fmt: skip
    return [{"user": d.user.name if d.user else None, "token_id": d.token_id,
             "version": d.version.version, "path": d.path,
             "at": _aware(d.at).isoformat(timespec="seconds")} for d in rows]  # fmt: skip


def request_access(
    reg: Registry, s: Session, user: User | None, org: str, name: str, fields: dict[str, Any]
) -> AccessRequest:
    actor = _need(user, "requesting access")
    model = _visible_model(reg, s, actor, org, name)
    if model.access_tier == "open":
        raise RegistryError(409, f"{org}/{name} is open: no request is needed")
    wanted = access_fields(model)
    missing = [f for f in wanted if f not in fields or fields[f] in (None, "", False)]
    if missing:
        raise RegistryError(
            422, f"{org}/{name} asks for: {', '.join(wanted)}; missing: {', '.join(missing)}"
            + (" (accept the license with --accept-license)" if "accept_license" in missing
               else "")
        )  # fmt: skip
    clean = {k: (v if isinstance(v, bool) else str(v)[:2000]) for k, v in fields.items()
             if k in wanted}  # fmt: skip
    row = AccessRequest(model_id=model.id, user_id=actor.id, fields=clean)
    s.add(row)
    s.flush()
    tlog.append(s, "access-requested", {"model": _model_name(model), "request": row.id,
                                        "user": actor.name})  # fmt: skip
    return row


def _expiry(expires: str | None) -> datetime | None:
    if not expires:
        return None
    m = re.fullmatch(r"(\d{1,5})([dh])", expires.strip())
    if m:
        amount = int(m[1])
        return _now() + (timedelta(days=amount) if m[2] == "d" else timedelta(hours=amount))
    try:
        moment = datetime.fromisoformat(expires)
    except ValueError:
        raise RegistryError(422, "expires is 30d, 12h or an ISO date") from None
    return _aware(moment)


def grant_access(
    reg: Registry, s: Session, user: User | None, org: str, name: str, *,
    request_id: int | None = None, grantee: str | None = None,
    organisation: str | None = None, versions: list[str] | None = None,
    expires: str | None = None, reason: str = "",
) -> Grant:  # fmt: skip
    """Approve a request or grant a user or organisation directly."""
    model = _model(s, org, name)
    actor = _need(user, "granting access")
    restricted = model.access_tier == "restricted"
    if restricted and not actor.is_admin:
        raise RegistryError(403, f"{org}/{name} is restricted: only an admin grants access")
    _owner(reg, s, actor, model, "grant access")
    inherited = inherited_tier(reg, s, model) if not actor.is_admin else None
    if inherited is not None:
        # Approving requests would open, one grantee at a time, weights whose own
        # publisher gated them: the copy's grants are an admin's.
        raise RegistryError(
            403, f"{org}/{name} is {model.access_tier} because {inherited[1]}: only an admin "
            "grants access to it"
        )  # fmt: skip
    target_user: User | None = None
    target_org: Organisation | None = None
    request: AccessRequest | None = None
    if request_id is not None:
        request = s.get(AccessRequest, request_id)
        if request is None or request.model_id != model.id:
            raise RegistryError(404, f"no request #{request_id} for {org}/{name}")
        if request.status != "pending":
            raise RegistryError(409, f"request #{request_id} is already {request.status}")
        target_user = request.user
        request.status, request.reason = "approved", reason or None
        request.decided_by, request.decided_at = actor.id, _now()
    elif grantee:
        target_user = s.scalar(select(User).where(User.name == grantee))
        if target_user is None:
            raise RegistryError(404, f"user {grantee!r} does not exist")
    elif organisation:
        target_org = s.scalar(select(Organisation).where(Organisation.name == organisation))
        if target_org is None:
            raise RegistryError(404, f"organisation {organisation!r} does not exist")
    else:
        raise RegistryError(422, "name a request, a user or an organisation")
    if restricted and target_org is None:
        if target_user is None or not target_user.memberships:
            raise RegistryError(
                422, f"{org}/{name} is restricted to organisations: grant --org ORG"
            )  # fmt: skip
        # A request on a restricted model grants the requester's organisation.
        target_org = target_user.memberships[0].organisation
        target_user = None
    grant = Grant(model_id=model.id, user_id=target_user.id if target_user else None,
                  organisation_id=target_org.id if target_org else None,
                  versions=versions or None, expires_at=_expiry(expires),
                  request_id=request.id if request else None, granted_by=actor.id,
                  by_admin=bool(actor.is_admin))  # fmt: skip
    s.add(grant)
    s.flush()
    tlog.append(s, "access-granted", {
        "model": _model_name(model), "grant": grant.id,
        "user": target_user.name if target_user else None,
        "organisation": target_org.name if target_org else None,
        "versions": grant.versions, "request": grant.request_id, "by": actor.name,
        "expires": grant.expires_at.isoformat(timespec="seconds") if grant.expires_at else None,
    })  # fmt: skip
    return grant


def deny_access(reg: Registry, s: Session, user: User | None, org: str, name: str,
                request_id: int, reason: str) -> AccessRequest:  # fmt: skip
    model = _model(s, org, name)
    actor = _owner(reg, s, user, model, "deny access")
    if model.access_tier == "restricted" and not actor.is_admin:
        raise RegistryError(403, f"{org}/{name} is restricted: only an admin decides requests")
    if not reason.strip():
        raise RegistryError(422, "a denial needs a reason (--reason)")
    request = s.get(AccessRequest, request_id)
    if request is None or request.model_id != model.id:
        raise RegistryError(404, f"no request #{request_id} for {org}/{name}")
    if request.status != "pending":
        raise RegistryError(409, f"request #{request_id} is already {request.status}")
    request.status, request.reason = "denied", reason
    request.decided_by, request.decided_at = actor.id, _now()
    tlog.append(s, "access-denied", {"model": _model_name(model), "request": request.id,
                                     "user": request.user.name, "reason": reason,
                                     "by": actor.name})  # fmt: skip
    return request


def revoke_access(reg: Registry, s: Session, user: User | None, org: str, name: str,
                  grant_id: int, reason: str) -> Grant:  # fmt: skip
    model = _model(s, org, name)
    actor = _owner(reg, s, user, model, "revoke access")
    if model.access_tier == "restricted" and not actor.is_admin:
        raise RegistryError(403, f"{org}/{name} is restricted: only an admin revokes access")
    grant = s.get(Grant, grant_id)
    if grant is None or grant.model_id != model.id:
        raise RegistryError(404, f"no grant #{grant_id} on {org}/{name}")
    if grant.revoked_at is None:
        grant.revoked_at, grant.revoked_reason = _now(), reason or None
        tlog.append(s, "access-revoked", {"model": _model_name(model), "grant": grant.id,
                                          "reason": reason, "by": actor.name})  # fmt: skip
    return grant


def access_overview(reg: Registry, s: Session, user: User | None, org: str,
                    name: str) -> dict[str, Any]:  # fmt: skip
    """The model's tier, and (for its publishers and admins) requests and grants."""
    model = _visible_model(reg, s, user, org, name)
    owner = user is not None and (user.is_admin or reg.can_publish(s, user, org))
    least, why = minimum_tier(s, model, reg)
    setter = s.get(User, model.access_tier_set_by) if model.access_tier_set_by else None
    doc: dict[str, Any] = {"name": _model_name(model), "tier": model.access_tier,
                           "minimum_tier": least, "minimum_reason": why if owner else None,
                           "fields": access_fields(model),
                           "tier_set_by": setter.name if setter is not None else None,
                           "admin_floor": model.access_tier_floor,
                           "watermark": model.watermark}  # fmt: skip
    if owner:
        doc["requests"] = [_request_doc(r) for r in s.scalars(
            select(AccessRequest).where(AccessRequest.model_id == model.id)
            .order_by(AccessRequest.id))]  # fmt: skip
        doc["grants"] = [_grant_doc(g) for g in s.scalars(
            select(Grant).where(Grant.model_id == model.id).order_by(Grant.id))]  # fmt: skip
    elif user is not None:
        doc["requests"] = [_request_doc(r) for r in s.scalars(
            select(AccessRequest).where(AccessRequest.model_id == model.id,
                                        AccessRequest.user_id == user.id)
            .order_by(AccessRequest.id))]  # fmt: skip
        doc["grants"] = [_grant_doc(g) for g in _active_grants(s, model, user)]
    return doc


def _iso(moment: datetime | None) -> str | None:
    return _aware(moment).isoformat(timespec="seconds") if moment else None


def _request_doc(r: AccessRequest) -> dict[str, Any]:
    return {"id": r.id, "user": r.user.name, "fields": r.fields, "status": r.status,
            "reason": r.reason, "created_at": _iso(r.created_at),
            "decided_at": _iso(r.decided_at)}  # fmt: skip


def _grant_doc(g: Grant) -> dict[str, Any]:
    now = _now()
    state = "revoked" if g.revoked_at else (
        "expired" if g.expires_at and _aware(g.expires_at) <= now else "active")  # fmt: skip
    return {"id": g.id, "user": g.user.name if g.user else None,
            "organisation": g.organisation.name if g.organisation else None,
            "versions": g.versions, "expires_at": _iso(g.expires_at), "state": state,
            "created_at": _iso(g.created_at), "revoked_at": _iso(g.revoked_at),
            "revoked_reason": g.revoked_reason}  # fmt: skip


# -- registration --------------------------------------------------------------
def _flop(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.replace("_", "").strip())
        except ValueError:
            return None
    return None


def submit_registration(reg: Registry, s: Session, user: User | None, org: str, name: str,
                        version: str, record: dict[str, Any]) -> Registration:  # fmt: skip
    row = reg.find_version(s, user, org, name, version)
    actor = _owner(reg, s, user, row.model, "register a model version")
    if row.status != "needs-registration":
        raise RegistryError(409, f"{_ref(row)} is {row.status}; only a version held for "
                            "registration is registered")  # fmt: skip
    missing = [f"{k} ({v})" for k, v in REGISTRATION_FIELDS.items() if not record.get(k)]
    if missing:
        raise RegistryError(422, "the registration lacks: " + "; ".join(missing))
    compute = record.get("training_compute")
    declared = _flop(compute.get("flop")) if isinstance(compute, dict) else _flop(compute)
    if declared is None or declared <= 0:
        raise RegistryError(422, "training_compute.flop must be a positive number of FLOP")
    method = compute.get("method") if isinstance(compute, dict) else None
    if not method:
        raise RegistryError(422, "training_compute.method must say how the figure was made")
    if not isinstance(record.get("safety_evaluations"), list):
        raise RegistryError(422, "safety_evaluations must be a list")
    from openward.registry.audits import referenced_audits

    flags = [f"safety_evaluations references audit #{a['id']}, which does not verify: "
             f"{a['verification']}" for a in referenced_audits(s, row, record, strict=True)
             if not a["verified"]]  # fmt: skip
    estimate = (row.facts or {}).get("compute") if isinstance(row.facts, dict) else None
    if isinstance(estimate, dict) and estimate.get("flop"):
        low, high = float(estimate.get("low") or 0), float(estimate.get("high") or 0)
        if not low <= declared <= high:
            flags.append(
                f"declared compute {declared:.3g} FLOP is outside the registry's estimate "
                f"{float(estimate['flop']):.3g} FLOP (range {low:.3g}-{high:.3g}, "
                f"{estimate.get('method')})"
            )
    else:
        flags.append("the registry could not estimate this version's compute: check the "
                     "declared figure against the evidence")  # fmt: skip
    pending = s.scalar(select(Registration).where(Registration.version_id == row.id,
                                                  Registration.status == "pending"))  # fmt: skip
    if pending is not None:
        raise RegistryError(409, f"registration #{pending.id} for {_ref(row)} awaits review")
    entry = Registration(version_id=row.id, submitted_by=actor.id, record=record, flags=flags)
    s.add(entry)
    s.flush()
    tlog.append(s, "registration-submitted", {"model": _ref(row), "digest": row.digest,
                                              "registration": entry.id,
                                              "by": actor.name})  # fmt: skip
    return entry


def registration_doc(r: Registration) -> dict[str, Any]:
    """The registration, with the audits its ``safety_evaluations`` reference and whether
    each verifies now (``audits``)."""
    from sqlalchemy.orm import object_session

    from openward.registry.audits import referenced_audits

    v = r.version
    estimate = (v.facts or {}).get("compute") if isinstance(v.facts, dict) else None
    s = object_session(r)
    audits = referenced_audits(s, v, r.record) if s is not None else []
    return {"id": r.id, "model": _ref(v), "digest": v.digest, "status": r.status,
            "record": r.record, "flags": r.flags, "reason": r.reason,
            "estimate": estimate, "created_at": _iso(r.created_at),
            "decided_at": _iso(r.decided_at), "audits": audits}  # fmt: skip


def list_registrations(s: Session, user: User | None, status: str | None) -> list[Registration]:
    actor = _need(user, "reviewing")
    if not (actor.is_admin or actor.is_reviewer):
        raise RegistryError(403, "only a reviewer or an admin reviews registrations")
    query = select(Registration).order_by(Registration.id)
    if status:
        query = query.where(Registration.status == status)
    return list(s.scalars(query))


def decide_registration(reg: Registry, s: Session, user: User | None, registration_id: int,
                        accept: bool, reason: str) -> Registration:  # fmt: skip
    actor = _need(user, "reviewing")
    if not (actor.is_admin or actor.is_reviewer):
        raise RegistryError(403, "only a reviewer or an admin decides registrations")
    if not reason.strip():
        raise RegistryError(422, "a decision needs a reason (--reason)")
    entry = s.get(Registration, registration_id)
    if entry is None:
        raise RegistryError(404, f"no registration #{registration_id}")
    org = entry.version.model.organisation.name
    # The conflict is the user's, not the token's: a reviewer-scoped token of someone
    # who publishes for ``org`` cannot publish, but its user still does.
    from openward.registry.accounts import unscoped

    person = unscoped(actor)
    if entry.submitted_by == actor.id or (not person.is_admin and reg.can_publish(s, person, org)):
        raise RegistryError(
            403, f"{actor.name} submitted this registration or publishes for {org!r}: another "
            "reviewer must decide it"
        )  # fmt: skip
    if entry.status != "pending":
        raise RegistryError(409, f"registration #{registration_id} is already {entry.status}")
    entry.status = "accepted" if accept else "rejected"
    entry.reason, entry.reviewer_id, entry.decided_at = reason, actor.id, _now()
    row = entry.version
    entry.attestation = reg.sign_registration(entry, actor.name)
    tlog.append(s, "registration-" + entry.status, {
        "model": _ref(row), "digest": row.digest, "registration": entry.id,
        "reason": reason, "by": actor.name,
    })  # fmt: skip
    if accept and row.status == "needs-registration":
        from openward.registry.audits import NEEDS_AUDIT, audit_hold

        missing = audit_hold(reg, s, row)
        reg._set_status(s, row, NEEDS_AUDIT if missing else VISIBLE, missing)
    elif not accept and row.status == "needs-registration":
        row.reasons = [f"registration #{entry.id} rejected: {reason}", *row.reasons][:100]
    return entry


# -- takedowns and advisories ----------------------------------------------------
def _advisory_id(s: Session) -> str:
    # OSV ids are <DB>-<ENTRYID>; "x_" marks a database OSV.dev does not aggregate.
    prefix = f"x_OW-{_now().year}-"
    taken = s.scalars(select(Advisory.id).where(Advisory.id.startswith(prefix))).all()
    numbers = [int(i[len(prefix) :]) for i in taken if i[len(prefix) :].isdigit()]
    return f"{prefix}{max(numbers, default=0) + 1:04d}"


def _parse_ref(ref: str) -> tuple[str, str, str]:
    model, _, version = ref.partition(":")
    org, _, name = model.partition("/")
    if not org or not name or not version or "/" in name:
        raise RegistryError(422, f"{ref!r}: expected ORG/NAME:VERSION")
    return org, name, version


@dataclass
class Takedown:
    """What a takedown did: the version, its advisory, the copies it reached and the
    copies an exception kept from it."""

    row: Version
    advisory: Advisory | None
    reached: list[tuple[Version, list[str]]]
    excepted: list[Version]
    recheck: list[int]
    """Versions to check again (re-pushes held back before the exception)."""
    elsewhere: list[tuple[Version, list[str]]] = field(default_factory=list)
    """Earlier versions of other organisations carrying the same weights (or files),
    left served: the version taken down copied them (an admin takes them down by name)."""
    derivatives: list[Version] = field(default_factory=list)
    """Versions found derived from it (lineage), left served: a takedown follows bytes; a
    derivative published before it is the admin's to take down by name (one pushed after
    it is quarantined by its checks)."""


def take_down(
    reg: Registry, s: Session, user: User | None, org: str, name: str, version: str,
    reason: str, advisory: dict[str, Any] | None, exceptions: list[str] | None = None,
) -> Takedown:  # fmt: skip
    """Take a version down, and with it every other version (any model, any
    organisation) carrying a file that identifies it, except the versions an admin
    names in ``exceptions`` (``ORG/NAME:VERSION``; each logged with the takedown).

    Weights (or the very files) that an earlier version of another organisation
    published and still serves are that version's, not this one's: a copy's takedown
    leaves the original it copied, and the copies of that original, served. They are
    listed (``Takedown.elsewhere``) for the admin to take down by name."""
    actor = _need(user, "a takedown")
    if not actor.is_admin:
        raise RegistryError(403, "only an admin takes a version down")
    if not reason.strip():
        raise RegistryError(422, "a takedown needs a reason (--reason)")
    tlog.lock(s)  # a check deciding now sees this takedown, or is seen by it
    row = reg.find_version(s, actor, org, name, version)
    excepted_rows = [reg.find_version(s, actor, *_parse_ref(r)) for r in exceptions or []]
    made = None
    if advisory is not None:
        made = add_advisory(s, row.model, advisory, default_versions=[row.version],
                            default_summary=reason)  # fmt: skip
    if row.status != TAKEN_DOWN or row.takedown_of is not None:
        # An admin's own takedown of a copy another takedown had reached makes it an
        # original: its other weights are taken down too.
        row.takedown_of = None
        reasons = [reason] + ([f"advisory {made.id}"] if made else [])
        reg._set_status(s, row, TAKEN_DOWN, reasons)  # moves `latest` off it
    recheck = []
    for copy in excepted_rows:
        _except(reg, s, actor, copy, row, f"excepted by the takedown of {_ref(row)}: {reason}")
        if _apply_exception(reg, s, copy, row):
            recheck.append(copy.id)
    live = [VISIBLE, *HELD]
    weights = reg.takedown_weights(s, row)
    original = reg.manifest_elsewhere(s, row)
    copies: dict[int, tuple[Version, set[str]]] = {}
    if original is None:
        # The same manifest, even of a model too small for any file to identify it ...
        same = select(Version).where(
            Version.digest == row.digest, Version.id != row.id, Version.status.in_(live)
        )
        copies = {v.id: (v, weights) for v in s.scalars(same)}
    # ... and every version carrying a file that identifies it.
    for copy, shared in reg.holders(s, weights, live, row.id):
        copies.setdefault(copy.id, (copy, shared))
    mine = reg.identifying(row)
    elsewhere: dict[int, tuple[Version, set[str]]] = {}
    if original is not None:
        elsewhere[original.id] = (original, set(mine))
    for digest, other in reg.earlier_elsewhere(s, row, mine).items():
        elsewhere.setdefault(other.id, (other, set()))[1].add(digest)
    reached: list[tuple[Version, list[str]]] = []
    excepted: list[Version] = []
    for vid in sorted(copies):
        copy, shared = copies[vid]
        if reg.exempted(s, copy.id, row.id):
            excepted.append(copy)
            continue
        paths = sorted(f.path for f in copy.files if f.sha256 in shared)
        what = f"{', '.join(paths[:3])} of" if paths else "the same files as"
        copy.takedown_of = row.id
        reg._set_status(s, copy, TAKEN_DOWN, [
            f"carries {what} {_ref(row)}, which was taken down: {reason}"
        ])  # fmt: skip
        reached.append((copy, paths or sorted(f.path for f in copy.files)))
    spared = [(v, sorted(f.path for f in v.files if f.sha256 in shared)
               or sorted(f.path for f in v.files))
              for _, (v, shared) in sorted(elsewhere.items())]  # fmt: skip
    derivatives = [v for v in lineage.derivatives_of(s, row)
                   if v.id not in copies and not reg.exempted(s, v.id, row.id)]  # fmt: skip
    return Takedown(row, made, reached, excepted, recheck, spared, derivatives)


def _except(reg: Registry, s: Session, actor: User, copy: Version, original: Version,
            reason: str) -> bool:  # fmt: skip
    """Record (once, logged) that ``copy`` stays served despite the takedown of
    ``original``; returns whether it was new."""
    if copy.id == original.id:
        raise RegistryError(422, f"{_ref(copy)} is the version taken down itself")
    same = copy.digest == original.digest
    if (not same and not set(reg.identifying(original)) & {f.sha256 for f in copy.files}
            and not lineage.linked(s, copy, original)):  # fmt: skip
        raise RegistryError(
            422, f"{_ref(copy)} carries no weights of {_ref(original)} and was not found "
            "derived from it: nothing to except"
        )  # fmt: skip
    if reg.exempted(s, copy.id, original.id):
        return False
    s.add(TakedownExemption(version_id=copy.id, original_id=original.id, reason=reason,
                            decided_by=actor.id))  # fmt: skip
    tlog.append(s, "takedown-exception", {
        "model": _model_name(copy.model), "version": copy.version, "digest": copy.digest,
        "of": _ref(original), "reason": reason, "by": actor.name,
    })  # fmt: skip
    return True


def except_copy(reg: Registry, s: Session, user: User | None, org: str, name: str,
                version: str, copy_ref: str, reason: str) -> tuple[Version, bool]:  # fmt: skip
    """An admin's later exception: ``copy_ref`` stays served although it carries the
    weights of the taken-down ``org/name:version``. A copy the takedown had reached is
    restored to its verdict before it (unless another takedown still reaches it); a
    re-push the checks held back is checked again (returns True: queue its checks)."""
    actor = _need(user, "an exception to a takedown")
    if not actor.is_admin:
        raise RegistryError(403, "only an admin excepts a version from a takedown")
    if not reason.strip():
        raise RegistryError(422, "an exception needs a reason (--reason)")
    tlog.lock(s)
    original = reg.find_version(s, actor, org, name, version)
    if original.status != TAKEN_DOWN:
        raise RegistryError(409, f"{_ref(original)} is {original.status}, not taken down")
    original = reg.takedown_root(s, original)
    copy = reg.find_version(s, actor, *_parse_ref(copy_ref))
    _except(reg, s, actor, copy, original, reason)
    return copy, _apply_exception(reg, s, copy, original)


def _apply_exception(reg: Registry, s: Session, copy: Version, original: Version) -> bool:
    """Undo what the takedown of ``original`` did to ``copy``: a copy it reached gets
    back its verdict from before; a re-push the checks held back because of it is put
    back in ``checking`` (returns True: queue its checks)."""
    if copy.status == TAKEN_DOWN and copy.takedown_of == original.id:
        _release(reg, s, copy)
    elif copy.status == "quarantined" and any(_ref(original) in r for r in copy.reasons):
        reg._set_status(s, copy, "checking", [f"checked again: excepted from the takedown of "
                                              f"{_ref(original)}"])  # fmt: skip
        return True
    return False


def _release(reg: Registry, s: Session, copy: Version) -> None:
    """A copy no takedown reaches any more gets back its verdict from before."""
    digests = {f.sha256 for f in copy.files}
    for other, shared in reg.holders(s, digests, [TAKEN_DOWN], copy.id, direct_only=True):
        shared &= reg.takedown_weights(s, other)
        if shared and not reg.exempted(s, copy.id, other.id):
            paths = sorted(f.path for f in copy.files if f.sha256 in shared)
            copy.takedown_of = other.id
            reg._set_status(s, copy, TAKEN_DOWN, [
                f"carries {', '.join(paths[:3])} of {_ref(other)}, which was taken down: "
                + "; ".join(other.reasons[:1])
            ])  # fmt: skip
            return
    events = s.scalars(select(StatusEvent).where(StatusEvent.version_id == copy.id)
                       .order_by(StatusEvent.id.desc())).all()  # fmt: skip
    down = next(i for i, e in enumerate(events) if e.status == TAKEN_DOWN)
    before = next((e for e in events[down:] if e.status in FINAL), None)
    copy.takedown_of = None
    if before is None:  # taken down before a verdict: check it
        why = "no verdict before the takedown: an admin can re-run the checks (registry rescan)"
        reg._set_status(s, copy, "quarantined", [why])
        return
    reg._set_status(s, copy, before.status, list(before.reasons))
    s.flush()
    tag = s.scalar(select(Tag).where(Tag.model_id == copy.model_id, Tag.name == "latest"))
    newest = s.scalar(select(Version.id).where(Version.model_id == copy.model_id,
                                               Version.status == VISIBLE)
                      .order_by(Version.id.desc()).limit(1))  # fmt: skip
    if tag is not None and newest is not None:
        tag.version_id = newest  # `latest` follows version order, not restoration order


def add_advisory(s: Session, model: Model, doc: dict[str, Any], *,
                 default_versions: list[str], default_summary: str) -> Advisory:  # fmt: skip
    severity = str(doc.get("severity") or "high").lower()
    if severity not in SEVERITIES:
        raise RegistryError(422, f"advisory severity must be one of {', '.join(SEVERITIES)}")
    versions = doc.get("versions", doc.get("affected_versions")) or default_versions
    references = doc.get("references") or []
    if not isinstance(versions, list) or not all(isinstance(v, str) for v in versions):
        raise RegistryError(422, "advisory versions must be a list of version names")
    if not isinstance(references, list) or not all(isinstance(r, str) for r in references):
        raise RegistryError(422, "advisory references must be a list of URLs")
    known = set(s.scalars(select(Version.version).where(Version.model_id == model.id)))
    unknown = [v for v in versions if v not in known]
    if unknown:
        raise RegistryError(422, f"{_model_name(model)} has no version {unknown[0]!r}")
    from sqlalchemy.exc import IntegrityError

    for _attempt in range(5):  # two concurrent advisories may pick the same number
        row = Advisory(id=_advisory_id(s), model_id=model.id, versions=versions,
                       severity=severity, summary=str(doc.get("summary") or default_summary)[:300],
                       details=str(doc.get("details") or doc.get("description") or ""),
                       references=references)  # fmt: skip
        try:
            with s.begin_nested():
                s.add(row)
        except IntegrityError:
            continue
        break
    else:
        raise RegistryError(409, "advisory numbers collided; try again")
    tlog.append(s, "advisory", {"id": row.id, "model": _model_name(model), "versions": versions,
                                "severity": severity, "summary": row.summary})  # fmt: skip
    return row


def _osv_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, as the OSV schema's pattern demands."""
    return _aware(moment).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def osv_document(s: Session, adv: Advisory, base_url: str = "") -> dict[str, Any]:
    """The advisory in the OSV schema (validated against ossf/osv-schema in the tests).

    Model registries are not among OSV's ecosystems, so ``affected[].package``
    (which requires one) is left out: the model is named in ``ecosystem_specific``
    and each affected version's manifest digest and per-file SHA-256 are in
    ``database_specific``, so a copy on disk can be matched offline."""
    model = adv.model
    rows = {v.version: v for v in s.scalars(select(Version).where(Version.model_id == model.id))}
    digests = [{"version": v, "digest": rows[v].digest,
                "files": {f.path: f.sha256 for f in rows[v].files}}
               for v in adv.versions if v in rows]  # fmt: skip
    refs = [{"type": "WEB", "url": u} for u in adv.references]
    if base_url:
        refs.append({"type": "ADVISORY", "url": f"{base_url}/api/v1/advisories/{adv.id}"})
    return {
        "schema_version": "1.7.5",
        "id": adv.id,
        "modified": _osv_time(adv.modified),
        "published": _osv_time(adv.published),
        "summary": adv.summary,
        "details": adv.details,
        "affected": [{
            "versions": adv.versions,
            "ecosystem_specific": {"registry": "openward", "model": _model_name(model)},
            "database_specific": {"digests": digests},
        }],
        "references": refs,
        "database_specific": {"severity": adv.severity.upper(), "model": _model_name(model)},
    }  # fmt: skip


def flagged_versions(s: Session) -> list[Version]:
    """Versions a copy on disk must not match: taken down, quarantined, or under an
    advisory."""
    advised: set[int] = set()
    for adv in s.scalars(select(Advisory)):
        for v in s.scalars(select(Version).where(Version.model_id == adv.model_id,
                                                 Version.version.in_(adv.versions))):  # fmt: skip
            advised.add(v.id)
    query = select(Version).where(
        Version.status.in_([TAKEN_DOWN, "quarantined"]) | Version.id.in_(sorted(advised))
    )
    return list(s.scalars(query))


def _flagged_docs(reg: Registry, s: Session) -> list[dict[str, Any]]:
    """Each flagged version with its manifest digest, files, advisories, the files
    that identify it (``weights``: what a copy is matched on) and, for a takedown, the
    manifest digests of the versions an admin excepted (``exempt``)."""
    return _flagged(reg, s)[0]


def _flagged(reg: Registry, s: Session) -> tuple[list[dict[str, Any]], list[Version]]:
    """:func:`_flagged_docs` and the versions they describe, in the same order."""
    by_version: dict[int, list[str]] = {}
    for a in s.scalars(select(Advisory)):
        for v in s.scalars(select(Version).where(Version.model_id == a.model_id,
                                                 Version.version.in_(a.versions))):  # fmt: skip
            by_version.setdefault(v.id, []).append(a.id)
    docs = []
    rows = flagged_versions(s)
    for v in rows:
        # A quarantine defers to published files in check_content (clean_files): what
        # other organisations published first needs no queries of its own there.
        checked_only = v.status == "quarantined" and v.id not in by_version
        root = reg.takedown_root(s, v)
        exempt = s.scalars(select(Version.digest).join(
            TakedownExemption, TakedownExemption.version_id == Version.id
        ).where(TakedownExemption.original_id == root.id)).all()  # fmt: skip
        docs.append({"name": _model_name(v.model), "version": v.version, "digest": v.digest,
                     "status": v.status, "reasons": v.reasons[:5],
                     "advisories": by_version.get(v.id, []),
                     "files": {f.path: f.sha256 for f in v.files},
                     "weights": sorted(set(reg.identifying(v)) if checked_only
                                       else reg.takedown_weights(s, v)),
                     "takedown_of": _ref(root) if root is not v else None,
                     "exempt": sorted(set(exempt)),
                     # False: these very files are another organisation's earlier
                     # version, still served (a copy of it was taken down).
                     "exact": checked_only or reg.manifest_elsewhere(s, v) is None})  # fmt: skip
    return docs, rows


def _published_digests(s: Session, among: set[str] | None = None) -> set[str]:
    query = select(VersionFile.sha256).join(Version).where(Version.status == VISIBLE)
    if among is None:
        return set(s.scalars(query.distinct()))
    found: set[str] = set()
    wanted = sorted(among)
    for i in range(0, len(wanted), 500):
        found.update(s.scalars(query.where(VersionFile.sha256.in_(wanted[i : i + 500]))))
    return found


def export(reg: Registry, s: Session, base_url: str = "",
           user: User | None = None, *, everything: bool = True) -> dict[str, Any]:  # fmt: skip
    """Everything `openward check --advisories FILE` needs offline. Without
    ``everything`` (the API's answer), the weight fingerprints of versions of models that
    are not open are only in the answer to an admin or a caller with access to them
    (:func:`may_read_weights`): the fingerprint of a gated or restricted model is an
    offline oracle for tuning a derivative of it until it no longer matches."""
    advisories = [osv_document(s, a, base_url) for a in s.scalars(select(Advisory))]
    docs, rows = _flagged(reg, s)
    # Taken-down versions carry the SHA-256 of their weight fingerprint (``fingerprint``)
    # and of their served bases' (``lineage_bases``); the fingerprints are listed once by
    # that SHA-256, so `check` flags local derivatives offline.
    fingerprints = lineage.export_fingerprints(
        reg, s, docs, rows,
        None if everything else (lambda row: may_read_weights(reg, s, user, row)),
    )  # fmt: skip
    from openward.registry.marks import export_copies

    return {"format": "openward-advisory-export/v1", "generated_at": _iso(_now()),
            "advisories": advisories, "flagged": docs,
            "clean_files": sorted(_published_digests(s)),
            "fingerprints": fingerprints,
            # Marked files of recipient copies: `check` relates a copy to its version.
            "recipient_copies": export_copies(reg, s, user)}  # fmt: skip


def check_submitted(reg: Registry, s: Session, digest: str, files: dict[str, str],
                    user: User | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """`POST /api/v1/check`: the export's matching, with only the submitted files that
    a quarantined version's weights include looked up among published versions (not
    every published file). A recipient's marked copy is matched as the published files
    it was cut from (:func:`recipient_copy_of` says what it is)."""
    from openward.registry.marks import export_copies, relate_copy

    files, published, _ = relate_copy(export_copies(reg, s, user, set(files.values())), files)
    digest = published or digest
    docs = _flagged_docs(reg, s)
    submitted = set(files.values())
    deferred = {d for v in docs if v["status"] == "quarantined" for d in v["weights"]}
    if any(v["status"] == "quarantined" and v["digest"] == digest for v in docs):
        deferred |= submitted  # an exact copy of a quarantined version: are its files published?
    return check_content(docs, _published_digests(s, deferred & submitted), digest, files)


def recipient_copy_of(reg: Registry, s: Session, user: User | None,
                      files: dict[str, str]) -> dict[str, Any] | None:  # fmt: skip
    """What a submitted copy is, if it holds marked files of a recipient copy."""
    from openward.registry.marks import export_copies, relate_copy

    return relate_copy(export_copies(reg, s, user, set(files.values())), files)[2]
