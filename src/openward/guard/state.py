"""Where the guard keeps its counters: in this process, or in Redis shared by every process.

Guard workers are stateless: whatever a usage monitor or a rate limit has to remember about an
identity (how many requests in the last hour, how many distinct prompts, its usual rate, the
signatures of its recent prompts) lives in a :class:`Store`. :class:`MemoryStore` keeps it in
this process (the default: one guard process); :class:`RedisStore` keeps it in Redis, so any
number of guard processes behind a load balancer see the same counts. :func:`store_from_env`
picks Redis when ``OPENWARD_GUARD_REDIS`` holds a ``redis://`` (or ``rediss://``) URL.

Every operation is atomic on its own (a Lua script or a MULTI/EXEC transaction in Redis; no
``await`` inside an update in memory), so concurrent requests never lose an increment. Every
key has a time to live and every collection a cap, so nothing grows without bound.

Times are seconds since the epoch. Each operation takes ``now`` so that tests (and replays)
can drive the clock; it defaults to the wall clock. (Redis expires keys by its own clock: a
key lives its time to live after its last write, whatever ``now`` said.) Windows are split
into buckets: a "sliding" window of ``window_s`` is the sum of its last ``buckets`` buckets
of ``window_s / buckets`` seconds, so it is exact to one bucket.

When Redis cannot be reached or fails, operations raise :class:`StoreUnavailable`; the store
does not decide what that means for the request (the proxy applies the policy's ``on_error``).
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from openward.errors import OpenwardError

__all__ = [
    "ENV_REDIS",
    "NAMESPACE",
    "Baseline",
    "Batch",
    "MemoryStore",
    "Pending",
    "RedisStore",
    "Store",
    "StoreUnavailable",
    "store_from_env",
]

ENV_REDIS = "OPENWARD_GUARD_REDIS"
NAMESPACE = "openward:guard:"

# HyperLogLog precision of the in-memory distinct counter: 2**11 registers of one byte,
# a standard error of 1.04 / sqrt(2048) = 2.3 % (Redis's own HLL uses 2**14: 0.81 %).
_HLL_P = 11
_HLL_M = 1 << _HLL_P


class StoreUnavailable(OpenwardError):
    """The state store (Redis) could not be reached or failed an operation.

    ``url`` is the store's URL with any password removed."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(
            f"guard state store {url}: {reason} (check that Redis is running and that "
            f"{ENV_REDIS} points at it; the proxy handles this per the policy's on_error)"
        )


@dataclass(frozen=True)
class Baseline:
    """An identity's rate history, as :meth:`Store.baseline` returns it.

    ``current`` is the count in the bucket ``now`` falls in (including this observation),
    ``ewma`` the exponentially weighted mean count per bucket over the buckets before it
    (idle buckets count as zero), ``age_buckets`` how many buckets ago the identity was first
    seen (0 for a new identity)."""

    current: int
    ewma: float
    age_buckets: int


T = TypeVar("T")


class Pending(Generic[T]):
    """The result of an operation queued on a :class:`Batch`, there once the batch has run."""

    __slots__ = ("_done", "_value")

    def __init__(self) -> None:
        self._done = False
        self._value: Any = None

    def set(self, value: T) -> None:
        self._value, self._done = value, True

    @property
    def value(self) -> T:
        if not self._done:
            raise RuntimeError("the batch this result belongs to has not run")
        return self._value  # type: ignore[no-any-return]


class Batch(Protocol):
    """Several store operations sent together: one round trip to Redis (a MULTI/EXEC
    transaction, so the batch is also atomic as a whole). Same arguments and meaning as the
    :class:`Store` methods of the same names; results arrive in each :class:`Pending` when
    :meth:`run` returns."""

    def incr_window(
        self,
        key: str,
        window_s: float,
        amount: int = 1,
        now: float | None = None,
        buckets: int = 12,
    ) -> Pending[int]: ...

    def add_distinct(
        self,
        key: str,
        items: Sequence[str],
        window_s: float,
        now: float | None = None,
        buckets: int = 6,
    ) -> Pending[int]: ...

    def baseline(
        self,
        key: str,
        bucket_s: float,
        alpha: float,
        ttl_s: float,
        amount: int = 1,
        now: float | None = None,
    ) -> Pending[Baseline]: ...

    def push_recent(
        self, key: str, item: str, cap: int, ttl_s: float, now: float | None = None
    ) -> Pending[list[str]]: ...

    async def run(self) -> None: ...


