"""Samples for content detection that a crafted header defeats (issue 12, mechanism 1).

Each malicious sample is a file that a loader opens as one format while its
first bytes say another, or that only a loader's more lenient reading
recognises: a text (or JSON) file that ``tarfile`` also opens, an HDF5 file
behind a user block, ONNX and SavedModel protobufs with reordered fields and
over-long varints, an archive with a zip appended, a safetensors header with
an absurd length or leading whitespace, compressed joblib files whose headers
the old checks rejected, a TFLite model whose appended zip is not (only) its
metadata. The benign ones are what real tools write and must stay quiet:
TFLite's metadata zip, HDF5 user blocks, archives of archives.

The builders are public to the tests, which check every sample against the
real parser (``tarfile``, ``h5py``, ``onnx``, ``zipfile``, ``safetensors``).
"""

from __future__ import annotations

import io
import json
import lzma
import struct
import zipfile
from collections.abc import Callable
from typing import Any, Final

from openward._samples import (
    _DENSE,
    _build_zip,
    _dumps,
    _keras_model,
    _safetensors_bytes,
    _system,
    _tar,
    _torch_entries,
    saved_model_bytes,
)
from openward.artifacts.blob import Blob
from openward.artifacts.protobuf_wire import GROUP, LENGTH, VARINT, fields

__all__ = [
    "benign",
    "hdf5_with_userblock",
    "malicious",
    "onnx_external_escape",
    "overlong_varint",
    "reencode_protobuf",
    "text_tar",
    "tflite_with_metadata",
]

# ---------------------------------------------------------------------------
# tar headers made of text
# ---------------------------------------------------------------------------


def _text_tar_header(
    name: str, size: int, typeflag: bytes, *, signed: bool, start: bytes = b""
) -> bytes:
    """A version-7 tar header (no "ustar" magic) of printable UTF-8 only:
    fields end in spaces, not NULs; ``start`` overwrites its first bytes.

    ``signed`` writes the checksum as the signed-char sum (old Sun tars), which
    tarfile accepts and which differs from the unsigned sum when the header
    holds non-ASCII bytes.
    """
    raw_name = name.encode()
    assert len(raw_name) <= 100
    h = bytearray(b" " * 512)
    h[0 : len(raw_name)] = raw_name
    h[0 : len(start)] = start
    h[100:108] = b"0000644 "
    h[108:116] = b"0001750 "
    h[116:124] = b"0001750 "
    h[124:136] = f"{size:011o} ".encode()
    h[136:148] = b"14712345670 "
    h[156:157] = typeflag
    counted = h[:148] + h[156:]
    total = 256 + sum(b - 256 if signed and b >= 128 else b for b in counted)
    h[148:156] = f"{total:07o} ".encode()
    return bytes(h)


def _pad_text(data: bytes, fill: bytes = b"\n") -> bytes:
    return data + fill * (-len(data) % 512)


def _pax_record(keyword: str, value: str, end: bytes = b"\n") -> bytes:
    body = f" {keyword}={value}".encode() + end
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n += 1
    return str(n).encode() + body


def text_tar(members: dict[str, bytes], *, tail: bytes = b"", fill: bytes = b"\n") -> bytes:
    """A tar archive that is also UTF-8 text: pax headers carry the member
    names (a name field without a NUL is its whole 100 bytes), checksums are
    signed sums over headers holding a non-ASCII character."""
    out = b""
    for name, data in members.items():
        record = _pax_record("path", name)
        out += _text_tar_header("PaxHeaders/modèle", len(record), b"x", signed=True)
        out += _pad_text(record, fill)
        out += _text_tar_header("modèle", len(data), b"0", signed=True)
        out += _pad_text(data, fill)
    return out + tail


