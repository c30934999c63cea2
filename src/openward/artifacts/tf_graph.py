"""TensorFlow SavedModel and tf_keras metadata protobufs, read without TensorFlow.

Only what the rules need, from the published schemas
(``tensorflow/core/protobuf/saved_model.proto``, ``meta_graph.proto``,
``saver.proto``, ``saved_object_graph.proto``,
``tensorflow/core/framework/{graph,node_def,function,op_def,attr_value,tensor}.proto``
and tf_keras's ``protobuf/saved_metadata.proto``): every node of the graph
and of every library function with its inputs and the attribute values that
can name files, URLs or other functions; the saver's nodes; the tensors
signatures, collections and assets name; the functions the object graph
exposes; and the JSON metadata tf_keras revives layers from.

The schema subset below is declared field by field (same numbers and types
as TensorFlow's ``.proto`` files) and parsed by the protobuf runtime (upb, C):
field order, repeated singular fields (the last wins) and unknown fields are
handled exactly as TensorFlow's own parser handles them, and a graph of a
hundred thousand nodes parses in well under a second, which a pure-Python
wire reader does not. Nothing is imported from TensorFlow. No judgement here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

from openward.artifacts.blob import Blob
from openward.artifacts.errors import ArtifactFormatError

__all__ = [
    "KerasObjectMetadata",
    "TfAttr",
    "TfFunction",
    "TfMetaGraph",
    "TfNode",
    "read_graph_def",
    "read_keras_metadata",
    "read_node_def",
    "read_saved_model",
    "read_saved_model_text",
]

MAX_ATTR_STRING: Final = 4096
"""Attribute strings are kept up to this many bytes: paths and URLs, not vocabularies."""
_STRING_DTYPE: Final = 7  # DT_STRING  # fmt: skip


@dataclass(frozen=True, slots=True)
class TfAttr:
    """The parts of one ``AttrValue`` that can point outside the graph."""

    strings: tuple[bytes, ...] = ()
    """``s``, ``list.s`` and the ``string_val`` of a string tensor (each cut to
    :data:`MAX_ATTR_STRING` bytes)."""
    funcs: tuple[str, ...] = ()
    """Function names: ``func.name`` and ``list.func[].name``."""
    placeholder: bool = False
    """The value is a placeholder, bound to an attribute of the function's caller."""


@dataclass(slots=True)
class TfNode:
    """One ``NodeDef``."""

    name: str
    op: str
    inputs: tuple[str, ...]
    attrs: dict[str, TfAttr]
    """Attribute values, for the ops the caller asked about (all when it did not say)."""
    calls: tuple[str, ...] = ()
    """Every function name its attributes mention (``f``, ``then_branch``, ``body``, ...)."""


@dataclass(slots=True)
class TfFunction:
    """One ``FunctionDef`` of the graph's library."""

    name: str
    nodes: list[TfNode]
    args: tuple[str, ...] = ()
    """Names of the signature's input arguments, in order."""


@dataclass(frozen=True, slots=True)
class KerasObjectMetadata:
    """A Keras object's JSON metadata, from ``keras_metadata.pb`` or the object graph."""

    node_id: int
    node_path: str
    identifier: str
    metadata: str


@dataclass(slots=True)
class TfMetaGraph:
    """One ``MetaGraphDef``."""

    nodes: list[TfNode] = field(default_factory=list)
    functions: dict[str, TfFunction] = field(default_factory=dict)
    saver_nodes: list[str] = field(default_factory=list)
    """Nodes the ``SaverDef`` names (filename placeholder, save tensor, restore op)."""
    signature_tensors: list[str] = field(default_factory=list)
    collection_nodes: list[tuple[str, str]] = field(default_factory=list)
    """``(collection, node name)`` for node lists (``saved_model_main_op``, ...)."""
    asset_tensors: list[str] = field(default_factory=list)
    """Tensors that the loader feeds with the path of a file under ``assets/``."""
    object_functions: list[str] = field(default_factory=list)
    """Concrete functions the object graph exposes to Python (``model.serve``, ...)."""
    keras_objects: list[KerasObjectMetadata] = field(default_factory=list)