class Store(Protocol):
    """The operations usage monitors and rate limits need. Keys are the caller's names; a
    store puts them under its own namespace. All methods may raise :class:`StoreUnavailable`."""

    async def incr_window(
        self,
        key: str,
        window_s: float,
        amount: int = 1,
        now: float | None = None,
        buckets: int = 12,
    ) -> int:
        """Add ``amount`` (0 only reads) to the counter ``key`` and return its total over the
        last ``window_s`` seconds."""
        ...

    async def add_distinct(
        self,
        key: str,
        items: Sequence[str],
        window_s: float,
        now: float | None = None,
        buckets: int = 6,
    ) -> int:
        """Add ``items`` to the set ``key`` and return the approximate number of distinct items
        added over the last ``window_s`` seconds (HyperLogLog: about 1-2 % error)."""
        ...

    async def baseline(
        self,
        key: str,
        bucket_s: float,
        alpha: float,
        ttl_s: float,
        amount: int = 1,
        now: float | None = None,
    ) -> Baseline:
        """Count ``amount`` in the current bucket of ``bucket_s`` seconds and return the
        identity's :class:`Baseline`: completed buckets are folded into the exponentially
        weighted mean with weight ``alpha``. The state expires ``ttl_s`` after the last use."""
        ...

    async def push_recent(
        self, key: str, item: str, cap: int, ttl_s: float, now: float | None = None
    ) -> list[str]:
        """Put ``item`` (one line: no newline) at the head of the capped list ``key`` (at most
        ``cap`` items, expiring ``ttl_s`` after the last push) and return the items that were
        there before it, newest first. Reading and pushing are one atomic step."""
        ...

    def batch(self) -> Batch:
        """A :class:`Batch` of operations to run in one round trip."""
        ...

    async def close(self) -> None:
        """Release connections. The store is not used after this."""
        ...


def _now(now: float | None) -> float:
    return time.time() if now is None else float(now)


def _bucket_of(now: float, window_s: float, buckets: int) -> tuple[int, float]:
    if window_s <= 0 or buckets < 1:
        raise ValueError(f"window_s must be > 0 and buckets >= 1, not {window_s}, {buckets}")
    width = window_s / buckets
    return math.floor(now / width), width


# ---------------------------------------------------------------------------------------------
# In memory


class _Hll:
    """A HyperLogLog sketch (Flajolet et al. 2007) of 2**11 one-byte registers, with the
    linear-counting correction for small sets; unions are the element-wise maximum."""

    @staticmethod
    def new() -> np.ndarray[Any, np.dtype[np.uint8]]:
        return np.zeros(_HLL_M, dtype=np.uint8)

    @staticmethod
    def add(registers: np.ndarray[Any, np.dtype[np.uint8]], item: str) -> None:
        h = int.from_bytes(hashlib.blake2b(item.encode(), digest_size=8).digest(), "big")
        index = h >> (64 - _HLL_P)
        rest = h & ((1 << (64 - _HLL_P)) - 1)
        rank = (64 - _HLL_P) - rest.bit_length() + 1
        if rank > registers[index]:
            registers[index] = rank

    @staticmethod
    def count(registers: np.ndarray[Any, np.dtype[np.uint8]]) -> int:
        m = float(_HLL_M)
        alpha = 0.7213 / (1 + 1.079 / m)
        estimate = alpha * m * m / float(np.sum(np.exp2(-registers.astype(np.float64))))
        zeros = int(np.count_nonzero(registers == 0))
        if estimate <= 2.5 * m and zeros:
            estimate = m * math.log(m / zeros)
        return round(estimate)


@dataclass
class _Entry:
    value: Any
    expires: float


