"""ONNX models: custom operator domains and external data that leaves the model.

The model is read with openward's own ONNX reader
(:mod:`openward.artifacts.onnx`, the protobuf wire format without the
``onnx`` package); external data is never loaded. Tensors stored outside the
file name their location in ``external_data``: an absolute path, a ``..`` or
a symlink that leaves the model's folder makes a loader read (or an exporter
write) somewhere else.
"""

from __future__ import annotations

import posixpath
from typing import Final

from openward.artifacts.blob import Blob
from openward.artifacts.errors import ArtifactFormatError
from openward.artifacts.onnx import read_onnx_model
from openward.scanning.context import Location, ScanContext

__all__ = ["scan_onnx"]

# Operator domains every runtime ships; anything else needs a custom op library.
STANDARD_DOMAINS: Final = frozenset(
    {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training", "ai.onnx.training",
     "com.microsoft", "com.microsoft.nchwc", "com.microsoft.experimental",
     "com.microsoft.mlfeaturizers", "org.pytorch.aten", "com.ms.internal.nhwc"}
)  # fmt: skip
MAX_ONNX: Final = 2**31 - 1  # protobuf's limit for one message


def scan_onnx(ctx: ScanContext, blob: Blob, loc: Location, name: str) -> str | None:
    if blob.size > MAX_ONNX:
        return None
    try:
        model = read_onnx_model(blob, tick=ctx.tick)
    except ArtifactFormatError:
        return None  # protobuf of something else, or not protobuf at all
    if model.ir_version <= 0 or model.graph is None:
        return None
    ctx.tick()
    # Model-local functions are inlined by the runtime: a call to one is not a custom op,
    # but the operators inside its body are checked like the graph's own.
    local = {(f.domain, f.name) for f in model.functions}
    nodes = [(n.domain, n.op_type) for n in model.nodes()]
    nodes = [(d, op) for d, op in nodes if (d, op) not in local]
    local_domains = {d for d, _ in local}
    custom = sorted({d for d, _ in nodes if d not in STANDARD_DOMAINS})
    declared = {d for d, _ in model.opset_imports}
    for f in model.functions:
        declared |= {d for d, _ in f.opset_imports}
    custom += sorted(declared - STANDARD_DOMAINS - set(custom) - local_domains)
    for domain in custom:
        ops = sorted({op for d, op in nodes if d == domain})
        ctx.add(
            "onnx-custom-operator",
            loc,
            None,
            f"domain {domain!r}" + (f" (operators: {', '.join(ops[:8])})" if ops else ""),
        )
    for tensor in model.tensors():
        if tensor.is_external:
            _external_location(ctx, loc, name, tensor.name, tensor.external("location") or "")
    ctx.members += len(model.graph.nodes)
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
