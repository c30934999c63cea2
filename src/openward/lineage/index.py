"""Nearest registered relatives of a fingerprint among many: an embedded vector index.

Comparing a candidate with every registered fingerprint (:func:`~openward.lineage.compare.
compare`, milliseconds each) does not scale to a registry of 100 000 models. The index maps
each fingerprint to one fixed-size vector, so that a lookup is a single matrix-vector product,
and callers re-rank the ``k`` it returns with the full ``compare``: the index is a candidate
generator, not a verdict.

**The vector.** The fingerprint's embedding cosine Gram (``embed_gram``, over
``fp.gram_words``) restricted to a fixed list of words, the first :data:`INDEX_WORDS` of
:data:`~openward.lineage.words.COMMON_WORDS` (fingerprints of models without a tokenizer,
whose words are token ids ``#0``, ``#1``, ..., use the ids ``#0`` to ``#47``). Its upper
triangle (1128 pairs) is Fisher-z transformed and centred over the pairs the fingerprint has;
pairs with a word the fingerprint lacks stay 0. A fixed Gaussian random projection to
:data:`DIM` dimensions follows, then L2 normalisation, in float32. The Gram is invariant to
permutations and rotations of the hidden units and to scaling, and barely moved by
quantization, pruning or fine-tuning, so a derivative's vector lies next to its base's; the
cosine of two vectors approximates the correlation of the two Grams' z-values (Johnson-
Lindenstrauss), which is high for relatives and lower for models trained apart. Models trained
apart still share coarse semantics: SmolLM2-135M and Qwen2.5-Coder-0.5B sit at 0.93, their
numpy derivatives and GGUF conversions at 0.99 and above (BENCHMARKS.md), so the cosine ranks
candidates and says nothing final. A fingerprint that lacks some index words has every cosine
lowered (about by the root of the share of pairs it keeps); its ranking is kept.

The projection is generated from PCG64's raw output (a fixed algorithm), not from numpy's
distribution code, so it is the same in every numpy version; a saved index records its
SHA-256 and :meth:`FingerprintIndex.load` refuses a file made with another projection.

Storage is numpy only: a float32 matrix of ``len(index)`` x 256 (1 KiB per fingerprint) and
the keys. :meth:`~FingerprintIndex.save` writes an ``.npz`` whose keys are UTF-8 JSON bytes;
:meth:`~FingerprintIndex.load` reads it with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zipfile
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from openward.lineage.fingerprint import Fingerprint
from openward.lineage.weights import LineageError
from openward.lineage.words import COMMON_WORDS

__all__ = ["DIM", "INDEX_WORDS", "FingerprintIndex", "gram_z", "index_vector", "project"]

INDEX_WORDS: Final = 48
DIM: Final = 256
SEED: Final = 0x0F1DE7
INDEX_FORMAT: Final = "openward-fingerprint-index"
INDEX_VERSION: Final = 1
PAIRS: Final = INDEX_WORDS * (INDEX_WORDS - 1) // 2
_Z_CLIP: Final = 0.9999
_MAX_KEY: Final = 4096

Floats = npt.NDArray[np.float32]


@cache
def _projection() -> npt.NDArray[np.float64]:
    """PAIRS x DIM standard Gaussians / sqrt(DIM) from PCG64(SEED)'s raw 64-bit words
    (Box-Muller on 53-bit uniforms)."""
    n = PAIRS * DIM
    raw = np.random.PCG64(SEED).random_raw(n + n % 2)
    u = ((raw >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53  # in (0, 1)
    u1, u2 = u[0::2], u[1::2]
    radius = np.sqrt(-2.0 * np.log(u1))
    gauss = np.concatenate([radius * np.cos(2 * math.pi * u2), radius * np.sin(2 * math.pi * u2)])
    out = gauss[:n].reshape(PAIRS, DIM) / math.sqrt(DIM)
    out.setflags(write=False)
    return out


@cache
def projection_sha256() -> str:
    return hashlib.sha256(_projection().tobytes()).hexdigest()


def _index_words(fp: Fingerprint) -> list[str]:
    if fp.words and all(w.startswith("#") for w in fp.words):
        return [f"#{i}" for i in range(INDEX_WORDS)]
    return list(COMMON_WORDS[:INDEX_WORDS])


def gram_z(fp: Fingerprint) -> npt.NDArray[np.float64]:
    """The fingerprint's Gram over the index words as PAIRS Fisher-z values, centred over the
    pairs it has; pairs with a word it lacks are 0 (all 0 when fewer than two pairs remain).

    Raises:
        LineageError: an embedding Gram whose size does not match the fingerprint's words.
    """
    words = fp.gram_words
    n = len(words)
    if len(fp.embed_gram) != n * (n - 1) // 2:
        raise LineageError(
            f"{fp.source}: embedding Gram of {len(fp.embed_gram)} values for {n} words"
        )
    full = np.zeros((n, n), dtype=np.float64)
    full[np.triu_indices(n, k=1)] = fp.embed_gram
    full += full.T
    where = {w: i for i, w in enumerate(words)}
    fixed = _index_words(fp)
    present = np.array([w in where for w in fixed])
    idx = np.array([where.get(w, 0) for w in fixed])
    rows, cols = np.triu_indices(INDEX_WORDS, k=1)
    keep = present[rows] & present[cols]
    z = np.zeros(PAIRS, dtype=np.float64)
    if np.count_nonzero(keep) < 2:
        return z
    values = np.arctanh(np.clip(full[idx[rows[keep]], idx[cols[keep]]], -_Z_CLIP, _Z_CLIP))
    if not np.all(np.isfinite(values)):
        raise LineageError(f"{fp.source}: the embedding Gram holds NaN or infinite values")
    z[keep] = values - values.mean()
    return z


def project(z: npt.ArrayLike) -> Floats:
    """Rows of PAIRS values (``gram_z``) to unit vectors of DIM float32 (zero rows stay 0)."""
    projected = np.asarray(z, dtype=np.float64) @ _projection()
    norms = np.linalg.norm(projected, axis=-1, keepdims=True)
    out: Floats = np.where(norms > 0, projected / np.maximum(norms, 1e-300), 0.0).astype(np.float32)
    return out


def index_vector(fp: Fingerprint) -> Floats:
    """The fingerprint's unit vector (DIM float32 values); zeros when it shares fewer than
    two pairs of index words with the list (nothing to compare)."""
    return project(gram_z(fp))


class FingerprintIndex:
    """Fingerprint vectors by key, for ``nearest`` lookups by cosine.

    >>> index = FingerprintIndex()
    >>> index.add("org/base", base_fp)                              # doctest: +SKIP
    >>> for key, cos in index.nearest(candidate_fp, k=10):          # doctest: +SKIP
    ...     result = compare(candidate_fp, registered[key], key)    # re-rank with compare
    """

    def __init__(self) -> None:
        self._vectors: Floats = np.zeros((0, DIM), dtype=np.float32)
        self._keys: list[str] = []
        self._rows: dict[str, int] = {}
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def keys(self) -> list[str]:
        return list(self._keys)

    @property
    def nbytes(self) -> int:
        """Bytes held by the vectors (capacity included)."""
        return int(self._vectors.nbytes)

    def add(self, key: str, fp: Fingerprint) -> None:
        """Register ``fp`` under ``key`` (replacing what ``key`` held)."""
        self.add_vectors([key], index_vector(fp)[None, :])

    def add_vectors(self, keys: Sequence[str], vectors: npt.ArrayLike) -> None:
        """Register precomputed vectors (``index_vector`` output, or any rows of DIM values,
        which are L2-normalised here), one per key; later duplicates win."""
        mat = np.asarray(vectors, dtype=np.float32)
        if mat.ndim != 2 or mat.shape != (len(keys), DIM):
            raise ValueError(f"vectors of shape {mat.shape}, expected ({len(keys)}, {DIM})")
        if not np.all(np.isfinite(mat)):
            raise ValueError("vectors with NaN or infinite values")
        for key in keys:
            _check_key(key)
        norms = np.linalg.norm(mat, axis=1, keepdims=True).astype(np.float32)
        norms[norms == 0] = 1  # zero rows stay zero
        mat = mat / norms
        last = {key: i for i, key in enumerate(keys)}  # a repeated key: its last vector
        start = self._n
        new = [k for k in last if k not in self._rows]
        self._reserve(self._n + len(new))
        for key in new:
            self._rows[key] = self._n
            self._keys.append(key)
            self._n += 1
        if len(new) == len(keys):  # all new and distinct: one block
            self._vectors[start : self._n] = mat
            return
        rows = np.fromiter((self._rows[k] for k in last), dtype=np.int64, count=len(last))
        self._vectors[rows] = mat[np.fromiter(last.values(), dtype=np.int64, count=len(last))]

    def remove(self, key: str) -> None:
        """Forget ``key``.

        Raises:
            KeyError: ``key`` is not in the index.
        """
        row = self._rows.pop(key)
        last = self._n - 1
        if row != last:  # the last row takes the freed place
            moved = self._keys[last]
            self._vectors[row] = self._vectors[last]
            self._keys[row] = moved
            self._rows[moved] = row
        self._keys.pop()
        self._vectors[last] = 0
        self._n -= 1

    def nearest(self, fp: Fingerprint, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` registered keys whose vectors are closest to ``fp``'s, best first, with
        their cosine."""
        return self.nearest_vector(index_vector(fp), k)

    def nearest_vector(self, vector: npt.ArrayLike, k: int = 10) -> list[tuple[str, float]]:
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if query.shape != (DIM,):
            raise ValueError(f"a query of {query.shape[0]} values, expected {DIM}")
        if k <= 0 or self._n == 0:
            return []
        scores = self._vectors[: self._n] @ query
        k = min(k, self._n)
        top = np.argpartition(-scores, k - 1)[:k] if k < self._n else np.arange(self._n)
        order = top[np.argsort(-scores[top], kind="stable")]
        return [(self._keys[i], float(scores[i])) for i in order]

    def save(self, path: Path | str) -> None:
        """Write the index as ``.npz`` (no pickled objects), atomically."""
        target = Path(path)
        meta = {
            "format": INDEX_FORMAT,
            "version": INDEX_VERSION,
            "dim": DIM,
            "words": INDEX_WORDS,
            "projection_sha256": projection_sha256(),
        }
        tmp = target.with_name(target.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez(
                f,
                meta=_text(json.dumps(meta)),
                keys=_text(json.dumps(self._keys, ensure_ascii=False)),
                vectors=self._vectors[: self._n],
            )
        os.replace(tmp, target)

    @classmethod
    def load(cls, path: Path | str) -> FingerprintIndex:
        """Read an index written by :meth:`save`.

        Raises:
            LineageError: not an index file, a damaged one, or one built with another
                projection or version.
        """
        where = str(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                names = set(data.files)
                if not {"meta", "keys", "vectors"} <= names:
                    raise LineageError(f"{where}: not an openward fingerprint index")
                meta = json.loads(_untext(data["meta"]))
                keys = json.loads(_untext(data["keys"]))
                vectors = data["vectors"]
        except LineageError:
            raise
        except (OSError, ValueError, zipfile.BadZipFile, EOFError, UnicodeDecodeError) as exc:
            raise LineageError(f"{where}: not a readable fingerprint index ({exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != INDEX_FORMAT:
            raise LineageError(f"{where}: not an openward fingerprint index")
        if meta.get("version") != INDEX_VERSION or meta.get("dim") != DIM:
            raise LineageError(
                f"{where}: index version {meta.get('version')!r} (dim {meta.get('dim')!r}); "
                f"this openward reads version {INDEX_VERSION} (dim {DIM}): rebuild it"
            )
        if meta.get("projection_sha256") != projection_sha256():
            raise LineageError(f"{where}: built with another projection; rebuild the index")
        if (
            not isinstance(keys, list)
            or not all(isinstance(k, str) for k in keys)
            or len(set(keys)) != len(keys)
            or vectors.dtype != np.float32
            or vectors.shape != (len(keys), DIM)
            or not np.all(np.isfinite(vectors))
        ):
            raise LineageError(f"{where}: a damaged fingerprint index")
        index = cls()
        if keys:
            index.add_vectors(keys, vectors)
        return index

    def _reserve(self, n: int) -> None:
        if n <= len(self._vectors):
            return
        # grow by a quarter: at most 25 % unused rows, amortised O(1) adds
        grown = np.zeros((max(n, len(self._vectors) * 5 // 4, 64), DIM), dtype=np.float32)
        grown[: self._n] = self._vectors[: self._n]
        self._vectors = grown


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not key or len(key) > _MAX_KEY:
        raise ValueError(f"an index key must be a non-empty string of at most {_MAX_KEY} chars")


def _text(s: str) -> npt.NDArray[np.uint8]:
    return np.frombuffer(s.encode("utf-8"), dtype=np.uint8)


def _untext(a: npt.NDArray[np.generic]) -> str:
    if a.dtype != np.uint8 or a.ndim != 1:
        raise ValueError("text stored with the wrong dtype")
    return bytes(a.tobytes()).decode("utf-8")


def vectors_of(fps: Iterable[Fingerprint]) -> Floats:
    """``index_vector`` of each fingerprint, stacked."""
    rows = [index_vector(fp) for fp in fps]
    return np.stack(rows) if rows else np.zeros((0, DIM), dtype=np.float32)