class _SingleOps(ABC):
    """One operation as a batch of one: what :class:`MemoryStore` and :class:`RedisStore` share
    (the monitors batch their operations; these are for callers with one)."""

    @abstractmethod
    def batch(self) -> Batch:
        """A new batch of operations against this store."""

    async def _one(self, queue: Any) -> Any:
        b = self.batch()
        pending = queue(b)
        await b.run()
        return pending.value

    async def incr_window(
        self,
        key: str,
        window_s: float,
        amount: int = 1,
        now: float | None = None,
        buckets: int = 12,
    ) -> int:
        value: int = await self._one(lambda b: b.incr_window(key, window_s, amount, now, buckets))
        return value

    async def add_distinct(
        self,
        key: str,
        items: Sequence[str],
        window_s: float,
        now: float | None = None,
        buckets: int = 6,
    ) -> int:
        value: int = await self._one(lambda b: b.add_distinct(key, items, window_s, now, buckets))
        return value

    async def baseline(
        self,
        key: str,
        bucket_s: float,
        alpha: float,
        ttl_s: float,
        amount: int = 1,
        now: float | None = None,
    ) -> Baseline:
        value: Baseline = await self._one(
            lambda b: b.baseline(key, bucket_s, alpha, ttl_s, amount, now)
        )
        return value

    async def push_recent(
        self, key: str, item: str, cap: int, ttl_s: float, now: float | None = None
    ) -> list[str]:
        value: list[str] = await self._one(lambda b: b.push_recent(key, item, cap, ttl_s, now))
        return value


class MemoryStore(_SingleOps):
    """State in this process: right for one guard process, lost when it exits.

    Entries expire by the ``now`` the operations are given; expired entries are swept every
    ``sweep_every`` operations, so memory follows the number of identities active within the
    longest window, not the number ever seen."""

    def __init__(self, sweep_every: int = 10_000) -> None:
        self._data: dict[str, _Entry] = {}
        self._ops = 0
        self._sweep_every = sweep_every

    def __len__(self) -> int:
        return len(self._data)

    def _get(self, key: str, now: float) -> Any:
        self._ops += 1
        if self._ops % self._sweep_every == 0:
            self.sweep(now)
        entry = self._data.get(key)
        if entry is None or entry.expires <= now:
            return None
        return entry.value

    def _put(self, key: str, value: Any, expires: float) -> None:
        self._data[key] = _Entry(value, expires)

    def sweep(self, now: float | None = None) -> int:
        """Drop every expired entry; return how many were dropped."""
        t = _now(now)
        dead = [k for k, e in self._data.items() if e.expires <= t]
        for k in dead:
            del self._data[k]
        return len(dead)

    # The operations are synchronous underneath: nothing awaits inside an update, so
    # concurrent requests in one event loop cannot interleave within one.

    def _incr_window(
        self, key: str, window_s: float, amount: int, now: float | None, buckets: int
    ) -> int:
        t = _now(now)
        current, width = _bucket_of(t, window_s, buckets)
        counts: dict[int, int] = self._get("w:" + key, t) or {}
        oldest = current - buckets + 1
        for b in [b for b in counts if b < oldest]:
            del counts[b]
        if amount:
            counts[current] = counts.get(current, 0) + amount
        if counts:
            self._put("w:" + key, counts, t + window_s + width)
        return sum(counts.values())

    def _add_distinct(
        self, key: str, items: Sequence[str], window_s: float, now: float | None, buckets: int
    ) -> int:
        t = _now(now)
        current, width = _bucket_of(t, window_s, buckets)
        sketches: dict[int, np.ndarray[Any, np.dtype[np.uint8]]] = self._get("d:" + key, t) or {}
        oldest = current - buckets + 1
        for b in [b for b in sketches if b < oldest]:
            del sketches[b]
        if items:
            registers = sketches.setdefault(current, _Hll.new())
            for item in items:
                _Hll.add(registers, item)
        if not sketches:
            return 0
        self._put("d:" + key, sketches, t + window_s + width)
        return _Hll.count(np.maximum.reduce(list(sketches.values())))

    def _baseline(
        self,
        key: str,
        bucket_s: float,
        alpha: float,
        ttl_s: float,
        amount: int,
        now: float | None,
    ) -> Baseline:
        t = _now(now)
        bucket = math.floor(t / bucket_s)
        state: list[float] | None = self._get("b:" + key, t)
        if state is None:
            state = [bucket, 0, 0.0, bucket]  # bucket, count, ewma, first bucket
        last, count, ewma, first = int(state[0]), int(state[1]), float(state[2]), int(state[3])
        if bucket > last:
            ewma = _fold(ewma, count, bucket - last, alpha)
            last, count = bucket, 0
        count += amount
        self._put("b:" + key, [last, count, ewma, first], t + ttl_s)
        return Baseline(current=count, ewma=ewma, age_buckets=max(0, last - first))

    def _push_recent(
        self, key: str, item: str, cap: int, ttl_s: float, now: float | None
    ) -> list[str]:
        _check_item(item)
        t = _now(now)
        items: list[str] = self._get("r:" + key, t) or []
        before = list(items)
        items.insert(0, item)
        del items[cap:]
        self._put("r:" + key, items, t + ttl_s)
        return before

    def batch(self) -> _MemoryBatch:
        return _MemoryBatch(self)

    async def close(self) -> None:
        self._data.clear()


