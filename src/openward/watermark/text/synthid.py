"""SynthID-Text (Dathathri et al., Nature 2024): g-values and a detector with a p-value.

Generation is transformers' own ``SynthIDTextWatermarkLogitsProcessor``
(tournament sampling over ``depth`` layers of keyed Bernoulli(0.5) g-values).
This module recomputes its g-values with numpy, bit for bit: for an n-gram
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

__all__ = ["GSum", "SynthIDVLLMProcessor", "g_sum", "g_values"]

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


class SynthIDVLLMProcessor:
    """vLLM's per-request logits-processor callable for SynthID-Text.

    ``proc(output_token_ids, logits)`` (the prompt form is accepted and the prompt
    ignored: transformers' processor never puts prompt tokens in the context either; its
    first contexts are zero-padded). Scores are reweighted with transformers' own
    ``SynthIDTextWatermarkLogitsProcessor`` methods (keys, g-values, tournament update);
    this wrapper keeps the per-sequence state (context, contexts already seen) that the
    transformers processor keeps per batch. Create one instance per request.
    """

    def __init__(self, key: WatermarkKey, device: str | torch.device = "cpu") -> None:
        from openward.watermark.text.generate import synthid_processor

        self._proc = synthid_processor(key, device=device)
        self._n = int(key.params["ngram_len"])
        self._seen: set[int] = set()
        self._history = int(key.params["context_history_size"])
        self._order: list[int] = []

    def __call__(self, *args: Any) -> torch.Tensor:
        import torch

        if len(args) == 2:
            output, logits = list(args[0]), args[1]
        elif len(args) == 3:
            output, logits = list(args[1]), args[2]
        else:
            raise TypeError("expected (output_token_ids, logits) or (prompt, output, logits)")
        width = self._n - 1
        context = ([0] * width + output)[-width:]
        device = logits.device
        ctx = torch.tensor([context], dtype=torch.int64, device=device)
        indices = torch.arange(logits.shape[-1], device=device)[None, :]
        proc = self._proc
        proc.device = device
        ngram_keys, context_hash = proc._compute_keys(ctx, indices)
        digest = int(context_hash[0].item())
        if digest in self._seen:
            return logits  # type: ignore[no-any-return]  # repeated context: left as is
        self._seen.add(digest)
        self._order.append(digest)
        if len(self._order) > self._history:
            self._seen.discard(self._order.pop(0))
        g = proc.sample_g_values(ngram_keys)
        return proc.update_scores(logits[None, :], g)[0]  # type: ignore[no-any-return]
