"""A model's weight fingerprint: small, fixed-size, invariant to what derivatives change.

The idea (openward's, in the spirit of HuRef's invariant terms): look at the model through a
fixed list of common English words.

- **Embedding Gram.** The token embeddings of up to 192 common words (" the", " of", ...,
  found by their token strings, so a vocabulary extended with new tokens picks the same
  rows), centred, and their cosine-similarity matrix. A permutation (or any orthogonal
  change) of the hidden units, a scale factor, quantization noise and a fine-tune leave it
  (nearly) unchanged; two models trained apart agree only on the coarse semantics.
- **Layer Grams.** For up to 20 layers spread over the depth, the first 48 of those words'
  embeddings are passed through the matrices that read the residual stream (``q``, ``k``,
  ``v`` and ``gate``, ``up``): ``E W^T``, and the cosine Gram of the result, averaged over
  the attention matrices and over the MLP matrices. ``E W^T`` does not change when the
  hidden units are permuted consistently (the embedding's columns move with the matrices'),
  and its Gram does not change when attention heads or MLP neurons are permuted (rows).
  Matrices larger than a budget are read on an evenly spaced subset of rows (an unbiased
  estimate of the same Gram), so a 70B model is read in a fraction of a percent.
- **Direct samples and statistics** for saying *how* a derivative was made when its tensors
  line up with the base's: 64 values of each sampled matrix at fixed positions, the share of
  zeros, the share of 32-value blocks that sit on a 4-bit or 8-bit grid, a SHA-256 of every
  value read, and hashes of the vocabulary in chunks of 1024 tokens.

Everything is stored as float16 and base64 in a JSON document of at most 256 KiB.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from openward.lineage.weights import (
    LineageError,
    TensorRef,
    UnreadableTensor,
    WeightSource,
    open_weights,
)
from openward.lineage.words import COMMON_WORDS

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Fingerprint",
    "LayerPrint",
    "compute_fingerprint",
    "load_fingerprint",
]

FORMAT: Final = "openward-fingerprint"
FORMAT_VERSION: Final = 1
MAX_BYTES: Final = 256 * 1024
EMBED_WORDS: Final = 192
GRAM_WORDS: Final = 96
LAYER_WORDS: Final = 40
EMBED_UNITS: Final = 64
LAYER_UNITS: Final = 16
SIGNATURE_ROLES: Final = ("q", "gate")
MAX_LAYERS: Final = 20
ROW_BUDGET: Final = 1 << 20
"""Elements read per matrix at most (then an evenly spaced subset of its rows)."""
MIN_ROWS: Final = 64
SAMPLE_VALUES: Final = 64
VOCAB_CHUNK: Final = 1024
ROPE_PERMUTED: Final = ("q", "k")
"""llama.cpp's converter re-orders the rows of q and k within each head (its rotary layout),
so a GGUF and the safetensors it came from differ there and only there: these two stay out
of the values digest and of the position-by-position comparisons across formats (their
Grams and units do not depend on row order)."""
WRITERS: Final = ("o", "down")
GROUPS: Final = {"attn": ("q", "k", "v"), "mlp": ("gate", "up")}
MAX_UNREAD: Final = 32
"""Lines of ``unread`` kept (grouped by role and reason, so a model with every layer's q in an
unread format gives one line)."""
MAX_UNREAD_CHARS: Final = 300

Floats = npt.NDArray[np.float32]


@dataclass
class LayerPrint:
    layer: int
    depth: float
    """layer / (layers - 1): where it sits, for models of other depths."""
    grams: dict[str, Floats] = field(default_factory=dict)
    """``attn``/``mlp``: upper triangle of the 48-word cosine Gram."""
    samples: dict[str, Floats] = field(default_factory=dict)
    """Per role: 64 values at fixed positions."""
    units: dict[str, Floats] = field(default_factory=dict)
    """``q``/``gate`` read in full: the 16 output units of ``E W^T`` with the largest norm,
    each as its 40 values over the layer words (flattened, units x words)."""
    zeros: dict[str, float] = field(default_factory=dict)
    grid: dict[str, float] = field(default_factory=dict)
    shapes: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass
class Fingerprint:
    source: str
    format: str
    layers_total: int
    hidden: int
    vocab_size: int
    words: list[str]
    embed_gram: Floats
    layers: list[LayerPrint]
    embed_samples: Floats
    embed_units: Floats
    """The 64 hidden units with the largest (centred) embedding column norm over the words,
    each as its values over the words (flattened, units x words)."""
    embed_zeros: float
    embed_grid: float
    values_sha256: str
    vocab_chunks: list[str]
    bytes_read: int
    model_bytes: int
    version: int = FORMAT_VERSION
    unread: list[str] = field(default_factory=list)
    """Matrices of the sampled layers that were recognised but could not be read (their
    layout or type), one line per role and reason: what the fingerprint does not cover."""
    id_units: Floats | None = None
    """The embedding's units over token ids 0..id_words-1 (computed the same way with or
    without a vocabulary), so a copy shipped without tokenizer files can still be compared
    by token id."""
    id_words: int = 0

    @property
    def layer_words(self) -> list[str]:
        return self.words[:LAYER_WORDS]

    @property
    def gram_words(self) -> list[str]:
        return self.words[:GRAM_WORDS]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": self.version,
            "source": self.source,
            "weights_format": self.format,
            "layers_total": self.layers_total,
            "hidden": self.hidden,
            "vocab_size": self.vocab_size,
            "words": self.words,
            "embed_gram": _pack(self.embed_gram),
            "embed_samples": _pack(self.embed_samples),
            "embed_units": _pack(self.embed_units),
            "embed_zeros": self.embed_zeros,
            "embed_grid": self.embed_grid,
            "values_sha256": self.values_sha256,
            "vocab_chunks": self.vocab_chunks,
            "bytes_read": self.bytes_read,
            "model_bytes": self.model_bytes,
            "unread": self.unread,
            **(
                {"id_units": _pack(self.id_units), "id_words": self.id_words}
                if self.id_units is not None
                else {}
            ),
            "layers": [
                {
                    "layer": lp.layer,
                    "depth": lp.depth,
                    "grams": {k: _pack(v) for k, v in lp.grams.items()},
                    "samples": {k: _pack(v) for k, v in lp.samples.items()},
                    "units": {k: _pack(v) for k, v in lp.units.items()},
                    "zeros": lp.zeros,
                    "grid": lp.grid,
                    "shapes": {k: list(v) for k, v in lp.shapes.items()},
                }
                for lp in self.layers
            ],
        }

    def validate(self) -> None:
        """Raise ValueError when the parts do not fit together (a damaged or forged file)."""

        def triangle(n: int) -> int:
            return n * (n - 1) // 2

        if len(self.words) < LAYER_WORDS or len(set(self.words)) != len(self.words):
            raise ValueError("words: too few or repeated")
        if self.embed_gram.size != triangle(len(self.gram_words)):
            raise ValueError("embed_gram does not fit the words")
        if self.embed_units.size % len(self.words):
            raise ValueError("embed_units do not fit the words")
        arrays = [self.embed_gram, self.embed_units, self.embed_samples]
        if self.id_units is not None:
            if self.id_words < 16 or self.id_units.size % self.id_words:
                raise ValueError("id_units do not fit id_words")
            arrays.append(self.id_units)
        for lp in self.layers:
            if not math.isfinite(lp.depth):
                raise ValueError("a layer's depth is not finite")
            for g in lp.grams.values():
                if g.size != triangle(len(self.layer_words)):
                    raise ValueError(f"layer {lp.layer}: a Gram does not fit the words")
            for u in lp.units.values():
                if u.size % len(self.layer_words):
                    raise ValueError(f"layer {lp.layer}: units do not fit the words")
            arrays += [*lp.grams.values(), *lp.units.values(), *lp.samples.values()]
        if not all(np.all(np.isfinite(a)) for a in arrays):
            raise ValueError("values that are NaN or infinite")

    def dumps(self) -> str:
        text = json.dumps(self.to_json(), separators=(",", ":"))
        if len(text) > MAX_BYTES:  # the layout above keeps it near 200 KiB
            raise LineageError(f"fingerprint of {len(text)} bytes exceeds {MAX_BYTES}")
        return text

    @classmethod
    def from_json(cls, doc: object, where: str = "fingerprint") -> Fingerprint:
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise LineageError(f"{where}: not an openward fingerprint")
        version = doc.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise LineageError(f"{where}: a damaged fingerprint (version {version!r})")
        if version > FORMAT_VERSION:
            raise LineageError(
                f"{where}: fingerprint format version {version!r} is newer than this openward "
                f"reads ({FORMAT_VERSION}); upgrade openward"
            )
        try:
            fp = cls(
                source=str(doc["source"]),
                format=str(doc["weights_format"]),
                layers_total=int(doc["layers_total"]),
                hidden=int(doc["hidden"]),
                vocab_size=int(doc["vocab_size"]),
                words=[str(w) for w in doc["words"]],
                embed_gram=_unpack(doc["embed_gram"]),
                embed_samples=_unpack(doc["embed_samples"]),
                embed_units=_unpack(doc["embed_units"]),
                embed_zeros=float(doc["embed_zeros"]),
                embed_grid=float(doc["embed_grid"]),
                values_sha256=str(doc["values_sha256"]),
                vocab_chunks=[str(c) for c in doc["vocab_chunks"]],
                bytes_read=int(doc["bytes_read"]),
                model_bytes=int(doc["model_bytes"]),
                version=version,
                unread=_unread_lines(doc.get("unread", [])),
                id_units=_unpack(doc["id_units"]) if "id_units" in doc else None,
                id_words=int(doc.get("id_words", 0)),
                layers=[
                    LayerPrint(
                        layer=int(lp["layer"]),
                        depth=float(lp["depth"]),
                        grams={str(k): _unpack(v) for k, v in lp["grams"].items()},
                        samples={str(k): _unpack(v) for k, v in lp["samples"].items()},
                        units={str(k): _unpack(v) for k, v in lp["units"].items()},
                        zeros={str(k): float(v) for k, v in lp["zeros"].items()},
                        grid={str(k): float(v) for k, v in lp["grid"].items()},
                        shapes={str(k): (int(v[0]), int(v[1])) for k, v in lp["shapes"].items()},
                    )
                    for lp in doc["layers"]
                ],
            )
            fp.validate()
            return fp
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
            raise LineageError(
                f"{where}: a damaged fingerprint ({type(exc).__name__}: {exc})"
            ) from None


def _unread_lines(value: object) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_UNREAD:
        raise ValueError("unread is not a short list")
    if not all(isinstance(v, str) and len(v) <= MAX_UNREAD_CHARS for v in value):
        raise ValueError("unread holds something other than short lines")
    return [str(v) for v in value]


def summarize_unread(entries: Sequence[tuple[int, str, str]]) -> list[str]:
    """``(layer, role, reason)`` as lines ``"q in layers 0-3, 7: reason"``, one per role and
    reason (layer numbers in tensor names read as N), at most ``MAX_UNREAD``."""
    grouped: dict[tuple[str, str], set[int]] = {}
    for layer, role, reason in entries:
        key = (role, re.sub(r"\.\d+\.", ".N.", reason))
        grouped.setdefault(key, set()).add(layer)
    lines = []
    for (role, reason), layers in sorted(grouped.items(), key=lambda kv: min(kv[1])):
        where = "layer" if len(layers) == 1 else "layers"
        line = f"{role} in {where} {_ranges(sorted(layers))}: {reason}"
        if len(line) > MAX_UNREAD_CHARS:
            line = line[: MAX_UNREAD_CHARS - 3] + "..."
        lines.append(line)
    if len(lines) > MAX_UNREAD:
        rest = len(lines) - MAX_UNREAD + 1
        lines = [*lines[: MAX_UNREAD - 1], f"and {rest} more roles not read"]
    return lines


def _ranges(values: list[int]) -> str:
    parts: list[str] = []
    start = prev = values[0]
    for v in [*values[1:], None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if v is not None:
            start = prev = v
    return ", ".join(parts)


def _pack(values: Floats) -> str:
    return base64.b64encode(np.asarray(values, dtype="<f2").tobytes()).decode("ascii")


def _unpack(text: object) -> Floats:
    if not isinstance(text, str):
        raise ValueError("packed values are not a string")
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    if len(raw) % 2:
        raise ValueError("packed values of odd length")
    return np.frombuffer(raw, dtype="<f2").astype(np.float32)


def load_fingerprint(path: Path) -> Fingerprint:
    """A fingerprint file written by ``openward fingerprint -o``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LineageError(f"{path}: cannot read ({exc})") from None
    if len(text) > 4 * MAX_BYTES:
        raise LineageError(f"{path}: {len(text)} bytes, too large for a fingerprint")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise LineageError(f"{path}: not JSON ({exc})") from None
    return Fingerprint.from_json(doc, str(path))


