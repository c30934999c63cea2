"""The guard's state store: the same semantics in memory and in Redis, increments never lost
between processes, TTLs on everything, a typed error when Redis is down."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from openward.guard.state import (
    MemoryStore,
    RedisStore,
    Store,
    StoreUnavailable,
    store_from_env,
)
from openward.guard.types import Conversation, Segment
from openward.guard.usage import UsageConfig, UsageMonitor
from tests.guard.conftest import REDIS_URL

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_800_000_000.0


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    namespace = request.getfixturevalue("redis_namespace")
    s = RedisStore(REDIS_URL, namespace=namespace)
    yield s
    await s.close()


async def test_window_counts_slide_with_time(store: Store) -> None:
    assert await store.incr_window("k", 60, 1, now=T0) == 1
    assert await store.incr_window("k", 60, 4, now=T0 + 10) == 5
    assert await store.incr_window("k", 60, 0, now=T0 + 30) == 5  # 0 reads
    # a minute on, the first second's bucket has left the window, the later one has not
    assert await store.incr_window("k", 60, 0, now=T0 + 61) == 4
    assert await store.incr_window("k", 60, 1, now=T0 + 200) == 1
    assert await store.incr_window("other", 60, 0, now=T0 + 200) == 0


async def test_distinct_counts_are_close_and_windowed(store: Store) -> None:
    for i in range(0, 5000, 500):
        items = [f"prompt-{j}" for j in range(i, i + 500)]
        n = await store.add_distinct("d", items + items[:100], 3600, now=T0 + i / 10)
    assert abs(n - 5000) / 5000 < 0.05, n
    assert await store.add_distinct("d", ["prompt-1"], 3600, now=T0 + 600) == n
    # two hours on, everything counted before has left the window
    assert await store.add_distinct("d", ["new"], 3600, now=T0 + 7200) == 1


async def test_baseline_folds_completed_buckets(store: Store) -> None:
    alpha = 0.5
    for _ in range(4):
        b = await store.baseline("b", 60, alpha, 3600, now=T0)
    assert (b.current, b.ewma, b.age_buckets) == (4, 0.0, 0)
    b = await store.baseline("b", 60, alpha, 3600, now=T0 + 60)
    assert (b.current, b.ewma, b.age_buckets) == (1, 2.0, 1)
    # three minutes on: the bucket of 1 folds in, then two idle (empty) buckets
    b = await store.baseline("b", 60, alpha, 3600, now=T0 + 240)
    assert b.current == 1 and b.age_buckets == 4
    assert b.ewma == pytest.approx((0.5 * 1 + 0.5 * 2.0) * 0.5 * 0.5)


async def test_recent_items_are_capped_and_returned_before_the_push(store: Store) -> None:
    seen = [await store.push_recent("r", f"item-{i}", cap=3, ttl_s=60, now=T0) for i in range(5)]
    assert seen[0] == []
    assert seen[1] == ["item-0"]
    assert seen[4] == ["item-3", "item-2", "item-1"]
    assert await store.push_recent("one", "a", cap=1, ttl_s=60, now=T0) == []
    assert await store.push_recent("one", "b", cap=1, ttl_s=60, now=T0) == ["a"]
    assert await store.push_recent("one", "c", cap=1, ttl_s=60, now=T0) == ["b"]
    for item in ("x", "y", "z"):
        await store.push_recent("two", item, cap=2, ttl_s=60, now=T0)
    assert await store.push_recent("two", "w", cap=2, ttl_s=60, now=T0) == ["z", "y"]
    with pytest.raises(ValueError, match="newline"):
        await store.push_recent("r", "two\nlines", cap=3, ttl_s=60, now=T0)


async def test_memory_store_forgets_what_expired() -> None:
    s = MemoryStore()
    for i in range(100):
        await s.incr_window(f"identity-{i}", 60, 1, now=T0)
        await s.push_recent(f"identity-{i}", "x", 10, 60, now=T0)
    assert len(s) == 200
    assert s.sweep(now=T0 + 3600) == 200
    assert len(s) == 0


async def test_redis_keys_are_namespaced_and_expire(redis_namespace: str) -> None:
    import redis.asyncio as aioredis

    s = RedisStore(REDIS_URL, namespace=redis_namespace)
    await s.incr_window("k", 60, 1)
    await s.add_distinct("d", ["a"], 60)
    await s.baseline("b", 60, 0.1, 120)
    await s.push_recent("r", "x", 10, 60)
    await s.close()
    client = aioredis.Redis.from_url(REDIS_URL)
    keys = [k async for k in client.scan_iter(match=redis_namespace + "*")]
    assert len(keys) == 4
    for k in keys:
        ttl = await client.pttl(k)
        assert 0 < ttl <= 130_000, (k, ttl)
    await client.aclose()


def _worker(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.guard.redis_worker", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_processes_share_counts_and_detections(redis_namespace: str) -> None:
    """Two guard processes on one Redis: concurrent increments are never lost, and one
    process's traffic raises the other's detection (see tests/guard/redis_worker.py)."""
    start_at = f"{time.time() + 1.5}"  # both have imported by then: they run side by side
    procs = [_worker(REDIS_URL, redis_namespace, role, start_at) for role in ("first", "second")]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    first, second = results

    async def after() -> tuple[int, list[object]]:
        s = RedisStore(REDIS_URL, namespace=redis_namespace)
        try:
            total = await s.incr_window("shared", 3600, 0)
            conv = Conversation((Segment(0, "user", "hi"),), params={"logprobs": 1, "echo": True})
            # with a threshold of 2, team-a's 25 would fire if they were counted for team-b
            cfg = UsageConfig.model_validate({"logprob-harvest": {"min_requests": 2}})
            return total, list(await UsageMonitor(s, cfg).observe("team-b", conv))
        finally:
            await s.close()

    total, team_b = asyncio.run(after())
    assert total == 2000  # 2 x 1000, none lost
    assert first["fired"] == []  # 15 harvesting requests: under the worker's threshold of 20
    harvests = [d for d in second["fired"] if d["kind"] == "logprob-harvest"]
    # the second process's 5th request is the identity's 20th
    assert harvests and harvests[0]["index"] == 4, second
    assert {d["detector"] for d in harvests} == {"model-extraction"}
    assert team_b == []  # another identity on the same Redis is untouched


async def test_redis_down_raises_a_typed_error_quickly() -> None:
    # nothing listens on port 1; the password must not appear in the error
    s = RedisStore("redis://:hunter2secret@127.0.0.1:1/0", timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as err:
        await s.incr_window("k", 60)
    assert time.monotonic() - started < 5
    assert "hunter2secret" not in str(err.value)
    assert "127.0.0.1:1" in str(err.value)
    await s.close()


async def test_the_usage_monitor_passes_a_store_failure_on() -> None:
    # the proxy decides what a dead store means (on_error), so the monitor must not hide it
    monitor = UsageMonitor(RedisStore("redis://127.0.0.1:1/0", timeout_s=0.5))
    with pytest.raises(StoreUnavailable):
        await monitor.observe("team-a", Conversation((Segment(0, "user", "hello"),)))
    await monitor.store.close()


def test_store_from_env_picks_redis_only_when_configured() -> None:
    assert isinstance(store_from_env({}), MemoryStore)
    s = store_from_env({"OPENWARD_GUARD_REDIS": REDIS_URL})
    assert isinstance(s, RedisStore)
    asyncio.run(s.close())
    with pytest.raises(StoreUnavailable, match="redis://"):
        store_from_env({"OPENWARD_GUARD_REDIS": "http://127.0.0.1:6379"})
