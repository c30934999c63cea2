"""ONNX models read from the protobuf wire, without the ``onnx`` package.

``import onnx`` costs 0.6 s or more per process (most of it ``ml_dtypes``),
and ``onnx.load`` copies every tensor's bytes into Python objects. The scan
rules and ``inspect`` need neither: they need the operator set imports, the
nodes (operator, domain, attributes, the tensors and subgraphs those hold),
the initializers' names, shapes, data types and external-data entries, the
model-local functions and the metadata. This reader walks the wire format
(:mod:`openward.artifacts.protobuf_wire`) for those fields and nothing else:
tensor payloads (``raw_data``, ``float_data``, ...) are skipped by their
length and never copied, so a 2 GB model costs what its graph costs.

It follows protobuf's rules so that it reads what a runtime reads:

- a singular message that occurs several times is *merged* (protobuf's
  parser concatenates them: repeated fields add up, scalars take the last
  value), so a graph split into two ``graph`` fields is one graph here too;
- repeated scalars are accepted packed and unpacked;
- a field whose wire type does not match the schema is an unknown field and
  is ignored, as are enum values outside ONNX's (proto2) enums;
- unknown fields, and groups, are skipped.

Fields nobody here needs (doc strings, value infos, type protos,
quantization annotations) are skipped without being checked, so the reader
accepts some files that ``onnx.load`` rejects; it never rejects one that
``onnx.load`` accepts (the tests check both against ``onnx`` itself).
Nesting deeper than protobuf's own recursion limit is an
:class:`ArtifactLimitError`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Final, NamedTuple

from openward.artifacts.blob import Blob
from openward.artifacts.errors import ArtifactFormatError, ArtifactLimitError
from openward.artifacts.protobuf_wire import FIXED32, LENGTH, VARINT, fields, packed_varints

__all__ = [
    "MAX_ONNX_DEPTH",
    "OnnxAttribute",
    "OnnxFunction",
    "OnnxGraph",
    "OnnxModel",
    "OnnxNode",
    "OnnxSparseTensor",
    "OnnxTensor",
    "read_onnx_model",
]

MAX_ONNX_DEPTH: Final = 100
"""Message nesting (model → graph → node → attribute → graph ...) read at most:
protobuf's default recursion limit, so every file a runtime parses is read."""

_TICK_EVERY: Final = 1024  # nodes between deadline checks
_MASK64: Final = (1 << 64) - 1
_ATTRIBUTE_TYPES: Final = frozenset(range(15))  # AttributeProto.AttributeType (proto2, closed)
_DATA_LOCATIONS: Final = frozenset({0, 1})
_NESTED: Final = frozenset(
    {5, 6, 10, 11, 22, 23}
)  # AttributeProto's message fields  # TensorProto.DataLocation: DEFAULT, EXTERNAL
EXTERNAL: Final = 1

Span = tuple[int, int]


def _int64(value: int) -> int:
    value &= _MASK64
    return value - (1 << 64) if value >= 1 << 63 else value


def _int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


