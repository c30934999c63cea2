"""Reading the weights a fingerprint needs, and only those, as data.

A :class:`WeightSource` opens a model folder, a single weight file or an ``hf://`` snapshot
and gives, by canonical role, the tensors of a decoder-only transformer:

- ``embed`` (token embeddings, rows per token) and the token strings of the vocabulary;
- per layer ``q``, ``k``, ``v``, ``gate``, ``up`` (matrices that read the residual stream:
  one row per output unit, each row as long as the hidden size) and ``o``, ``down`` (they
  write it).

Layouts read (each gives the same rows as the plain layout of the same weights):

- separate projections under Llama, Mistral, Qwen, Phi, GPT-NeoX, Falcon, MPT, GPT-2 names;
- fused projections split into their roles: ``qkv_proj``, ``Wqkv``, ``W_pack``, ``c_attn``
  (``[q; k; v]`` with the config's head counts), ``query_key_value`` (GPT-NeoX and Bloom
  interleave q, k, v per head; Falcon per key/value group), ``wqkv`` (InternLM2, per group),
  ``gate_up_proj`` and a gate/up fused ``dense_h_to_4h`` (halves); GGUF ``attn_qkv`` and a
  fused ``ffn_up`` (phi3);
- GPT-2's Conv1D (``c_attn``/``c_fc``/``c_proj`` stored transposed, ``[in, out]``): a row is
  a column of the file, read as strided spans;
- GPTQ (AutoGPTQ/GPTQModel ``qweight``/``qzeros``/``scales``/``g_idx``, 2/4/8-bit packed in
  int32, checkpoint formats ``gptq`` and ``gptq_v2``) and AWQ (GEMM layout, 4-bit),
  dequantized for the rows read; bitsandbytes 4-bit (nf4/fp4, with or without nested absmax)
  and LLM.int8 (``SCB``); FP8 (E4M3/E5M2) with block or per-row scales; GGUF quantized
  types through gguf's own tables.

A layer matrix that is recognised but cannot be read (GPTQ 3-bit, AWQ GEMV, bitsandbytes
without its quant state, F4, ...) is listed in ``unread`` (layer, role, reason) and left out;
the fingerprint records it, and the rest of the model is still read.

Rows are read on demand with positioned reads (safetensors) or from the memory-mapped GGUF,
converted to float32, and every byte read is counted (``bytes_read``) so a fingerprint can
show it touched a small part of a big model. Nothing is unpickled, nothing is executed:
PyTorch zip checkpoints (``pytorch_model.bin``) are read through the facts layer's symbolic
reading of their pickle (names, shapes, storage offsets) and positioned reads of the stored
tensors; legacy (non-zip) checkpoints are refused with a one-line error.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from openward.errors import OpenwardError

__all__ = [
    "LineageError",
    "Packed",
    "TensorRef",
    "UnreadableTensor",
    "WeightSource",
    "open_weights",
]

Floats = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int64]

ROLES: Final = ("q", "k", "v", "o", "gate", "up", "down")

_LAYER_NAME = re.compile(
    r"(?:^|\.)(?:layers|h|blocks)\.(\d+)\.(?:[A-Za-z_]+\.)?"
    r"(self_attn|attention|attn|self_attention|mixer|mlp|feed_forward|ffn)\."
    r"([A-Za-z0-9_]+)\.(weight|qweight)$"
)
_ATTN_PARENTS: Final = frozenset({"self_attn", "attention", "attn", "self_attention", "mixer"})
_ATTN_MODULES: Final = {
    "q_proj": "q",
    "k_proj": "k",
    "v_proj": "v",
    "o_proj": "o",
    "dense": "o",
    "out_proj": "o",
    "c_proj": "o",
    "wo": "o",
    "qkv_proj": "qkv",
    "query_key_value": "qkv",
    "Wqkv": "qkv",
    "wqkv": "qkv",
    "W_pack": "qkv",
    "c_attn": "qkv",
}
_MLP_MODULES: Final = {
    "gate_proj": "gate",
    "up_proj": "up",
    "down_proj": "down",
    "w1": "gate",
    "w3": "up",
    "w2": "down",
    "c_fc": "up",
    "c_proj": "down",
    "fc1": "up",
    "fc2": "down",
    "fc_in": "up",
    "fc_out": "down",
    "dense_h_to_4h": "up",
    "dense_4h_to_h": "down",
    "gate_up_proj": "gate_up",
}
_CONV1D_MODULES: Final = frozenset({"c_attn", "c_fc", "c_proj"})
_HF_EMBED = re.compile(r"(?:^|\.)(?:embed_tokens|wte|word_embeddings|tok_embeddings)\.weight$")
_GGUF_LAYER = re.compile(
    r"^blk\.(\d+)\.(attn_q|attn_k|attn_v|attn_qkv|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$"
)
_GGUF_ROLE: Final = {
    "attn_q": "q",
    "attn_k": "k",
    "attn_v": "v",
    "attn_qkv": "qkv",
    "attn_output": "o",
    "ffn_gate": "gate",
    "ffn_up": "up",
    "ffn_down": "down",
}
_FLOATS: Final = ("F64", "F32", "F16", "BF16")
_NUMPY: Final = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "BF16": "<u2",
    "I8": "i1",
    "U8": "u1",
    "I16": "<i2",
    "U16": "<u2",
    "I32": "<i4",
    "U32": "<u4",
    "I64": "<i8",
    "F8_E4M3": "u1",
    "F8_E5M2": "u1",
}
_WEIGHT_SUFFIXES: Final = (".safetensors", ".gguf")
_READ_BLOCK: Final = 8 << 20
"""Bytes per positioned read when whole rows of a transposed tensor are read."""
AWQ_ORDER: Final = (0, 2, 4, 6, 1, 3, 5, 7)
"""AutoAWQ's GEMM packing: nibble i of a packed int32 holds output column 8j + AWQ_ORDER[i]."""
MAX_CONFIG_BYTES: Final = 4 << 20


MAX_VECTOR: Final = 1 << 16
_NOT_WEIGHTS = re.compile(r"rope|freq|position|rotary", re.IGNORECASE)
"""One-dimensional tensors that are not learned weights (rotary tables a converter may add or
drop): left out of the values digest."""


class LineageError(OpenwardError):
    """A model whose weights cannot be fingerprinted (one line, for the CLI)."""


class UnreadableTensor(LineageError):
    """One matrix that cannot be read (the rest of the model can)."""


@dataclass(frozen=True)
class Packed:
    """The side tensors of a quantized matrix (each a raw 2-D view: rows x cols as stored)."""

    kind: str
    """``gptq``, ``awq``, ``bnb4`` or ``fp8``."""
    bits: int
    data: TensorRef
    """gptq: qweight [in/pack, out]; awq: qweight [in, out/pack]; bnb4: codes [out, in/2]."""
    scales: TensorRef
    """gptq/awq: [groups, out]; bnb4: absmax [out, in/blocksize]."""
    zeros: TensorRef | None = None
    """gptq/awq: qzeros [groups, out/pack]."""
    g_idx: TensorRef | None = None
    zero_offset: int = 0
    """GPTQ's v1 checkpoints store zero - 1."""
    code: TensorRef | None = None
    """bnb4: the 16 values of its 4-bit type."""
    nested_absmax: TensorRef | None = None
    nested_code: TensorRef | None = None
    nested_offset: float = 0.0
    nested_blocksize: int = 256
    blocksize: int = 64
    block: tuple[int, int] = (0, 0)
    """fp8: rows x cols of input per scale (0, 0: one scale per tensor or per row)."""


