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
GRAM_CONTRAST: Final = 1.0
"""How far (Fisher z, medians over layers) the right layer pairing's Gram correlations must
exceed the wrong pairing's for the Gram evidence to count."""
GRID: Final = 0.5
PRUNED: Final = 0.1
QUANTIZED_ZEROS: Final = 0.35

Verdict = Literal["identical", "derived", "unrelated", "unknown"]
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
    internal_null: dict[str, Any] | None = None

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
            "internal_null": self.internal_null,
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


def _unit_matrix(units: Floats, words: list[str], common: list[str]) -> Floats:
    u = _units(units, len(words))[:, _index(words, common)].astype(np.float64)
    u = u - u.mean(axis=1, keepdims=True)
    norms = np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-12)
    out: Floats = u / norms
    return out


def one_to_one(sim: npt.NDArray[np.float64], threshold: float = MATCH) -> int:
    """How many rows of ``sim`` (|r| between candidate and base units) get a partner of their
    own at ``threshold`` or above: greedy on the strongest pairs, each base unit used once.
    Counting a base unit for every candidate unit near it overstates the evidence when many
    units share one profile (brief training from a random start makes such clusters)."""
    rows, cols = np.nonzero(sim >= threshold)
    if len(rows) == 0:
        return 0
    order = np.argsort(-sim[rows, cols], kind="stable")
    used_a: set[int] = set()
    used_b: set[int] = set()
    for i in order:
        a, b = int(rows[i]), int(cols[i])
        if a not in used_a and b not in used_b:
            used_a.add(a)
            used_b.add(b)
    return len(used_a)


def match_units(a: Floats, a_words: list[str], b: Floats, b_words: list[str]) -> tuple[int, int]:
    """(units of ``a`` with a partner of their own in ``b`` at |r| >= MATCH, units of ``a``
    compared)."""
    common = _common(a_words, b_words)
    if len(common) < 16:
        return 0, 0
    ua = _unit_matrix(a, a_words, common)
    ub = _unit_matrix(b, b_words, common)
    if len(ua) == 0 or len(ub) == 0:
        return 0, 0
    return one_to_one(np.abs(ua @ ub.T)), len(ua)


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


