"""Training-compute estimates: every figure with its method, inputs and a range.

Two methods, as Epoch AI uses them:

- **6ND**: 6 FLOP per active parameter per training token (forward 2, backward
  4). The band is ``[0.9, 1.7] x 6ND``: on the 52 open-weight models of
  ``open_models_compute.csv`` that give parameters, tokens and compute, the
  published figure divided by 6ND lies in 0.91-1.70 (46 of 52 within
  +-15 %); the excess comes from attention FLOPs, extra training stages and
  hardware-based estimates. A token count read from free text of a model card
  widens the band to ``[0.5, 2] x``.
- **hardware**: accelerators x hours x peak FLOP/s x utilisation. Peak is the
  dense 16-bit figure of the named accelerator; utilisation defaults to 0.4
  with a band of 0.3-0.5 (Epoch's usual assumption is 30-40 %).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "ACCELERATOR_PEAK_FLOPS",
    "ComputeEstimate",
    "EstimateInput",
    "estimate_training_flops",
]

SIX_ND_BAND: Final = (0.9, 1.7)
LOOSE_BAND: Final = (0.5, 2.0)
UTILIZATION: Final = (0.3, 0.4, 0.5)

ACCELERATOR_PEAK_FLOPS: Final[dict[str, float]] = {
    # Dense BF16/FP16 tensor-core peaks from the vendors' data sheets.
    "v100": 125e12,
    "a100": 312e12,
    "a800": 312e12,
    "h100": 989e12,
    "h800": 989e12,
    "h200": 989e12,
    "h20": 148e12,
    "b200": 2250e12,
    "gb200": 2500e12,
    "l40s": 362e12,
    "mi250x": 383e12,
    "mi300x": 1307e12,
    "tpu-v4": 275e12,
    "tpu-v5e": 197e12,
    "tpu-v5p": 459e12,
    "tpu-v6e": 918e12,
}


@dataclass(frozen=True)
class EstimateInput:
    """One input of an estimate and where it came from."""

    name: str
    value: int | float | str
    source: str


@dataclass
class ComputeEstimate:
    """A training-compute estimate: central value, range, method, inputs."""

    flop: float
    low: float
    high: float
    method: str
    """``6ND``, ``hardware`` or ``6ND+hardware`` (geometric mean of the two)."""
    inputs: list[EstimateInput] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _six_nd(
    active: int, active_source: str, tokens: float, tokens_source: str, loose: bool
) -> ComputeEstimate:
    flop = 6.0 * active * tokens
    lo, hi = LOOSE_BAND if loose else SIX_ND_BAND
    return ComputeEstimate(
        flop=flop,
        low=flop * lo,
        high=flop * hi,
        method="6ND",
        inputs=[
            EstimateInput("active_parameters", active, active_source),
            EstimateInput("training_tokens", tokens, tokens_source),
        ],
    )


def _hardware(
    accelerator: str, count: int, hours: float, utilization: float | None, source: str
) -> ComputeEstimate:
    key = accelerator.lower().replace(" ", "").replace("_", "-")
    peak = ACCELERATOR_PEAK_FLOPS.get(key)
    if peak is None:
        known = ", ".join(sorted(ACCELERATOR_PEAK_FLOPS))
        raise ValueError(f"unknown accelerator {accelerator!r}; known: {known}")
    lo_u, mid_u, hi_u = UTILIZATION if utilization is None else (utilization,) * 3
    base = count * hours * 3600.0 * peak
    return ComputeEstimate(
        flop=base * mid_u,
        low=base * lo_u,
        high=base * hi_u,
        method="hardware",
        inputs=[
            EstimateInput("accelerator", key, source),
            EstimateInput("peak_flop_per_second", peak, "vendor data sheet, dense 16-bit"),
            EstimateInput("accelerators", count, source),
            EstimateInput("hours", hours, source),
            EstimateInput(
                "utilization",
                mid_u,
                source if utilization is not None else "default 0.4 (band 0.3-0.5)",
            ),
        ],
    )


def estimate_training_flops(
    *,
    active_parameters: int | None = None,
    active_source: str = "weights",
    tokens: float | None = None,
    tokens_source: str = "--tokens",
    tokens_loose: bool = False,
    accelerator: str | None = None,
    accelerators: int | None = None,
    hours: float | None = None,
    utilization: float | None = None,
    hardware_source: str = "user",
) -> ComputeEstimate | None:
    """Estimate training compute; None when neither method has its inputs.

    With both methods' inputs the result is their geometric mean (Epoch AI's
    practice), its band spanning both bands.
    """
    if tokens is not None and tokens <= 0:
        raise ValueError("training tokens must be positive")
    if utilization is not None and not 0 < utilization <= 1:
        raise ValueError("utilization must be in (0, 1]")
    six = None
    if active_parameters and tokens:
        six = _six_nd(active_parameters, active_source, tokens, tokens_source, tokens_loose)
    hw = None
    if accelerator and accelerators and hours:
        if accelerators <= 0 or hours <= 0:
            raise ValueError("accelerator count and hours must be positive")
        hw = _hardware(accelerator, accelerators, hours, utilization, hardware_source)
    if six and hw:
        flop = (six.flop * hw.flop) ** 0.5
        return ComputeEstimate(
            flop=flop,
            low=min(six.low, hw.low),
            high=max(six.high, hw.high),
            method="6ND+hardware",
            inputs=six.inputs + hw.inputs,
            notes=[f"6ND gives {six.flop:.3g} FLOP, hardware {hw.flop:.3g}; geometric mean"],
        )
    return six or hw
