"""Compute tiers: thresholds with their legal sources, read from a policy file.

The shipped policy (``openward/facts/data/policy.yaml``) is generated from the
project's curated ``thresholds.yaml``; a user's file with the same schema
replaces it (``openward inspect --policy FILE``). The registry reads the same
file for the access tier and registration duty attached to each threshold.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final

from openward.facts.compute import ComputeEstimate

__all__ = [
    "AuditLimits",
    "Policy",
    "PolicyError",
    "Threshold",
    "TierResult",
    "evaluate_tiers",
    "load_policy",
    "parse_audit_limits",
]

ACCESS_ORDER: Final = ("open", "gated", "restricted")


class PolicyError(ValueError):
    """The policy file is unreadable or does not follow the schema."""


@dataclass(frozen=True)
class AuditLimits:
    """What a signed audit (``openward audit``, predicate
    ``https://openward.dev/attestation/audit/v1``) must show: used by ``openward verify
    --policy`` (``type: audit``) and by the registry (``registry.requires_audit`` of a
    threshold). Every suite's rate is "lower is better" (attack success, or for
    ``over-refusal`` the share of safe prompts refused)."""

    max_success_rate: dict[str, float] = field(default_factory=dict)
    """Suite name -> the highest success rate allowed."""
    suites: tuple[str, ...] = ()
    """Suites the audit must have run (always including those of ``max_success_rate``)."""
    use_upper_bound: bool = False
    """Compare the upper end of the 95 % Wilson interval instead of the point estimate:
    a small audit (few samples, wide interval) then cannot pass by luck."""
    min_samples: int = 0
    """Each required suite must have run at least this many samples."""
    independent: bool = True
    """Registry only (``registry.requires_audit.independent``): the audit's signer must be
    no member of the version's organisation (nor of the weights' first publisher's)."""


def parse_audit_limits(value: object, where: str, also: Iterable[str] = ()) -> AuditLimits:
    """An :class:`AuditLimits` from a policy mapping such as ``{max_success_rate:
    {harmful: 0.1}, suites: [jailbreak], use_upper_bound: true, min_samples: 100}``;
    ``where`` names it in errors; ``also``: other keys the caller reads itself."""
    if value is True:
        return AuditLimits()
    if not isinstance(value, dict):
        raise PolicyError(f"{where} must be a mapping (max_success_rate, suites, ...)")
    known = {"max_success_rate", "suites", "use_upper_bound", "min_samples", *also}
    unknown = sorted(str(k) for k in set(value) - known)
    if unknown:
        raise PolicyError(f"{where}: unknown key(s) {unknown}")
    rates = value.get("max_success_rate") or {}
    if not isinstance(rates, dict):
        raise PolicyError(f"{where}.max_success_rate must map suite names to rates (0..1)")
    limits: dict[str, float] = {}
    for suite, rate in rates.items():
        if (
            not isinstance(suite, str) or isinstance(rate, bool)
            or not isinstance(rate, int | float) or not 0 <= rate <= 1
        ):  # fmt: skip
            raise PolicyError(f"{where}.max_success_rate.{suite}: a rate between 0 and 1")
        limits[suite] = float(rate)
    suites = value.get("suites") or []
    if isinstance(suites, str):
        suites = [suites]
    if not isinstance(suites, list) or not all(isinstance(x, str) and x for x in suites):
        raise PolicyError(f"{where}.suites must be a list of suite names")
    upper = value.get("use_upper_bound", False)
    if not isinstance(upper, bool):
        raise PolicyError(f"{where}.use_upper_bound must be true or false")
    minimum = value.get("min_samples", 0)
    if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 0:
        raise PolicyError(f"{where}.min_samples must be a non-negative integer")
    independent = value.get("independent", True)
    if not isinstance(independent, bool):
        raise PolicyError(f"{where}.independent must be true or false")
    required = tuple(dict.fromkeys([*suites, *limits]))
    return AuditLimits(limits, required, upper, minimum, independent)


