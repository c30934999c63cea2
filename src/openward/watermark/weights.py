"""Per-recipient weight marks: which grant did a leaked copy come from?

A gated model is granted to named recipients. Each recipient downloads a copy whose weights
carry a mark keyed by their grant; when a copy turns up where it should not, :func:`trace`
names the grant(s) whose mark it carries, each with a bound on the probability of a false
accusation.

Usage::

    from openward.watermark.weights import grant_key, marked_chunks, trace

    key = grant_key(registry_secret, "acme/model-7b", "grant-42")
    with open("out/model.safetensors", "wb") as out:          # as the download streams
        for chunk in marked_chunks(Path("model/model.safetensors"), key):
            out.write(chunk)

    trace(Path("model"), Path("leaked.Q4_0.gguf"), {"grant-42": key, "grant-43": key43})
    # [Match(grant='grant-42', z=61.3, p_value=0.0)]

The scheme (docs/watermark.md has the full account and the measurements):

- **Where.** Only the two-dimensional weights inside the transformer blocks (attention and
  MLP projections, chosen from the safetensors header by name and shape); embeddings,
  norms and biases are left alone.
- **What.** The elements of each marked tensor are cut into groups (:data:`GROUP`
  elements for float32/64, :data:`GROUP_16` for bfloat16/float16, whose least change is
  far larger); in every group one element, chosen by a keyed counter-based generator (the
  Philox-4x64 stream keyed by HMAC(grant key, tensor name)), moves by one step in a keyed
  direction: bfloat16 and float16 by :data:`ULP_STEP` units in the last place of its
  magnitude (a change below half a unit would vanish in rounding), float32/64 by a
  relative :data:`RELATIVE_STEP`. Group g's choice comes from word g/4 of the stream,
  and any word is computed from its counter without the words before it, so any byte
  range of the file is marked without the rest: :func:`marked_chunks` streams the file
  chunk by chunk, chunks may split elements, and the result is the same whatever the
  chunking.
- **Detection.** For each grant, the differences suspect - original at that grant's marked
  positions are correlated with its sign pattern. Under the null hypothesis (the suspect
  does not derive from this grant's copy) the signs are independent of the differences, so
  given the differences the statistic is a Rademacher sum and Hoeffding's inequality bounds
  P(Z >= z) by exp(-z^2 / 2) exactly, without a normal approximation. Four statistics are
  computed (weighted, for dense noise such as fine-tuning, and clipped, for sparse large
  changes such as pruning; each on the raw differences and on the differences less their
  dominant low-rank part, which a merged LoRA or fine-tuning drift adds), and a fifth,
  *exact*, on the elements whose difference is within two mark steps of zero: absmax
  quantizers (GGUF Q4_0/Q8_0, int8 per row, NF4) store each block's largest value exactly,
  so there the difference is the mark itself (or its share of an average) while every
  other element's is the rounding error, far larger. The p-value is the Bonferroni bound
  ``min(1, 5 exp(-z^2/2))`` of the largest.
- **Alignment.** A suspect whose hidden units were permuted consistently (or a GGUF file
  whose Q/K rows llama.cpp reordered) is aligned to the original first: the residual
  stream's permutation from the token-embedding columns, each matrix's own units by
  correlating rows (or columns) with the original's.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import itertools
import math
import os
import re
import shutil
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from openward.errors import OpenwardError

__all__ = [
    "GROUP",
    "GROUP_16",
    "RELATIVE_STEP",
    "ULP_STEP",
    "Match",
    "NotACopy",
    "WatermarkError",
    "distance",
    "grant_key",
    "is_markable",
    "mark_folder",
    "marked_chunks",
    "score",
    "trace",
]

GROUP: Final = 64
"""One element in every ``GROUP`` consecutive elements of a marked float32/float64 tensor is
marked."""
GROUP_16: Final = 512
"""One element in every ``GROUP_16`` consecutive elements of a marked bfloat16/float16 tensor
is marked. A 16-bit element cannot move by less than one unit in the last place (2^-8 to
2^-7 of the value for bfloat16, against float32's 2^-12), so the 16-bit dtypes are marked
more sparsely instead. Chosen by measurement on SmolLM2-135M in bfloat16 (BENCHMARKS.md,
"Per-recipient weight marks"): greedy generations identical on 50 of 50 prompts (one in 64
changed 4 of 50) while GGUF Q4_0, NF4, int8, 30 % pruning, permuted units and averages of
two or three copies then Q4_0 still name the grant(s). A power of two, at most 2^15: one
16-bit field of the keyed stream holds the element's offset in its group and the
direction bit above it."""
ULP_STEP: Final = 1
"""Units in the last place a marked bfloat16 or float16 element moves: one unit is the least
change these dtypes hold (2^-8 to 2^-7 of the value for bfloat16, 2^-11 to 2^-10 for
float16), so both are marked more strongly than float32/64."""
RELATIVE_STEP: Final = 2.0**-12
"""Relative change of a marked float32/float64 element. Chosen by measurement on
SmolLM2-135M (BENCHMARKS.md, "Per-recipient weight marks"): greedy generations identical on
60 of 60 prompts (2^-11 flipped 1, 2^-7 flipped 6 of 50) while GGUF Q4_0, NF4, int8, 30 %
pruning, permuted units and the average of two copies then Q4_0 still name the grant(s)."""
MIN_ELEMENTS: Final = 1024
"""Tensors with fewer elements are not marked."""
MARKED_DTYPES: Final = frozenset({"BF16", "F16", "F32", "F64"})
_ITEMSIZE: Final = {"BF16": 2, "F16": 2, "F32": 4, "F64": 8}
_LARGEST: Final = {"BF16": 0x7F7F, "F16": 0x7BFF}
"""Bits of the largest finite magnitude of the 16-bit dtypes (moved by whole ULPs)."""
_NUMPY: Final = {"BF16": "<u2", "F16": "<f2", "F32": "<f4", "F64": "<f8"}
_IN_BLOCK = re.compile(r"(?:^|\.)(?:layers|layer|h|blocks|block|blk)\.\d+\.")
_NOT_MARKED = re.compile(r"norm|embed|\bln_|lm_head|rotary|position", re.IGNORECASE)
_KEY_DOMAIN: Final = b"openward/weight-mark/v1\x00"
_RANK: Final = 16
"""Rank of the part of suspect - original removed before the second pair of statistics."""
_STATISTICS: Final = 5
"""Statistics the p-value's Bonferroni factor covers."""
_EXACT: Final = 2.0
"""The exact statistic keeps the elements whose difference is at most this many mark steps."""
_WORKERS: Final = 4
"""Most threads that mark the chunks ahead of the one being sent (see :func:`_workers`)."""
_COPY_CORRELATION: Final = 0.5
"""A suspect tensor less correlated than this with the original (after alignment) is not a
copy of it."""
_EMBED_SAMPLE: Final = 8192

Floats = npt.NDArray[np.float64]


class WatermarkError(OpenwardError):
    """A file or folder that cannot be marked or traced (one line, for the CLI)."""


class NotACopy(WatermarkError):
    """The suspect is not a copy of this model (another architecture, other shapes, or
    unrelated weights)."""


@dataclass(frozen=True)
class Match:
    """One grant's mark, as found in a suspect copy."""

    grant: str
    """The grant id (a key of the ``keys`` mapping)."""
    z: float
    """The detection statistic (about 0 when the mark is absent; large when present)."""
    p_value: float
    """Upper bound on the probability that a copy not derived from this grant scores ``z``
    or more (Hoeffding, Bonferroni over the five statistics): the false-accusation
    probability for this grant."""


# -- keys and patterns -------------------------------------------------------------------


def grant_key(secret: bytes, model: str, grant_id: str) -> bytes:
    """The mark key of one grant: HMAC-SHA256(secret, domain || model || grant_id).

    ``secret`` is the registry's (never sent to recipients); ``model`` is ``ORG/NAME``.
    """
    if not secret:
        raise WatermarkError("the watermark secret is empty")
    if not model or not grant_id:
        raise WatermarkError("a grant key needs a model name and a grant id")
    message = _KEY_DOMAIN + model.encode() + b"\x00" + grant_id.encode()
    return hmac.new(secret, message, hashlib.sha256).digest()


def _tensor_key(key: bytes, name: str) -> int:
    digest = hmac.new(key, b"tensor\x00" + name.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:16], "little")


