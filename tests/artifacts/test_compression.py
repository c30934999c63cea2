"""Bounded decompression: limits stop bombs before memory does."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openward.artifacts.blob import Blob
from openward.artifacts.compression import decompress
from openward.artifacts.errors import ArtifactLimitError

PAYLOAD = bytes(range(256)) * 64


def _free(produced: int, consumed: int) -> None:
    del produced, consumed


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("gzip", gzip.compress(PAYLOAD)),
        ("bzip2", bz2.compress(PAYLOAD)),
        ("xz", lzma.compress(PAYLOAD)),
        ("lzma", lzma.compress(PAYLOAD, format=lzma.FORMAT_ALONE)),
        ("zlib", zlib.compress(PAYLOAD)),
    ],
)
def test_round_trip(fmt: str, data: bytes) -> None:
    out = decompress(fmt, Blob.of(data), charge=_free)
    assert out.complete and out.error is None
    assert out.blob.read(0, len(PAYLOAD) + 1) == PAYLOAD
    assert out.consumed == len(data)


def test_concatenated_gzip_members_are_all_read() -> None:
    out = decompress("gzip", Blob.of(gzip.compress(b"ab") + gzip.compress(b"cd")), charge=_free)
    assert out.blob.read(0, 10) == b"abcd" and out.streams == 2


def test_truncated_stream_is_incomplete() -> None:
    data = gzip.compress(PAYLOAD)
    out = decompress("gzip", Blob.of(data[: len(data) // 2]), charge=_free)
    assert not out.complete


def test_charge_stops_a_bomb_early() -> None:
    bomb = bz2.compress(bytes(64 << 20))
    seen = []

    def charge(produced: int, consumed: int) -> None:
        seen.append(produced)
        if produced > 8 << 20:
            raise ArtifactLimitError("max_expanded_bytes", "too big")

    with pytest.raises(ArtifactLimitError):
        decompress("bzip2", Blob.of(bomb), charge=charge)
    assert max(seen) <= (8 << 20) + (4 << 20)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["gzip", "bzip2", "xz", "lzma", "zlib", "lz4", "zstd"]), st.binary(max_size=512)
)
def test_garbage_never_raises(fmt: str, data: bytes) -> None:
    out = decompress(fmt, Blob.of(data), charge=_free)
    assert out.blob.size >= 0


def test_lzma_header_asking_for_a_huge_dictionary_is_a_limit_not_an_allocation() -> None:
    """A 13-byte .lzma header declaring a 4 GiB dictionary made liblzma allocate 4 GiB
    (found by the fuzz test once .lzma headers with 2^n + 2^(n-1) dictionaries were
    recognised, as liblzma recognises them)."""
    import tracemalloc

    header = b"\x5d" + b"\xff" * 4 + b"\xff" * 8 + bytes(32)
    tracemalloc.start()
    try:
        with pytest.raises(ArtifactLimitError) as raised:
            decompress("lzma", Blob.of(header), charge=lambda produced, consumed: None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert raised.value.limit == "MAX_LZMA_DECODER_MEMORY"
    assert peak < 64 << 20
