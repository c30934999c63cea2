"""Format detection from content: magic bytes and structure, never the file name.

A malicious pickle renamed ``model.safetensors`` is still a pickle. Detection
is cheap, and it accepts what the loaders accept, not only what their writers
produce: a check stricter than the loader is a way around the scanner (a tar
header with a signed checksum, an HDF5 superblock after a user block, an
ONNX model whose fields come in another order). Formats without magic
(protocol 0/1 pickles) are reported as candidates, confirmed or rejected by
the reader.

One file can be several formats at once; :func:`detect_format` names the one
whose reader runs first, and the scanner analyses the other views (a zip at
the end, a tar at the start, an HDF5 superblock after a user block, a
protobuf model) separately.
"""

from __future__ import annotations

import re
import struct
import tarfile
from typing import Final

from openward.artifacts.blob import Blob
from openward.artifacts.errors import ArtifactFormatError
from openward.artifacts.protobuf_wire import LENGTH, fields

__all__ = [
    "HDF5_SIGNATURE",
    "Format",
    "detect_format",
    "hdf5_superblock_offset",
    "looks_like_onnx",
    "looks_like_saved_model",
    "looks_like_tar",
    "looks_like_text",
    "protobuf_models",
    "tar_header_valid",
]


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
    TF_GRAPH_DEF: Final = "tf-graph-def?"  # a frozen GraphDef protobuf: confirmed by its reader
    ONNX: Final = "onnx?"  # protobuf shaped like onnx.ModelProto: confirmed by the onnx reader
    TFLITE: Final = "tflite"
    JSON: Final = "json"
    TEXT: Final = "text"
    EMPTY: Final = "empty"
    UNKNOWN: Final = "unknown"


# The legacy torch.save format opens with a pickle of this magic number.
TORCH_LEGACY_MAGIC: Final = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19\x2e"
# ... which torch.save(pickle_protocol=p) writes differently for each protocol:
# LONG1 after PROTO (and a FRAME from protocol 4), or a decimal LONG for 0 and 1.
_TORCH_LEGACY_MAGIC_ANY: Final = re.compile(
    rb"\A(?:\x80[\x02-\x05](?:\x95[\x00-\xff]{8})?\x8a\x0a"
    + re.escape(TORCH_LEGACY_MAGIC[4:14])
    + rb"|L119547037146038801333356L\n)\.",
)

# Opcodes that can start a protocol 0/1 pickle (everything except PROTO-led streams).
_PICKLE_FIRST_BYTES: Final = frozenset(b"(N)]}cidlIJKLMFGSTUVXBC")

HDF5_SIGNATURE: Final = b"\x89HDF\r\n\x1a\n"

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
    (0, HDF5_SIGNATURE, Format.HDF5),
    (4, b"TFL3", Format.TFLITE),  # TFLite refuses a model without this identifier
)


ZFILE_HEADER = 21
"""Bytes before the zlib stream of a joblib "ZF" file (one more if a space follows)."""


def _is_joblib_zfile(head: bytes) -> bool:
    # joblib's read_zfile parses the 19 bytes after "ZF" with int(..., 16): it
    # takes spaces, a sign, a 0x prefix and underscores, so this does too.
    if head[:2] != b"ZF":
        return False
    try:
        return int(head[2:ZFILE_HEADER], 16) >= 0
    except ValueError:
        return False


# -- tar -----------------------------------------------------------------------

_TAR_EXTENDED_TYPES: Final = frozenset(b"LKSxgX")
"""GNU long names and links, GNU sparse, pax headers: tarfile reads on past the
first header before it accepts the archive, so those are confirmed with tarfile."""
_HIGH_BYTES: Final = bytes(range(0x80, 0x100))
MAX_TAR_EXTENSION: Final = 16 << 20
"""A first GNU long-name or pax header announcing more data than this is not read
here: the file is a tar if that much data and a header fit in it (the tar reader
reports what it finds). Sparse headers read only their own extension blocks."""