class _MemoryBatch:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._queued: list[tuple[Pending[Any], Any]] = []

    def _queue(self, op: Any) -> Pending[Any]:
        pending: Pending[Any] = Pending()
        self._queued.append((pending, op))
        return pending

    def incr_window(
        self,
        key: str,
        window_s: float,
        amount: int = 1,
        now: float | None = None,
        buckets: int = 12,
    ) -> Pending[int]:
        s = self._store
        return self._queue(lambda: s._incr_window(key, window_s, amount, now, buckets))

    def add_distinct(
        self,
        key: str,
        items: Sequence[str],
        window_s: float,
        now: float | None = None,
        buckets: int = 6,
    ) -> Pending[int]:
        s, its = self._store, list(items)
        return self._queue(lambda: s._add_distinct(key, its, window_s, now, buckets))

    def baseline(
        self,
        key: str,
        bucket_s: float,
        alpha: float,
        ttl_s: float,
        amount: int = 1,
        now: float | None = None,
    ) -> Pending[Baseline]:
        s = self._store
        return self._queue(lambda: s._baseline(key, bucket_s, alpha, ttl_s, amount, now))

    def push_recent(
        self, key: str, item: str, cap: int, ttl_s: float, now: float | None = None
    ) -> Pending[list[str]]:
        s = self._store
        return self._queue(lambda: s._push_recent(key, item, cap, ttl_s, now))

    async def run(self) -> None:
        for pending, op in self._queued:
            pending.set(op())
        self._queued.clear()


def _fold(ewma: float, count: int, gap: int, alpha: float) -> float:
    """Fold a completed bucket's ``count`` into ``ewma``, then ``gap - 1`` idle buckets."""
    ewma = alpha * count + (1 - alpha) * ewma
    return ewma * (1 - alpha) ** (gap - 1)


# ---------------------------------------------------------------------------------------------
# Redis

# KEYS[1]: a hash of bucket -> count. ARGV: current bucket, amount, oldest bucket, ttl (ms).
_INCR_WINDOW = """
local current, amount, oldest = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if amount ~= 0 then redis.call('HINCRBY', KEYS[1], ARGV[1], amount) end
local all = redis.call('HGETALL', KEYS[1])
local total = 0
for i = 1, #all, 2 do
  if tonumber(all[i]) < oldest then
    redis.call('HDEL', KEYS[1], all[i])
  else
    total = total + tonumber(all[i + 1])
  end
end
if #all > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
return total
"""

