"""ONNX models: custom operator domains and external data that leaves the model.

The model is parsed with the ``onnx`` package's protobuf classes; external
data is never loaded. Tensors stored outside the file name their location in
``external_data``: an absolute path, a ``..`` or a symlink that leaves the
model's folder makes a loader read (or an exporter write) somewhere else.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import Any, Final

from openward.artifacts.blob import Blob
from openward.scanning.context import Location, ScanContext

__all__ = ["scan_onnx"]

# Operator domains every runtime ships; anything else needs a custom op library.
STANDARD_DOMAINS: Final = frozenset(
    {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training", "ai.onnx.training",
     "com.microsoft", "com.microsoft.nchwc", "com.microsoft.experimental",
     "com.microsoft.mlfeaturizers", "org.pytorch.aten", "com.ms.internal.nhwc"}
)  # fmt: skip
MAX_ONNX: Final = 2**31 - 1  # protobuf's limit for one message


def _tensors(graph: Any) -> Iterator[Any]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    yield from _node_tensors(graph.node)


def _node_tensors(nodes: Any) -> Iterator[Any]:
    """Tensors in node attributes (a Constant's value), subgraphs included: in a
    graph or in the body of a model-local function, which the runtime inlines."""
    for node in nodes:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("sparse_tensor"):
                yield attr.sparse_tensor.values
                yield attr.sparse_tensor.indices
            yield from (
                t for sparse in attr.sparse_tensors for t in (sparse.values, sparse.indices)
            )
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for g in attr.graphs:
                yield from _tensors(g)


def _text(value: object) -> str:
    """protobuf hands back bytes for strings that are not valid UTF-8."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _nodes(graph: Any) -> Iterator[Any]:
    yield from _walk_nodes(graph.node)


def _walk_nodes(nodes: Any) -> Iterator[Any]:
    for node in nodes:
        yield node
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _nodes(attr.g)
            for g in attr.graphs:
                yield from _nodes(g)


def scan_onnx(ctx: ScanContext, blob: Blob, loc: Location, name: str) -> str | None:
    from google.protobuf.message import DecodeError
    from onnx import ModelProto, TensorProto

    if blob.size > MAX_ONNX:
        return None
    model = ModelProto()
    try:
        model.ParseFromString(blob.read(0, blob.size))
    except (DecodeError, RecursionError, ValueError):
        return None  # protobuf of something else, or not protobuf at all
    if model.ir_version <= 0 or not model.HasField("graph"):
        return None
    ctx.tick()
    # Model-local functions are inlined by the runtime: a call to one is not a custom op,
    # but the operators inside its body are checked like the graph's own.
    local = {(_text(f.domain), _text(f.name)) for f in model.functions}
    nodes = [(_text(n.domain), _text(n.op_type)) for n in _nodes(model.graph)]
    for f in model.functions:
        nodes += [(_text(n.domain), _text(n.op_type)) for n in _walk_nodes(f.node)]
    nodes = [(d, op) for d, op in nodes if (d, op) not in local]
    local_domains = {d for d, _ in local}
    custom = sorted({d for d, _ in nodes if d not in STANDARD_DOMAINS})
    declared = {_text(o.domain) for o in model.opset_import}
    for f in model.functions:
        declared |= {_text(o.domain) for o in f.opset_import}
    custom += sorted(declared - STANDARD_DOMAINS - set(custom) - local_domains)
    for domain in custom:
        ops = sorted({op for d, op in nodes if d == domain})
        ctx.add(
            "onnx-custom-operator",
            loc,
            None,
            f"domain {domain!r}" + (f" (operators: {', '.join(ops[:8])})" if ops else ""),
        )
    tensors = [*_tensors(model.graph), *(t for f in model.functions for t in _node_tensors(f.node))]
    for tensor in tensors:
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        entries = {_text(e.key): _text(e.value) for e in tensor.external_data}
        _external_location(ctx, loc, name, _text(tensor.name), entries.get("location", ""))
    ctx.members += len(model.graph.node)
    return "onnx"


def _external_location(
    ctx: ScanContext, loc: Location, name: str, tensor: str, location: str
) -> None:
    norm = location.replace("\\", "/")
    escapes = (
        not norm
        or norm.startswith("/")
        or (len(norm) > 1 and norm[1] == ":")
        or posixpath.normpath(norm).split("/")[0] == ".."
    )
    if escapes:
        ctx.add(
            "onnx-external-data-escape",
            loc,
            None,
            f"tensor {tensor!r} reads its data from {location!r}, outside the model's folder",
        )
        return
    if ctx.fs_path is None or name != ctx.path:
        return  # inside an archive: the sibling files are not on disk
    folder = ctx.fs_path.parent
    target = folder / norm
    if target.is_symlink() or any(p.is_symlink() for p in target.parents if folder in p.parents):
        resolved = target.resolve()
        if folder.resolve() not in resolved.parents:
            ctx.add(
                "onnx-external-data-escape",
                loc,
                None,
                f"tensor {tensor!r} reads {location!r}, a link to {resolved}",
            )
            return
    if not target.exists():
        ctx.add(
            "onnx-external-data-missing",
            loc,
            None,
            f"tensor {tensor!r} names external data {location!r}, which does not exist",
        )
