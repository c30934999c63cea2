"""Detecting the refusal-direction edit ("abliteration", Arditi et al. 2024) between a model
and its base.

Abliteration orthogonalises every matrix that writes the residual stream against one
direction r: ``W' = W - r r^T W`` for the attention output and MLP down projections (and
``E' = E - E r r^T`` for the embedding). So each difference ``W' - W = -r (r^T W)`` has rank
one, and all of them share the same r. An ordinary fine-tune changes the same matrices in
many directions, different from layer to layer.

For each layer's ``o`` and ``down`` matrix (rows: hidden units; read whole when small,
else the same evenly spaced rows of both models) the difference's leading left singular
vector u_l and the share of its energy in that direction (``rank1``) are computed. The
common direction is the leading principal direction of all u_l; ``direction_consistency``
is the median |cos(u_l, common)|, and ``aligned_energy`` the share of all difference energy
along it. An edit is reported when the differences concentrate on one shared direction:
aligned energy at least 0.2 and consistency at least 0.6 over most layers. A short fine-tune
after the edit adds diffuse change (lower ``rank1``) but leaves the shared direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from openward.lineage.weights import LineageError, TensorRef, WeightSource

__all__ = ["SafetyEdit", "detect_safety_edit"]

ROW_BUDGET: Final = 1 << 22
MAX_ROWS: Final = 1024
MIN_ALIGNED_ENERGY: Final = 0.2
MIN_CONSISTENCY: Final = 0.6
ALIGNED_LAYER: Final = 0.6

Floats = npt.NDArray[np.float64]


@dataclass
class SafetyEdit:
    detected: bool
    direction_consistency: float
    layers: list[int]
    evidence: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "detected": self.detected,
            "direction_consistency": round(self.direction_consistency, 4),
            "layers": self.layers,
            "evidence": self.evidence,
        }


def top_singular(d: Floats, power: int = 6, width: int = 8) -> tuple[Floats, Floats, float]:
    """(left vector, right vector, squared value) of ``d``'s leading singular triple, by a
    randomized range finder with ``power`` power iterations (Halko et al.): a full SVD of a
    896 x 4864 difference took 7 s here, this a few milliseconds, and the leading triple is
    all the test needs."""
    rng = np.random.default_rng(0)
    width = min(width, *d.shape)
    y = d @ rng.standard_normal((d.shape[1], width))
    for _ in range(power):
        y, _ = np.linalg.qr(y)
        y = d @ (d.T @ y)
    q, _ = np.linalg.qr(y)
    u_small, sv, vt = np.linalg.svd(q.T @ d, full_matrices=False)
    return q @ u_small[:, 0], vt[0], float(sv[0] ** 2)


def _rows(ref: TensorRef) -> list[int]:
    if ref.rows * ref.cols <= ROW_BUDGET:
        return list(range(ref.rows))
    return sorted({int(x) for x in np.linspace(0, ref.rows - 1, MAX_ROWS).round()})


def detect_safety_edit(cand: WeightSource, base: WeightSource) -> SafetyEdit:
    """Compare the residual-writing matrices of ``cand`` and ``base`` (same architecture).

    Raises:
        LineageError: the two models do not have the same shapes.
    """
    if cand.hidden != base.hidden or cand.n_layers != base.n_layers:
        raise LineageError(
            "a safety-edit check needs the same architecture "
            f"(hidden {cand.hidden} vs {base.hidden}, layers {cand.n_layers} vs {base.n_layers})"
        )
    directions: list[Floats] = []
    energies: list[float] = []
    rank1: list[float] = []
    owners: list[int] = []
    diffs: list[Floats] = []
    rows_used: list[int] | None = None
    for layer in sorted(cand.layers):
        for role in ("o", "down"):
            c_ref = cand.layers[layer].get(role)
            b_ref = base.layers.get(layer, {}).get(role)
            if c_ref is None or b_ref is None:
                continue
            if (c_ref.rows, c_ref.cols) != (b_ref.rows, b_ref.cols):
                raise LineageError(f"layer {layer} {role}: shapes differ")
            rows = _rows(c_ref)
            rows_used = rows
            d = cand.read_rows(c_ref, rows).astype(np.float64) - base.read_rows(b_ref, rows).astype(
                np.float64
            )
            total = float(np.sum(d * d))
            if total == 0.0:
                continue
            u, _, top = top_singular(d)
            directions.append(u)
            rank1.append(top / total)
            energies.append(total)
            owners.append(layer)
            diffs.append(d)
    evidence: dict[str, Any] = {"matrices_changed": len(directions)}
    if len(directions) < 2:
        return SafetyEdit(False, 0.0, [], {**evidence, "reason": "fewer than two changed matrices"})
    stacked = np.stack(directions)
    _, _, vt = np.linalg.svd(stacked, full_matrices=False)
    common = vt[0]
    cosines = np.abs(stacked @ common)
    aligned = sum(float(np.sum((common @ d) ** 2)) for d in diffs) / sum(energies)
    consistency = float(np.median(cosines))
    aligned_layers = sorted({owners[i] for i, c in enumerate(cosines) if c >= ALIGNED_LAYER})
    layer_share = len(aligned_layers) / len(set(owners))
    embed_alignment = None
    if rows_used is not None and len(rows_used) == cand.hidden:
        embed_alignment = _embedding_alignment(cand, base, common)
    evidence.update(
        aligned_energy=round(aligned, 4),
        rank1_median=round(float(np.median(rank1)), 4),
        aligned_layer_share=round(layer_share, 4),
        embedding_alignment=None if embed_alignment is None else round(embed_alignment, 4),
    )
    detected = (
        aligned >= MIN_ALIGNED_ENERGY and consistency >= MIN_CONSISTENCY and layer_share >= 0.5
    )
    return SafetyEdit(detected, consistency, aligned_layers if detected else [], evidence)


def _embedding_alignment(cand: WeightSource, base: WeightSource, common: Floats) -> float | None:
    """|cos| between the embedding difference's leading right singular vector and the common
    direction (the edit orthogonalises the embedding against the same r), over 512 tokens."""
    if (cand.embed.rows, cand.embed.cols) != (base.embed.rows, base.embed.cols):
        return None
    rows = sorted({int(x) for x in np.linspace(0, cand.embed.rows - 1, 512).round()})
    d = cand.read_rows(cand.embed, rows).astype(np.float64) - base.read_rows(
        base.embed, rows
    ).astype(np.float64)
    if not np.any(d):
        return None
    _, right, _ = top_singular(d)
    return float(abs(right @ common))
