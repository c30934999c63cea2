"""TensorFlow SavedModel and tf_keras metadata protobufs, read without TensorFlow.

Only what the rules need, from the published schemas
(``tensorflow/core/protobuf/saved_model.proto``, ``meta_graph.proto``,
``saver.proto``, ``saved_object_graph.proto``,
``tensorflow/core/framework/{graph,node_def,function,attr_value,tensor}.proto``
and tf_keras's ``protobuf/saved_metadata.proto``): every node of the graph
and of every library function with its inputs and the attribute values that
can name files, URLs or other functions; the saver's nodes; the tensors
signatures, collections and assets name; the functions the object graph
exposes; and the JSON metadata tf_keras revives layers from. Field order and
unknown fields do not matter, as for protobuf itself. No judgement here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from openward.artifacts.blob import Blob
from openward.artifacts.protobuf_wire import LENGTH, VARINT, fields, string_field

__all__ = [
    "KerasObjectMetadata",
    "TfAttr",
    "TfFunction",
    "TfMetaGraph",
    "TfNode",
    "read_keras_metadata",
    "read_saved_model",
]

MAX_ATTR_STRING: Final = 4096
"""Attribute strings are kept up to this many bytes: paths and URLs, not vocabularies."""
_STRING_DTYPE: Final = 7  # DT_STRING

# Attributes that never name a file, a URL or a function: skipped unread.
_SKIP_ATTRS: Final = frozenset(
    {
        b"T", b"dtype", b"_output_shapes", b"shape", b"_class", b"dtypes", b"Tin", b"Tout",
        b"output_types", b"output_shapes", b"_read_only_resource_inputs", b"Tidx",
        b"_collective_manager_ids", b"_has_manual_control_dependencies", b"N", b"Tshape",
        b"Tindices", b"Tparams", b"Taxis", b"out_type", b"Tpaddings", b"element_shape",
    }
)  # fmt: skip


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


def _sub(blob: Blob, span: tuple[int, int], number: int) -> list[tuple[int, int]]:
    return [
        v for n, w, v in fields(blob, *span) if n == number and w == LENGTH and isinstance(v, tuple)
    ]


def _first_string(blob: Blob, span: tuple[int, int], number: int) -> str:
    found = _sub(blob, span, number)
    return string_field(blob, found[-1]) if found else ""


def _bytes(blob: Blob, span: tuple[int, int]) -> bytes:
    return blob.read(span[0], min(span[1] - span[0], MAX_ATTR_STRING))


def _tensor_strings(blob: Blob, span: tuple[int, int]) -> list[bytes]:
    dtype = 0
    values: list[bytes] = []
    for n, w, v in fields(blob, *span):
        if n == 1 and w == VARINT and isinstance(v, int):
            dtype = v
        elif n == 8 and w == LENGTH and isinstance(v, tuple):
            values.append(_bytes(blob, v))
    return values if dtype in (0, _STRING_DTYPE) else []


def _attr_value(blob: Blob, span: tuple[int, int]) -> TfAttr:
    strings: list[bytes] = []
    funcs: list[str] = []
    placeholder = False
    for n, w, v in fields(blob, *span):
        if w != LENGTH or not isinstance(v, tuple):
            continue
        if n == 2:  # s
            strings.append(_bytes(blob, v))
        elif n == 9:  # placeholder
            placeholder = True
        elif n == 10:  # func: NameAttrList; its attr values bind the callee's placeholders
            funcs.append(_first_string(blob, v, 1))
            for entry in _sub(blob, v, 2):
                for value in _sub(blob, entry, 2):
                    strings += _attr_value(blob, value).strings
        elif n == 8:  # tensor
            strings += _tensor_strings(blob, v)
        elif n == 1:  # list
            for n2, w2, v2 in fields(blob, *v):
                if w2 != LENGTH or not isinstance(v2, tuple):
                    continue
                if n2 == 2:
                    strings.append(_bytes(blob, v2))
                elif n2 == 9:
                    funcs.append(_first_string(blob, v2, 1))
                elif n2 == 8:
                    strings += _tensor_strings(blob, v2)
    return TfAttr(tuple(strings), tuple(funcs), placeholder)


def _node(blob: Blob, span: tuple[int, int]) -> TfNode:
    name = op = ""
    inputs: list[str] = []
    attrs: dict[str, TfAttr] = {}
    for n, w, v in fields(blob, *span):
        if w != LENGTH or not isinstance(v, tuple):
            continue
        if n == 1:
            name = string_field(blob, v)
        elif n == 2:
            op = string_field(blob, v)
        elif n == 3:
            inputs.append(string_field(blob, v))
        elif n == 5:  # map<string, AttrValue> entry
            key = b""
            value: tuple[int, int] | None = None
            for n2, w2, v2 in fields(blob, *v):
                if w2 == LENGTH and isinstance(v2, tuple):
                    if n2 == 1:
                        key = blob.read(v2[0], v2[1] - v2[0])
                    elif n2 == 2:
                        value = v2
            if value is not None and key not in _SKIP_ATTRS:
                attrs[key.decode("utf-8", "replace")] = _attr_value(blob, value)
    return TfNode(name, op, tuple(inputs), attrs)


def _graph(blob: Blob, span: tuple[int, int], mg: TfMetaGraph, tick: Callable[[], None]) -> None:
    for n, w, v in fields(blob, *span):
        if w != LENGTH or not isinstance(v, tuple):
            continue
        if n == 1:
            tick()
            mg.nodes.append(_node(blob, v))
        elif n == 2:  # FunctionDefLibrary
            for fdef in _sub(blob, v, 1):
                tick()
                signature = _sub(blob, fdef, 1)
                fname = _first_string(blob, signature[-1], 1) if signature else ""
                args = tuple(
                    _first_string(blob, arg, 1)
                    for arg in (_sub(blob, signature[-1], 2) if signature else [])
                )
                body = [_node(blob, nd) for nd in _sub(blob, fdef, 3)]
                if fname in mg.functions:
                    mg.functions[fname].nodes += body  # a duplicate name: keep both bodies
                else:
                    mg.functions[fname] = TfFunction(fname, body, args)


def _tensor_info_name(blob: Blob, span: tuple[int, int]) -> str:
    return _first_string(blob, span, 1)


def _signature(blob: Blob, span: tuple[int, int], mg: TfMetaGraph) -> None:
    for sig in _sub(blob, span, 2):  # map entry value: SignatureDef
        for number in (1, 2):  # inputs, outputs: map<string, TensorInfo>
            for entry in _sub(blob, sig, number):
                for info in _sub(blob, entry, 2):
                    mg.signature_tensors.append(_tensor_info_name(blob, info))


def _collection(blob: Blob, span: tuple[int, int], mg: TfMetaGraph) -> None:
    key = _first_string(blob, span, 1)
    for value in _sub(blob, span, 2):
        for node_list in _sub(blob, value, 1):
            for item in _sub(blob, node_list, 1):
                mg.collection_nodes.append((key, string_field(blob, item)))


def _object_graph(blob: Blob, span: tuple[int, int], mg: TfMetaGraph) -> None:
    for entry in _sub(blob, span, 2):  # concrete_functions: map<name, SavedConcreteFunction>
        mg.object_functions.append(_first_string(blob, entry, 1))
    for node_id, obj in enumerate(_sub(blob, span, 1)):
        for n, w, v in fields(blob, *obj):
            if w != LENGTH or not isinstance(v, tuple):
                continue
            if n == 4:  # user_object: identifier = 1, metadata = 3
                identifier = _first_string(blob, v, 1)
                metadata = _first_string(blob, v, 3)
                if metadata:
                    mg.keras_objects.append(
                        KerasObjectMetadata(node_id, f"node {node_id}", identifier, metadata)
                    )
            elif n == 6:  # function: concrete_functions = 1
                mg.object_functions += [string_field(blob, s) for s in _sub(blob, v, 1)]
            elif n == 8:  # bare_concrete_function: concrete_function_name = 1
                mg.object_functions.append(_first_string(blob, v, 1))


def _meta_graph(blob: Blob, span: tuple[int, int], tick: Callable[[], None]) -> TfMetaGraph:
    mg = TfMetaGraph()
    for n, w, v in fields(blob, *span):
        if w != LENGTH or not isinstance(v, tuple):
            continue
        if n == 2:
            _graph(blob, v, mg, tick)
        elif n == 3:  # SaverDef: filename_tensor_name, save_tensor_name, restore_op_name
            for n2, w2, v2 in fields(blob, *v):
                if n2 in (1, 2, 3) and w2 == LENGTH and isinstance(v2, tuple):
                    mg.saver_nodes.append(string_field(blob, v2))
        elif n == 4:
            _collection(blob, v, mg)
        elif n == 5:
            _signature(blob, v, mg)
        elif n == 6:  # AssetFileDef: tensor_info = 1
            for info in _sub(blob, v, 1):
                mg.asset_tensors.append(_tensor_info_name(blob, info))
        elif n == 7:
            _object_graph(blob, v, mg)
    return mg


def read_saved_model(blob: Blob, tick: Callable[[], None] = lambda: None) -> list[TfMetaGraph]:
    """Every meta graph of a ``saved_model.pb``; raises ``ArtifactFormatError`` on bad wire data."""
    return [
        _meta_graph(blob, v, tick)
        for n, w, v in fields(blob)
        if n == 2 and w == LENGTH and isinstance(v, tuple)
    ]


def read_keras_metadata(blob: Blob) -> list[KerasObjectMetadata]:
    """The nodes of tf_keras's ``keras_metadata.pb`` (``SavedMetadata``)."""
    out: list[KerasObjectMetadata] = []
    for node in _sub(blob, (0, blob.size), 1):
        node_id = 0
        path = identifier = metadata = ""
        for n, w, v in fields(blob, *node):
            if n == 2 and w == VARINT and isinstance(v, int):
                node_id = v
            elif w == LENGTH and isinstance(v, tuple):
                if n == 3:
                    path = string_field(blob, v)
                elif n == 4:
                    identifier = string_field(blob, v)
                elif n == 5:
                    metadata = string_field(blob, v)
        out.append(KerasObjectMetadata(node_id, path, identifier, metadata))
    return out
