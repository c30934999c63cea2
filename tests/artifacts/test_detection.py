"""Formats come from content, never from names, and as the loaders read it.

Every lenient reading a loader applies (tarfile's checksums, HDF5 user
blocks, protobuf field order and over-long varints, liblzma's header rules,
joblib's length parsing, safetensors' whitespace) is tested against the real
parser on generated inputs.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import pickle
import struct
import tarfile
import time
import zipfile
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openward.artifacts.blob import Blob
from openward.artifacts.detection import (
    MAX_TAR_EXTENSION,
    Format,
    _is_joblib_zfile,
    _is_lzma_alone,
    detect_format,
    hdf5_superblock_offset,
    looks_like_onnx,
    looks_like_saved_model,
    looks_like_tar,
)
from openward.artifacts.errors import ArtifactFormatError
from openward.artifacts.protobuf_wire import fields
from openward.scanning.context import ScanContext
from openward.scanning.interface import ScanLimits


def _tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("x")
        info.size = 1
        t.addfile(info, io.BytesIO(b"x"))
    return buf.getvalue()


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("x", b"x")
    return buf.getvalue()


CASES = [
    (pickle.dumps({"a": 1}, protocol=2), Format.PICKLE),
    (pickle.dumps({"a": 1}, protocol=5), Format.PICKLE),
    (pickle.dumps({"a": 1}, protocol=0), Format.PICKLE_CANDIDATE),
    (_zip(), Format.ZIP),
    (_tar(), Format.TAR),
    (gzip.compress(b"x"), Format.GZIP),
    (bz2.compress(b"x"), Format.BZIP2),
    (lzma.compress(b"x"), Format.XZ),
    (lzma.compress(b"x", format=lzma.FORMAT_ALONE), Format.LZMA),
    (zlib.compress(b"x" * 100), Format.ZLIB),
    (b"\x93NUMPY\x01\x00" + bytes(10), Format.NUMPY),
    (b"GGUF\x03\x00\x00\x00" + bytes(16), Format.GGUF),
    (b"\x89HDF\r\n\x1a\n" + bytes(8), Format.HDF5),
    ((2).to_bytes(8, "little") + b"{}", Format.SAFETENSORS),
    (b'{"a": 1}', Format.JSON),
    (b"# Model card\n", Format.TEXT),
    (b"\x00\x01\x02\x03", Format.UNKNOWN),
    (b"", Format.EMPTY),
    (
        pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2),
        Format.TORCH_LEGACY,
    ),
]


@pytest.mark.parametrize(
    ("data", "expected"), CASES, ids=[c[1] + str(i) for i, c in enumerate(CASES)]
)
def test_detected_from_content(data: bytes, expected: str) -> None:
    assert detect_format(Blob.of(data)) == expected


# ---------------------------------------------------------------------------
# Detection accepts what the loaders accept: differential tests against the
# real parsers (tarfile, h5py, onnx/protobuf, liblzma, joblib, safetensors).
# ---------------------------------------------------------------------------


_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _tarfile_opens(data: bytes) -> bool:
    """What torch.load's first step decides: tarfile opens it with a member."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
            return tf.next() is not None
    except Exception:
        return False


def _octal(n: int, width: int, style: int) -> bytes:
    digits = f"{n:o}"
    text = [
        digits.rjust(width - 1, "0") + "\0",  # what tar writes
        digits.rjust(width - 1, "0") + " ",  # old tars end with a space
        " " * (width - 1 - len(digits)) + digits + " ",  # right-aligned, no zeros
        ("0o" + digits).ljust(width, "\0"),  # Python's int() takes a prefix
        ("+" + digits).ljust(width, " "),
        (digits[:1] + "_" + digits[1:] if len(digits) > 1 else digits).ljust(width, "\0"),
        digits.rjust(width - 1, "0") + "\0",
    ][style]
    raw = text.encode()[:width]
    return raw.ljust(width, b"\0")


def _base256(n: int, width: int) -> bytes:
    if n < 0:
        return b"\xff" + (256 ** (width - 1) + n).to_bytes(width - 1, "big")
    return b"\x80" + n.to_bytes(width - 1, "big")