def _tar_number(field: bytes) -> int | None:
    """A tar number field as ``tarfile`` reads it: base-256 when the first byte
    is 0x80 or 0xff, otherwise octal text up to the first NUL (``int(..., 8)``,
    so spaces, a sign, ``0o`` and underscores are all accepted)."""
    if field[0] in (0o200, 0o377):
        n = int.from_bytes(field[1:], "big")
        return n - 256 ** (len(field) - 1) if field[0] == 0o377 else n
    nul = field.find(b"\0")
    if nul != -1:
        field = field[:nul]
    try:
        return int(field.decode("ascii").strip() or "0", 8)
    except ValueError:
        return None


def _tar_checksum_ok(block: bytes) -> bool:
    stored = _tar_number(block[148:156])
    if stored is None:
        return False
    # The checksum field counts as eight spaces; tarfile takes the unsigned
    # sum or the signed one (old Sun and NeXT tars summed signed chars).
    counted = block[:148] + block[156:512]
    unsigned = 256 + sum(counted)
    if stored == unsigned:
        return True
    high = len(counted) - len(counted.translate(None, _HIGH_BYTES))
    return stored == unsigned - 256 * high


# Every character int(..., 8) can take from a stripped ASCII field: a quick
# rejection of checksum fields that cannot parse, before the real parse.
_TAR_NUMBER_TEXT: Final = b"01234567+-_oO \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"


def tar_header_valid(block: bytes) -> bool:
    """Whether ``tarfile`` accepts the 512-byte ``block`` as a member header."""
    if len(block) != 512:
        return False
    checksum = block[148:156]
    if checksum[0] not in (0o200, 0o377) and checksum.split(b"\0", 1)[0].translate(
        None, _TAR_NUMBER_TEXT
    ):
        return False
    if not block.strip(b"\0") or not _tar_checksum_ok(block):
        return False
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except (tarfile.HeaderError, ValueError):
        return False
    return True


def looks_like_tar(blob: Blob) -> bool:
    """Whether ``tarfile.open(mode="r:")`` opens ``blob`` with at least one member.

    That is the test ``torch.load`` applies first. An all-zero first block is
    an empty archive to tarfile: nothing in it to analyse, so not a tar here.
    """
    block = blob.head(512)
    if not tar_header_valid(block):
        return False
    if block[156] not in _TAR_EXTENDED_TYPES:
        return True
    size = _tar_number(block[124:136])
    if block[156] != ord("S") and size is not None and size > MAX_TAR_EXTENSION:
        # Too big to read for a guess: tarfile needs it, and a header after it.
        return 512 + size + 512 <= blob.size
    from openward.artifacts.tar import BlobReader

    try:
        with tarfile.open(fileobj=BlobReader(blob), mode="r:") as tf:
            return tf.next() is not None
    except Exception:  # whatever stops tarfile stops the loader too
        return False


# -- HDF5 ----------------------------------------------------------------------


def hdf5_superblock_offset(blob: Blob) -> int | None:
    """Where the HDF5 library finds the superblock, or None.

    A file may start with a user block of 512, 1024, 2048, ... bytes; the
    library looks for the signature at 0 and then at every power of two from
    512 that leaves room for it in the file (``H5FD_locate_signature``), and
    h5py and Keras open the file from there.
    """
    buf, base = blob.buffer, blob.start
    if buf[base : base + 8] == HDF5_SIGNATURE:
        return 0
    offset = 512
    while offset + 8 <= blob.size:
        if buf[base + offset : base + offset + 8] == HDF5_SIGNATURE:
            return offset
        offset <<= 1
    return None


# -- protobuf models -----------------------------------------------------------

MAX_PROTOBUF_WALK: Final = 4096
"""Fields examined per message level; past this the reader decides."""