def _json_tar(path: str, data: bytes) -> bytes:
    """A JSON document whose bytes are also a tar archive with one member.

    The tar blocks sit inside one JSON string: header fields of digits and
    spaces (signed checksums over a name with an accent), the pax record
    ended by a space (tarfile never reads a record's last character), the
    member data free of quotes and control characters.
    """
    assert b'"' not in data and b"\\" not in data and all(b >= 0x20 for b in data)
    record = _pax_record("path", path, end=b" ")
    opening = '{"modèle": "'.encode()
    body = _text_tar_header("", len(record), b"x", signed=True, start=opening)
    body += _pad_text(record, b" ")
    body += _text_tar_header("modèle", len(data), b"0", signed=True) + _pad_text(data, b" ")
    return body + b'"}\n'


# ---------------------------------------------------------------------------
# protobuf re-encoding
# ---------------------------------------------------------------------------


def overlong_varint(value: int, width: int = 5) -> bytes:
    """``value`` as a varint of exactly ``width`` bytes (protobuf parsers accept
    up to ten, with redundant continuation bytes)."""
    out = bytearray()
    for i in range(width):
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if i < width - 1 else 0))
    assert value == 0, "value too large for the width"
    return bytes(out)


def reencode_protobuf(
    data: bytes,
    *,
    reverse: bool = True,
    width: int = 5,
    prefix: bytes = b"",
) -> bytes:
    """The top-level fields of a protobuf message in reverse order, every tag,
    length and varint written over-long, after ``prefix`` (extra fields)."""
    blob = Blob.of(data)
    parts: list[bytes] = []
    for number, wire, value in fields(blob):
        key = overlong_varint(number << 3 | wire, width)
        if wire == VARINT and isinstance(value, int):
            parts.append(key + overlong_varint(value, 10))
        elif wire == LENGTH and isinstance(value, tuple):
            payload = data[value[0] : value[1]]
            parts.append(key + overlong_varint(len(payload), width) + payload)
        else:
            raise ValueError(f"unexpected wire type {wire} in a sample")
    if reverse:
        parts.reverse()
    return prefix + b"".join(parts)


def _unknown_group(number: int = 1000) -> bytes:
    """An unknown group field holding a varint: protobuf keeps it, skipping it
    needs the group's end tag."""
    return (
        overlong_varint(number << 3 | GROUP, 3)
        + bytes([0x08, 0x2A])
        + overlong_varint(number << 3 | 4, 3)
    )


def onnx_external_escape() -> bytes | None:
    """The zoo's ONNX model whose external data climbs out of its folder."""
    try:
        from onnx import TensorProto, helper
    except ImportError:
        return None
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 4])
    weight = helper.make_tensor("W", TensorProto.FLOAT, [4, 4], [0.0] * 16)
    weight.ClearField("float_data")
    weight.data_location = TensorProto.EXTERNAL
    entry = weight.external_data.add()
    entry.key, entry.value = "location", "../../../../etc/passwd"
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])], "g", [x], [y], [weight]
    )
    return bytes(helper.make_model(graph, producer_name="openward-samples").SerializeToString())


# ---------------------------------------------------------------------------
# HDF5
# ---------------------------------------------------------------------------


def hdf5_with_userblock(
    attrs: dict[str, str], userblock: bytes, userblock_size: int = 512
) -> bytes | None:
    """An HDF5 file (written by h5py) whose user block holds ``userblock``."""
    try:
        import h5py
    except ImportError:
        return None
    assert len(userblock) <= userblock_size
    buf = io.BytesIO()
    with h5py.File(buf, "w", userblock_size=userblock_size) as f:
        for key, value in attrs.items():
            f.attrs[key] = value
    data = bytearray(buf.getvalue())
    data[: len(userblock)] = userblock
    return bytes(data)


def _keras_h5_attrs(layers: list[dict[str, Any]]) -> dict[str, str]:
    return {
        "keras_version": "2.15.0",
        "backend": "tensorflow",
        "model_config": json.dumps(_keras_model(layers)),
    }


_EXTERNAL_LAYER: Final[dict[str, Any]] = {
    "module": "os",
    "class_name": "system",
    "config": {},
    "registered_name": None,
}


