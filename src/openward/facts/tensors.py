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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from openward.artifacts.blob import Blob, MappedFile
from openward.artifacts.errors import ArtifactFormatError, ArtifactLimitError

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

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass
class WeightFile:
    """The tensors of one weight file."""

    relpath: str
    format: str
    """``safetensors``, ``gguf``, ``torch``, ``onnx`` or ``numpy``."""
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
}


def weight_format(path: Path, head: bytes) -> str | None:
    """The weight format of a file from its first bytes (and, for ONNX, its name)."""
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
        if fmt == "onnx":
            _read_onnx(path, wf)
        else:
            with MappedFile(path) as mapped:
                _READERS[fmt](mapped.blob, wf)
    except (*ArtifactError, ValueError, KeyError, OverflowError, RecursionError) as exc:
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
# PyTorch zip (torch.save since 1.6): the symbolic run of data.pkl

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
_OPTIMIZER_KEYS: Final = re.compile(r"(^|\.)(optimizer|optim|optimizer_states?|scheduler)(\.|$)")


def _ints(value: object) -> tuple[int, ...] | None:
    if isinstance(value, tuple) and all(isinstance(v, int) and v >= 0 for v in value):
        return value
    return None


def _read_torch(blob: Blob, wf: WeightFile) -> None:
    from openward.artifacts.zip import read_zip_directory
    from openward.scanning.pickle_vm import Call, Global, Persistent, run_pickle

    directory = read_zip_directory(blob, max_entries=MAX_ZIP_ENTRIES)
    data = [e for e in directory.entries if e.name.endswith("data.pkl") and e.name.count("/") == 1]
    if not data:
        wf.problems.append("no data.pkl in the archive")
        return
    entry = data[0]
    if entry.method != 0 or entry.data_offset is None:
        wf.problems.append("data.pkl is compressed or unreadable")
        return
    pkl = blob.window(entry.data_offset, entry.compressed_size)

    tensors: dict[int, tuple[str, tuple[int, ...], int, tuple[object, ...]]] = {}
    parents: dict[int, tuple[int, str]] = {}
    wrappers: dict[int, int] = {}

    def on_call(call: Call) -> None:
        func = call.func
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
            keep.append(call)
        elif (
            func.key == ("torch._utils", "_rebuild_parameter")
            and isinstance(args, tuple)
            and args
            and id(args[0]) in tensors
        ):
            wrappers[id(call)] = id(args[0])
            keep.append(call)

    def on_setitem(target: object, key: object, value: object) -> None:
        if isinstance(key, str | int):
            parents[id(value)] = (id(target), str(key))
            keep.append(value)
            keep.append(target)

    keep: list[object] = []
    result = run_pickle(pkl, on_call=on_call, on_setitem=on_setitem, persistent=True)
    if result.error is not None:
        wf.problems.append(f"data.pkl: {result.error}")

    def path_of(obj_id: int) -> str:
        parts: list[str] = []
        seen = 0
        while obj_id in parents and seen < 64:
            obj_id, key = parents[obj_id]
            parts.append(key)
            seen += 1
        return ".".join(reversed(parts))

    named: dict[int, str] = {}
    for obj_id in list(tensors) + list(wrappers):
        name = path_of(obj_id)
        if name:
            named[wrappers.get(obj_id, obj_id)] = name
    for obj_id, (dtype, size, nbytes, identity) in tensors.items():
        name = named.get(obj_id, f"<unnamed tensor {len(wf.tensors)}>")
        if _OPTIMIZER_KEYS.search(name):
            continue
        wf.tensors.append(TensorRecord(name, dtype, size, nbytes, identity))


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
# ONNX

_ONNX_DTYPES: Final = {
    1: ("F32", 4), 2: ("U8", 1), 3: ("I8", 1), 4: ("U16", 2), 5: ("I16", 2), 6: ("I32", 4),
    7: ("I64", 8), 9: ("BOOL", 1), 10: ("F16", 2), 11: ("F64", 8), 12: ("U32", 4),
    13: ("U64", 8), 16: ("BF16", 2), 17: ("F8_E4M3", 1), 19: ("F8_E5M2", 1),
}  # fmt: skip


def _read_onnx(path: Path, wf: WeightFile) -> None:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise ValueError(f"not a readable ONNX model ({type(exc).__name__})") from None
    for init in _onnx_initializers(model.graph):
        dtype, item = _ONNX_DTYPES.get(init.data_type, (f"ONNX_{init.data_type}", 0))
        shape = tuple(int(d) for d in init.dims)
        wf.tensors.append(TensorRecord(init.name, dtype, shape, item * math.prod(shape)))
    wf.metadata = {p.key: p.value for p in model.metadata_props}


def _onnx_initializers(graph: Any) -> Iterator[Any]:
    yield from getattr(graph, "initializer", ())


_READERS: Final[dict[str, Callable[[Blob, WeightFile], None]]] = {
    "safetensors": _read_safetensors,
    "gguf": _read_gguf,
    "torch": _read_torch,
    "numpy": _read_numpy,
}
