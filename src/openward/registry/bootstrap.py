"""``openward registry init``: set a registry up without starting a server.

It does what the first ``openward serve`` does before it listens, from the same
``OPENWARD_*`` settings (:mod:`openward.registry.config`): the data directory, the
database schema (Alembic migrations), the registry's signing key and the first admin,
whose token it returns once. A deployment script or an init container runs it once;
``serve`` then finds the admin and creates no other.
"""

from __future__ import annotations

from dataclasses import dataclass

from openward.registry.service import Settings

__all__ = ["AdminExists", "InitResult", "init_registry"]


class AdminExists(Exception):
    """The registry has an admin already: ``init`` creates the first one only."""


@dataclass(frozen=True)
class InitResult:
    admin_token: str
    admin: str
    database: str
    """The database URL, its password hidden."""


def init_registry(settings: Settings) -> InitResult:
    """Create what the registry needs and its first admin; raise :class:`AdminExists`
    if it has one (the database and key are left as they are: nothing is lost)."""
    from openward.registry.blobs import open_blob_store
    from openward.registry.db import make_engine, migrate, session_factory
    from openward.registry.service import Registry

    settings.data.mkdir(mode=0o700, parents=True, exist_ok=True)  # weights of restricted models
    if settings.key_path is not None:
        settings.key_path.parent.mkdir(parents=True, exist_ok=True)
    url = settings.database_url or f"sqlite:///{settings.data / 'registry.db'}"
    engine = make_engine(url)
    try:
        migrate(engine)
        registry = Registry(settings, session_factory(engine),
                            open_blob_store(settings.blob_url, settings.data))  # fmt: skip
        registry.signing_key  # created now, not by whichever replica starts first  # noqa: B018
        token = registry.bootstrap_admin()
        shown = engine.url.render_as_string(hide_password=True)
    finally:
        engine.dispose()
    if token is None:
        raise AdminExists(
            f"the registry ({shown}) has an admin already: `registry init` creates the "
            "first admin only, once. With an admin token, make more tokens with "
            "`openward registry token create --user NAME --role ROLE`"
        )
    return InitResult(admin_token=token, admin="admin", database=shown)