@dataclass(frozen=True)
class TensorRef:
    """Where one 2-D tensor's rows are: ``rows`` x ``cols`` (output units x inputs)."""

    name: str
    rows: int
    cols: int
    file: Path
    dtype: str
    offset: int = 0
    """safetensors: absolute offset of the first byte."""
    gguf_index: int = -1
    transposed: bool = False
    """Stored as [cols, rows] (GPT-2's Conv1D): a row here is a column of the file."""
    packed: Packed | None = None
    part_of: TensorRef | None = None
    """A role of a fused tensor: rows ``blocks`` of ``part_of``."""
    blocks: tuple[tuple[int, int], ...] = ()
    """(first row, count) runs of ``part_of`` that make this role, in order."""


@dataclass
class WeightSource:
    """The tensors of one model, by role, with counted reads."""

    path: Path
    format: str
    embed: TensorRef
    layers: dict[int, dict[str, TensorRef]]
    tokens: list[str]
    size: int
    """Bytes of the weight files."""
    bytes_read: int = 0
    unread: list[tuple[int, str, str]] = field(default_factory=list)
    """(layer, role, reason) for matrices that were recognised but cannot be read."""
    vocabulary_from: str = ""
    """The file the token strings came from (empty: none)."""
    vectors: list[TensorRef] = field(default_factory=list)
    """The small one-dimensional float tensors (norm weights, biases): read whole for the
    values digest, so an edit confined to them is not ``identical``."""
    _gguf: dict[Path, Any] = field(default_factory=dict)
    _int8_scales: dict[str, TensorRef] = field(default_factory=dict)
    _small: dict[tuple[Path, int], npt.NDArray[Any]] = field(default_factory=dict)

    @property
    def n_layers(self) -> int:
        return max(self.layers) + 1 if self.layers else 0

    @property
    def hidden(self) -> int:
        return self.embed.cols

    def read_rows(self, ref: TensorRef, rows: Sequence[int]) -> Floats:
        """Rows ``rows`` (ascending) of ``ref`` as float32, shape (len(rows), cols).

        Raises:
            UnreadableTensor: a quantized matrix whose side tensors do not fit it.
            LineageError: a truncated file.
        """
        if not rows:
            return np.zeros((0, ref.cols), dtype=np.float32)
        if ref.part_of is not None:
            index = _block_index(ref.blocks)
            return self.read_rows(ref.part_of, [int(i) for i in index[np.asarray(rows)]])
        if ref.gguf_index >= 0:
            return self._gguf_rows(ref, rows)
        if ref.packed is not None:
            return self._packed_rows(ref, ref.packed, rows)
        if ref.transposed:
            stored = replace(ref, rows=ref.cols, cols=ref.rows, transposed=False)
            cols = self._raw_cols(stored, rows)
            return np.ascontiguousarray(_to_float(cols, ref.dtype).T)
        out = _to_float(self._raw_rows(ref, rows), ref.dtype)
        if ref.dtype == "I8":  # bitsandbytes LLM.int8: per-row absmax scales in `.SCB`
            scales = self._int8_scales.get(ref.name)
            if scales is None:
                raise UnreadableTensor(f"{ref.name} is int8 without its scales (SCB)")
            scb = _to_float(self._raw_rows(scales, [0]), scales.dtype).reshape(-1)
            out *= scb[list(rows)][:, None] / 127.0
        return out

    def read_vector(self, ref: TensorRef) -> Floats:
        """A one-dimensional tensor from :attr:`vectors`, as float32."""
        if ref.gguf_index >= 0:
            tensor = self._gguf[ref.file].tensors[ref.gguf_index]
            values = np.asarray(tensor.data, dtype=np.float32).reshape(-1)
            self.bytes_read += values.nbytes
            return values
        return self.read_rows(ref, [0]).reshape(-1)

    def read_all(self, ref: TensorRef) -> Floats:
        return self.read_rows(ref, range(ref.rows))

    # -- raw reads -------------------------------------------------------------------

    def _raw_rows(self, ref: TensorRef, rows: Sequence[int]) -> npt.NDArray[Any]:
        """Rows of a row-major tensor as stored (its numpy dtype), consecutive rows in one
        positioned read."""
        dtype = np.dtype(_NUMPY[ref.dtype])
        row_bytes = ref.cols * dtype.itemsize
        out = np.empty((len(rows), ref.cols), dtype=dtype)
        order = list(rows)
        fd = self._open(ref.file)
        try:
            i = 0
            while i < len(order):
                j = i + 1
                while j < len(order) and order[j] == order[j - 1] + 1:
                    j += 1
                out[i:j] = self._pread(
                    fd, ref, ref.offset + order[i] * row_bytes, (j - i) * row_bytes, dtype
                ).reshape(j - i, ref.cols)
                i = j
        finally:
            os.close(fd)
        return out

    def _raw_cols(self, ref: TensorRef, cols: Sequence[int] | Ints) -> npt.NDArray[Any]:
        """Columns of a row-major tensor, shape (ref.rows, len(cols)): whole rows read in
        blocks of 8 MiB when the columns span at least half a row, else one span per row."""
        dtype = np.dtype(_NUMPY[ref.dtype])
        picked = np.asarray(list(cols), dtype=np.int64)
        lo, hi = int(picked.min()), int(picked.max()) + 1
        row_bytes = ref.cols * dtype.itemsize
        out = np.empty((ref.rows, len(picked)), dtype=dtype)
        fd = self._open(ref.file)
        try:
            if 2 * (hi - lo) >= ref.cols:
                block = max(1, _READ_BLOCK // max(row_bytes, 1))
                for r0 in range(0, ref.rows, block):
                    r1 = min(ref.rows, r0 + block)
                    raw = self._pread(
                        fd, ref, ref.offset + r0 * row_bytes, (r1 - r0) * row_bytes, dtype
                    )
                    out[r0:r1] = raw.reshape(r1 - r0, ref.cols)[:, picked]
            else:
                span = (hi - lo) * dtype.itemsize
                for r in range(ref.rows):
                    raw = self._pread(
                        fd, ref, ref.offset + r * row_bytes + lo * dtype.itemsize, span, dtype
                    )
                    out[r] = raw[picked - lo]
        finally:
            os.close(fd)
        return out

    def _raw_all(self, ref: TensorRef) -> npt.NDArray[Any]:
        """A small side tensor (scales, g_idx, code tables) whole, read once."""
        key = (ref.file, ref.offset)
        if key not in self._small:
            self._small[key] = self._raw_rows(ref, range(ref.rows))
        return self._small[key]

    def _open(self, file: Path) -> int:
        try:
            return os.open(file, os.O_RDONLY)
        except OSError as exc:
            raise LineageError(f"{file}: cannot read ({exc.strerror or exc})") from None

    def _pread(
        self, fd: int, ref: TensorRef, start: int, length: int, dtype: np.dtype[Any]
    ) -> npt.NDArray[Any]:
        raw = os.pread(fd, length, start)
        if len(raw) != length:
            raise LineageError(f"{ref.file}: {ref.name} is truncated")
        self.bytes_read += length
        return np.frombuffer(raw, dtype=dtype)

    # -- quantized layouts -----------------------------------------------------------

    def _packed_rows(self, ref: TensorRef, p: Packed, rows: Sequence[int]) -> Floats:
        picked = np.asarray(list(rows), dtype=np.int64)
        if p.kind == "bnb4":
            return self._bnb4_rows(ref, p, picked)
        if p.kind == "fp8":
            return self._fp8_rows(ref, p, picked)
        mask = (1 << p.bits) - 1
        pack = 32 // p.bits
        n_in = ref.cols
        scales = _to_float(self._raw_cols(p.scales, picked), p.scales.dtype)  # groups x k
        groups = p.scales.rows
        if p.kind == "gptq":
            packed = self._raw_cols(p.data, picked).astype(np.int64)  # in/pack x k
            shifts = (np.arange(pack, dtype=np.int64) * p.bits)[None, :, None]
            q = ((packed[:, None, :] >> shifts) & mask).reshape(n_in, len(picked))
            zshift = (picked % pack) * p.bits
        else:  # awq: nibble i of packed column j is output column 8j + AWQ_ORDER[i]
            cols, inverse = np.unique(picked // pack, return_inverse=True)
            nibble = np.argsort(np.asarray(AWQ_ORDER))[picked % pack]
            zshift = nibble * p.bits
            packed = self._raw_cols(p.data, cols).astype(np.int64)[:, inverse]  # in x k
            q = (packed >> zshift[None, :]) & mask
        if p.zeros is not None:
            zcols, zinv = np.unique(picked // pack, return_inverse=True)
            zpacked = self._raw_cols(p.zeros, zcols).astype(np.int64)[:, zinv]
            zeros = ((zpacked >> zshift[None, :]) + p.zero_offset) & mask
        else:
            zeros = np.full((groups, len(picked)), 1 << (p.bits - 1), dtype=np.int64)
        if p.g_idx is not None:
            g = self._raw_all(p.g_idx).reshape(-1).astype(np.int64)
            if len(g) != n_in or (len(g) and (g.min() < 0 or g.max() >= groups)):
                raise UnreadableTensor(f"{ref.name}: g_idx does not fit its {groups} groups")
        else:
            g = np.arange(n_in, dtype=np.int64) // max(1, n_in // groups)
        values = (q - zeros[g]).astype(np.float32) * scales[g]
        return np.ascontiguousarray(values.T)

    def _bnb4_rows(self, ref: TensorRef, p: Packed, picked: Ints) -> Floats:
        assert p.code is not None
        code = _to_float(self._raw_all(p.code), p.code.dtype).reshape(-1)
        if code.size != 16:
            raise UnreadableTensor(f"{ref.name}: a 4-bit code table of {code.size} values")
        packed = self._raw_rows(p.data, [int(r) for r in picked]).astype(np.int64)  # k x in/2
        codes = np.empty((len(picked), ref.cols), dtype=np.int64)
        codes[:, 0::2] = packed >> 4  # bitsandbytes puts the first value in the high nibble
        codes[:, 1::2] = packed & 0xF
        absmax = self._raw_rows(p.scales, [int(r) for r in picked])  # k x in/blocksize
        if p.nested_absmax is not None and p.nested_code is not None:
            nested = _to_float(self._raw_all(p.nested_absmax), p.nested_absmax.dtype).reshape(-1)
            ncode = _to_float(self._raw_all(p.nested_code), p.nested_code.dtype).reshape(-1)
            per_row = p.scales.cols
            block = picked[:, None] * per_row + np.arange(per_row)[None, :]
            which = block // p.nested_blocksize
            if ncode.size != 256 or which.max() >= nested.size:
                raise UnreadableTensor(f"{ref.name}: nested absmax does not fit its blocks")
            scale = ncode[absmax.astype(np.int64)] * nested[which] + p.nested_offset
        else:
            scale = _to_float(absmax, p.scales.dtype)
        values: Floats = (code[codes] * np.repeat(scale, p.blocksize, axis=1)).astype(np.float32)
        return values

    def _fp8_rows(self, ref: TensorRef, p: Packed, picked: Ints) -> Floats:
        raw = self._raw_rows(p.data, [int(r) for r in picked])
        values = _fp8_table(p.data.dtype)[raw.astype(np.int64)]
        scales = _to_float(self._raw_all(p.scales), p.scales.dtype)
        if p.block != (0, 0):  # one scale per block of block[0] rows x block[1] columns
            per_col = np.repeat(scales[picked // p.block[0]], p.block[1], axis=1)
            values *= per_col[:, : ref.cols]
        elif scales.size == 1:
            values *= scales.reshape(-1)[0]
        else:
            values *= scales.reshape(-1)[picked][:, None]
        return values

    def _gguf_rows(self, ref: TensorRef, rows: Sequence[int]) -> Floats:
        from gguf import GGMLQuantizationType
        from gguf.quants import dequantize

        reader = self._gguf[ref.file]
        tensor = reader.tensors[ref.gguf_index]
        data = tensor.data
        picked = np.asarray(data[np.asarray(list(rows))])
        self.bytes_read += picked.nbytes
        qtype = GGMLQuantizationType(int(tensor.tensor_type))
        if qtype in (GGMLQuantizationType.F32, GGMLQuantizationType.F16):
            return picked.astype(np.float32).reshape(len(rows), ref.cols)
        try:
            values = dequantize(picked, qtype)
        except NotImplementedError:
            raise UnreadableTensor(
                f"{ref.name} has GGUF type {qtype.name}, which gguf cannot dequantize"
            ) from None
        return np.asarray(values, dtype=np.float32).reshape(len(rows), ref.cols)


def _to_float(raw: npt.NDArray[Any], dtype: str) -> Floats:
    if dtype == "BF16":
        return (raw.astype(np.uint32) << 16).view(np.float32)
    return raw.astype(np.float32)


def _fp8_table(dtype: str) -> Floats:
    """The 256 values of a float8 byte: E5M2 is the upper byte of a float16; E4M3 (the
    "fn" variant: no infinities, S.1111.111 is NaN) has exponent bias 7."""
    codes = np.arange(256, dtype=np.uint16)
    if dtype == "F8_E5M2":
        return (codes << 8).view(np.float16).astype(np.float32)
    sign = np.where(codes & 0x80, -1.0, 1.0)
    exp = (codes >> 3) & 0xF
    man = (codes & 0x7).astype(np.float64)
    normal = (1 + man / 8) * np.exp2(exp.astype(np.float64) - 7)
    values = sign * np.where(exp == 0, man / 8 * 2.0**-6, normal)
    values[(codes & 0x7F) == 0x7F] = np.nan
    return values.astype(np.float32)


def _block_index(blocks: tuple[tuple[int, int], ...]) -> Ints:
    return np.concatenate([np.arange(s, s + n, dtype=np.int64) for s, n in blocks])


# -- which files --------------------------------------------------------------------------


def _weight_files(path: Path) -> tuple[str, list[Path]]:
    """The files a loader would read: the file itself, or the folder's top-level weights
    (the shards ``model.safetensors.index.json`` names when there is one). Sub-folders are
    not read: transformers does not load them either, so a decoy there must not count.
    Symlinks (a Hugging Face cache snapshot links into ``blobs/``) are followed to regular
    files."""
    if path.is_file():
        if path.suffix in (".bin", ".pt", ".pth") and _is_zip(path):
            return "torch", [path.resolve()]
        if path.suffix not in _WEIGHT_SUFFIXES:
            return "none", []
        return ("gguf" if path.suffix == ".gguf" else "safetensors"), [path.resolve()]
    index = path / "model.safetensors.index.json"
    if index.is_file():
        try:
            names = sorted(
                set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise LineageError(f"{index}: not a readable safetensors index") from None
        files = []
        for name in names:
            shard = (path / str(name)).resolve()
            if Path(str(name)).name != str(name) or not shard.is_file():
                raise LineageError(f"{index}: names a missing or nested shard {name!r}")
            files.append(shard)
        return "safetensors", files
    top = sorted(p for p in path.iterdir() if p.suffix in _WEIGHT_SUFFIXES and p.is_file())
    st = [p.resolve() for p in top if p.suffix == ".safetensors"]
    if st:
        return "safetensors", st
    if top:
        # a folder with several GGUF files: the first (one model each)
        return "gguf", [p.resolve() for p in top[:1]]
    return "torch", _torch_files(path)


def _torch_files(path: Path) -> list[Path]:
    """A folder's PyTorch checkpoint: the shards ``pytorch_model.bin.index.json`` names, or
    ``pytorch_model.bin``; zip archives only (the legacy format is not read)."""
    index = path / "pytorch_model.bin.index.json"
    names: list[str] = []
    if index.is_file():
        try:
            names = sorted(
                set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise LineageError(f"{index}: not a readable checkpoint index") from None
    elif (path / "pytorch_model.bin").is_file():
        names = ["pytorch_model.bin"]
    files = []
    for name in names:
        shard = (path / str(name)).resolve()
        if Path(str(name)).name != str(name) or not shard.is_file():
            raise LineageError(f"{index}: names a missing or nested shard {name!r}")
        if not _is_zip(shard):
            raise LineageError(
                f"{shard}: a legacy (non-zip) torch checkpoint; openward reads torch zip "
                "checkpoints only (convert it to safetensors)"
            )
        files.append(shard)
    return files


def _is_zip(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def _looks_like_fingerprint(path: Path) -> bool:
    from openward.lineage.fingerprint import FORMAT

    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return head.lstrip()[:1] == b"{" and FORMAT.encode() in head


def open_weights(target: str | Path) -> WeightSource:
    """Open a model folder, weight file or ``hf://ORG/NAME[@REV]`` snapshot for reading.

    Raises:
        LineageError: no readable weights, an unsupported format, or no token embedding.
    """
    from openward.artifacts.hf_cache import is_hf_target, resolve_hf_target

    text = str(target)
    try:
        path = resolve_hf_target(text) if is_hf_target(text) else Path(text)
    except OpenwardError as exc:
        raise LineageError(str(exc)) from None
    if not path.exists():
        raise LineageError(f"{path}: no such file or folder")
    if path.is_file() and _looks_like_fingerprint(path):
        raise LineageError(
            f"{path}: an openward fingerprint, not weights; fingerprint files are read when "
            "their name ends in .json (rename it)"
        )
    kind, files = _weight_files(path)
    if not files:
        nested = [] if path.is_file() else sorted(path.glob("*/*.gguf"))[:3]
        hint = (
            f" (GGUF files in sub-folders are not read: name one, e.g. {nested[0]})"
            if nested
            else ""
        )
        raise LineageError(f"{path}: no safetensors, GGUF or torch zip weights{hint}")
    if kind == "gguf":
        return _open_gguf(path, files[0])
    if kind == "torch":
        return _open_torch(path, files)
    return _open_safetensors(path, files)


# -- the model's configuration ---------------------------------------------------------


@dataclass(frozen=True)
class _Heads:
    heads: int
    kv_heads: int
    head_dim: int
    layout: str
    """How a fused qkv tensor orders its rows: ``concat`` ([q; k; v]), ``per_head``
    (q, k, v of each head in turn: GPT-NeoX, Bloom, Falcon without multi-query) or
    ``grouped`` (each key/value group's queries, then its key and value: Falcon's new
    decoder architecture, InternLM2)."""


def _read_config(folder: Path) -> dict[str, Any]:
    file = folder / "config.json"
    try:
        if not file.is_file() or file.stat().st_size > MAX_CONFIG_BYTES:
            return {}
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _positive(*values: object) -> int | None:
    for v in values:
        if isinstance(v, int) and not isinstance(v, bool) and 0 < v < (1 << 24):
            return v
    return None


def _heads_from_config(cfg: dict[str, Any], hidden: int) -> _Heads | None:
    attn_cfg = cfg.get("attn_config") if isinstance(cfg.get("attn_config"), dict) else {}
    assert isinstance(attn_cfg, dict)
    heads = _positive(
        cfg.get("num_attention_heads"), cfg.get("n_head"), cfg.get("num_heads"), cfg.get("n_heads")
    )
    if heads is None:
        return None
    model_type = str(cfg.get("model_type", ""))
    layout = "concat"
    kv = _positive(
        cfg.get("num_key_value_heads"),
        cfg.get("num_kv_heads") if model_type not in ("falcon", "RefinedWebModel") else None,
        cfg.get("n_head_kv"),
        attn_cfg.get("kv_n_heads"),
        cfg.get("multi_query_group_num") if cfg.get("multi_query_attention") else None,
    )
    if model_type in ("gpt_neox", "bloom", "gpt2"):
        layout, kv = ("concat" if model_type == "gpt2" else "per_head"), heads
    elif model_type in ("falcon", "RefinedWeb", "RefinedWebModel"):
        if cfg.get("new_decoder_architecture") or model_type == "RefinedWeb":
            layout = "grouped"
            kv = _positive(cfg.get("num_kv_heads"), cfg.get("n_head_kv")) or heads
        elif cfg.get("multi_query", True):
            kv = 1
        else:
            layout, kv = "per_head", heads
    elif model_type == "internlm2":
        layout = "grouped"
    elif model_type == "gpt_bigcode" and cfg.get("multi_query", True):
        kv = 1
    kv = kv or heads
    head_dim = _positive(cfg.get("head_dim"), cfg.get("kv_channels")) or (hidden // heads)
    if heads % kv:
        return None
    return _Heads(heads, kv, head_dim, layout)


def _qkv_blocks(
    heads: _Heads | None, rows: int, hidden: int
) -> dict[str, tuple[tuple[int, int], ...]] | None:
    """The row runs of q, k and v in a fused tensor of ``rows`` rows (None: they do not fit)."""
    if heads is None:  # no head counts: only equal thirds can be told apart
        if rows % 3 or rows // 3 != hidden:
            return None
        third = rows // 3
        return {"q": ((0, third),), "k": ((third, third),), "v": ((2 * third, third),)}
    nh, nkv, hd = heads.heads, heads.kv_heads, heads.head_dim
    if rows != (nh + 2 * nkv) * hd:
        return None
    if heads.layout == "per_head" and nh == nkv:
        return {
            role: tuple((h * 3 * hd + i * hd, hd) for h in range(nh))
            for i, role in enumerate(("q", "k", "v"))
        }
    if heads.layout == "grouped":
        group = nh // nkv
        width = (group + 2) * hd
        return {
            "q": tuple((j * width, group * hd) for j in range(nkv)),
            "k": tuple((j * width + group * hd, hd) for j in range(nkv)),
            "v": tuple((j * width + (group + 1) * hd, hd) for j in range(nkv)),
        }
    return {
        "q": ((0, nh * hd),),
        "k": ((nh * hd, nkv * hd),),
        "v": ((nh * hd + nkv * hd, nkv * hd),),
    }


def _split(ref: TensorRef, blocks: dict[str, tuple[tuple[int, int], ...]]) -> dict[str, TensorRef]:
    return {
        role: TensorRef(
            f"{ref.name}[{role}]",
            sum(n for _, n in runs),
            ref.cols,
            ref.file,
            ref.dtype,
            part_of=ref,
            blocks=runs,
        )
        for role, runs in blocks.items()
    }


def _assign(
    found: dict[int, dict[str, TensorRef]],
    heads: _Heads | None,
    hidden: int,
    unread: list[tuple[int, str, str]],
) -> dict[int, dict[str, TensorRef]]:
    """Canonical roles per layer from the modules found (fused ones split)."""
    layers: dict[int, dict[str, TensorRef]] = {}
    for layer, mods in found.items():
        roles = layers.setdefault(layer, {})
        for role, ref in mods.items():
            if role == "qkv":
                blocks = _qkv_blocks(heads, ref.rows, hidden)
                if blocks is None:
                    unread.append(
                        (
                            layer,
                            "q/k/v",
                            f"fused {ref.name} of {ref.rows} rows does not fit the "
                            "config's head counts",
                        )
                    )
                    continue
                for r, part in _split(ref, blocks).items():
                    roles.setdefault(r, part)
            elif role == "gate_up" or (
                role == "up"
                and "gate" not in mods
                and "down" in mods
                and ref.rows == 2 * mods["down"].cols
            ):
                half = ref.rows // 2
                if ref.rows % 2:
                    unread.append((layer, "gate/up", f"fused {ref.name} of odd rows {ref.rows}"))
                    continue
                parts = _split(ref, {"gate": ((0, half),), "up": ((half, half),)})
                roles.setdefault("gate", parts["gate"])
                roles["up"] = parts["up"]
            else:
                roles[role] = ref
    return layers


def _role_of(parent: str, module: str) -> str | None:
    if parent in _ATTN_PARENTS:
        return _ATTN_MODULES.get(module)
    return _MLP_MODULES.get(module)


# -- safetensors -----------------------------------------------------------------------


def _open_safetensors(path: Path, files: list[Path]) -> WeightSource:
    from openward.artifacts.blob import MappedFile
    from openward.artifacts.errors import ArtifactFormatError, ArtifactLimitError
    from openward.artifacts.safetensors import read_safetensors_header

    entries: dict[str, TensorRef] = {}
    matrices: set[str] = set()
    order: list[str] = []
    size = 0
    for file in files:
        size += file.stat().st_size
        try:
            with MappedFile(file) as mapped:
                header = read_safetensors_header(mapped.blob)
        except (ArtifactFormatError, ArtifactLimitError) as exc:
            raise LineageError(f"{file}: not a readable safetensors file ({exc})") from None
        except OSError as exc:
            raise LineageError(f"{file}: cannot read ({exc.strerror or exc})") from None
        if header.problems:
            raise LineageError(f"{file}: {header.problems[0]}")
        for t in header.tensors:
            if len(t.shape) > 2 or t.name in entries:
                continue
            rows, cols = (t.shape[0], t.shape[1]) if len(t.shape) == 2 else (1, _numel(t.shape))
            entries[t.name] = TensorRef(
                t.name, rows, cols, file, t.dtype, header.data_start + t.start
            )
            order.append(t.name)
            if len(t.shape) == 2:
                matrices.add(t.name)

    return _from_entries(path, "safetensors", entries, matrices, order, size)


def _open_torch(path: Path, files: list[Path]) -> WeightSource:
    """PyTorch zip checkpoints (``pytorch_model.bin``), read as data: the pickle that
    describes the tensors is interpreted symbolically by the facts layer (nothing is
    unpickled, no code runs), and each tensor's rows are read at their offset in the
    archive's stored (uncompressed) storage entry."""
    from openward.artifacts.blob import MappedFile
    from openward.artifacts.errors import ArtifactFormatError, ArtifactLimitError
    from openward.artifacts.zip import read_zip_directory
    from openward.facts.tensors import read_weight_file

    entries: dict[str, TensorRef] = {}
    matrices: set[str] = set()
    order: list[str] = []
    size = 0
    for file in files:
        size += file.stat().st_size
        wf = read_weight_file(file, file.name)
        if wf is None or wf.format != "torch":
            raise LineageError(f"{file}: not a PyTorch zip checkpoint")
        if not wf.tensors:
            why = wf.problems[0] if wf.problems else "no tensors"
            raise LineageError(f"{file}: a torch checkpoint openward cannot read ({why})")
        try:
            with MappedFile(file) as mapped:
                directory = read_zip_directory(mapped.blob, max_entries=1 << 20)
        except (ArtifactFormatError, ArtifactLimitError, OSError) as exc:
            raise LineageError(f"{file}: not a readable zip archive ({exc})") from None
        storages = {
            e.name.rsplit("/", 1)[1]: e
            for e in directory.entries
            if e.name.count("/") == 2 and e.name.split("/")[1] == "data"
        }
        for t in wf.tensors:
            ref = _torch_ref(file, t, storages)
            if ref is None or t.name in entries:
                continue
            entries[t.name] = ref
            order.append(t.name)
            if len(t.shape) == 2:
                matrices.add(t.name)
    return _from_entries(path, "torch", entries, matrices, order, size)


_ITEM: Final = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I8": 1}


def _torch_ref(file: Path, t: Any, storages: dict[str, Any]) -> TensorRef | None:
    """Where a torch tensor's values are, if it is a row-major float matrix or vector kept
    uncompressed in the archive; None otherwise."""
    if t.identity is None or t.dtype not in _ITEM or len(t.shape) not in (1, 2):
        return None
    key, offset, shape, stride = t.identity
    entry = storages.get(str(key))
    if entry is None or entry.method != 0 or entry.data_offset is None:
        return None
    if not isinstance(offset, int) or offset < 0:
        return None
    rows, cols = (shape[0], shape[1]) if len(shape) == 2 else (1, shape[0])
    if tuple(stride) != ((cols, 1) if len(shape) == 2 else (1,)):
        return None  # a transposed or strided view: not rows on disk
    item = _ITEM[t.dtype]
    start = entry.data_offset + offset * item
    if rows * cols * item + offset * item > entry.compressed_size:
        return None
    return TensorRef(t.name, rows, cols, file, t.dtype, start)


def _from_entries(
    path: Path,
    fmt: str,
    entries: dict[str, TensorRef],
    matrices: set[str],
    order: list[str],
    size: int,
) -> WeightSource:
    embed: TensorRef | None = None
    for name in order:
        ref = entries[name]
        if _HF_EMBED.search(name) and name in matrices:
            if ref.dtype not in _FLOATS:
                raise LineageError(
                    f"{ref.file}: {name} is stored as {ref.dtype}, a quantization openward does "
                    "not read for embeddings (dequantize to safetensors first)"
                )
            embed = ref
            break
    if embed is None:
        raise LineageError(f"{path}: no token embedding tensor found")
    if embed.cols == 0:
        raise LineageError(f"{path}: the token embedding has no columns")
    folder = path if path.is_dir() else path.parent
    cfg = _read_config(folder)
    hidden = embed.cols
    quant = _quant_config(folder, cfg)
    conv1d = _is_conv1d(entries, order, hidden, cfg)

    found: dict[int, dict[str, TensorRef]] = {}
    unread: list[tuple[int, str, str]] = []
    scales: dict[str, TensorRef] = {}
    for name in order:
        m = _LAYER_NAME.search(name)
        if not m:
            continue
        layer, parent, module, kind = int(m.group(1)), m.group(2), m.group(3), m.group(4)
        role = _role_of(parent, module)
        if role is None:
            continue
        base = name[: -len(kind)]  # "...q_proj."
        try:
            layer_ref = _layer_ref(
                entries, name, base, kind, quant, conv1d and module in _CONV1D_MODULES, matrices
            )
        except UnreadableTensor as exc:
            unread.append((layer, role.replace("_", "/"), str(exc)))
            continue
        if layer_ref is None:
            continue
        if layer_ref.dtype == "I8":
            scb = entries.get(base + "SCB")
            if (
                scb is None
                or scb.rows != 1
                or scb.cols != layer_ref.rows
                or scb.dtype not in _FLOATS
            ):
                unread.append((layer, role, f"{name} is int8 without scales (SCB) that fit it"))
                continue
            scales[name] = scb
        found.setdefault(layer, {})[role] = layer_ref
    layers = _assign(found, _heads_from_config(cfg, hidden), hidden, unread)
    for layer, _, _ in unread:
        layers.setdefault(layer, {})
    tokens, origin = _hf_tokens(folder, embed.rows)
    source = WeightSource(path, fmt, embed, layers, tokens, size)
    source._int8_scales = scales
    source.unread = unread
    source.vocabulary_from = origin
    source.vectors = [
        entries[name]
        for name in order
        if name not in matrices
        and entries[name].dtype in _FLOATS
        and 0 < entries[name].cols <= MAX_VECTOR
        and not _NOT_WEIGHTS.search(name)
    ]
    return source


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _is_conv1d(entries: dict[str, TensorRef], order: list[str], hidden: int, cfg: Any) -> bool:
    """GPT-2's Conv1D stores [in, out]: c_fc is [hidden, 4 hidden] there, [4 hidden, hidden]
    in GPT-BigCode's nn.Linear."""
    if cfg.get("model_type") == "gpt2":
        return True
    for name in order:
        m = _LAYER_NAME.search(name)
        if m and m.group(3) in ("c_fc", "c_attn") and m.group(4) == "weight":
            ref = entries[name]
            return ref.rows == hidden and ref.cols != hidden
    return False


@dataclass(frozen=True)
class _Quant:
    method: str
    bits: int
    checkpoint_format: str
    version: str
    block: tuple[int, int] = (128, 128)


def _quant_config(folder: Path, cfg: dict[str, Any]) -> _Quant:
    q = cfg.get("quantization_config")
    if not isinstance(q, dict):
        file = folder / "quantize_config.json"  # AutoGPTQ writes it beside config.json
        try:
            if file.is_file() and file.stat().st_size <= MAX_CONFIG_BYTES:
                q = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            q = None
    if not isinstance(q, dict):
        q = {}
    bits = q.get("bits", q.get("w_bit", 4))
    block = q.get("weight_block_size")
    if not (isinstance(block, list) and len(block) == 2 and all(_positive(b) for b in block)):
        block = [128, 128]
    return _Quant(
        block=(int(block[0]), int(block[1])),
        method=str(q.get("quant_method", "")).lower(),
        bits=bits if isinstance(bits, int) and not isinstance(bits, bool) else 0,
        checkpoint_format=str(q.get("checkpoint_format", "gptq")).lower(),
        version=str(q.get("version", "gemm")).lower(),
    )


def _layer_ref(
    entries: dict[str, TensorRef],
    name: str,
    base: str,
    kind: str,
    quant: _Quant,
    transposed: bool,
    matrices: set[str],
) -> TensorRef | None:
    """The logical [out, in] view of one projection, or None when it is not a matrix.

    Raises:
        UnreadableTensor: a layout recognised but not read (the reason)."""
    ref = entries[name]
    if kind == "qweight":
        return _gptq_awq_ref(entries, ref, base, quant)
    if name not in matrices:
        return None
    if ref.dtype in _FLOATS or ref.dtype == "I8":
        if ref.rows == 0 or ref.cols == 0:
            return None
        if transposed:
            return replace(ref, rows=ref.cols, cols=ref.rows, transposed=True)
        return ref
    if ref.dtype in ("F8_E4M3", "F8_E5M2"):
        return _fp8_ref(entries, ref, base, quant)
    if ref.dtype == "U8" and (base + "weight.absmax") in entries:
        return _bnb4_ref(entries, ref, base)
    if ref.dtype == "U8":
        raise UnreadableTensor(f"{name}: bitsandbytes 4-bit without its quant state (absmax)")
    raise UnreadableTensor(f"{name} is stored as {ref.dtype}, a type openward does not read")


def _gptq_awq_ref(
    entries: dict[str, TensorRef], qweight: TensorRef, base: str, quant: _Quant
) -> TensorRef:
    scales = entries.get(base + "scales")
    zeros = entries.get(base + "qzeros")
    g_idx = entries.get(base + "g_idx")
    if scales is None or scales.dtype not in _FLOATS or qweight.dtype != "I32":
        raise UnreadableTensor(
            f"{qweight.name}: a packed matrix without float scales (or not int32-packed)"
        )
    bits = quant.bits or 4
    if g_idx is not None and g_idx.cols and (32 * qweight.rows) % g_idx.cols == 0:
        bits = 32 * qweight.rows // g_idx.cols  # per-module bits (GPTQModel's "dynamic")
    if bits not in (2, 4, 8):
        raise UnreadableTensor(f"{qweight.name}: {bits}-bit packing is not read (2, 4, 8 are)")
    pack = 32 // bits
    groups, out = scales.rows, scales.cols
    if groups == 0 or out == 0:
        raise UnreadableTensor(f"{qweight.name}: empty scales")
    if quant.method != "awq" and qweight.cols == out:  # GPTQ: [in/pack, out]
        n_in = qweight.rows * pack
        ok_zeros = zeros is None or (
            zeros.dtype == "I32" and zeros.rows == groups and zeros.cols * pack == out
        )
        ok_g = g_idx is None or (
            g_idx.dtype in ("I32", "I64") and g_idx.rows == 1 and g_idx.cols == n_in
        )
        if not ok_zeros or not ok_g or (n_in % groups and g_idx is None):
            raise UnreadableTensor(f"{qweight.name}: qzeros/g_idx do not fit a GPTQ layout")
        zero_offset = 0 if quant.checkpoint_format == "gptq_v2" else 1
        packed = Packed("gptq", bits, qweight, scales, zeros, g_idx, zero_offset)
        return TensorRef(qweight.name, out, n_in, qweight.file, "GPTQ", packed=packed)
    if qweight.cols * pack == out and bits == 4:  # AWQ GEMM: [in, out/pack]
        if quant.version not in ("gemm", ""):
            raise UnreadableTensor(f"{qweight.name}: AWQ {quant.version} layout is not read")
        n_in = qweight.rows
        if (
            zeros is None
            or zeros.dtype != "I32"
            or zeros.rows != groups
            or zeros.cols != qweight.cols
        ):
            raise UnreadableTensor(f"{qweight.name}: qzeros do not fit an AWQ layout")
        if n_in % groups:
            raise UnreadableTensor(f"{qweight.name}: {n_in} inputs in {groups} groups")
        packed = Packed("awq", bits, qweight, scales, zeros)
        return TensorRef(qweight.name, out, n_in, qweight.file, "AWQ", packed=packed)
    raise UnreadableTensor(f"{qweight.name}: a packed layout openward does not recognise")


def _fp8_ref(entries: dict[str, TensorRef], ref: TensorRef, base: str, quant: _Quant) -> TensorRef:
    """FP8 with ``weight_scale_inv`` per block (DeepSeek-V3, Qwen3-FP8: 128 x 128 blocks, from
    ``quantization_config.weight_block_size``) or ``weight_scale`` per tensor or per row
    (compressed-tensors, FBGEMM)."""
    blockwise = entries.get(base + "weight_scale_inv")
    single = entries.get(base + "weight_scale")
    if blockwise is not None and blockwise.dtype in _FLOATS:
        br, bc = quant.block
        if (
            br <= 0
            or bc <= 0
            or blockwise.rows != -(-ref.rows // br)
            or blockwise.cols != -(-ref.cols // bc)
        ):
            raise UnreadableTensor(f"{ref.name}: FP8 block scales that do not fit its blocks")
        packed = Packed("fp8", 8, ref, blockwise, block=(br, bc))
    elif (
        single is not None
        and single.dtype in _FLOATS
        and single.rows * single.cols in (1, ref.rows)
    ):
        packed = Packed("fp8", 8, ref, single)
    else:
        raise UnreadableTensor(f"{ref.name}: FP8 without scales that fit it")
    return TensorRef(ref.name, ref.rows, ref.cols, ref.file, "FP8", packed=packed)


MAX_QUANT_STATE_BYTES: Final = 4096


def _bnb4_ref(entries: dict[str, TensorRef], data: TensorRef, base: str) -> TensorRef:
    """bitsandbytes 4-bit: U8 codes (two per byte) of the flattened [out, in] matrix, per
    ``blocksize`` values one absmax (itself 8-bit with a nested absmax when compressed)."""
    w = base + "weight."
    state_ref = next(
        (
            entries[w + f"quant_state.bitsandbytes__{t}"]
            for t in ("nf4", "fp4")
            if w + f"quant_state.bitsandbytes__{t}" in entries
        ),
        None,
    )
    if state_ref is None or state_ref.dtype != "U8" or state_ref.cols > MAX_QUANT_STATE_BYTES:
        raise UnreadableTensor(f"{data.name}: bitsandbytes 4-bit without its quant state")
    fd = os.open(state_ref.file, os.O_RDONLY)
    try:
        raw = os.pread(fd, state_ref.cols, state_ref.offset)
    finally:
        os.close(fd)
    try:
        state = json.loads(raw.decode("utf-8"))
        out, n_in = (int(v) for v in state["shape"])
        blocksize = int(state["blocksize"])
        nested = "nested_blocksize" in state
        nested_bs = int(state.get("nested_blocksize", 256))
        nested_offset = float(state.get("nested_offset", 0.0))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError):
        raise UnreadableTensor(
            f"{data.name}: a bitsandbytes quant state that is not readable"
        ) from None
    absmax = entries[w + "absmax"]
    code = entries.get(w + "quant_map")
    n = out * n_in
    if (
        out <= 0
        or n_in <= 0
        or n_in % 2
        or blocksize <= 0
        or n_in % blocksize
        or nested_bs <= 0
        or data.rows * data.cols * 2 != n
        or absmax.rows * absmax.cols != n // blocksize
        or code is None
        or code.rows * code.cols != 16
        or code.dtype not in _FLOATS
    ):
        raise UnreadableTensor(
            f"{data.name}: bitsandbytes 4-bit whose absmax, code or blocks do not fit its shape"
        )
    nested_absmax = entries.get(w + "nested_absmax") if nested else None
    nested_code = entries.get(w + "nested_quant_map") if nested else None
    if nested and (
        nested_absmax is None
        or nested_code is None
        or absmax.dtype != "U8"
        or nested_absmax.dtype not in _FLOATS
        or nested_code.dtype not in _FLOATS
    ):
        raise UnreadableTensor(f"{data.name}: nested bitsandbytes absmax without its tables")
    if not nested and absmax.dtype not in _FLOATS:
        raise UnreadableTensor(f"{data.name}: bitsandbytes absmax of type {absmax.dtype}")
    per_row = n_in // blocksize
    packed = Packed(
        "bnb4",
        4,
        replace(data, rows=out, cols=n_in // 2),
        replace(absmax, rows=out, cols=per_row),
        code=code,
        nested_absmax=nested_absmax,
        nested_code=nested_code,
        nested_offset=nested_offset,
        nested_blocksize=nested_bs,
        blocksize=blocksize,
    )
    return TensorRef(data.name, out, n_in, data.file, "BNB4", packed=packed)


# -- vocabularies ------------------------------------------------------------------------

MAX_TOKENIZER_BYTES: Final = 256 << 20
MAX_SPM_BYTES: Final = 64 << 20
MAX_TOKEN_ID: Final = 1 << 24


def _hf_tokens(folder: Path, limit: int = MAX_TOKEN_ID) -> tuple[list[str], str]:
    """Token strings by id, and the file they came from: tokenizer.json (byte-level BPE,
    SentencePiece or WordPiece), else vocab.json, else SentencePiece's tokenizer.model; with
    the last two, the added tokens of tokenizer_config.json (``added_tokens_decoder``) and
    added_tokens.json. Ids at or above ``limit`` (the embedding's rows) are ignored.

    A file that is not what it should be (too large, not an object, ids out of range, a
    damaged protobuf) reads as no vocabulary: the fingerprint then uses token ids."""
    limit = max(0, min(limit, MAX_TOKEN_ID))
    tokens: dict[int, str] = {}

    def keep(i: object, t: object) -> None:
        if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < limit:
            tokens[i] = str(t)

    origin = ""
    doc = _json_file(folder / "tokenizer.json", MAX_TOKENIZER_BYTES)
    if isinstance(doc, dict):
        model = doc.get("model")
        vocab = model.get("vocab") if isinstance(model, dict) else None
        if isinstance(vocab, dict):
            for t, i in vocab.items():
                keep(i, t)
        elif isinstance(vocab, list):
            for i, e in enumerate(vocab):
                if isinstance(e, list) and e:
                    keep(i, e[0])
        added = doc.get("added_tokens")
        for entry in added if isinstance(added, list) else []:
            if isinstance(entry, dict):
                keep(entry.get("id"), entry.get("content", ""))
        origin = "tokenizer.json" if tokens else ""
    if not tokens:
        vocab_json = _json_file(folder / "vocab.json", MAX_TOKENIZER_BYTES)
        if isinstance(vocab_json, dict):
            for t, i in vocab_json.items():
                keep(i, t)
            origin = "vocab.json" if tokens else ""
    if not tokens:
        for i, piece in enumerate(_sentencepiece_pieces(folder / "tokenizer.model", limit)):
            keep(i, piece)
        origin = "tokenizer.model" if tokens else ""
    if tokens and origin != "tokenizer.json":
        cfg = _json_file(folder / "tokenizer_config.json", MAX_CONFIG_BYTES)
        decoder = cfg.get("added_tokens_decoder") if isinstance(cfg, dict) else None
        for key, entry in decoder.items() if isinstance(decoder, dict) else []:
            if isinstance(entry, dict) and str(key).isdigit() and len(str(key)) < 9:
                keep(int(key), entry.get("content", ""))
        added_json = _json_file(folder / "added_tokens.json", MAX_CONFIG_BYTES)
        for t, i in added_json.items() if isinstance(added_json, dict) else []:
            keep(i, t)
    if not tokens:
        return [], ""
    out = [""] * (max(tokens) + 1)
    for i, t in tokens.items():
        out[i] = t
    return out, origin


def _json_file(file: Path, limit: int) -> object:
    try:
        if not file.is_file() or file.stat().st_size > limit:
            return None
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None


class _Malformed(Exception):
    """A tokenizer.model that is not the protobuf it claims to be (read as no vocabulary)."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for shift in range(0, 70, 7):
        if pos >= len(data):
            raise _Malformed
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
    raise _Malformed


def _skip(data: bytes, pos: int, wire: int) -> int:
    if wire == 0:
        return _varint(data, pos)[1]
    if wire == 1:
        pos += 8
    elif wire == 5:
        pos += 4
    elif wire == 2:
        length, pos = _varint(data, pos)
        pos += length
    else:  # groups (3, 4) are not in sentencepiece's model; 6 and 7 do not exist
        raise _Malformed
    if pos > len(data):
        raise _Malformed
    return pos


def _sentencepiece_pieces(file: Path, limit: int) -> list[str]:
    """The pieces of a SentencePiece ``ModelProto`` (field 1, repeated ``SentencePiece``
    whose field 1 is the piece string), in id order; [] for anything else."""
    try:
        if not file.is_file() or file.stat().st_size > MAX_SPM_BYTES:
            return []
        data = file.read_bytes()
    except OSError:
        return []
    pieces: list[str] = []
    try:
        pos = 0
        while pos < len(data):
            key, pos = _varint(data, pos)
            field_no, wire = key >> 3, key & 7
            if field_no == 1 and wire == 2:
                length, pos = _varint(data, pos)
                end = pos + length
                if end > len(data):
                    raise _Malformed
                piece = _piece(data[pos:end])  # parsed whole: a damaged file reads as none
                if len(pieces) < limit:  # ids past the embedding's rows have no row
                    pieces.append(piece)
                pos = end
            else:
                pos = _skip(data, pos, wire)
    except _Malformed:
        return []
    return pieces


def _piece(message: bytes) -> str:
    pos = 0
    piece = ""
    while pos < len(message):
        key, pos = _varint(message, pos)
        field_no, wire = key >> 3, key & 7
        if field_no == 1 and wire == 2:
            length, pos = _varint(message, pos)
            if pos + length > len(message):
                raise _Malformed
            piece = message[pos : pos + length].decode("utf-8", "replace")
            pos += length
        else:
            pos = _skip(message, pos, wire)
    return piece


# -- GGUF --------------------------------------------------------------------------------


def _open_gguf(path: Path, file: Path) -> WeightSource:
    from gguf import GGUFReader

    try:
        reader = GGUFReader(file, "r")
    except Exception as exc:  # gguf raises ValueError, struct errors, IndexError, ...
        raise LineageError(f"{file}: not a readable GGUF file ({_first_line(exc)})") from None
    embed: TensorRef | None = None
    found: dict[int, dict[str, TensorRef]] = {}
    vectors: list[TensorRef] = []
    for index, tensor in enumerate(reader.tensors):
        shape = [int(n) for n in tensor.shape]
        if (
            len(shape) == 1
            and 0 < shape[0] <= MAX_VECTOR
            and int(tensor.tensor_type) in (0, 1)  # F32, F16
            and not _NOT_WEIGHTS.search(tensor.name)
        ):
            vectors.append(
                TensorRef(tensor.name, 1, shape[0], file, str(tensor.tensor_type), gguf_index=index)
            )
        if len(shape) != 2:
            continue
        cols, rows = shape  # GGUF lists the contiguous dimension first
        ref = TensorRef(tensor.name, rows, cols, file, str(tensor.tensor_type), gguf_index=index)
        if tensor.name == "token_embd.weight":
            embed = ref
            continue
        m = _GGUF_LAYER.match(tensor.name)
        if m:
            found.setdefault(int(m.group(1)), {})[_GGUF_ROLE[m.group(2)]] = ref
    if embed is None:
        raise LineageError(f"{file}: no token embedding tensor (token_embd.weight)")
    heads = _gguf_heads(reader, embed.cols)
    unread: list[tuple[int, str, str]] = []
    layers = _assign(found, heads, embed.cols, unread)
    for layer, _, _ in unread:
        layers.setdefault(layer, {})
    tokens: list[str] = []
    field_ = reader.fields.get("tokenizer.ggml.tokens")
    if field_ is not None:
        tokens = [bytes(field_.parts[i]).decode("utf-8", "replace") for i in field_.data]
    source = WeightSource(path, "gguf", embed, layers, tokens, file.stat().st_size)
    source._gguf[file] = reader
    source.unread = unread
    source.vocabulary_from = "gguf" if tokens else ""
    source.vectors = vectors
    return source


def _gguf_heads(reader: Any, hidden: int) -> _Heads | None:
    """Head counts from ``{arch}.attention.head_count[_kv]``: llama.cpp's converters write a
    fused attn_qkv as [q; k; v] whatever the source's order."""

    def scalar(key: str) -> int | None:
        f = reader.fields.get(key)
        if f is None or not f.data:
            return None
        try:
            value = f.parts[f.data[0]]
            return _positive(int(np.asarray(value).reshape(-1)[0]))
        except (IndexError, ValueError, TypeError):
            return None

    arch_field = reader.fields.get("general.architecture")
    if arch_field is None or not arch_field.data:
        return None
    arch = bytes(arch_field.parts[arch_field.data[0]]).decode("utf-8", "replace")
    heads = scalar(f"{arch}.attention.head_count")
    if heads is None:
        return None
    kv = scalar(f"{arch}.attention.head_count_kv") or heads
    head_dim = scalar(f"{arch}.attention.key_length") or hidden // heads
    if heads % kv:
        return None
    return _Heads(heads, kv, head_dim, "concat")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