def _walk(
    blob: Blob, span: tuple[int, int], wanted: tuple[int, ...]
) -> dict[int, list[tuple[int, int]]] | None:
    """Spans of the length-delimited fields numbered ``wanted`` in the message
    at ``span``; None when the bytes are not a protobuf message there. A
    message with more than MAX_PROTOBUF_WALK fields is undecided: every
    wanted number maps to ``[UNDECIDED]`` and the reader decides."""
    found: dict[int, list[tuple[int, int]]] = {n: [] for n in wanted}
    try:
        for i, (number, wire, value) in enumerate(fields(blob, *span)):
            if i >= MAX_PROTOBUF_WALK:
                return {n: [_UNDECIDED] for n in wanted}
            if number in found and wire == LENGTH and isinstance(value, tuple):
                found[number].append(value)
    except ArtifactFormatError:
        return None
    return found


_UNDECIDED: Final = (-1, -1)
_MAX_REPEATS: Final = 8


def _nested(blob: Blob, spans: list[tuple[int, int]], path: tuple[int, ...]) -> bool:
    """Whether one of ``spans`` parses as a message, with a field along ``path``."""
    for span in spans[:_MAX_REPEATS]:
        if span == _UNDECIDED:
            return True
        inner = _walk(blob, span, path[:1])
        if inner is not None and (not path or _nested(blob, inner[path[0]], path[1:])):
            return True
    return False


def protobuf_models(blob: Blob) -> frozenset[str]:
    """The protobuf model formats ``blob`` is shaped like: :attr:`Format.ONNX`
    (an ``onnx.ModelProto`` with a ``graph``, field 7, that parses) and
    :attr:`Format.TF_SAVED_MODEL` (``meta_graphs``, field 2, holding a
    ``graph_def``, field 2, that parses).

    Structure, not a byte prefix: protobuf fields come in any order, varints
    may be over-long and unknown fields (groups included) are kept, so the
    whole file must parse as protobuf wire format. The readers confirm.
    """
    if blob.size <= 2:
        return frozenset()
    top = _walk(blob, (0, blob.size), (1, 2, 7))
    if top is None:
        return frozenset()
    kinds = []
    if _nested(blob, top[7], ()):
        kinds.append(Format.ONNX)
    if _nested(blob, top[2], (2,)):
        kinds.append(Format.TF_SAVED_MODEL)
    if _graph_nodes(blob, top[1]):
        kinds.append(Format.TF_GRAPH_DEF)
    return frozenset(kinds)


def _graph_nodes(blob: Blob, spans: list[tuple[int, int]]) -> bool:
    """Whether ``spans`` (a message's field 1) hold GraphDef nodes: NodeDef
    messages whose ``op`` (field 2) is an operation name."""
    for span in spans[:_MAX_REPEATS]:
        if span == _UNDECIDED:
            return True
        node = _walk(blob, span, (2,))
        if node is None or not node[2]:
            continue
        start, end = node[2][0]
        op = blob.read(start, end - start) if 0 < end - start <= 256 else b""
        if op.isascii() and op.decode("ascii").isidentifier():
            return True
    return False


def looks_like_onnx(blob: Blob) -> bool:
    """Whether ``blob`` is shaped like an ONNX model (see :func:`protobuf_models`)."""
    return Format.ONNX in protobuf_models(blob)


def looks_like_saved_model(blob: Blob) -> bool:
    """Whether ``blob`` is shaped like a SavedModel (see :func:`protobuf_models`)."""
    return Format.TF_SAVED_MODEL in protobuf_models(blob)


# -- the rest ------------------------------------------------------------------

_JSON_SPACE: Final = b" \t\n\r"
# A JSON object that opens with a key: what a safetensors header looks like.
_SAFETENSORS_HEADER_START: Final = re.compile(
    rb'[ \t\n\r]*\{[ \t\n\r]*"(?:[^"\\\x00-\x1f]|\\.){1,256}"[ \t\n\r]*:'
)


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
    """A header the safetensors loader would parse, or one it refuses that is
    still plainly a safetensors header (reported as malformed).

    The loader accepts JSON whitespace before the opening brace. A length
    longer than the file (or shorter than the JSON) is the loader's error, not
    a reason to call the file unknown: a JSON object with a key right after
    the 8 length bytes is a broken safetensors file, unless the whole head is
    text (a JSON document indented by eight characters).
    """
    if len(head) < 10:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    body = head[8:]
    stripped = body.lstrip(_JSON_SPACE)
    if 2 <= n <= blob.size - 8 and stripped[:1] == b"{" and len(body) - len(stripped) < n:
        return True
    return _SAFETENSORS_HEADER_START.match(body) is not None and not looks_like_text(head)