_generators = threading.local()


def _philox(tkey: int, counter: int) -> np.random.Philox:
    """``Philox(key=tkey, counter=[counter, 0, 0, 0])``: this thread's generator, set to
    that state (a fresh one costs ten times as much, and a marked chunk needs one for each
    tensor in it)."""
    gen = getattr(_generators, "philox", None)
    if gen is None:
        gen = _generators.philox = np.random.Philox(key=0)
    gen.state = {
        "bit_generator": "Philox",
        "state": {
            "counter": np.array([counter, 0, 0, 0], dtype=np.uint64),
            "key": np.array([tkey & 0xFFFF_FFFF_FFFF_FFFF, tkey >> 64], dtype=np.uint64),
        },
        "buffer": np.zeros(4, dtype=np.uint64),
        "buffer_pos": 4,  # empty: the next word comes from counter + 1, as in a fresh one
        "has_uint32": 0,
        "uinteger": 0,
    }
    return gen


def _group(dtype: str) -> int:
    """Elements per group (one of them marked) of a tensor of this safetensors dtype:
    :data:`GROUP_16` for bfloat16/float16, :data:`GROUP` for float32/float64 (read at each
    call, so a benchmark's or a test's override applies)."""
    group = GROUP_16 if dtype in _LARGEST else GROUP
    if group < 2 or group > 1 << 15 or group & (group - 1):
        raise WatermarkError(f"the mark group must be a power of two in [2, 2^15], not {group}")
    return group


def _span_pattern(tkey: int, start: int, end: int, group: int) -> tuple[npt.NDArray[np.int64], Any]:
    """Marked element indices (ascending) in ``[start, end)`` of one tensor and their
    directions (+1 grow the magnitude, -1 shrink it).

    Group g (elements ``[group*g, group*g + group)``; ``group`` a power of two, at most
    2^15) takes 16-bit field ``g % 4`` (little end first) of word ``g // 4`` of the
    Philox-4x64 stream keyed by ``tkey``: its low log2(group) bits pick the element (6 for
    float32's 64), the bit above them the direction. Word w comes from counter ``w // 4``,
    so any span is generated without the words before it.
    """
    if end <= start:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int8)
    g0, g1 = start // group, -(-end // group)
    w0, w1 = g0 // 4, -(-g1 // 4)
    c0 = w0 // 4
    words = _philox(tkey, c0).random_raw(w1 - 4 * c0)
    fields = np.asarray(words, dtype="<u8").view("<u2")[4 * (w0 - 4 * c0) :]
    fields = fields[g0 - 4 * w0 : g1 - 4 * w0]
    positions = (fields & (group - 1)).astype(np.int64)
    positions += np.arange(g0 * group, g1 * group, group, dtype=np.int64)
    # the bit above the offset: +1 where set, -1 where clear (no np.where: slow on scalars)
    signs = ((fields & group) != 0).view(np.int8) * np.int8(2) - np.int8(1)
    lo = 1 if positions[0] < start else 0
    hi = len(positions) - (1 if positions[-1] >= end else 0)
    return positions[lo:hi], signs[lo:hi]


