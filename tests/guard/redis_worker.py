"""One guard process's worth of Redis traffic, for the two-process test in test_state.py.

    python -m tests.guard.redis_worker URL NAMESPACE ROLE START_AT

Waits until the wall clock reaches START_AT (so that both processes run side by side), adds
1000 to a shared sliding-window counter in rounds of 50 concurrent increments, then observes
logprob-harvesting requests of the identity ``team-a`` through a :class:`UsageMonitor`: the
``first`` process 15 of them, after which it sets a ``done`` key; the ``second`` waits for
that key and then observes 10. The harvest threshold is lowered to 20 requests (from 200) to
keep the test short. Prints JSON: the last counter total it saw and the index and
kind of every detection it got.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from openward.guard.state import RedisStore
from openward.guard.types import Conversation, Segment
from openward.guard.usage import UsageConfig, UsageMonitor

CONFIG = {"logprob-harvest": {"min_requests": 20}}


async def main(url: str, namespace: str, role: str, start_at: float) -> None:
    store = RedisStore(url, namespace=namespace)
    await asyncio.sleep(max(0.0, start_at - time.time()))
    last = 0
    for _ in range(0, 1000, 50):
        totals = await asyncio.gather(*(store.incr_window("shared", 3600) for _ in range(50)))
        last = max(last, *totals)

    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    done_key = f"{namespace}done"
    if role == "second":
        deadline = time.time() + 30
        while not await client.exists(done_key):
            if time.time() > deadline:
                raise SystemExit("the first process never finished")
            await asyncio.sleep(0.02)
    monitor = UsageMonitor(store, UsageConfig.model_validate(CONFIG))
    fired = []
    for i in range(15 if role == "first" else 10):
        conv = Conversation(
            (Segment(0, "user", f"question number {i} from the {role} process"),),
            params={"logprobs": True, "top_logprobs": 20},
        )
        for d in await monitor.observe("team-a", conv):
            fired.append({"index": i, "detector": d.detector, "kind": d.kind})
    if role == "first":
        await client.set(done_key, 1, ex=60)
    await client.aclose()
    await store.close()
    print(json.dumps({"last_total": last, "fired": fired}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
