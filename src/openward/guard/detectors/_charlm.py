"""A small byte-level 4-gram language model: interpolated Kneser-Ney over hashed tables.

The model predicts each UTF-8 byte from the three before it. Probabilities are interpolated
Kneser-Ney with one absolute discount ``D`` (Chen & Goodman 1998):

    P_k(w | c) = max(n_k(c, w) - D, 0) / N_k(c)  +  D * U_k(c) / N_k(c) * P_{k-1}(w | c')

where ``c'`` drops the oldest byte of ``c``, ``n_k`` is the raw count at the highest order and
the continuation count (how many distinct bytes precede ``c w``) below it, ``N_k(c)`` the sum
of ``n_k(c, .)`` and ``U_k(c)`` the number of distinct bytes seen after ``c``. Unseen contexts
back off with weight 1. The base is the add-one unigram of continuation counts.

What is stored is not counts but the two terms of that formula: ``alpha_k[(c, w)] =
max(n - D, 0) / N`` and ``gamma_k[c] = D * U / N``. Small key spaces (one byte of context, the
two-byte contexts) are float16 arrays indexed by the key. Larger ones are hash tables of uint16
cells, an 8-bit fingerprint of the key above an 8-bit log-quantised value (``round(-ln(v) *
16)``, 6% steps): a lookup whose fingerprint differs is a miss (alpha 0, gamma 1), so a
collision costs a lost entry, rarely a wrong one. Rare n-grams and contexts are pruned before
hashing (:data:`JOINT_HASHED`, :data:`CONTEXT_HASHED`); their mass stays in ``gamma``, so the
probabilities sum to a little under 1. :func:`train` builds the tables;
``scripts/train_guard_lm.py`` runs it on the offline corpus and writes
``weights/charlm.safetensors`` (about 2 MB).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

WEIGHTS_DIR: Final = Path(__file__).resolve().parent.parent / "weights"
WEIGHTS_FILE: Final = WEIGHTS_DIR / "charlm.safetensors"
META_FILE: Final = WEIGHTS_DIR / "charlm.json"

ORDER: Final = 3  # bytes of context: a 4-gram model
DISCOUNT: Final = 0.75
PAD: Final = 0x02  # start-of-text padding byte (STX), rare in text
# k -> (log2 buckets, prune n-grams seen fewer times) for the hashed joint tables (k >= 2)
JOINT_HASHED: Final = {2: (18, 2), 3: (19, 4)}
# k -> (log2 buckets, prune contexts seen fewer times) for hashed context tables (k >= 3)
CONTEXT_HASHED: Final = {3: (17, 4)}
QUANT: Final = 16.0  # hashed values are stored as round(-ln(value) * QUANT), 8 bits

U8 = npt.NDArray[np.uint8]
U16 = npt.NDArray[np.uint16]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_SEEDS = tuple(np.uint64(0x9E3779B97F4A7C15 * (i + 1) % (1 << 64)) for i in range(2 * ORDER + 2))


def _mix(x: U64) -> U64:
    """SplitMix64's finaliser (wrapping uint64 arithmetic)."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * _MIX1
        x = x ^ (x >> np.uint64(27))
        x = x * _MIX2
        x = x ^ (x >> np.uint64(31))
    return x


def _padded(data: bytes) -> U8:
    return np.frombuffer(bytes([PAD]) * ORDER + data, dtype=np.uint8)


def _keys(padded: U8, k: int, with_next: bool) -> U64:
    """For each predicted byte (positions ORDER..), the exact key of its ``k`` context bytes,
    followed by the byte itself when ``with_next``: the byte j back sits at bits 8j (8(j-1)
    without the next byte), so a context key is its joint key shifted right by 8."""
    n = len(padded) - ORDER
    key = np.zeros(n, dtype=np.uint64)
    first = 0 if with_next else 1
    for j in range(first, k + 1):
        key |= padded[ORDER - j : ORDER - j + n].astype(np.uint64) << np.uint64(8 * (j - first))
    return key