# (message, [(field name, number, label, type, message type)]): TensorFlow's numbers.
_OPT, _REP = 1, 3
_INT64, _INT32, _BOOL, _STRING, _MSG, _BYTES, _ENUM = 3, 5, 8, 9, 11, 12, 14
_SCHEMA: Final[list[tuple[str, list[tuple[str, int, int, int, str]]]]] = [
    ("SavedModel", [("meta_graphs", 2, _REP, _MSG, "MetaGraphDef")]),
    (
        "MetaGraphDef",
        [
            ("graph_def", 2, _OPT, _MSG, "GraphDef"),
            ("saver_def", 3, _OPT, _MSG, "SaverDef"),
            ("collection_def", 4, _REP, _MSG, "CollectionEntry"),
            ("signature_def", 5, _REP, _MSG, "SignatureEntry"),
            ("asset_file_def", 6, _REP, _MSG, "AssetFileDef"),
            ("object_graph_def", 7, _OPT, _MSG, "SavedObjectGraph"),
        ],
    ),
    (
        "GraphDef",
        [("node", 1, _REP, _MSG, "NodeDef"), ("library", 2, _OPT, _MSG, "FunctionDefLibrary")],
    ),
    ("FunctionDefLibrary", [("function", 1, _REP, _MSG, "FunctionDef")]),
    (
        "FunctionDef",
        [("signature", 1, _OPT, _MSG, "OpDef"), ("node_def", 3, _REP, _MSG, "NodeDef")],
    ),
    ("OpDef", [("name", 1, _OPT, _STRING, ""), ("input_arg", 2, _REP, _MSG, "ArgDef")]),
    ("ArgDef", [("name", 1, _OPT, _STRING, "")]),
    (
        "NodeDef",
        [
            ("name", 1, _OPT, _STRING, ""),
            ("op", 2, _OPT, _STRING, ""),
            ("input", 3, _REP, _STRING, ""),
            ("attr", 5, _REP, _MSG, "AttrEntry"),
        ],
    ),
    ("AttrEntry", [("key", 1, _OPT, _STRING, ""), ("value", 2, _OPT, _MSG, "AttrValue")]),
    (
        "AttrValue",
        [
            ("list", 1, _OPT, _MSG, "ListValue"),
            ("s", 2, _OPT, _BYTES, ""),
            ("tensor", 8, _OPT, _MSG, "TensorProto"),
            ("placeholder", 9, _OPT, _STRING, ""),
            ("func", 10, _OPT, _MSG, "NameAttrList"),
        ],
    ),
    (
        "ListValue",
        [
            ("s", 2, _REP, _BYTES, ""),
            ("tensor", 8, _REP, _MSG, "TensorProto"),
            ("func", 9, _REP, _MSG, "NameAttrList"),
        ],
    ),
    ("NameAttrList", [("name", 1, _OPT, _STRING, ""), ("attr", 2, _REP, _MSG, "AttrEntry")]),
    ("TensorProto", [("dtype", 1, _OPT, _ENUM, ""), ("string_val", 8, _REP, _BYTES, "")]),
    (
        "SaverDef",
        [
            ("filename_tensor_name", 1, _OPT, _STRING, ""),
            ("save_tensor_name", 2, _OPT, _STRING, ""),
            ("restore_op_name", 3, _OPT, _STRING, ""),
        ],
    ),
    ("CollectionEntry", [("key", 1, _OPT, _STRING, ""), ("value", 2, _OPT, _MSG, "CollectionDef")]),
    ("CollectionDef", [("node_list", 1, _OPT, _MSG, "NodeList")]),
    ("NodeList", [("value", 1, _REP, _STRING, "")]),
    ("SignatureEntry", [("key", 1, _OPT, _STRING, ""), ("value", 2, _OPT, _MSG, "SignatureDef")]),
    (
        "SignatureDef",
        [
            ("inputs", 1, _REP, _MSG, "TensorInfoEntry"),
            ("outputs", 2, _REP, _MSG, "TensorInfoEntry"),
        ],
    ),
    ("TensorInfoEntry", [("key", 1, _OPT, _STRING, ""), ("value", 2, _OPT, _MSG, "TensorInfo")]),
    ("TensorInfo", [("name", 1, _OPT, _STRING, "")]),
    (
        "AssetFileDef",
        [("tensor_info", 1, _OPT, _MSG, "TensorInfo"), ("filename", 2, _OPT, _STRING, "")],
    ),
    (
        "SavedObjectGraph",
        [
            ("nodes", 1, _REP, _MSG, "SavedObject"),
            ("concrete_functions", 2, _REP, _MSG, "ConcreteEntry"),
        ],
    ),
    ("ConcreteEntry", [("key", 1, _OPT, _STRING, "")]),
    (
        "SavedObject",
        [
            ("user_object", 4, _OPT, _MSG, "SavedUserObject"),
            ("function", 6, _OPT, _MSG, "SavedFunction"),
            ("bare_concrete_function", 8, _OPT, _MSG, "SavedBareConcreteFunction"),
        ],
    ),
    ("SavedUserObject", [("identifier", 1, _OPT, _STRING, ""), ("metadata", 3, _OPT, _STRING, "")]),
    ("SavedFunction", [("concrete_functions", 1, _REP, _STRING, "")]),
    ("SavedBareConcreteFunction", [("concrete_function_name", 1, _OPT, _STRING, "")]),
    # tf_keras/protobuf/saved_metadata.proto
    ("SavedMetadata", [("nodes", 1, _REP, _MSG, "KerasSavedObject")]),
    (
        "KerasSavedObject",
        [
            ("node_id", 2, _OPT, _INT32, ""),
            ("node_path", 3, _OPT, _STRING, ""),
            ("identifier", 4, _OPT, _STRING, ""),
            ("metadata", 5, _OPT, _STRING, ""),
        ],
    ),
]


