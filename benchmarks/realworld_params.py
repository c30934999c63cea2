"""Ground-truth parameter count of ONE corpus weight file, as its loader reports it.

Run by ``scan_realworld.py --ground-truth``, never imported: each file gets its
own process (``python -I``, a fresh temporary working directory, a minimal
environment, no network where ``unshare -n`` is available), because the files
are loaded by their real loaders here. They are published benign packages, but
loading is still loading, so the loader never runs in the benchmark process.

Usage: ``python -I realworld_params.py FORMAT PATH`` prints one JSON object:

- ``parameters``: the count, or null when no loader could give one;
- ``method``: how it was obtained (which loader, which call, what was summed);
- ``excluded``: elements left out as buffers (BatchNorm running statistics,
  ``num_batches_tracked``, Keras ``moving_mean``/``moving_variance``);
- ``tensors``: how many tensors were summed.

What is counted
---------------
- PyTorch checkpoints: ``torch.load(weights_only=True)``; the state dict is the
  mapping of tensors (found under ``state_dict``/``model``/``model_state``/...
  when the file is a checkpoint dict); ``sum(t.numel())`` over its tensors,
  less buffers. No model object exists, so this is the state-dict sum.
- TorchScript: ``torch.jit.load`` then ``sum(p.numel() for p in m.parameters())``
  (parameters only, buffers are not parameters).
- ONNX: ``onnx.load``; every initializer and ``Constant``-node tensor (subgraphs
  included) is classified by the operator inputs it feeds: a weight input
  (Conv/ConvTranspose/Gemm/MatMul operands, RNN weights, normalisation scale and
  bias, PRelu slope, an embedding table, quantized weights) counts whatever its
  size; BatchNormalization mean/variance are buffers; quantization scales and
  zero points are bookkeeping; tensors feeding only shape, axis, index, scale
  or literal inputs (Reshape, Resize, Slice, Clip, Pow exponent, ...) are
  constants. Any other float or 8/4-bit tensor counts, except a one-element one
  (a literal such as 0.5) unless it is named like a parameter (``weight``,
  ``bias``, TF's ``ReadVariableOp:0``, Paddle's ``w_0``). silero-vad ships the same network as
  safetensors and as ONNX (initializers in some variants, Constant nodes in
  another; faster-whisper's copy too): all give 309,633; pythainlp's
  ``deepcut.onnx`` and deepcut's Keras ``.h5`` give 534,863; ddddocr's float
  ``common.onnx`` and its int8-quantized ``common_old.onnx`` give 13,520,258.
- safetensors: ``safetensors.safe_open``; every tensor, less buffers.
- GGUF: ``gguf.GGUFReader``; ``n_elements`` of every tensor.
- Keras HDF5: ``h5py``; every dataset under ``model_weights`` (or the root of a
  weights-only file), less ``moving_mean``/``moving_variance``.
- NumPy ``.npz``: ``numpy.load(allow_pickle=False)``; every array.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")
KERAS_BUFFERS = ("moving_mean", "moving_variance")
STATE_KEYS = ("state_dict", "model_state_dict", "model_state", "model", "net", "params", "weights")


def _is_buffer(name: str) -> bool:
    return name.split(".")[-1] in BUFFER_SUFFIXES


def _tensor_map(obj: Any, torch: Any) -> tuple[dict[str, Any], str]:
    """The state dict inside a loaded checkpoint, and where it was found."""
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj, "top-level mapping"
    if isinstance(obj, dict):
        for key in STATE_KEYS:
            inner = obj.get(key)
            if (
                isinstance(inner, dict)
                and inner
                and all(isinstance(v, torch.Tensor) for v in inner.values())
            ):
                return inner, f"checkpoint[{key!r}]"
        flat: dict[str, Any] = {}

        def walk(prefix: str, value: Any) -> None:
            if isinstance(value, torch.Tensor):
                flat[prefix] = value
            elif isinstance(value, dict):
                for k, v in value.items():
                    walk(f"{prefix}.{k}" if prefix else str(k), v)
            elif isinstance(value, list | tuple):
                for i, v in enumerate(value):
                    walk(f"{prefix}.{i}" if prefix else str(i), v)

        walk("", obj)
        return flat, "every tensor in nested containers"
    if isinstance(obj, list | tuple):
        return {str(i): t for i, t in enumerate(obj) if isinstance(t, torch.Tensor)}, "list"
    return {}, f"no tensors in a {type(obj).__name__}"


class _Stub:
    """Stands in for a class the checkpoint names but this process must not import."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