def _slots(key: U64, seed_index: int, bits: int) -> tuple[I64, I64, U16]:
    """The two candidate buckets and the 8-bit fingerprint (1..255) of each key."""
    h = _mix(key ^ _SEEDS[seed_index])
    mask = np.uint64((1 << bits) - 1)
    first = (h & mask).astype(np.int64)
    second = ((h >> np.uint64(20)) & mask).astype(np.int64)
    fp = ((h >> np.uint64(48)) % np.uint64(255) + np.uint64(1)).astype(np.uint16)
    return first, second, fp


def _pack(key: U64, value: F64, seed_index: int, bits: int) -> tuple[U16, npt.NDArray[np.bool_]]:
    """A hashed table: entries are placed largest value first, each in the first free of its
    two buckets (``fingerprint << 8 | quantised value``; 0 = empty). Returns the table and
    which entries found a place."""
    first, second, fp = _slots(key, seed_index, bits)
    q = np.clip(np.rint(-np.log(np.maximum(value, 1e-30)) * QUANT), 0, 255).astype(np.uint16)
    cells = (fp << np.uint16(8)) | q
    table = np.zeros(1 << bits, dtype=np.uint16)
    placed = np.zeros(len(key), dtype=bool)
    for i in np.argsort(q, kind="stable").tolist():
        for b in (int(first[i]), int(second[i])):
            if table[b] == 0:
                table[b] = cells[i]
                placed[i] = True
                break
    return table, placed


def _unpack(table: U16, key: U64, seed_index: int, bits: int, missing: float) -> F64:
    first, second, fp = _slots(key, seed_index, bits)
    a, b = table[first], table[second]
    hit_a = (a >> np.uint16(8)) == fp
    hit_b = (b >> np.uint16(8)) == fp
    cell = np.where(hit_a, a, b)
    value = np.exp(-(cell & np.uint16(0xFF)).astype(np.float64) / QUANT)
    return np.where(hit_a | hit_b, value, missing)


