"""Kirchenbauer et al. green/red-list watermarks: generation (torch) and scoring (numpy).

At every step a keyed pseudo-random function of the context splits the
vocabulary into a green list (a fraction ``gamma``) and a red list, and
``delta`` is added to the green logits, so sampled text holds more green
tokens than the ``gamma`` expected of text written without the key.

Two context schemes (Kirchenbauer et al., "A Watermark for Large Language
Models", 2023, and "On the Reliability of Watermarks for Large Language
Models", 2023):

- ``kgw`` (LeftHash, h = 1): the green list depends on the previous token.
- ``kgw-selfhash`` (SelfHash, h = 4): the seed is an anchored min-hash over
  the window of the 3 previous tokens *and the candidate itself*
  (``min_i PRF(H(x_i), H(candidate))``), and each candidate is green or red
  for its own seed. An edit changes the seed only when it removes or
  replaces the window's minimum, so more green tokens survive edits. The
  reference implementation tests the 40 most likely candidates one by one;
  here the 1024 most likely are tested at once (vectorized).

Detection counts green tokens among the scored tokens, counting each
(seed, token) pair once (the reliability paper recommends ignoring repeated
n-grams; a repeated pair is the same draw again, and for SelfHash the seed of
a frequent word often ignores its context, see :func:`green_count`). Under
the null (text written without the key) the count is Binomial(T, gamma),
which gives an exact p-value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from openward.watermark.text._hashing import green_value, mix32, pair_hash, token_hash
from openward.watermark.text.keys import WatermarkKey

if TYPE_CHECKING:
    import torch

__all__ = ["GreenCount", "KGWBias", "KGWParams", "KGWVLLMProcessor", "green_count", "green_flags"]


@dataclass(frozen=True)
class KGWParams:
    """The scheme's numbers, derived once from a key."""

    gamma: float
    """Fraction of the vocabulary that is green at each step."""
    delta: float
    """Logit bias added to green tokens."""
    context_width: int
    """h: tokens of the window (the previous one; or 3 previous + the candidate for SelfHash)."""
    self_hash: bool
    """SelfHash (anchored min-hash including the candidate) rather than LeftHash."""
    k_token: int
    k_code: int
    k_seed: int

    @property
    def threshold(self) -> int:
        """Green iff ``green_value < threshold`` (``gamma * 2**32``)."""
        return int(self.gamma * 2**32)

    @property
    def previous_tokens(self) -> int:
        """How many tokens before the candidate the seed reads."""
        return self.context_width - 1 if self.self_hash else self.context_width

    @classmethod
    def from_key(cls, key: WatermarkKey) -> KGWParams:
        if key.scheme not in ("kgw", "kgw-selfhash"):
            raise ValueError(f"not a KGW key: {key.scheme}")
        k_token, k_code, k_seed = key.words("kgw", 3)
        return cls(
            gamma=float(key.params["gamma"]),
            delta=float(key.params["delta"]),
            context_width=int(key.params["context_width"]),
            self_hash=key.scheme == "kgw-selfhash",
            k_token=k_token,
            k_code=k_code,
            k_seed=k_seed,
        )

    def codes(self, tokens: Any) -> Any:
        """Per-candidate codes (a keyed hash of the token id), numpy or torch."""
        return mix32(token_hash(tokens, self.k_token) ^ self.k_code)

    def left_seed(self, previous: Any) -> Any:
        """LeftHash (h = 1) seed of the previous token(s)."""
        return mix32(token_hash(previous, self.k_token) ^ self.k_seed)


# --- generation (torch) ---------------------------------------------------------------


class _GreenMasks:
    """Green masks for whole vocabularies, cached per (vocabulary size, device)."""

    def __init__(self, params: KGWParams) -> None:
        self.params = params
        self._vocab: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def _tables(self, size: int, device: torch.device) -> tuple[Any, Any, Any]:
        import torch

        cached = self._vocab.get((size, str(device)))
        if cached is None:
            ids = torch.arange(size, dtype=torch.int64, device=device)
            hashes = token_hash(ids, self.params.k_token)
            self_pairs = pair_hash(hashes, hashes)
            cached = (hashes, self.params.codes(ids), self_pairs)
            self._vocab[(size, str(device))] = cached
        return cached

    def masks(self, input_ids: torch.Tensor, size: int) -> torch.Tensor | None:
        """(batch, size) bool: green candidates after each row of ``input_ids``; None if the
        rows are shorter than the context the seed needs."""
        p = self.params
        need = p.previous_tokens
        if input_ids.shape[-1] < need:
            return None
        hashes, codes, self_pairs = self._tables(size, input_ids.device)
        if not p.self_hash:
            seed = p.left_seed(input_ids[:, -1:])  # (batch, 1)
        else:
            context = token_hash(input_ids[:, -need:], p.k_token)  # (batch, h-1)
            pairs = pair_hash(context[:, :, None], hashes[None, None, :])  # (batch, h-1, V)
            lowest = pairs.amin(dim=1).minimum(self_pairs[None, :])
            seed = mix32(lowest ^ p.k_seed)  # (batch, V): one seed per candidate
        return green_value(seed, codes[None, :]) < p.threshold  # type: ignore[no-any-return]


SELFHASH_CANDIDATES = 1024
"""SelfHash colours only the most likely candidates at each step (the reference tests 40)."""


