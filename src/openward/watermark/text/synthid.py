"""SynthID-Text (Dathathri et al., Nature 2024): g-values and a detector with a p-value.

Generation (:class:`SynthIDTournament`) is transformers'
``SynthIDTextWatermarkLogitsProcessor`` (tournament sampling over ``depth`` layers
of keyed Bernoulli(0.5) g-values) restricted to the most likely candidates at each
step: the same g-values, state and update, at about 1/35 of the cost. Detection
recomputes the g-values with numpy, bit for bit: for an n-gram
``(c_1..c_{n-1}, t)`` and the layer key ``k_d``, the hash is transformers'
linear-congruential accumulation ``h <- (h + x) * 6364136223846793005 + 1``
(mod 2**64, starting from 1) over ``c_1..c_{n-1}, t, k_d``, and the g-value is
``table[h mod table_size]``. The table (random bits drawn once from the key's
seed, as transformers draws them) is stored in the key file.

Detection scores the n-grams whose context (the n-1 previous tokens) occurs
for the first time, as the processor only watermarks those and the paper's
detector masks the others. Under the null (text not from the watermarked
generator) the g-values of distinct contexts are independent draws from the
table, so the number of ones among ``positions x depth`` values is
Binomial(N, q) with q the table's fraction of ones (0.5 up to a few 1e-3):
the mean score's p-value is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from openward.watermark.text.keys import WatermarkKey

if TYPE_CHECKING:
    import torch

__all__ = [
    "SYNTHID_CANDIDATES",
    "GSum",
    "SynthIDTournament",
    "SynthIDVLLMProcessor",
    "g_sum",
    "g_values",
]

LCG_MULTIPLIER: Final = 6364136223846793005


def _accumulate(h: Any, values: Any) -> Any:
    import numpy as np

    return (h + values.astype(np.uint64)) * np.uint64(LCG_MULTIPLIER) + np.uint64(1)


def g_values(key: WatermarkKey, tokens: Any) -> tuple[Any, Any]:
    """(g-values of shape (positions, depth), context windows (positions, n-1)) of ``tokens``.

    Position ``i`` is the n-gram ending at token ``i + n - 1``; the first n-1 tokens have
    no full context and are not scored.
    """
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view

    n = int(key.params["ngram_len"])
    keys = np.asarray(key.params["keys"], dtype=np.uint64)
    table = key.synthid_table()
    size = int(key.params["sampling_table_size"])
    tokens = np.asarray(tokens, dtype=np.int64)
    if tokens.size < n:
        return np.zeros((0, keys.size), dtype=np.uint8), np.zeros((0, n - 1), dtype=np.int64)
    ngrams = sliding_window_view(tokens, n)
    with np.errstate(over="ignore"):
        h = np.ones(ngrams.shape[0], dtype=np.uint64)
        for j in range(n):
            h = _accumulate(h, ngrams[:, j])
        layered = _accumulate(h[:, None], keys[None, :])
    # transformers reduces the signed int64 hash modulo the (power of two) table size:
    # Python-style modulo of a two's-complement value keeps the low bits.
    index = (layered & np.uint64(size - 1)).astype(np.int64)
    return table[index], ngrams[:, :-1]


@dataclass(frozen=True)
class GSum:
    """The g-values of the first-seen contexts of a token sequence."""

    positions: int
    """Scored positions (n-grams whose context is seen for the first time)."""
    ones: int
    """Sum of their g-values over all layers."""
    values: int
    """positions x depth."""
    ones_rate: float
    """The table's fraction of ones: the null probability of g = 1."""
    repeated: int
    """Positions left out because their context occurred earlier."""


def g_sum(key: WatermarkKey, tokens: Any) -> GSum:
    """Sum the g-values of ``tokens`` over first-seen contexts."""
    import numpy as np

    g, contexts = g_values(key, tokens)
    rate = float(key.synthid_table().mean())
    if g.shape[0] == 0:
        return GSum(positions=0, ones=0, values=0, ones_rate=rate, repeated=0)
    _, first = np.unique(contexts, axis=0, return_index=True)
    kept = g[np.sort(first)]
    return GSum(
        positions=int(kept.shape[0]),
        ones=int(kept.sum()),
        values=int(kept.size),
        ones_rate=rate,
        repeated=int(g.shape[0] - kept.shape[0]),
    )


# --- generation (torch) ---------------------------------------------------------------

SYNTHID_CANDIDATES: Final = 1024
"""The tournament runs over the most likely candidates only (the rest keep their probability)."""


