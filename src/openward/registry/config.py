"""Registry settings from the environment (pydantic-settings): unset means embedded."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from openward.registry.service import Settings

__all__ = ["RegistryEnvironment", "settings_from_env"]


class RegistryEnvironment(BaseSettings):
    """``OPENWARD_*`` variables shared by ``openward serve`` and ``openward worker``."""

    model_config = SettingsConfigDict(env_prefix="OPENWARD_", extra="ignore")

    data: Path = Path("openward-data")
    database_url: str | None = None
    """Any SQLAlchemy URL; unset: SQLite under the data directory."""
    blob_url: str | None = None
    """``s3://bucket/prefix[?endpoint_url=…]``; unset: files under the data directory."""
    broker_url: str | None = None
    """A Celery broker such as ``redis://host:6379/0``; unset: checks run in-process."""
    registry_key: Path | None = None
    """The registry's signing key (shared by every replica and worker)."""
    mark_secret: Path | None = None
    """The secret per-recipient weight marks are keyed with (shared by every replica)."""
    mark_secret_rotate: bool = False
    """Start once with a changed mark secret (``OPENWARD_MARK_SECRET_ROTATE=1``): every
    recipient copy is forgotten and made again under the new secret."""
    max_trace_bytes: int | None = None
    """Largest suspect upload a trace reads; unset: 64 GiB."""
    text_watermark_tests_per_hour: int | None = Field(default=None, ge=0)
    """Text watermark tests one user may run per hour (publishers and admins exempt);
    unset: 60; 0: unlimited."""
    queue: str = "openward-checks"
    fail_on: str = "high"
    policy: Path | None = None
    """The compute policy file (thresholds, access tiers, registration and audit duties);
    unset: the shipped policy. API servers and workers must use the same file."""
    log_origin: str = "openward-registry"
    """The name signed into transparency-log tree heads (e.g. the public host name)."""
    max_json_bytes: int | None = None
    max_manifest_bytes: int | None = None
    partial_expiry_seconds: float | None = None
    partial_quota_bytes: int | None = None
    min_free_bytes: int | None = None
    """Unset: the defaults of :class:`openward.registry.service.Settings`."""


def settings_from_env(**overrides: object) -> Settings:
    env = RegistryEnvironment()
    values: dict[str, object] = {
        "data": env.data.resolve(),
        "database_url": env.database_url,
        "blob_url": env.blob_url,
        "broker_url": env.broker_url,
        "key_path": env.registry_key,
        "mark_secret_path": env.mark_secret,
        "mark_secret_rotate": env.mark_secret_rotate,
        "max_trace_bytes": env.max_trace_bytes,
        "text_watermark_tests_per_hour": env.text_watermark_tests_per_hour,
        "fail_on": env.fail_on,
        "policy": env.policy.resolve() if env.policy else None,
        "log_origin": env.log_origin,
        "max_json_bytes": env.max_json_bytes,
        "max_manifest_bytes": env.max_manifest_bytes,
        "partial_expiry_seconds": env.partial_expiry_seconds,
        "partial_quota_bytes": env.partial_quota_bytes,
        "min_free_bytes": env.min_free_bytes,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**{k: v for k, v in values.items() if v is not None})  # type: ignore[arg-type]