class KGWBias:
    """Adds ``delta`` to the green logits of a (batch, vocab) score tensor.

    The body of both generation-time forms: :class:`openward.watermark.text.generate.
    KGWLogitsProcessor` (transformers) and :class:`KGWVLLMProcessor` (vLLM). Stateless:
    one instance serves any number of sequences.

    SelfHash needs one seed per candidate, so it colours only the
    :data:`SELFHASH_CANDIDATES` highest-scoring candidates (the reference implementation
    tests the top 40); the rest keep their logits. Detection is unaffected (it recomputes
    the colour of the token actually chosen), and the tokens left out carry almost none
    of the probability mass.
    """

    def __init__(self, key: WatermarkKey, candidates: int = SELFHASH_CANDIDATES) -> None:
        self.params = KGWParams.from_key(key)
        self._masks = _GreenMasks(self.params)
        self.candidates = candidates

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        p = self.params
        size = scores.shape[-1]
        if not p.self_hash or size <= self.candidates:
            green = self._masks.masks(input_ids, size)
            if green is None:
                return scores
            return scores + green.to(scores.dtype) * p.delta
        need = p.previous_tokens
        if input_ids.shape[-1] < need:
            return scores
        hashes, codes, self_pairs = self._masks._tables(size, input_ids.device)
        top = scores.topk(self.candidates, dim=-1).indices  # (batch, K)
        context = token_hash(input_ids[:, -need:], p.k_token)  # (batch, h-1)
        pairs = pair_hash(context[:, :, None], hashes[top][:, None, :])  # (batch, h-1, K)
        lowest = pairs.amin(dim=1).minimum(self_pairs[top])
        green = green_value(mix32(lowest ^ p.k_seed), codes[top]) < p.threshold
        return scores.scatter_add(-1, top, green.to(scores.dtype) * p.delta)


class KGWVLLMProcessor:
    """vLLM's per-request logits-processor callable for the same watermark.

    ``proc(output_token_ids, logits)`` or ``proc(prompt_token_ids, output_token_ids,
    logits)`` (the two forms ``SamplingParams(logits_processors=[...])`` accepts), with
    ``logits`` the 1-D row of one sequence; returns the biased row. With the two-argument
    form the first ``h`` generated tokens lack a full context and are left unbiased (the
    detector does not score them either).
    """

    def __init__(self, key: WatermarkKey) -> None:
        self._bias = KGWBias(key)
        self.params = self._bias.params

    def __call__(self, *args: Any) -> torch.Tensor:
        import torch

        if len(args) == 2:
            tokens = list(args[0])
            logits = args[1]
        elif len(args) == 3:
            tokens = list(args[0]) + list(args[1])
            logits = args[2]
        else:
            raise TypeError("expected (output_token_ids, logits) or (prompt, output, logits)")
        need = self.params.previous_tokens
        if len(tokens) < need:
            return logits  # type: ignore[no-any-return]
        context = torch.tensor([tokens[-need:]], dtype=torch.int64, device=logits.device)
        return self._bias(context, logits[None, :])[0]


# --- detection (numpy) ----------------------------------------------------------------


@dataclass(frozen=True)
class GreenCount:
    """Green tokens among the distinct scored n-grams of a token sequence."""

    scored: int
    """Distinct (seed, token) pairs scored."""
    green: int
    """How many of them are green."""
    repeated: int
    """Positions left out because their (seed, token) pair occurred earlier."""


def green_flags(params: KGWParams, tokens: Any) -> tuple[Any, Any]:
    """(green flag, seed) per scored position of int64 ``tokens`` (numpy); position ``i``
    scores token ``i + previous_tokens``."""
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view

    need = params.previous_tokens
    tokens = np.asarray(tokens, dtype=np.int64)
    if tokens.size <= need:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64)
    windows = sliding_window_view(tokens, need + 1)  # (positions, previous + candidate)
    candidates = windows[:, -1]
    if not params.self_hash:
        seed = params.left_seed(windows[:, -2])
    else:
        hashes = token_hash(windows, params.k_token)
        anchor = hashes[:, -1:]
        seed = mix32(pair_hash(hashes, anchor).min(axis=1) ^ params.k_seed)
    green = green_value(seed, params.codes(candidates)) < params.threshold
    return green, seed


def green_count(params: KGWParams, tokens: Any) -> GreenCount:
    """Count green tokens of ``tokens``, each distinct (seed, token) pair once.

    A token's colour is a function of its seed and itself, so a repeated pair repeats
    the same draw, not a new one. Counting pairs rather than n-grams matters for
    SelfHash: when the candidate's own pair value is the window's minimum, the seed
    ignores the context, and a frequent word would otherwise be counted, with the
    same colour, once per context it appears in (human text then drifts above the
    nominal false-positive level).
    """
    import numpy as np

    green, seeds = green_flags(params, tokens)
    if green.size == 0:
        return GreenCount(scored=0, green=0, repeated=0)
    need = params.previous_tokens
    candidates = np.asarray(tokens, dtype=np.int64)[need:]
    _, first = np.unique(np.stack([seeds, candidates], axis=1), axis=0, return_index=True)
    return GreenCount(
        scored=int(first.size),
        green=int(green[first].sum()),
        repeated=int(green.size - first.size),
    )
