"""TensorFlow SavedModel and TensorFlow Lite: operations that touch the machine.

A graph can read, write and delete files, reach the network or call back
into Python when it runs, and the ops that do are in TensorFlow's own op
registry (``tensorflow/core/ops/*.cc``): ``WriteFile``, checkpoint writers,
summary writers, ``DatasetToTFRecord``, snapshot and cache datasets,
``ImmutableConst`` (maps a file), dataset readers, tf.data service and RPC
ops, ``PyFunc``. Some ops only touch files because of an attribute or an
input: ``PrintV2`` appends to a file when its ``output_stream`` is
``file://PATH`` (``stderr`` is harmless), the debug ops dump tensors to
their ``debug_urls``/``dump_root``, ``CacheDataset`` writes when its file
name is not empty; those values are read and judged.

Every SavedModel carries checkpoint ops (``SaveV2``, ``RestoreV2``,
``MergeV2Checkpoints``) in the functions its ``SaverDef`` names: those are
how TensorFlow saves and restores variables at a path the caller supplies,
and are not reported when nothing but the saver reaches them. The same op
anywhere else (a serving function writing a checkpoint to a path of the
author's choosing) is reported.

Keras layers saved by tf_keras carry their config as JSON in the object
graph (older SavedModels without ``keras_metadata.pb``): it is analysed as a
Keras config. TFLite models carry TensorFlow ops as ``Flex`` custom
operators, whose options hold the serialised ``NodeDef``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from openward.artifacts.blob import Blob
from openward.artifacts.errors import ArtifactFormatError
from openward.artifacts.flatbuffer import flexbuffer_strings, root_table
from openward.artifacts.tf_graph import (
    TfMetaGraph,
    TfNode,
    read_graph_def,
    read_node_def,
    read_saved_model,
    read_saved_model_text,
)
from openward.scanning.context import Location, ScanContext
from openward.scanning.interface import Severity

__all__ = [
    "CHECKPOINT_OPS",
    "DANGEROUS_OPS",
    "FILE_WRITE_OPS",
    "RUNTIME_CUSTOM_OPERATORS",
    "judge_node",
    "scan_graph_def",
    "scan_saved_model",
    "scan_saved_model_text",
    "scan_tflite",
]

FILE_WRITE_OPS: Final[dict[str, str]] = {
    "WriteFile": "writes a file",
    "Save": "writes a checkpoint file", "SaveV2": "writes a checkpoint file",
    "SaveSlices": "writes a checkpoint file",
    "MergeV2Checkpoints": "merges checkpoint files and deletes its inputs",
    "DatasetToTFRecord": "writes a TFRecord file",
    "ExperimentalDatasetToTFRecord": "writes a TFRecord file",
    "SaveDataset": "writes a dataset to a directory",
    "SaveDatasetV2": "writes a dataset to a directory",
    "SnapshotDataset": "writes dataset snapshots to a directory",
    "SnapshotDatasetV2": "writes dataset snapshots to a directory",
    "DistributedSave": "writes a dataset to a directory through a tf.data service",
    "CreateSummaryFileWriter": "creates event files in a directory",
    "CreateSummaryDbWriter": "writes a SQLite database",
    "WriteSummary": "writes summary events", "WriteRawProtoSummary": "writes summary events",
    "WriteScalarSummary": "writes summary events", "WriteHistogramSummary": "writes summary events",
    "WriteImageSummary": "writes summary events", "WriteAudioSummary": "writes summary events",
    "WriteGraphSummary": "writes summary events", "ImportEvent": "writes summary events",
    "FlushSummaryWriter": "writes summary events", "CloseSummaryWriter": "writes summary events",
    "FileSystemSetConfiguration": "changes file system settings (credentials, endpoints)",
}  # fmt: skip
"""Ops that create, change or delete files whatever their attributes."""

FILE_READ_OPS: Final[dict[str, str]] = {
    "ReadFile": "reads any file", "MatchingFiles": "lists files",
    "ImmutableConst": "maps a file into memory",
    "WholeFileReader": "reads files", "WholeFileReaderV2": "reads files",
    "TextLineReader": "reads files", "TextLineReaderV2": "reads files",
    "FixedLengthRecordReader": "reads files", "FixedLengthRecordReaderV2": "reads files",
    "TFRecordReader": "reads files", "TFRecordReaderV2": "reads files",
    "LMDBReader": "reads LMDB files",
    "TextLineDataset": "reads files", "TFRecordDataset": "reads files",
    "TFRecordDatasetV2": "reads files", "FixedLengthRecordDataset": "reads files",
    "FixedLengthRecordDatasetV2": "reads files", "CSVDataset": "reads files",
    "CSVDatasetV2": "reads files", "ExperimentalCSVDataset": "reads files",
    "LMDBDataset": "reads LMDB files", "ExperimentalLMDBDataset": "reads LMDB files",
    "SqlDataset": "opens a SQLite database", "ExperimentalSqlDataset": "opens a SQLite database",
    "MatchingFilesDataset": "lists files", "ExperimentalMatchingFilesDataset": "lists files",
    "LoadDataset": "reads a saved dataset", "SnapshotDatasetReader": "reads dataset snapshots",
    "Restore": "reads a checkpoint", "RestoreV2": "reads a checkpoint",
    "RestoreSlice": "reads a checkpoint",
    "LoadAndRemapMatrix": "reads a checkpoint", "GenerateVocabRemapping": "reads vocabulary files",
    "RecordInput": "reads files matching a pattern", "Skipgram": "reads a text file",
}  # fmt: skip

NETWORK_OPS: Final[dict[str, str]] = {
    "DataServiceDataset": "reads from a tf.data service address",
    "DataServiceDatasetV2": "reads from a tf.data service address",
    "DataServiceDatasetV3": "reads from a tf.data service address",
    "DataServiceDatasetV4": "reads from a tf.data service address",
    "RegisterDataset": "sends a dataset to a tf.data service address",
    "RegisterDatasetV2": "sends a dataset to a tf.data service address",
    "RpcClient": "connects to an RPC server", "RpcServer": "starts an RPC server",
    "RpcServerStart": "starts an RPC server", "RpcServerRegister": "serves functions over RPC",
    "RpcCall": "calls a remote function", "RpcCheckStatus": "calls a remote function",
    "RpcGetValue": "calls a remote function",
    "BigQueryReader": "reads from BigQuery",
    "GenerateBigQueryReaderPartitions": "reads from BigQuery",
}  # fmt: skip

PYTHON_OPS: Final[dict[str, str]] = {
    "PyFunc": "calls Python",
    "PyFuncStateless": "calls Python",
    "EagerPyFunc": "calls Python",
}

DANGEROUS_OPS: Final[dict[str, str]] = {
    **FILE_WRITE_OPS, **FILE_READ_OPS, **NETWORK_OPS, **PYTHON_OPS
}  # fmt: skip
"""Every op reported whatever its attributes (the saver's own checkpoint ops aside)."""

CHECKPOINT_OPS: Final = frozenset(
    {"Save", "SaveV2", "SaveSlices", "MergeV2Checkpoints", "Restore", "RestoreV2", "RestoreSlice"}
)
"""What a ``SaverDef``'s functions legitimately run."""

_DEBUG_URL_OPS: Final = frozenset(
    {"DebugIdentity", "DebugNanCount", "DebugNumericSummary", "DebugIdentityV2", "DebugIdentityV3"}
)
_TEXT_FILE_TABLES: Final = frozenset(
    {"InitializeTableFromTextFile", "InitializeTableFromTextFileV2"}
)
_PROTO_OPS: Final = frozenset({"DecodeProtoV2", "EncodeProto"})
_CACHE_OPS: Final = frozenset({"CacheDataset", "CacheDatasetV2"})
_CONDITIONAL_OPS: Final = (
    _DEBUG_URL_OPS | _TEXT_FILE_TABLES | _PROTO_OPS | _CACHE_OPS
    | {"PrintV2", "FixedUnigramCandidateSampler"}
)  # fmt: skip
_IDENTITY_OPS: Final = frozenset({"Identity", "Snapshot", "StopGradient", "PreventGradient"})
ATTRIBUTE_OPS: Final = _CONDITIONAL_OPS | {"ImmutableConst", "Const"}
_JUDGED_OPS: Final = frozenset(DANGEROUS_OPS) | _CONDITIONAL_OPS
"""Ops whose attribute values the rules read (the rest only need their function references)."""
_MAX_SHOWN: Final = 120


@dataclass(frozen=True, slots=True)
class OpIssue:
    """One node that touches the machine."""

    rule_id: str
    """``tf-file-write`` or ``tf-dangerous-op``."""
    what: str
    """What it does, with the path or URL when the graph spells it."""


def _text(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "…"


def _attr_strings(node: TfNode, name: str) -> tuple[bytes, ...]:
    attr = node.attrs.get(name)
    return attr.strings if attr is not None else ()


def _node_name(ref: str) -> str:
    return ref.lstrip("^").split(":", 1)[0]


def _placeholder(node: TfNode, name: str) -> bool:
    attr = node.attrs.get(name)
    return attr is not None and attr.placeholder


Callers = Mapping[str, list[tuple["_Scope", TfNode]]]


class _Scope:
    """The nodes of one graph or function body, for following inputs to constants."""

    def __init__(
        self,
        nodes: list[TfNode],
        assets: frozenset[str] = frozenset(),
        *,
        args: tuple[str, ...] = (),
        callers: Callers | None = None,
        name: str = "",
    ) -> None:
        self.by_name = {n.name: n for n in nodes}
        self.assets = assets
        self.args = args
        self.callers = callers or {}
        self.name = name

    def constant(self, ref: str, depth: int = 0) -> tuple[bytes, ...] | None:
        """The string values of the constant ``ref`` comes from, if it is one.

        Follows identities, and a function argument back to the constant its
        callers pass (a path handed down to the function that opens it).
        """
        name = _node_name(ref)
        for _ in range(16):
            if name not in self.by_name and name in self.args and depth < 4:
                return self._from_callers(self.args.index(name), depth)
            node = self.by_name.get(name)
            if node is None:
                return None
            if node.op in _IDENTITY_OPS and node.inputs:
                name = _node_name(node.inputs[0])
                continue
            if node.op != "Const" or name in self.assets:
                return None
            attr = node.attrs.get("value")
            return attr.strings if attr is not None else None
        return None

    def _from_callers(self, index: int, depth: int) -> tuple[bytes, ...] | None:
        for scope, caller in self.callers.get(self.name, []):
            inputs = [i for i in caller.inputs if not i.startswith("^")]
            if index < len(inputs):
                value = scope.constant(inputs[index], depth + 1)
                if value:
                    return value
        return None

    def shown_input(self, node: TfNode, index: int = 0) -> str:
        if len(node.inputs) <= index:
            return ""
        value = self.constant(node.inputs[index])
        if not value:
            return ""
        return " (" + ", ".join(repr(_text(v)) for v in value[:3]) + ")"


def judge_node(node: TfNode, scope: _Scope, *, saver: bool = False) -> OpIssue | None:
    """What ``node`` does to the machine when it runs, or None when nothing.

    ``saver`` says the node belongs to the saver, whose checkpoint ops are
    TensorFlow's own way of saving variables.
    """
    op = node.op.removeprefix("Flex") if node.op.startswith("Flex") else node.op
    if saver and op in CHECKPOINT_OPS:
        return None
    if op in _CONDITIONAL_OPS:
        return _judge_conditional(op, node, scope)
    if op in FILE_WRITE_OPS:
        return OpIssue("tf-file-write", f"{op} {FILE_WRITE_OPS[op]}{scope.shown_input(node)}")
    if op == "ImmutableConst":
        region = _attr_strings(node, "memory_region_name")
        shown = f" ({_text(region[0])!r})" if region else ""
        return OpIssue("tf-dangerous-op", f"{op} {FILE_READ_OPS[op]}{shown}")
    for table in (FILE_READ_OPS, NETWORK_OPS, PYTHON_OPS):
        if op in table:
            return OpIssue("tf-dangerous-op", f"{op} {table[op]}{scope.shown_input(node)}")
    return None


def _judge_conditional(op: str, node: TfNode, scope: _Scope) -> OpIssue | None:
    if op == "PrintV2":
        streams = _attr_strings(node, "output_stream")
        target = next((s for s in streams if s.startswith(b"file://")), None)
        if target is None and _placeholder(node, "output_stream"):
            return OpIssue("tf-file-write", "PrintV2 prints to a stream its caller chooses")
        if target is None:
            return None  # stdout, stderr or the log
        return OpIssue("tf-file-write", f"PrintV2 appends to {_text(target)!r}")
    if op in _DEBUG_URL_OPS:
        urls = [u for u in _attr_strings(node, "debug_urls") if u]
        roots = [r for r in _attr_strings(node, "dump_root") if r]
        if _placeholder(node, "debug_urls") or _placeholder(node, "dump_root"):
            return OpIssue("tf-file-write", f"{op} dumps tensors where its caller chooses")
        if not urls and not roots:
            return None
        targets = ", ".join(repr(_text(t)) for t in (urls + roots)[:3])
        if roots or any(u.startswith(b"file://") for u in urls):
            return OpIssue("tf-file-write", f"{op} dumps tensors to {targets}")
        return OpIssue("tf-dangerous-op", f"{op} sends tensors to {targets}")
    if op == "FixedUnigramCandidateSampler":
        vocab = [v for v in _attr_strings(node, "vocab_file") if v]
        if not vocab and _placeholder(node, "vocab_file"):
            vocab = [b"<set by the caller>"]
        if not vocab:
            return None
        return OpIssue("tf-dangerous-op", f"{op} reads the vocabulary file {_text(vocab[0])!r}")
    if op in _PROTO_OPS:
        source = [s for s in _attr_strings(node, "descriptor_source") if s]
        if not source and _placeholder(node, "descriptor_source"):
            source = [b"<set by the caller>"]
        if not source or source[0] == b"local://" or source[0].startswith(b"bytes://"):
            return None
        return OpIssue("tf-dangerous-op", f"{op} reads descriptors from {_text(source[0])!r}")
    if op in _CACHE_OPS:
        name = scope.constant(node.inputs[1]) if len(node.inputs) > 1 else None
        if name is not None and all(not v for v in name):
            return None  # an in-memory cache
        return OpIssue(
            "tf-file-write", f"{op} caches the dataset to a file{scope.shown_input(node, 1)}"
        )
    # InitializeTableFromTextFile: a vocabulary under assets/ reaches it through an
    # asset tensor or a function argument; a constant path is the author's choice.
    path = scope.constant(node.inputs[1]) if len(node.inputs) > 1 else None
    if not path:
        return None
    return OpIssue("tf-dangerous-op", f"{op} reads {_text(path[0])!r} into a lookup table")


def _function_refs(node: TfNode, functions: Mapping[str, object]) -> list[str]:
    refs = [f for f in node.calls if f in functions]
    if node.op in functions:
        refs.append(node.op)
    return refs


def _closure(start: Iterable[str], edges: dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(start)
    while stack:
        item = stack.pop()
        if item in seen:
            continue
        seen.add(item)
        stack.extend(edges.get(item, ()))
    return seen


def _saver_scope(mg: TfMetaGraph) -> tuple[set[str], set[str]]:
    """Graph nodes and functions that only the saver reaches."""
    inputs = {n.name: [_node_name(i) for i in n.inputs] for n in mg.nodes}
    saver_roots = {_node_name(s) for s in mg.saver_nodes if s}
    saver_graph = _closure(saver_roots & inputs.keys(), inputs)
    active_graph = _closure((n for n in inputs if n not in saver_graph), inputs)
    saver_only = saver_graph - active_graph

    fn_edges = {
        name: [r for node in fn.nodes for r in _function_refs(node, mg.functions)]
        for name, fn in mg.functions.items()
    }
    referenced = {r for refs in fn_edges.values() for r in refs}
    graph_refs: dict[str, list[str]] = {
        n.name: list(_function_refs(n, mg.functions)) for n in mg.nodes
    }
    referenced |= {r for refs in graph_refs.values() for r in refs}
    active_roots = [r for n in active_graph for r in graph_refs.get(n, ())]
    active_roots += [f for f in mg.object_functions if f in mg.functions]
    active_roots += [f for f in mg.functions if f not in referenced]  # callable by name
    active_fns = _closure(active_roots, fn_edges)
    saver_fns = _closure((r for n in saver_only for r in graph_refs.get(n, ())), fn_edges)
    return saver_only, saver_fns - active_fns


def _meta_graph_issues(mg: TfMetaGraph, tick: object) -> dict[tuple[str, str], int]:
    has_checkpoint_ops = any(n.op in CHECKPOINT_OPS for n in mg.nodes) or any(
        n.op in CHECKPOINT_OPS for fn in mg.functions.values() for n in fn.nodes
    )
    saver_nodes, saver_fns = _saver_scope(mg) if has_checkpoint_ops else (set(), set())
    assets = frozenset(_node_name(a) for a in mg.asset_tensors)
    issues: dict[tuple[str, str], int] = {}

    graph_scope = _Scope(mg.nodes, assets)
    scopes = {
        name: _Scope(fn.nodes, assets, args=fn.args, name=name) for name, fn in mg.functions.items()
    }
    callers: dict[str, list[tuple[_Scope, TfNode]]] = {}
    for scope, nodes in [(graph_scope, mg.nodes)] + [
        (scopes[name], fn.nodes) for name, fn in mg.functions.items()
    ]:
        for node in nodes:
            for ref in _function_refs(node, mg.functions):
                callers.setdefault(ref, []).append((scope, node))
    for scope in (graph_scope, *scopes.values()):
        scope.callers = callers

    def judge(scope: _Scope, nodes: list[TfNode], where: str, saver: set[str] | bool) -> None:
        if callable(tick):
            tick()
        for node in nodes:
            if node.op not in _JUDGED_OPS and not node.op.startswith("Flex"):
                continue
            in_saver = saver if isinstance(saver, bool) else node.name in saver
            issue = judge_node(node, scope, saver=in_saver)
            if issue is not None:
                key = (issue.rule_id, f"{issue.what} in {where}")
                issues[key] = issues.get(key, 0) + 1

    judge(graph_scope, mg.nodes, "the graph", saver_nodes)
    for name, fn in mg.functions.items():
        judge(scopes[name], fn.nodes, f"function {name}", name in saver_fns)
    return issues


def scan_saved_model(ctx: ScanContext, blob: Blob, loc: Location, name: str) -> str | None:
    del name
    try:
        graphs = read_saved_model(blob, ctx.tick, attr_ops=ATTRIBUTE_OPS)
    except ArtifactFormatError:
        return None  # not a SavedModel after all
    if not _report_graphs(ctx, graphs, loc):
        return None
    return "tf-saved-model"


def _report_graphs(ctx: ScanContext, graphs: list[TfMetaGraph], loc: Location) -> int:
    count = sum(len(mg.nodes) + sum(len(f.nodes) for f in mg.functions.values()) for mg in graphs)
    if not count:
        return 0
    for mg in graphs:
        for (rule_id, what), n in sorted(_meta_graph_issues(mg, ctx.tick).items()):
            ctx.add(rule_id, loc, None, what + (f", {n} time(s)" if n > 1 else ""))
        _keras_objects(ctx, mg, loc)
    ctx.members += count
    return count


def scan_graph_def(ctx: ScanContext, blob: Blob, loc: Location, name: str) -> str | None:
    """A frozen GraphDef (``*.pb`` of TF1): its nodes run when the graph is imported and run."""
    del name
    try:
        graph = read_graph_def(blob, ctx.tick, attr_ops=ATTRIBUTE_OPS)
    except ArtifactFormatError:
        return None
    if not graph.nodes or not all(n.op for n in graph.nodes):
        return None  # protobuf-shaped bytes, but not a graph
    _report_graphs(ctx, [graph], loc)
    return "tf-graph-def"


MAX_SAVED_MODEL_TEXT: Final = 16 << 20
"""Largest ``saved_model.pbtxt`` parsed: protobuf's text parser is pure Python
(about 1.5 s a MiB here) and cannot be interrupted by the per-file time limit."""


def scan_saved_model_text(ctx: ScanContext, blob: Blob, loc: Location, name: str) -> str | None:
    """``saved_model.pbtxt``: TensorFlow's loader reads it when there is no ``saved_model.pb``."""
    del name
    if blob.size > MAX_SAVED_MODEL_TEXT:
        ctx.add(
            "scan-limit-reached",
            loc,
            None,
            f"saved_model.pbtxt of {blob.size} bytes is larger than the "
            f"{MAX_SAVED_MODEL_TEXT} bytes parsed (MAX_SAVED_MODEL_TEXT)",
        )
        return None
    text = blob.read(0, blob.size).decode("utf-8", "replace")
    try:
        graphs = read_saved_model_text(text, ctx.tick, attr_ops=ATTRIBUTE_OPS)
    except ArtifactFormatError:
        return None
    return "tf-saved-model-text" if _report_graphs(ctx, graphs, loc) else None


def _keras_objects(ctx: ScanContext, mg: TfMetaGraph, loc: Location) -> None:
    """tf_keras layers revived from the JSON metadata kept in the object graph."""
    from openward.scanning.formats.keras import scan_keras_config

    for obj in mg.keras_objects:
        if not obj.identifier.startswith("_tf_keras"):
            continue
        try:
            doc = json.loads(obj.metadata)
        except (ValueError, RecursionError):
            ctx.add("keras-malformed", loc, None, f"{obj.node_path}: metadata is not JSON")
            continue
        scan_keras_config(ctx, doc, (*loc, f"<keras object {obj.node_id}>"))


def _flex_options(model: object, n_codes: int) -> dict[int, list[bytes]]:
    """Custom options of every operator, by operator-code index."""
    from openward.artifacts.flatbuffer import Table

    assert isinstance(model, Table)
    out: dict[int, list[bytes]] = {}
    for subgraph in model.tables(2):
        for operator in subgraph.tables(3):
            index = operator.scalar(0, "<I")
            if index < n_codes:
                raw = operator.ubytes(5)
                if not raw:  # options kept outside the flatbuffer (large_custom_options)
                    offset, size = operator.scalar(9, "<Q"), operator.scalar(10, "<Q")
                    raw = operator.blob.read(offset, min(size, 1 << 20)) if size else b""
                out.setdefault(index, []).append(raw)
    return out


def scan_tflite(ctx: ScanContext, blob: Blob, loc: Location, name: str) -> str:
    try:
        model = root_table(blob)
        codes = model.tables(1)
        custom = [code.string(1) or "" for code in codes]
        options = _flex_options(model, len(codes))
    except ArtifactFormatError as exc:
        ctx.add("tflite-malformed", loc, exc.offset, exc.message)
        return "tflite"
    found: dict[tuple[str, str], int] = {}
    for index, code in enumerate(custom):
        if not code.startswith("Flex"):
            continue
        for issue in _judge_flex(code, options.get(index, [])):
            key = (issue.rule_id, issue.what)
            found[key] = found.get(key, 0) + max(1, len(options.get(index, [])))
    for (rule_id, what), n in sorted(found.items()):
        ctx.add(rule_id, loc, None, f"{what} (TFLite Flex operator), {n} time(s)")
    plain = sorted({c for c in custom if c and not c.startswith("Flex")})
    unknown = [c for c in plain if c not in RUNTIME_CUSTOM_OPERATORS]
    if unknown:
        ctx.add("tflite-custom-operator", loc, None, f"custom operators: {', '.join(unknown[:10])}")
    elif plain:
        ctx.add(
            "tflite-custom-operator",
            loc,
            None,
            f"custom operators {', '.join(plain[:10])}: kernels MediaPipe and TensorFlow Lite "
            "ship and register themselves",
            severity=Severity.INFO,
        )
    return "tflite"


RUNTIME_CUSTOM_OPERATORS: Final = frozenset(
    {
        # tensorflow/lite/kernels/register.cc: custom ops of TFLite's own resolver
        "TFLite_Detection_PostProcess",
        # mediapipe/util/tflite/cpu_op_resolver.cc (MediaPipe_RegisterTfLiteOpResolver)
        "MaxPoolingWithArgmax2D", "MaxUnpooling2D", "Convolution2DTransposeBias",
        "TransformTensorBilinear", "TransformLandmarks", "Landmarks2TransformMatrix",
        "Resampler",
    }
)  # fmt: skip
"""Custom operators registered by the runtimes that load such models (TFLite's builtin
resolver, MediaPipe's): native code that ships with the runtime, like builtin ops."""


def _flex_nodes(code: str, options: list[bytes]) -> list[TfNode] | None:
    """The TensorFlow ops a Flex operator may run, with the attributes its NodeDef gives;
    None when no options decode.

    The delegate runs the op named by element 0 of the options (a FlexBuffer
    ``[op name, NodeDef]``), not the one ``custom_code`` or the NodeDef names
    (``tensorflow/lite/delegates/flex/kernel.cc``), so all three are judged.
    """
    nodes: list[TfNode] = []
    for raw in options:
        try:
            elements = flexbuffer_strings(raw)
            nodedef = read_node_def(elements[1]) if len(elements) > 1 and elements[1] else None
        except ArtifactFormatError:
            continue
        attrs = nodedef.attrs if nodedef is not None else {}
        names = {code[4:], nodedef.op if nodedef is not None else ""}
        if elements and elements[0] is not None:
            names.add(elements[0].decode("utf-8", "replace"))
        nodes += [TfNode(code, op, (), attrs) for op in sorted(names) if op]
    return nodes or None


def _judge_flex(code: str, options: list[bytes]) -> list[OpIssue]:
    """A Flex operator: the ops it runs, judged with the attributes of its NodeDef."""
    nodes = _flex_nodes(code, options)
    if nodes is None:
        by_code = _judge_flex_by_code(code, options)
        return [by_code] if by_code is not None else []
    issues: list[OpIssue] = []
    for node in nodes:
        if node.op in _CONDITIONAL_OPS - _DEBUG_URL_OPS - _PROTO_OPS - {"PrintV2"}:
            # Their file name is an input tensor of another operator: not resolvable here.
            issue: OpIssue | None = OpIssue("tf-dangerous-op", f"{node.op} may read or write files")
        else:
            issue = judge_node(node, _Scope([]))
        if issue is not None and issue not in issues:
            issues.append(issue)
    return issues


def _judge_flex_by_code(code: str, options: list[bytes]) -> OpIssue | None:
    """Options that do not decode: judge the op ``custom_code`` names, strings verbatim."""
    op = code[4:]
    if op == "PrintV2":
        target = next((o for o in options if b"file://" in o), None)
        if target is None:
            return None
        at = target.index(b"file://")
        path = target[at : at + _MAX_SHOWN].split(b"\x00", 1)[0].split(b"\x12", 1)[0]
        return OpIssue("tf-file-write", f"PrintV2 appends to {_text(path)!r}")
    if op in _CONDITIONAL_OPS:
        # Inputs are tensors of other operators: not resolvable here. Flag them.
        return OpIssue("tf-dangerous-op", f"{op} may read or write files")
    return judge_node(TfNode(code, code, (), {}), _Scope([]))