@st.composite
def tar_headers(draw: st.DrawFn) -> bytes:
    """512-byte headers near the edge of what tarfile accepts, plus what follows."""
    h = bytearray(draw(st.binary(min_size=512, max_size=512)))
    if draw(st.booleans()):
        name = draw(st.binary(min_size=1, max_size=99))
        h[0:100] = name.ljust(100, b"\0")
    for start, width in ((100, 8), (108, 8), (116, 8), (124, 12), (136, 12), (329, 8), (337, 8)):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            value = draw(st.integers(0, 8 ** (width - 2)))
            h[start : start + width] = _octal(value, width, draw(st.integers(0, 6)))
        elif kind == 1:
            value = draw(
                st.integers(-(256 ** (width - 2)), 256 ** (width - 2))
                | st.integers(MAX_TAR_EXTENSION - 2, MAX_TAR_EXTENSION + 2)
            )
            h[start : start + width] = _base256(value, width)
    h[156:157] = draw(
        st.sampled_from([b"0", b"\0", b"5", b"2", b"L", b"K", b"x", b"g", b"S", b"X", b"Z"])
    )
    if draw(st.booleans()):
        h[257:263] = draw(st.sampled_from([b"ustar\0", b"ustar ", b"      "]))
    if draw(st.booleans()):
        h[345:500] = bytes(155)
    h[148:156] = b" " * 8
    counted = h[:148] + h[156:]
    unsigned = 256 + sum(counted)
    signed = 256 + sum(b - 256 if b >= 128 else b for b in counted)
    checksum = draw(
        st.sampled_from([unsigned, signed, unsigned + 1, signed - 1, 0, draw(st.integers(0, 8**7))])
    )
    style = draw(st.integers(0, 7))
    h[148:156] = _base256(checksum, 8) if style == 7 else _octal(checksum, 8, style)
    follow = draw(
        st.sampled_from(
            [
                b"",
                bytes(1024),
                b"30 path=storages/model.pkl\n".ljust(512, b"\0") + _tar_block(),
                b"model.pkl".ljust(512, b"\0") + _tar_block(),
                b"\x00" * 100,
            ]
        )
    )
    return bytes(h) + follow + draw(st.binary(max_size=64))


def _tar_block() -> bytes:
    info = tarfile.TarInfo("member")
    info.size = 0
    return info.tobuf(tarfile.GNU_FORMAT)


@_SETTINGS
@given(tar_headers())
def test_tar_recognition_agrees_with_tarfile(data: bytes) -> None:
    assert looks_like_tar(Blob.of(data)) == _tarfile_opens(data)


def test_tar_recognition_takes_what_tarfile_takes() -> None:
    """The cases the old check got wrong, each in both directions."""
    good = bytearray(_tar()[:512])
    # A signed checksum (old Sun tars) over a header with high bytes.
    signed = bytearray(good)
    signed[0:3] = "é.".encode()
    signed[148:156] = b" " * 8
    total = 256 + sum(b - 256 if b >= 128 else b for b in signed[:148] + signed[156:])
    signed[148:156] = f"{total:06o}\0 ".encode()
    # A checksum field with text after its NUL, and one in base 256.
    after_nul = bytearray(good)
    after_nul[148:156] = (
        good[148:155].rstrip(b" \0") + b"\0" + b"x" * (8 - len(good[148:155].rstrip(b" \0")) - 1)
    )
    base256 = bytearray(good)
    base256[148:156] = _base256(int(good[148:155].strip(b" \0"), 8), 8)
    # "ustar" with a wrong checksum is not a tar to tarfile.
    bad_magic_only = bytearray(good)
    bad_magic_only[148:156] = b"0000000\0"
    # A GNU sparse header announcing more than MAX_TAR_EXTENSION: tarfile does
    # not read sparse data at open, so it opens.
    sparse = bytearray(good)
    sparse[156:157] = b"S"
    sparse[124:136] = _base256(MAX_TAR_EXTENSION + 1, 12)
    sparse[148:156] = b" " * 8
    sparse[148:156] = _octal(256 + sum(sparse[:148] + sparse[156:]), 8, 0)
    for block, expected in (
        (signed, True),
        (after_nul, True),
        (base256, True),
        (bad_magic_only, False),
        (bytes(512), False),
        (sparse, True),
    ):
        data = bytes(block) + bytes(1024)
        assert _tarfile_opens(data) == expected
        assert looks_like_tar(Blob.of(data)) == expected
        assert looks_like_tar(Blob.of(bytes(block))) == _tarfile_opens(bytes(block))


def test_text_that_is_also_a_tar_is_labelled_text() -> None:
    from openward._zoo.detection import text_tar

    data = text_tar({"storages": b"cos\nsystem\n(S'true'\ntR."}, tail=b"# notes\n")
    assert data.decode("utf-8") and _tarfile_opens(data)
    assert looks_like_tar(Blob.of(data))
    assert detect_format(Blob.of(data)) == Format.TEXT  # the tar view is scanned as a polyglot


