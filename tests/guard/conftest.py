"""Fixtures of the guard's tests: a Redis store in a namespace of its own."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator

import pytest

REDIS_URL = "redis://127.0.0.1:6379/0"


def require_redis() -> None:
    """Skip (fail under CI) unless Redis answers at 127.0.0.1:6379."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            assert sock.recv(16).startswith(b"+PONG")
    except (OSError, AssertionError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis must be reachable at 127.0.0.1:6379 under CI: {exc}")
        pytest.skip("Redis not reachable at 127.0.0.1:6379 (start one to run this test)")


@pytest.fixture
def redis_namespace() -> Iterator[str]:
    """A key namespace no other test uses; its keys are deleted afterwards."""
    require_redis()
    from openward.guard.state import RedisStore

    namespace = f"openward:guard:test-{uuid.uuid4().hex[:12]}:"
    yield namespace

    async def clean() -> None:
        store = RedisStore(REDIS_URL, namespace=namespace)
        await store.delete_namespace()
        await store.close()

    asyncio.run(clean())


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
