"""Format detection from content: magic bytes and structure, never the file name.

A malicious pickle renamed ``model.safetensors`` is still a pickle. Detection
looks at the first bytes only and is cheap; formats without magic (protocol
0/1 pickles) are reported as candidates, confirmed or rejected by the reader.
"""

from __future__ import annotations

import re
import struct
from typing import Final

from openward.artifacts.blob import Blob

__all__ = ["Format", "detect_format", "looks_like_tar", "looks_like_text"]


class Format:
    """Format names, as they appear in reports (``FileResult.format``)."""

    PICKLE: Final = "pickle"
    PICKLE_CANDIDATE: Final = "pickle?"  # no PROTO header: confirmed by the pickle reader
    TORCH_LEGACY: Final = "torch-legacy"
    ZIP: Final = "zip"
    TAR: Final = "tar"
    GZIP: Final = "gzip"
    BZIP2: Final = "bzip2"
    XZ: Final = "xz"
    LZMA: Final = "lzma"
    ZLIB: Final = "zlib"
    LZ4: Final = "lz4"
    JOBLIB_ZFILE: Final = "joblib-zfile"  # joblib < 0.10: "ZF", a hex length, zlib
    ZSTD: Final = "zstd"
    SEVEN_ZIP: Final = "7z"
    RAR: Final = "rar"
    NUMPY: Final = "npy"
    SAFETENSORS: Final = "safetensors"
    GGUF: Final = "gguf"
    HDF5: Final = "hdf5"
    TF_SAVED_MODEL: Final = "tf-saved-model?"  # SavedModel protobuf: confirmed by its reader
    ONNX: Final = "onnx?"  # protobuf with ONNX's first fields: confirmed by the onnx reader
    TFLITE: Final = "tflite"
    JSON: Final = "json"
    TEXT: Final = "text"
    EMPTY: Final = "empty"
    UNKNOWN: Final = "unknown"


# The legacy torch.save format opens with a pickle of this magic number.
TORCH_LEGACY_MAGIC: Final = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19\x2e"

# Opcodes that can start a protocol 0/1 pickle (everything except PROTO-led streams).
_PICKLE_FIRST_BYTES: Final = frozenset(b"(N)]}cidlIJKLMFGSTUVXBC")

_MAGIC: Final[tuple[tuple[int, bytes, str], ...]] = (
    (0, b"PK\x03\x04", Format.ZIP),
    (0, b"PK\x05\x06", Format.ZIP),  # empty archive
    (0, b"PK\x07\x08", Format.ZIP),  # spanned-archive marker before the first header
    (0, b"\x1f\x8b", Format.GZIP),
    (0, b"\xfd7zXZ\x00", Format.XZ),
    (0, b"7z\xbc\xaf\x27\x1c", Format.SEVEN_ZIP),
    (0, b"Rar!\x1a\x07", Format.RAR),
    (0, b"\x04\x22\x4d\x18", Format.LZ4),
    (0, b"\x28\xb5\x2f\xfd", Format.ZSTD),
    (0, b"\x93NUMPY", Format.NUMPY),
    (0, b"GGUF", Format.GGUF),
    (0, b"\x89HDF\r\n\x1a\n", Format.HDF5),
    (4, b"TFL3", Format.TFLITE),
)


_ZFILE_LENGTH = re.compile(rb"^0x[0-9a-fA-F]+ *$")

ZFILE_HEADER = 21
"""Bytes before the zlib stream of a joblib "ZF" file (one more if a space follows)."""


def looks_like_tar(head: bytes) -> bool:
    """Whether ``head`` (the first 512 bytes) is a tar header tarfile would accept."""
    return _is_tar(head)


def _is_tar(head: bytes) -> bool:
    if len(head) < 512:
        return False
    if head[257:262] == b"ustar":
        return True
    # Version 7 tar has no magic: trust the header checksum, read as tarfile
    # reads it (torch.load tries tarfile.open on every non-zip file first).
    return _tar_checksum_matches(head[:512])


def _tar_checksum_matches(block: bytes) -> bool:
    """Whether ``tarfile`` reads ``block`` as a header: its own ``frombuf``, which
    only parses these 512 bytes. A hand-written test (octal digits only, the
    unsigned sum only) let a tar that ``torch.load`` opens pass as unknown data:
    ``tarfile`` reads the checksum up to its first NUL, in base 256 too, and
    accepts the signed byte sum."""
    import tarfile  # only for files that start like a headerless (v7) tar block

    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except (tarfile.HeaderError, ValueError, OverflowError):
        return False
    return True