# -- HDF5 ---------------------------------------------------------------------


def _h5py_opens(data: bytes) -> bool:
    import h5py

    try:
        with h5py.File(io.BytesIO(data), "r"):
            return True
    except OSError:
        return False


@settings(max_examples=40, deadline=None)
@given(
    prefix=st.one_of(st.sampled_from([0, 512, 1024, 2048, 4096, 8192]), st.integers(1, 5000)),
    fill=st.binary(min_size=1, max_size=16),
    userblock=st.sampled_from([0, 512, 2048]),
)
def test_hdf5_found_wherever_h5py_finds_it(prefix: int, fill: bytes, userblock: int) -> None:
    """A user block (or any prefix) moves the superblock: h5py opens the file when
    the signature sits at 0 or a power of two from 512, and so must detection."""
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w", userblock_size=userblock) as f:
        f.attrs["model_config"] = "{}"
    data = (fill * prefix)[:prefix] + buf.getvalue()
    opens = _h5py_opens(data)
    found = hdf5_superblock_offset(Blob.of(data))
    assert (found is not None) == opens
    if opens and prefix in (0, 512, 1024) and fill.strip(b"\0") == b"":
        assert detect_format(Blob.of(data)) == Format.HDF5


# -- protobuf --------------------------------------------------------------------


def _varint(value: int, width: int = 0) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value or len(out) + 1 < width:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


@st.composite
def wire_messages(draw: st.DrawFn, depth: int = 0) -> bytes:
    """Protobuf wire data with over-long varints, groups and any field numbers,
    sometimes broken on purpose."""
    out = b""
    for _ in range(draw(st.integers(0, 5))):
        number = draw(st.one_of(st.integers(1, 40), st.integers(0, 2**29 + 3)))
        wire = draw(
            st.sampled_from([0, 1, 2, 3, 5] + ([4, 6, 7] if draw(st.integers(0, 9)) == 0 else []))
        )
        width = draw(st.integers(0, 7))
        out += _varint(number << 3 | wire, width)
        if wire == 0:
            out += _varint(draw(st.integers(0, 2**70)), draw(st.integers(0, 11)))
        elif wire == 1:
            out += draw(st.binary(min_size=8, max_size=8))
        elif wire == 5:
            out += draw(st.binary(min_size=4, max_size=4))
        elif wire == 2:
            payload = draw(st.binary(max_size=12))
            length = len(payload) + draw(st.sampled_from([0, 0, 0, 1, -1]))
            out += _varint(max(length, 0), width) + payload
        elif wire == 3 and depth < 3:
            inner = draw(wire_messages(depth=depth + 1))
            end = number if draw(st.integers(0, 9)) else number + 1
            out += inner + _varint(end << 3 | 4, width)
    if draw(st.integers(0, 9)) == 0:
        out += draw(st.binary(max_size=4))
    return out


def _opaque_message() -> type:
    """A protobuf message whose only field no sample uses: everything parses as
    unknown fields, so success means well-formed wire data. (upb's ``Empty``
    has a fast path that lets a field number 0 through; real messages do not.)"""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    f = descriptor_pb2.FileDescriptorProto(name="openward_opaque.proto", package="owtest")
    m = f.message_type.add(name="Opaque")
    m.field.add(name="x", number=2**29 - 1, label=1, type=12)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("owtest.Opaque"))


_OPAQUE = _opaque_message()


def _upb_accepts(data: bytes) -> bool:
    from google.protobuf.message import DecodeError

    try:
        _OPAQUE().ParseFromString(data)
    except DecodeError:
        return False
    return True


def _walks(data: bytes) -> bool:
    try:
        list(fields(Blob.of(data)))
    except ArtifactFormatError:
        return False
    return True


@_SETTINGS
@given(st.one_of(wire_messages(), st.binary(max_size=40)))
def test_wire_reader_accepts_what_protobuf_accepts(data: bytes) -> None:
    assert _walks(data) == _upb_accepts(data)


def test_wire_reader_group_depth_matches_protobuf() -> None:
    for depth in (98, 99, 100, 101):
        data = b"\x0b" * depth + b"\x0c" * depth
        assert _walks(data) == _upb_accepts(data), depth


def _onnx_model() -> bytes:
    from openward._zoo.detection import onnx_external_escape

    model = onnx_external_escape()
    assert model is not None
    return model


