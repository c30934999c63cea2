"""Tensor inventories read from file headers: name, dtype, shape, bytes.

One reader per weight format, all on the ``artifacts`` layer: safetensors and
GGUF headers, the symbolic run of a PyTorch zip's ``data.pkl`` (no torch, no
unpickling), ONNX initializers (the ``onnx`` protobuf without external data)
and ``.npy``/``.npz`` headers. Tensor bytes are never read.
"""

from __future__ import annotations

import contextlib
import math
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from openward.artifacts.blob import Blob, MappedFile
from openward.artifacts.errors import ArtifactFormatError, ArtifactLimitError

if TYPE_CHECKING:
    from openward.artifacts.onnx import OnnxNode, OnnxTensor
    from openward.artifacts.zip import ZipEntry

ArtifactError = (ArtifactFormatError, ArtifactLimitError)

__all__ = ["TensorRecord", "WeightFile", "read_weight_file", "weight_format"]

MAX_ZIP_ENTRIES: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class TensorRecord:
    """One tensor as its file declares it."""

    name: str
    dtype: str
    """Upper-case dtype (``F32``, ``BF16``, ``I32``, ``Q4_K``, ...)."""
    shape: tuple[int, ...]
    """The logical shape (GGUF quantized tensors: elements, not blocks)."""
    nbytes: int
    identity: tuple[object, ...] | None = None
    """Tensors of one file with the same identity share their bytes (tied weights)."""
    role: str | None = None
    """What the file itself says the tensor is: ``parameter``, ``buffer``, ``constant``
    (a tensor the model holds but does not train) or ``quantization`` (scales and zero
    points); None when only its name can tell (see :mod:`openward.facts.parameters`)."""

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass
class WeightFile:
    """The tensors of one weight file."""

    relpath: str
    format: str
    """``safetensors``, ``gguf``, ``torch``, ``onnx``, ``numpy`` or ``hdf5`` (Keras)."""
    size: int
    tensors: list[TensorRecord] = field(default_factory=list)
    metadata: dict[str, object] = field(default_factory=dict)
    """safetensors ``__metadata__`` or GGUF key/values (long arrays as ``(count, first items)``)."""
    problems: list[str] = field(default_factory=list)
    """Why the inventory may be incomplete."""


_SUFFIX_FORMATS: Final = {
    ".safetensors": "safetensors",
    ".gguf": "gguf",
    ".bin": "torch",
    ".pt": "torch",
    ".pth": "torch",
    ".ckpt": "torch",
    ".onnx": "onnx",
    ".npz": "numpy",
    ".npy": "numpy",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
}


def weight_format(path: Path, head: bytes) -> str | None:
    """The weight format of a file from its first bytes (and, for ONNX, its name)."""
    from openward.artifacts.detection import TORCH_LEGACY_MAGIC

    if head.startswith(TORCH_LEGACY_MAGIC):
        return "torch"
    if head[:4] == b"GGUF":
        return "gguf"
    if head[:6] == b"\x93NUMPY":
        return "numpy"
    if len(head) >= 10 and head[8:9] == b"{":
        return "safetensors"
    if head[:4] == b"PK\x03\x04":
        suffix = path.suffix.lower()
        return "numpy" if suffix == ".npz" else "torch" if suffix != ".keras" else None
    if path.suffix.lower() == ".onnx":
        return "onnx"
    if head[:8] == _HDF5_MAGIC or path.suffix.lower() in (".h5", ".hdf5"):
        return "hdf5"
    return None


