"""Engine, sessions and migrations: SQLite under the data directory by default,
any SQLAlchemy URL (PostgreSQL) from ``OPENWARD_DATABASE_URL``."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["make_engine", "migrate", "session_factory"]

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # WAL lets many readers share the file: size the pool for concurrent downloads.
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=20,
            max_overflow=80,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=40)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (Alembic, one history for every database)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # configparser interpolates '%': URL escapes (search_path options) must be doubled.
    url = engine.url.render_as_string(hide_password=False).replace("%", "%%")
    config.set_main_option("sqlalchemy.url", url)
    with engine.begin() as connection:
        _migration_lock(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


MIGRATION_LOCK = 0x6F77_6D69
"""PostgreSQL advisory lock (with the schema's hash) held while migrating ("owmi")."""


def _migration_lock(connection: Connection) -> None:
    """One migration at a time: ``registry init`` and ``serve`` (or several replicas)
    started together on a new database would otherwise both create the tables, and
    one would crash. The lock is held until the migration's transaction ends; the
    second process then finds the schema current and does nothing."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        # Per schema: registries sharing a database in separate schemas do not wait.
        lock = "SELECT pg_advisory_xact_lock(:key, hashtext(coalesce(current_schema(), '')))"
        connection.execute(text(lock), {"key": MIGRATION_LOCK})
    elif dialect == "sqlite":
        # Take the write lock before Alembic reads the schema version (waits up to the
        # connection's busy timeout for another migration to finish).
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
