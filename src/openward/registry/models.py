"""The registry's data model (SQLAlchemy 2), one schema for SQLite and PostgreSQL.

A model version is its manifest: every file's path, size and SHA-256. Blobs are
content-addressed and shared between versions (and models), so a fine-tune that
reuses its base's tokenizer stores those bytes once. A version becomes visible only
through its status: ``uploading`` -> ``checking`` -> ``published`` |
``quarantined`` | ``needs-registration`` | ``needs-audit`` | ``needs-review``; every
change is a ``StatusEvent`` (the transparency log of the governance issue appends these).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "AccessRequest",
    "Advisory",
    "Audit",
    "Base",
    "Blob",
    "BlobOwner",
    "Download",
    "Fingerprint",
    "Grant",
    "LineageLink",
    "LineageReview",
    "LogEntry",
    "LogNode",
    "LogState",
    "Membership",
    "Model",
    "Organisation",
    "PublisherKey",
    "Registration",
    "StatusEvent",
    "Tag",
    "TakedownExemption",
    "TextWatermarkKey",
    "TextWatermarkTest",
    "Token",
    "User",
    "Version",
    "VersionFile",
    "WebSession",
]


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """The registry's tables (one metadata for Alembic)."""


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    is_admin: Mapped[bool] = mapped_column(default=False)
    is_reviewer: Mapped[bool] = mapped_column(default=False)
    """Reviews registrations of models above the compute threshold (any organisation)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    memberships: Mapped[list[Membership]] = relationship(back_populates="user")

    @property
    def publishes_everywhere(self) -> bool:
        """May push to any organisation: admins (and their ``publisher``-scoped tokens,
        see :class:`openward.registry.accounts.ScopedUser`)."""
        return self.is_admin


class Membership(Base):
    """A user's role in an organisation: ``publisher`` (may push) or ``reader``."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "organisation_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20))
    user: Mapped[User] = relationship(back_populates="memberships")
    organisation: Mapped[Organisation] = relationship()


class Token(Base):
    """An API token; only its SHA-256 is stored. Its ``scope`` is the most it may do
    (``reader`` < ``reviewer`` < ``publisher`` < ``admin``): its rights are the least
    of its scope and its user's current roles. None (tokens made before scopes): all of
    the user's rights."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    scope: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    user: Mapped[User] = relationship()


class WebSession(Base):
    """A browser session of the web UI, signed in with a token. The cookie holds a
    random id whose SHA-256 is stored here: signing out ends the row, so the cookie
    is worth nothing afterwards even though its signature is still valid."""

    __tablename__ = "web_sessions"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PublisherKey(Base):
    """A public key a user signs models with (OMS signatures checked on push)."""

    __tablename__ = "publisher_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    hint: Mapped[str] = mapped_column(String(64), index=True)
    pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    user: Mapped[User] = relationship()


class Blob(Base):
    """Bytes the store holds, verified against their SHA-256 on arrival."""

    __tablename__ = "blobs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class BlobOwner(Base):
    """A user who proved they hold a blob's bytes by uploading them. Content is shared
    between versions, but a push may reuse a stored blob only if its pusher uploaded it
    once or may download a version that lists it: knowing a digest is not enough."""

    __tablename__ = "blob_owners"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )


class Model(Base):
    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(String(200))
    access_tier: Mapped[str] = mapped_column(String(20), default="open", server_default="open")
    """``open`` (anyone), ``gated`` (approved requests) or ``restricted`` (named orgs)."""
    access_fields: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    """What a gated model's access request must answer (None: the default fields)."""
    access_tier_set_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    """Who set the current tier (None: the default, or the policy raised it)."""
    access_tier_floor: Mapped[str | None] = mapped_column(String(20), nullable=True)
    """The tier an admin set last: only an admin sets the model less closed than this
    (publishers may tighten it). None: no admin has set one."""
    watermark: Mapped[str] = mapped_column(String(20), default="none", server_default="none")
    """``none`` or ``per-recipient``: each grantee downloads a copy whose weights carry a
    mark of their grant (:mod:`openward.registry.marks`)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    organisation: Mapped[Organisation] = relationship()
    versions: Mapped[list[Version]] = relationship(back_populates="model")


class Version(Base):
    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    version: Mapped[str] = mapped_column(String(100))
    digest: Mapped[str] = mapped_column(String(64))
    """The OMS model digest of the manifest."""
    status: Mapped[str] = mapped_column(String(30), default="uploading")
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    # The scan report, facts, signature and attestation are loaded only when read
    # (deferred): for a 10,000-file version the first two are megabytes of JSON, and
    # parsing them on every download of one file made a full pull quadratic. Queries
    # that read ``facts`` of many versions say so (``undefer``).
    scan_report: Mapped[dict[str, object] | None] = mapped_column(
        JSON, nullable=True, deferred=True
    )
    facts: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True, deferred=True)
    signature: Mapped[str | None] = mapped_column(Text, nullable=True, deferred=True)
    signature_status: Mapped[str | None] = mapped_column(String(300), nullable=True)
    """``verified by KEY`` or why the uploaded signature does not verify."""
    attestation: Mapped[str | None] = mapped_column(Text, nullable=True, deferred=True)
    """The registry's signed statement of the outcome (DSSE bundle JSON)."""
    pushed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    takedown_of: Mapped[int | None] = mapped_column(ForeignKey("versions.id"), nullable=True)
    """For a version taken down because it carries the weights of another version that
    was taken down: that version (None for a version an admin took down itself)."""
    recheck_requested_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    """Set by a rescan: the version is checked again while it keeps its status (and
    stays downloadable if published) until the new verdict replaces it."""
    model: Mapped[Model] = relationship(back_populates="versions")
    files: Mapped[list[VersionFile]] = relationship(
        back_populates="version", order_by="VersionFile.path", cascade="all, delete-orphan"
    )
    """The whole manifest (a version may list 100,000 files): per-file requests look up
    one ``VersionFile`` by (version, path) instead (``Registry.version_file``)."""


