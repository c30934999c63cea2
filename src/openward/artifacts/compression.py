"""Bounded decompression of single-stream formats (gzip, bzip2, xz, lzma, zlib, lz4, zstd).

Output is produced in slices and charged to a caller-supplied budget before
it is kept, so a decompression bomb stops at the limit instead of filling
memory. Large outputs spill to an unlinked temporary file that is mapped
back, so a multi-gigabyte ``.pt.gz`` is scanned without holding it in RAM.
"""

from __future__ import annotations

import bz2
import io
import lzma
import mmap
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from openward.artifacts.blob import Blob
from openward.artifacts.errors import ArtifactLimitError

__all__ = ["Decompressed", "OutputSink", "decompress", "new_decompressor"]

_IN_CHUNK: Final = 1 << 20
_OUT_CHUNK: Final = 4 << 20
SPILL_BYTES: Final = 256 << 20
"""Outputs larger than this go to a temporary file instead of memory."""


class OutputSink:
    """Collects decompressed bytes in memory, then on disk past ``SPILL_BYTES``."""

    def __init__(self) -> None:
        self._mem = io.BytesIO()
        self._file: Any = None
        self.size = 0

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.size += len(data)
        if self._file is None and self.size > SPILL_BYTES:
            self._file = tempfile.TemporaryFile(prefix="openward-")  # noqa: SIM115 - owned by the sink
            self._file.write(self._mem.getbuffer())
            self._mem = io.BytesIO()
        if self._file is not None:
            self._file.write(data)
        else:
            self._mem.write(data)

    def blob(self) -> Blob:
        if self._file is None:
            return Blob.of(self._mem.getvalue())
        self._file.flush()
        mapped = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        self._file.close()  # the mapping keeps the (already unlinked) file alive
        return Blob(mapped, 0, self.size)


@dataclass(frozen=True)
class Decompressed:
    """The result of decompressing one stream (possibly several concatenated members)."""

    blob: Blob
    consumed: int
    """Input bytes that belonged to the compressed stream(s)."""
    complete: bool
    """False when the input ended or broke before the end-of-stream marker."""
    error: str | None
    """Decoder error message, if the stream is corrupt."""
    streams: int
    """Concatenated streams decoded (gzip members, bzip2 streams, xz streams)."""


class _Decoder(Protocol):
    eof: bool

    def decompress(self, data: bytes, max_length: int = ...) -> bytes: ...


def _zstd_decompressor() -> Any:
    try:
        from compression import zstd  # type: ignore[import-not-found]  # Python >= 3.14
    except ImportError:
        from backports import zstd  # type: ignore[no-redef,unused-ignore]
    return zstd.ZstdDecompressor()


def new_decompressor(fmt: str, props: bytes | None = None) -> Any:
    """A fresh decoder for ``fmt``; raises ImportError when the codec is unavailable.

    ``deflate`` is raw deflate (zip members); ``lzma-raw`` is the LZMA1 stream
    of a zip member, whose filter properties come in ``props``.
    """
    if fmt == "deflate":
        return zlib.decompressobj(wbits=-15)
    if fmt == "lzma-raw":
        filters = [lzma._decode_filter_properties(lzma.FILTER_LZMA1, props or b"")]  # type: ignore[attr-defined]
        if filters[0].get("dict_size", 0) > MAX_LZMA_DECODER_MEMORY:  # no memlimit for RAW
            raise ArtifactLimitError(
                "MAX_LZMA_DECODER_MEMORY",
                f"the lzma member asks for a {filters[0]['dict_size'] >> 20} MiB dictionary",
            )
        return lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=filters)
    if fmt == "gzip":
        return zlib.decompressobj(wbits=31)
    if fmt == "zlib":
        return zlib.decompressobj()
    if fmt == "bzip2":
        return bz2.BZ2Decompressor()
    if fmt in ("xz", "lzma"):
        return lzma.LZMADecompressor(format=lzma.FORMAT_AUTO, memlimit=MAX_LZMA_DECODER_MEMORY)
    if fmt == "lz4":
        import lz4.frame

        return lz4.frame.LZ4FrameDecompressor()
    if fmt == "zstd":
        return _zstd_decompressor()
    raise ValueError(f"no decompressor for {fmt}")


_NEXT_STREAM_MAGIC: Final[dict[str, bytes]] = {
    "gzip": b"\x1f\x8b",
    "bzip2": b"BZh",
    "xz": b"\xfd7zXZ\x00",
    "lz4": b"\x04\x22\x4d\x18",
    "zstd": b"\x28\xb5\x2f\xfd",
}


