"""Registry logic independent of HTTP: accounts and tokens, manifests, the check
pipeline that decides what becomes visible, and who may see what."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from openward.errors import OpenwardError
from openward.registry import tlog
from openward.registry.blobs import FileBlobStore, S3BlobStore, is_digest
from openward.registry.models import (
    BlobOwner,
    Model,
    Organisation,
    PublisherKey,
    StatusEvent,
    Tag,
    TakedownExemption,
    Token,
    User,
    Version,
    VersionFile,
)

__all__ = ["Registry", "RegistryError", "Settings"]

_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_VERSION: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")
VISIBLE: Final = "published"
HELD: Final = ("needs-registration", "needs-audit", "needs-review")
"""Held back by the policy (registration, a required audit) or for a reviewer (a safety edit
found against a registered base): not yet published, but the first publisher of its
weights."""
FINAL: Final = frozenset({"published", "quarantined", *HELD})
TAKEN_DOWN: Final = "taken-down"
LOGGED: Final = frozenset({*FINAL, TAKEN_DOWN})
"""Statuses whose every change is appended to the transparency log."""
_SEVERITY: Final = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


def _aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes for timezone-aware columns: they are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class RegistryError(Exception):
    """A refusal with an HTTP status and a message that says what to do."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


@dataclass
class Settings:
    data: Path
    database_url: str | None = None
    blob_url: str | None = None
    """``s3://bucket/prefix[?endpoint_url=…]``; None: files under ``data``."""
    broker_url: str | None = None
    """A Celery broker (``redis://…``); None: checks run in the server's own pool."""
    fail_on: str = "high"
    policy: Path | None = None
    """The compute policy (``openward inspect --policy`` format): thresholds and what the
    registry does above each (minimum access tier, registration, a required audit);
    None: the policy openward ships."""
    key_path: Path | None = None
    """The registry's signing key (PEM); default ``data/registry-signing.pem``, created once."""
    log_origin: str = "openward-registry"
    """The name signed into transparency-log tree heads."""
    mark_secret_path: Path | None = None
    """The secret per-recipient weight marks are keyed with (32 random bytes); default
    ``data/registry-mark-secret``, created once. Every API replica reads the same file."""
    mark_secret_rotate: bool = False
    """Accept a mark secret whose fingerprint is not the one recorded (a deliberate
    change): forget every recipient copy (made again, with the new marks, on next use)
    and record the new fingerprint. Without it such a start is refused."""
    max_trace_bytes: int = 64 << 30
    """Largest suspect upload ``POST /api/v1/models/{org}/{name}/trace`` reads (413 above)."""
    text_watermark_tests_per_hour: int = 60
    """Text tests (``POST /api/v1/models/{org}/{name}/text-watermark/detect``) one user may
    run in any hour, over every model and API replica (429 with ``Retry-After`` above);
    the model's publishers and admins are not limited. 0: unlimited."""
    max_file_bytes: int = 1 << 40
    max_files: int = 100_000
    max_json_bytes: int = 1 << 20
    """Largest request body (JSON or form) the server reads; larger ones get 413."""
    max_manifest_bytes: int = 64 << 20
    """Largest push manifest or ``check`` request from a caller with a valid token."""
    partial_expiry_seconds: float = 24 * 3600
    """Resumable uploads not appended to for this long are removed."""
    partial_quota_bytes: int = 256 << 30
    """Sum of the declared sizes of one user's resumable uploads in progress."""
    min_free_bytes: int = 256 << 20
    """Free space uploads never use (the database and logs need it): an upload that
    would leave less is refused with 507; at start-up and in sweeps, partial uploads
    are removed (oldest first) while less is free."""


def _ref(row: Version) -> str:
    return f"{row.model.organisation.name}/{row.model.name}:{row.version}"


def _requires_registration(facts: Any) -> bool:
    """Whether a version's checked facts cross a threshold that requires registration."""
    tiers = facts.get("tiers") if isinstance(facts, dict) else None
    return any(isinstance(t, dict) and t.get("crossed") and t.get("requires_registration")
               for t in tiers or [])  # fmt: skip


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(kind: str, value: str) -> str:
    pattern = _VERSION if kind == "version" else _NAME
    if not pattern.match(value) or value in (".", ".."):
        raise RegistryError(422, f"{kind} {value!r} is not valid (letters, digits, . _ -)")
    return value


def check_path(path: str, *, windows: bool = True) -> str:
    """``path`` if a manifest may list it: relative, inside the model, and (``windows``)
    the same file on Windows too; otherwise a 422 that says why."""
    from openward.registry.paths import manifest_path_problem, posix_problem

    problem = manifest_path_problem(path) if windows else posix_problem(path)
    if problem:
        raise RegistryError(422, problem)
    return path


SCRATCH_STALE_SECONDS: Final = 3600
"""A ``check-*`` leftover without a lock file (an older server's) is removed after this."""


def _try_lock(fh: Any) -> bool:
    """Take the scratch directory's lock without waiting (False: a check holds it)."""
    try:
        import fcntl
    except ImportError:  # Windows: scratch leftovers go by age alone
        return True
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


@contextlib.contextmanager
def check_scratch(root: Path) -> Iterator[Path]:
    """A ``check-*`` directory under ``root`` for one check (the version's files, its
    signature), locked while the check runs and removed however it ends; one that a
    killed process leaves is removed by :func:`sweep_scratch`."""
    scratch = Path(tempfile.mkdtemp(prefix="check-", dir=root))
    try:
        with open(scratch / ".lock", "w") as lock:
            _try_lock(lock)
            yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def sweep_scratch(root: Path, now: float | None = None) -> int:
    """Remove what killed checks left under ``root``: ``check-*`` directories whose
    lock no process holds, and (after an hour) lock-less ones and ``check-*.sig``
    files of older versions. Returns how many were removed."""
    import time

    now = time.time() if now is None else now
    removed = 0
    for entry in sorted(root.glob("check-*")):
        try:
            old = now - entry.lstat().st_mtime > SCRATCH_STALE_SECONDS
            if entry.is_dir() and not entry.is_symlink():
                lock_path = entry / ".lock"
                if lock_path.exists():
                    with open(lock_path, "a") as lock:
                        if not _try_lock(lock):
                            continue  # a running check (this process or another)
                        shutil.rmtree(entry, ignore_errors=True)
                elif old:
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    continue
            elif old:
                entry.unlink()
            else:
                continue
        except OSError:
            continue
        removed += 1
    return removed


