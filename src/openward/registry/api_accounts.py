"""Account routes of the registry API: users' roles (admins manage them), who a token
acts as, and the challenge a publisher key's private key signs. Mounted by
:func:`openward.registry.app.create_app`."""

# No `from __future__ import annotations`: FastAPI resolves the dependency types
# (DB, Actor) passed in as arguments when the routes are declared.

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field
from sqlalchemy import select

from openward.registry import accounts
from openward.registry.models import User
from openward.registry.service import Registry, RegistryError

__all__ = ["add_account_routes"]


class RolesBody(BaseModel):
    admin: bool | None = None
    reviewer: bool | None = None
    organisation: str | None = Field(default=None, max_length=100)
    role: str | None = Field(default=None, max_length=20)
    """``publisher``, ``reader`` or ``none`` (ends the membership) in ``organisation``."""


def add_account_routes(app: FastAPI, registry: Registry, DB: Any, Actor: Any) -> None:
    @app.get("/api/v1/whoami")
    def whoami(user: Actor) -> dict[str, Any]:
        """Who the caller's token acts as: its user's roles as far as the token's scope
        reaches (``scope``: absent for a token with all of its user's rights)."""
        if user is None:
            raise RegistryError(401, "send a token to learn whose it is")
        return accounts.roles_doc(user)

    @app.get("/api/v1/users")
    def users(s: DB, user: Actor) -> dict[str, Any]:
        """Every user and their roles (admins)."""
        registry._admin(user)
        rows = s.scalars(select(User).order_by(User.name)).all()
        return {"users": [accounts.roles_doc(u) for u in rows]}

    @app.get("/api/v1/users/{name}")
    def user_roles(name: str, s: DB, user: Actor) -> dict[str, Any]:
        """A user's roles (admins)."""
        registry._admin(user)
        return accounts.roles_doc(accounts._find_user(s, name))

    @app.put("/api/v1/users/{name}/roles")
    def set_roles(name: str, body: RolesBody, s: DB, user: Actor) -> dict[str, Any]:
        """Change a user's roles (admins): ``admin``, ``reviewer``, and the role in one
        ``organisation``. Every change is a ``role-changed`` log entry; it applies to all
        of the user's tokens at once."""
        target = accounts.set_roles(registry, s, user, name, admin=body.admin,
                                    reviewer=body.reviewer, organisation=body.organisation,
                                    role=body.role)  # fmt: skip
        s.commit()
        return accounts.roles_doc(target)

    @app.post("/api/v1/keys/challenge")
    def key_challenge(user: Actor) -> dict[str, Any]:
        """A challenge to sign with the private key of the key you register (publishers
        and admins): sign the bytes of ``message`` and send them base64-encoded, with
        the challenge and the public key, to ``POST /api/v1/keys`` before ``expires``."""
        return accounts.key_challenge(registry, user)