def decompress(
    fmt: str,
    blob: Blob,
    *,
    charge: Callable[[int, int], None],
    tick: Callable[[], None] | None = None,
    props: bytes | None = None,
) -> Decompressed:
    """Decompress ``blob`` as ``fmt``.

    ``charge(produced, consumed)`` is called before each output slice is
    kept with the running totals; it raises to stop (limits, bombs).
    """
    sink = OutputSink()
    pos = 0
    streams = 0
    error: str | None = None
    complete = False
    while True:
        try:
            dec = new_decompressor(fmt, props)
        except (lzma.LZMAError, ValueError) as exc:
            return Decompressed(sink.blob(), 0, False, str(exc), streams)
        streams += 1
        pos, ok, error = _one_stream(dec, blob, pos, sink, charge, tick)
        if not ok:
            break
        complete = True
        magic = _NEXT_STREAM_MAGIC.get(fmt)
        if magic is None:
            break
        if fmt == "gzip":
            # Python's gzip module skips NUL padding between members.
            pos = _skip_zeros(blob, pos)
        if blob.read(pos, len(magic)) != magic and not (
            fmt in _SKIPPABLE_FRAMES and is_skippable_frame(blob.read(pos, 4))
        ):
            break
        complete = False
    return Decompressed(sink.blob(), pos, complete, error, streams)


MAX_LZMA_DECODER_MEMORY: Final = 512 << 20
"""liblzma allocates the whole dictionary a header declares before it decodes a
byte: a 13-byte ``.lzma`` header asking for 4 GiB would take 4 GiB. xz's largest
preset needs 65 MiB; past this the stream is reported as a scan limit."""

_SKIPPABLE_FRAMES: Final = frozenset({"lz4", "zstd"})


def is_skippable_frame(head: bytes) -> bool:
    """A skippable frame (magic 0x184D2A50-5F), which lz4 and zstd readers step over.

    Readers that go from frame to frame (joblib's lz4 file, zstd's) read on
    after one, so a pickle split by a skippable frame is still one pickle.
    """
    return len(head) >= 4 and head[0] & 0xF0 == 0x50 and head[1:4] == b"\x2a\x4d\x18"


def _skip_zeros(blob: Blob, pos: int) -> int:
    step = 1 << 16
    while pos < blob.size:
        chunk = blob.read(pos, step)
        stripped = len(chunk) - len(chunk.lstrip(b"\x00"))
        pos += stripped
        if stripped < len(chunk):
            break
    return pos


def _one_stream(
    dec: Any,
    blob: Blob,
    start: int,
    sink: OutputSink,
    charge: Callable[[int, int], None],
    tick: Callable[[], None] | None,
) -> tuple[int, bool, str | None]:
    """Decode one stream from ``start``; returns (end offset, reached eof, error)."""
    is_zlib = hasattr(dec, "unconsumed_tail")
    pos = start
    pending = b""
    try:
        while not dec.eof:
            if tick is not None:
                tick()
            if is_zlib:
                if not pending:
                    if pos >= blob.size:
                        return pos, False, None
                    pending = blob.read(pos, _IN_CHUNK)
                    pos += len(pending)
                out = dec.decompress(pending, _OUT_CHUNK)
                pending = dec.unconsumed_tail
            else:
                if dec.needs_input:
                    if pos >= blob.size:
                        return pos, False, None
                    chunk = blob.read(pos, _IN_CHUNK)
                    pos += len(chunk)
                else:
                    chunk = b""
                out = dec.decompress(chunk, max_length=_OUT_CHUNK)
            if out:
                charge(sink.size + len(out), pos - len(pending))
                sink.write(out)
    except ArtifactLimitError:
        raise
    except lzma.LZMAError as exc:
        if "memory usage limit" in str(exc).lower():
            raise ArtifactLimitError(
                "MAX_LZMA_DECODER_MEMORY",
                f"the lzma/xz header asks for more than {MAX_LZMA_DECODER_MEMORY >> 20} MiB "
                "of decoder memory",
                start,
            ) from None
        return pos, False, str(exc) or type(exc).__name__
    except Exception as exc:
        return pos, False, str(exc) or type(exc).__name__
    unused = len(dec.unused_data or b"") + len(pending)
    return pos - unused, True, None
