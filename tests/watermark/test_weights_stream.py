"""Streaming marks: the bytes of ``marked_chunks`` against a straightforward reference
implementation of the scheme (one group at a time, whole tensors, no chunks), over random
files, chunk sizes, byte ranges and both the inline and the threaded paths."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openward.watermark import weights
from openward.watermark.weights import (
    GROUP,
    GROUP_16,
    RELATIVE_STEP,
    ULP_STEP,
    WatermarkError,
    grant_key,
    marked_chunks,
)
from tests.watermark._weights_models import MODEL, SECRET, group_16_for_tests

KEY = grant_key(SECRET, MODEL, "alice")


@pytest.fixture(scope="module", autouse=True)
def _test_group_16() -> Iterator[None]:
    """16-bit tensors marked one element in TEST_GROUP_16 (these files' matrices hold a few
    thousand elements: at the shipped GROUP_16 each would hold a handful of marks, and chunk
    edges would rarely split a marked 16-bit element); test_the_shipped_16_bit_group_*
    below checks the shipped group."""
    with group_16_for_tests():
        yield


_NUMPY = {"BF16": "<u2", "F16": "<f2", "F32": "<f4", "F64": "<f8"}


def _values(rng: np.random.Generator, dtype: str, n: int) -> bytes:
    """Weights-like values with the awkward ones a mark must leave alone or move carefully:
    zeros of both signs, infinities, NaNs, subnormals, values near the largest finite."""
    v = rng.standard_normal(n) * 0.02
    special = rng.choice(n, size=n // 3, replace=False)  # a third: marks land on them
    kinds = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-300, -1e-42, 6e-8, 1e300, -3e38, 65000.0]
    v[special] = rng.choice(kinds, size=len(special))
    if dtype == "BF16":
        with np.errstate(over="ignore"):
            bits = (v.astype(np.float32).view(np.uint32) >> 16).astype("<u2")
        # magnitudes at the edges of the bfloat16 rule: tiny, and next to the largest finite
        edge = rng.choice(n, size=n // 3, replace=False)
        top = 0x7F7F - ULP_STEP
        bits[edge] = rng.choice([0, 1, ULP_STEP, ULP_STEP + 1, top, top - 1, 0x7F80, 0x7FC1],
                                size=len(edge))  # fmt: skip
        bits[edge[::2]] |= 0x8000
        return bits.tobytes()
    with np.errstate(over="ignore"):
        return v.astype(_NUMPY[dtype]).tobytes()


def _random_file(path: Path, seed: int, pad: int) -> Path:
    """A safetensors file of marked tensors of every dtype (odd shapes, not multiples of
    GROUP) among unmarked ones; ``pad`` spaces after the header put the tensors at
    offsets that are not multiples of their element size."""
    rng = np.random.default_rng(seed)
    parts: list[tuple[str, str, tuple[int, ...]]] = [("model.embed_tokens.weight", "F32", (40, 30))]
    for layer in range(3):
        for proj in ("q_proj", "up_proj", "down_proj"):
            dtype = str(rng.choice(["BF16", "F16", "F32", "F64"]))
            rows, cols = int(rng.integers(32, 80)), int(rng.integers(33, 70))
            parts.append((f"model.layers.{layer}.mlp.{proj}.weight", dtype, (rows, cols)))
        parts.append((f"model.layers.{layer}.input_layernorm.weight", "F32", (40,)))
        parts.append((f"model.layers.{layer}.mlp.gate_proj.weight", "F32", (16, 16)))  # small
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    body = b""
    for name, dtype, shape in parts:
        raw = _values(rng, dtype, int(np.prod(shape)))
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [len(body), len(body) + len(raw)]}  # fmt: skip
        body += raw
    text = json.dumps(header).encode() + b" " * pad
    path.write_bytes(struct.pack("<Q", len(text)) + text + body)
    return path


def _reference(path: Path, key: bytes) -> bytes:
    """The scheme as docs/watermark.md states it, element by element."""
    data = bytearray(path.read_bytes())
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    for name, info in header.items():
        if name == "__metadata__":
            continue
        shape, dtype = info["shape"], info["dtype"]
        numel = int(np.prod(shape))
        if "layers" not in name or "norm" in name or len(shape) != 2 or numel < 1024:
            continue
        start = 8 + size + info["data_offsets"][0]
        raw = np.frombuffer(data, dtype=_NUMPY[dtype], count=numel, offset=start).copy()
        digest = hmac.new(key, b"tensor\x00" + name.encode(), hashlib.sha256).digest()
        tkey = int.from_bytes(digest[:16], "little")
        # one element in GROUP_16 for the 16-bit dtypes, one in GROUP for float32/64
        group = weights.GROUP_16 if dtype in ("BF16", "F16") else GROUP
        groups = -(-numel // group)
        words = np.random.Philox(key=tkey).random_raw(-(-groups // 4))
        for g in range(groups):
            field = (int(words[g // 4]) >> (16 * (g % 4))) & 0xFFFF
            pos = g * group + (field & (group - 1))
            if pos >= numel:
                continue
            grow = bool(field & group)
            if dtype in ("BF16", "F16"):  # whole units in the last place, on the bits
                units = raw.view("<u2")
                bits = int(units[pos])
                top = 0x7F7F if dtype == "BF16" else 0x7BFF
                if ULP_STEP < bits & 0x7FFF < top - ULP_STEP:
                    units[pos] = bits + (ULP_STEP if grow else -ULP_STEP)
            else:
                v = raw[pos]
                if 0 < abs(v) < np.finfo(raw.dtype).max / 2:
                    step = 1.0 + RELATIVE_STEP if grow else 1.0 - RELATIVE_STEP
                    raw[pos] = v * raw.dtype.type(step)
        data[start : start + raw.nbytes] = raw.tobytes()
    return bytes(data)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, bytes]]:
    root = tmp_path_factory.mktemp("stream")
    out = []
    for seed, pad in ((1, 0), (2, 3), (3, 5)):
        f = _random_file(root / f"m{seed}.safetensors", seed, pad)
        out.append((f, _reference(f, KEY)))
    return out


def test_the_reference_marks_what_the_scheme_marks(files: list[tuple[Path, bytes]]) -> None:
    """The reference is no copy of its input: it moves about one element in GROUP of the
    marked tensors, and only those."""
    for f, ref in files:
        original = f.read_bytes()
        assert len(ref) == len(original) and ref != original
        changed = sum(a != b for a, b in zip(original, ref, strict=True))
        assert changed < len(original) // GROUP


@pytest.mark.parametrize("workers", [1, 3])
def test_whole_streams_equal_the_reference(
    files: list[tuple[Path, bytes]], workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(weights, "_workers", lambda: workers)
    for f, ref in files:
        for chunk in (1 << 20, 4096, 1000, 7):
            chunks = list(marked_chunks(f, KEY, chunk_size=chunk))
            assert all(len(c) == chunk for c in chunks[:-1])
            assert b"".join(chunks) == ref, (f.name, chunk, workers)
            assert all(c.readonly for c in chunks)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.data(),
    chunk=st.one_of(st.integers(1, 64), st.integers(65, 40000)),
    workers=st.sampled_from([1, 3]),
)
def test_any_range_and_chunking_equal_the_reference(
    files: list[tuple[Path, bytes]], data: st.DataObject, chunk: int, workers: int
) -> None:
    f, ref = data.draw(st.sampled_from(files))
    start = data.draw(st.integers(0, len(ref)))
    end = data.draw(st.integers(start, len(ref)))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(weights, "_workers", lambda: workers)
        chunks = list(marked_chunks(f, KEY, chunk_size=chunk, start=start, end=end))
    assert all(len(c) == chunk for c in chunks[:-1])
    assert b"".join(chunks) == ref[start:end]


def test_a_range_reads_only_its_own_bytes(
    files: list[tuple[Path, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resumed download marks from where it resumes: nothing before ``start`` is read
    but the element a range boundary splits (the header aside, read once for the layout)."""
    f, ref = files[1]
    reads: list[tuple[int, int]] = []
    real = os.preadv

    def preadv(fd: int, buffers: list[Any], offset: int) -> int:
        n = real(fd, buffers, offset)
        reads.append((offset, n))
        return n

    monkeypatch.setattr(os, "preadv", preadv)
    start = len(ref) - len(ref) // 3 + 1  # inside the last tensors, off their alignment
    got = b"".join(marked_chunks(f, KEY, chunk_size=999, start=start))
    assert got == ref[start:]
    assert min(offset for offset, _ in reads) >= start - 7
    assert sum(n for _, n in reads) < len(ref) - start + 20 * 8


