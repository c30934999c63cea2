"""Background checks on a worker fleet: Celery tasks on a Redis (or any Celery) broker.

``openward worker`` runs these; the API enqueues ``check_version`` on commit when
``OPENWARD_BROKER_URL`` is set (otherwise checks run in the server's own pool).
Tasks are acknowledged late and requeued if a worker dies, and ``run_checks``
acts only on versions still in ``checking``, so a repeated task is harmless.
"""

from __future__ import annotations

import os
from functools import cache

from celery import Celery

from openward.registry.config import settings_from_env
from openward.registry.service import Registry

__all__ = ["celery_app", "check_version", "registry_from_env"]

celery_app = Celery(
    "openward", broker=os.environ.get("OPENWARD_BROKER_URL", "redis://127.0.0.1:6379/0")
)
celery_app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_default_queue=os.environ.get("OPENWARD_QUEUE", "openward-checks"),
    broker_connection_retry_on_startup=True,
)


@cache
def registry_from_env() -> Registry:
    from openward.registry.blobs import open_blob_store
    from openward.registry.db import make_engine, session_factory

    settings = settings_from_env()
    settings.data.mkdir(mode=0o700, parents=True, exist_ok=True)  # weights of restricted models
    url = settings.database_url or f"sqlite:///{settings.data / 'registry.db'}"
    registry = Registry(
        settings,
        session_factory(make_engine(url)),
        open_blob_store(settings.blob_url, settings.data),
    )
    registry.sweep_scratch()  # what a killed worker's checks left behind
    return registry


@celery_app.task(name="openward.check_version")  # type: ignore[untyped-decorator]
def check_version(version_id: int) -> None:
    registry_from_env().run_checks(version_id)
