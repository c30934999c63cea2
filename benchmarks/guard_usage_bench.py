"""Benchmarks of the guard's usage monitors, one function per section.

    python benchmarks/guard_usage_bench.py [--only latency|quiet|delay] [--json] [--redis URL]

- ``latency``: time of one ``UsageMonitor.observe`` (all four kinds on) with the memory store
  and, when Redis answers at ``--redis``, the Redis store: median and 99th percentile over a
  stream of 2000 requests of one identity.
- ``quiet``: detections under the default configuration on traffic that should raise none:
  interactive chat users (many seeds, ten hours each) and templated batch jobs (sizes and
  rates from 500 at 1/s to 5000 at 20/s).
- ``delay``: at which request each kind first fires on its extraction pattern.

Synthetic traffic from tests/guard/traffic.py; timestamps are synthetic (nothing sleeps).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.guard import traffic  # noqa: E402

from openward.guard.state import MemoryStore, RedisStore, Store, StoreUnavailable  # noqa: E402
from openward.guard.types import Conversation  # noqa: E402
from openward.guard.usage import UsageMonitor  # noqa: E402

Stream = Iterable[tuple[float, Conversation]]


async def _latencies(store: Store, stream: Stream) -> list[float]:
    m = UsageMonitor(store)
    out = []
    for t, conv in stream:
        started = time.perf_counter()
        await m.observe("bench", conv, now=t)
        out.append(time.perf_counter() - started)
    return out


def _summary(lat: list[float]) -> dict[str, float]:
    lat = sorted(lat)
    return {
        "p50_ms": round(statistics.median(lat) * 1000, 3),
        "p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 3),
    }


def section_latency(args: argparse.Namespace) -> dict[str, Any]:
    stream = list(traffic.diverse_queries(2000, 3000))
    out: dict[str, Any] = {"requests": len(stream)}
    out["memory"] = _summary(asyncio.run(_latencies(MemoryStore(), stream)))

    async def redis() -> dict[str, Any]:
        ns = f"openward:guard:bench-{uuid.uuid4().hex[:8]}:"
        store = RedisStore(args.redis, namespace=ns)
        try:
            await store.ping()
        except StoreUnavailable as exc:
            return {"skipped": str(exc)}
        now = time.time() - 3000  # near the wall clock: Redis expires keys by its own clock
        shifted = [(now + (t - traffic.T0), c) for t, c in stream]
        try:
            return _summary(await _latencies(store, shifted))
        finally:
            await store.delete_namespace()
            await store.close()

    out["redis"] = asyncio.run(redis())
    return out


async def _fired(stream: Stream, identity: str) -> collections.Counter[str]:
    m = UsageMonitor(MemoryStore())
    fired: collections.Counter[str] = collections.Counter()
    for t, conv in stream:
        for d in await m.observe(identity, conv, now=t):
            fired[f"{d.detector}/{d.kind}"] += 1
    return fired


def section_quiet(args: argparse.Namespace) -> dict[str, Any]:
    users = {}
    for seed in range(args.users):
        users[seed] = asyncio.run(_fired(traffic.interactive_user(seed, hours=10), f"u{seed}"))
    jobs = {}
    for n, rate in ((500, 1.0), (1000, 4.0), (2000, 8.0), (5000, 20.0)):
        fired = asyncio.run(_fired(traffic.templated_batch(n, rate, seed=n), f"job{n}"))
        jobs[f"{n}@{rate:g}/s"] = dict(fired)
    return {
        "interactive_users": args.users,
        "users_with_detections": sum(1 for f in users.values() if f),
        "user_detections": dict(sum(users.values(), collections.Counter())),
        "batch_jobs": jobs,
    }


async def _first(stream: Stream, kind: str) -> int | None:
    m = UsageMonitor(MemoryStore())
    for i, (t, conv) in enumerate(stream):
        if any(d.kind == kind for d in await m.observe("x", conv, now=t)):
            return i + 1
    return None


def section_delay(args: argparse.Namespace) -> dict[str, Any]:
    steady = [traffic.T0 + i * 30 for i in range(120)]
    burst = steady + [steady[-1] + 30 + i * 0.4 for i in range(150)]
    return {
        "volume-diversity (1500 questions / 50 min)": asyncio.run(
            _first(traffic.diverse_queries(1500, 3000), "volume-diversity")
        ),
        "logprob-harvest (top_logprobs=20, 300 / 30 min)": asyncio.run(
            _first(
                traffic.diverse_queries(300, 1800, logprobs=True, top_logprobs=20),
                "logprob-harvest",
            )
        ),
        "near-duplicate-probing (1-2 words changed, 800 / 30 min)": asyncio.run(
            _first(traffic.boundary_probe(800, 1800), "near-duplicate-probing")
        ),
        "burst rate (150 in a minute after an hour at 2/min)": asyncio.run(
            _first(((t, traffic.chat(f"q {i}")) for i, t in enumerate(burst)), "rate")
        ),
    }


SECTIONS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "latency": section_latency,
    "quiet": section_quiet,
    "delay": section_delay,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--users", type=int, default=50, help="interactive users in 'quiet'")
    args = parser.parse_args()
    results = {name: SECTIONS[name](args) for name in (args.only or SECTIONS)}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name, result in results.items():
        print(f"== {name}")
        for key, value in result.items():
            print(f"  {key}: {value}")


if __name__ == "__main__":
    main()
