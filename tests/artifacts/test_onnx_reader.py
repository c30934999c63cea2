"""openward's ONNX reader against the ``onnx`` package, the oracle.

Models are generated with ``onnx``'s own classes (random graphs, every kind of
attribute, nested subgraphs, external data, sparse tensors, functions,
training graphs), serialized, and read by both: the reader must see exactly
what ``onnx`` parses. Byte-level variations that protobuf allows (a message
split in two and merged, unknown fields, fields of the wrong wire type,
groups, packed and unpacked repeats) must not change what is read, and
random or damaged bytes must only ever raise the readers' typed errors.
"""

from __future__ import annotations

import contextlib
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openward.artifacts.blob import Blob
from openward.artifacts.errors import ArtifactFormatError, ArtifactLimitError
from openward.artifacts.onnx import (
    MAX_ONNX_DEPTH,
    OnnxAttribute,
    OnnxGraph,
    OnnxModel,
    OnnxNode,
    OnnxSparseTensor,
    OnnxTensor,
    read_onnx_model,
)

onnx = pytest.importorskip("onnx")
from onnx import (  # noqa: E402
    AttributeProto,
    FunctionProto,
    GraphProto,
    ModelProto,
    NodeProto,
    SparseTensorProto,
    TensorProto,
)

# -- the oracle's view, in the reader's shape ---------------------------------------


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _s(value: str | bytes) -> str:
    """protobuf hands back bytes for a proto2 string that is not UTF-8."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _exp_tensor(t: TensorProto) -> tuple[Any, ...]:
    return (
        _s(t.name), tuple(t.dims), t.data_type, t.data_location,
        tuple((_s(e.key), _s(e.value)) for e in t.external_data),
        t.raw_data if t.HasField("raw_data") else None,
    )  # fmt: skip


def _exp_sparse(s: SparseTensorProto) -> tuple[Any, ...]:
    return (
        _exp_tensor(s.values) if s.HasField("values") else None,
        _exp_tensor(s.indices) if s.HasField("indices") else None,
        tuple(s.dims),
    )


def _exp_attr(a: AttributeProto) -> tuple[Any, ...]:
    return (
        _s(a.name), a.type, _s(a.ref_attr_name), _f32(a.f), a.i, a.s,
        _exp_tensor(a.t) if a.HasField("t") else None,
        _exp_graph(a.g) if a.HasField("g") else None,
        _exp_sparse(a.sparse_tensor) if a.HasField("sparse_tensor") else None,
        tuple(_f32(x) for x in a.floats), tuple(a.ints), tuple(a.strings),
        tuple(_exp_tensor(t) for t in a.tensors), tuple(_exp_graph(g) for g in a.graphs),
        tuple(_exp_sparse(s) for s in a.sparse_tensors),
    )  # fmt: skip


def _exp_node(n: NodeProto) -> tuple[Any, ...]:
    return (
        _s(n.op_type), _s(n.domain), _s(n.name), tuple(map(_s, n.input)),
        tuple(map(_s, n.output)), tuple(_exp_attr(a) for a in n.attribute), _s(n.overload),
    )  # fmt: skip


def _exp_graph(g: GraphProto) -> tuple[Any, ...]:
    return (
        _s(g.name),
        tuple(_exp_node(n) for n in g.node),
        tuple(_exp_tensor(t) for t in g.initializer),
        tuple(_exp_sparse(s) for s in g.sparse_initializer),
    )


def _exp_function(f: FunctionProto) -> tuple[Any, ...]:
    return (
        _s(f.name), _s(f.domain), _s(f.overload), tuple(map(_s, f.input)),
        tuple(map(_s, f.output)), tuple(map(_s, f.attribute)),
        tuple(_exp_attr(a) for a in f.attribute_proto), tuple(_exp_node(n) for n in f.node),
        tuple((_s(o.domain), o.version) for o in f.opset_import),
    )  # fmt: skip


def expected(m: ModelProto) -> tuple[Any, ...]:
    return (
        m.ir_version, _s(m.producer_name), _s(m.producer_version), _s(m.domain),
        m.model_version, tuple((_s(o.domain), o.version) for o in m.opset_import),
        _exp_graph(m.graph) if m.HasField("graph") else None,
        tuple((_s(p.key), _s(p.value)) for p in m.metadata_props),
        tuple(
            (
                _exp_graph(t.initialization) if t.HasField("initialization") else None,
                _exp_graph(t.algorithm) if t.HasField("algorithm") else None,
            )
            for t in m.training_info
        ),
        tuple(_exp_function(f) for f in m.functions),
    )  # fmt: skip


# -- the reader's view as plain tuples ----------------------------------------------


def _tensor(t: OnnxTensor | None, data: bytes) -> tuple[Any, ...] | None:
    if t is None:
        return None
    raw = data[t.raw_data[0] : t.raw_data[1]] if t.raw_data is not None else None
    return (t.name, t.dims, t.data_type, t.data_location, t.external_data, raw)


def _sparse(s: OnnxSparseTensor | None, data: bytes) -> tuple[Any, ...] | None:
    if s is None:
        return None
    return (_tensor(s.values, data), _tensor(s.indices, data), s.dims)


def _attr(a: OnnxAttribute, data: bytes) -> tuple[Any, ...]:
    return (
        a.name, a.type, a.ref_attr_name, a.f, a.i, a.s, _tensor(a.t, data),
        _graph(a.g, data), _sparse(a.sparse_tensor, data), a.floats, a.ints, a.strings,
        tuple(_tensor(t, data) for t in a.tensors), tuple(_graph(g, data) for g in a.graphs),
        tuple(_sparse(s, data) for s in a.sparse_tensors),
    )  # fmt: skip


def _node(n: OnnxNode, data: bytes) -> tuple[Any, ...]:
    attrs = tuple(_attr(a, data) for a in n.attributes)
    return (n.op_type, n.domain, n.name, n.inputs, n.outputs, attrs, n.overload)


def _graph(g: OnnxGraph | None, data: bytes) -> tuple[Any, ...] | None:
    if g is None:
        return None
    return (
        g.name,
        tuple(_node(n, data) for n in g.nodes),
        tuple(_tensor(t, data) for t in g.initializers),
        tuple(_sparse(s, data) for s in g.sparse_initializers),
    )


def ours(m: OnnxModel, data: bytes) -> tuple[Any, ...]:
    return (
        m.ir_version, m.producer_name, m.producer_version, m.domain, m.model_version,
        m.opset_imports, _graph(m.graph, data), m.metadata_props,
        tuple((_graph(a, data), _graph(b, data)) for a, b in m.training_info),
        tuple(
            (
                f.name, f.domain, f.overload, f.inputs, f.outputs, f.attribute_names,
                tuple(_attr(a, data) for a in f.attribute_protos),
                tuple(_node(n, data) for n in f.nodes), f.opset_imports,
            )
            for f in m.functions
        ),
    )  # fmt: skip


def assert_agrees(data: bytes) -> None:
    """Whatever onnx parses, the reader reads the same; never the reverse failure."""
    proto = ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception:  # the oracle refused: the reader may read or refuse
        with contextlib.suppress(ArtifactFormatError, ArtifactLimitError):
            read_onnx_model(Blob.of(data))
        return
    assert ours(read_onnx_model(Blob.of(data)), data) == expected(proto)


# -- generated models ---------------------------------------------------------------

names = st.text(max_size=8)
int64s = st.integers(-(2**63), 2**63 - 1)
floats32 = st.floats(allow_nan=False, width=32)
DATA_TYPES = [1, 2, 3, 6, 7, 9, 10, 11, 16, 17]


@st.composite
def tensors(draw: st.DrawFn) -> TensorProto:
    t = TensorProto()
    t.name = draw(names)
    t.dims.extend(draw(st.lists(st.integers(0, 2**40), max_size=4)))
    t.data_type = draw(st.sampled_from(DATA_TYPES))
    storage = draw(st.sampled_from(["raw", "float", "int64", "external", "none"]))
    if storage == "raw":
        t.raw_data = draw(st.binary(max_size=64))
    elif storage == "float":
        t.float_data.extend(draw(st.lists(floats32, max_size=5)))
    elif storage == "int64":
        t.int64_data.extend(draw(st.lists(int64s, max_size=5)))
    elif storage == "external":
        t.data_location = TensorProto.EXTERNAL
        for key in draw(st.lists(st.sampled_from(["location", "offset", "length", "x"]))):
            entry = t.external_data.add()
            entry.key, entry.value = key, draw(names)
    return t


@st.composite
def sparse_tensors(draw: st.DrawFn) -> SparseTensorProto:
    s = SparseTensorProto()
    if draw(st.booleans()):
        s.values.CopyFrom(draw(tensors()))
    if draw(st.booleans()):
        s.indices.CopyFrom(draw(tensors()))
    s.dims.extend(draw(st.lists(st.integers(0, 100), max_size=3)))
    return s


def attributes(graphs: st.SearchStrategy[GraphProto]) -> st.SearchStrategy[AttributeProto]:
    @st.composite
    def build(draw: st.DrawFn) -> AttributeProto:
        a = AttributeProto()
        a.name = draw(names)
        kind = draw(st.sampled_from(["f", "i", "s", "t", "g", "sp", "fs", "is", "ss", "ts",
                                     "gs", "sps", "ref"]))  # fmt: skip
        if kind == "f":
            a.type, a.f = AttributeProto.FLOAT, draw(floats32)
        elif kind == "i":
            a.type, a.i = AttributeProto.INT, draw(int64s)
        elif kind == "s":
            a.type, a.s = AttributeProto.STRING, draw(st.binary(max_size=10))
        elif kind == "t":
            a.type = AttributeProto.TENSOR
            a.t.CopyFrom(draw(tensors()))
        elif kind == "g":
            a.type = AttributeProto.GRAPH
            a.g.CopyFrom(draw(graphs))
        elif kind == "sp":
            a.type = AttributeProto.SPARSE_TENSOR
            a.sparse_tensor.CopyFrom(draw(sparse_tensors()))
        elif kind == "fs":
            a.type = AttributeProto.FLOATS
            a.floats.extend(draw(st.lists(floats32, max_size=4)))
        elif kind == "is":
            a.type = AttributeProto.INTS
            a.ints.extend(draw(st.lists(int64s, max_size=4)))
        elif kind == "ss":
            a.type = AttributeProto.STRINGS
            a.strings.extend(draw(st.lists(st.binary(max_size=5), max_size=3)))
        elif kind == "ts":
            a.type = AttributeProto.TENSORS
            a.tensors.extend(draw(st.lists(tensors(), max_size=2)))
        elif kind == "gs":
            a.type = AttributeProto.GRAPHS
            a.graphs.extend(draw(st.lists(graphs, max_size=2)))
        elif kind == "sps":
            a.type = AttributeProto.SPARSE_TENSORS
            a.sparse_tensors.extend(draw(st.lists(sparse_tensors(), max_size=2)))
        else:
            a.type, a.ref_attr_name = AttributeProto.FLOAT, draw(names)
        return a

    return build()


def nodes(graphs: st.SearchStrategy[GraphProto]) -> st.SearchStrategy[NodeProto]:
    @st.composite
    def build(draw: st.DrawFn) -> NodeProto:
        n = NodeProto()
        n.op_type = draw(st.sampled_from(["Add", "If", "Loop", "Constant", "Custom"]) | names)
        n.domain = draw(st.sampled_from(["", "ai.onnx.ml", "com.microsoft", "com.evil"]))
        n.name = draw(names)
        n.input.extend(draw(st.lists(names, max_size=3)))
        n.output.extend(draw(st.lists(names, max_size=2)))
        n.attribute.extend(draw(st.lists(attributes(graphs), max_size=3)))
        if draw(st.booleans()):
            n.overload = draw(names)
        return n

    return build()


def _graph_of(parts: tuple[str, list[NodeProto], list[TensorProto], list[SparseTensorProto]]
              ) -> GraphProto:  # fmt: skip
    g = GraphProto()
    g.name = parts[0]
    g.node.extend(parts[1])
    g.initializer.extend(parts[2])
    g.sparse_initializer.extend(parts[3])
    return g


def _graphs(inner: st.SearchStrategy[GraphProto]) -> st.SearchStrategy[GraphProto]:
    return st.tuples(
        names,
        st.lists(nodes(inner), max_size=3),
        st.lists(tensors(), max_size=2),
        st.lists(sparse_tensors(), max_size=1),
    ).map(_graph_of)


leaf_graphs = st.tuples(names, st.just([]), st.lists(tensors(), max_size=2), st.just([])).map(
    _graph_of
)
graphs = st.recursive(leaf_graphs, _graphs, max_leaves=4)


@st.composite
def functions(draw: st.DrawFn) -> FunctionProto:
    f = FunctionProto()
    f.name, f.domain = draw(names), draw(st.sampled_from(["local", "com.evil", ""]))
    f.input.extend(draw(st.lists(names, max_size=2)))
    f.output.extend(draw(st.lists(names, max_size=2)))
    f.attribute.extend(draw(st.lists(names, max_size=2)))
    f.attribute_proto.extend(draw(st.lists(attributes(leaf_graphs), max_size=2)))
    f.node.extend(draw(st.lists(nodes(graphs), max_size=3)))
    for domain, version in draw(st.lists(st.tuples(names, int64s), max_size=2)):
        o = f.opset_import.add()
        o.domain, o.version = domain, version
    return f


@st.composite
def models(draw: st.DrawFn) -> ModelProto:
    m = ModelProto()
    m.ir_version = draw(int64s)
    m.producer_name, m.producer_version, m.domain = draw(names), draw(names), draw(names)
    m.model_version = draw(int64s)
    for domain, version in draw(st.lists(st.tuples(names, int64s), max_size=3)):
        o = m.opset_import.add()
        o.domain, o.version = domain, version
    if draw(st.booleans()):
        m.graph.CopyFrom(draw(graphs))
    for key, value in draw(st.lists(st.tuples(names, names), max_size=2)):
        p = m.metadata_props.add()
        p.key, p.value = key, value
    for _ in range(draw(st.integers(0, 1))):
        t = m.training_info.add()
        t.algorithm.CopyFrom(draw(leaf_graphs))
        if draw(st.booleans()):
            t.initialization.CopyFrom(draw(leaf_graphs))
    m.functions.extend(draw(st.lists(functions(), max_size=2)))
    return m


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


# Raw fields protobuf accepts: unknown numbers, known numbers with another wire type, groups.
raw_fields = st.one_of(
    st.tuples(st.integers(1, 40), st.integers(0, 2**64 - 1)).map(
        lambda x: _varint(x[0] << 3) + _varint(x[1])
    ),
    st.tuples(st.integers(1, 40), st.binary(max_size=6)).map(
        lambda x: _varint(x[0] << 3 | 5) + (x[1] + b"\0" * 4)[:4]
    ),
    st.tuples(st.integers(1, 40), st.binary(max_size=8)).map(
        lambda x: _varint(x[0] << 3 | 1) + (x[1] + b"\0" * 8)[:8]
    ),
    st.tuples(st.integers(30, 40), st.binary(max_size=8)).map(
        lambda x: _varint(x[0] << 3 | 2) + _varint(len(x[1])) + x[1]
    ),
    st.integers(30, 40).map(lambda n: _varint(n << 3 | 3) + b"\x08\x01" + _varint(n << 3 | 4)),
)

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@SETTINGS
@given(models())
def test_reader_agrees_with_onnx(model: ModelProto) -> None:
    assert_agrees(model.SerializeToString())


@SETTINGS
@given(st.lists(models(), min_size=2, max_size=3))
def test_concatenated_messages_merge_as_protobuf_merges(parts: list[ModelProto]) -> None:
    """Two serialized models back to back are one model to protobuf (a graph split
    over two ``graph`` fields is merged): the reader sees the same merge."""
    assert_agrees(b"".join(p.SerializeToString() for p in parts))


@SETTINGS
@given(models(), st.lists(st.tuples(st.integers(0, 10), raw_fields), max_size=4))
def test_unknown_and_mistyped_fields_change_nothing(
    model: ModelProto, extra: list[tuple[int, bytes]]
) -> None:
    data = model.SerializeToString()
    for position, raw in extra:
        # Between top-level fields only: splice at the start or at the end.
        data = raw + data if position % 2 else data + raw
    assert_agrees(data)


def test_packed_and_unpacked_repeats_and_over_long_varints() -> None:
    # dims 3 and 4 unpacked, then 5 packed; ir_version 7 as a 10-byte varint.
    tensor = b"\x08\x03\x08\x04" + b"\x0a\x01\x05" + b"\x10\x01" + b"\x42\x01w"
    graph = b"\x2a" + _varint(len(tensor)) + tensor
    data = (
        b"\x08"
        + b"\x87\x80\x80\x80\x80\x80\x80\x80\x80\x00"
        + b"\x3a"
        + _varint(len(graph))
        + graph
    )
    assert_agrees(data)
    model = read_onnx_model(Blob.of(data))
    assert model.ir_version == 7
    assert model.graph is not None
    assert model.graph.initializers[0].dims == (3, 4, 5)


def test_enum_values_outside_onnx_enums_are_ignored() -> None:
    """proto2 enums are closed: data_location=2 is an unknown field, not 'external'."""
    tensor = b"\x42\x01w" + b"\x70\x01" + b"\x70\x02"
    graph = b"\x2a" + _varint(len(tensor)) + tensor
    data = b"\x08\x07\x3a" + _varint(len(graph)) + graph
    assert_agrees(data)
    model = read_onnx_model(Blob.of(data))
    assert model.graph is not None and model.graph.initializers[0].is_external


def _nested_if(depth: int) -> ModelProto:
    from onnx import helper

    leaf = helper.make_graph([], "leaf", [], [])
    graph = leaf
    for _ in range(depth):
        graph = helper.make_graph(
            [helper.make_node("If", ["c"], ["y"], then_branch=graph, else_branch=leaf)],
            "g", [], [],
        )  # fmt: skip
    return helper.make_model(graph)


def test_nesting_up_to_protobufs_limit_is_read() -> None:
    # model(1) > graph(2) > [node > attribute > graph] * 30 = 92 levels.
    assert_agrees(_nested_if(30).SerializeToString())


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def test_nesting_past_the_limit_is_a_limit_error() -> None:
    graph = b""
    for _ in range(40):  # 2 + 3 * 40 = 122 levels: onnx's own classes refuse to build it
        attribute = _field(1, b"then_branch") + _field(6, graph)
        graph = _field(1, _field(4, b"If") + _field(5, attribute))
    data = b"\x08\x07" + _field(7, graph)
    with pytest.raises(ArtifactLimitError) as exc:
        read_onnx_model(Blob.of(data))
    assert exc.value.limit == "max_onnx_depth"
    assert MAX_ONNX_DEPTH == 100
    with pytest.raises(Exception, match=r"MaxDepth|depth|recursion"):
        ModelProto().ParseFromString(data)


def test_tensor_payloads_are_never_copied() -> None:
    from onnx import helper

    payload = bytes(range(256)) * 64
    t = helper.make_tensor("w", TensorProto.UINT8, [len(payload)], payload, raw=True)
    data = helper.make_model(helper.make_graph([], "g", [], [], [t])).SerializeToString()
    model = read_onnx_model(Blob.of(data))
    assert model.graph is not None
    span = model.graph.initializers[0].raw_data
    assert span is not None and data[span[0] : span[1]] == payload


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_typed_errors(data: bytes) -> None:
    with contextlib.suppress(ArtifactFormatError, ArtifactLimitError):
        read_onnx_model(Blob.of(data))


@SETTINGS
@given(models(), st.lists(st.tuples(st.integers(0, 2**16), st.integers(0, 255)), max_size=6))
def test_damaged_models_only_raise_typed_errors(
    model: ModelProto, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(model.SerializeToString())
    if not data:
        return
    for pos, value in flips:
        data[pos % len(data)] = value
    assert_agrees(bytes(data))


def test_windows_of_a_larger_buffer_stay_inside_their_window() -> None:
    """A model that is a member of an archive: a length that runs past the member's end
    is an error, even when the bytes after the member would complete it."""
    member = b"\x08\x07" + b"\x3a\x7f"  # ir_version 7, then a 127-byte graph
    graph = b"\x12\x7d" + b"a" * 125  # the graph's name
    buffer = b"junk" + member + graph
    with pytest.raises(ArtifactFormatError):
        read_onnx_model(Blob.of(buffer).window(4, len(member)))
    model = read_onnx_model(Blob.of(buffer).window(4, len(member) + len(graph)))
    assert model.graph is not None and model.graph.name == "a" * 125