def binomial_tail(k: int, n: int, p: float = 0.5) -> float:
    """P(X >= k) for X ~ Binomial(n, p), computed in log space."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
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


def _ids(words: list[str]) -> bool:
    return bool(words) and all(w.startswith("#") for w in words[:16])


def _by_token_id(
    cand: Fingerprint, base: Fingerprint
) -> tuple[Floats, list[str], Floats, list[str]] | None:
    """Embedding units to compare by token id when one side has no vocabulary (its words are
    "#id") and the other recorded its units over the same ids."""
    if len(_common(cand.words, base.words)) >= 16:
        return None

    def id_words(n: int) -> list[str]:
        return [f"#{i}" for i in range(n)]

    if not (_ids(cand.words) or _ids(base.words)):
        return None
    if cand.id_units is None or base.id_units is None:
        return None
    return cand.id_units, id_words(cand.id_words), base.id_units, id_words(base.id_words)


def _wrong_partner(lc: LayerPrint, right: LayerPrint, base: Fingerprint) -> LayerPrint | None:
    """The base layer half a stack away from ``lc``: a derivative keeps each layer's units in
    their own layer, so pairing with this one measures what matches without any lineage."""
    others = [lb for lb in base.layers if lb.layer != right.layer]
    if not others:
        return None
    target = (lc.depth + 0.5) % 1.0
    return min(others, key=lambda b: (abs(b.depth - target), b.layer))


def _direct(a: Floats, b: Floats) -> tuple[float, float] | None:
    """(correlation, norm ratio a/b) of samples taken at the same positions."""
    if a.shape != b.shape or a.size < 8:
        return None
    r = _pearson(a.astype(np.float64), b.astype(np.float64))
    if r is None:
        return None
    ratio = float(np.linalg.norm(a) / max(float(np.linalg.norm(b)), 1e-12))
    return r, ratio


def null_rate(matched: int, compared: int) -> float:
    """A cautious upper bound of the match rate without lineage, from ``matched`` of
    ``compared`` units matched under the wrong layer pairing (about three standard deviations
    above the count), never below ``NULL_RATE``."""
    if compared == 0:
        return 0.5
    upper = (matched + 3.0 * math.sqrt(matched) + 3.0) / compared
    return min(0.999, max(NULL_RATE, upper))


def _layer_units(
    lc: LayerPrint, lb: LayerPrint, cand: Fingerprint, base: Fingerprint
) -> tuple[int, int]:
    matched = compared = 0
    for role in lc.units:
        if role in lb.units:
            m, c = match_units(lc.units[role], cand.layer_words, lb.units[role], base.layer_words)
            matched += m
            compared += c
    return matched, compared


def compare(cand: Fingerprint, base: Fingerprint, base_name: str | None = None) -> LineageResult:
    """The lineage of ``cand`` relative to ``base``."""
    name = base_name or base.source
    by_id = _by_token_id(cand, base)
    if by_id is not None:
        embed_matched, embed_compared = match_units(*by_id)
    else:
        embed_matched, embed_compared = match_units(
            cand.embed_units, cand.words, base.embed_units, base.words
        )
    layers: list[dict[str, Any]] = []
    directs: list[tuple[float, float]] = []
    d_embed = (
        _direct(cand.embed_samples, base.embed_samples) if cand.hidden == base.hidden else None
    )
    same_ids = cand.words[:4] == base.words[:4] and cand.vocab_chunks[:1] == base.vocab_chunks[:1]
    if d_embed and same_ids:
        directs.append(d_embed)
    layer_matched = layer_compared = wrong_matched = wrong_compared = 0
    gram_right: list[float] = []
    gram_wrong: list[float] = []
    for lc, lb in _pair_layers(cand, base):
        row: dict[str, Any] = {
            "layer": lc.layer,
            "base_layer": lb.layer,
            "depth": round(lc.depth, 3),
        }
        lw = _wrong_partner(lc, lb, base)
        for group in ("attn", "mlp"):
            if group in lc.grams and group in lb.grams:
                r = _gram_r(lc.grams[group], cand.layer_words, lb.grams[group], base.layer_words)
                row[group] = None if r is None else round(r, 4)
                if r is not None and lw is not None and group in lw.grams:
                    r_wrong = _gram_r(
                        lc.grams[group], cand.layer_words, lw.grams[group], base.layer_words
                    )
                    if r_wrong is not None:
                        gram_right.append(fisher(r))
                        gram_wrong.append(fisher(r_wrong))
        m, c = _layer_units(lc, lb, cand, base)
        if c:
            row["units"] = round(m / c, 3)
            if lw is not None:
                wm, wc = _layer_units(lc, lw, cand, base)
                if wc:
                    layer_matched += m
                    layer_compared += c
                    wrong_matched += wm
                    wrong_compared += wc
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
    # Two pieces of evidence, each against its own null: the embedding's units (measured
    # null: NULL_RATE) and the layers' units against the same layers paired wrongly (an
    # internal null: models trained briefly from unrelated starts share word profiles in
    # every layer, so their units match in the wrong pairing as often as in the right one).
    wrong_rate = wrong_matched / wrong_compared if wrong_compared else 0.0
    layer_null = null_rate(wrong_matched, wrong_compared)
    p_embed = binomial_tail(embed_matched, embed_compared, NULL_RATE) if embed_compared else 1.0
    p_layers = binomial_tail(layer_matched, layer_compared, layer_null) if layer_compared else 1.0
    p_value = min(1.0, 2.0 * min(p_embed, p_layers))
    matched = embed_matched + layer_matched
    compared = embed_compared + layer_compared
    # the score: matches beyond the wrong pairing's, over the most there could be
    excess = max(0.0, layer_matched - wrong_rate * layer_compared)
    room = embed_compared + (1.0 - wrong_rate) * layer_compared
    score = min(1.0, (embed_matched + excess) / room) if room > 0 else 0.0
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
        internal_null={
            "wrong_pairing_matched": wrong_matched,
            "wrong_pairing_compared": wrong_compared,
            "right_pairing_matched": layer_matched,
            "gram_right": None if not gram_right else round(float(np.median(gram_right)), 4),
            "gram_wrong": None if not gram_wrong else round(float(np.median(gram_wrong)), 4),
        },
    )
    if by_id is not None:
        result.notes.append(
            "compared by token id: one side ships no vocabulary (its embedding rows are read "
            "by id, as if it used the other's tokenizer)"
        )
    for label, fp in (("candidate", cand), ("base", base)):
        for line in fp.unread:
            result.notes.append(f"{label}: not read: {line}")
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
    if compared == 0 and embed_r is None:
        result.verdict = "unknown"
        result.notes.append(
            "nothing could be compared (fewer than 16 common words: another tokenizer, or "
            "no vocabulary was found beside the weights)"
        )
        return result
    if p_value <= DERIVED_P and score >= MIN_SCORE:
        result.verdict = "derived"
        result.derivation = _derivation(cand, base, directs)
        embed_share = embed_matched / embed_compared if embed_compared else 0.0
        if embed_share < 0.5 <= score and "permuted" in result.derivation:
            # E W^T survives a rotation of the hidden space, the embedding's units do not
            result.derivation[result.derivation.index("permuted")] = "rotated"
        return result
    # Units match only up to permutation and sign: a rotation of the hidden space (with the
    # norms folded in, it computes the same function) loses them, but not the Grams. The
    # Grams must also beat the wrong layer pairing: trained models share coarse word
    # geometry in every layer.
    if embed_r is not None and len(gram_right) >= 2:
        z_right = float(np.median(gram_right))
        z_wrong = float(np.median(gram_wrong))
        z = float(np.median([*gram_right, fisher(embed_r)]))
        p_gram = 0.5 * math.erfc((z - GRAM_NULL_MEAN) / (GRAM_NULL_SD * math.sqrt(2)))
        if p_gram <= DERIVED_P and z_right - z_wrong >= GRAM_CONTRAST:
            result.verdict = "derived"
            result.p_value = min(1.0, 2.0 * p_gram)
            result.score = max(
                result.score, math.tanh(z_right - z_wrong) if z_right > z_wrong else 0.0
            )
            result.derivation = ["rotated"]
            result.notes.append(
                "units do not line up but every Gram does, and far better than with the "
                "layers paired wrongly: the hidden space was rotated or otherwise mixed (p "
                "from the Gram null, an approximation)"
            )
    if compared == 0 and result.verdict != "derived":
        result.verdict = "unknown"
        result.notes.append("no units could be compared (too few common words)")
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
    if not kinds:  # the values compared agree; something outside them changed
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
