"""Keyed 32-bit hashing written once for numpy and torch integer arrays.

The watermark's green lists must be the same whether the generator computes
them (torch tensors, on the whole vocabulary at every step) or the detector
does (numpy arrays, without torch). Every function here uses only ``^``,
``>>``, ``*``, ``+``, ``&`` on int64 arrays holding values below 2**32, which
numpy and torch evaluate identically: a product may wrap past 2**63 (both
libraries wrap in two's complement) and the mask keeps its exact low 32 bits.

The mixer is Chris Wellons' ``lowbias32`` (a fixed, well-avalanched 32-bit
permutation). Keyed by secret 32-bit words it is a pseudo-random function in
the sense the watermark needs (green lists uncorrelated with text), not a
cryptographic one: an adversary who can query the detector freely can learn
green lists, as for every published KGW implementation.
"""

from __future__ import annotations

from typing import Any, Final

MASK32: Final = 0xFFFFFFFF


def mix32(x: Any) -> Any:
    """``lowbias32`` of every element of ``x`` (int64 array, values in [0, 2**32))."""
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & MASK32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & MASK32
    return x ^ (x >> 16)


def token_hash(tokens: Any, key: int) -> Any:
    """The keyed hash of token ids (``H(t)`` in the docs)."""
    return mix32((tokens & MASK32) ^ key)


def pair_hash(context_hash: Any, anchor_hash: Any) -> Any:
    """The anchored min-hash's pair value for a context token and the anchor (the candidate)."""
    return mix32(((context_hash * 0x9E3779B1) & MASK32) ^ anchor_hash)


def green_value(seed: Any, candidate_code: Any) -> Any:
    """The value compared with ``gamma * 2**32``: below it, the candidate is green."""
    return mix32(seed ^ candidate_code)
