"""Comparing two fingerprints: verdict, score, false-match probability, derivation, layers.

**Score.** The main evidence is unit matching. The embedding's 64 strongest hidden units
(and, where a matrix was read whole, the 16 strongest output units of ``q`` and ``gate`` in
each sampled layer) are each described by their values over the common words. A derivative
keeps its units, possibly permuted and rescaled, so nearly every unit of the candidate has a
partner in the base with an absolute correlation of at least ``MATCH`` (0.9); for two models
trained apart, matches at that level are rare (they share coarse semantics, not units). The
score is the share of matched units.

**False-match probability.** Under "unrelated", each unit matches with probability at most
``NULL_RATE`` (measured on unrelated real models and same-architecture models trained from
another initialisation: BENCHMARKS.md); the p-value is the binomial tail of the matched
count. Units are not independent, so ``NULL_RATE`` is set above the highest rate measured
and the figure is a conservative approximation, not an exact test.

**Derivation.** When the tensors line up position by position (same shapes, same word ids),
direct samples tell how: values on a 4- or 8-bit grid (quantized), many new zeros (pruned),
a constant ratio (scaled), units that match only after re-ordering (permuted), a vocabulary
whose tokens start with the base's (vocabulary-extended), other changes (fine-tuned). With
several bases, a candidate that is a mix of two of them is ``merged``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from openward.lineage.fingerprint import ROPE_PERMUTED, Fingerprint, LayerPrint, fisher

__all__ = ["LineageResult", "compare", "detect_merges"]

MATCH: Final = 0.9
NULL_RATE: Final = 0.02
DERIVED_P: Final = 1e-6
MIN_SCORE: Final = 0.25
GRAM_NULL_MEAN: Final = math.atanh(0.85)
GRAM_NULL_SD: Final = 0.25
"""The null of the median Gram correlation (Fisher z) between unrelated trained models: the
median over layer Grams measured 0.849 (max 0.913) for SmolLM2-135M against Qwen2.5-0.5B and
0.015 for a random re-initialisation; the spread is set wide (0.913 sits at +1.2 sd)."""
GRID: Final = 0.5
PRUNED: Final = 0.1
QUANTIZED_ZEROS: Final = 0.35

Verdict = Literal["identical", "derived", "unrelated"]
Floats = npt.NDArray[np.float32]


@dataclass
class LineageResult:
    base: str
    verdict: Verdict
    score: float
    p_value: float
    derivation: list[str]
    layers: list[dict[str, Any]]
    matched_units: int = 0
    compared_units: int = 0
    common_words: int = 0
    embedding_gram: float | None = None
    safety_edit: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "verdict": self.verdict,
            "score": round(self.score, 4),
            "p_value": self.p_value,
            "derivation": self.derivation,
            "layers": self.layers,
            "matched_units": self.matched_units,
            "compared_units": self.compared_units,
            "common_words": self.common_words,
            "embedding_gram": None
            if self.embedding_gram is None
            else round(self.embedding_gram, 4),
            "safety_edit": self.safety_edit,
            "notes": self.notes,
        }


def _index(words: list[str], common: list[str]) -> list[int]:
    where = {w: i for i, w in enumerate(words)}
    return [where[w] for w in common]


def _common(a_words: list[str], b_words: list[str]) -> list[str]:
    keep = set(b_words)
    return [w for w in a_words if w in keep]


@functools.lru_cache(maxsize=64)
def _triu(n: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    rows, cols = np.triu_indices(n, k=1)
    return rows, cols


def _units(flat: Floats, n_words: int) -> Floats:
    if n_words == 0 or flat.size % n_words:
        return np.zeros((0, n_words), dtype=np.float32)
    return flat.reshape(-1, n_words)


def _pearson(x: Floats, y: Floats) -> float | None:
    x = x - x.mean()
    y = y - y.mean()
    nx, ny = float(np.linalg.norm(x)), float(np.linalg.norm(y))
    if nx == 0.0 or ny == 0.0:
        return None
    return float(x @ y) / (nx * ny)


def match_units(a: Floats, a_words: list[str], b: Floats, b_words: list[str]) -> tuple[int, int]:
    """(units of ``a`` with a partner in ``b`` at |r| >= MATCH, units of ``a`` compared)."""
    common = _common(a_words, b_words)
    if len(common) < 16:
        return 0, 0
    ua = _units(a, len(a_words))[:, _index(a_words, common)].astype(np.float64)
    ub = _units(b, len(b_words))[:, _index(b_words, common)].astype(np.float64)
    if len(ua) == 0 or len(ub) == 0:
        return 0, 0
    ua = ua - ua.mean(axis=1, keepdims=True)
    ub = ub - ub.mean(axis=1, keepdims=True)
    ua /= np.maximum(np.linalg.norm(ua, axis=1, keepdims=True), 1e-12)
    ub /= np.maximum(np.linalg.norm(ub, axis=1, keepdims=True), 1e-12)
    best = np.max(np.abs(ua @ ub.T), axis=1)
    return int(np.sum(best >= MATCH)), len(ua)


def _gram_r(a: Floats, a_words: list[str], b: Floats, b_words: list[str]) -> float | None:
    common = _common(a_words, b_words)
    if len(common) < 16:
        return None

    def sub(g: Floats, words: list[str]) -> Floats:
        n = len(words)
        full = np.zeros((n, n), dtype=np.float32)
        full[_triu(n)] = g
        idx = _index(words, common)
        picked = full[np.ix_(idx, idx)]
        return (picked + picked.T)[_triu(len(idx))]

    if a_words == b_words:  # the same words in the same order: the triangles as they are
        x, y = a, b
    else:
        x, y = sub(a, a_words), sub(b, b_words)
    return _pearson(x.astype(np.float64), y.astype(np.float64))


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), computed in log space."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    logs = [
        math.lgamma(n + 1)
        - math.lgamma(i + 1)
        - math.lgamma(n - i + 1)
        + i * math.log(p)
        + (n - i) * math.log1p(-p)
        for i in range(k, n + 1)
    ]
    top = max(logs)
    return min(1.0, math.exp(top) * sum(math.exp(v - top) for v in logs))


def _pair_layers(cand: Fingerprint, base: Fingerprint) -> list[tuple[LayerPrint, LayerPrint]]:
    by_index = {lp.layer: lp for lp in base.layers}
    pairs = []
    same_depth = cand.layers_total == base.layers_total
    for lp in cand.layers:
        partner = by_index.get(lp.layer) if same_depth else None
        if partner is None and base.layers:
            partner = min(base.layers, key=lambda b: abs(b.depth - lp.depth))
        if partner is not None:
            pairs.append((lp, partner))
    return pairs


def _direct(a: Floats, b: Floats) -> tuple[float, float] | None:
    """(correlation, norm ratio a/b) of samples taken at the same positions."""
    if a.shape != b.shape or a.size < 8:
        return None
    r = _pearson(a.astype(np.float64), b.astype(np.float64))
    if r is None:
        return None
    ratio = float(np.linalg.norm(a) / max(float(np.linalg.norm(b)), 1e-12))
    return r, ratio


def compare(cand: Fingerprint, base: Fingerprint, base_name: str | None = None) -> LineageResult:
    """The lineage of ``cand`` relative to ``base``."""
    name = base_name or base.source
    matched, compared = match_units(cand.embed_units, cand.words, base.embed_units, base.words)
    embed_share = matched / compared if compared else 0.0
    layers: list[dict[str, Any]] = []
    directs: list[tuple[float, float]] = []
    d_embed = (
        _direct(cand.embed_samples, base.embed_samples) if cand.hidden == base.hidden else None
    )
    same_ids = cand.words[:4] == base.words[:4] and cand.vocab_chunks[:1] == base.vocab_chunks[:1]
    if d_embed and same_ids:
        directs.append(d_embed)
    for lc, lb in _pair_layers(cand, base):
        row: dict[str, Any] = {
            "layer": lc.layer,
            "base_layer": lb.layer,
            "depth": round(lc.depth, 3),
        }
        for group in ("attn", "mlp"):
            if group in lc.grams and group in lb.grams:
                r = _gram_r(lc.grams[group], cand.layer_words, lb.grams[group], base.layer_words)
                row[group] = None if r is None else round(r, 4)
        layer_matched = layer_compared = 0
        for role in lc.units:
            if role in lb.units:
                m, c = match_units(
                    lc.units[role], cand.layer_words, lb.units[role], base.layer_words
                )
                layer_matched += m
                layer_compared += c
        if layer_compared:
            row["units"] = round(layer_matched / layer_compared, 3)
            matched += layer_matched
            compared += layer_compared
        if lc.layer == lb.layer and same_ids:
            for role, sample in lc.samples.items():
                if cand.format != base.format and role in ROPE_PERMUTED:
                    continue
                other = lb.samples.get(role)
                if other is not None and lc.shapes.get(role) == lb.shapes.get(role):
                    d = _direct(sample, other)
                    if d:
                        directs.append(d)
        layers.append(row)
    score = matched / compared if compared else 0.0
    p_value = binomial_tail(matched, compared, NULL_RATE) if compared else 1.0
    common = len(set(cand.words) & set(base.words))
    embed_r = _gram_r(cand.embed_gram, cand.gram_words, base.embed_gram, base.gram_words)
    result = LineageResult(
        base=name,
        verdict="unrelated",
        score=score,
        p_value=p_value,
        derivation=[],
        layers=layers,
        matched_units=matched,
        compared_units=compared,
        common_words=common,
        embedding_gram=embed_r,
    )
    if (
        cand.values_sha256 == base.values_sha256
        and cand.hidden == base.hidden
        and cand.layers_total == base.layers_total
        and cand.vocab_chunks == base.vocab_chunks
    ):
        result.verdict = "identical"
        result.p_value = 0.0  # every value read is equal: a match by chance is a hash collision
        result.derivation = [] if cand.format == base.format else ["converted"]
        return result
    if compared == 0:
        result.notes.append("no units could be compared (too few common words)")
        return result
    if p_value <= DERIVED_P and score >= MIN_SCORE:
        result.verdict = "derived"
        result.derivation = _derivation(cand, base, directs)
        if embed_share < 0.5 <= score and "permuted" in result.derivation:
            # E W^T survives a rotation of the hidden space, the embedding's units do not
            result.derivation[result.derivation.index("permuted")] = "rotated"
        return result
    # Units match only up to permutation and sign: a rotation of the hidden space (with the
    # norms folded in, it computes the same function) loses them, but not the Grams.
    gram_rs = [
        v for row in layers for k, v in row.items() if k in ("attn", "mlp") and v is not None
    ]
    if embed_r is not None and len(gram_rs) >= 2:
        z = fisher(float(np.median([*gram_rs, embed_r])))
        p_gram = 0.5 * math.erfc((z - GRAM_NULL_MEAN) / (GRAM_NULL_SD * math.sqrt(2)))
        if p_gram <= DERIVED_P:
            result.verdict = "derived"
            result.p_value = p_gram
            result.derivation = ["rotated"]
            result.notes.append(
                "units do not line up but every Gram does: the hidden space was rotated or "
                "otherwise mixed (p from the Gram null, an approximation)"
            )
    return result


def _mean_stat(fp: Fingerprint, name: str) -> float:
    values = [v for lp in fp.layers for v in getattr(lp, name).values()]
    values.append(fp.embed_grid if name == "grid" else fp.embed_zeros)
    return float(np.mean(values)) if values else 0.0


def _derivation(
    cand: Fingerprint, base: Fingerprint, directs: list[tuple[float, float]]
) -> list[str]:
    kinds: list[str] = []
    if (
        cand.vocab_size > base.vocab_size
        and len(base.vocab_chunks) > 1
        and cand.vocab_chunks[: len(base.vocab_chunks) - 1] == base.vocab_chunks[:-1]
    ):
        kinds.append("vocabulary-extended")
    if cand.layers_total != base.layers_total:
        kinds.append("layers-changed")
    quantized = _mean_stat(cand, "grid") >= GRID and _mean_stat(base, "grid") < GRID / 2
    if quantized:
        kinds.append("quantized")
    # rounding to a 4-bit grid zeroes the smallest values too (15-25 % of them)
    new_zeros = _mean_stat(cand, "zeros") - _mean_stat(base, "zeros")
    pruned = new_zeros >= (QUANTIZED_ZEROS if quantized else PRUNED)
    if pruned:
        kinds.append("pruned")
    if directs:
        rs = np.array([d[0] for d in directs])
        ratios = np.array([d[1] for d in directs])
        if float(np.median(rs)) < 0.5:
            kinds.append("permuted")
        else:
            scaled = float(np.median(np.abs(ratios - 1))) > 0.05 and float(np.median(rs)) > 0.99
            if scaled:
                kinds.append("scaled")
            elif float(np.min(rs)) < 0.999999 and not quantized and not pruned:
                kinds.append("fine-tuned")
    elif not quantized and not pruned:
        kinds.append("modified")
    return kinds


def detect_merges(cand: Fingerprint, bases: list[Fingerprint]) -> list[tuple[int, int, float]]:
    """Pairs of bases (i, j, weight of i) of which ``cand`` is a weighted mix, from the direct
    samples: least squares of the candidate's samples on the two bases', both weights in
    [0.1, 0.9] and a residual under a third of the better single base's."""

    def stacked(fp: Fingerprint) -> Floats | None:
        parts = [fp.embed_samples]
        for lp in fp.layers:
            parts.extend(lp.samples[k] for k in sorted(lp.samples))
        try:
            return np.concatenate(parts).astype(np.float64)
        except ValueError:
            return None

    c = stacked(cand)
    out: list[tuple[int, int, float]] = []
    if c is None:
        return out
    vectors = [stacked(b) for b in bases]
    for i in range(len(bases)):
        for j in range(i + 1, len(bases)):
            a, b = vectors[i], vectors[j]
            if a is None or b is None or a.shape != c.shape or b.shape != c.shape:
                continue
            x = np.stack([a, b], axis=1)
            coef, *_ = np.linalg.lstsq(x, c, rcond=None)
            residual = float(np.linalg.norm(c - x @ coef))
            single = min(float(np.linalg.norm(c - a)), float(np.linalg.norm(c - b)))
            if 0.1 <= coef[0] <= 0.9 and 0.1 <= coef[1] <= 0.9 and residual < single / 3:
                out.append((i, j, float(coef[0])))
    return out


__all__ += ["binomial_tail", "fisher", "match_units"]