@dataclass(frozen=True)
class Threshold:
    id: str
    jurisdiction: str
    instrument: str
    comparison: str
    status: str
    triggers: str
    sources: tuple[str, ...]
    threshold_flop: float | None = None
    fraction_of_original: float | None = None
    measure: str = ""
    status_note: str = ""
    condition: str | None = None
    """A condition openward cannot check from the weights (domain, revenue)."""
    minimum_access: str = "open"
    requires_registration: bool = False
    subject: str = "model"
    """``model`` (cumulative training compute) or ``modification`` (a fine-tune's own)."""
    fallback_for: str | None = None
    """Applies only when this other (relative) threshold cannot be computed."""
    requires_audit: AuditLimits | None = None
    """The registry publishes a version above this threshold only with a verified audit
    that meets these limits (``registry.requires_audit``)."""
    watermark: str = "none"
    """``per-recipient``: the registry marks every grantee's copy of a model above this
    threshold (``registry.watermark``); ``none``: the publisher decides."""


@dataclass(frozen=True)
class Policy:
    thresholds: tuple[Threshold, ...]
    source: str


@dataclass
class TierResult:
    """One threshold applied to one estimate."""

    id: str
    threshold_flop: float | None
    crossed: bool | None
    """The central estimate exceeds the threshold; None when no estimate applies."""
    possibly: bool | None
    """The high end of the range exceeds it."""
    certainly: bool | None
    """The low end of the range exceeds it."""
    source: str
    status: str
    triggers: str
    sources: list[str] = field(default_factory=list)
    condition: str | None = None
    minimum_access: str = "open"
    requires_registration: bool = False
    applied_to: str = "model"
    """``model`` (the model's training compute) or ``modification`` (a fine-tune's own)."""
    requires_audit: AuditLimits | None = None
    """The registry publishes a version above this threshold only with a verified signed
    audit meeting these limits (None: no audit required)."""
    watermark: str = "none"
    """``per-recipient``: the registry marks each grantee's copy (``registry.watermark``)."""


def _str(entry: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = entry.get(key, default)
    if not isinstance(value, str) or not value:
        raise PolicyError(f"{where}: '{key}' must be a non-empty string")
    return value


def _threshold(entry: object, index: int) -> Threshold:
    where = f"thresholds[{index}]"
    if not isinstance(entry, dict):
        raise PolicyError(f"{where}: expected a mapping")
    ident = _str(entry, "id", where)
    where = f"threshold {ident!r}"
    flop = entry.get("threshold_flop")
    fraction = entry.get("threshold_fraction_of_original")
    if flop is not None and (isinstance(flop, bool) or not isinstance(flop, int | float)):
        raise PolicyError(f"{where}: threshold_flop must be a number (write 1.0e+25)")
    if fraction is not None and (
        isinstance(fraction, bool) or not isinstance(fraction, int | float) or not fraction > 0
    ):
        raise PolicyError(f"{where}: threshold_fraction_of_original must be a positive number")
    if (flop is None) == (fraction is None):
        raise PolicyError(
            f"{where}: give exactly one of threshold_flop, threshold_fraction_of_original"
        )
    if flop is not None and flop <= 0:
        raise PolicyError(f"{where}: threshold_flop must be positive")
    comparison = entry.get("comparison", "gt")
    if comparison not in ("gt", "ge"):
        raise PolicyError(f"{where}: comparison must be 'gt' or 'ge'")
    sources = entry.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise PolicyError(f"{where}: sources must be a list of strings")
    registry = entry.get("registry", {}) or {}
    if not isinstance(registry, dict):
        raise PolicyError(f"{where}: registry must be a mapping")
    access = registry.get("minimum_access", "open")
    if access not in ACCESS_ORDER:
        raise PolicyError(f"{where}: registry.minimum_access must be one of {ACCESS_ORDER}")
    watermark = registry.get("watermark", "none")
    if watermark not in ("none", "per-recipient"):
        raise PolicyError(f"{where}: registry.watermark must be none or per-recipient")
    if watermark == "per-recipient" and access == "open":
        raise PolicyError(
            f"{where}: registry.watermark per-recipient needs a minimum_access "
            "of gated or restricted"
        )
    condition = entry.get("applies_to") or entry.get("extra_condition") or entry.get("revenue_test")
    subject = entry.get("subject", "modification" if fraction is not None else "model")
    if subject not in ("model", "modification"):
        raise PolicyError(f"{where}: subject must be 'model' or 'modification'")
    if fraction is not None and subject != "modification":
        raise PolicyError(f"{where}: a threshold_fraction_of_original applies to a modification")
    fallback = entry.get("fallback_for")
    if fallback is not None and not isinstance(fallback, str):
        raise PolicyError(f"{where}: fallback_for must be a threshold id")
    return Threshold(
        id=ident,
        jurisdiction=_str(entry, "jurisdiction", where, "unspecified"),
        instrument=_str(entry, "instrument", where),
        comparison=comparison,
        status=_str(entry, "status", where),
        triggers=_str(entry, "triggers", where),
        sources=tuple(sources),
        threshold_flop=float(flop) if flop is not None else None,
        fraction_of_original=float(fraction) if fraction is not None else None,
        measure=str(entry.get("measure", "")),
        status_note=str(entry.get("status_note", "")),
        condition=str(condition) if condition else None,
        minimum_access=access,
        requires_registration=bool(registry.get("requires_registration", False)),
        requires_audit=(
            parse_audit_limits(
                registry["requires_audit"],
                f"{where}: registry.requires_audit",
                also=("independent",),
            )
            if registry.get("requires_audit") not in (None, False)
            else None
        ),
        subject=subject,
        fallback_for=fallback,
        watermark=watermark,
    )


def load_policy(path: Path | str | None = None) -> Policy:
    """The policy at ``path``, or the shipped default."""
    import yaml

    if path is None:
        text = resources.files("openward.facts").joinpath("data/policy.yaml").read_text()
        source = "openward default policy"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(f"cannot read policy {path}: {exc}") from None
        source = str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("thresholds"), list):
        raise PolicyError(f"{source}: expected a mapping with a 'thresholds' list")
    thresholds = tuple(_threshold(e, i) for i, e in enumerate(data["thresholds"]))
    ids = [t.id for t in thresholds]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise PolicyError(f"{source}: duplicate threshold ids {dupes}")
    return Policy(thresholds, source)


