"""What lineage's representation and output modes share: the result, statistics, the check
that the ml extra is there.

A mode result has the weight mode's keys (``base``, ``verdict``, ``score``, ``p_value``,
``derivation``, ``layers``, ``safety_edit``, ``notes``) and adds ``mode`` and ``evidence``.
These modes see behaviour, not weights, so ``derivation`` is ``[]`` unless the verdict is
``identical``, and ``safety_edit`` is ``null``.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from openward.errors import OpenwardError
from openward.lineage.compare import binomial_tail

if TYPE_CHECKING:
    from openward.lineage.fingerprint import Fingerprint

__all__ = [
    "Mode",
    "ModeResult",
    "binomial_tail",
    "holm_max",
    "normal_tail",
    "require_ml",
]

Mode = Literal["weights", "representation", "outputs"]


@dataclass
class ModeResult:
    """One base's verdict from the representation or the output mode."""

    base: str
    mode: Mode
    verdict: Literal["identical", "derived", "unrelated"]
    score: float
    p_value: float
    derivation: list[str] = field(default_factory=list)
    layers: list[dict[str, Any]] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "verdict": self.verdict,
            "score": round(self.score, 4),
            "p_value": float(f"{self.p_value:.3g}"),
            "derivation": self.derivation,
            "layers": self.layers,
            "safety_edit": None,
            "notes": self.notes,
            "mode": self.mode,
            "evidence": self.evidence,
        }


def require_ml(what: str) -> None:
    """Raise a one-line error unless torch and transformers can be imported."""
    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise OpenwardError(
            f"{what} runs the models and needs {' and '.join(missing)}: "
            "pip install 'openward[audit]'"
        )


def normal_tail(z: float) -> float:
    """P(Z >= z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def holm_max(p_values: Sequence[float]) -> float:
    """The largest Holm-adjusted p-value: every null is rejected at level alpha exactly when
    this is at most alpha (Holm-Bonferroni over the references)."""
    ordered = sorted(p_values)
    m = len(ordered)
    adjusted = 0.0
    for j, p in enumerate(ordered):
        adjusted = max(adjusted, min(1.0, (m - j) * p))
    return adjusted


MODES: tuple[Mode, ...] = ("weights", "representation", "outputs")


def run_mode(
    candidate: str | None,
    bases: Sequence[str],
    *,
    mode: Mode,
    endpoint: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
    references: Sequence[str] | None = None,
    prompts: int | None = None,
    max_tokens: int | None = None,
) -> tuple[str, list[ModeResult]]:
    """(the candidate as reported, one result per base) for the representation or the
    output mode; ``endpoint`` (with ``model``) makes the candidate a served model.

    Raises:
        OpenwardError: anything that stops the comparison, in one line.
    """
    if not bases:
        raise OpenwardError("name at least one BASE model to compare with")
    if mode == "representation":
        if endpoint is not None:
            raise OpenwardError(
                "--mode representation reads hidden states, which an endpoint does not give: "
                "use --mode outputs with --endpoint"
            )
        if references or prompts is not None or max_tokens is not None:
            raise OpenwardError("--reference, --prompts and --max-tokens go with --mode outputs")
        if candidate is None:  # pragma: no cover (the CLI always passes one)
            raise OpenwardError("name the CANDIDATE model")
        from openward.lineage.representation import (
            compare_representations,
            load_representations,
        )

        require_ml("--mode representation")
        cand = load_representations(candidate)
        return candidate, [compare_representations(cand, load_representations(b), b) for b in bases]
    if mode != "outputs":
        raise OpenwardError(f"unknown mode {mode!r} (weights, representation or outputs)")
    return _run_outputs(
        candidate,
        bases,
        endpoint=endpoint,
        model=model,
        api_key=api_key,
        references=references,
        prompts=prompts,
        max_tokens=max_tokens,
    )


def _run_outputs(
    candidate: str | None,
    bases: Sequence[str],
    *,
    endpoint: str | None,
    model: str | None,
    api_key: str | None,
    references: Sequence[str] | None,
    prompts: int | None,
    max_tokens: int | None,
) -> tuple[str, list[ModeResult]]:
    from openward.lineage import outputs as out

    require_ml("lineage's output mode")
    n = prompts if prompts is not None else out.PROMPTS
    tokens = max_tokens if max_tokens is not None else out.MAX_TOKENS
    if endpoint is not None:
        from openward.runtime.targets import resolve_target

        target = resolve_target(None, endpoint=endpoint, model=model, api_key=api_key)
        cand = out.endpoint_replies(target, prompts=n, max_tokens=tokens)
    elif model is not None:
        raise OpenwardError("--model names an endpoint's model: give --endpoint URL too")
    elif candidate is None:  # pragma: no cover (the CLI always passes one)
        raise OpenwardError("name the CANDIDATE model or --endpoint URL --model NAME")
    else:
        cand = out.local_model(candidate, prompts=n, max_tokens=tokens).replies
    refs = list(references) if references else out.default_references()
    locals_: dict[str, out.LocalModel] = {}
    judged: dict[str, out.Judged] = {}
    fingerprints: dict[Path, Fingerprint] = {}

    def read(target: str) -> out.Judged:
        if target not in locals_:
            locals_[target] = out.local_model(target, prompts=n, max_tokens=tokens)
        if target not in judged:
            judged[target] = out.judge(locals_[target], cand)
        return judged[target]

    results = []
    for base in bases:
        base_judged = read(base)
        kept, notes = [], []
        for ref in refs:
            if ref not in locals_:
                locals_[ref] = out.local_model(ref, prompts=n, max_tokens=tokens)
            try:
                related = out.related_to(base_judged.model, locals_[ref], fingerprints)
            except OpenwardError as exc:
                notes.append(f"reference {ref}: weights not compared ({exc}); kept")
                related = False
            if related:
                notes.append(f"reference {ref} left out: its weights are of this base's family")
                continue
            kept.append(read(ref))
        result = out.compare_outputs(cand, base_judged, kept)
        result.notes.extend(notes)
        results.append(result)
    return cand.model, results
