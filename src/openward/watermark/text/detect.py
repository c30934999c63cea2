"""Detect a text watermark: a score, an exact p-value and a verdict, per text and per paragraph.

Needs the key file only: the tokenizer is rebuilt from it with the
``tokenizers`` package, and scoring is numpy. torch is never imported.

A verdict needs at least :data:`MIN_SCORED` scored tokens (distinct n-grams
after the context prefix): below that a p-value would mostly measure noise
(a handful of tokens can neither exonerate nor convict), so the result says
``watermarked: None`` with the reason instead.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Final

from openward.watermark.text._stats import binomial_sf, z_score
from openward.watermark.text.keys import WatermarkKey

__all__ = [
    "DEFAULT_ALPHA",
    "MIN_SCORED",
    "TextDetection",
    "detect_text",
    "detect_tokens",
    "split_paragraphs",
]

DEFAULT_ALPHA: Final = 1e-5
"""The verdict's false-positive level: watermarked iff the p-value is below it."""
MIN_SCORED: Final = 25
"""Fewer distinct scored tokens than this give no verdict."""
_PARAGRAPH = re.compile(r"\n[ \t]*\n+")


@dataclass(frozen=True)
class TextDetection:
    """The detector's answer for one text (or one paragraph of it)."""

    scheme: str
    """The key's scheme (``kgw``, ``kgw-selfhash``, ``synthid``)."""
    tokens_scored: int
    """Distinct n-grams scored (KGW: tokens; SynthID: positions, each with ``depth`` g-values)."""
    z: float | None
    """Standardized score; None without a verdict."""
    p_value: float | None
    """Exact one-sided p-value under the null (no watermark); None without a verdict."""
    watermarked: bool | None
    """``p_value < alpha``; None when the text is too short for a verdict."""
    reason: str | None = None
    """Why there is no verdict (None when there is one)."""
    alpha: float = DEFAULT_ALPHA
    """The level the verdict is taken at."""
    tokens: int = 0
    """Tokens in the text (the key's tokenizer)."""
    score: float | None = None
    """KGW: fraction of green tokens (null: gamma). SynthID: mean g-value (null: about 0.5)."""
    expected_score: float | None = None
    """The score's expectation under the null."""
    repeated: int = 0
    """Positions left out because their n-gram (KGW) or context (SynthID) repeats."""
    key_id: str = ""
    """The key's public identifier."""
    paragraphs: list[TextDetection] = field(default_factory=list)
    """Per-paragraph results (texts of two or more paragraphs)."""

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document: ``scheme, tokens_scored, z, p_value, watermarked`` first."""
        doc = asdict(self)
        doc["paragraphs"] = [p.to_json() for p in self.paragraphs]
        if not self.paragraphs:
            del doc["paragraphs"]
        return doc


def _tokenize(key: WatermarkKey, text: str) -> list[int]:
    tok = key._cache.get("tokenizer")
    if tok is None:
        tok = key.tokenizer.tokenizer()
        key._cache["tokenizer"] = tok
    return list(tok.encode(text, add_special_tokens=False).ids)


def detect_tokens(
    key: WatermarkKey, tokens: list[int] | Any, *, alpha: float = DEFAULT_ALPHA
) -> TextDetection:
    """Score a token sequence (ids of the key's tokenizer)."""
    n_tokens = len(tokens)
    if key.scheme == "synthid":
        from openward.watermark.text.synthid import g_sum

        gs = g_sum(key, tokens)
        scored, successes, trials, null_p = gs.positions, gs.ones, gs.values, gs.ones_rate
        repeated = gs.repeated
    else:
        from openward.watermark.text.kgw import KGWParams, green_count

        params = key._cache.get("kgw")
        if params is None:
            params = KGWParams.from_key(key)
            key._cache["kgw"] = params
        gc = green_count(params, tokens)
        scored, successes, trials, null_p = gc.scored, gc.green, gc.scored, params.gamma
        repeated = gc.repeated
    common = {
        "scheme": key.scheme,
        "tokens_scored": scored,
        "alpha": alpha,
        "tokens": n_tokens,
        "repeated": repeated,
        "key_id": key.key_id,
        "expected_score": null_p,
    }
    if scored < MIN_SCORED:
        return TextDetection(
            z=None,
            p_value=None,
            watermarked=None,
            reason=f"too short for a verdict: {scored} distinct scored tokens, "
            f"at least {MIN_SCORED} needed",
            **common,  # type: ignore[arg-type]
        )
    p = binomial_sf(successes, trials, null_p)
    z = z_score(successes, trials, null_p)
    return TextDetection(
        z=round(z, 4),
        p_value=p,
        watermarked=p < alpha,
        score=round(successes / trials, 6),
        **common,  # type: ignore[arg-type]
    )


def split_paragraphs(text: str) -> list[str]:
    """The paragraphs :func:`detect_text` scores one by one (separated by blank lines)."""
    return [p for p in _PARAGRAPH.split(text.strip()) if p.strip()]


def detect_text(
    key: WatermarkKey, text: str, *, alpha: float = DEFAULT_ALPHA, paragraphs: bool = True
) -> TextDetection:
    """Detect the watermark of ``key`` in ``text`` (and in each paragraph, if several)."""
    if not (0.0 < alpha < 1.0) or math.isnan(alpha):
        raise ValueError(f"alpha must be in (0, 1), not {alpha}")
    whole = detect_tokens(key, _tokenize(key, text), alpha=alpha)
    if not paragraphs:
        return whole
    parts = split_paragraphs(text)
    if len(parts) < 2:
        return whole
    per = [detect_tokens(key, _tokenize(key, p), alpha=alpha) for p in parts]
    return replace(whole, paragraphs=per)
