"""Published training compute of well-known open-weight models (Epoch AI data).

``data/open_models_compute.csv`` is the curated table of 58 open-weight
models from Epoch AI's "Notable AI Models" and "Large-Scale AI Models" data
(CC BY 4.0, attribution: Epoch AI, epoch.ai/data). A fine-tune's card names
its base model by Hub id; the id is matched to the table's model names after
normalisation (case, punctuation, a ``meta-`` prefix, ``-hf``/``-base``/
version suffixes), and the match is reported as such.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Final

from openward.facts.compute import ComputeEstimate, EstimateInput

__all__ = ["EPOCH_ATTRIBUTION", "PublishedCompute", "base_compute", "lookup"]

EPOCH_ATTRIBUTION: Final = (
    "Data: Epoch AI, 'Data on Notable AI Models' / 'Large-Scale AI Models', epoch.ai/data, "
    "CC BY 4.0"
)
# Epoch AI's confidence levels as factors around the published figure.
CONFIDENCE_FACTOR: Final = {"Confident": 3.0, "Likely": 10.0, "Speculative": 10**1.5}
_SUFFIX: Final = re.compile(r"(-hf|-base|-v\d+(\.\d+)*)$", re.IGNORECASE)


@dataclass(frozen=True)
class PublishedCompute:
    model: str
    organization: str
    total_params: float | None
    active_params: float | None
    training_tokens: float | None
    flop: float
    method: str
    confidence: str
    source: str


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9.]", "", text.lower())


def _float(text: str) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


@cache
def _table() -> dict[str, PublishedCompute]:
    raw = resources.files("openward.facts").joinpath("data/open_models_compute.csv").read_text()
    out: dict[str, PublishedCompute] = {}
    for row in csv.DictReader(io.StringIO(raw)):
        flop = _float(row["reported_training_flop"])
        if flop is None:
            continue
        entry = PublishedCompute(
            model=row["model"],
            organization=row["organization"],
            total_params=_float(row["total_params"]),
            active_params=_float(row["active_params"]),
            training_tokens=_float(row["training_tokens"]),
            flop=flop,
            method=row["flop_method"],
            confidence=row["epoch_confidence"],
            source=row["flop_source"],
        )
        out[_norm(row["model"])] = entry
    return out


def lookup(hub_id: str) -> PublishedCompute | None:
    """The table's entry for a Hub id such as ``meta-llama/Llama-3.1-8B``, if any."""
    name = hub_id.rsplit("/", 1)[-1]
    table = _table()
    candidates = [name]
    stripped = name
    while True:
        shorter = _SUFFIX.sub("", stripped)
        if shorter == stripped:
            break
        stripped = shorter
        candidates.append(stripped)
    candidates += [c[5:] for c in candidates if c.lower().startswith("meta-")]
    for candidate in candidates:
        hit = table.get(_norm(candidate))
        if hit is not None:
            return hit
    return None


def base_compute(hub_id: str) -> ComputeEstimate | None:
    """The published training compute of ``hub_id`` as an estimate with Epoch's range."""
    hit = lookup(hub_id)
    if hit is None:
        return None
    factor = CONFIDENCE_FACTOR.get(hit.confidence, 10.0)
    return ComputeEstimate(
        flop=hit.flop,
        low=hit.flop / factor,
        high=hit.flop * factor,
        method="published",
        inputs=[
            EstimateInput("model", hit.model, f"matched from base model id {hub_id!r}"),
            EstimateInput("training_flop", hit.flop, f"{hit.source} ({hit.method})"),
            EstimateInput("confidence", hit.confidence, "Epoch AI"),
        ],
        notes=[EPOCH_ATTRIBUTION],
    )