_REAL_MODULES = ("torch", "collections", "builtins", "__builtin__", "copyreg", "numpy", "_codecs")


def _stub_pickle_module() -> Any:
    """A ``pickle`` look-alike whose Unpickler imports only torch/numpy/builtins.

    Every other global (omegaconf, pyannote, typing...) becomes an inert stub
    class, so nothing of those libraries is imported or run; the tensors are
    rebuilt by torch's own functions as in a normal load.
    """
    import pickle
    import types

    class StubUnpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            if module.split(".")[0] in _REAL_MODULES:
                return super().find_class(module, name)
            return type(name, (_Stub,), {"__module__": "stub." + module})

    fake = types.ModuleType("stub_pickle")
    fake.__dict__.update({k: getattr(pickle, k) for k in dir(pickle) if not k.startswith("__")})
    fake.Unpickler = StubUnpickler  # type: ignore[attr-defined]
    return fake


def torch_file(path: str) -> dict[str, Any]:
    import torch

    how = "torch.load(weights_only=True)"
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        refused = str(exc).split(".", 1)[0].replace("\x1b[1m", "").replace("\x1b[0m", "")
        obj = torch.load(
            path, map_location="cpu", weights_only=False, pickle_module=_stub_pickle_module()
        )
        how = (
            "torch.load with an unpickler that replaces every non-torch/numpy/builtins "
            f"class by an inert stub (weights_only refused: {refused})"
        )
    tensors, where = _tensor_map(obj, torch)
    kept = {k: v for k, v in tensors.items() if not _is_buffer(k)}
    return {
        "parameters": sum(int(v.numel()) for v in kept.values()),
        "excluded": sum(int(v.numel()) for k, v in tensors.items() if _is_buffer(k)),
        "tensors": len(kept),
        "method": f"{how}; sum(numel) over {where}, buffers excluded",
    }


def torchscript(path: str) -> dict[str, Any]:
    import torch

    module = torch.jit.load(path, map_location="cpu")
    params = list(module.parameters())
    buffers = list(module.buffers())
    return {
        "parameters": sum(int(p.numel()) for p in params),
        "excluded": sum(int(b.numel()) for b in buffers),
        "tensors": len(params),
        "method": "torch.jit.load; sum(p.numel() for p in module.parameters())",
    }