def read_weight_file(path: Path, relpath: str) -> WeightFile | None:
    """The tensor inventory of ``path``, or None when it is not a weight file."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return None
    fmt = weight_format(path, head)
    if fmt is None:
        return None
    size = path.stat().st_size
    wf = WeightFile(relpath, fmt, size)
    try:
        if fmt == "hdf5":
            if not _read_keras_hdf5(path, wf):
                return None  # HDF5 data, not Keras weights
        else:
            with MappedFile(path) as mapped:
                _READERS[fmt](mapped.blob, wf)
    except (*ArtifactError, ValueError, KeyError, OSError, OverflowError, RecursionError) as exc:
        wf.problems.append(f"unreadable {fmt} header: {exc}")
    return wf


# ---------------------------------------------------------------------------
# safetensors


def _read_safetensors(blob: Blob, wf: WeightFile) -> None:
    from openward.artifacts.safetensors import read_safetensors_header

    header = read_safetensors_header(blob)
    wf.metadata = dict(header.metadata)
    wf.problems.extend(header.problems)
    for t in header.tensors:
        wf.tensors.append(TensorRecord(t.name, t.dtype, t.shape, t.end - t.start))


# ---------------------------------------------------------------------------
# GGUF


def _read_gguf(blob: Blob, wf: WeightFile) -> None:
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    from openward.artifacts.gguf import read_gguf_header

    header = read_gguf_header(blob)
    wf.metadata = dict(header.metadata)
    wf.problems.extend(header.problems)
    for t in header.tensors:
        try:
            qtype = GGMLQuantizationType(t.ggml_type)
        except ValueError:
            wf.tensors.append(TensorRecord(t.name, f"GGML_{t.ggml_type}", t.shape, 0))
            continue
        block, type_size = GGML_QUANT_SIZES[qtype]
        numel = math.prod(t.shape)
        wf.tensors.append(TensorRecord(t.name, qtype.name, t.shape, numel // block * type_size))


# ---------------------------------------------------------------------------
# PyTorch: the symbolic run of a zip's data.pkl (torch.save since 1.6, and
# TorchScript's torch.jit.save), or of the object pickle of a legacy file

_STORAGE_DTYPES: Final = {
    "FloatStorage": ("F32", 4),
    "DoubleStorage": ("F64", 8),
    "HalfStorage": ("F16", 2),
    "BFloat16Storage": ("BF16", 2),
    "LongStorage": ("I64", 8),
    "IntStorage": ("I32", 4),
    "ShortStorage": ("I16", 2),
    "CharStorage": ("I8", 1),
    "ByteStorage": ("U8", 1),
    "BoolStorage": ("BOOL", 1),
    "ComplexFloatStorage": ("C64", 8),
    "ComplexDoubleStorage": ("C128", 16),
    "QInt8Storage": ("QI8", 1),
    "QUInt8Storage": ("QU8", 1),
    "QInt32Storage": ("QI32", 4),
    "Float8_e4m3fnStorage": ("F8_E4M3", 1),
    "Float8_e5m2Storage": ("F8_E5M2", 1),
}
_TORCH_DTYPES: Final = {
    "float32": ("F32", 4), "float": ("F32", 4), "float64": ("F64", 8), "double": ("F64", 8),
    "float16": ("F16", 2), "half": ("F16", 2), "bfloat16": ("BF16", 2), "int64": ("I64", 8),
    "long": ("I64", 8), "int32": ("I32", 4), "int": ("I32", 4), "int16": ("I16", 2),
    "int8": ("I8", 1), "uint8": ("U8", 1), "bool": ("BOOL", 1), "float8_e4m3fn": ("F8_E4M3", 1),
    "float8_e5m2": ("F8_E5M2", 1), "complex64": ("C64", 8),
}  # fmt: skip
_REBUILDERS: Final = frozenset(
    {
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_tensor"),
        ("torch._utils", "_rebuild_tensor_v3"),
    }
)
_PARAMETER_WRAPPERS: Final = frozenset(
    {
        ("torch._utils", "_rebuild_parameter"),
        ("torch._utils", "_rebuild_parameter_with_state"),
    }
)
_OPTIMIZER_KEYS: Final = re.compile(r"(^|\.)(optimizer|optim|optimizer_states?|scheduler)(\.|$)")
# What an nn.Module pickled whole (torch.save(model)) keeps its tensors in.
_MODULE_SLOTS: Final = {"_parameters": "parameter", "_buffers": "buffer", "_modules": None}
# TorchScript declares, per class, which attributes are parameters and which buffers.
_TS_CLASS: Final = re.compile(r"^class\s+(\w+)\s*\(\s*Module\s*\)\s*:", re.MULTILINE)
_TS_LIST: Final = re.compile(r"^\s+__(parameters|buffers)__\s*=\s*\[([^\]]*)\]", re.MULTILINE)
_TS_NAME: Final = re.compile(r"\"([^\"\\]*)\"")
MAX_CODE_BYTES: Final = 16 << 20
"""TorchScript source read per archive to find parameter lists (inflated bytes)."""
_LEGACY_STREAMS: Final = 3  # magic number, protocol version, system info; then the object


def _ints(value: object) -> tuple[int, ...] | None:
    if isinstance(value, tuple) and all(isinstance(v, int) and v >= 0 for v in value):
        return value
    return None


def _read_torch(blob: Blob, wf: WeightFile) -> None:
    from openward.artifacts.detection import TORCH_LEGACY_MAGIC

    if blob.head(len(TORCH_LEGACY_MAGIC)) == TORCH_LEGACY_MAGIC:
        _read_torch_legacy(blob, wf)
        return
    from openward.artifacts.zip import read_zip_directory

    directory = read_zip_directory(blob, max_entries=MAX_ZIP_ENTRIES)
    data = [e for e in directory.entries if e.name.endswith("data.pkl") and e.name.count("/") == 1]
    if not data:
        wf.problems.append("no data.pkl in the archive")
        return
    entry = data[0]
    if entry.method != 0 or entry.data_offset is None:
        wf.problems.append("data.pkl is compressed or unreadable")
        return
    prefix = entry.name.split("/", 1)[0] + "/code/"
    code = [e for e in directory.entries if e.name.startswith(prefix) and e.name.endswith(".py")]
    classes = _torchscript_classes(blob, code, prefix, wf) if code else {}
    if code:
        wf.metadata["torchscript"] = True
    _torch_tensors(blob.window(entry.data_offset, entry.compressed_size), 0, wf, classes)


def _read_torch_legacy(blob: Blob, wf: WeightFile) -> None:
    """A pre-1.6 file: three small pickles, then the object whose tensors we want."""
    from openward.scanning.pickle_vm import run_pickle

    pos = 0
    for i in range(_LEGACY_STREAMS):
        res = run_pickle(blob, pos, persistent=False)
        if not res.complete:
            wf.problems.append(f"legacy torch file: pickle {i + 1} of 5 is unreadable")
            return
        pos = res.end
    wf.metadata["legacy_format"] = True
    _torch_tensors(blob, pos, wf, {})


def _torchscript_classes(
    blob: Blob, entries: list[ZipEntry], prefix: str, wf: WeightFile
) -> dict[tuple[str, str], dict[str, str]]:
    """``(module, class) -> {attribute: "parameter" | "buffer"}`` from TorchScript's code.

    ``torch.jit.save`` writes each module class as source with its
    ``__parameters__`` and ``__buffers__`` lists; the pickled objects name the
    class, so each tensor attribute is known for what it is. The source is
    read as text and matched, never compiled.
    """
    out: dict[tuple[str, str], dict[str, str]] = {}
    budget = MAX_CODE_BYTES
    for entry in entries:
        if entry.data_offset is None or budget <= 0:
            continue
        try:
            if entry.method == 0:
                raw = blob.read(entry.data_offset, min(entry.compressed_size, budget))
            elif entry.method == 8:
                raw = _inflate_head(blob, entry.data_offset, entry.compressed_size, budget)
            else:
                continue
        except zlib.error:
            wf.problems.append(f"{entry.name}: cannot inflate")
            continue
        budget -= len(raw)
        text = raw.decode("utf-8", "replace")
        module = entry.name[len(prefix) : -len(".py")].replace("/", ".")
        matches = list(_TS_CLASS.finditer(text))
        for i, match in enumerate(matches):
            body = text[match.end() : matches[i + 1].start() if i + 1 < len(matches) else None]
            roles: dict[str, str] = {}
            for kind, names in _TS_LIST.findall(body.split("\n  def ", 1)[0]):
                for name in _TS_NAME.findall(names):
                    roles[name] = "parameter" if kind == "parameters" else "buffer"
            out[(module, match[1])] = roles
    if budget <= 0:
        wf.problems.append(f"TorchScript code over {MAX_CODE_BYTES} bytes: not all of it read")
    return out


def _torch_tensors(
    pkl: Blob, start: int, wf: WeightFile, classes: dict[tuple[str, str], dict[str, str]]
) -> None:
    """Every tensor the pickle rebuilds, named by the path of keys and attributes
    that leads to it, with its role where the file says it (TorchScript classes,
    a whole pickled module's ``_parameters``/``_buffers``)."""
    from openward.scanning.pickle_vm import Call, Global, Persistent, run_pickle

    tensors: dict[int, tuple[str, tuple[int, ...], int, tuple[object, ...]]] = {}
    parents: dict[int, tuple[int, str]] = {}
    wrappers: dict[int, int] = {}
    calls: list[Call] = []

    def on_call(call: Call) -> None:
        func = call.func
        calls.append(call)
        if not isinstance(func, Global):
            return
        args = call.args
        if func.key in _REBUILDERS and isinstance(args, tuple) and len(args) >= 4:
            storage, offset, size, stride = args[0], args[1], _ints(args[2]), _ints(args[3])
            if not isinstance(storage, Persistent) or size is None:
                return
            pid = storage.pid
            if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
                return
            stype = pid[1]
            dtype, item = ("?", 0)
            if isinstance(stype, Global):
                dtype, item = _STORAGE_DTYPES.get(stype.name, ("?", 0))
            identity = (pid[2], offset, size, stride)
            tensors[id(call)] = (dtype, size, item * math.prod(size), identity)
        elif (
            func.key in _PARAMETER_WRAPPERS
            and isinstance(args, tuple)
            and args
            and id(args[0]) in tensors
        ):
            wrappers[id(call)] = id(args[0])

    def on_setitem(target: object, key: object, value: object) -> None:
        if isinstance(key, str | int):
            parents[id(value)] = (id(target), str(key))
            keep.append(value)
            keep.append(target)

    keep: list[object] = []
    result = run_pickle(pkl, start, on_call=on_call, on_setitem=on_setitem, persistent=True)
    if result.error is not None:
        wf.problems.append(f"data.pkl: {result.error}")
    # An object's attributes are the dict BUILD gave it: the dict's keys continue the
    # object's own path, and the object's class says what each attribute is.
    owner: dict[int, Call] = {}
    for call in calls:
        if call.state is not None:
            owner[id(call.state)] = call

    def path_of(obj_id: int) -> tuple[str, str | None]:
        parts: list[str] = []
        role: str | None = None
        hop = 0  # 0: the tensor's own key; 1: its container's key
        for _ in range(256):
            if obj_id in parents:
                container, key = parents[obj_id]
                if key in _MODULE_SLOTS:
                    if hop == 1 and role is None:
                        role = _MODULE_SLOTS[key]
                else:
                    if hop == 0 and container in owner:
                        role = _class_role(owner[container], key, classes)
                    parts.append(key)
                obj_id = container
                hop += 1
            elif obj_id in owner:
                obj_id = id(owner[obj_id])
            else:
                break
        return ".".join(reversed(parts)), role

    named: dict[int, tuple[str, str | None]] = {}
    for obj_id in tensors:
        named[obj_id] = path_of(obj_id)
    for obj_id, inner in wrappers.items():
        name, role = path_of(obj_id)
        if name:  # an nn.Parameter object: a parameter wherever it is kept
            named[inner] = (name, role or "parameter")
    top = {id(result.result)}
    if isinstance(result.result, Call) and result.result.state is not None:
        top.add(id(result.result.state))
    top_keys = {key for container, key in parents.values() if container in top}
    weights = _checkpoint_weights(top_keys)
    for obj_id, (dtype, size, nbytes, identity) in tensors.items():
        name, role = named[obj_id]
        if not name:
            name = f"<unnamed tensor {len(wf.tensors)}>"
        if _OPTIMIZER_KEYS.search(name):
            continue
        if weights is not None and not name.startswith(weights + "."):
            continue
        wf.tensors.append(TensorRecord(name, dtype, size, nbytes, identity, role))
    if weights is not None:
        wf.metadata["checkpoint_weights"] = weights


# A training checkpoint keeps the model's state dict under one key, beside optimizer
# state, EMA copies, callbacks and counters: only that key's tensors are the model.
_STATE_KEYS: Final = ("state_dict", "model_state_dict", "model_state")
_AMBIGUOUS_STATE_KEYS: Final = ("model", "net", "network", "params", "module", "weights")
_TRAINING_KEYS: Final = frozenset(
    {"epoch", "optimizer", "optimizer_state_dict", "optimizer_states", "optim", "global_step",
     "iteration", "iter", "step", "lr_scheduler", "lr_schedulers", "scheduler", "args",
     "hyper_parameters", "callbacks", "best_acc1", "best_prec1", "arch", "loops", "amp",
     "scaler", "ema", "model_ema", "state_dict_ema"}
)  # fmt: skip


def _checkpoint_weights(top_keys: set[str]) -> str | None:
    """The top-level key holding the model in a training checkpoint, or None."""
    for key in _STATE_KEYS:
        if key in top_keys:
            return key
    if top_keys & _TRAINING_KEYS:
        for key in _AMBIGUOUS_STATE_KEYS:
            if key in top_keys:
                return key
    return None


def _class_role(
    obj: object, attribute: str, classes: dict[tuple[str, str], dict[str, str]]
) -> str | None:
    """A TorchScript attribute's role from its class's declaration; an attribute the
    class declares neither parameter nor buffer is a constant it carries."""
    from openward.scanning.pickle_vm import Call, Global

    if not isinstance(obj, Call) or not isinstance(obj.func, Global):
        return None
    roles = classes.get(obj.func.key)
    if roles is None:
        return None
    return roles.get(attribute, "constant")


# ---------------------------------------------------------------------------
# numpy

_NUMPY_DTYPES: Final = {
    "f2": "F16", "f4": "F32", "f8": "F64", "i1": "I8", "i2": "I16", "i4": "I32", "i8": "I64",
    "u1": "U8", "u2": "U16", "u4": "U32", "u8": "U64", "b1": "BOOL", "c8": "C64", "c16": "C128",
}  # fmt: skip


def _npy_record(name: str, blob: Blob) -> TensorRecord | None:
    from openward.artifacts.numpy_format import read_npy_header

    header = read_npy_header(blob)
    shape = _ints(header.shape)
    if shape is None:
        return None
    descr = header.descr if isinstance(header.descr, str) else "?"
    dtype = _NUMPY_DTYPES.get(descr.lstrip("<>|="), descr.upper())
    return TensorRecord(name, dtype, shape, header.expected_bytes or 0)


def _read_numpy(blob: Blob, wf: WeightFile) -> None:
    if blob.head(6) == b"\x93NUMPY":
        record = _npy_record(Path(wf.relpath).stem, blob)
        if record is not None:
            wf.tensors.append(record)
        return
    from openward.artifacts.zip import read_zip_directory

    for entry in read_zip_directory(blob, max_entries=MAX_ZIP_ENTRIES).entries:
        if not entry.name.endswith(".npy") or entry.data_offset is None:
            continue
        if entry.method != 0:
            try:
                raw = _inflate_head(blob, entry.data_offset, entry.compressed_size)
            except zlib.error as exc:
                wf.problems.append(f"{entry.name}: cannot inflate ({exc})")
                continue
            member = Blob.of(raw)
        else:
            member = blob.window(entry.data_offset, entry.compressed_size)
        with contextlib.suppress(*ArtifactError):
            record = _npy_record(entry.name[:-4], member)
            if record is not None:
                wf.tensors.append(record)


def _inflate_head(blob: Blob, offset: int, length: int, limit: int = 1 << 16) -> bytes:
    """The first bytes of a deflated member: enough for an .npy header."""
    d = zlib.decompressobj(-15)
    out = b""
    pos = 0
    while len(out) < limit and pos < length:
        out += d.decompress(blob.read(offset + pos, 1 << 14), limit - len(out))
        pos += 1 << 14
    return out


# ---------------------------------------------------------------------------
# ONNX: initializers (of the graph and of every subgraph) and the tensors of
# Constant nodes, each classified by how the graph uses it

_ONNX_DTYPES: Final = {
    1: ("F32", 4), 2: ("U8", 1), 3: ("I8", 1), 4: ("U16", 2), 5: ("I16", 2), 6: ("I32", 4),
    7: ("I64", 8), 9: ("BOOL", 1), 10: ("F16", 2), 11: ("F64", 8), 12: ("U32", 4),
    13: ("U64", 8), 14: ("C64", 8), 15: ("C128", 16), 16: ("BF16", 2), 17: ("F8_E4M3", 1),
    18: ("F8_E4M3FNUZ", 1), 19: ("F8_E5M2", 1), 20: ("F8_E5M2FNUZ", 1), 21: ("U4", 0),
    22: ("I4", 0), 23: ("F4_E2M1", 0), 24: ("F8_E8M0", 1), 25: ("U2", 0), 26: ("I2", 0),
}  # fmt: skip
_ONNX_FLOATS: Final = frozenset({1, 10, 11, 14, 15, 16, 17, 18, 19, 20, 23, 24})
# (op_type, input index) -> what a tensor in that slot is. The weight slots of the
# operators that hold weights (a one-element Conv bias is still a weight) and of
# quantized operators (whose integer tensors then count); statistic, quantization and
# shape slots make any tensor not count. Unlisted slots of floating tensors are weights.
_ONNX_WEIGHT_SLOTS: Final = {
    "Conv": (1, 2), "ConvTranspose": (1, 2), "Gemm": (1, 2), "MatMul": (0, 1),
    "LSTM": (1, 2, 3, 7), "GRU": (1, 2, 3), "RNN": (1, 2, 3), "PRelu": (1,),
    "BatchNormalization": (1, 2), "InstanceNormalization": (1, 2),
    "LayerNormalization": (1, 2), "GroupNormalization": (1, 2),
    "SimplifiedLayerNormalization": (1,), "SkipLayerNormalization": (2, 3, 4),
    "SkipSimplifiedLayerNormalization": (2, 3), "Attention": (1, 2),
    "EmbedLayerNormalization": (2, 3, 4, 5, 6), "FusedConv": (1, 2), "FusedGemm": (1, 2),
    "FusedMatMul": (0, 1),
    # quantized operators: their integer weights count
    "DequantizeLinear": (0,), "QLinearConv": (3, 8), "QLinearMatMul": (0, 3),
    "MatMulInteger": (0, 1), "ConvInteger": (0, 1), "QGemm": (0, 3, 6),
    "DynamicQuantizeMatMul": (1, 4), "MatMulIntegerToFloat": (0, 1, 6),
    "MatMulNBits": (1, 5), "GatherBlockQuantized": (0,), "QAttention": (1, 5),
    "DynamicQuantizeLSTM": (1, 2), "QLinearAdd": (0, 3), "QLinearMul": (0, 3),
}  # fmt: skip
_ONNX_SLOTS: Final[dict[tuple[str, int], str]] = {
    **{("BatchNormalization", i): "buffer" for i in (3, 4)},
    **{(op, i): "parameter" for op, slots in _ONNX_WEIGHT_SLOTS.items() for i in slots},
    **{(op, i): "quantization" for op, slots in {
        "DequantizeLinear": (1, 2), "QuantizeLinear": (1, 2),
        "QLinearConv": (1, 2, 4, 5, 6, 7), "QLinearMatMul": (1, 2, 4, 5, 6, 7),
        "MatMulInteger": (2, 3), "ConvInteger": (2, 3), "QGemm": (1, 2, 4, 5, 7, 8),
        "DynamicQuantizeMatMul": (2, 3), "MatMulIntegerToFloat": (2, 3, 4, 5),
        "MatMulNBits": (2, 3, 4), "GatherBlockQuantized": (2, 3), "QAttention": (3, 4, 6, 7),
        "QLinearAdd": (1, 2, 4, 5, 6, 7), "QLinearMul": (1, 2, 4, 5, 6, 7),
    }.items() for i in slots},
    **{(op, i): "constant" for op, slots in {
        "Reshape": (1,), "Expand": (1,), "Tile": (1,), "Slice": (1, 2, 3, 4),
        "Squeeze": (1,), "Unsqueeze": (1,), "Resize": (1, 2, 3), "Upsample": (1,),
        "Pad": (1, 2, 3), "ConstantOfShape": (0,), "Range": (0, 1, 2), "TopK": (1,),
        "OneHot": (1, 2), "Gather": (1,), "GatherElements": (1,), "GatherND": (1,),
        "ScatterND": (1,), "ScatterElements": (1,), "Split": (1,), "Clip": (1, 2),
        "CumSum": (1,), "Trilu": (1,), "ReduceSum": (1,), "ReduceMean": (1,),
        "ReduceMax": (1,), "ReduceMin": (1,), "ReduceProd": (1,), "ReduceL2": (1,),
        "Where": (0,), "Pow": (1,), "NonMaxSuppression": (2, 3, 4), "Mod": (1,),
        "CenterCropPad": (1,), "Col2Im": (1, 2), "DFT": (1, 2), "STFT": (1, 2, 3),
    }.items() for i in slots},
}  # fmt: skip
# Exporters' names for constants they create (torch.onnx: onnx::Op_N, /path/Constant_output_0,
# val_N; tf2onnx: const_fold_opt__N; paddle2onnx: p2o.helper.constant.N).
_ONNX_GENERATED: Final = re.compile(
    r"^(onnx::|/|val_\d|_val_\d|const_fold_opt__|ConstantFolding/|const_|Constant_?\d)"
    r"|(^|\.)helper\.constant\.\d+$"
    r"|_output_\d+$|^\d+$"
)
_ONNX_QUANT_AUX: Final = re.compile(r"_(scale|zero_point)$")
# A one-element floating tensor that feeds no weight slot is a weight only under a
# weight's name: a module path (``block.w_0``, ``act.weight``), a weight's last word
# (CLIP's ``logit_scale``), a TensorFlow variable (``.../ReadVariableOp:0``). Exporters
# fold literals under names of their own (``sum_1``, ``val_4``, ``Const_8:0``).
_ONNX_SCALAR_WEIGHT: Final = re.compile(
    r"\.|(^|_)(weight|bias|scale|temperature|alpha|beta|gamma)$|ReadVariableOp", re.IGNORECASE
)


def _read_onnx(blob: Blob, wf: WeightFile) -> None:
    from openward.artifacts.onnx import OnnxTensor, read_onnx_model

    model = read_onnx_model(blob)
    if model.graph is None:
        raise ArtifactFormatError("no graph: not an ONNX model")
    wf.metadata = dict(model.metadata_props)
    if model.producer_name:
        wf.metadata.setdefault("producer", f"{model.producer_name} {model.producer_version}")
    uses: dict[str, list[tuple[OnnxNode, int]]] = {}
    found: list[OnnxTensor] = []
    graphs = list(model.graphs())
    bodies = [g.nodes for g in graphs] + [f.nodes for f in model.functions]
    for graph in graphs:
        found.extend(graph.initializers)
        for sparse in graph.sparse_initializers:
            if sparse.values is not None:  # counted as the dense tensor it stands for
                values = sparse.values
                found.append(OnnxTensor(values.name, sparse.dims, values.data_type, 0, (), None))
    for nodes in bodies:
        for node in nodes:
            for i, name in enumerate(node.inputs):
                if name:
                    uses.setdefault(name, []).append((node, i))
            if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and node.outputs:
                tensor = _onnx_constant(node)
                if tensor is not None:
                    found.append(tensor)
    quantized = {t.name[: -len("_quantized")] for t in found if t.name.endswith("_quantized")}
    for tensor in found:
        dtype, item = _ONNX_DTYPES.get(tensor.data_type, (f"ONNX_{tensor.data_type}", 0))
        role, shape = _onnx_role(tensor, uses.get(tensor.name, []))
        if role is None and _ONNX_QUANT_AUX.sub("", tensor.name) in quantized:
            role = "quantization"  # onnxruntime's quantizer: W_quantized, W_scale, W_zero_point
        numel = math.prod(tensor.dims)
        nbytes = item * numel if item else (numel + 1) // 2
        wf.tensors.append(TensorRecord(tensor.name, dtype, shape, nbytes, None, role))


def _onnx_constant(node: OnnxNode) -> OnnxTensor | None:
    """The tensor a Constant node produces (named after its output), if it holds one."""
    from openward.artifacts.onnx import OnnxTensor

    out = node.outputs[0]
    for attr in node.attributes:
        if attr.name == "value" and attr.t is not None:
            t = attr.t
            return OnnxTensor(out, t.dims, t.data_type, t.data_location, t.external_data, None)
        if attr.name == "sparse_value" and attr.sparse_tensor is not None:
            values = attr.sparse_tensor.values
            data_type = values.data_type if values is not None else 1
            return OnnxTensor(out, attr.sparse_tensor.dims, data_type, 0, (), None)
        if attr.name == "value_floats":
            return OnnxTensor(out, (len(attr.floats),), 1, 0, (), None)
        if attr.name == "value_ints":
            return OnnxTensor(out, (len(attr.ints),), 7, 0, (), None)
        if attr.name in ("value_float", "value_int", "value_string", "value_strings"):
            return OnnxTensor(out, (), 1 if attr.name == "value_float" else 7, 0, (), None)
    return None


def _onnx_role(
    tensor: OnnxTensor, uses: list[tuple[OnnxNode, int]]
) -> tuple[str | None, tuple[int, ...]]:
    """What a tensor is, from the slots it feeds; and its logical shape.

    A tensor that feeds a weight slot (Conv's weight and bias, Gemm's B and C, a
    normalisation's scale and bias, a quantized operator's integer weights: a
    ``MatMulNBits`` weight counts ``N × K`` elements, whatever its packing) is a
    parameter, whatever its size; one that only feeds statistic (BatchNormalization's
    mean and variance), quantization or shape slots is not; an integer tensor is a
    constant unless a quantized operator uses it as weights; a one-element floating
    tensor is a constant unless it has a weight's name. Other floating tensors are
    weights, named as the exporter named them (the name rules of
    :mod:`openward.facts.parameters` still apply: ``inv_freq``, masks).
    """
    shape = tensor.dims
    slots = {_ONNX_SLOTS.get((node.op_type, i)) for node, i in uses}
    if "parameter" in slots:
        for node, i in uses:
            if node.op_type == "MatMulNBits" and i == 1:
                k, n = node.attribute("K"), node.attribute("N")
                if k is not None and n is not None and k.i > 0 and n.i > 0:
                    shape = (n.i, k.i)
            elif node.op_type == "GatherBlockQuantized" and i == 0 and len(shape) == 2:
                bits = node.attribute("bits")
                per_byte = 8 // bits.i if bits is not None and bits.i in (2, 4) else 2
                if tensor.data_type in (2, 3):  # bytes that pack several elements
                    shape = (shape[0], shape[1] * per_byte)
        return "parameter", shape
    if uses and None not in slots:
        for role in ("buffer", "quantization", "constant"):
            if role in slots:
                return role, shape
    if tensor.data_type not in _ONNX_FLOATS:
        return "constant", shape
    if math.prod(shape) <= 1 and (
        _ONNX_GENERATED.search(tensor.name) or not _ONNX_SCALAR_WEIGHT.search(tensor.name)
    ):
        return "constant", shape
    return None, shape


# ---------------------------------------------------------------------------
# Keras HDF5 (model.save / save_weights in the .h5 format): dataset shapes only

_HDF5_MAGIC: Final = b"\x89HDF\r\n\x1a\n"
_H5_DTYPES: Final = {
    "f2": "F16", "f4": "F32", "f8": "F64", "i1": "I8", "i2": "I16", "i4": "I32", "i8": "I64",
    "u1": "U8", "u2": "U16", "u4": "U32", "u8": "U64", "b1": "BOOL",
}  # fmt: skip
MAX_H5_WEIGHTS: Final = 1_000_000


def _read_keras_hdf5(path: Path, wf: WeightFile) -> bool:
    """The weights Keras loads: ``layer_names`` of ``model_weights`` (a whole model) or
    of the root (``save_weights``), each layer's ``weight_names``; or, in Keras 3's
    ``.weights.h5``, the ``vars`` of each group under ``layers/``. Only shapes and
    dtypes are read; optimizer weights are not the model's. False when the file is
    HDF5 but not Keras weights (a data file)."""
    import h5py

    with h5py.File(path, "r") as f:
        root = f.get("model_weights", f)
        if "layer_names" not in root.attrs:
            if "layers" in f and hasattr(f["layers"], "visititems"):
                _read_keras3_weights(f["layers"], wf)
                return True
            return False
        wf.metadata["keras_version"] = _h5_text(f.attrs.get("keras_version", ""))
        for layer in root.attrs["layer_names"]:
            group = root.get(_h5_text(layer))
            if group is None or not hasattr(group, "attrs"):
                continue
            for weight in group.attrs.get("weight_names", ()):
                name = _h5_text(weight)
                data = group.get(name)
                if data is None or not hasattr(data, "shape") or len(wf.tensors) >= MAX_H5_WEIGHTS:
                    continue
                shape = tuple(int(d) for d in data.shape)
                descr = data.dtype.str.lstrip("<>|=")
                wf.tensors.append(
                    TensorRecord(name, _H5_DTYPES.get(descr, descr.upper()), shape,
                                 data.dtype.itemsize * math.prod(shape))
                )  # fmt: skip
    return True


def _read_keras3_weights(layers: Any, wf: WeightFile) -> None:
    """Keras 3 stores variables by index (``layers/<layer>/vars/<i>``), without names:
    a BatchNormalization layer (recognised by its default name) keeps its moving mean
    and variance as variables 2 and 3."""

    def visit(name: str, obj: Any) -> None:
        if not hasattr(obj, "shape") or len(wf.tensors) >= MAX_H5_WEIGHTS:
            return
        parts = name.split("/")
        shape = tuple(int(d) for d in obj.shape)
        descr = obj.dtype.str.lstrip("<>|=")
        role = None
        if (
            len(parts) >= 3
            and parts[-2] == "vars"
            and parts[-1] in ("2", "3")
            and parts[-3].startswith("batch_normalization")
        ):
            role = "buffer"
        wf.tensors.append(
            TensorRecord("layers/" + name, _H5_DTYPES.get(descr, descr.upper()), shape,
                         obj.dtype.itemsize * math.prod(shape), None, role)
        )  # fmt: skip

    layers.visititems(visit)


def _h5_text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


_READERS: Final[dict[str, Callable[[Blob, WeightFile], None]]] = {
    "safetensors": _read_safetensors,
    "gguf": _read_gguf,
    "torch": _read_torch,
    "numpy": _read_numpy,
    "onnx": _read_onnx,
}