# ---------------------------------------------------------------------------
# TFLite with metadata
# ---------------------------------------------------------------------------

# A FlatBuffers value: ("u8"|"u32", int), ("str", str), ("bytes", bytes),
# ("table", Fields), ("tables", [Fields]); a table is a list of slots.
FbValue = tuple[str, Any]
Fields = list[FbValue | None]


class _ForwardBuilder:
    """A FlatBuffers writer that lays objects out front to back (parents before
    children, so every offset points forward), enough for test models."""

    def __init__(self, identifier: bytes) -> None:
        self.buf = bytearray(8)
        self.buf[4:8] = identifier

    def finish(self, root: Fields) -> bytes:
        pos = self._table(root)
        struct.pack_into("<I", self.buf, 0, pos)
        return bytes(self.buf)

    def _align(self, n: int) -> None:
        self.buf += bytes(-len(self.buf) % n)

    def _table(self, slots: Fields) -> int:
        layout: list[tuple[int, int, FbValue]] = []
        size = 4
        for i, slot in enumerate(slots):
            if slot is None:
                continue
            width = 1 if slot[0] == "u8" else 4
            size += -size % width
            layout.append((i, size, slot))
            size += width
        size += -size % 4
        self._align(2)
        vtable = len(self.buf)
        offsets = [0] * len(slots)
        for i, at, _ in layout:
            offsets[i] = at
        self.buf += struct.pack(f"<HH{len(slots)}H", 4 + 2 * len(slots), size, *offsets)
        self._align(4)
        table = len(self.buf)
        self.buf += bytes(size)
        struct.pack_into("<i", self.buf, table, table - vtable)
        for _, at, (kind, value) in layout:
            if kind == "u8":
                self.buf[table + at] = value
            elif kind == "u32":
                struct.pack_into("<I", self.buf, table + at, value)
        for _, at, (kind, value) in layout:
            if kind not in ("u8", "u32"):
                child = self._child(kind, value)
                struct.pack_into("<I", self.buf, table + at, child - (table + at))
        return table

    def _child(self, kind: str, value: Any) -> int:
        self._align(4)
        pos = len(self.buf)
        if kind in ("str", "bytes"):
            raw = value.encode() if kind == "str" else value
            self.buf += struct.pack("<I", len(raw)) + raw + (b"\0" if kind == "str" else b"")
            return pos
        if kind == "table":
            return self._table(value)
        assert kind == "tables"
        self.buf += struct.pack("<I", len(value)) + bytes(4 * len(value))
        for i, item in enumerate(value):
            slot = pos + 4 + 4 * i
            struct.pack_into("<I", self.buf, slot, self._table(item) - slot)
        return pos


def _files(*names: str) -> FbValue:
    return ("tables", [[("str", n), None, ("u8", 2)] for n in names])  # AssociatedFile


def tflite_with_metadata(
    recorded: list[str],
    packed: dict[str, bytes],
    *,
    compression: int = zipfile.ZIP_STORED,
) -> bytes:
    """A TFLite model with ``TFLITE_METADATA`` recording ``recorded`` as the
    output tensor's associated files, with ``packed`` appended the way
    tflite_support's MetadataPopulator does it (``zipfile`` in append mode)."""
    tensor: Fields = [("str", "probability"), None, None, None, None, None, _files(*recorded)]
    subgraph: Fields = [("str", "classifier"), None, None, ("tables", [tensor])]
    metadata: Fields = [("str", "classifier"), None, ("str", "1")]
    metadata += [("tables", [subgraph]), None, None, None, ("str", "1.0.0")]
    meta_bytes = _ForwardBuilder(b"M001").finish(metadata)
    model: Fields = [
        ("u32", 3),
        ("tables", []),  # operator codes
        ("tables", []),  # subgraphs
        ("str", "openward sample"),
        ("tables", [[], [("bytes", meta_bytes)]]),  # buffers: the empty 0th, the metadata
        None,
        ("tables", [[("str", "min_runtime_version"), ("u32", 0)],
                    [("str", "TFLITE_METADATA"), ("u32", 1)]]),
    ]  # fmt: skip
    buf = io.BytesIO(_ForwardBuilder(b"TFL3").finish(model))
    if packed:
        with zipfile.ZipFile(buf, "a", compression=compression) as z:
            for name, data in packed.items():
                z.writestr(name, data)
    return buf.getvalue()