# KEYS[1]: a hash {b: bucket, c: count, e: ewma, f: first bucket}.
# ARGV: bucket, amount, alpha, ttl (ms). Returns {count, ewma as string, age}.
_BASELINE = """
local bucket, amount, alpha = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local s = redis.call('HMGET', KEYS[1], 'b', 'c', 'e', 'f')
local last, count, ewma, first = tonumber(s[1]), tonumber(s[2]), tonumber(s[3]), tonumber(s[4])
if last == nil then last, count, ewma, first = bucket, 0, 0, bucket end
if bucket > last then
  ewma = alpha * count + (1 - alpha) * ewma
  ewma = ewma * math.pow(1 - alpha, bucket - last - 1)
  last, count = bucket, 0
end
count = count + amount
redis.call('HSET', KEYS[1], 'b', last, 'c', count, 'e', string.format('%.17g', ewma), 'f', first)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local age = last - first
if age < 0 then age = 0 end
return {count, string.format('%.17g', ewma), age}
"""


# KEYS[1]: one string, the items newest first, separated by newlines (one bulk reply to read
# instead of a list of hundreds). ARGV: item, cap, ttl (ms). Returns the string before the push.
_PUSH_RECENT = """
local cap = tonumber(ARGV[2])
local old = redis.call('GET', KEYS[1])
local new = ARGV[1]
if old and cap > 1 then
  local keep, start, count = old, 1, 0
  while true do
    local nxt = string.find(old, '\\n', start, true)
    count = count + 1
    if count >= cap - 1 then
      if nxt then keep = string.sub(old, 1, nxt - 1) end
      break
    end
    if not nxt then break end
    start = nxt + 1
  end
  new = new .. '\\n' .. keep
end
redis.call('SET', KEYS[1], new, 'PX', ARGV[3])
return old or ''
"""


def _check_item(item: str) -> None:
    if "\n" in item:
        raise ValueError("a recent item cannot contain a newline")


def _redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, "", ""))


class RedisStore(_SingleOps):
    """State in Redis (``redis.asyncio``), shared by every guard process that points at it.

    Keys live under ``namespace`` (``openward:guard:`` by default), each with a time to live.
    Connection and command timeouts default to one second and failed commands are not retried,
    so a dead Redis costs a request about a second, not a minute; a ``socket_timeout=...``
    query in the URL overrides that."""

    def __init__(
        self,
        url: str,
        namespace: str = NAMESPACE,
        timeout_s: float = 1.0,
    ) -> None:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self.url = _redact_url(url)
        self.namespace = namespace
        try:
            client = aioredis.Redis.from_url(
                url,
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
                retry=Retry(NoBackoff(), 0),
                decode_responses=True,
            )
        except ValueError as exc:
            raise StoreUnavailable(self.url, f"not a usable Redis URL: {exc}") from None
        self._redis: Any = client

    def key(self, kind: str, key: str) -> str:
        """The Redis key of the caller's ``key`` for an operation of ``kind``."""
        return f"{self.namespace}{kind}:{key}"

    def failed(self, exc: Exception) -> StoreUnavailable:
        return StoreUnavailable(self.url, f"{type(exc).__name__}: {exc}")

    async def ping(self) -> None:
        """Raise :class:`StoreUnavailable` unless Redis answers."""
        from redis.exceptions import RedisError

        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            raise self.failed(exc) from exc

    def batch(self) -> _RedisBatch:
        return _RedisBatch(self, self._redis.pipeline(transaction=True))

    async def delete_namespace(self) -> int:
        """Delete every key under this store's namespace (tests, and a deployer's reset);
        return how many were deleted."""
        from redis.exceptions import RedisError

        deleted = 0
        try:
            async for k in self._redis.scan_iter(match=self.namespace + "*", count=500):
                deleted += int(await self._redis.delete(k))
        except (RedisError, OSError) as exc:
            raise self.failed(exc) from exc
        return deleted

    async def close(self) -> None:
        await self._redis.aclose()