# What a constant tensor is, from the operator input it feeds (index per op).
_WEIGHT_INPUTS: dict[str, frozenset[int]] = {
    "Conv": frozenset({1, 2}),
    "ConvTranspose": frozenset({1, 2}),
    "Gemm": frozenset({0, 1, 2}),
    "MatMul": frozenset({0, 1}),
    "LSTM": frozenset({1, 2, 3}),
    "GRU": frozenset({1, 2, 3}),
    "RNN": frozenset({1, 2, 3}),
    "BatchNormalization": frozenset({1, 2}),
    "InstanceNormalization": frozenset({1, 2}),
    "LayerNormalization": frozenset({1, 2}),
    "GroupNormalization": frozenset({1, 2}),
    "PRelu": frozenset({1}),
    "Gather": frozenset({0}),  # an embedding table
    "QLinearConv": frozenset({3, 8}),
    "QLinearMatMul": frozenset({0, 3}),
    "MatMulInteger": frozenset({0, 1}),
    "ConvInteger": frozenset({1}),
    "DequantizeLinear": frozenset({0}),
}
_BUFFER_INPUTS: dict[str, frozenset[int]] = {"BatchNormalization": frozenset({3, 4})}
_QUANT_INPUTS: dict[str, frozenset[int]] = {
    "QLinearConv": frozenset({1, 2, 4, 5, 6, 7}),
    "QLinearMatMul": frozenset({1, 2, 4, 5, 6, 7}),
    "MatMulInteger": frozenset({2, 3}),
    "ConvInteger": frozenset({2, 3}),
    "DequantizeLinear": frozenset({1, 2}),
    "QuantizeLinear": frozenset({1, 2}),
}
_ALL = frozenset(range(16))
_CONSTANT_INPUTS: dict[str, frozenset[int]] = {
    # shapes, axes, indices, scales and literal operands: never parameters
    "Reshape": frozenset({1}),
    "Resize": frozenset({1, 2, 3}),
    "Upsample": frozenset({1}),
    "Slice": frozenset({1, 2, 3, 4}),
    "Gather": frozenset({1}),
    "GatherElements": frozenset({1}),
    "GatherND": frozenset({1}),
    "Expand": frozenset({1}),
    "Tile": frozenset({1}),
    "Pad": frozenset({1, 2, 3}),
    "Clip": frozenset({1, 2}),
    "Pow": frozenset({1}),
    "ConstantOfShape": frozenset({0}),
    "Unsqueeze": frozenset({1}),
    "Squeeze": frozenset({1}),
    "TopK": frozenset({1}),
    "Split": frozenset({1}),
    "Range": _ALL,
    "OneHot": frozenset({1, 2}),
    "CumSum": frozenset({1}),
    "ScatterND": frozenset({1}),
    "ScatterElements": frozenset({1}),
    "Trilu": frozenset({1}),
    "NonMaxSuppression": frozenset({2, 3, 4}),
    "ReduceSum": frozenset({1}),
    "ReduceMean": frozenset({1}),
    "ReduceMax": frozenset({1}),
    "ReduceMin": frozenset({1}),
    "ReduceProd": frozenset({1}),
    "ReduceL2": frozenset({1}),
    "Shape": _ALL,
    "Size": _ALL,
    "Cast": _ALL,  # a constant cast at run time is a literal or a shape
    "Equal": _ALL,
    "Less": _ALL,
    "Greater": _ALL,
    "Where": frozenset({0}),
    "If": _ALL,
    "Loop": _ALL,
}
_PARAM_NAME = re.compile(r"(^|[._/])(weight|bias|kernel|w_\d+|b_\d+|ReadVariableOp)(:\d+)?$")
"""Parameter-like names: PyTorch/Keras/TF variables (tf2onnx keeps ``.../ReadVariableOp:0``
for a Dense bias fed to Add), Paddle's ``w_0``/``b_0``."""
_QUANT_NAME = re.compile(r"(_scale|_zero_point|_zp)(_\d+)?$")


def _role(op: str, index: int) -> str:
    if index in _WEIGHT_INPUTS.get(op, ()):
        return "weight"
    if index in _BUFFER_INPUTS.get(op, ()):
        return "buffer"
    if index in _QUANT_INPUTS.get(op, ()):
        return "quantization"
    if index in _CONSTANT_INPUTS.get(op, ()):
        return "constant"
    return "operand"


def onnx_file(path: str) -> dict[str, Any]:
    import math

    import onnx
    from onnx import TensorProto

    counted_types = {
        TensorProto.FLOAT,
        TensorProto.FLOAT16,
        TensorProto.DOUBLE,
        TensorProto.BFLOAT16,
        # quantized weights (dynamic/static quantization stores them as 8-bit integers)
        TensorProto.INT8,
        TensorProto.UINT8,
        *(getattr(TensorProto, n) for n in ("INT4", "UINT4") if hasattr(TensorProto, n)),
        *(
            getattr(TensorProto, n)
            for n in ("FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ")
            if hasattr(TensorProto, n)
        ),
    }
    model = onnx.load(path, load_external_data=False)
    tensors: list[tuple[str, Any, str]] = []  # (name, TensorProto, where)
    roles: dict[str, set[str]] = {}

    def graph(g: Any) -> None:
        tensors.extend((t.name, t, "initializer") for t in g.initializer)
        for node in g.node:
            for index, name in enumerate(node.input):
                if name:
                    roles.setdefault(name, set()).add(_role(node.op_type, index))
            if node.op_type == "Constant":
                for attr in node.attribute:
                    if attr.name == "value" and attr.HasField("t"):
                        tensors.append((node.output[0], attr.t, "constant"))
            for attr in node.attribute:
                if attr.HasField("g"):
                    graph(attr.g)
                for sub in attr.graphs:
                    graph(sub)

    graph(model.graph)
    kinds = {"weight": 0, "buffer": 0, "quantization": 0, "constant": 0, "literal": 0}
    where = {"initializer": 0, "constant": 0}
    counted_tensors = 0
    for name, tensor, origin in tensors:
        n = math.prod(tensor.dims)
        used = roles.get(name, set())
        if "weight" in used:
            kind = "weight"
        elif "buffer" in used:
            kind = "buffer"
        elif "quantization" in used or _QUANT_NAME.search(name):
            kind = "quantization"
        elif (used and used <= {"constant"}) or tensor.data_type not in counted_types:
            kind = "constant"
        elif n < 2 and not _PARAM_NAME.search(name):
            kind = "literal"  # 0.5, 1e-5, a Pow exponent: wherever the exporter put it
        else:
            kind = "weight"  # a learned tensor used by any other operator (or unused)
        if kind == "weight":
            where[origin] += n
            counted_tensors += 1
        kinds[kind] += n
    return {
        "parameters": kinds["weight"],
        "excluded": sum(v for k, v in kinds.items() if k != "weight"),
        "tensors": counted_tensors,
        "initializer_elements": where["initializer"],
        "constant_node_elements": where["constant"],
        "excluded_by_kind": {k: v for k, v in kinds.items() if k != "weight"},
        "method": "onnx.load; every initializer and Constant-node tensor (subgraphs included) "
        "classified by the operator inputs it feeds: weights (Conv/Gemm/MatMul/RNN/norm "
        "scale+bias/PRelu/embedding/quantized weights), BatchNormalization mean+var "
        "(buffers), quantization scales/zero points, shape/index/scale inputs (constants); "
        "other float or 8/4-bit tensors count, except one-element ones (literals) unless "
        "named like a parameter (weight, bias, ReadVariableOp, w_0)",
    }