# ---------------------------------------------------------------------------
# compressed joblib files
# ---------------------------------------------------------------------------


def _bz2_after_empty_stream(data: bytes) -> bytes:
    """An empty bzip2 stream, then ``data`` compressed: one file to bz2 readers."""
    import bz2

    return bz2.compress(b"") + bz2.compress(data)


def _lzma_alone(data: bytes, dict_size: int) -> bytes:
    filters = [{"id": lzma.FILTER_LZMA1, "dict_size": dict_size}]
    return lzma.compress(data, format=lzma.FORMAT_ALONE, filters=filters)


def _joblib_zfile(data: bytes) -> bytes:
    """joblib's pre-0.10 "ZF" format, its length written with leading spaces
    (joblib parses it with ``int(..., 16)``)."""
    import zlib

    length = f"{len(data):#x}".rjust(19).encode()
    return b"ZF" + length + zlib.compress(data)


# ---------------------------------------------------------------------------
# the samples
# ---------------------------------------------------------------------------


def malicious(add: Callable[..., None], touch: Callable[[str], str]) -> None:
    _tar_samples(add, touch)
    _hdf5_samples(add)
    _protobuf_samples(add)
    _container_samples(add, touch)
    _safetensors_samples(add, touch)
    _compressed_samples(add, touch)
    _tflite_samples(add, touch)


def _tar_samples(add: Callable[..., None], touch: Callable[[str], str]) -> None:
    tag = "detect-text-tar"
    storages = b"cos\nsystem\n(S'" + touch(tag).encode() + b"'\ntR."
    add(
        "detection/text_tar/pytorch_model.bin",
        text_tar({"storages": storages}, tail=b"# model card follows\n"),
        tag,
        "a UTF-8 text file that tarfile opens too (signed checksums, pax names): "
        "torch.load takes the legacy tar path and unpickles 'storages'",
        "pickle-dangerous-global",
        loader="torch",
        marker=tag,
    )
    add(
        "detection/json_tar/config.json",
        _json_tar("../../../tmp/openward-evil", b"owned"),
        "detect-json-tar",
        "a valid JSON document that is also a tar whose member climbs out of the "
        "extraction directory",
        "archive-path-traversal",
        "high",
    )


def _hdf5_samples(add: Callable[..., None]) -> None:
    attrs = _keras_h5_attrs([_DENSE, _EXTERNAL_LAYER])
    text = b"Model exported by a tool that writes a text user block.\n" * 18
    data = hdf5_with_userblock(attrs, text[:1024], 1024)
    if data is None:
        return
    add(
        "detection/hdf5_userblock/model.h5",
        data,
        "detect-hdf5-userblock",
        "a legacy Keras .h5 behind a 1024-byte text user block (h5py finds the "
        "superblock at 1024) naming os.system",
        "keras-external-reference",
        "high",
    )
    first = _dumps({"note": "weights follow"}, 2)
    after_pickle = hdf5_with_userblock(attrs, first, 512)
    assert after_pickle is not None
    add(
        "detection/hdf5_after_pickle/model.h5",
        after_pickle,
        "detect-hdf5-after-pickle",
        "a pickle in the user block of a Keras .h5: detected as a pickle, the HDF5 "
        "view names os.system",
        "keras-external-reference",
        "high",
    )


