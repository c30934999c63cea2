"""One thread for the process's tensor work.

Each Python thread that runs torch operators gets its own OpenMP thread team, and once two
teams exist their threads outnumber the cores and the active team no longer keeps them
busy. Measured on 2 cores (SmolLM2-135M, a batch of 8, 48 tokens): generating always from
the same thread used 1.9 cores (user time over wall time); after one batch had run on
another thread, every batch used about 1.5 cores and took 10-20 % longer, whichever thread
ran it (``GOMP_SPINCOUNT`` did not change it). So openward runs its tensor work, loading a
model, generating, embedding for the judge, on one long-lived thread:
:func:`compute_bound` functions hop onto it when called from elsewhere, and async code
awaits :func:`in_compute_thread`.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, ParamSpec, TypeVar

__all__ = [
    "Coalescer",
    "compute_bound",
    "in_compute_thread",
    "lower_compute_priority",
    "on_compute_thread",
    "run_on_compute_thread",
]

P = ParamSpec("P")
R = TypeVar("R")

_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="openward-compute")
_compute_ident: int | None = None


def _mark() -> None:
    global _compute_ident
    _compute_ident = threading.get_ident()


_EXECUTOR.submit(_mark).result()


def on_compute_thread() -> bool:
    """True when the caller is the compute thread."""
    return threading.get_ident() == _compute_ident


def run_on_compute_thread(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``fn(*args, **kwargs)`` on the compute thread (directly when already there)."""
    if on_compute_thread():
        return fn(*args, **kwargs)
    return _EXECUTOR.submit(fn, *args, **kwargs).result()


def lower_compute_priority(niceness: int) -> bool:
    """Give the compute thread (and the OpenMP threads it starts from now on, which inherit
    it) ``niceness`` more than it has, for a process whose tensor work is background work
    (the guard's deferred judge): the scheduler then gives it the CPU its other threads leave.
    Linux only (per-thread nice values); False where it cannot be done."""

    def lower() -> bool:
        try:
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + niceness)
        except (AttributeError, OSError):
            return False
        return True

    return run_on_compute_thread(lower)


def compute_bound(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator: calls of ``fn`` run on the compute thread."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return run_on_compute_thread(fn, *args, **kwargs)

    return wrapper


async def in_compute_thread(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``fn(*args, **kwargs)`` on the compute thread, awaited without blocking the loop."""
    if on_compute_thread():
        return fn(*args, **kwargs)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_EXECUTOR, functools.partial(fn, *args, **kwargs))


T = TypeVar("T")


class Coalescer(Generic[T, R]):
    """Turns single awaited calls into batched calls on the compute thread.

    ``await coalescer.submit(item)`` returns ``fn([... item ...])``'s answer for ``item``:
    the items submitted while the compute thread is busy go together in the next call of
    ``fn`` (at most ``max_items``). Used for the judge, whose batched embedding costs less
    than a third per item of one item at a time. One per event loop.
    """

    def __init__(self, fn: Callable[[list[T]], list[R]], max_items: int = 64) -> None:
        self.fn = fn
        self.max_items = max_items
        self.waiting: list[tuple[T, asyncio.Future[R]]] = []
        self.worker: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self.waiting.append((item, future))
        if self.worker is None or self.worker.done():
            self.worker = asyncio.create_task(self._work())
        return await future

    async def _work(self) -> None:
        while True:
            await asyncio.sleep(0)  # let the other samples finishing now submit theirs
            live = [(item, fut) for item, fut in self.waiting if not fut.done()]
            if not live:
                self.waiting = []
                return
            batch, self.waiting = live[: self.max_items], live[self.max_items :]
            try:
                results = await in_compute_thread(self.fn, [item for item, _ in batch])
            except Exception as exc:  # every item of the batch fails with it
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, fut), result in zip(batch, results, strict=True):
                if not fut.done():
                    fut.set_result(result)