# -- the safetensors layout ---------------------------------------------------------------


@dataclass(frozen=True)
class _Marked:
    """One tensor the scheme marks."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int
    """Absolute offset of its first byte in the file."""
    end: int

    @property
    def itemsize(self) -> int:
        return _ITEMSIZE[self.dtype]

    @property
    def numel(self) -> int:
        return (self.end - self.start) // self.itemsize


@dataclass(frozen=True)
class _Layout:
    size: int
    marked: tuple[_Marked, ...] = field(default=())


def _markable(name: str, dtype: str, shape: tuple[int, ...]) -> bool:
    return (
        dtype in MARKED_DTYPES
        and len(shape) == 2
        and min(shape) >= 2
        and shape[0] * shape[1] >= MIN_ELEMENTS
        and _IN_BLOCK.search(name) is not None
        and _NOT_MARKED.search(name) is None
    )


def _layout(path: Path) -> _Layout:
    """The marked tensors of one safetensors file, from its header only.

    Raises:
        WatermarkError: not a regular file, not safetensors, or a header a loader refuses
            (a truncated file included).
    """
    from openward.artifacts.blob import MappedFile
    from openward.artifacts.errors import ArtifactFormatError, ArtifactLimitError
    from openward.artifacts.safetensors import read_safetensors_header

    if not path.is_file():
        raise WatermarkError(f"{path}: not a file")
    try:
        with MappedFile(path) as mapped:
            size = mapped.blob.size
            header = read_safetensors_header(mapped.blob)
    except (ArtifactFormatError, ArtifactLimitError) as exc:
        raise WatermarkError(f"{path}: not a readable safetensors file ({exc})") from None
    except (OSError, ValueError) as exc:
        raise WatermarkError(f"{path}: cannot read ({_first_line(exc)})") from None
    if header.problems:
        raise WatermarkError(f"{path}: not a loadable safetensors file ({header.problems[0]})")
    marked = tuple(
        _Marked(t.name, t.dtype, t.shape, header.data_start + t.start, header.data_start + t.end)
        for t in sorted(header.tensors, key=lambda t: t.start)
        if _markable(t.name, t.dtype, t.shape)
    )
    return _Layout(size, marked)


def is_markable(path: Path) -> bool:
    """Whether ``path`` is a safetensors file with at least one tensor the scheme marks."""
    try:
        return bool(_layout(Path(path)).marked)
    except WatermarkError:
        return False


# -- marking -------------------------------------------------------------------------------


def _apply(raw: npt.NDArray[Any], dtype: str, local: npt.NDArray[np.int64], signs: Any) -> None:
    """Move ``raw[local]`` (a writable array in the file's dtype) in the keyed directions.

    Elements the step does not apply to (see :func:`_units`) keep their exact bits. One
    gather and one scatter of the marked elements, no boolean compaction: this runs on
    every chunk of every marked download."""
    if local.size == 0:
        return
    if dtype in _LARGEST:  # 16 bits: integer arithmetic on the sign-magnitude bits
        words = raw.view("<u2")
        bits = words[local]
        magnitude = bits & np.uint16(0x7FFF)
        ok = (magnitude > ULP_STEP) & (magnitude < _LARGEST[dtype] - ULP_STEP)
        moved = bits.astype(np.int32)
        moved += signs.astype(np.int32) * ULP_STEP
        words[local] = np.where(ok, moved.astype(np.uint16), bits)
        return
    values = raw[local]
    ok = _eligible_float(values, dtype)
    factors = _factors(values.dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        moved = values * factors[(signs > 0).view(np.uint8)]
    # selected as integers: a value left alone keeps its bits (a NaN's payload included)
    unsigned = np.dtype(f"<u{values.itemsize}")
    raw.view(unsigned)[local] = np.where(ok, moved.view(unsigned), values.view(unsigned))


def _factors(dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """[shrink, grow]: the factors a marked float element is multiplied by, in its dtype."""
    return np.array([1.0 - RELATIVE_STEP, 1.0 + RELATIVE_STEP]).astype(dtype)


def _eligible_float(values: Any, dtype: str) -> npt.NDArray[np.bool_]:
    """Finite, non-zero, and far from overflow (``isfinite`` is implied by the bound)."""
    limit = float(np.finfo(np.dtype(_NUMPY[dtype])).max) / 2
    magnitude = np.abs(values)
    ok: npt.NDArray[np.bool_] = (magnitude > 0) & (magnitude < limit)
    return ok


def _workers() -> int:
    """Threads that mark ahead of the chunk being sent: a core for the sender, the rest
    (at most :data:`_WORKERS`) for marking; none below two (marked inline: on a loaded
    two-core machine threads cost more than they overlap, BENCHMARKS.md)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return min(_WORKERS, cores - 1)


def _mark_span(
    buf: npt.NDArray[np.uint8], buf_offset: int, t: _Marked, tkey: int, first: int, end: int
) -> None:
    """Mark elements ``[first, end)`` of ``t`` whose bytes lie in ``buf`` (a writable byte
    array that starts at file offset ``buf_offset`` and holds those elements whole)."""
    positions, signs = _span_pattern(tkey, first, end, _group(t.dtype))
    if positions.size == 0:
        return
    offset = t.start + first * t.itemsize - buf_offset
    raw = buf[offset : offset + (end - first) * t.itemsize].view(_NUMPY[t.dtype])
    positions -= first
    _apply(raw, t.dtype, positions, signs)


def marked_chunks(
    path: Path,
    key: bytes,
    *,
    chunk_size: int = 8 << 20,
    start: int = 0,
    end: int | None = None,
) -> Iterator[memoryview]:
    """The bytes of the safetensors file ``path`` with ``key``'s mark applied, chunk by chunk.

    Bytes ``[start, end)`` of the marked file (default: all of it): the same bytes a whole
    stream holds there, so a resumed or ranged download marks from ``start`` on without
    reading or marking what comes before (the pattern of any element is computed from its
    index alone). Every chunk is ``chunk_size`` bytes but the last; header bytes are
    unchanged. Each chunk is a read-only ``memoryview`` over a buffer of its own (never
    reused: chunks may be kept, joined or hashed; ``bytes(chunk)`` copies it). Nothing is
    held beyond the chunks being marked ahead and the one handed out, nothing is written;
    the same key always gives the same bytes. A valid safetensors file with nothing to mark
    streams unchanged.

    Raises:
        WatermarkError: not safetensors, a header a loader refuses (a truncated file), a
            file that changes while it streams, an empty key, or a range outside the file.
    """
    path = Path(path)
    if not key:
        raise WatermarkError("the mark key is empty")
    if chunk_size < 1:
        raise WatermarkError(f"chunk_size must be positive, not {chunk_size}")
    layout = _layout(path)
    stop = layout.size if end is None else end
    if not 0 <= start <= stop <= layout.size:
        raise WatermarkError(
            f"{path}: bytes [{start}, {stop}) are not a range of the file ({layout.size} bytes)"
        )
    tkeys = {t.name: _tensor_key(key, t.name) for t in layout.marked}
    ends = [t.end for t in layout.marked]
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise WatermarkError(f"{path}: cannot read ({exc.strerror or exc})") from None

    def produce(offset: int) -> memoryview:
        n = min(chunk_size, stop - offset)
        # a fresh buffer per chunk, handed out as it is (no copy); numpy's allocation of a
        # large array is uninitialised and backed by huge pages where the kernel allows
        buf = np.empty(n, dtype=np.uint8)
        if os.preadv(fd, [buf.data], offset) != n:
            raise WatermarkError(f"{path}: the file changed while it was read")
        for t in layout.marked[bisect.bisect_right(ends, offset) :]:
            if t.start >= offset + n:
                break
            _mark_chunk(fd, path, buf, offset, t, tkeys[t.name])
        return buf.data.toreadonly()

    offsets = iter(range(start, stop, chunk_size))
    workers = _workers()
    try:
        if workers < 2 or stop - start <= chunk_size:
            for offset in offsets:
                yield produce(offset)
            return
        # marking is numpy work that releases the GIL: the next chunks are marked while the
        # current one is sent (at most workers + 1 chunks in memory)
        with ThreadPoolExecutor(workers, thread_name_prefix="openward-mark") as pool:
            pending: deque[Future[memoryview]] = deque(
                pool.submit(produce, off) for off in itertools.islice(offsets, workers + 1)
            )
            try:
                while pending:
                    chunk = pending.popleft().result()
                    following = next(offsets, None)
                    if following is not None:
                        pending.append(pool.submit(produce, following))
                    yield chunk
            finally:
                for future in pending:
                    future.cancel()
    finally:
        os.close(fd)


def _mark_chunk(
    fd: int, path: Path, buf: npt.NDArray[np.uint8], offset: int, t: _Marked, tkey: int
) -> None:
    """Mark the part of ``t`` that lies in ``buf`` (file bytes from ``offset`` on)."""
    lo, hi = max(offset, t.start), min(offset + len(buf), t.end)
    first = -(-(lo - t.start) // t.itemsize)  # the elements whole in the chunk
    end = (hi - t.start) // t.itemsize
    if first < end:
        _mark_span(buf, offset, t, tkey, first, end)
    _mark_split(fd, path, buf, offset, t, tkey)


def _mark_split(
    fd: int, path: Path, buf: npt.NDArray[np.uint8], offset: int, t: _Marked, tkey: int
) -> None:
    """Mark the elements of ``t`` that an edge of ``buf`` (file bytes from ``offset`` on)
    splits: each read whole from the file and marked, the chunk keeping its part."""
    lo, hi = max(offset, t.start), min(offset + len(buf), t.end)
    size = t.itemsize
    split = {(x - t.start) // size for x in (lo, hi) if (x - t.start) % size}
    for e in sorted(split):
        a = t.start + e * size
        whole = np.empty(size, dtype=np.uint8)
        if os.preadv(fd, [whole.data], a) != size:
            raise WatermarkError(f"{path}: the file changed while it was read")
        _mark_span(whole, a, t, tkey, e, e + 1)
        x, y = max(a, lo), min(a + size, hi)
        buf[x - offset : y - offset] = whole[x - a : y - a]


def mark_folder(src: Path, dst: Path, key: bytes) -> None:
    """Write a marked copy of the model folder ``src`` to ``dst`` (new or empty).

    Markable safetensors files are written through :func:`marked_chunks`; every other file
    is copied as it is. Symbolic links that resolve outside ``src`` are skipped.

    Raises:
        WatermarkError: ``src`` is not a folder, ``dst`` exists and is not an empty folder,
            or a safetensors file is malformed.
    """
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise WatermarkError(f"{src}: not a folder")
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise WatermarkError(f"{dst}: exists and is not an empty folder")
    root = src.resolve()
    for file in sorted(src.rglob("*")):
        if file.is_dir():
            continue
        real = file.resolve()
        if not real.is_file() or not real.is_relative_to(root):
            continue
        out = dst / file.relative_to(src)
        out.parent.mkdir(parents=True, exist_ok=True)
        if file.suffix == ".safetensors" and is_markable(real):
            with out.open("wb") as sink:
                for chunk in marked_chunks(real, key):
                    sink.write(chunk)
        elif file.suffix == ".safetensors":
            _layout(real)  # a malformed safetensors file is an error, not a silent copy
            shutil.copyfile(real, out)
        else:
            shutil.copyfile(real, out)


# -- reading the original and the suspect ---------------------------------------------------


def _safetensors_files(path: Path) -> list[Path]:
    """The safetensors files of a model folder (the index's shards when there is one) or
    the file itself; [] when there are none."""
    import json

    if path.is_file():
        return [path] if path.suffix == ".safetensors" else []
    if not path.is_dir():
        raise WatermarkError(f"{path}: no such file or folder")
    index = path / "model.safetensors.index.json"
    if index.is_file():
        try:
            names = sorted(
                set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise WatermarkError(f"{index}: not a readable safetensors index") from None
        files = [path / str(n) for n in names]
        missing = [f for f in files if Path(str(f.name)) != Path(f.name) or not f.is_file()]
        if missing:
            raise WatermarkError(f"{index}: names a missing shard {missing[0].name!r}")
        return files
    top = sorted(p for p in path.iterdir() if p.suffix == ".safetensors" and p.is_file())
    if top:
        return top
    # weights only in a subfolder (``weights/model.safetensors``): marked on download as
    # at any other path, so traced too
    return sorted(p for p in path.rglob("*.safetensors") if p.is_file())


@dataclass(frozen=True)
class _Source:
    """The marked tensors of the original, by name."""

    tensors: dict[str, tuple[Path, _Marked]]


def _original(path: Path) -> _Source:
    files = _safetensors_files(Path(path))
    if not files:
        raise WatermarkError(f"{path}: the original must be safetensors (a folder or a file)")
    tensors: dict[str, tuple[Path, _Marked]] = {}
    for file in files:
        for t in _layout(file).marked:
            tensors.setdefault(t.name, (file, t))
    if not tensors:
        raise WatermarkError(f"{path}: no tensor the weight mark uses (nothing to trace)")
    return _Source(tensors)


def _read_marked(file: Path, t: _Marked) -> npt.NDArray[np.float32] | Floats:
    """A marked tensor's values, flat (float32 for 16- and 32-bit dtypes, float64 for F64)."""
    length = t.end - t.start
    try:
        with file.open("rb") as f:
            f.seek(t.start)
            raw = f.read(length)
    except OSError as exc:
        raise WatermarkError(f"{file}: cannot read ({exc.strerror or exc})") from None
    if len(raw) != length:
        raise WatermarkError(f"{file}: {t.name} is truncated")
    values: npt.NDArray[np.float32] | Floats = _to_float(
        np.frombuffer(raw, dtype=_NUMPY[t.dtype]), t.dtype
    )
    return values


def _to_float(raw: npt.NDArray[Any], dtype: str) -> Any:
    if dtype == "BF16":
        return (raw.astype(np.uint32) << np.uint32(16)).view(np.float32)
    if dtype == "F64":
        return raw.astype(np.float64)
    return raw.astype(np.float32)


def _suspect_tensors(path: Path, names: Mapping[str, tuple[int, ...]]) -> dict[str, Any] | None:
    """Where each marked tensor is in a safetensors suspect with the same names and shapes
    (file, offset, dtype), or None when the suspect is not laid out like the original."""
    try:
        files = _safetensors_files(path)
    except WatermarkError:
        return None
    found: dict[str, Any] = {}
    for file in files:
        header = _header(file)
        if header is None:
            return None
        for t in header.tensors:
            if t.name in names and t.name not in found:
                if tuple(t.shape) != names[t.name] or t.dtype not in MARKED_DTYPES:
                    return None
                start = header.data_start + t.start
                found[t.name] = (
                    file,
                    _Marked(t.name, t.dtype, tuple(t.shape), start, header.data_start + t.end),
                )
    return found if set(found) == set(names) else None


def _header(file: Path) -> Any:
    from openward.artifacts.blob import MappedFile
    from openward.artifacts.errors import ArtifactFormatError, ArtifactLimitError
    from openward.artifacts.safetensors import read_safetensors_header

    try:
        with MappedFile(file) as mapped:
            header = read_safetensors_header(mapped.blob)
    except (ArtifactFormatError, ArtifactLimitError, OSError, ValueError):
        return None
    return None if header.problems else header


def _correlation(a: Any, b: Any) -> float:
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.size == 0 or a.size != b.size:
        return 0.0
    a = a - a.mean()
    b = b - b.mean()
    # einsum, not BLAS: a multithreaded dot product stalls on a loaded machine
    denom = math.sqrt(_dot(a, a) * _dot(b, b))
    return _dot(a, b) / denom if denom > 0 else 0.0


def _dot(a: Any, b: Any) -> float:
    return float(np.einsum("i,i->", a, b))


def _match(a: Any, b: Any) -> npt.NDArray[np.int64]:
    """``perm`` with ``b[perm]`` closest to ``a``, row by row (a one-to-one assignment)."""

    def unit(x: Any) -> Any:
        x = np.asarray(x, dtype=np.float32)
        x = x - x.mean(axis=1, keepdims=True)
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return x / np.maximum(norms, 1e-30)

    sim = unit(a) @ unit(b).T
    perm = np.argmax(sim, axis=1)
    if len(np.unique(perm)) == len(perm):
        out: npt.NDArray[np.int64] = perm.astype(np.int64)
        return out
    # greedy one-to-one assignment, best pairs first
    n = sim.shape[0]
    order = np.argsort(-sim, axis=None)
    out = np.full(n, -1, dtype=np.int64)
    used = np.zeros(sim.shape[1], dtype=bool)
    left = n
    for flat in order:
        i, j = divmod(int(flat), sim.shape[1])
        if out[i] < 0 and not used[j]:
            out[i], used[j] = j, True
            left -= 1
            if left == 0:
                break
    return out


_READS_HIDDEN: Final = frozenset({"q", "k", "v", "gate", "up"})
_WRITES_HIDDEN: Final = frozenset({"o", "down"})


def _pairs(original: Path, suspect: Path, source: _Source) -> Iterator[tuple[_Marked, Any, Any]]:
    """(tensor, original values, suspect values in the original's layout), one tensor at a
    time.

    Raises:
        NotACopy: another architecture, other shapes, or unrelated weights.
    """
    names = {name: t.shape for name, (_, t) in source.tensors.items()}
    direct = _suspect_tensors(suspect, names)
    if direct is None:
        yield from _aligned_pairs(original, suspect, source)
        return
    for name, (file, t) in source.tensors.items():
        o = _read_marked(file, t)
        s = _read_marked(*direct[name]).reshape(-1)
        if _correlation(o, s) < _COPY_CORRELATION:
            raise _Misaligned(name)
        yield t, o, s


class _Misaligned(Exception):
    """A same-named suspect tensor that does not match the original in place (permuted
    units, or not a copy): trace again through the aligning reader."""


def _aligned_pairs(
    original: Path, suspect: Path, source: _Source
) -> Iterator[tuple[_Marked, Any, Any]]:
    """Pairs through openward.lineage's role reader (any format it reads), aligned to the
    original when the suspect's units are permuted."""
    from openward.lineage.weights import LineageError, UnreadableTensor, open_weights

    try:
        ws_o = open_weights(original)
    except LineageError as exc:
        raise WatermarkError(str(exc)) from None
    try:
        ws_s = open_weights(suspect)
    except LineageError as exc:
        raise NotACopy(f"{suspect}: not a copy of this model ({exc})") from None
    by_name: dict[str, tuple[int, str]] = {}
    for layer, roles in ws_o.layers.items():
        for role, ref in roles.items():
            if ref.part_of is None and not ref.transposed and ref.packed is None:
                by_name[ref.name] = (layer, role)
    usable = [n for n in source.tensors if n in by_name]
    if not usable:
        raise WatermarkError(
            f"{original}: its marked tensors are not attention/MLP projections openward can "
            "match in another format; trace a safetensors copy with the same tensor names"
        )
    if ws_s.n_layers != ws_o.n_layers or ws_s.hidden != ws_o.hidden:
        raise NotACopy(
            f"{suspect}: not a copy of this model ({ws_s.n_layers} layers of width "
            f"{ws_s.hidden}, the original has {ws_o.n_layers} of width {ws_o.hidden})"
        )
    hidden_perm: npt.NDArray[np.int64] | None = None
    hidden_checked = False
    for name in usable:
        layer, role = by_name[name]
        ref_o = ws_o.layers[layer][role]
        ref_s = ws_s.layers.get(layer, {}).get(role)
        if ref_s is None or (ref_s.rows, ref_s.cols) != (ref_o.rows, ref_o.cols):
            shape = "missing" if ref_s is None else f"{ref_s.rows}x{ref_s.cols}"
            raise NotACopy(
                f"{suspect}: not a copy of this model (layer {layer} {role} is {shape}, "
                f"the original's is {ref_o.rows}x{ref_o.cols})"
            )
        _, t = source.tensors[name]
        o = _read_marked(*source.tensors[name]).reshape(ref_o.rows, ref_o.cols)
        try:
            s = ws_s.read_all(ref_s)
        except UnreadableTensor:
            continue
        except LineageError as exc:
            raise WatermarkError(str(exc)) from None
        if _correlation(o, s) < _COPY_CORRELATION:
            if not hidden_checked:
                hidden_perm = _hidden_permutation(ws_o, ws_s)
                hidden_checked = True
            s = _align(o, s, role, hidden_perm)
            if _correlation(o, s) < _COPY_CORRELATION:
                raise NotACopy(
                    f"{suspect}: not a copy of this model (layer {layer} {role} does not "
                    "match the original's weights, even after aligning units)"
                )
        yield t, o.reshape(-1), np.asarray(s, dtype=o.dtype).reshape(-1)


def _hidden_permutation(ws_o: Any, ws_s: Any) -> npt.NDArray[np.int64] | None:
    """The suspect's permutation of the residual stream, from the token-embedding columns
    (None: not permuted)."""
    if ws_o.embed.rows != ws_s.embed.rows:
        return None
    step = max(1, ws_o.embed.rows // _EMBED_SAMPLE)
    rows = list(range(0, ws_o.embed.rows, step))
    e_o = ws_o.read_rows(ws_o.embed, rows)
    e_s = ws_s.read_rows(ws_s.embed, rows)
    if _correlation(e_o, e_s) >= _COPY_CORRELATION:
        return None
    return _match(e_o.T, e_s.T)


def _align(o: Any, s: Any, role: str, hidden_perm: npt.NDArray[np.int64] | None) -> Any:
    """``s`` with its units put in ``o``'s order (role layout: rows are output units)."""
    s = np.asarray(s, dtype=np.float32)
    if role in _READS_HIDDEN:
        if hidden_perm is not None:
            s = s[:, hidden_perm]
        return s if _correlation(o, s) >= _COPY_CORRELATION else s[_match(o, s)]
    if role in _WRITES_HIDDEN:
        if hidden_perm is not None:
            s = s[hidden_perm, :]
        return s if _correlation(o, s) >= _COPY_CORRELATION else s[:, _match(o.T, s.T)]
    return s


# -- detection ------------------------------------------------------------------------------


@dataclass
class _Sums:
    """Running sums of the five statistics: weighted and clipped, each on the raw
    differences and on the differences with their dominant low-rank part removed, and
    exact (the clipped coefficient of the raw differences within :data:`_EXACT` mark
    steps of zero, 0 elsewhere)."""

    sums: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(_STATISTICS))
    squares: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(_STATISTICS))
    count: int = 0

    def add(self, pattern: Floats, unit: Floats, diffs: tuple[Floats, Floats]) -> None:
        for i, diff in enumerate(diffs):
            c1 = unit * diff
            c2 = np.clip(diff / unit, -1.0, 1.0)
            self.sums[2 * i] += _dot(pattern, c1)
            self.squares[2 * i] += _dot(c1, c1)
            self.sums[2 * i + 1] += _dot(pattern, c2)
            self.squares[2 * i + 1] += _dot(c2, c2)
            if i == 0:  # exact: a function of the raw differences alone, like the others
                c3 = np.where(np.abs(diff) <= _EXACT * unit, c2, 0.0)
                self.sums[4] += _dot(pattern, c3)
                self.squares[4] += _dot(c3, c3)
        self.count += int(pattern.size)

    def match(self, grant: str) -> Match:
        zs = [
            s / math.sqrt(q) if q > 0 else 0.0 for s, q in zip(self.sums, self.squares, strict=True)
        ]
        z = max(zs)
        p = min(1.0, _STATISTICS * math.exp(-z * z / 2.0)) if z > 0 else 1.0
        return Match(grant, float(z), p)


def _without_low_rank(diff: Any, shape: tuple[int, ...]) -> Floats:
    """``diff`` (suspect - original, flat) less its dominant rank-k part (a randomized range
    finder with a fixed seed): a merged LoRA is low-rank and fine-tuning drift mostly is,
    while the mark is sparse and random and keeps all but about k/min(shape) of its energy.
    The result depends on the difference only, never on a key, so the null bound holds."""
    d = np.asarray(diff, dtype=np.float64).reshape(shape[0], -1)
    k = min(_RANK, min(d.shape) // 8)
    if k < 1:
        return d.reshape(-1)
    probe = np.random.default_rng(0).standard_normal((d.shape[1], k + 8))
    basis, _ = np.linalg.qr(d @ probe)
    basis = basis[:, :k] if basis.shape[1] > k else basis
    basis, _ = np.linalg.qr(d @ (d.T @ basis))  # one power iteration
    return (d - basis @ (basis.T @ d)).reshape(-1)


def _units(values: Any, dtype: str) -> tuple[npt.NDArray[np.bool_], Floats]:
    """Which original values the mark moves, and by how much (one step) for each."""
    if dtype == "BF16":
        bits = np.asarray(values, dtype=np.float32).view(np.uint32)
        magnitude = (bits >> np.uint32(16)) & np.uint32(0x7FFF)
        ok = (magnitude > ULP_STEP) & (magnitude < _LARGEST[dtype] - ULP_STEP)
        exponent = ((bits >> np.uint32(23)) & np.uint32(0xFF)).astype(np.int64)
        return ok, ULP_STEP * np.ldexp(1.0, np.maximum(exponent, 1) - 134)
    if dtype == "F16":
        half = np.asarray(values, dtype=np.float32).astype(np.float16).view(np.uint16)
        magnitude = half & np.uint16(0x7FFF)
        ok = (magnitude > ULP_STEP) & (magnitude < _LARGEST[dtype] - ULP_STEP)
        exponent = (magnitude >> np.uint16(10)).astype(np.int64)
        return ok, ULP_STEP * np.ldexp(1.0, np.maximum(exponent, 1) - 25)
    v = np.asarray(values, dtype=np.float64)
    return _eligible_float(v, dtype), np.abs(v) * RELATIVE_STEP


def _accumulate(
    sums: dict[str, _Sums], tkeys: Mapping[str, int], t: _Marked, o: Any, s: Any
) -> None:
    o_flat = np.asarray(o, dtype=np.float64).reshape(-1)
    raw = np.asarray(s, dtype=np.float64).reshape(-1) - o_flat
    raw[~np.isfinite(raw)] = 0.0
    reduced = _without_low_rank(raw, t.shape)
    group = _group(t.dtype)
    for grant, tkey in tkeys.items():
        positions, signs = _span_pattern(tkey, 0, t.numel, group)
        ov = np.asarray(o).reshape(-1)[positions]
        ok, unit = _units(ov, t.dtype)
        positions = positions[ok]
        pattern = signs[ok].astype(np.float64) * np.sign(o_flat[positions])
        sums[grant].add(pattern, unit[ok], (raw[positions], reduced[positions]))


def _check_keys(keys: Mapping[str, bytes]) -> None:
    for grant, key in keys.items():
        if not isinstance(key, bytes | bytearray) or not key:
            raise WatermarkError(f"grant {grant!r}: the mark key must be non-empty bytes")


def _score_pairs(
    pairs: Iterator[tuple[_Marked, Any, Any]], keys: Mapping[str, bytes], suspect: Path
) -> dict[str, _Sums]:
    sums = {grant: _Sums() for grant in keys}
    seen = 0
    for t, o, s in pairs:
        tkeys = {grant: _tensor_key(key, t.name) for grant, key in keys.items()}
        _accumulate(sums, tkeys, t, o, s)
        seen += 1
    if seen == 0:
        raise WatermarkError(f"{suspect}: none of the marked tensors could be read")
    return sums


def score(original: Path, suspect: Path, keys: Mapping[str, bytes]) -> list[Match]:
    """Every grant's detection statistic on ``suspect``, most significant first.

    ``original`` is the unmarked published model (a safetensors folder or file);
    ``suspect`` a folder or file in any format openward.lineage reads (safetensors, GGUF,
    PyTorch zip), possibly quantized, pruned, fine-tuned or with permuted units.

    Raises:
        NotACopy: the suspect is another architecture or unrelated weights.
        WatermarkError: unreadable inputs.
    """
    original, suspect = Path(original), Path(suspect)
    _check_keys(keys)
    if not suspect.exists():
        raise WatermarkError(f"{suspect}: no such file or folder")
    source = _original(original)
    try:
        sums = _score_pairs(_pairs(original, suspect, source), keys, suspect)
    except _Misaligned:
        sums = _score_pairs(_aligned_pairs(original, suspect, source), keys, suspect)
    matches = [sums[grant].match(grant) for grant in keys]
    return sorted(matches, key=lambda m: (-m.z, m.grant))


def distance(original: Path, suspect: Path) -> float:
    """How far ``suspect``'s marked tensors are from ``original``'s (after alignment):
    sum (suspect - original)^2 / sum original^2 over them; 0 for the original itself.

    Which of several versions a copy was cut from is the one it is nearest: later
    versions fine-tuned from an earlier one all look like copies of each other, and a
    copy traced against the wrong one loses its mark in their difference. No key enters,
    so choosing the original by it leaves :func:`trace`'s p-values as they are.

    Raises:
        NotACopy: the suspect is another architecture or unrelated weights.
        WatermarkError: unreadable inputs.
    """
    original, suspect = Path(original), Path(suspect)
    if not suspect.exists():
        raise WatermarkError(f"{suspect}: no such file or folder")
    source = _original(original)

    def run(pairs: Iterator[tuple[_Marked, Any, Any]]) -> float:
        num = den = 0.0
        seen = 0
        for _, o, s in pairs:
            o64 = np.asarray(o, dtype=np.float64)
            d = np.nan_to_num(np.asarray(s, dtype=np.float64) - o64, posinf=0.0, neginf=0.0)
            num += _dot(d, d)
            den += _dot(o64, o64)
            seen += 1
        if seen == 0:
            raise WatermarkError(f"{suspect}: none of the marked tensors could be read")
        return num / den if den > 0 else num

    try:
        return run(_pairs(original, suspect, source))
    except _Misaligned:
        return run(_aligned_pairs(original, suspect, source))


def trace(
    original: Path, suspect: Path, keys: Mapping[str, bytes], *, threshold: float = 1e-6
) -> list[Match]:
    """The grants whose mark ``suspect`` carries (``p_value <= threshold``), most
    significant first; [] when none.

    Each p-value bounds the probability of naming that grant when the copy does not derive
    from it. With N grants tested the chance of any false accusation is at most
    N x ``threshold``.

    Raises:
        NotACopy: the suspect is another architecture or unrelated weights.
        WatermarkError: unreadable inputs, or a threshold outside (0, 1).
    """
    if not 0 < threshold < 1:
        raise WatermarkError(f"threshold must be in (0, 1), not {threshold}")
    return [m for m in score(original, suspect, keys) if m.p_value <= threshold]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