DECISION_PREDICATE: Final = "https://openward.dev/attestation/registry-decision/v1"
REGISTRATION_PREDICATE: Final = "https://openward.dev/attestation/registration/v1"


class Registry:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        blobs: FileBlobStore | S3BlobStore,
    ):
        self.settings = settings
        self.sessions = sessions
        self.blobs = blobs
        self._key: Any = None
        self._mark_secret: bytes | None = None
        self._relatives: Any = None

    @property
    def relatives(self) -> Any:
        """This process's index of stored fingerprint vectors
        (:class:`openward.registry.lineage.RelativeIndex`), created on first use."""
        if self._relatives is None:
            from openward.registry.lineage import RelativeIndex

            self._relatives = RelativeIndex()
        return self._relatives

    @property
    def scratch_root(self) -> Path:
        """Where checks copy a version's files (beside the upload staging directory)."""
        return self.blobs.tmp.parent

    def sweep_scratch(self) -> int:
        return sweep_scratch(self.scratch_root)

    @property
    def signing_key(self) -> Any:
        """The registry's ECDSA P-256 key, created on first use (mode 0600)."""
        if self._key is None:
            from openward.signing.keys import generate_key, load_private_key, write_key_pair

            path = self.settings.key_path or self.settings.data / "registry-signing.pem"
            if not path.exists():
                try:
                    write_key_pair(generate_key(), path, path.with_suffix(".pub"))
                except OpenwardError:  # another process created it first
                    if not path.exists():
                        raise
            self._key = load_private_key(path)
        return self._key

    @property
    def mark_secret(self) -> bytes:
        """The secret per-recipient marks are keyed with (never leaves the registry),
        checked against the fingerprint the database records (:func:`marks.load_secret`)."""
        if self._mark_secret is None:
            from openward.registry.marks import load_secret

            self._mark_secret = load_secret(self)
        return self._mark_secret

    @property
    def mark_secret_path(self) -> Path:
        return self.settings.mark_secret_path or self.settings.data / "registry-mark-secret"

    def public_key_pem(self) -> str:
        from openward.signing.keys import public_pem

        return public_pem(self.signing_key.public_key()).decode()

    def sign_decision(
        self, row: Version, scan_doc: dict[str, Any], facts_doc: dict[str, Any]
    ) -> str:
        """The registry's signed statement of a check outcome (DSSE bundle JSON)."""
        from datetime import UTC, datetime

        from openward.signing.bundle import INTOTO_PAYLOAD_TYPE, STATEMENT_TYPE, make_bundle, pae
        from openward.signing.keys import key_hint, sign_bytes

        summary = scan_doc.get("summary", {})
        params = facts_doc.get("parameters") or {}
        statement = {
            "_type": STATEMENT_TYPE,
            "subject": [{"name": f"{row.model.organisation.name}/{row.model.name}:{row.version}",
                         "digest": {"sha256": row.digest}}],
            "predicateType": DECISION_PREDICATE,
            "predicate": {
                "status": row.status,
                "reasons": row.reasons,
                "scan": {"max_severity": summary.get("max_severity"),
                         "findings": summary.get("findings_total")},
                "parameters": params.get("total") if isinstance(params, dict) else None,
                "compute": facts_doc.get("compute"),
                "decided_at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
        }  # fmt: skip
        payload = json.dumps(statement, separators=(",", ":")).encode()
        key = self.signing_key
        bundle = make_bundle(payload, sign_bytes(key, pae(INTOTO_PAYLOAD_TYPE, payload)),
                             key_hint(key.public_key()))  # fmt: skip
        return json.dumps(bundle)

    def sign_statement(self, name: str, digest: str, predicate_type: str,
                       predicate: dict[str, Any]) -> str:  # fmt: skip
        """An in-toto statement about ``name`` (sha256 ``digest``) signed by the
        registry's key, as a DSSE bundle (JSON)."""
        from openward.signing.bundle import INTOTO_PAYLOAD_TYPE, STATEMENT_TYPE, make_bundle, pae
        from openward.signing.keys import key_hint, sign_bytes

        statement = {"_type": STATEMENT_TYPE,
                     "subject": [{"name": name, "digest": {"sha256": digest}}],
                     "predicateType": predicate_type, "predicate": predicate}  # fmt: skip
        payload = json.dumps(statement, separators=(",", ":")).encode()
        key = self.signing_key
        bundle = make_bundle(payload, sign_bytes(key, pae(INTOTO_PAYLOAD_TYPE, payload)),
                             key_hint(key.public_key()))  # fmt: skip
        return json.dumps(bundle)

    def sign_registration(self, entry: Any, reviewer: str) -> str:
        """The registration record and the reviewer's decision, signed together."""
        row = entry.version
        return self.sign_statement(
            f"{row.model.organisation.name}/{row.model.name}:{row.version}", row.digest,
            REGISTRATION_PREDICATE,
            {"record": entry.record, "flags": entry.flags,
             "decision": {"status": entry.status, "reason": entry.reason, "reviewer": reviewer,
                          "decided_at": datetime.now(UTC).isoformat(timespec="seconds")}},
        )  # fmt: skip

    def sign_bytes(self, data: bytes) -> bytes:
        from openward.signing.keys import sign_bytes

        signature: bytes = sign_bytes(self.signing_key, data)
        return signature

    # -- accounts -----------------------------------------------------------
    def bootstrap_admin(self) -> str | None:
        """Create the first admin and return its token, once (None when one exists:
        ``openward registry init`` or an earlier start made it)."""
        from sqlalchemy.exc import IntegrityError

        from openward.registry import accounts

        try:
            with self.sessions.begin() as s:
                if s.scalar(select(User.id).where(User.is_admin).limit(1)) is not None:
                    return None
                admin = User(name="admin", is_admin=True)
                s.add(admin)
                s.flush()
                tlog.append(s, "user-created", {"user": admin.name, "admin": True,
                                                "reviewer": False, "by": "bootstrap"})  # fmt: skip
                return accounts.new_token(s, admin, "admin", "first admin")
        except IntegrityError:  # another process created the first admin at the same time
            return None

    def admin_exists(self) -> bool:
        with self.sessions() as s:
            return s.scalar(select(User.id).where(User.is_admin).limit(1)) is not None

    def user_for(self, s: Session, token: str | None) -> User | None:
        """Who a request with ``token`` acts as: its user, narrowed to the token's scope
        (:func:`openward.registry.accounts.principal`)."""
        from openward.registry.accounts import principal

        if not token:
            return None
        row = s.scalar(select(Token).where(Token.digest == hash_token(token)))
        if row is None or row.revoked_at is not None:
            raise RegistryError(401, "the token is unknown or revoked: ask an admin for a new one")
        return principal(row)

    def create_user(
        self, s: Session, actor: User | None, name: str, org: str | None, role: str
    ) -> str:
        """A new token for ``name``, scoped to ``role`` (admins only). A user that does
        not exist yet is created with that role (in ``org``); an existing user is never
        changed: the scope must be within their roles (``set_roles`` changes those)."""
        from openward.registry import accounts

        self._admin(actor)
        assert actor is not None
        check_name("user", name)
        if role not in accounts.SCOPES:
            raise RegistryError(422, "role must be admin, publisher, reader or reviewer")
        if org is not None:
            check_name("organisation", org)
        user = s.scalar(select(User).where(User.name == name))
        if user is None:
            user = accounts.create_with_role(s, self, actor, name, org, role)
        else:
            problem = accounts.scope_problem(user, role, org)
            if problem is not None:
                raise RegistryError(409, problem)
        return accounts.new_token(s, user, role, f"{role} {name}")

    def revoke_tokens(self, s: Session, actor: User | None, user_name: str | None,
                      current: str | None) -> tuple[str, int]:  # fmt: skip
        """Revoke every token of ``user_name`` (admins), or the caller's own token."""
        if actor is None:
            raise RegistryError(401, "revoking tokens needs a token")
        now = datetime.now(UTC)
        if user_name is None or (user_name == actor.name and not actor.is_admin):
            row = s.scalar(select(Token).where(Token.digest == hash_token(current or "")))
            assert row is not None  # the caller authenticated with it
            row.revoked_at = now
            tlog.append(s, "token-revoked", {"user": actor.name, "tokens": 1, "by": actor.name})
            return actor.name, 1
        self._admin(actor)
        target = s.scalar(select(User).where(User.name == user_name))
        if target is None:
            raise RegistryError(404, f"user {user_name!r} does not exist")
        rows = s.scalars(select(Token).where(Token.user_id == target.id,
                                             Token.revoked_at.is_(None))).all()  # fmt: skip
        for row in rows:
            row.revoked_at = now
        tlog.append(s, "token-revoked", {"user": target.name, "tokens": len(rows),
                                         "by": actor.name})  # fmt: skip
        return target.name, len(rows)

    def _admin(self, actor: User | None) -> None:
        if actor is None:
            raise RegistryError(401, "this needs a token (--token or OPENWARD_TOKEN)")
        if not actor.is_admin:
            raise RegistryError(403, "only an admin may do this")

    def _org(self, s: Session, name: str, *, create: bool = False) -> Organisation:
        org = s.scalar(select(Organisation).where(Organisation.name == name))
        if org is None:
            if not create:
                raise RegistryError(404, f"organisation {name!r} does not exist")
            org = Organisation(name=check_name("organisation", name))
            s.add(org)
            s.flush()
        return org

    def can_publish(self, s: Session, user: User | None, org: str) -> bool:
        if user is None:
            return False
        if user.is_admin or user.publishes_everywhere:
            return True
        return any(m.organisation.name == org and m.role == "publisher" for m in user.memberships)

    # -- publisher keys ---------------------------------------------------------
    def add_key(self, s: Session, user: User | None, pem: str, challenge: str | None = None,
                signature: str | None = None) -> str:  # fmt: skip
        """Register a public key for the caller, who proves they hold its private key by
        signing a challenge (:func:`openward.registry.accounts.key_challenge`); returns
        its OMS key hint. Only publishers and admins register keys.

        One user holds a key at a time. A key revoked while its holder held it stays
        revoked for them (a compromised key does not come back); a registration revoked
        while *another* user held the key (a squatter, or a key handed over) does not
        stop whoever proves they hold it now."""
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        from openward.registry import accounts
        from openward.signing.keys import key_hint

        accounts.need_key_rights(user)
        try:
            key = load_pem_public_key(pem.encode())
        except (ValueError, TypeError):
            raise RegistryError(422, "not a PEM public key (ECDSA or Ed25519)") from None
        if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey) or (
            isinstance(key, ec.EllipticCurvePublicKey)
            and key.curve.name not in ("secp256r1", "secp384r1", "secp521r1")
        ):
            raise RegistryError(422, "only ECDSA (P-256/384/521) and Ed25519 keys are supported")
        hint = key_hint(key)
        actor = accounts.verify_key_proof(self, user, key, challenge, signature)
        same = s.scalars(select(PublisherKey).where(PublisherKey.hint == hint)).all()
        mine = [k for k in same if k.user_id == actor.id]
        if any(k.revoked_at is not None for k in mine):
            raise RegistryError(409, f"key {hint[:16]} was revoked; generate a new key")
        held = [k for k in same if k.user_id != actor.id and k.revoked_at is None]
        if held:
            raise RegistryError(
                409, f"key {hint[:16]} is registered by another user; if that registration "
                "was not theirs to make, an admin revokes it (openward registry key revoke "
                f"{hint[:16]} --reason …) and you register the key again"
            )  # fmt: skip
        if not mine:
            s.add(PublisherKey(user_id=actor.id, hint=hint, pem=pem))
            tlog.append(s, "key-added", {"user": actor.name, "key": hint,
                                         "proof": accounts.KEY_PROOF_CONTEXT})  # fmt: skip
        return hint

    def revoke_key(self, s: Session, user: User | None, hint: str, reason: str) -> PublisherKey:
        """Revoke a publisher key (its owner or an admin): signatures it makes on versions
        pushed from now on stop verifying; versions pushed before keep theirs."""
        if user is None:
            raise RegistryError(401, "revoking a key needs a token")
        from openward.registry.accounts import SCOPES, scope_of

        scope = scope_of(user)
        if scope is not None and SCOPES.index(scope) < SCOPES.index("publisher"):
            # A token for reading (a CI job's, say) must not be able to end its user's
            # signing key for good: a revoked key never comes back for its holder.
            raise RegistryError(
                403, f"this token's scope is {scope}: revoking a signing key needs one of "
                "your publisher tokens (or an admin)"
            )  # fmt: skip
        if not re.fullmatch(r"[0-9a-f]{8,64}", hint):
            raise RegistryError(422, "a key hint is 8 to 64 lower-case hex digits")
        rows = s.scalars(
            select(PublisherKey).where(PublisherKey.hint.startswith(hint, autoescape=True))
        ).all()
        rows = [k for k in rows if user.is_admin or k.user_id == user.id]
        if not rows:
            raise RegistryError(404, f"no key of yours starts with {hint!r} (8+ hex digits)")
        if len(rows) > 1:  # the same key revoked for one user and held by another
            rows = [k for k in rows if k.revoked_at is None] or rows[-1:]
        if len(rows) > 1:
            raise RegistryError(409, f"{hint!r} matches {len(rows)} keys: give more digits")
        key = rows[0]
        if key.revoked_at is None:
            key.revoked_at = datetime.now(UTC)
            tlog.append(s, "key-revoked", {"user": key.user.name, "key": key.hint,
                                           "reason": reason, "by": user.name})  # fmt: skip
        return key

    def _check_signature(self, version_id: int, work: Path) -> tuple[str, bool]:
        """(status text, ok) for the version's uploaded OMS signature, checked with the
        keys the pusher registered."""
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        from openward.errors import OpenwardError
        from openward.signing.oms import verify_model

        with self.sessions() as s:
            row = s.get(Version, version_id)
            if row is None or not row.signature:
                return "", True
            keys = s.scalars(
                select(PublisherKey).where(PublisherKey.user_id == row.pushed_by)
            ).all()
            # The pusher's own registrations decide: another user's revoked registration
            # of the same key (a squatter's) says nothing about this one.
            revoked_at = {k.hint: _aware(k.revoked_at) for k in keys
                          if k.revoked_at is not None}  # fmt: skip
            # The registry saw the signature when the version was pushed: a key revoked
            # after that still vouches for it, one revoked before does not.
            pushed = _aware(row.created_at)
            signature = row.signature
            pems = [(k.hint, k.pem) for k in keys
                    if k.hint not in revoked_at or revoked_at[k.hint] > pushed]  # fmt: skip
            revoked = [k.hint for k in keys
                       if k.hint in revoked_at and revoked_at[k.hint] <= pushed]  # fmt: skip
        if not pems:
            if revoked:
                return (f"signature uploaded but the publisher's key {revoked[0][:16]} was "
                        "revoked before this push"), False  # fmt: skip
            return "signature uploaded but the publisher has registered no key", False
        sig_path = work.parent / (work.name + ".sig")
        sig_path.write_text(signature)
        problems: list[str] = []
        for hint, pem in pems:
            try:
                result = verify_model(work, sig_path, load_pem_public_key(pem.encode()))  # type: ignore[arg-type]
            except OpenwardError as exc:
                return f"signature unreadable: {exc}", False
            if result.ok:
                return f"verified by key {hint[:16]}", True
            if not any(p.kind == "wrong-key" for p in result.problems):
                problems = result.lines()
                break
        if not problems:
            if revoked:
                return ("signature made with a key the publisher has not registered, or one "
                        f"revoked before this push ({revoked[0][:16]})"), False  # fmt: skip
            return "signature made with a key the publisher has not registered", False
        return "signature does not verify: " + "; ".join(problems[:3]), False

    # -- pushing ------------------------------------------------------------
    def start_version(
        self, s: Session, user: User | None, org: str, name: str, version: str,
        files: list[dict[str, Any]], signature: str | None,
    ) -> tuple[Version, list[str]]:  # fmt: skip
        """Record the manifest; return the version and the digests the server lacks."""
        check_name("organisation", org)
        check_name("model", name)
        check_name("version", version)
        if user is None:
            raise RegistryError(401, "pushing needs a token (--token or OPENWARD_TOKEN)")
        if not self.can_publish(s, user, org):
            raise RegistryError(
                403, f"{user.name} may not push to {org!r}: ask an admin for the publisher role"
            )
        if not files:
            raise RegistryError(422, "the manifest lists no files")
        if len(files) > self.settings.max_files:
            raise RegistryError(413, f"more than {self.settings.max_files} files")
        seen: set[str] = set()
        entries = []
        for f in files:
            path = check_path(str(f.get("path", "")))
            digest = str(f.get("sha256", ""))
            size = f.get("size")
            if path in seen:
                raise RegistryError(422, f"{path} appears twice in the manifest")
            seen.add(path)
            if not is_digest(digest):
                raise RegistryError(422, f"{path}: sha256 must be 64 lower-case hex digits")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise RegistryError(422, f"{path}: size must be a non-negative integer")
            if size > self.settings.max_file_bytes:
                raise RegistryError(413, f"{path}: {size} bytes is over the server's limit")
            entries.append((path, size, digest))
        entries.sort()
        from openward.registry.paths import manifest_paths_problem

        problem = manifest_paths_problem(p for p, _, _ in entries)
        if problem:
            raise RegistryError(422, problem)
        stored = self._stored_sizes(entries)
        from openward.signing.manifest import FileDigest, model_digest

        digest = model_digest([FileDigest(p, d, n) for p, n, d in entries])
        organisation = self._org(s, org, create=user.is_admin)
        model = s.scalar(
            select(Model).where(Model.organisation_id == organisation.id, Model.name == name)
        )
        if model is None:
            model = Model(organisation_id=organisation.id, name=name)
            s.add(model)
            s.flush()
        existing = s.scalar(
            select(Version).where(Version.model_id == model.id, Version.version == version)
        )
        if existing is not None:
            if existing.digest != digest:
                raise RegistryError(
                    409, f"{org}/{name}:{version} exists with other files; versions are "
                    "immutable: push a new version"
                )  # fmt: skip
            row = existing
        else:
            row = Version(model_id=model.id, version=version, digest=digest, status="uploading",
                          size=sum(n for _, n, _ in entries), signature=signature,
                          pushed_by=user.id)  # fmt: skip
            row.files = [VersionFile(path=p, size=n, sha256=d) for p, n, d in entries]
            s.add(row)
            s.flush()
            s.add(StatusEvent(version_id=row.id, status="uploading", reasons=[]))
        have = {d for d, n in stored.items() if n is not None}
        held = self.held_many(s, user, [d for _, _, d in entries], stored=have)
        missing = sorted({d for _, _, d in entries if d not in held})
        return row, missing

    def _stored_sizes(self, entries: list[tuple[str, int, str]]) -> dict[str, int | None]:
        """The stored size of each digest of (path, size, digest) ``entries`` (None: not
        stored), asked of the store together; a declared size that differs from a stored
        blob's is refused."""
        stored = self.blobs.sizes_many(sorted({d for _, _, d in entries}))
        for path, size, digest in entries:
            actual = stored.get(digest)
            if actual is not None and actual != size:
                raise RegistryError(
                    422, f"{path}: the manifest declares {size} bytes, but the content with "
                    f"SHA-256 {digest} has {actual} bytes: fix the manifest (push a new "
                    "version)"
                )  # fmt: skip
        return stored

    def held_many(self, s: Session, user: User, digests: list[str], *,
                  stored: set[str] | None = None) -> set[str]:  # fmt: skip
        """The digests of ``digests`` that :meth:`held_for` allows, asked together: the
        store about all of them at once (concurrent requests to S3), the uploads on
        record in batches. One at a time, a manifest of 10,000 files took 10,000 object
        store round trips in a row, longer than a client waits for an answer.
        ``stored``: the digests the store holds, when the caller knows already."""
        wanted = sorted(set(digests))
        stored = self.blobs.has_many(wanted) if stored is None else stored & set(wanted)
        if user.is_admin or not stored:
            return stored
        owned: set[str] = set()
        ordered = sorted(stored)
        for i in range(0, len(ordered), 500):
            owned.update(s.scalars(select(BlobOwner.sha256).where(
                BlobOwner.user_id == user.id, BlobOwner.sha256.in_(ordered[i : i + 500])
            )))  # fmt: skip
        # Stored, but not uploaded by this user: the full rule, one by one (rare: a
        # version re-using files of another publisher's).
        return owned | {d for d in stored - owned if self.held_for(s, user, d, stored=True)}

    def held_for(self, s: Session, user: User, digest: str, *,
                 stored: bool | None = None) -> bool:  # fmt: skip
        """Whether a push by ``user`` may use the stored blob ``digest`` without sending
        its bytes: it is stored, and ``user`` uploaded it once, may download a version
        that lists it, or is an admin. Knowing a digest (manifests are public) must not
        copy a gated model or a taken-down one into another organisation.
        ``stored``: whether the blob is stored, when the caller knows already."""
        if not (self.blobs.has(digest) if stored is None else stored):
            return False
        if user.is_admin:
            return True
        owned = s.scalar(select(BlobOwner.sha256).where(BlobOwner.sha256 == digest,
                                                        BlobOwner.user_id == user.id))  # fmt: skip
        if owned is not None:
            return True
        from openward.registry.governance import may_download

        rows = s.scalars(
            select(Version).join(VersionFile)
            .where(VersionFile.sha256 == digest, Version.status == VISIBLE).limit(20)
        ).all()  # fmt: skip
        for row in rows:
            try:
                may_download(self, s, user, row)
            except RegistryError:
                continue
            return True
        return False

    def record_owner(self, user_id: int, digest: str) -> None:
        """``user_id`` uploaded the bytes of ``digest`` (verified against it)."""
        from sqlalchemy.exc import IntegrityError

        # IntegrityError: a concurrent upload of the same bytes recorded it first.
        with contextlib.suppress(IntegrityError), self.sessions.begin() as s:
            if s.get(BlobOwner, (digest, user_id)) is None:
                s.add(BlobOwner(sha256=digest, user_id=user_id))

    def expected_size(self, s: Session, user: User | None, digest: str) -> int:
        """The size an uploading version of ``user``'s declares for ``digest``."""
        if user is None:
            raise RegistryError(401, "uploading needs a token")
        # One query for every upload (a push of 10,000 files makes 10,000 of them): the
        # sizes with who pushed each manifest and where, no ORM objects to lazy-load.
        rows = s.execute(
            select(VersionFile.size, Version.pushed_by, Organisation.name)
            .join(Version, VersionFile.version_id == Version.id)
            .join(Model, Version.model_id == Model.id)
            .join(Organisation, Model.organisation_id == Organisation.id)
            .where(VersionFile.sha256 == digest, Version.status == "uploading")
            .order_by(VersionFile.id)
        ).all()  # fmt: skip
        # The caller's own manifests first: another publisher's manifest listing the same
        # digest with a wrong size must not decide the size of an admin's upload.
        refused = None
        for size, pushed_by, org in rows:
            if pushed_by == user.id:
                if user.is_admin or self.can_publish(s, user, org):
                    return int(size)
                # A token scoped below publisher (or a user who lost the role since)
                # sends no bytes, as it may send no manifest.
                refused = org
        if user.is_admin and rows:
            return int(rows[0][0])
        if refused is not None:
            raise RegistryError(403, f"{user.name} may not push to {refused!r} with this token")
        raise RegistryError(
            404, f"no version you are pushing lists {digest}: send its manifest first"
        )

    def ready_to_check(self, s: Session, user: User | None, org: str, name: str,
                       version: str) -> Version:  # fmt: skip
        row = self.find_version(s, user, org, name, version)
        if not self.can_publish(s, user, org):
            raise RegistryError(403, f"you may not push to {org!r}")
        if row.status != "uploading":
            return row
        assert user is not None  # can_publish refused anonymous callers
        # A blob stored after the manifest was sent must have the declared size too.
        listed = s.execute(select(VersionFile.path, VersionFile.size, VersionFile.sha256)
                           .where(VersionFile.version_id == row.id)).all()  # fmt: skip
        stored = self._stored_sizes([(p, n, d) for p, n, d in listed])
        have = {d for d, n in stored.items() if n is not None}
        missing = sorted(set(stored) - self.held_many(s, user, sorted(stored), stored=have))
        if missing:
            raise RegistryError(
                409, f"{len(missing)} file(s) not uploaded yet (e.g. {missing[0]}): upload them, "
                "then commit again"
            )  # fmt: skip
        self._set_status(s, row, "checking", [])
        return row

    def _set_status(self, s: Session, row: Version, status: str, reasons: list[str]) -> None:
        row.status = status
        row.reasons = reasons
        decided = reasons  # what the check decided: logged (the notes below are not)
        if status not in FINAL:
            # Taken down (or back to a first check): a pending recheck no longer applies.
            row.recheck_requested_at = None
        if status in (VISIBLE, *HELD):
            from openward.registry.governance import enforce_minimum_tier
            from openward.registry.marks import withheld_notes

            enforce_minimum_tier(s, row.model, self)
            # With marks on (the publisher's or the policy's), say which weight files of
            # this version its recipients will not receive (kept out of the public log:
            # the version's page and its publisher see them).
            reasons = [*reasons, *withheld_notes(self, s, row.model, [row])]
            row.reasons = reasons
        s.add(StatusEvent(version_id=row.id, status=status, reasons=reasons))
        if status in LOGGED:
            tlog.append(s, status, {
                "model": f"{row.model.organisation.name}/{row.model.name}",
                "version": row.version, "digest": row.digest, "reasons": decided[:20],
            })  # fmt: skip
        self._retag(s, row)

    def _retag(self, s: Session, row: Version) -> None:
        """Point the model's ``latest`` at its newest published version in version order
        (creation order: the highest id), whichever check finished last; drop the tag
        when no version is published."""
        s.flush()
        # Concurrent decisions on versions of one model would both read the tag and
        # both insert or move it; the model row's lock orders them (PostgreSQL; SQLite
        # serialises writers anyway, and the flush above made this one a writer).
        s.execute(select(Model.id).where(Model.id == row.model_id).with_for_update())
        newest = s.scalar(
            select(func.max(Version.id)).where(Version.model_id == row.model_id,
                                               Version.status == VISIBLE)
        )  # fmt: skip
        tag = s.scalar(select(Tag).where(Tag.model_id == row.model_id, Tag.name == "latest"))
        if newest is None:
            if tag is not None:
                s.delete(tag)
        elif tag is None:
            s.add(Tag(model_id=row.model_id, name="latest", version_id=newest))
        elif tag.version_id != newest:
            tag.version_id = newest

    # -- the check pipeline ---------------------------------------------------
    def run_checks(self, version_id: int) -> None:
        """Scan and inspect the stored files, then publish, quarantine or hold the version.

        Fails closed: if the first checks of a version break, it is quarantined with the
        error as its reason instead of staying in ``checking`` unseen. A recheck (after
        ``rescan``) that breaks leaves the verdict the version already had, and says so in
        its history."""
        requested: list[datetime | None] = []
        try:
            self._run_checks(version_id, requested)
        except Exception as exc:
            why = f"{type(exc).__name__}: {exc}"
            with self.sessions.begin() as s:
                row = s.get(Version, version_id, with_for_update=True)
                if row is not None and row.status == "checking":
                    self._set_status(
                        s, row, "quarantined",
                        [f"the checks could not complete ({why}); "
                         "an admin can re-run them with openward registry rescan"],
                    )  # fmt: skip
                elif (row is not None and requested and requested[0] is not None
                      and row.recheck_requested_at == requested[0]):  # fmt: skip
                    row.recheck_requested_at = None
                    s.add(StatusEvent(version_id=row.id, status=row.status, reasons=[
                        f"the recheck could not complete ({why}); the previous verdict "
                        "stands: an admin can run openward registry rescan again"
                    ]))  # fmt: skip
            raise

    def _run_checks(self, version_id: int, requested: list[datetime | None]) -> None:
        import openward
        from openward.facts.model import inspect_model
        from openward.report.facts_json import facts_document
        from openward.report.json import report_document
        from openward.scanning.interface import Severity

        with self.sessions.begin() as s:
            row = s.get(Version, version_id)
            if row is None:
                return
            requested.append(row.recheck_requested_at)
            recheck = row.status in FINAL and row.recheck_requested_at is not None
            if row.status != "checking" and not recheck:
                return  # decided already (a repeated task), or taken down
            # Columns, not ORM objects: a version may list 100,000 files.
            files = s.execute(
                select(VersionFile.path, VersionFile.sha256, VersionFile.size)
                .where(VersionFile.version_id == version_id)
            ).all()  # fmt: skip
        with check_scratch(self.scratch_root) as scratch:
            work = scratch / "model"  # the signature goes beside it, in scratch too
            self.blobs.link_many([(digest, size, work / path) for path, digest, size in files])
            from openward.registry.check import file_identifies_model

            identifying = {path: file_identifies_model(path, work / path)
                           for path, _, _ in files}  # fmt: skip
            report = openward.scan(work, jobs=1)
            facts = inspect_model(work, policy=self.settings.policy)
            signature_status, signature_ok = self._check_signature(version_id, work)
            from openward.registry import lineage

            found = lineage.examine(self, version_id, work, scratch)
            scan_doc = report_document(report)
            facts_doc = facts_document(facts)
            threshold = Severity(self.settings.fail_on)
            reasons = [
                f"{f.severity.value} {f.rule_id} in {f.path}"
                + (f"!{f.member}" if f.member else "")
                + (f": {f.evidence}" if f.evidence else "")
                for f in report.at_or_above(threshold)
            ]
            if not signature_ok:
                reasons.insert(0, signature_status)
            status = "quarantined" if reasons else VISIBLE
            if status == VISIBLE:
                held = [t for t in facts.tiers if t.crossed and t.requires_registration]
                if held:
                    status = "needs-registration"
                    reasons = [
                        f"training compute {facts.compute.flop:.3g} FLOP crosses {t.id} "  # type: ignore[union-attr]
                        f"({t.threshold_flop:.3g} FLOP): registration required"
                        for t in held
                    ]
        with self.sessions.begin() as s:
            # The log's lock first: a takedown deciding at the same moment either sees
            # this version published (and reaches it) or is seen by it (and holds it).
            tlog.lock(s)
            row = s.get(Version, version_id, with_for_update=True)
            if row is None:
                return
            if row.status == "checking":
                pass  # the first verdict
            elif row.status in FINAL and row.recheck_requested_at is not None:
                # A recheck: the new verdict replaces the one the version kept meanwhile.
                # A newer rescan's request stays pending (its own task clears it).
                if row.recheck_requested_at == requested[0]:
                    row.recheck_requested_at = None
            else:
                # Taken down while the checks ran (theirs stands), or a repeated task
                # applied this recheck already.
                return
            for weight in (True, False):
                paths = sorted(p for p, w in identifying.items() if w is weight)
                for i in range(0, len(paths), 500):
                    chunk = update(VersionFile).where(
                        VersionFile.version_id == version_id,
                        VersionFile.path.in_(paths[i : i + 500]),
                    )  # fmt: skip
                    s.execute(chunk.values(weight=weight),
                              execution_options={"synchronize_session": False})  # fmt: skip
            flagged = self._flagged_content(s, row)
            applied = lineage.apply(self, s, row, found, facts_doc)
            flagged += applied.quarantine
            if flagged:
                status = "quarantined"
                reasons = [*flagged, *reasons]
            if status == VISIBLE:
                inherited = self._inherited_hold(s, row)
                if inherited:
                    status, reasons = "needs-registration", inherited
            if status == "needs-registration":
                from openward.registry.models import Registration

                accepted = s.scalar(select(Registration.id).where(
                    Registration.version_id == version_id, Registration.status == "accepted"
                ))  # fmt: skip
                if accepted is not None:  # a rescan keeps an accepted registration
                    status, reasons = VISIBLE, []
            if status == VISIBLE:
                from openward.registry.audits import NEEDS_AUDIT, audit_hold

                missing = audit_hold(self, s, row, facts_doc)
                if missing:
                    status, reasons = NEEDS_AUDIT, missing
            if applied.review is not None and status in (VISIBLE, *HELD):
                reasons = lineage.hold_for_review(s, row, applied, status, reasons)
                status = lineage.NEEDS_REVIEW
            else:
                lineage.supersede(s, row)
            reasons = [*reasons, *applied.flags]
            row.signature_status = signature_status or None
            row.scan_report = json.loads(json.dumps(scan_doc))
            row.facts = json.loads(json.dumps(facts_doc))
            self._set_status(s, row, status, reasons[:100])
            row.attestation = self.sign_decision(row, scan_doc, facts_doc)

    # -- content shared between versions ---------------------------------------
    def classify(self, files: list[VersionFile]) -> None:
        """Decide which of ``files`` identify their model (``check.identifies_model``)
        where the checks have not yet (versions checked before revision 0005): from the
        stored blob's first bytes, or by size and name if the blob is not stored."""
        from openward.registry.check import SNIFF_BYTES, identifies_model

        for f in files:
            if f.weight is None:
                head = self.blobs.read(f.sha256, SNIFF_BYTES) if self.blobs.has(f.sha256) else b""
                f.weight = identifies_model(f.path, f.size, head)

    def identifying(self, row: Version) -> dict[str, str]:
        """sha256 -> path of the version's files that identify its model."""
        self.classify(row.files)
        return {f.sha256: f.path for f in row.files if f.weight}

    def takedown_root(self, s: Session, row: Version) -> Version:
        """The version whose takedown reached ``row`` (``row`` itself if an admin took it
        down, or it is not taken down)."""
        if row.takedown_of is None:
            return row
        return s.get(Version, row.takedown_of) or row

    def takedown_weights(self, s: Session, row: Version) -> set[str]:
        """The digests a taken-down (or flagged) version makes others match: the files
        that identify it, less those an earlier version of another organisation
        published and still serves (:meth:`earlier_elsewhere`: a copy's takedown never
        reaches the original it copied); for a copy a takedown reached, only those of
        the original."""
        mine = set(self.identifying(row))
        root = self.takedown_root(s, row)
        if root is not row:
            return mine & self.takedown_weights(s, root)
        return mine - set(self.earlier_elsewhere(s, row, mine))

    def earlier_elsewhere(self, s: Session, row: Version,
                          digests: set[str] | dict[str, str]) -> dict[str, Version]:  # fmt: skip
        """digest -> the earliest version published (or held) before ``row`` by another
        organisation, still served, whose files identifying its model include it.

        Those weights are not ``row``'s to take down: anyone may re-publish an open
        model with something added that earns a takedown, and the original must not go
        with it. An admin who means the weights takes that version down by name."""
        out: dict[str, Version] = {}
        org = row.model.organisation_id
        for v, shared in self.holders(s, digests, [VISIBLE, *HELD], row.id):
            if v.id < row.id and v.model.organisation_id != org:
                for digest in shared:
                    out.setdefault(digest, v)
        return out

    def manifest_elsewhere(self, s: Session, row: Version) -> Version | None:
        """The earliest version of another organisation with ``row``'s very files,
        published (or held) before it and still served: ``row`` is a copy of it."""
        return s.scalar(
            select(Version).join(Model, Version.model_id == Model.id)
            .where(Version.digest == row.digest, Version.id < row.id,
                   Version.status.in_([VISIBLE, *HELD]),
                   Model.organisation_id != row.model.organisation_id)
            .order_by(Version.id).limit(1)
        )  # fmt: skip

    def origins(self, s: Session, row: Version, digests: set[str] | dict[str, str],
                ) -> dict[str, Version]:  # fmt: skip
        """digest -> the version that published it first: the earliest version, of any
        model, published or held, whose files identifying its model include it (only
        versions before ``row``; ``row`` itself is never one)."""
        out: dict[str, Version] = {}
        for v, shared in self.holders(s, digests, [VISIBLE, *HELD], row.id):
            if v.id < row.id:
                for digest in shared:
                    out.setdefault(digest, v)
        return out

    def exempted(self, s: Session, version_id: int, original_id: int) -> bool:
        return s.scalar(select(TakedownExemption.id).where(
            TakedownExemption.version_id == version_id,
            TakedownExemption.original_id == original_id,
        )) is not None  # fmt: skip

    def holders(self, s: Session, digests: set[str] | dict[str, str], statuses: list[str],
                exclude: int, *, direct_only: bool = False,
                ) -> list[tuple[Version, set[str]]]:  # fmt: skip
        """The versions in ``statuses`` (other than ``exclude``) whose files identifying
        their model include some of ``digests``, with those digests, oldest first."""
        from openward.registry.check import SERIALISED_MIN_BYTES

        wanted = sorted(set(digests))
        found: dict[int, tuple[Version, set[str]]] = {}
        for i in range(0, len(wanted), 500):
            query = (
                select(VersionFile, Version).join(Version, VersionFile.version_id == Version.id)
                .where(VersionFile.sha256.in_(wanted[i : i + 500]),
                       Version.status.in_(statuses), Version.id != exclude,
                       # Smaller files never identify a model: the index does the rest.
                       VersionFile.size >= SERIALISED_MIN_BYTES,
                       or_(VersionFile.weight.is_(None), VersionFile.weight.is_(True)))
            )  # fmt: skip
            if direct_only:
                query = query.where(Version.takedown_of.is_(None))
            for f, v in s.execute(query).all():
                self.classify([f])
                if f.weight:
                    found.setdefault(v.id, (v, set()))[1].add(f.sha256)
        return [found[k] for k in sorted(found)]

    def _flagged_content(self, s: Session, row: Version) -> list[str]:
        """Reasons to hold a new version that re-publishes taken-down content: its exact
        manifest, or any file that identifies a version an admin took down, whoever
        else published it (only an exception an admin made for this very version lets
        it through)."""
        files = {f.path: f.sha256 for f in row.files}
        out = []
        same = s.scalars(select(Version).where(Version.status == TAKEN_DOWN,
                                               Version.digest == row.digest,
                                               Version.id != row.id)).all()  # fmt: skip
        for v in same:
            if self.exempted(s, row.id, self.takedown_root(s, v).id):
                continue
            if self.manifest_elsewhere(s, v) is not None:
                continue  # a copy of a version another organisation still serves
            why = "; ".join(v.reasons[:1])
            out.append(f"the same files as {_ref(v)}, which was taken down: {why}")
        for v, shared in self.holders(s, set(files.values()), [TAKEN_DOWN], row.id,
                                      direct_only=True):  # fmt: skip
            if v.digest == row.digest or self.exempted(s, row.id, v.id):
                continue
            shared &= self.takedown_weights(s, v)
            if not shared:
                continue  # weights another organisation published before it
            paths = sorted(p for p, d in files.items() if d in shared)
            why = "; ".join(v.reasons[:1])
            out.append(f"{', '.join(paths[:3])} also in {_ref(v)}, which was taken down: {why}")
        return out

    def _inherited_hold(self, s: Session, row: Version) -> list[str]:
        """Reasons to hold a version for registration because it carries weights first
        published by a version above the registration threshold (held, or registered):
        another card (one that leaves out the token count) does not change the weights."""
        files = {f.path: f.sha256 for f in row.files}
        out = []
        # Weights keep the status of the version that published them first: a later copy
        # (anyone may copy an open model with a card of their own) changes nothing.
        by_origin: dict[int, tuple[Version, set[str]]] = {}
        for digest, v in self.origins(s, row, set(files.values())).items():
            by_origin.setdefault(v.id, (v, set()))[1].add(digest)
        for _, (v, shared) in sorted(by_origin.items()):
            if v.status == "needs-registration":
                state = "is held for registration"
            elif _requires_registration(v.facts):
                state = "was registered above the compute threshold"
            else:
                continue
            paths = sorted(p for p, d in files.items() if d in shared)
            out.append(f"carries {', '.join(paths[:3])} of {_ref(v)}, which {state}: "
                       "registration required")  # fmt: skip
        return out

    def rescan(self, s: Session, actor: User | None) -> list[int]:
        """Check every decided version again (new rules may decide differently); returns
        the version ids to check.

        Each version keeps its status while it waits, so published versions stay listed
        and downloadable: ``recheck_requested_at`` marks it, and the new verdict replaces
        the old one when its check finishes (a version that now fails stops being
        visible then; one taken down meanwhile stays taken down)."""
        self._admin(actor)
        now = datetime.now(UTC)
        rows = s.scalars(
            select(Version).where(Version.status.in_(sorted(FINAL)))
        ).all()  # fmt: skip
        for row in rows:
            row.recheck_requested_at = now
            s.add(StatusEvent(version_id=row.id, status=row.status, reasons=[
                f"recheck requested by {actor.name if actor else 'an admin'}: the "
                f"{row.status} verdict stands until the new one"
            ]))  # fmt: skip
        return [row.id for row in rows]

    # -- reading ------------------------------------------------------------
    def version_file(self, s: Session, row: Version, path: str) -> VersionFile:
        """One file of ``row`` by its path: one indexed lookup (the unique (version, path)
        constraint), whatever the number of files the version lists."""
        entry = s.scalar(
            select(VersionFile).where(VersionFile.version_id == row.id, VersionFile.path == path)
        )
        if entry is None:
            ref = f"{row.model.organisation.name}/{row.model.name}:{row.version}"
            raise RegistryError(404, f"{path} is not a file of {ref}")
        return entry

    def may_see(self, s: Session, user: User | None, row: Version) -> bool:
        """Whether ``user`` may see the version's metadata (files: :meth:`may_download`).

        Published and taken-down versions are listed to everyone (a takedown says why);
        held ones to their publishers, admins, and reviewers (who decide registrations and
        safety-edit reviews)."""
        if row.status in (VISIBLE, TAKEN_DOWN):
            return True
        if user is None:
            return False
        if user.is_reviewer and row.status in ("needs-registration", "needs-review"):
            return True
        return user.is_admin or self.can_publish(s, user, row.model.organisation.name)

    def find_version(self, s: Session, user: User | None, org: str, name: str,
                     version: str) -> Version:  # fmt: skip
        model = s.scalar(
            select(Model).join(Organisation).where(Organisation.name == org, Model.name == name)
        )
        if model is None:
            raise RegistryError(404, f"model {org}/{name} does not exist")
        row = None
        tag = s.scalar(select(Tag).where(Tag.model_id == model.id, Tag.name == version))
        if tag is not None:
            row = s.get(Version, tag.version_id)
        if row is None:
            row = s.scalar(
                select(Version).where(Version.model_id == model.id, Version.version == version)
            )
        if row is None or not self.may_see(s, user, row):
            raise RegistryError(404, f"{org}/{name}:{version} does not exist or is not visible")
        return row
