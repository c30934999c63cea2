"""Detecting the refusal-direction edit ("abliteration", Arditi et al. 2024) between a model
and its base.

Abliteration orthogonalises every matrix that writes the residual stream against one
direction r: ``W' = W - r r^T W`` for the attention output and MLP down projections (and
``E' = E - E r r^T`` for the embedding). Two consequences are tested:

**The null direction** (base-free, basis-free). After the edit ``r^T W' = 0`` for every edited
matrix, so the Gram ``G_l = sum W W^T / |W|^2`` over a layer's ``o`` and ``down`` has an
eigenvalue of (almost) zero, and so has the sum over all layers plus ``E^T E``. A trained
model has none: its smallest eigenvalue over the median one is 0.3-0.46 over all layers and
about 0.08 per layer (SmolLM2-135M, Qwen2.5-0.5B and their fine-tunes, LoRA merges); an
abliteration drives it to 1e-13 and a 4-bit round trip after it lifts it only to about 1e-2.
A consistent permutation or rotation of hidden units rotates r with them and changes
nothing; per-layer directions (each layer its own r) show in the per-layer test; an edit of
some layers only shows in those layers. The candidate must have the null where its base has
not (a base that was itself edited says nothing about the derivative).

**The shared difference** (needs positions to line up). Each difference ``W' - W = -r (r^T W)``
has rank one and all share r; ``direction_consistency`` is the median |cos| of the layers'
leading difference directions with their common one and ``aligned_energy`` the share of all
difference energy along it. A shared direction alone is not the edit (a LoRA update is low
rank too): the candidate's matrices must also have lost their component along it
(``removed``: |u^T W'| / |u^T W| well below one in most layers). This path finds an edit that a
longer fine-tune has partly covered, when the two models still line up position by position.
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
MAX_REMOVED: Final = 0.5
"""The candidate's component along the shared difference direction, over the base's: at
most this in most layers for the shared-difference path (an added update keeps it near 1)."""
NULL_RATIO: Final = 0.03
"""Smallest over median eigenvalue at or below which a Gram has a null direction."""
DEAD_CHANNEL: Final = 1e-9
"""A hidden channel whose Gram diagonal is below this share of the mean carries nothing."""
AXIS_ALIGNED: Final = 0.99
NULL_DROP: Final = 0.2
"""... and at most this share of the base's own ratio."""
MIN_NULL_LAYERS: Final = 2
MAX_NULL_LAYERS: Final = 24
NULL_ELEMENTS: Final = 1 << 26
"""Elements of o/down read per layer at most for the null test (64 Mi: a 70B layer is
skipped, then fewer layers are tested: the check reads whole matrices)."""

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


@dataclass
class NullSpace:
    """The null-direction statistics of one model (see the module's docstring)."""

    ratio: float | None
    """Smallest over median eigenvalue of the Gram over all tested layers and the embedding."""
    layer_ratios: dict[int, float]
    layer_vectors: dict[int, Floats | None]
    vector: Floats | None
    dead_channels: int
    """Hidden channels zeroed in a layer's writers (the most in any tested layer, or overall)."""


def _null_layers(src: WeightSource) -> list[int]:
    usable = []
    for layer in sorted(src.layers):
        found = [src.layers[layer].get(role) for role in ("o", "down")]
        refs = [r for r in found if r is not None and r.rows == src.hidden]
        if refs and sum(r.rows * r.cols for r in refs) <= NULL_ELEMENTS:
            usable.append(layer)
    if len(usable) <= MAX_NULL_LAYERS:
        return usable
    picks = np.linspace(0, len(usable) - 1, MAX_NULL_LAYERS).round().astype(int)
    return sorted({usable[i] for i in picks})