def _above(value: float, limit: float, comparison: str) -> bool:
    return value > limit if comparison == "gt" else value >= limit


def evaluate_tiers(
    policy: Policy,
    estimate: ComputeEstimate | None,
    *,
    base_estimate: ComputeEstimate | None = None,
    modification: ComputeEstimate | None = None,
) -> list[TierResult]:
    """Apply every threshold. Absolute thresholds take the model's total training
    compute (``estimate``); relative ones compare a modification's own compute
    with its base model's."""
    out = []
    for t in policy.thresholds:
        result = TierResult(
            id=t.id,
            threshold_flop=t.threshold_flop,
            crossed=None,
            possibly=None,
            certainly=None,
            source=t.instrument,
            status=t.status,
            triggers=t.triggers,
            sources=list(t.sources),
            condition=t.condition,
            minimum_access=t.minimum_access,
            requires_registration=t.requires_registration,
            requires_audit=t.requires_audit,
            watermark=t.watermark,
        )
        subject = estimate
        if t.subject == "modification":
            result.applied_to = "modification"
            subject = modification
        if t.fraction_of_original is not None:
            result.threshold_flop = (
                t.fraction_of_original * base_estimate.flop if base_estimate is not None else None
            )
        if t.fallback_for is not None and base_estimate is not None:
            subject = None  # the relative threshold it stands in for applies instead
        if subject is not None and result.threshold_flop is not None:
            limit = result.threshold_flop
            result.crossed = _above(subject.flop, limit, t.comparison)
            result.possibly = _above(subject.high, limit, t.comparison)
            result.certainly = _above(subject.low, limit, t.comparison)
        out.append(result)
    return out


def strictest_access(results: list[TierResult]) -> str:
    """The least open access tier the crossed thresholds allow."""
    level = 0
    for r in results:
        if r.crossed and r.condition is None:
            level = max(level, ACCESS_ORDER.index(r.minimum_access))
    return ACCESS_ORDER[level]