class SynthIDTournament:
    """SynthID-Text's generation step on the top candidates (torch).

    The body of both generation-time forms: :class:`openward.watermark.text.generate.
    SynthIDLogitsProcessor` (transformers) and :class:`SynthIDVLLMProcessor` (vLLM).

    transformers' ``SynthIDTextWatermarkLogitsProcessor`` computes g-values for every
    vocabulary entry at every layer, each step (49 152 x 30 hashes for SmolLM2: most of a
    small model's step on a CPU). Here the tournament runs over the ``candidates`` most
    likely tokens only, with the same g-values (same hash, same table, same context and
    repeated-context rule) and the same update, applied to their distribution conditioned
    on being among them; the mass of the rest (a tail of tiny probabilities) is left where
    it is, unwatermarked. So on the candidates the reweighted distribution is exactly
    transformers' processor applied to scores with the rest masked, scaled by the
    candidates' total probability, and the tail is sampled as without a watermark.
    ``candidates=None`` (or a vocabulary no larger) runs transformers' full tournament.
    """

    def __init__(self, key: WatermarkKey, candidates: int | None = SYNTHID_CANDIDATES) -> None:
        import numpy as np

        p = key.params
        self.ngram_len = int(p["ngram_len"])
        self.history_size = int(p["context_history_size"])
        self.table_size = int(p["sampling_table_size"])
        self.candidates = candidates
        # layer keys are 64-bit words (up to 2**64 - 1): the same bits as int64, and the hash
        # is arithmetic modulo 2**64 either way (the detector's uint64)
        self._keys = np.asarray(p["keys"], dtype=np.uint64).view(np.int64)
        self._table = key.synthid_table().astype(np.int64)
        self._on: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def _tensors(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        cached = self._on.get(str(device))
        if cached is None:
            cached = (
                torch.as_tensor(self._keys, device=device),
                torch.as_tensor(self._table, device=device),
            )
            self._on[str(device)] = cached
        return cached

    def initial_state(self, batch: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(context, history) before the first step: zeros, as transformers starts them."""
        import torch

        context = torch.zeros((batch, self.ngram_len - 1), dtype=torch.int64, device=device)
        history = torch.zeros((batch, self.history_size), dtype=torch.int64, device=device)
        return context, history

    @staticmethod
    def context_hash(context: torch.Tensor) -> torch.Tensor:
        """(batch,) hash of the (batch, n-1) contexts: transformers' ``accumulate_hash`` from 1."""
        import torch

        h = torch.ones(context.shape[0], dtype=torch.int64, device=context.device)
        for j in range(context.shape[1]):
            h = (h + context[:, j]) * LCG_MULTIPLIER + 1
        return h

    def g_values(self, context_hash: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """(batch, K, depth) g-values of candidate ``tokens`` (batch, K) after the contexts."""
        keys, table = self._tensors(tokens.device)
        h = (context_hash[:, None] + tokens) * LCG_MULTIPLIER + 1
        layered = (h[:, :, None] + keys) * LCG_MULTIPLIER + 1
        size = self.table_size
        # transformers reduces with ``%`` (floor modulo: non-negative for a positive size);
        # for a power of two that is the low bits, and ``&`` is cheaper
        index = layered & (size - 1) if size & (size - 1) == 0 else layered % size
        return table.gather(0, index.reshape(-1)).view(index.shape)  # table[index], faster

    @staticmethod
    def tournament(scores: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """transformers' ``update_scores`` on (batch, K) scores and (batch, K, depth) g-values:
        the same floating-point operations (so the same bits), with the integer parts
        (``g`` and ``1 + g``, exact in floating point) converted once rather than per layer."""
        import torch

        layers = g.transpose(1, 2).to(scores.dtype)  # (batch, depth, K), contiguous rows
        plus_one = layers + 1
        probs = torch.softmax(scores, dim=1)
        for i in range(layers.shape[1]):
            g_mass = (layers[:, i] * probs).sum(dim=1, keepdim=True)
            probs = probs * (plus_one[:, i] - g_mass)
        log_probs = torch.log(probs)
        return torch.where(torch.isfinite(log_probs), log_probs, torch.finfo(log_probs.dtype).min)

    def reweight(self, scores: torch.Tensor, context_hash: torch.Tensor) -> torch.Tensor:
        """Watermarked log-probabilities (batch, vocab) for unrepeated contexts."""
        import torch

        batch, vocab = scores.shape
        if self.candidates is None or vocab <= self.candidates:
            every = torch.arange(vocab, device=scores.device).expand(batch, -1)
            return self.tournament(scores, self.g_values(context_hash, every))
        top = scores.topk(self.candidates, dim=-1, sorted=False).indices
        head_log_probs = self.tournament(scores.gather(-1, top), self.g_values(context_hash, top))
        log_probs = torch.log_softmax(scores, dim=-1)
        head_mass = torch.logsumexp(log_probs.gather(-1, top), dim=-1, keepdim=True)
        return log_probs.scatter(-1, top, head_log_probs + head_mass)

    def step(
        self, context: torch.Tensor, history: torch.Tensor, scores: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(new scores, new history) for one step with the current (batch, n-1) contexts.

        As transformers: a context whose hash is among the last ``context_history_size``
        ones keeps its scores; every step's hash joins the history.
        """
        import torch

        digest = self.context_hash(context)[:, None]
        repeated = (history == digest).any(dim=1, keepdim=True)
        history = torch.cat((digest, history), dim=1)[:, :-1]
        if bool(repeated.all()):
            return scores, history
        return torch.where(repeated, scores, self.reweight(scores, digest[:, 0])), history


class SynthIDVLLMProcessor:
    """vLLM's per-request logits-processor callable for SynthID-Text.

    ``proc(output_token_ids, logits)`` (the prompt form is accepted and the prompt
    ignored: transformers' processor never puts prompt tokens in the context either; its
    first contexts are zero-padded). Scores are reweighted by :class:`SynthIDTournament`
    (the ``candidates`` most likely tokens), exactly as
    :class:`openward.watermark.text.generate.SynthIDLogitsProcessor` does per batch row;
    this wrapper keeps the request's context history. Create one instance per request.
    """

    def __init__(self, key: WatermarkKey, candidates: int | None = SYNTHID_CANDIDATES) -> None:
        self._tournament = SynthIDTournament(key, candidates)
        self._history: torch.Tensor | None = None

    def __call__(self, *args: Any) -> torch.Tensor:
        import torch

        if len(args) == 2:
            output, logits = list(args[0]), args[1]
        elif len(args) == 3:
            output, logits = list(args[1]), args[2]
        else:
            raise TypeError("expected (output_token_ids, logits) or (prompt, output, logits)")
        t = self._tournament
        width = t.ngram_len - 1
        context = torch.tensor([([0] * width + output)[-width:]], device=logits.device)
        if self._history is None:
            _, self._history = t.initial_state(1, logits.device)
        scores, self._history = t.step(context, self._history, logits[None, :])
        return scores[0]
