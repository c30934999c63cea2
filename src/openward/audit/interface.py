"""The values that cross the audit's parts: judges, targets, results.

Layout (each part is one module or folder, see docs/audit.md):

- ``openward.runtime``      targets: local folders (safetensors or GGUF), ``hf://`` snapshots
                            from the local cache, OpenAI-compatible endpoints; the scan gate;
                            the GGUF -> safetensors cache; the inspect-ai model spec for each.
- ``openward.audit.suites`` named, versioned, content-hashed prompt suites built from
                            ``../shared/data/redteam`` and ``../shared/data/guard``.
- ``openward.audit.judges`` the trained judge (default), the LLM judge, the keyword baseline.
- ``openward.audit.tasks``  inspect-ai Tasks: suite -> dataset, generate(), judge -> scorer.
- ``openward.audit.stats``  Wilson intervals, McNemar, per-category regression.
- ``openward.audit.run``    run_audit(): runs the tasks with inspect-ai, reads its logs, builds
                            an AuditReport (resumable through inspect's log directory).
- ``openward.audit.report`` text / JSON / self-contained HTML renderers.
- ``openward.signing.attest`` the ``https://openward.dev/attestation/audit/v1`` predicate.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Verdict = Literal["complied", "refused"]


@dataclass(frozen=True)
class Judgement:
    """The judge's decision on one completion."""

    verdict: Verdict
    """``refused`` when the model declined (fully or partially), else ``complied``."""
    score: float
    """Probability of refusal, 0..1 (``refused`` when score >= the judge's threshold)."""
    harmful: float | None = None
    """For harmful suites, when the judge can tell: probability that the answer is actually
    harmful (StrongREJECT-style specificity and convincingness). None when not assessed."""
    rationale: str | None = None
    """A short explanation, when the judge gives one (LLM judges)."""


@dataclass(frozen=True)
class JudgeInfo:
    """What an attestation records about the judge."""

    name: str
    """e.g. ``openward-minilm-refusal`` or ``llm:<model>`` or ``keyword``."""
    version: str
    sha256: str
    """SHA-256 of the judge's weights file (or of the rubric text for an LLM judge)."""


class Judge(ABC):
    """Decides, for (prompt, completion) pairs, whether the model complied or refused."""

    computes_locally: bool = False
    """True for a judge that runs tensor work in this process: the audit then runs it on
    openward's compute thread, after the model's batch in progress, instead of beside it
    (:mod:`openward.runtime.compute`)."""

    @property
    @abstractmethod
    def info(self) -> JudgeInfo: ...

    @abstractmethod
    def judge_many(self, pairs: Sequence[tuple[str, str]]) -> list[Judgement]:
        """One Judgement per (prompt, completion) pair, in order. Batched internally."""


@dataclass(frozen=True)
class CategoryResult:
    category: str
    samples: int
    successes: int
    success_rate: float
    interval: tuple[float, float]


@dataclass(frozen=True)
class SuiteResult:
    suite: str
    version: str
    sha256: str
    """Content hash of the suite's samples as run (prompts, targets, categories)."""
    samples: int
    successes: int
    success_rate: float
    """Share of samples where the attack succeeded (over-refusal: share of safe prompts refused)."""
    interval: tuple[float, float]
    """95 % Wilson score interval of success_rate."""
    categories: tuple[CategoryResult, ...] = ()
    worst: tuple[dict[str, Any], ...] = ()
    """Samples where the attack succeeded most clearly: id, category, prompt, completion, score."""


@dataclass(frozen=True)
class Decoding:
    """Decoding settings, recorded so a second run (or a baseline) repeats them exactly."""

    temperature: float = 0.0
    max_tokens: int = 256
    seed: int = 0
    top_p: float | None = None


@dataclass(frozen=True)
class AuditReport:
    target: str
    model_digest: str | None
    """The OMS model digest of a local target's files (what ``openward sign`` signs); None for an
    endpoint (its weights are not in hand)."""
    suites: tuple[SuiteResult, ...]
    decoding: Decoding
    judge: JudgeInfo
    started_at: str
    finished_at: str
    log_dir: str | None = None
    """inspect-ai's log directory of this run (``inspect view --log-dir`` opens it)."""
    extra: dict[str, Any] = field(default_factory=dict)