class VersionFile(Base):
    __tablename__ = "version_files"
    __table_args__ = (UniqueConstraint("version_id", "path"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(String(1000))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    weight: Mapped[bool | None] = mapped_column(nullable=True)
    """Whether the file identifies its model (``check.identifies_model``: content, size,
    metadata names), set by the checks; None until classified."""
    version: Mapped[Version] = relationship(back_populates="files")


class TakedownExemption(Base):
    """An admin's decision that a version carrying the weights of a taken-down version
    stays served (``registry takedown --except``, ``registry takedown-exempt``)."""

    __tablename__ = "takedown_exemptions"
    __table_args__ = (UniqueConstraint("version_id", "original_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), index=True)
    original_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Tag(Base):
    """A moving name (``latest``) for a version of a model."""

    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("model_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    name: Mapped[str] = mapped_column(String(100))
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"))


class StatusEvent(Base):
    __tablename__ = "status_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(30))
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class AccessRequest(Base):
    """A user's request for a gated or restricted model, with the fields its
    publisher asks for, and the decision."""

    __tablename__ = "access_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    fields: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    model: Mapped[Model] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])


class Grant(Base):
    """Access to a model for a user or a whole organisation: scoped to versions (None:
    all) and an expiry, revocable."""

    __tablename__ = "grants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id"), nullable=True
    )
    versions: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("access_requests.id"), nullable=True)
    granted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    by_admin: Mapped[bool | None] = mapped_column(nullable=True)
    """Made with an admin's authority (an admin's token of admin scope), fixed when the
    grant is made: only such organisation grants open a restricted model, whatever
    becomes of the granter's roles later. NULL: made before this was recorded."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    model: Mapped[Model] = relationship()
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    organisation: Mapped[Organisation | None] = relationship()


class Download(Base):
    """One file download: who, what, when, with which token."""

    __tablename__ = "downloads"
    __table_args__ = (Index("ix_downloads_version_user_path", "version_id", "user_id", "path"),)
    """Finds a user's earlier download of one file (one record per file and hour)
    without reading every download of the version."""
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    token_id: Mapped[int | None] = mapped_column(ForeignKey("tokens.id"), nullable=True)
    path: Mapped[str] = mapped_column(String(1000))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    version: Mapped[Version] = relationship()
    user: Mapped[User | None] = relationship()


class Registration(Base):
    """A registration record for a version above the compute threshold, and the
    reviewer's decision; both signed by the registry (``attestation``)."""

    __tablename__ = "registrations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), index=True)
    submitted_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    record: Mapped[dict[str, object]] = mapped_column(JSON)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    """What the reviewer should look at (e.g. declared compute outside the estimate)."""
    status: Mapped[str] = mapped_column(String(20), default="pending")
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    attestation: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[Version] = relationship()


class Audit(Base):
    """A signed safety audit of a version (``openward audit --sign``, predicate
    ``https://openward.dev/attestation/audit/v1``) that someone attached, checked on
    arrival: signed by a registered key (``key_id``), subject the version's digest."""

    __tablename__ = "audits"
    __table_args__ = (UniqueConstraint("version_id", "statement_sha256"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), index=True)
    statement_sha256: Mapped[str] = mapped_column(String(64), index=True)
    """SHA-256 of the signed in-toto statement (the DSSE payload): the audit's digest."""
    key_id: Mapped[int] = mapped_column(ForeignKey("publisher_keys.id"))
    """The registered key that verified its signature (its user is the auditor)."""
    submitted_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    bundle: Mapped[str] = mapped_column(Text)
    """The Sigstore bundle (DSSE) as JSON: anyone re-verifies it with the key."""
    predicate: Mapped[dict[str, object]] = mapped_column(JSON)
    """The checked predicate (suites, rates, judge, decoding, auditor)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    version: Mapped[Version] = relationship()
    key: Mapped[PublisherKey] = relationship()


class Fingerprint(Base):
    """A checked version's weight fingerprint (``openward fingerprint`` JSON) and its
    index vector (:func:`openward.lineage.index.index_vector`, 256 float32 as bytes); or,
    for a version without fingerprintable weights, only why (``note``). ``id`` grows with
    every row written: an in-memory index reads the rows after the last id it saw."""

    __tablename__ = "fingerprints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("versions.id", ondelete="CASCADE"), unique=True
    )
    fingerprint: Mapped[str | None] = mapped_column(Text, nullable=True, deferred=True)
    vector: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class LineageLink(Base):
    """A version found ``identical`` to or ``derived`` from an earlier version of another
    model (its weights compared with ``openward.lineage.compare.compare``)."""

    __tablename__ = "lineage_links"
    __table_args__ = (UniqueConstraint("version_id", "base_version_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("versions.id", ondelete="CASCADE"), index=True
    )
    base_version_id: Mapped[int] = mapped_column(
        ForeignKey("versions.id", ondelete="CASCADE"), index=True
    )
    verdict: Mapped[str] = mapped_column(String(20))
    score: Mapped[float] = mapped_column(Float)
    p_value: Mapped[float] = mapped_column(Float)
    derivation: Mapped[list[str]] = mapped_column(JSON, default=list)
    safety_edit: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)
    """``detect_safety_edit`` against the base's weights (None: not run)."""
    declared_base: Mapped[list[str]] = mapped_column(JSON, default=list)
    """The ``base_model`` the version's card declares."""
    base_mismatch: Mapped[bool] = mapped_column(Boolean, default=False)
    """The card declares a base model, and none of its entries names a detected base."""
    closer_to_id: Mapped[int | None] = mapped_column(
        ForeignKey("versions.id", ondelete="SET NULL"), nullable=True
    )
    """The base's own base, when the version is nearer to it than to the base (a sibling
    of the base, or derived from its base): rules follow only links where this is None."""
    tier_waived_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    """An admin who set the derivative's tier below the base's: this link no longer
    raises it (later links, new evidence, do)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    version: Mapped[Version] = relationship(foreign_keys=[version_id])
    base: Mapped[Version] = relationship(foreign_keys=[base_version_id])


class LineageReview(Base):
    """A version held (``needs-review``) because its weights differ from a base's by a
    safety edit, and a reviewer's decision: ``released`` (it goes on to the verdict the
    checks gave otherwise, ``held_status``) or ``quarantined``."""

    __tablename__ = "lineage_reviews"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("versions.id", ondelete="CASCADE"), index=True
    )
    base_version_id: Mapped[int] = mapped_column(ForeignKey("versions.id", ondelete="CASCADE"))
    evidence: Mapped[dict[str, object]] = mapped_column(JSON)
    held_status: Mapped[str] = mapped_column(String(30))
    held_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    version: Mapped[Version] = relationship(foreign_keys=[version_id])
    base: Mapped[Version] = relationship(foreign_keys=[base_version_id])


class Advisory(Base):
    """A security advisory, served in the OSV schema."""

    __tablename__ = "advisories"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    versions: Mapped[list[str]] = mapped_column(JSON, default=list)
    severity: Mapped[str] = mapped_column(String(20))
    summary: Mapped[str] = mapped_column(String(300))
    details: Mapped[str] = mapped_column(Text, default="")
    references: Mapped[list[str]] = mapped_column(JSON, default=list)
    published: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    modified: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    model: Mapped[Model] = relationship()


class LogEntry(Base):
    """A leaf of the transparency log: one state change, as canonical JSON."""

    __tablename__ = "log_entries"
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(40))
    model: Mapped[str | None] = mapped_column(String(250), nullable=True, index=True)
    """``ORG/NAME`` the entry is about, if any (the model page lists its entries)."""
    body: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class LogNode(Base):
    """A perfect subtree's hash (level 0: leaves), so proofs cost O(log n) lookups."""

    __tablename__ = "log_nodes"
    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LogState(Base):
    """The log's size and right edge (one row, locked by every append)."""

    __tablename__ = "log_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    frontier: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)


class RecipientCopy(Base):
    """What one grant's marked copy of one version is: the SHA-256 of each marked file
    (``files``: path -> sha256, the files whose bytes differ from the original), the
    copy's manifest digest and the registry-signed OMS bundle over it. Computed once, on
    the first download or version lookup by a grantee, by streaming the marks."""

    __tablename__ = "recipient_copies"
    __table_args__ = (UniqueConstraint("grant_id", "version_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(
        ForeignKey("versions.id", ondelete="CASCADE"), index=True
    )
    digest: Mapped[str] = mapped_column(String(64), index=True)
    files: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    bundle: Mapped[str] = mapped_column(Text, deferred=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    grant: Mapped[Grant] = relationship()
    version: Mapped[Version] = relationship()


class RecipientFile(Base):
    """One marked file of a recipient copy, by its SHA-256: how `openward check` relates
    a file on disk to the version (and, for its publishers, the grant) it was cut from."""

    __tablename__ = "recipient_files"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    copy_id: Mapped[int] = mapped_column(ForeignKey("recipient_copies.id", ondelete="CASCADE"),
                                         index=True)  # fmt: skip
    path: Mapped[str] = mapped_column(String(1000))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    original: Mapped[str] = mapped_column(String(64))
    """The SHA-256 of the published file it marks."""
    copy: Mapped[RecipientCopy] = relationship()


class TextWatermarkKey(Base):
    """The text watermark key a model's publisher registered (one per model): its public
    identity (key id, scheme, tokenizer) and the key file itself, sealed (AES-256-GCM
    under a key derived from the registry's secret, bound to the model and key id). The
    registry tests texts with it; the key file never leaves the registry
    (:mod:`openward.registry.textmarks`)."""

    __tablename__ = "text_watermark_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), unique=True)
    key_id: Mapped[str] = mapped_column(String(64))
    scheme: Mapped[str] = mapped_column(String(20))
    tokenizer: Mapped[str] = mapped_column(String(200))
    """The tokenizer's name as the key file records it (a hint for people)."""
    vocab_sha256: Mapped[str] = mapped_column(String(64))
    sealed: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    """nonce (12 bytes) + AES-256-GCM ciphertext of the key file's JSON document."""
    registered_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    model: Mapped[Model] = relationship()


class TextWatermarkTest(Base):
    """One text test a user ran against a model's key, counted against
    ``Settings.text_watermark_tests_per_hour`` (:func:`openward.registry.textmarks.detect`).
    Kept for an hour: a user's older rows are removed when they test again. Publishers of
    the model and admins are not counted."""

    __tablename__ = "text_watermark_tests"
    __table_args__ = (Index("ix_text_watermark_tests_user_at", "user_id", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class RegistryState(Base):
    """Facts about the registry itself, by name: ``mark-secret`` holds the fingerprint of
    the secret per-recipient marks are keyed with (never the secret), so a replica that
    reads another secret refuses to start instead of serving copies nobody can trace."""

    __tablename__ = "registry_state"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