def safetensors_file(path: str) -> dict[str, Any]:
    import math

    from safetensors import safe_open

    total = excluded = tensors = 0
    with safe_open(path, "np") as handle:
        for name in handle.keys():  # noqa: SIM118 - safe_open is not a mapping
            n = math.prod(handle.get_slice(name).get_shape())
            if _is_buffer(name):
                excluded += n
            else:
                total += n
                tensors += 1
    return {
        "parameters": total,
        "excluded": excluded,
        "tensors": tensors,
        "method": "safetensors.safe_open; product of every tensor's shape, buffers excluded",
    }


def gguf_file(path: str) -> dict[str, Any]:
    from gguf import GGUFReader

    reader = GGUFReader(path)
    return {
        "parameters": sum(int(t.n_elements) for t in reader.tensors),
        "excluded": 0,
        "tensors": len(reader.tensors),
        "method": "gguf.GGUFReader; sum(tensor.n_elements)",
    }


def keras_h5(path: str) -> dict[str, Any]:
    import math

    import h5py

    total = excluded = tensors = 0
    with h5py.File(path, "r") as handle:
        root = handle.get("model_weights", handle)

        def visit(name: str, obj: Any) -> None:
            nonlocal total, excluded, tensors
            if isinstance(obj, h5py.Dataset):
                n = math.prod(obj.shape)
                if any(b in name.rsplit("/", 1)[-1] for b in KERAS_BUFFERS):
                    excluded += n
                else:
                    total += n
                    tensors += 1

        root.visititems(visit)
    return {
        "parameters": total,
        "excluded": excluded,
        "tensors": tensors,
        "method": "h5py; every dataset under model_weights (or the root), "
        "moving_mean/moving_variance excluded (non-trainable)",
    }


def npz_file(path: str) -> dict[str, Any]:
    import numpy as np

    with np.load(path, allow_pickle=False) as data:
        sizes = [int(data[k].size) for k in data.files]
    return {
        "parameters": sum(sizes),
        "excluded": 0,
        "tensors": len(sizes),
        "method": "numpy.load(allow_pickle=False); sum(array.size)",
    }


COUNTERS = {
    "torch-zip": torch_file,
    "torch-legacy": torch_file,
    "torchscript": torchscript,
    "onnx": onnx_file,
    "safetensors": safetensors_file,
    "gguf": gguf_file,
    "hdf5": keras_h5,
    "numpy-npz": npz_file,
}


def main() -> int:
    fmt, path = sys.argv[1], sys.argv[2]
    try:
        result = COUNTERS[fmt](path)
    except Exception as exc:
        result = {"parameters": None, "method": f"failed: {type(exc).__name__}: {exc}"[:300]}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
