"""Accounts: a user's roles, a token's scope, and proof of possession for publisher keys.

Roles belong to users and change only through :func:`set_roles` (an admin, logged to
the transparency log as ``role-changed``): ``admin`` and ``reviewer`` registry-wide,
``publisher`` or ``reader`` per organisation.

A token carries a *scope*, the most it may do, ordered ``reader`` < ``reviewer`` <
``publisher`` < ``admin``. What a request may do is the least of the token's scope
and its user's roles *now* (:class:`ScopedUser`): a ``reader`` token of an admin acts
as a reader, and taking a role away from a user takes it from all their tokens at once.
Making a token never changes its user (only a token for a new user creates that user,
with the role asked for). Tokens made before scopes existed (scope NULL) keep all of
their user's rights.

Registering a publisher key needs the private key: the registry hands out a challenge
(the user's id, a nonce and an expiry, signed by the registry's own key, so any
replica checks it without shared state), and the key must sign
``openward-key-proof-v1\\n<challenge>``. Only users who may publish register keys.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openward.registry import tlog
from openward.registry.keyproof import KEY_PROOF_CONTEXT, proof_message
from openward.registry.models import Membership, Organisation, Token, User
from openward.registry.service import RegistryError, check_name

if TYPE_CHECKING:
    from openward.registry.service import Registry

__all__ = [
    "KEY_PROOF_CONTEXT",
    "MEMBERSHIP_ROLES",
    "SCOPES",
    "ScopedUser",
    "key_challenge",
    "may_register_keys",
    "need_key_rights",
    "principal",
    "proof_message",
    "roles_doc",
    "scope_problem",
    "set_roles",
    "unscoped",
    "verify_key_proof",
]

SCOPES: Final = ("reader", "reviewer", "publisher", "admin")
"""Token scopes, least to most."""
MEMBERSHIP_ROLES: Final = ("publisher", "reader")
CHALLENGE_PURPOSE: Final = "openward-key-registration/v1"
CHALLENGE_SECONDS: Final = 600


def _rank(scope: str) -> int:
    return SCOPES.index(scope)


# -- token scopes ------------------------------------------------------------------
@dataclass(frozen=True)
class _ReadingMembership:
    """A membership as a token below ``publisher`` sees it: reading only."""

    user_id: int
    organisation_id: int
    organisation: Organisation
    role: str = "reader"


class ScopedUser:
    """A user as one of their tokens sees them: the least of the token's scope and
    the user's roles. Only the rights differ from the user (``is_admin``,
    ``is_reviewer``, ``publishes_everywhere``, ``memberships``); everything else
    (``id``, ``name``…) is the user's. It is never added to a session: the user row
    itself stays as it is, so the same user loaded elsewhere in the request (a
    grant's granter, say) keeps their real roles."""

    def __init__(self, user: User, scope: str) -> None:
        self._user = user
        self.scope = scope
        rank = _rank(scope)
        self.is_admin = user.is_admin and rank >= _rank("admin")
        self.is_reviewer = (user.is_reviewer or user.is_admin) and rank >= _rank("reviewer")
        self.publishes_everywhere = user.is_admin and rank >= _rank("publisher")
        self._publishes = rank >= _rank("publisher")

    @property
    def memberships(self) -> list[Any]:
        if self._publishes:
            return list(self._user.memberships)
        return [_ReadingMembership(m.user_id, m.organisation_id, m.organisation)
                for m in self._user.memberships]  # fmt: skip

    def __getattr__(self, name: str) -> Any:
        return getattr(self._user, name)

    def __repr__(self) -> str:
        return f"<ScopedUser {self._user.name!r} scope={self.scope}>"


def principal(token: Token) -> User:
    """Who a request made with ``token`` acts as (see :class:`ScopedUser`).

    Typed as a :class:`User` because every authorization check reads only the
    attributes both share; a scope that cannot narrow the user returns the user."""
    if token.scope is None or token.scope == "admin" or token.scope not in SCOPES:
        return token.user
    return cast(User, ScopedUser(token.user, token.scope))


def unscoped(user: User) -> User:
    """The user behind a request with all of their roles, whatever the token's scope.

    For the checks a narrower scope must never *weaken*: a conflict of interest (a
    reviewer who publishes for the organisation whose registration they decide) is
    one whether or not the token they use may publish."""
    seen: object = user  # typed as a User (see principal), perhaps a ScopedUser
    return seen._user if isinstance(seen, ScopedUser) else user


def scope_of(user: object) -> str | None:
    """The scope of the token the request came with (None: all the user's rights)."""
    return user.scope if isinstance(user, ScopedUser) else None


def _membership_role(user: User, org: str) -> str | None:
    return next((m.role for m in user.memberships if m.organisation.name == org), None)


def scope_problem(user: User, scope: str, org: str | None) -> str | None:
    """Why ``user`` may not have a token of ``scope`` (for ``org``), or None."""
    fix = f"an admin changes roles with: openward registry user set-role {user.name}"
    where = _membership_role(user, org) if org is not None else None
    if scope == "admin" and not user.is_admin:
        return (f"{user.name} is not an admin, and a token never carries more than its "
                f"user's rights: {fix} --admin")  # fmt: skip
    if scope == "reviewer" and not (user.is_reviewer or user.is_admin):
        return f"{user.name} is not a reviewer: {fix} --reviewer"
    if scope == "publisher" and not user.is_admin:
        if org is not None and where != "publisher":
            return f"{user.name} is not a publisher of {org!r}: {fix} --org {org} --role publisher"
        if not any(m.role == "publisher" for m in user.memberships):
            return (f"{user.name} publishes for no organisation: "
                    f"{fix} --org ORG --role publisher")  # fmt: skip
    if org is not None and where is None and not user.is_admin:
        role = scope if scope in MEMBERSHIP_ROLES else "reader"
        return (f"{user.name} is not a member of {org!r}, and making a token never changes "
                f"its user: {fix} --org {org} --role {role}")  # fmt: skip
    return None


def new_token(s: Session, user: User, scope: str, label: str) -> str:
    from openward.registry.service import hash_token

    token = "ow_" + secrets.token_urlsafe(32)
    s.add(Token(user_id=user.id, digest=hash_token(token), label=label[:100], scope=scope))
    return token


# -- roles --------------------------------------------------------------------------
def roles_doc(user: User) -> dict[str, Any]:
    """A user's roles (for a :class:`ScopedUser`: what its token may use of them)."""
    doc: dict[str, Any] = {
        "name": user.name,
        "admin": bool(user.is_admin),
        "reviewer": bool(user.is_reviewer),
        "organisations": {m.organisation.name: m.role
                          for m in sorted(user.memberships, key=lambda m: m.organisation.name)},
    }  # fmt: skip
    scope = scope_of(user)
    if scope is not None:
        doc["scope"] = scope
    return doc


def _find_user(s: Session, name: str) -> User:
    user = s.scalar(select(User).where(User.name == name))
    if user is None:
        raise RegistryError(
            404, f"user {name!r} does not exist (create it with: openward registry token "
            f"create --user {name} --role ROLE)"
        )  # fmt: skip
    return user


def set_roles(
    reg: Registry, s: Session, actor: User | None, name: str, *, admin: bool | None = None,
    reviewer: bool | None = None, organisation: str | None = None, role: str | None = None,
) -> User:  # fmt: skip
    """Change ``name``'s roles (admins only); each change is a ``role-changed`` entry of
    the transparency log. ``role`` ``none`` ends the membership of ``organisation``."""
    reg._admin(actor)
    assert actor is not None
    if (organisation is None) != (role is None):
        raise RegistryError(422, "an organisation role needs both --org ORG and --role ROLE")
    if role is not None and role not in (*MEMBERSHIP_ROLES, "none"):
        raise RegistryError(422, "an organisation role is publisher, reader or none")
    if admin is None and reviewer is None and role is None:
        raise RegistryError(422, "nothing to change: give --admin/--no-admin, "
                                 "--reviewer/--no-reviewer, or --org ORG --role ROLE")  # fmt: skip
    user = _find_user(s, name)
    changes: list[dict[str, Any]] = []
    if admin is not None and admin != user.is_admin:
        if admin:
            user.is_admin = True
            changes.append({"role": "admin", "from": False, "to": True})
        elif _unmake_admin(s, actor, user):
            changes.append({"role": "admin", "from": True, "to": False})
    if reviewer is not None and reviewer != user.is_reviewer:
        changes.append({"role": "reviewer", "from": user.is_reviewer, "to": reviewer})
        user.is_reviewer = reviewer
    if organisation is not None and role is not None:
        check_name("organisation", organisation)
        org = s.scalar(select(Organisation).where(Organisation.name == organisation))
        if org is None and role != "none":
            org = reg._org(s, organisation, create=True)
        membership = None if org is None else s.scalar(select(Membership).where(
            Membership.user_id == user.id, Membership.organisation_id == org.id))  # fmt: skip
        before = membership.role if membership is not None else "none"
        if before != role:
            if role == "none":
                assert membership is not None
                s.delete(membership)
            elif membership is None:
                assert org is not None
                s.add(Membership(user_id=user.id, organisation_id=org.id, role=role))
            else:
                membership.role = role
            changes.append({"role": "membership", "organisation": organisation,
                            "from": before, "to": role})  # fmt: skip
    for change in changes:
        tlog.append(s, "role-changed", {"user": user.name, **change, "by": actor.name})
    s.flush()
    s.expire(user, ["memberships"])
    return user


def _unmake_admin(s: Session, actor: User, user: User) -> bool:
    """Take ``user``'s admin role (True), unless another request took it meanwhile
    (False); refuse if that would leave the registry without an admin.

    Two admins unmaking each other at once must not both succeed. On PostgreSQL every
    admin row is locked first, in one order (the second request waits, then sees the
    first one's change); SQLite has no row locks and reads outside a transaction, so
    the change is written first (which takes the database's write lock, queueing the
    other writer) and the admins are counted after it, in the same transaction. The
    actor must still be an admin then: the request that got there first may have
    unmade them."""
    name = user.name
    s.execute(select(User.id).where(User.is_admin).order_by(User.id).with_for_update())
    s.refresh(user)
    if not user.is_admin:
        return False
    user.is_admin = False
    s.flush()
    if not s.scalar(select(func.count()).select_from(User).where(User.is_admin)):
        s.rollback()
        raise RegistryError(409, f"{name} is the only admin: make another user an admin first")
    person = unscoped(actor)
    if person.id != user.id:
        s.refresh(person)
        if not person.is_admin:  # unmade by another request while this one waited
            s.rollback()
            raise RegistryError(403, "only an admin may do this")
    return True


def create_with_role(s: Session, reg: Registry, actor: User, name: str, org: str | None,
                     role: str) -> User:  # fmt: skip
    """A new user holding ``role`` (in ``org`` for publisher, reader and reviewer,
    who reads there), logged as ``user-created``."""
    user = User(name=name, is_admin=role == "admin", is_reviewer=role == "reviewer")
    s.add(user)
    s.flush()
    body: dict[str, Any] = {"user": name, "admin": user.is_admin, "reviewer": user.is_reviewer,
                            "by": actor.name}  # fmt: skip
    if org is not None and role != "admin":
        organisation = reg._org(s, org, create=True)
        member_role = "reader" if role == "reviewer" else role
        s.add(Membership(user_id=user.id, organisation_id=organisation.id, role=member_role))
        body["organisations"] = {org: member_role}
    tlog.append(s, "user-created", body)
    s.flush()
    s.expire(user, ["memberships"])
    return user


# -- publisher keys -----------------------------------------------------------------
def may_register_keys(user: User) -> bool:
    """Publishers (in some organisation) and admins register signing keys."""
    if user.is_admin or user.publishes_everywhere:
        return True
    return any(m.role == "publisher" for m in user.memberships)


def need_key_rights(user: User | None) -> User:
    if user is None:
        raise RegistryError(401, "registering a key needs a token")
    if not may_register_keys(user):
        raise RegistryError(
            403, f"{user.name} may not register signing keys: only publishers (and admins) "
            "do" + (" — this token's scope is " + str(scope_of(user)) if scope_of(user) else "")
        )  # fmt: skip
    return user


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_challenge(reg: Registry, user: User | None) -> dict[str, Any]:
    """A challenge for ``user`` to sign with the private key they register."""
    actor = need_key_rights(user)
    expires = int(time.time()) + CHALLENGE_SECONDS
    payload = json.dumps({"purpose": CHALLENGE_PURPOSE, "origin": reg.settings.log_origin,
                          "user": actor.id, "nonce": secrets.token_hex(16),
                          "expires": expires}, sort_keys=True,
                         separators=(",", ":")).encode()  # fmt: skip
    challenge = _b64(payload) + "." + _b64(reg.sign_bytes(payload))
    return {"challenge": challenge, "message": proof_message(challenge).decode(),
            "expires": expires, "context": KEY_PROOF_CONTEXT}  # fmt: skip


def verify_key_proof(reg: Registry, user: User | None, key: Any, challenge: str | None,
                     signature: str | None) -> User:  # fmt: skip
    """Refuse unless ``signature`` is ``key``'s signature of a challenge this registry
    issued to ``user`` that has not expired."""
    from openward.signing.keys import verify_bytes

    actor = need_key_rights(user)
    if not challenge or not signature:
        raise RegistryError(
            422, "registering a key needs proof that you hold its private key: "
            "`openward registry key add PRIVATE_KEY.pem` signs the registry's challenge "
            "for you (the private key never leaves your machine); or get one from POST "
            "/api/v1/keys/challenge, sign its `message` and send {pem, challenge, signature}"
        )  # fmt: skip
    try:
        encoded, _, sealed = challenge.partition(".")
        payload, seal = _unb64(encoded), _unb64(sealed)
        doc = json.loads(payload)
        sig = base64.b64decode(signature, validate=True)
    except (ValueError, TypeError):
        raise RegistryError(422, "the challenge or the signature is malformed") from None
    if not isinstance(doc, dict) or not verify_bytes(reg.signing_key.public_key(), seal, payload):
        raise RegistryError(422, "the challenge was not issued by this registry")
    if doc.get("purpose") != CHALLENGE_PURPOSE or doc.get("user") != actor.id:
        raise RegistryError(422, "the challenge was issued to another user: ask for your own")
    expires = doc.get("expires")
    if not isinstance(expires, int) or expires < time.time():
        raise RegistryError(422, "the challenge has expired: ask for a new one")
    if not verify_bytes(key, sig, proof_message(challenge)):
        raise RegistryError(
            422, "the signature does not verify with the key being registered: sign the "
            "challenge with that key's private key"
        )  # fmt: skip
    return actor
