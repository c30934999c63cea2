"""One guard process's worth of Redis traffic, for the two-process tests in test_state.py.

    python -m tests.guard.redis_worker incr URL NAMESPACE KEY COUNT START_AT
    python -m tests.guard.redis_worker harvest URL NAMESPACE IDENTITY COUNT

``incr`` waits until the wall clock reaches START_AT (so two processes start together), adds
COUNT to a sliding-window counter in 50 concurrent increments at a time and prints the last
total it saw. ``harvest`` observes COUNT logprob-harvesting requests of IDENTITY and prints,
as JSON, the index of each request that came back with a detection and its kind.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from openward.guard.state import RedisStore
from openward.guard.types import Conversation, Segment
from openward.guard.usage import UsageMonitor


async def incr(url: str, namespace: str, key: str, count: int, start_at: float) -> None:
    store = RedisStore(url, namespace=namespace)
    await asyncio.sleep(max(0.0, start_at - time.time()))
    last = 0
    for done in range(0, count, 50):
        n = min(50, count - done)
        totals = await asyncio.gather(*(store.incr_window(key, 3600) for _ in range(n)))
        last = max(last, *totals)
    await store.close()
    print(json.dumps({"last_total": last}))


async def harvest(url: str, namespace: str, identity: str, count: int) -> None:
    monitor = UsageMonitor(RedisStore(url, namespace=namespace))
    fired = []
    for i in range(count):
        conv = Conversation(
            (Segment(0, "user", f"question number {i} from this process"),),
            params={"logprobs": True, "top_logprobs": 20},
        )
        for d in await monitor.observe(identity, conv):
            fired.append({"index": i, "detector": d.detector, "kind": d.kind})
    await monitor.store.close()
    print(json.dumps(fired))


def main(argv: list[str]) -> None:
    if argv[0] == "incr":
        asyncio.run(incr(argv[1], argv[2], argv[3], int(argv[4]), float(argv[5])))
    elif argv[0] == "harvest":
        asyncio.run(harvest(argv[1], argv[2], argv[3], int(argv[4])))
    else:
        raise SystemExit(f"unknown command {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
