"""How much an audit costs over generating the same samples by hand.

:func:`measure_throughput` generates one suite's samples twice on a local target: raw, with
:func:`openward.runtime.generate.generate_local` (transformers, batched), and as an audit
(inspect-ai's eval_set, the scorer, the log written to disk). Both sides load the model
before the clock starts, use the same batch size, greedy decoding and max tokens, so the
difference is what inspect-ai and openward add: scheduling, logging and judging. The
benchmark (``benchmarks/audit_bench.py``) reports it; the target is at most 10 % overhead.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from openward.audit.interface import Decoding, Judge
from openward.audit.suites import load_suite

if TYPE_CHECKING:
    from openward.runtime.targets import Target


@dataclass(frozen=True)
class Throughput:
    suite: str
    samples: int
    batch_size: int
    max_tokens: int
    raw_seconds: float
    """generate_local over the samples (model already loaded)."""
    audit_seconds: float
    """run_audit over the same samples (model already loaded, fresh log directory)."""

    @property
    def raw_per_minute(self) -> float:
        return 60 * self.samples / self.raw_seconds

    @property
    def audit_per_minute(self) -> float:
        return 60 * self.samples / self.audit_seconds

    @property
    def overhead(self) -> float:
        """Extra wall time of the audit over raw generation (0.10 = 10 %)."""
        return self.audit_seconds / self.raw_seconds - 1


def measure_throughput(
    target: Target,
    *,
    suite: str = "harmful",
    limit: int = 32,
    max_tokens: int = 64,
    batch_size: int = 8,
    judge: Judge | None = None,
    seed: int = 0,
    repeats: int = 2,
) -> Throughput:
    """Raw generation against a full audit of the same ``limit`` samples of ``suite``.

    Both sides warm up first (one short generation; one one-sample audit, which pays
    inspect-ai's first-use imports), then run ``repeats`` times, alternating, and each side
    keeps its best time: on a shared machine the noise between two runs of the same work
    (10-20 % here) is larger than the difference measured.
    """
    from openward.audit.judges import load_judge
    from openward.audit.run import run_audit
    from openward.runtime.generate import generate_local, load_local

    if target.load_path is None:
        raise ValueError("measure_throughput needs a local target (raw generation loads it)")
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    chosen = load_suite(suite, limit=limit, seed=seed)
    conversations = [
        [{"role": role, "content": text} for role, text in probe.messages]
        for probe in chosen.probes
    ]
    judge = judge or load_judge("default")
    model = target.inspect_model(batch_size=batch_size)
    load_local(target.load_path)

    def raw() -> float:
        started = time.perf_counter()
        generate_local(
            target.load_path,  # type: ignore[arg-type]  # checked above
            conversations,
            max_new_tokens=max_tokens,
            batch_size=batch_size,
        )
        return time.perf_counter() - started

    def audit(samples: int, tokens: int) -> float:
        with tempfile.TemporaryDirectory(prefix="openward-throughput-") as tmp:
            started = time.perf_counter()
            run_audit(
                target,
                suites=[suite],
                limit=samples,
                seed=seed,
                decoding=Decoding(max_tokens=tokens, seed=seed),
                judge=judge,
                log_dir=Path(tmp),
                progress=False,
                model=model,
            )
            return time.perf_counter() - started

    # warm-ups: the first call of each pays one-off costs (kernels, allocator, imports)
    generate_local(target.load_path, conversations[:1], max_new_tokens=2, batch_size=1)
    audit(1, 2)
    raw_times, audit_times = [], []
    for _ in range(repeats):
        raw_times.append(raw())
        audit_times.append(audit(limit, max_tokens))
    return Throughput(
        suite, len(chosen.probes), batch_size, max_tokens, min(raw_times), min(audit_times)
    )