@settings(max_examples=60, deadline=None)
@given(
    order=st.permutations(range(8)),
    width=st.integers(1, 10),
    prefix=st.sampled_from([b"", b"\x80\x02\x00", b"\x08\x1d", b"\xfb\x3e\x08\x01\xfc\x3e"]),
)
def test_onnx_recognised_in_any_field_order(order: list[int], width: int, prefix: bytes) -> None:
    """Fields in any order, tags and lengths over-long, unknown fields first:
    onnx parses it to the same model, and detection sees ONNX."""
    import onnx

    from openward._zoo.detection import overlong_varint

    original = _onnx_model()
    parts = []
    for number, wire, value in fields(Blob.of(original)):
        key = overlong_varint(number << 3 | wire, min(5, max(width, 1)))
        if isinstance(value, tuple):
            payload = original[value[0] : value[1]]
            n = min(5, max(width, len(_varint(len(payload)))))
            parts.append(key + overlong_varint(len(payload), n) + payload)
        else:
            parts.append(key + overlong_varint(value, max(width, len(_varint(value)))))
    shuffled = [parts[i] for i in order if i < len(parts)] + parts[8:]
    data = prefix + b"".join(shuffled)
    parsed = onnx.load_model_from_string(data)
    reference = onnx.load_model_from_string(original)
    assert parsed.graph == reference.graph and parsed.ir_version == reference.ir_version
    assert looks_like_onnx(Blob.of(data))
    # ... and analysed: the escaping external data is reported, in whichever view.
    ctx = ScanContext("m.onnx", ScanLimits(), frozenset(), time.monotonic() + 60)
    ctx.scan(Blob.of(data), (), "m.onnx")
    assert "onnx-external-data-escape" in {f.rule_id for f in ctx.findings}


def test_onnx_detected_structurally_not_by_prefix() -> None:
    from openward._zoo.detection import reencode_protobuf

    model = _onnx_model()
    reordered = reencode_protobuf(model)
    assert reordered[0] != 0x08
    assert detect_format(Blob.of(reordered)) == Format.ONNX
    # Two bytes that pass a zlib header check, then the model: still ONNX.
    assert detect_format(Blob.of(b"\x08\x1d" + model)) == Format.ONNX


@_SETTINGS
@given(st.binary(min_size=1, max_size=256))
def test_bytes_starting_like_onnx_need_its_structure(tail: bytes) -> None:
    """0x08 opens many binary files: only a whole protobuf with a graph is ONNX."""
    data = b"\x08" + tail
    if looks_like_onnx(Blob.of(data)):
        assert _upb_accepts(data)
        assert any(n == 7 and w == 2 for n, w, _ in fields(Blob.of(data)))