_DTYPE_ORDER: Final = (
    "DT_INVALID", "DT_FLOAT", "DT_DOUBLE", "DT_INT32", "DT_UINT8", "DT_INT16",
    "DT_INT8", "DT_STRING", "DT_COMPLEX64", "DT_INT64", "DT_BOOL", "DT_QINT8",
    "DT_QUINT8", "DT_QINT32", "DT_BFLOAT16", "DT_QINT16", "DT_QUINT16", "DT_UINT16",
    "DT_COMPLEX128", "DT_HALF", "DT_RESOURCE", "DT_VARIANT", "DT_UINT32", "DT_UINT64",
    "DT_FLOAT8_E5M2", "DT_FLOAT8_E4M3FN", "DT_FLOAT8_E4M3FNUZ", "DT_FLOAT8_E4M3B11FNUZ",
    "DT_FLOAT8_E5M2FNUZ", "DT_INT4", "DT_UINT4", "DT_INT2",
)  # fmt: skip
_DTYPE_NAMES: Final = dict(enumerate(_DTYPE_ORDER))
"""tensorflow/core/framework/types.proto, 0-31."""


def _message_classes() -> dict[str, type[Message]]:
    """Message classes for :data:`_SCHEMA`, in a private descriptor pool."""
    proto = descriptor_pb2.FileDescriptorProto(
        name="openward_tf_subset.proto", package="openward.tf", syntax="proto3"
    )
    enum = proto.enum_type.add(name="DataType")
    for number in range(0, 32):  # the dtype is read as a number; the values just need to exist
        # types.proto's names, so that the text format (saved_model.pbtxt) parses
        enum.value.add(name=_DTYPE_NAMES.get(number, f"DT_{number}"), number=number)
    for name, fields_ in _SCHEMA:
        msg = proto.message_type.add(name=name)
        if name == "AttrValue":  # all of its fields are one oneof, as in attr_value.proto
            msg.oneof_decl.add(name="value")
        for fname, number, label, ftype, type_name in fields_:
            f = msg.field.add(name=fname, number=number, label=label, type=ftype)
            if name == "AttrValue":
                f.oneof_index = 0
            if ftype == _MSG:
                f.type_name = f".openward.tf.{type_name}"
            elif ftype == _ENUM:
                f.type_name = ".openward.tf.DataType"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"openward.tf.{name}"))
        for name, _ in _SCHEMA
    }