def _after_skippable_frames(blob: Blob, head: bytes) -> str | None:
    """zstd or lz4 data that opens with skippable frames: the format of the first
    real frame behind them (zstd readers, pandas' among them, step over them)."""
    from openward.artifacts.compression import is_skippable_frame

    if not is_skippable_frame(head):
        return None
    pos = 0
    for _ in range(64):
        (size,) = struct.unpack("<I", blob.read(pos + 4, 4).ljust(4, b"\0"))
        pos += 8 + size
        nxt = blob.read(pos, 4)
        if nxt == b"\x28\xb5\x2f\xfd":
            return Format.ZSTD
        if nxt == b"\x04\x22\x4d\x18":
            return Format.LZ4
        if not is_skippable_frame(nxt):
            return None
    return None


def _is_safetensors(blob: Blob, head: bytes) -> bool:
    if len(head) < 10:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 2 <= n <= blob.size - 8 and head[8:9] == b"{"


def _is_bzip2(head: bytes) -> bool:
    # A stream opens with a block or, when empty, with the end-of-stream marker;
    # bz2 readers go on to the next stream, so an empty one can lead the file.
    return (
        head[:3] == b"BZh"
        and len(head) >= 10
        and head[3] in b"123456789"
        and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90")
    )


def _is_zlib(head: bytes) -> bool:
    if len(head) < 2:
        return False
    cmf, flg = head[0], head[1]
    return cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf << 8 | flg) % 31 == 0 and not flg & 0x20


def _is_lzma_alone(head: bytes) -> bool:
    """An ``.lzma`` ("alone") header that a loader's decoder accepts.

    Every encoder writes the properties byte 0x5D (lc=3, lp=0, pb=2). With it,
    ``lzma.open`` (and so ``pandas.read_pickle`` of ``.xz``) accepts a dictionary
    of 2^n or 2^n + 2^(n-1) bytes (liblzma's picky check) and joblib, which picks
    its lzma compressor by the prefix ``5d 00 00``, any multiple of 64 KiB; only
    powers of two and multiples of 64 KiB were recognised, so a ``.pkl.xz`` with a
    3 KiB dictionary was unknown data to openward and a pickle to pandas.
    Other properties bytes are valid too, but a zero byte is one (lc=lp=pb=0), and
    raw binary data that starts with zeros would pass for lzma: see
    docs/scan.md for that open case.
    """
    if len(head) < 13 or head[0] != 0x5D:
        return False
    (dict_size,) = struct.unpack("<I", head[1:5])
    (usize,) = struct.unpack("<Q", head[5:13])
    if not (usize == 2**64 - 1 or usize < 1 << 48):
        return False
    low = dict_size & -dict_size  # lowest set bit
    picky = dict_size == 0xFFFFFFFF or dict_size in (low, 3 * low)
    return dict_size > 0 and (picky or dict_size % (1 << 16) == 0)


def _looks_like_onnx(head: bytes) -> bool:
    # ModelProto opens with ir_version (field 1, varint), then producer_name,
    # producer_version, domain, model_version, doc_string, graph or opset_import.
    return (
        len(head) > 3
        and head[0] == 0x08
        and 3 <= head[1] <= 15
        and head[2] in (0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42)
    )


def looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        return exc.start >= len(head) - 3
    return True


def detect_format(blob: Blob) -> str:
    """The format of ``blob``, from its first bytes (see :class:`Format`)."""
    if blob.size == 0:
        return Format.EMPTY
    head = blob.head(1024)
    if head.startswith(TORCH_LEGACY_MAGIC):
        return Format.TORCH_LEGACY
    for offset, magic, fmt in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return fmt
    framed = _after_skippable_frames(blob, head)
    if framed is not None:
        return framed
    if head[:4] == b"ZF0x" and _ZFILE_LENGTH.match(head[2:21]):
        return Format.JOBLIB_ZFILE
    if _is_safetensors(blob, head):
        return Format.SAFETENSORS
    if head[0] == 0x80 and len(head) > 1 and head[1] <= 5:
        return Format.PICKLE
    if _is_bzip2(head):
        return Format.BZIP2
    if _is_tar(head):
        return Format.TAR
    if _is_lzma_alone(head):
        return Format.LZMA
    if _is_zlib(head):
        return Format.ZLIB
    if _looks_like_onnx(head):
        return Format.ONNX
    if head[:3] == b"\x08\x01\x12":  # saved_model_schema_version = 1, then meta_graphs
        return Format.TF_SAVED_MODEL
    if head[0] in _PICKLE_FIRST_BYTES:
        return Format.PICKLE_CANDIDATE
    stripped = head.lstrip()
    if stripped[:1] in (b"{", b"[") and looks_like_text(head):
        return Format.JSON
    if looks_like_text(head):
        return Format.TEXT
    return Format.UNKNOWN


def fallback_format(blob: Blob) -> str:
    """What to call bytes that turned out not to be a pickle candidate."""
    head = blob.head(1024)
    return Format.TEXT if looks_like_text(head) else Format.UNKNOWN