def _protobuf_samples(add: Callable[..., None]) -> None:
    model = onnx_external_escape()
    if model is not None:
        add(
            "detection/onnx_reordered/model.onnx",
            reencode_protobuf(model, prefix=_unknown_group()),
            "detect-onnx-reordered",
            "ONNX with its fields reversed, every varint over-long and an unknown group "
            "first; external data at ../../../../etc/passwd",
            "onnx-external-data-escape",
            "high",
        )
        add(
            "detection/onnx_zlib_header/model.onnx",
            b"\x08\x1d" + model,  # ir_version 29, overridden by the later one; a zlib header
            "detect-onnx-zlib-header",
            "ONNX whose first two bytes pass a zlib header check",
            "onnx-external-data-escape",
            "high",
        )
        add(
            "detection/onnx_pickle_header/model.onnx",
            b"\x80\x02\x00" + model,  # unknown field 32 (over-long tag 0x80 0x02) = 0
            "detect-onnx-pickle-header",
            "ONNX that opens with the bytes of a protocol-2 pickle header",
            "onnx-external-data-escape",
            "high",
        )
    saved = saved_model_bytes(["Placeholder", "ReadFile", "Identity"], function_ops=["WriteFile"])
    add(
        "detection/saved_model_reordered/saved_model.pb",
        reencode_protobuf(saved, prefix=_unknown_group()),
        "detect-saved-model-reordered",
        "a SavedModel with meta_graphs before the schema version, over-long varints "
        "and an unknown group; the graph reads and writes files",
        "tf-dangerous-op",
        "high",
    )


def _evil_torch_zip(touch: Callable[[str], str], tag: str) -> bytes:
    return _build_zip(_torch_entries(_system(touch(tag))))


def _container_samples(add: Callable[..., None], touch: Callable[[str], str]) -> None:
    benign_tar = _tar({"README.md": b"# weights\n", "weights.txt": b"0.1 0.2\n"})
    add(
        "detection/tar_with_zip/model.tar",
        benign_tar + _evil_torch_zip(touch, "detect-tar-zip"),
        "detect-tar-with-zip",
        "a tar archive with a PyTorch zip checkpoint appended (zip readers find it from the end)",
        "pickle-dangerous-global",
    )
    import gzip

    add(
        "detection/gzip_with_zip/model.gz",
        gzip.compress(b"plain weights") + _evil_torch_zip(touch, "detect-gzip-zip"),
        "detect-gzip-with-zip",
        "a gzip stream with a PyTorch zip checkpoint appended",
        "pickle-dangerous-global",
    )


def _safetensors_samples(add: Callable[..., None], touch: Callable[[str], str]) -> None:
    header = b'{"__metadata__": {"format": "pt"}, "w": {"dtype": "F32", "shape": [1], '
    header += b'"data_offsets": [0, 4]}}'
    add(
        "detection/safetensors_absurd_length/model.safetensors",
        struct.pack("<Q", 1 << 40) + header + bytes(4),
        "detect-safetensors-absurd-length",
        "a safetensors header whose length field is larger than the file",
        "safetensors-malformed",
        "medium",
    )
    evil = _system(touch("detect-safetensors-space"), 2)
    valid = _safetensors_bytes({"w": ("F32", [1], bytes(4)), "u": ("U8", [len(evil)], evil)})
    (n,) = struct.unpack("<Q", valid[:8])
    spaced = struct.pack("<Q", n + 8) + b"\n" * 8 + valid[8:]
    add(
        "detection/safetensors_leading_space/model.safetensors",
        spaced,
        "detect-safetensors-leading-space",
        "a safetensors header that starts with whitespace (the loader accepts it) "
        "and a U8 tensor that is a pickle",
        "safetensors-embedded-payload",
        "high",
    )