_classes: dict[str, type[Message]] = {}


def _parse(blob: Blob, message: str) -> Any:
    if not _classes:
        _classes.update(_message_classes())
    msg = _classes[message]()
    try:
        msg.ParseFromString(blob.buffer[blob.start : blob.end])
    except (DecodeError, RecursionError, ValueError) as exc:
        raise ArtifactFormatError(f"not a {message} protobuf: {exc}", 0) from exc
    return msg


def _cut(value: bytes) -> bytes:
    return value[:MAX_ATTR_STRING]


def _tensor_strings(tensor: Any) -> list[bytes]:
    if tensor.dtype not in (0, _STRING_DTYPE):
        return []
    return [_cut(v) for v in tensor.string_val]


def _attr_value(value: Any) -> TfAttr:
    strings: list[bytes] = []
    funcs: list[str] = []
    if value.s:
        strings.append(_cut(value.s))
    if value.HasField("tensor"):
        strings += _tensor_strings(value.tensor)
    if value.HasField("func"):
        funcs.append(value.func.name)
        for entry in value.func.attr:  # values bound to the callee's placeholders
            strings += _attr_value(entry.value).strings
    if value.HasField("list"):
        strings += [_cut(v) for v in value.list.s]
        for tensor in value.list.tensor:
            strings += _tensor_strings(tensor)
        funcs += [f.name for f in value.list.func]
    return TfAttr(tuple(strings), tuple(funcs), bool(value.placeholder))


def _node(nd: Any, attr_ops: frozenset[str] | None) -> TfNode:
    op = nd.op
    attrs: dict[str, TfAttr] = {}
    calls: list[str] = []
    keep = attr_ops is None or op in attr_ops
    for entry in nd.attr:
        key = entry.key
        if key in _SKIP_ATTRS:  # type and shape attributes: never a function or a path
            continue
        value = entry.value
        kind = value.WhichOneof("value")
        if kind == "func":
            calls.append(value.func.name)
        elif kind == "list" and value.list.func:
            calls += [f.name for f in value.list.func]
        if keep:
            attrs[key] = _attr_value(value)
    return TfNode(nd.name, op, tuple(nd.input), attrs, tuple(calls))


# Attributes that never name a file, a URL or a function: skipped unread.
_SKIP_ATTRS: Final = frozenset(
    {
        "T", "dtype", "_output_shapes", "shape", "_class", "dtypes", "Tin", "Tout",
        "output_types", "output_shapes", "_read_only_resource_inputs", "Tidx",
        "_collective_manager_ids", "_has_manual_control_dependencies", "N", "Tshape",
        "Tindices", "Tparams", "Taxis", "out_type", "Tpaddings", "element_shape",
    }
)  # fmt: skip


