"""Exact one-sided binomial tails and z-scores, with numpy only (no scipy)."""

from __future__ import annotations

import math


def binomial_sf(successes: int, trials: int, p: float) -> float:
    """``P[X >= successes]`` for ``X ~ Binomial(trials, p)``, exact (log-space sum)."""
    import numpy as np

    if successes <= 0:
        return 1.0
    if successes > trials:
        return 0.0
    k0 = successes
    log_first = (
        math.lgamma(trials + 1)
        - math.lgamma(k0 + 1)
        - math.lgamma(trials - k0 + 1)
        + k0 * math.log(p)
        + (trials - k0) * math.log1p(-p)
    )
    ks = np.arange(k0, trials, dtype=np.float64)
    # log pmf(k+1) - log pmf(k) = log((n-k)/(k+1)) + log(p/(1-p))
    steps = np.log((trials - ks) / (ks + 1.0)) + (math.log(p) - math.log1p(-p))
    logs = np.concatenate(([log_first], log_first + np.cumsum(steps)))
    top = float(logs.max())
    return float(min(1.0, math.exp(top) * float(np.exp(logs - top).sum())))


def z_score(successes: int, trials: int, p: float) -> float:
    """``(successes - p n) / sqrt(n p (1-p))``: the statistic the KGW paper thresholds at 4."""
    return (successes - p * trials) / math.sqrt(trials * p * (1.0 - p))