def _is_bzip2(head: bytes) -> bool:
    # A stream opens with a block or, when it is empty, with the end-of-stream
    # marker; decoders then read the next stream (joblib picks bz2 by "BZh" alone).
    return (
        head[:3] == b"BZh"
        and len(head) >= 10
        and head[3] in b"123456789"
        and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90")
    )


def _is_zlib(head: bytes) -> bool:
    """A zlib header with a 32 KiB window (0x78): what ``zlib.compress`` always
    writes and the only first byte joblib takes for zlib. Smaller windows
    (0x08-0x68) are valid to zlib but written by no model tool; accepting them
    made one random binary file in a few thousand a "truncated zlib stream"."""
    if len(head) < 2:
        return False
    cmf, flg = head[0], head[1]
    return cmf == 0x78 and (cmf << 8 | flg) % 31 == 0 and not flg & 0x20


def _is_lzma_alone(head: bytes) -> bool:
    """An .lzma ("alone") header as liblzma's auto decoder (``lzma.open``,
    joblib) accepts it, with the properties byte every writer uses.

    liblzma takes any lc/lp/pb byte with lc + lp <= 4, a dictionary size of
    2^n, 2^n + 2^(n-1) or all ones, and an unknown size or one below 256 GiB.
    The properties byte is held to 0x5D (lc=3, lp=0, pb=2): joblib, the one
    model loader that opens .lzma, picks it by that byte, and accepting the
    others would make every run of zero bytes (a valid header to liblzma) a
    compressed stream.
    """
    if len(head) < 13 or head[0] != 0x5D:
        return False
    dict_size = int.from_bytes(head[1:5], "little")
    if dict_size != 0xFFFFFFFF:
        d = (dict_size - 1) & 0xFFFFFFFF
        for shift in (2, 3, 4, 8, 16):
            d |= d >> shift
        if (d + 1) & 0xFFFFFFFF != dict_size:
            return False
    usize = int.from_bytes(head[5:13], "little")
    return usize == 2**64 - 1 or usize < 1 << 38


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
    """The format whose reader runs first on ``blob`` (see :class:`Format`).

    Order: fixed magic numbers, then headers with checksums or lengths to
    check, then structure (protobuf, an HDF5 superblock after a user block),
    then the weak two-byte headers, pickle candidates and text. Text beats a
    tar header: a real tar header is padded with NULs, so a header that is
    all text is a text file that tarfile would also open, and the tar view is
    analysed as a polyglot.
    """
    if blob.size == 0:
        return Format.EMPTY
    head = blob.head(1024)
    if _TORCH_LEGACY_MAGIC_ANY.match(head):
        return Format.TORCH_LEGACY
    for offset, magic, fmt in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return fmt
    framed = _after_skippable_frames(blob, head)
    if framed is not None:
        return framed
    if _is_joblib_zfile(head):
        return Format.JOBLIB_ZFILE
    if _is_safetensors(blob, head):
        return Format.SAFETENSORS
    if head[0] == 0x80 and len(head) > 1 and head[1] <= 5:
        return Format.PICKLE
    if _is_bzip2(head):
        return Format.BZIP2
    if looks_like_tar(blob) and not looks_like_text(head):
        return Format.TAR
    models = protobuf_models(blob)
    for fmt in (Format.ONNX, Format.TF_SAVED_MODEL, Format.TF_GRAPH_DEF):
        if fmt in models:
            return fmt
    if hdf5_superblock_offset(blob) is not None:
        return Format.HDF5
    if _is_lzma_alone(head):
        return Format.LZMA
    if _is_zlib(head):
        return Format.ZLIB
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