@dataclass(frozen=True)
class Tables:
    """The model: ``unigram`` (256 probabilities); ``alpha[k-1]`` and ``gamma[k-1]`` for
    k = 1..ORDER: float16 arrays indexed directly by the key where the key space is small
    (``alpha1``, ``gamma1``, ``gamma2``), packed uint16 hash tables otherwise."""

    unigram: F32
    alpha: tuple[npt.NDArray[Any], ...]
    gamma: tuple[npt.NDArray[Any], ...]

    def tensors(self) -> dict[str, npt.NDArray[Any]]:
        out: dict[str, npt.NDArray[Any]] = {"unigram": self.unigram.astype(np.float32)}
        for k in range(1, ORDER + 1):
            out[f"alpha{k}"] = self.alpha[k - 1]
            out[f"gamma{k}"] = self.gamma[k - 1]
        return out

    @classmethod
    def from_tensors(cls, t: dict[str, npt.NDArray[Any]]) -> Tables:
        def widen(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
            return a.astype(np.float32) if a.dtype == np.float16 else a

        return cls(
            unigram=t["unigram"].astype(np.float32),
            alpha=tuple(widen(t[f"alpha{k}"]) for k in range(1, ORDER + 1)),
            gamma=tuple(widen(t[f"gamma{k}"]) for k in range(1, ORDER + 1)),
        )


def _alpha(tables: Tables, joint: U64, k: int) -> F64:
    if k in JOINT_HASHED:
        return _unpack(tables.alpha[k - 1], joint, k, JOINT_HASHED[k][0], 0.0)
    return tables.alpha[k - 1][joint.astype(np.int64)].astype(np.float64)


def _gamma(tables: Tables, ctx: U64, k: int) -> F64:
    if k in CONTEXT_HASHED:
        return _unpack(tables.gamma[k - 1], ctx, ORDER + k, CONTEXT_HASHED[k][0], 1.0)
    return tables.gamma[k - 1][ctx.astype(np.int64)].astype(np.float64)


def _grouped(keys: U64, counts: I64, shift: int) -> tuple[U64, F64, F64]:
    """Sum and number of nonzero ``counts`` grouped by ``keys >> shift``."""
    groups, inverse = np.unique(keys >> np.uint64(shift), return_inverse=True)
    total = np.bincount(inverse, weights=counts.astype(np.float64)).astype(np.float64)
    distinct = np.bincount(inverse, weights=(counts > 0).astype(np.float64)).astype(np.float64)
    return np.asarray(groups, dtype=np.uint64), total, distinct


def train(texts: Iterable[bytes]) -> Tables:
    """Count every 1..(ORDER+1)-gram of ``texts`` (each padded at its start), build the
    tables."""
    padded_all = [_padded(t) for t in texts if t]
    # exact (k+1)-gram keys with their counts, for k = 0..ORDER
    grams: list[tuple[U64, I64]] = []
    for k in range(ORDER + 1):
        parts = [_keys(p, k, with_next=True) for p in padded_all]
        keys, counts = np.unique(np.concatenate(parts), return_counts=True)
        grams.append((keys, counts.astype(np.int64)))
    # n_k: raw counts at the top order, continuation counts below it (the number of distinct
    # bytes seen before the gram: group the (k+2)-grams by their k+1 newest bytes)
    n_of: list[tuple[U64, I64]] = []
    for k in range(ORDER + 1):
        if k == ORDER:
            n_of.append(grams[k])
            continue
        mask = np.uint64((1 << (8 * (k + 1))) - 1)
        suffix, cont = np.unique(grams[k + 1][0] & mask, return_counts=True)
        keys_k = grams[k][0]
        cont_full = np.ones(len(keys_k), dtype=np.int64)  # seen only at a text's start: once
        cont_full[np.searchsorted(keys_k, suffix)] = cont
        n_of.append((keys_k, cont_full))
    uni_keys, uni_n = n_of[0]
    unigram = np.ones(256, dtype=np.float64)
    unigram[uni_keys.astype(np.int64)] += uni_n
    unigram /= unigram.sum()
    alpha: list[npt.NDArray[Any]] = []
    gamma: list[npt.NDArray[Any]] = []
    for k in range(1, ORDER + 1):
        keys, n = n_of[k]  # a key holds the predicted byte at bits 0-7, its context above
        raw = grams[k][1]  # the same keys, in the same (sorted) order
        ctx_keys, total, _distinct = _grouped(keys, n, 8)
        ctx_of = np.searchsorted(ctx_keys, keys >> np.uint64(8))
        a = np.maximum(n - DISCOUNT, 0.0) / total[ctx_of]
        if k in JOINT_HASHED:
            bits, prune = JOINT_HASHED[k]
            keep = (raw >= prune) & (a > 0)
            table, placed = _pack(keys[keep], a[keep], k, bits)
            kept = np.zeros(len(keys), dtype=bool)
            kept[np.flatnonzero(keep)[placed]] = True
            # what is stored is what the lookup returns: quantised
            stored = np.where(
                kept, np.exp(-np.rint(-np.log(np.maximum(a, 1e-30)) * QUANT) / QUANT), 0.0
            )
            alpha.append(table)
        else:
            joint = np.zeros(1 << (8 * (k + 1)), dtype=np.float16)
            joint[keys.astype(np.int64)] = a.astype(np.float16)
            stored = joint[keys.astype(np.int64)].astype(np.float64)
            alpha.append(joint)
        # the back-off weight is the mass the stored entries leave: D * U / N without pruning
        g = np.clip(1.0 - np.bincount(ctx_of, weights=stored, minlength=len(ctx_keys)), 1e-6, 1.0)
        if k in CONTEXT_HASHED:
            bits, prune = CONTEXT_HASHED[k]
            keep_ctx = (total >= prune) & (g < 1.0)
            table, _placed = _pack(ctx_keys[keep_ctx], g[keep_ctx], ORDER + k, bits)
            gamma.append(table)
        else:
            ctx = np.ones(1 << (8 * k), dtype=np.float16)  # never seen: back off fully
            ctx[ctx_keys.astype(np.int64)] = g.astype(np.float16)
            gamma.append(ctx)
    return Tables(unigram.astype(np.float32), tuple(alpha), tuple(gamma))


def byte_logprobs(tables: Tables, data: bytes) -> F64:
    """Natural-log probability of each byte of ``data`` given the bytes before it."""
    if not data:
        return np.zeros(0)
    padded = _padded(data)
    nxt = padded[ORDER:].astype(np.int64)
    p = tables.unigram[nxt].astype(np.float64)
    for k in range(1, ORDER + 1):
        joint = _keys(padded, k, with_next=True)
        ctx = _keys(padded, k, with_next=False)
        p = _alpha(tables, joint, k) + _gamma(tables, ctx, k) * p
    out: F64 = np.log(np.maximum(p, 1e-12))
    return out


def char_logprobs(tables: Tables, text: str) -> F64:
    """Log probability of each character of ``text`` (the sum over its UTF-8 bytes)."""
    data = text.encode("utf-8", "surrogatepass")
    lp = byte_logprobs(tables, data)
    if not len(lp):
        return lp
    arr = np.frombuffer(data, dtype=np.uint8)
    starts = (arr & 0xC0) != 0x80  # not a continuation byte
    char_id = np.cumsum(starts) - 1
    out: F64 = np.bincount(char_id, weights=lp, minlength=len(text))[: len(text)].astype(np.float64)
    return out


class CharLM:
    """The shipped model: ``CharLM.default().logprob_per_char(text)``."""

    def __init__(self, tables: Tables, meta: dict[str, Any] | None = None) -> None:
        self.tables = tables
        self.meta = meta or {}

    @classmethod
    def load(cls, weights: Path = WEIGHTS_FILE, meta: Path = META_FILE) -> CharLM:
        from safetensors.numpy import load_file

        doc = json.loads(meta.read_text()) if meta.is_file() else {}
        return cls(Tables.from_tensors(load_file(str(weights))), doc)

    @classmethod
    @cache
    def default(cls) -> CharLM:
        """The model in ``openward/guard/weights`` (loaded once per process, read-only)."""
        return cls.load()

    def char_logprobs(self, text: str) -> F64:
        return char_logprobs(self.tables, text)

    def logprob_per_char(self, text: str) -> float:
        """Mean natural-log probability per character (0.0 for empty text)."""
        lp = self.char_logprobs(text)
        return float(lp.mean()) if len(lp) else 0.0

    def perplexity(self, text: str) -> float:
        """Per-character perplexity: ``exp(-logprob_per_char)``."""
        return math.exp(-self.logprob_per_char(text))

    def windowed_perplexity(
        self, text: str, window: int = 48, stride: int = 8
    ) -> list[tuple[int, int, float]]:
        """``(start, end, perplexity)`` of character windows of ``window`` chars every
        ``stride`` chars (one window for shorter text); the last window ends at the text's end."""
        lp = self.char_logprobs(text)
        n = len(lp)
        if n == 0:
            return []
        if n <= window:
            return [(0, n, math.exp(-float(lp.mean())))]
        csum = np.concatenate([[0.0], np.cumsum(lp)])
        starts = list(range(0, n - window + 1, stride))
        if starts[-1] != n - window:
            starts.append(n - window)
        st = np.asarray(starts)
        means = (csum[st + window] - csum[st]) / window
        return [
            (int(s), int(s) + window, math.exp(-float(m))) for s, m in zip(st, means, strict=True)
        ]