def _smallest(g: Floats) -> tuple[float, Floats | None, int]:
    """(smallest over median eigenvalue, its eigenvector where it is small enough to matter,
    dead channels) of the Gram ``g``, over the hidden channels that carry anything.

    A hidden channel zeroed in every matrix (pruned in place) is a null direction along one
    axis: it is left out (and counted), not taken for a removed refusal direction."""
    diag = np.diag(g)
    alive = diag > DEAD_CHANNEL * max(float(np.mean(diag)), 1e-300)
    dead = int(np.sum(~alive))
    sub = g[np.ix_(alive, alive)] if dead else g
    values = np.linalg.eigvalsh(sub)
    median = float(np.median(values))
    ratio = max(0.0, float(values[0])) / median if median > 0 else 1.0
    if ratio > NULL_RATIO:
        return ratio, None, dead
    _, vectors = np.linalg.eigh(sub)
    full = np.zeros(len(g))
    full[alive] = vectors[:, 0]
    return ratio, full, dead


def null_space(src: WeightSource, layers: list[int]) -> NullSpace:
    """The Grams of ``src``'s residual-writing matrices in ``layers`` (whole matrices) and of
    4096 embedding rows, and their smallest relative eigenvalues."""
    h = src.hidden
    total = np.zeros((h, h))
    ratios: dict[int, float] = {}
    vectors: dict[int, Floats | None] = {}
    most_dead = 0
    for layer in layers:
        g = np.zeros((h, h))
        for role in ("o", "down"):
            ref = src.layers[layer].get(role)
            if ref is None or ref.rows != h:
                continue
            w = src.read_all(ref)  # float32: the products in single precision (2x faster)
            norm = float(np.sum(w.astype(np.float64) ** 2))
            if norm > 0 and np.isfinite(norm):
                g += (w @ w.T).astype(np.float64) / norm
        if not g.any():
            continue
        ratios[layer], vectors[layer], dead = _smallest(g)
        most_dead = max(most_dead, dead)
        total += g
    if not ratios:
        return NullSpace(None, {}, {}, None, 0)
    rows = sorted({int(x) for x in np.linspace(0, src.embed.rows - 1, 4096).round()})
    e = src.read_rows(src.embed, rows).astype(np.float64)
    norm = float(np.sum(e * e))
    if norm > 0 and np.isfinite(norm):
        total += (e.T @ e) / norm
    ratio, vector, dead = _smallest(total)
    return NullSpace(ratio, ratios, vectors, vector, max(most_dead, dead))


def _consistency(vectors: list[Floats]) -> float:
    if len(vectors) < 2:
        return 1.0 if vectors else 0.0
    stacked = np.stack(vectors)
    _, _, vt = np.linalg.svd(stacked, full_matrices=False)
    return float(np.median(np.abs(stacked @ vt[0])))


def detect_safety_edit(cand: WeightSource, base: WeightSource) -> SafetyEdit:
    """Test ``cand`` for the refusal-direction edit relative to ``base`` (same architecture).

    Raises:
        LineageError: the two models do not have the same shapes.
    """
    from threadpoolctl import threadpool_limits

    # One BLAS thread: the matrices are small, and on a busy machine a second thread waiting
    # for a core made an eigendecomposition five times slower (measured).
    with threadpool_limits(limits=1, user_api="blas"):
        return _detect(cand, base)