def _meta_graph(
    meta: Any, tick: Callable[[], None], attr_ops: frozenset[str] | None
) -> TfMetaGraph:
    mg = TfMetaGraph()
    for i, nd in enumerate(meta.graph_def.node):
        if not i % 4096:
            tick()
        mg.nodes.append(_node(nd, attr_ops))
    for fdef in meta.graph_def.library.function:
        tick()
        name = fdef.signature.name
        body = [_node(nd, attr_ops) for nd in fdef.node_def]
        if name in mg.functions:
            mg.functions[name].nodes += body  # a duplicate name: keep both bodies
        else:
            args = tuple(a.name for a in fdef.signature.input_arg)
            mg.functions[name] = TfFunction(name, body, args)
    saver = meta.saver_def
    mg.saver_nodes += [
        n for n in (saver.filename_tensor_name, saver.save_tensor_name, saver.restore_op_name) if n
    ]
    for entry in meta.collection_def:
        mg.collection_nodes += [(entry.key, v) for v in entry.value.node_list.value]
    for entry in meta.signature_def:
        for info in (*entry.value.inputs, *entry.value.outputs):
            mg.signature_tensors.append(info.value.name)
    mg.asset_tensors += [a.tensor_info.name for a in meta.asset_file_def]
    graph = meta.object_graph_def
    mg.object_functions += [entry.key for entry in graph.concrete_functions]
    for node_id, obj in enumerate(graph.nodes):
        if obj.HasField("user_object") and obj.user_object.metadata:
            user = obj.user_object
            mg.keras_objects.append(
                KerasObjectMetadata(node_id, f"node {node_id}", user.identifier, user.metadata)
            )
        mg.object_functions += list(obj.function.concrete_functions)
        if obj.bare_concrete_function.concrete_function_name:
            mg.object_functions.append(obj.bare_concrete_function.concrete_function_name)
    return mg


def read_saved_model(
    blob: Blob,
    tick: Callable[[], None] = lambda: None,
    *,
    attr_ops: frozenset[str] | None = None,
) -> list[TfMetaGraph]:
    """Every meta graph of a ``saved_model.pb``; raises ``ArtifactFormatError`` when
    the protobuf runtime rejects the bytes (as TensorFlow's parser would).

    ``attr_ops`` limits attribute values to nodes of those ops (function
    references are always read): decoding every attribute of a large graph
    costs more than the rest of the scan.
    """
    model = _parse(blob, "SavedModel")
    tick()
    return [_meta_graph(meta, tick, attr_ops) for meta in model.meta_graphs]


def read_node_def(raw: bytes, attr_ops: frozenset[str] | None = None) -> TfNode:
    """One serialised ``NodeDef`` (what a TFLite Flex operator carries)."""
    return _node(_parse(Blob.of(raw), "NodeDef"), attr_ops)


def read_graph_def(
    blob: Blob,
    tick: Callable[[], None] = lambda: None,
    *,
    attr_ops: frozenset[str] | None = None,
) -> TfMetaGraph:
    """A bare ``GraphDef`` (a frozen TF1 graph, ``tf.compat.v1.import_graph_def``)."""
    graph = _parse(blob, "GraphDef")
    meta = _classes["MetaGraphDef"]()
    meta.graph_def.CopyFrom(graph)
    tick()
    return _meta_graph(meta, tick, attr_ops)


def read_saved_model_text(
    text: str,
    tick: Callable[[], None] = lambda: None,
    *,
    attr_ops: frozenset[str] | None = None,
) -> list[TfMetaGraph]:
    """Every meta graph of a ``saved_model.pbtxt`` (the protobuf text format).

    Fields outside the declared subset are skipped, as they are when the
    binary form is parsed; raises ``ArtifactFormatError`` when the text does
    not parse.
    """
    from google.protobuf import text_format

    if not _classes:
        _classes.update(_message_classes())
    model = _classes["SavedModel"]()
    try:
        text_format.Parse(text, model, allow_unknown_field=True)
    except (text_format.ParseError, RecursionError, ValueError) as exc:
        raise ArtifactFormatError(f"not a SavedModel in text format: {exc}", 0) from exc
    tick()
    return [_meta_graph(meta, tick, attr_ops) for meta in model.meta_graphs]


def read_keras_metadata(blob: Blob) -> list[KerasObjectMetadata]:
    """The nodes of tf_keras's ``keras_metadata.pb`` (``SavedMetadata``)."""
    return [
        KerasObjectMetadata(n.node_id, n.node_path, n.identifier, n.metadata)
        for n in _parse(blob, "SavedMetadata").nodes
    ]