def is_fingerprint_file(path: Path) -> bool:
    if not path.is_file() or path.suffix.lower() != ".json":
        return False
    with open(path, "rb") as f:
        return FORMAT.encode() in f.read(4096)


# -- computing -------------------------------------------------------------------------


def normalize_token(token: str) -> str:
    """A token string with its leading-space marker (GPT-2's Ġ, SentencePiece's ▁) as a space."""
    if token[:1] in ("Ġ", "▁"):
        return " " + token[1:]
    return token


def select_words(tokens: Sequence[str], limit: int = EMBED_WORDS) -> list[tuple[str, int]]:
    """(word, token id) for the first ``limit`` common words that are one token, in list order."""
    index: dict[str, int] = {}
    for i, token in enumerate(tokens):
        index.setdefault(normalize_token(token), i)
    out: list[tuple[str, int]] = []
    for word in COMMON_WORDS:
        found = index.get(" " + word)
        if found is not None:
            out.append((word, found))
            if len(out) == limit:
                break
    return out


def cosine_gram(m: Floats) -> Floats:
    """Upper triangle (k=1) of the cosine-similarity matrix of ``m``'s rows."""
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    unit = m / np.maximum(norms, 1e-12)
    gram = unit @ unit.T
    upper: Floats = gram[np.triu_indices(len(m), k=1)].astype(np.float32)
    return upper