class _RedisBatch:
    """Operations queued on one MULTI/EXEC pipeline; each knows how many replies are its own
    and how to read them."""

    def __init__(self, store: RedisStore, pipe: Any) -> None:
        self._store = store
        self._pipe = pipe
        self._queued: list[tuple[Pending[Any], int, Any]] = []

    def _script(self, script: str, key: str, args: list[Any]) -> None:
        # EVAL, not EVALSHA: Redis caches the compiled script by its hash either way, and a
        # pipeline of EVALSHA costs a SCRIPT EXISTS round trip per batch (or, without it, a
        # NOSCRIPT failure half-way through a transaction after a Redis restart)
        # EVAL runs openward's own constant Lua scripts in Redis; keys and args are data
        self._pipe.eval(script, 1, key, *args)  # safe: openward's own constant Lua script

    def incr_window(
        self,
        key: str,
        window_s: float,
        amount: int = 1,
        now: float | None = None,
        buckets: int = 12,
    ) -> Pending[int]:
        current, width = _bucket_of(_now(now), window_s, buckets)
        ttl_ms = math.ceil((window_s + width) * 1000)
        args = [current, int(amount), current - buckets + 1, ttl_ms]
        self._script(_INCR_WINDOW, self._store.key("w", key), args)
        pending: Pending[int] = Pending()
        self._queued.append((pending, 1, lambda r: int(r[0])))
        return pending

    def add_distinct(
        self,
        key: str,
        items: Sequence[str],
        window_s: float,
        now: float | None = None,
        buckets: int = 6,
    ) -> Pending[int]:
        current, width = _bucket_of(_now(now), window_s, buckets)
        ttl_ms = math.ceil((window_s + width) * 1000)
        base = self._store.key("d", key)
        keys = [f"{base}:{b}" for b in range(current - buckets + 1, current + 1)]
        replies = 1
        if items:
            self._pipe.pfadd(keys[-1], *items)
            self._pipe.pexpire(keys[-1], ttl_ms)
            replies = 3
        self._pipe.pfcount(*keys)
        pending: Pending[int] = Pending()
        self._queued.append((pending, replies, lambda r: int(r[-1])))
        return pending

    def baseline(
        self,
        key: str,
        bucket_s: float,
        alpha: float,
        ttl_s: float,
        amount: int = 1,
        now: float | None = None,
    ) -> Pending[Baseline]:
        bucket = math.floor(_now(now) / bucket_s)
        args = [bucket, int(amount), repr(float(alpha)), math.ceil(ttl_s * 1000)]
        self._script(_BASELINE, self._store.key("b", key), args)
        pending: Pending[Baseline] = Pending()
        self._queued.append(
            (pending, 1, lambda r: Baseline(int(r[0][0]), float(r[0][1]), int(r[0][2])))
        )
        return pending

    def push_recent(
        self, key: str, item: str, cap: int, ttl_s: float, now: float | None = None
    ) -> Pending[list[str]]:
        _check_item(item)
        args = [item, int(cap), math.ceil(ttl_s * 1000)]
        self._script(_PUSH_RECENT, self._store.key("r", key), args)
        pending: Pending[list[str]] = Pending()
        self._queued.append((pending, 1, lambda r: r[0].split("\n") if r[0] else []))
        return pending

    async def run(self) -> None:
        from redis.exceptions import RedisError

        if not self._queued:
            return
        try:
            async with self._pipe as pipe:
                replies = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise self._store.failed(exc) from exc
        at = 0
        for pending, n, read in self._queued:
            pending.set(read(replies[at : at + n]))
            at += n
        self._queued.clear()


def store_from_env(environ: dict[str, str] | None = None, namespace: str = NAMESPACE) -> Store:
    """A :class:`RedisStore` when ``OPENWARD_GUARD_REDIS`` is set (a ``redis://``,
    ``rediss://`` or ``unix://`` URL), else a :class:`MemoryStore`.

    The Redis connection is made on first use: a Redis that is down makes the first operation
    raise :class:`StoreUnavailable`, not this function."""
    env = os.environ if environ is None else environ
    url = env.get(ENV_REDIS, "").strip()
    if not url:
        return MemoryStore()
    scheme = urlsplit(url).scheme
    if scheme not in ("redis", "rediss", "unix"):
        raise StoreUnavailable(
            _redact_url(url), f"{ENV_REDIS} must be a redis://, rediss:// or unix:// URL"
        )
    return RedisStore(url, namespace=namespace)