class OnnxTensor(NamedTuple):
    """A ``TensorProto``: what it is, where its bytes are; never the bytes."""

    name: str
    dims: tuple[int, ...]
    data_type: int
    """``TensorProto.DataType`` (1 float, 10 float16, 16 bfloat16, 7 int64, ...)."""
    data_location: int
    """0: in the file; 1: external (``external_data`` says where)."""
    external_data: tuple[tuple[str, str], ...]
    """``(key, value)`` entries: ``location``, ``offset``, ``length``, ``checksum``."""
    raw_data: Span | None
    """Where ``raw_data`` lies in the blob, if the tensor has it."""

    @property
    def numel(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n

    @property
    def is_external(self) -> bool:
        return self.data_location == EXTERNAL

    def external(self, key: str) -> str | None:
        """The last ``external_data`` entry named ``key`` (as onnx reads them)."""
        value = None
        for k, v in self.external_data:
            if k == key:
                value = v
        return value


class OnnxSparseTensor(NamedTuple):
    values: OnnxTensor | None
    indices: OnnxTensor | None
    dims: tuple[int, ...]


class OnnxAttribute(NamedTuple):
    name: str
    type: int
    """``AttributeProto.AttributeType``: 1 float, 2 int, 3 string, 4 tensor, 5 graph, ..."""
    ref_attr_name: str
    f: float
    i: int
    s: bytes
    t: OnnxTensor | None
    g: OnnxGraph | None
    sparse_tensor: OnnxSparseTensor | None
    floats: tuple[float, ...]
    ints: tuple[int, ...]
    strings: tuple[bytes, ...]
    tensors: tuple[OnnxTensor, ...]
    graphs: tuple[OnnxGraph, ...]
    sparse_tensors: tuple[OnnxSparseTensor, ...]

    def subgraphs(self) -> Iterator[OnnxGraph]:
        if self.g is not None:
            yield self.g
        yield from self.graphs

    def all_tensors(self) -> Iterator[OnnxTensor]:
        """Every tensor the attribute holds itself (not those of its subgraphs)."""
        if self.t is not None:
            yield self.t
        yield from self.tensors
        for sparse in (self.sparse_tensor, *self.sparse_tensors):
            if sparse is not None:
                yield from (x for x in (sparse.values, sparse.indices) if x is not None)


class OnnxNode(NamedTuple):
    op_type: str
    domain: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attributes: tuple[OnnxAttribute, ...]
    overload: str

    def attribute(self, name: str) -> OnnxAttribute | None:
        return next((a for a in self.attributes if a.name == name), None)


class OnnxGraph(NamedTuple):
    name: str
    nodes: tuple[OnnxNode, ...]
    initializers: tuple[OnnxTensor, ...]
    sparse_initializers: tuple[OnnxSparseTensor, ...]

    def walk(self) -> Iterator[OnnxGraph]:
        """This graph and every subgraph of its nodes' attributes, depth first."""
        stack = [self]
        while stack:
            graph = stack.pop()
            yield graph
            for node in reversed(graph.nodes):
                for attr in reversed(node.attributes):
                    stack.extend(reversed(list(attr.subgraphs())))


class OnnxFunction(NamedTuple):
    """A model-local function (``FunctionProto``): runtimes inline its body."""

    name: str
    domain: str
    overload: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attribute_names: tuple[str, ...]
    attribute_protos: tuple[OnnxAttribute, ...]
    nodes: tuple[OnnxNode, ...]
    opset_imports: tuple[tuple[str, int], ...]

    def subgraphs(self) -> Iterator[OnnxGraph]:
        """Every graph held by the body's attributes and the attribute defaults."""
        for node in self.nodes:
            for attr in node.attributes:
                for g in attr.subgraphs():
                    yield from g.walk()
        for attr in self.attribute_protos:
            for g in attr.subgraphs():
                yield from g.walk()


class OnnxModel(NamedTuple):
    ir_version: int
    producer_name: str
    producer_version: str
    domain: str
    model_version: int
    opset_imports: tuple[tuple[str, int], ...]
    graph: OnnxGraph | None
    """None when the file has no ``graph`` field at all."""
    metadata_props: tuple[tuple[str, str], ...]
    training_info: tuple[tuple[OnnxGraph | None, OnnxGraph | None], ...]
    """``(initialization, algorithm)`` graphs of each ``TrainingInfoProto``."""
    functions: tuple[OnnxFunction, ...]

    def graphs(self) -> Iterator[OnnxGraph]:
        """The main graph, the training graphs, the functions' graphs and all subgraphs."""
        if self.graph is not None:
            yield from self.graph.walk()
        for pair in self.training_info:
            for g in pair:
                if g is not None:
                    yield from g.walk()
        for f in self.functions:
            yield from f.subgraphs()

    def nodes(self) -> Iterator[OnnxNode]:
        """Every node: of every graph above and of every function body."""
        for g in self.graphs():
            yield from g.nodes
        for f in self.functions:
            yield from f.nodes

    def tensors(self) -> Iterator[OnnxTensor]:
        """Every tensor: initializers, sparse initializers and those held by attributes."""
        for g in self.graphs():
            yield from g.initializers
            for sparse in g.sparse_initializers:
                yield from (x for x in (sparse.values, sparse.indices) if x is not None)
        for node in self.nodes():
            for attr in node.attributes:
                yield from attr.all_tensors()
        for f in self.functions:
            for attr in f.attribute_protos:
                yield from attr.all_tensors()


class _Reader:
    """One parse: the blob, the depth limit and the deadline callback."""

    def __init__(self, blob: Blob, max_depth: int, tick: Callable[[], None] | None) -> None:
        self.blob = blob
        self.buf = blob.buffer
        self.base = blob.start
        self.max_depth = max_depth
        self.tick = tick
        self.nodes = 0

    # -- scalars -------------------------------------------------------------
    def text(self, span: Span) -> str:
        a = self.base + span[0]
        return self.buf[a : self.base + span[1]].decode("utf-8", "replace")

    def raw(self, span: Span) -> bytes:
        return bytes(self.buf[self.base + span[0] : self.base + span[1]])

    def ints(self, wire: int, value: int | Span, out: list[int]) -> None:
        """A repeated int64 field, packed or not."""
        if wire == VARINT:
            out.append(_int64(value))  # type: ignore[arg-type]
        elif wire == LENGTH:
            out.extend(_int64(v) for v in packed_varints(self.blob, value))  # type: ignore[arg-type]

    def floats(self, wire: int, value: int | Span, out: list[float]) -> None:
        """A repeated float field, packed or not."""
        if wire == FIXED32:
            a = self.base + value  # type: ignore[operator]
            out.append(struct.unpack("<f", self.buf[a : a + 4])[0])
        elif wire == LENGTH:
            start, end = value  # type: ignore[misc]
            if (end - start) % 4:
                raise ArtifactFormatError("packed floats of a length not a multiple of 4", start)
            data = self.buf[self.base + start : self.base + end]
            out.extend(struct.unpack(f"<{(end - start) // 4}f", data))

    def check_depth(self, depth: int, where: int) -> None:
        if depth > self.max_depth:
            raise ArtifactLimitError(
                "max_onnx_depth",
                f"ONNX messages nested deeper than max_onnx_depth={self.max_depth}",
                where,
            )

    # -- messages ------------------------------------------------------------
    def entry(self, span: Span) -> tuple[str, str]:
        key = value = ""
        for number, wire, v in fields(self.blob, *span):
            if wire == LENGTH:
                if number == 1:
                    key = self.text(v)  # type: ignore[arg-type]
                elif number == 2:
                    value = self.text(v)  # type: ignore[arg-type]
        return key, value

    def opset(self, span: Span) -> tuple[str, int]:
        domain, version = "", 0
        for number, wire, v in fields(self.blob, *span):
            if number == 1 and wire == LENGTH:
                domain = self.text(v)  # type: ignore[arg-type]
            elif number == 2 and wire == VARINT:
                version = _int64(v)  # type: ignore[arg-type]
        return domain, version

    def tensor(self, spans: list[Span]) -> OnnxTensor:
        name = ""
        dims: list[int] = []
        data_type = data_location = 0
        external: list[tuple[str, str]] = []
        raw: Span | None = None
        for span in spans:
            for number, wire, v in fields(self.blob, *span):
                if number == 1:
                    self.ints(wire, v, dims)
                elif number == 2 and wire == VARINT:
                    data_type = _int32(v)  # type: ignore[arg-type]
                elif number == 8 and wire == LENGTH:
                    name = self.text(v)  # type: ignore[arg-type]
                elif number == 9 and wire == LENGTH:
                    raw = v  # type: ignore[assignment]
                elif number == 13 and wire == LENGTH:
                    external.append(self.entry(v))  # type: ignore[arg-type]
                elif number == 14 and wire == VARINT:
                    loc = _int32(v)  # type: ignore[arg-type]
                    if loc in _DATA_LOCATIONS:
                        data_location = loc
        return OnnxTensor(name, tuple(dims), data_type, data_location, tuple(external), raw)

    def sparse(self, spans: list[Span]) -> OnnxSparseTensor:
        values: list[Span] = []
        indices: list[Span] = []
        dims: list[int] = []
        for span in spans:
            for number, wire, v in fields(self.blob, *span):
                if number == 1 and wire == LENGTH:
                    values.append(v)  # type: ignore[arg-type]
                elif number == 2 and wire == LENGTH:
                    indices.append(v)  # type: ignore[arg-type]
                elif number == 3:
                    self.ints(wire, v, dims)
        return OnnxSparseTensor(
            self.tensor(values) if values else None,
            self.tensor(indices) if indices else None,
            tuple(dims),
        )

    def attribute(self, span: Span, depth: int) -> OnnxAttribute:
        self.check_depth(depth, span[0])
        name = ref = ""
        kind = i = 0
        f = 0.0
        s = b""
        floats: list[float] = []
        ints: list[int] = []
        strings: list[bytes] = []
        nested: list[tuple[int, Span]] = []  # tensors, graphs, sparse tensors: built after
        for number, wire, v in fields(self.blob, *span):
            if wire == LENGTH:
                if number == 1:
                    name = self.text(v)  # type: ignore[arg-type]
                elif number == 8:
                    self.ints(wire, v, ints)
                elif number == 7:
                    self.floats(wire, v, floats)
                elif number == 4:
                    s = self.raw(v)  # type: ignore[arg-type]
                elif number == 9:
                    strings.append(self.raw(v))  # type: ignore[arg-type]
                elif number == 21:
                    ref = self.text(v)  # type: ignore[arg-type]
                elif number in _NESTED:
                    nested.append((number, v))  # type: ignore[arg-type]
            elif wire == VARINT:
                if number == 3:
                    i = _int64(v)  # type: ignore[arg-type]
                elif number == 20:
                    value = _int32(v)  # type: ignore[arg-type]
                    if value in _ATTRIBUTE_TYPES:
                        kind = value
                elif number == 8:
                    ints.append(_int64(v))  # type: ignore[arg-type]
            elif wire == FIXED32:
                if number == 2:
                    a = self.base + v  # type: ignore[operator]
                    f = struct.unpack("<f", self.buf[a : a + 4])[0]
                elif number == 7:
                    self.floats(wire, v, floats)
        t = g = sparse = None
        tensors: tuple[OnnxTensor, ...] = ()
        graphs: tuple[OnnxGraph, ...] = ()
        sparses: tuple[OnnxSparseTensor, ...] = ()
        if nested:
            # t, g and sparse_tensor are singular: all their occurrences merge into one.
            by_number: dict[int, list[Span]] = {}
            for number, v in nested:
                by_number.setdefault(number, []).append(v)
            if 5 in by_number:
                t = self.tensor(by_number[5])
            if 6 in by_number:
                g = self.graph(by_number[6], depth + 1)
            if 22 in by_number:
                sparse = self.sparse(by_number[22])
            tensors = tuple(self.tensor([x]) for x in by_number.get(10, ()))
            graphs = tuple(self.graph([x], depth + 1) for x in by_number.get(11, ()))
            sparses = tuple(self.sparse([x]) for x in by_number.get(23, ()))
        return OnnxAttribute(
            name, kind, ref, f, i, s, t, g, sparse, tuple(floats), tuple(ints), tuple(strings),
            tensors, graphs, sparses,
        )  # fmt: skip

    def node(self, span: Span, depth: int) -> OnnxNode:
        # The hot path of a large graph: strings are decoded inline.
        self.check_depth(depth, span[0])
        self.nodes += 1
        if self.tick is not None and not self.nodes % _TICK_EVERY:
            self.tick()
        buf, base = self.buf, self.base
        op_type = domain = name = overload = ""
        inputs: list[str] = []
        outputs: list[str] = []
        attributes: list[OnnxAttribute] = []
        for number, wire, v in fields(self.blob, *span):
            if wire != LENGTH:
                continue
            a, b = v  # type: ignore[misc]
            if number == 1:
                inputs.append(buf[base + a : base + b].decode("utf-8", "replace"))
            elif number == 2:
                outputs.append(buf[base + a : base + b].decode("utf-8", "replace"))
            elif number == 4:
                op_type = buf[base + a : base + b].decode("utf-8", "replace")
            elif number == 3:
                name = buf[base + a : base + b].decode("utf-8", "replace")
            elif number == 5:
                attributes.append(self.attribute((a, b), depth + 1))
            elif number == 7:
                domain = buf[base + a : base + b].decode("utf-8", "replace")
            elif number == 8:
                overload = buf[base + a : base + b].decode("utf-8", "replace")
        return OnnxNode(
            op_type, domain, name, tuple(inputs), tuple(outputs), tuple(attributes), overload
        )

    def graph(self, spans: list[Span], depth: int) -> OnnxGraph:
        self.check_depth(depth, spans[0][0])
        name = ""
        nodes: list[OnnxNode] = []
        initializers: list[OnnxTensor] = []
        sparse: list[OnnxSparseTensor] = []
        for span in spans:
            for number, wire, v in fields(self.blob, *span):
                if wire != LENGTH:
                    continue
                if number == 1:
                    nodes.append(self.node(v, depth + 1))  # type: ignore[arg-type]
                elif number == 5:
                    initializers.append(self.tensor([v]))  # type: ignore[list-item]
                elif number == 15:
                    sparse.append(self.sparse([v]))  # type: ignore[list-item]
                elif number == 2:
                    name = self.text(v)  # type: ignore[arg-type]
        return OnnxGraph(name, tuple(nodes), tuple(initializers), tuple(sparse))

    def function(self, span: Span, depth: int) -> OnnxFunction:
        self.check_depth(depth, span[0])
        name = domain = overload = ""
        inputs: list[str] = []
        outputs: list[str] = []
        attribute_names: list[str] = []
        attribute_protos: list[OnnxAttribute] = []
        nodes: list[OnnxNode] = []
        opsets: list[tuple[str, int]] = []
        for number, wire, v in fields(self.blob, *span):
            if wire != LENGTH:
                continue
            if number == 7:
                nodes.append(self.node(v, depth + 1))  # type: ignore[arg-type]
            elif number == 1:
                name = self.text(v)  # type: ignore[arg-type]
            elif number == 4:
                inputs.append(self.text(v))  # type: ignore[arg-type]
            elif number == 5:
                outputs.append(self.text(v))  # type: ignore[arg-type]
            elif number == 6:
                attribute_names.append(self.text(v))  # type: ignore[arg-type]
            elif number == 9:
                opsets.append(self.opset(v))  # type: ignore[arg-type]
            elif number == 10:
                domain = self.text(v)  # type: ignore[arg-type]
            elif number == 11:
                attribute_protos.append(self.attribute(v, depth + 1))  # type: ignore[arg-type]
            elif number == 13:
                overload = self.text(v)  # type: ignore[arg-type]
        return OnnxFunction(
            name, domain, overload, tuple(inputs), tuple(outputs), tuple(attribute_names),
            tuple(attribute_protos), tuple(nodes), tuple(opsets),
        )  # fmt: skip

    def training_info(self, span: Span, depth: int) -> tuple[OnnxGraph | None, OnnxGraph | None]:
        self.check_depth(depth, span[0])
        init: list[Span] = []
        algorithm: list[Span] = []
        for number, wire, v in fields(self.blob, *span):
            if number == 1 and wire == LENGTH:
                init.append(v)  # type: ignore[arg-type]
            elif number == 2 and wire == LENGTH:
                algorithm.append(v)  # type: ignore[arg-type]
        return (
            self.graph(init, depth + 1) if init else None,
            self.graph(algorithm, depth + 1) if algorithm else None,
        )

    def model(self) -> OnnxModel:
        ir_version = model_version = 0
        producer_name = producer_version = domain = ""
        opsets: list[tuple[str, int]] = []
        graph: list[Span] = []
        metadata: list[tuple[str, str]] = []
        training: list[Span] = []
        functions: list[Span] = []
        for number, wire, v in fields(self.blob):
            if wire == VARINT:
                if number == 1:
                    ir_version = _int64(v)  # type: ignore[arg-type]
                elif number == 5:
                    model_version = _int64(v)  # type: ignore[arg-type]
            elif wire != LENGTH:
                continue
            elif number == 7:
                graph.append(v)  # type: ignore[arg-type]
            elif number == 8:
                opsets.append(self.opset(v))  # type: ignore[arg-type]
            elif number == 2:
                producer_name = self.text(v)  # type: ignore[arg-type]
            elif number == 3:
                producer_version = self.text(v)  # type: ignore[arg-type]
            elif number == 4:
                domain = self.text(v)  # type: ignore[arg-type]
            elif number == 14:
                metadata.append(self.entry(v))  # type: ignore[arg-type]
            elif number == 20:
                training.append(v)  # type: ignore[arg-type]
            elif number == 25:
                functions.append(v)  # type: ignore[arg-type]
        return OnnxModel(
            ir_version=ir_version,
            producer_name=producer_name,
            producer_version=producer_version,
            domain=domain,
            model_version=model_version,
            opset_imports=tuple(opsets),
            graph=self.graph(graph, 2) if graph else None,
            metadata_props=tuple(metadata),
            training_info=tuple(self.training_info(s, 2) for s in training),
            functions=tuple(self.function(s, 2) for s in functions),
        )


def read_onnx_model(
    blob: Blob,
    *,
    max_depth: int = MAX_ONNX_DEPTH,
    tick: Callable[[], None] | None = None,
) -> OnnxModel:
    """The ONNX model in ``blob``.

    Raises :class:`ArtifactFormatError` when the bytes are not a protobuf
    message (they may still be a protobuf of another kind: callers check
    ``ir_version`` and ``graph``), :class:`ArtifactLimitError` when nesting
    exceeds ``max_depth``. ``tick`` is called every thousand nodes or so
    (deadlines).
    """
    try:
        return _Reader(blob, max_depth, tick).model()
    except struct.error as exc:  # pragma: no cover - lengths are checked before unpacking
        raise ArtifactFormatError(f"malformed fixed-width field: {exc}") from None