def _detect(cand: WeightSource, base: WeightSource) -> SafetyEdit:
    if cand.hidden != base.hidden or cand.n_layers != base.n_layers:
        raise LineageError(
            "a safety-edit check needs the same architecture "
            f"(hidden {cand.hidden} vs {base.hidden}, layers {cand.n_layers} vs {base.n_layers})"
        )
    layers = [layer for layer in _null_layers(cand) if layer in set(_null_layers(base))]
    nc = null_space(cand, layers)
    nb = null_space(base, layers)
    null_layers = sorted(
        layer
        for layer, ratio in nc.layer_ratios.items()
        if layer in nb.layer_ratios
        and ratio <= NULL_RATIO
        and ratio <= NULL_DROP * nb.layer_ratios[layer]
    )
    global_null = (
        nc.ratio is not None
        and nb.ratio is not None
        and nc.ratio <= NULL_RATIO
        and nc.ratio <= NULL_DROP * nb.ratio
    )
    by_null = global_null or len(null_layers) >= MIN_NULL_LAYERS
    null_consistency = _consistency(
        [v for layer in null_layers if (v := nc.layer_vectors[layer]) is not None]
    )
    diff = _shared_difference(cand, base)
    evidence: dict[str, Any] = {
        "null_ratio": None if nc.ratio is None else float(f"{nc.ratio:.3g}"),
        "base_null_ratio": None if nb.ratio is None else float(f"{nb.ratio:.3g}"),
        "null_layers": null_layers,
        "layers_tested": len(nc.layer_ratios),
        "dead_channels": nc.dead_channels,
        "layer_null_ratio_median": None
        if not nc.layer_ratios
        else float(f"{float(np.median(list(nc.layer_ratios.values()))):.3g}"),
        "base_layer_null_ratio_median": None
        if not nb.layer_ratios
        else float(f"{float(np.median(list(nb.layer_ratios.values()))):.3g}"),
        **diff.evidence,
    }
    if by_null:
        evidence["found_by"] = "null-direction"
        flagged = null_layers or sorted(nc.layer_ratios)
        consistency = null_consistency if null_layers else 1.0
        if null_layers and nc.vector is not None and diff.detected:
            consistency = max(consistency, diff.direction_consistency)
        return SafetyEdit(True, consistency, flagged, evidence)
    if diff.detected:
        evidence["found_by"] = "shared-difference"
        return SafetyEdit(True, diff.direction_consistency, diff.layers, evidence)
    return SafetyEdit(False, diff.direction_consistency, [], evidence)


def _shared_difference(cand: WeightSource, base: WeightSource) -> SafetyEdit:
    """The shared-difference path (positions must line up): one direction u common to the
    per-matrix differences, carrying much of their energy, and removed from the candidate."""
    directions: list[Floats] = []
    energies: list[float] = []
    rank1: list[float] = []
    owners: list[int] = []
    diffs: list[Floats] = []
    kept: list[tuple[Floats, Floats]] = []
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
            wc = cand.read_rows(c_ref, rows).astype(np.float64)
            wb = base.read_rows(b_ref, rows).astype(np.float64)
            d = wc - wb
            total = float(np.sum(d * d))
            if total == 0.0:
                continue
            u, _, top = top_singular(d)
            directions.append(u)
            rank1.append(top / total)
            energies.append(total)
            owners.append(layer)
            diffs.append(d)
            kept.append((wc, wb))
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
    # the edit removes the direction; an added low-rank update (LoRA) does not
    removed = [
        float(np.linalg.norm(u @ wc)) / max(float(np.linalg.norm(u @ wb)), 1e-12)
        for u, (wc, wb) in zip(directions, kept, strict=True)
    ]
    removed_median = float(np.median(removed))
    embed_alignment = None
    if rows_used is not None and len(rows_used) == cand.hidden:
        embed_alignment = _embedding_alignment(cand, base, common)
    evidence.update(
        aligned_energy=round(aligned, 4),
        rank1_median=round(float(np.median(rank1)), 4),
        aligned_layer_share=round(layer_share, 4),
        removed_median=round(removed_median, 4),
        embedding_alignment=None if embed_alignment is None else round(embed_alignment, 4),
    )
    # a direction along one hidden axis is a channel pruned in place, not a refusal direction
    axis = float(np.max(np.abs(common)))
    evidence["axis_aligned"] = round(axis, 4)
    detected = (
        aligned >= MIN_ALIGNED_ENERGY
        and consistency >= MIN_CONSISTENCY
        and layer_share >= 0.5
        and removed_median <= MAX_REMOVED
        and axis < AXIS_ALIGNED
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