def sampled_rows(ref: TensorRef) -> list[int]:
    if ref.rows * ref.cols <= ROW_BUDGET:
        return list(range(ref.rows))
    k = min(ref.rows, max(MIN_ROWS, ROW_BUDGET // ref.cols))
    return sorted({int(x) for x in np.linspace(0, ref.rows - 1, k).round()})


def grid_share(values: Floats) -> float:
    """Share of 32-value blocks that hold at most 16 distinct values (a 4-bit grid) or whose
    values are integer multiples of the block's absmax / 127 (an 8-bit grid)."""
    flat = values.reshape(-1)
    n = (len(flat) // 32) * 32
    if n == 0:
        return 0.0
    blocks = flat[:n].reshape(-1, 32)
    if len(blocks) > 2048:
        blocks = blocks[np.linspace(0, len(blocks) - 1, 2048).astype(int)]
    ordered = np.sort(blocks, axis=1)
    distinct = 1 + np.count_nonzero(np.diff(ordered, axis=1), axis=1)
    scale = np.max(np.abs(blocks), axis=1, keepdims=True) / 127.0
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(scale > 0, blocks / scale, 0.5)
    int8 = np.max(np.abs(q - np.round(q)), axis=1) < 0.02
    return float(np.mean((distinct <= 16) | int8))


def _row_grid_share(values: Floats) -> float:
    """Per-row absmax int8 (bitsandbytes LLM.int8, per-channel int8) as well as blocks."""
    scale = np.max(np.abs(values), axis=1, keepdims=True) / 127.0
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(scale > 0, values / scale, 0.0)
    rows_on = float(np.mean(np.max(np.abs(q - np.round(q)), axis=1) < 0.02))
    return max(rows_on, grid_share(values))


def top_units(m: Floats, k: int) -> Floats:
    """The ``k`` columns of ``m`` (words x units, centred over words) with the largest norm,
    as rows (units x words), flattened; in order of norm."""
    norms = np.linalg.norm(m, axis=0)
    order = np.argsort(-norms, kind="stable")[:k]
    return np.ascontiguousarray(m[:, order].T).reshape(-1).astype(np.float32)


def compute_fingerprint(target: str | Path, source: WeightSource | None = None) -> Fingerprint:
    """The fingerprint of a model folder, weight file or ``hf://`` snapshot.

    Raises:
        LineageError: weights that cannot be read, or too few common words in the vocabulary.
    """
    from threadpoolctl import threadpool_limits

    src = source or open_weights(target)
    # hundreds of small products: BLAS threads cost more to wake than they save (measured on
    # the 70B-shaped benchmark model: 0.9 s with one thread, 4.5 s with two, 2 cores)
    with threadpool_limits(limits=1, user_api="blas"):
        return _compute(target, src)


def _compute(target: str | Path, src: WeightSource) -> Fingerprint:
    chosen: list[tuple[str, int]]
    if src.tokens:
        chosen = select_words(src.tokens)
    else:  # weights without a tokenizer: rows by token id ("#17"), the same in a derivative
        chosen = [(f"#{i}", i) for i in range(min(EMBED_WORDS, src.embed.rows))]
    if len(chosen) < LAYER_WORDS:
        raise LineageError(
            f"{src.path}: only {len(chosen)} common English words are single tokens in this "
            f"vocabulary (at least {LAYER_WORDS} are needed)"
        )
    digest = hashlib.sha256()
    ids = [i for _, i in chosen]
    if max(ids) >= src.embed.rows:
        raise LineageError(f"{src.path}: the vocabulary is larger than the embedding matrix")
    embed = src.read_rows(src.embed, ids)
    if not np.all(np.isfinite(embed)):
        raise LineageError(f"{src.path}: the token embedding holds NaN or infinite values")
    digest.update(embed.tobytes())
    centred = embed - embed.mean(axis=0, keepdims=True)
    embed_gram = cosine_gram(centred[:GRAM_WORDS])
    layer_embed = centred[:LAYER_WORDS]
    embed_samples = embed[:4, :16].reshape(-1)

    total = src.n_layers
    picked = _pick_layers(sorted(src.layers), MAX_LAYERS)
    chosen_layers = set(picked)
    unread = [entry for entry in src.unread if entry[0] in chosen_layers]
    prints = []
    for layer in picked:
        roles = src.layers[layer]
        lp = LayerPrint(layer=layer, depth=layer / max(total - 1, 1))
        for group, members in GROUPS.items():
            grams = []
            for role in members:
                ref = roles.get(role)
                if ref is None or ref.cols != src.hidden:
                    continue
                rows = sampled_rows(ref)
                try:
                    w = src.read_rows(ref, rows)
                except UnreadableTensor as exc:
                    unread.append((layer, role, str(exc)))
                    continue
                if not np.all(np.isfinite(w)):
                    raise LineageError(f"{src.path}: {ref.name} holds NaN or infinite values")
                if role not in ROPE_PERMUTED:
                    digest.update(w.tobytes())
                projected = layer_embed @ w.T
                grams.append(cosine_gram(projected))
                if role in SIGNATURE_ROLES and len(rows) == ref.rows:
                    projected -= projected.mean(axis=0, keepdims=True)
                    lp.units[role] = top_units(projected, LAYER_UNITS)
                lp.samples[role] = w[: min(2, len(w)), :32].reshape(-1).copy()
                lp.zeros[role] = float(np.mean(w == 0))
                lp.grid[role] = _row_grid_share(w[: min(64, len(w))])
                lp.shapes[role] = (ref.rows, ref.cols)
            if grams:
                lp.grams[group] = np.mean(grams, axis=0).astype(np.float32)
        # the matrices that write the residual stream enter the digest only: an edit to them
        # alone (an abliteration, a backdoor) must not leave the verdict "identical"
        for role in WRITERS:
            ref = roles.get(role)
            if ref is not None:
                try:
                    digest.update(src.read_rows(ref, sampled_rows(ref)).tobytes())
                except UnreadableTensor as exc:
                    unread.append((layer, role, str(exc)))
        prints.append(lp)

    # The rest of the model enters the digest cheaply, so that "identical" means more than
    # "the same sampled rows": every small one-dimensional tensor (norm weights, biases) whole,
    # by content (names differ between formats), and two rows of every matrix of the layers
    # not sampled above (q and k left out: llama.cpp re-orders their rows).
    vector_digests = []
    for ref in src.vectors:
        values = src.read_vector(ref)
        if not np.all(np.isfinite(values)):
            raise LineageError(f"{src.path}: {ref.name} holds NaN or infinite values")
        vector_digests.append(hashlib.sha256(values.tobytes()).digest())
    for item in sorted(vector_digests):
        digest.update(item)
    for layer in sorted(set(src.layers) - chosen_layers):
        for role, ref in sorted(src.layers[layer].items()):
            if role in ROPE_PERMUTED or ref.rows == 0:
                continue
            try:
                digest.update(src.read_rows(ref, sorted({0, ref.rows // 2})).tobytes())
            except UnreadableTensor as exc:
                unread.append((layer, role, str(exc)))

    unread_lines = summarize_unread(unread)
    # what could not be read is part of what was seen: a model with a matrix left unread is
    # never "identical" to one where it was read
    digest.update("\n".join(unread_lines).encode())
    tokens = src.tokens
    chunks = [
        hashlib.sha256("\x00".join(tokens[i : i + VOCAB_CHUNK]).encode()).hexdigest()[:16]
        for i in range(0, len(tokens), VOCAB_CHUNK)
    ]
    id_units = None
    id_count = 0
    if src.embed.rows >= 16:  # with or without a vocabulary: the same units, by id
        id_count = min(GRAM_WORDS, src.embed.rows)  # 96 ids: the file stays under 256 KiB
        by_id = src.read_rows(src.embed, list(range(id_count)))
        if np.all(np.isfinite(by_id)):
            id_units = top_units(by_id - by_id.mean(axis=0, keepdims=True), EMBED_UNITS)
    return Fingerprint(
        id_units=id_units,
        id_words=id_count if id_units is not None else 0,
        source=str(target),
        format=src.format,
        layers_total=total,
        hidden=src.hidden,
        vocab_size=len(tokens) or src.embed.rows,
        words=[w for w, _ in chosen],
        embed_gram=embed_gram,
        layers=prints,
        embed_samples=embed_samples,
        embed_units=top_units(centred, EMBED_UNITS),
        embed_zeros=float(np.mean(embed == 0)),
        embed_grid=_row_grid_share(embed[:64]),
        values_sha256=digest.hexdigest(),
        vocab_chunks=chunks,
        bytes_read=src.bytes_read,
        model_bytes=src.size,
        unread=unread_lines,
    )


def _pick_layers(layers: list[int], limit: int) -> list[int]:
    if len(layers) <= limit:
        return layers
    picks = np.linspace(0, len(layers) - 1, limit).round().astype(int)
    return sorted({layers[i] for i in picks})


def gram_pairs(words: Sequence[str], keep: set[str]) -> npt.NDArray[np.bool_]:
    """Mask over a Gram's upper triangle: pairs whose both words are in ``keep``."""
    n = len(words)
    inside = np.array([w in keep for w in words])
    rows, cols = np.triu_indices(n, k=1)
    mask: npt.NDArray[np.bool_] = inside[rows] & inside[cols]
    return mask


def fisher(r: float) -> float:
    return math.atanh(max(min(r, 0.999999), -0.999999))