def _compressed_samples(add: Callable[..., None], touch: Callable[[str], str]) -> None:
    tag = "detect-bz2-empty-stream"
    add(
        "detection/joblib/bz2_empty_first_stream.joblib",
        _bz2_after_empty_stream(_system(touch(tag), 2)),
        tag,
        "bzip2 whose first stream is empty (joblib picks bz2 by 'BZh' and reads every stream)",
        "pickle-dangerous-global",
        loader="joblib",
        marker=tag,
    )
    tag = "detect-lzma-dict-size"
    add(
        "detection/joblib/lzma_dict_3x2n.joblib",
        _lzma_alone(_system(touch(tag), 2), 3 << 15),
        tag,
        "an .lzma stream with a 96 KiB (2^16 + 2^15) dictionary, which liblzma accepts",
        "pickle-dangerous-global",
        loader="joblib",
        marker=tag,
    )
    tag = "detect-zfile-length"
    add(
        "detection/joblib/zfile_spaced_length.joblib",
        _joblib_zfile(_system(touch(tag), 2)),
        tag,
        "joblib's old 'ZF' format with its hex length right-aligned in spaces",
        "pickle-dangerous-global",
        loader="joblib",
        marker=tag,
    )


def _tflite_samples(add: Callable[..., None], touch: Callable[[str], str]) -> None:
    evil = _system(touch("detect-tflite-zip"), 2)
    add(
        "detection/tflite_unlisted_member/model.tflite",
        tflite_with_metadata(
            ["labels.txt"], {"labels.txt": b"background\nperson\n", "model.pkl": evil}
        ),
        "detect-tflite-unlisted-member",
        "a TFLite model whose appended zip holds a file its metadata does not record",
        "pickle-dangerous-global",
    )
    add(
        "detection/tflite_pickle_labels/model.tflite",
        tflite_with_metadata(["labels.txt"], {"labels.txt": evil}),
        "detect-tflite-pickle-labels",
        "TFLite metadata laid out as tflite_support writes it, its labels.txt a pickle",
        "pickle-dangerous-global",
    )


def benign(add: Callable[[str, bytes, str, str], None]) -> None:
    add(
        "detection/tflite_metadata/model.tflite",
        tflite_with_metadata(["labels.txt"], {"labels.txt": b"background\nperson\n"}),
        "tflite-metadata",
        "a TFLite model with metadata and its labels.txt appended as tflite_support does",
    )
    add(
        "detection/tflite_metadata_deflated/model.tflite",
        tflite_with_metadata(
            ["vocab.txt", "labels.txt"],
            {"vocab.txt": b"[PAD]\n[UNK]\nhello\n" * 20, "labels.txt": b"neg\npos\n"},
            compression=zipfile.ZIP_DEFLATED,
        ),
        "tflite-metadata-deflated",
        "TFLite metadata files deflated, as tflite_support's C++ populator (miniz) writes them",
    )
    h5 = hdf5_with_userblock({"note": "plain HDF5"}, b"", 512)
    if h5 is not None:
        add(
            "detection/hdf5_userblock/data.h5",
            h5,
            "hdf5-userblock",
            "an HDF5 file with a 512-byte user block of zeros",
        )
        add(
            "detection/tar_of_h5/bundle.tar",
            _tar({"model.h5": h5, "README.md": b"# bundle\n"}),
            "tar-of-hdf5",
            "a tar whose first member, an HDF5 file, starts at byte 512 (a user-block offset)",
        )
    add(
        "detection/tar_of_zip/bundle.tar",
        _tar({"README.md": b"# bundle\n", "weights.npz": _build_zip([("w.npy", b"x" * 64)])}),
        "tar-of-zip",
        "a tar whose last member is a zip: its end record is the member's, not a polyglot",
    )
    add(
        "detection/indented/list.json",
        b'[\n      {"name": "a", "value": 1}\n]\n',
        "json-indented",
        "a JSON list whose first object starts at byte 8, where a safetensors header would",
    )
    add(
        "detection/protobuf/sentencepiece_like.model",
        b"\n\x0b\n\x05<unk>\x15\x00\x00\x00\x00\x18\x02" * 3,
        "protobuf-not-onnx",
        "a protobuf that is neither ONNX nor a SavedModel (SentencePiece-like pieces)",
    )