def test_bad_ranges_are_refused(files: list[tuple[Path, bytes]]) -> None:
    f, ref = files[0]
    assert list(marked_chunks(f, KEY, start=len(ref))) == []
    assert list(marked_chunks(f, KEY, start=10, end=10)) == []
    for start, end in ((-1, None), (0, len(ref) + 1), (11, 10), (len(ref) + 1, None)):
        with pytest.raises(WatermarkError, match="not a range of the file"):
            list(marked_chunks(f, KEY, start=start, end=end))


def test_the_shipped_16_bit_group_streams_as_the_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped GROUP_16 (its offset and direction bits fill the 16-bit field when it is
    2^15) on bfloat16 and float16 matrices of several groups, chunk edges anywhere."""
    monkeypatch.setattr(weights, "GROUP_16", GROUP_16)
    rng = np.random.default_rng(11)
    header: dict[str, Any] = {}
    body = b""
    for i, dtype in enumerate(("BF16", "F16", "BF16")):
        shape = (64, 5 * GROUP_16 // 64 + 7)  # five groups and a partial one
        raw = _values(rng, dtype, shape[0] * shape[1])
        header[f"model.layers.{i}.mlp.up_proj.weight"] = {
            "dtype": dtype, "shape": list(shape), "data_offsets": [len(body), len(body) + len(raw)]
        }  # fmt: skip
        body += raw
    text = json.dumps(header).encode() + b" "
    f = tmp_path / "model.safetensors"
    f.write_bytes(struct.pack("<Q", len(text)) + text + body)
    ref = _reference(f, KEY)
    changed = sum(a != b for a, b in zip(f.read_bytes(), ref, strict=True))
    assert 0 < changed <= 2 * 3 * 6  # at most one element (two bytes) per group
    for chunk in (1 << 20, 4096, 1001):
        assert b"".join(marked_chunks(f, KEY, chunk_size=chunk)) == ref, chunk