def _saved_model_classes() -> type:
    """SavedModel, MetaGraphDef, GraphDef and NodeDef as TensorFlow declares them
    (the fields that matter), built with protobuf itself: a real parser."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    f = descriptor_pb2.FileDescriptorProto(name="openward_sm.proto", package="owtest")
    label_rep = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
    label_opt = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
    t_msg = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
    t_str = descriptor_pb2.FieldDescriptorProto.TYPE_STRING
    t_int = descriptor_pb2.FieldDescriptorProto.TYPE_INT64

    def message(name: str, *spec: tuple[str, int, int, int, str]) -> None:
        m = f.message_type.add(name=name)
        for fname, number, label, ftype, tname in spec:
            fd = m.field.add(name=fname, number=number, label=label, type=ftype)
            if tname:
                fd.type_name = tname

    message("NodeDef", ("name", 1, label_opt, t_str, ""), ("op", 2, label_opt, t_str, ""))
    message("GraphDef", ("node", 1, label_rep, t_msg, ".owtest.NodeDef"))
    message("MetaGraphDef", ("graph_def", 2, label_opt, t_msg, ".owtest.GraphDef"))
    message(
        "SavedModel",
        ("saved_model_schema_version", 1, label_opt, t_int, ""),
        ("meta_graphs", 2, label_rep, t_msg, ".owtest.MetaGraphDef"),
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("owtest.SavedModel"))


@settings(max_examples=30, deadline=None)
@given(width=st.integers(2, 5), reverse=st.booleans())
def test_saved_model_recognised_in_any_field_order(width: int, reverse: bool) -> None:
    from openward._samples import saved_model_bytes
    from openward._zoo.detection import reencode_protobuf

    original = saved_model_bytes(["Placeholder", "WriteFile"])
    data = reencode_protobuf(
        original, reverse=reverse, width=min(max(width, 2), 5), prefix=b"\xfb\x3e\xfc\x3e"
    )
    cls = _saved_model_classes()
    parsed = cls()
    parsed.ParseFromString(data)
    assert [n.op for n in parsed.meta_graphs[0].graph_def.node] == ["Placeholder", "WriteFile"]
    assert parsed.saved_model_schema_version == 1
    assert looks_like_saved_model(Blob.of(data))
    assert detect_format(Blob.of(data)) == Format.TF_SAVED_MODEL


# -- safetensors -------------------------------------------------------------------


@pytest.mark.parametrize("space", [b"", b" ", b"\n", b"\t\r\n  "])
def test_safetensors_with_leading_whitespace_is_safetensors(space: bytes) -> None:
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    header = space + b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    data = struct.pack("<Q", len(header)) + header + bytes(4)
    assert list(safetensors_numpy.load(data)) == ["w"]  # the loader takes it
    assert detect_format(Blob.of(data)) == Format.SAFETENSORS


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # An absurd length before a safetensors-like header: a broken safetensors file.
        (struct.pack("<Q", 1 << 40) + b'{"w": {"dtype": "F32"}}', Format.SAFETENSORS),
        (struct.pack("<Q", 2**64 - 1) + b' { "__metadata__" : {}}', Format.SAFETENSORS),
        (struct.pack("<Q", 3) + b'{"w": {"dtype": "F32"}}' + bytes(64), Format.SAFETENSORS),
        # A JSON list indented by eight characters is JSON.
        (b'[\n      {"name": "a"}]\n', Format.JSON),
        # A brace at byte 8 of binary data is not enough.
        (struct.pack("<Q", 1 << 40) + b"{\x01\x02\x03" + bytes(32), Format.UNKNOWN),
        (struct.pack("<Q", 1 << 40) + b"{}" + bytes(32), Format.UNKNOWN),
    ],
)
def test_safetensors_header_recognised_by_content(data: bytes, expected: str) -> None:
    assert detect_format(Blob.of(data)) == expected


# -- compressed streams and joblib's old format ------------------------------------


def test_bzip2_with_an_empty_first_stream() -> None:
    import bz2

    data = bz2.compress(b"") + bz2.compress(b"payload")
    assert bz2.decompress(data) == b"payload"
    assert detect_format(Blob.of(data)) == Format.BZIP2


def _liblzma_accepts_header(header: bytes) -> bool:
    try:
        lzma.LZMADecompressor(lzma.FORMAT_AUTO).decompress(header + bytes(32))
    except lzma.LZMAError as exc:
        return "format" not in str(exc).lower()
    return True


@_SETTINGS
@given(
    props=st.one_of(st.just(0x5D), st.integers(0, 255)),
    dict_size=st.one_of(
        st.integers(0, 2**32 - 1),
        st.integers(0, 31).map(lambda n: 1 << n),
        st.integers(1, 31).map(lambda n: (1 << n) + (1 << (n - 1))),
        st.just(0xFFFFFFFF),
    ),
    usize=st.one_of(st.integers(0, 2**64 - 1), st.integers(0, 1 << 39), st.just(2**64 - 1)),
)
def test_lzma_alone_header_as_liblzma_reads_it(props: int, dict_size: int, usize: int) -> None:
    """Agreement for the properties byte joblib and every writer use (0x5D);
    others, valid to liblzma, are not taken (runs of zeros would be)."""
    header = bytes([props]) + struct.pack("<IQ", dict_size, usize)
    if props == 0x5D:
        assert _is_lzma_alone(header) == _liblzma_accepts_header(header)
    else:
        assert not _is_lzma_alone(header)


@_SETTINGS
@given(st.binary(min_size=19, max_size=19) | st.from_regex(rb"\A[ +\-0-9a-fA-FxX_]{19}\Z"))
def test_joblib_zfile_length_parsed_as_joblib_parses_it(length: bytes) -> None:
    try:
        joblib_reads = int(length, 16) >= 0
    except ValueError:
        joblib_reads = False
    assert _is_joblib_zfile(b"ZF" + length + b"x\x9c") == joblib_reads


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_legacy_torch_magic_in_every_pickle_protocol(protocol: int) -> None:
    torch = pytest.importorskip("torch")
    buf = io.BytesIO()
    torch.save(
        {"w": torch.zeros(3)}, buf, _use_new_zipfile_serialization=False, pickle_protocol=protocol
    )
    assert detect_format(Blob.of(buf.getvalue())) == Format.TORCH_LEGACY
