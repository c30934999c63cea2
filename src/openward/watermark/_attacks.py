"""What a leaker might do to a marked copy, for the robustness tests and the benchmark.

Each transformation reads a Llama-layout safetensors folder and writes another folder (or
a GGUF file) with the same config and tokenizer: quantize-dequantize round trips
(llama.cpp's Q8_0/Q4_0 through gguf's own quantizers, bitsandbytes-style int8 per row and
NF4 per 64-element block), conversion to a real GGUF file, magnitude pruning, a consistent
permutation of hidden units, and averaging several copies (collusion). Fine-tuning needs
torch and lives in the tests and the benchmark.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

Arr = npt.NDArray[np.float32]

NF4: Final = np.array(
    [
        -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
        -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
        0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
        0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
    ],
    dtype=np.float32,
)  # fmt: skip
"""bitsandbytes' NF4 code book."""

_MATRIX = re.compile(r"layers\.(\d+)\.(self_attn|mlp)\.(\w+)\.weight$")
_DTYPES: Final = {"F32": "<f4", "F16": "<f2", "F64": "<f8"}


def load(folder: Path) -> tuple[dict[str, Arr], dict[str, str]]:
    """Every tensor of the folder's safetensors files as float32, and its stored dtype."""
    out: dict[str, Arr] = {}
    dtypes: dict[str, str] = {}
    for file in sorted(Path(folder).glob("*.safetensors")):
        data = file.read_bytes()
        (size,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + size])
        body = memoryview(data)[8 + size :]
        for name, info in header.items():
            if name == "__metadata__":
                continue
            start, end = info["data_offsets"]
            raw = body[start:end]
            if info["dtype"] == "BF16":
                value = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
            else:
                value = np.frombuffer(raw, dtype=_DTYPES[info["dtype"]]).astype(np.float32)
            out[name] = value.reshape(info["shape"])
            dtypes[name] = info["dtype"]
    return out, dtypes


def _bf16_bytes(values: Arr) -> bytes:
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
    return rounded.astype("<u2").tobytes()


def save(base: Path, out: Path, tensors: dict[str, Arr], dtype: str = "F32") -> Path:
    """``tensors`` as one safetensors file (``F32`` or ``BF16``) beside copies of
    ``base``'s other files."""
    out.mkdir(parents=True, exist_ok=True)
    for file in Path(base).iterdir():
        if (
            file.is_file()
            and file.suffix != ".safetensors"
            and file.name != ("model.safetensors.index.json")
        ):
            shutil.copyfile(file, out / file.name)
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    chunks: list[bytes] = []
    offset = 0
    for name in sorted(tensors):
        value = np.ascontiguousarray(tensors[name], dtype=np.float32)
        raw = _bf16_bytes(value) if dtype == "BF16" else value.astype("<f4").tobytes()
        header[name] = {
            "dtype": dtype,
            "shape": list(value.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(out / "model.safetensors", "wb") as fh:
        fh.write(struct.pack("<Q", len(text)) + text)
        for chunk in chunks:
            fh.write(chunk)
    return out


def is_matrix(name: str, value: Arr) -> bool:
    """A linear weight inside a transformer block (what quantizers and pruners touch)."""
    return value.ndim == 2 and _MATRIX.search(name) is not None


def _each_matrix(tensors: dict[str, Arr], fn: Callable[[Arr], Arr]) -> dict[str, Arr]:
    return {n: (fn(v) if is_matrix(n, v) else v) for n, v in tensors.items()}


def gguf_roundtrip(tensors: dict[str, Arr], qtype: str) -> dict[str, Arr]:
    """llama.cpp ``Q8_0``/``Q4_0``/``Q4_1``/``Q5_0`` quantize then dequantize (gguf's own
    reference quantizers), block of 32 along each row."""
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize, quantize

    kind = GGMLQuantizationType[qtype]

    def rt(v: Arr) -> Arr:
        return np.asarray(dequantize(quantize(v, kind), kind), dtype=np.float32).reshape(v.shape)

    return _each_matrix(tensors, rt)


def q4k_like(tensors: dict[str, Arr]) -> dict[str, Arr]:
    """An approximation of llama.cpp's ``Q4_K`` round trip (gguf-py cannot write k-quants):
    superblocks of 256 values, eight blocks of 32 with their own scale and minimum (the
    minimum at most 0), both quantized to 6 bits against float16 superblock factors, values
    to 4 bits. llama.cpp also searches each block's scale and minimum iteratively
    (``make_qkx2_quants``) and keeps some tensors at Q6_K in ``Q4_K_M``; this does neither.
    Matrices whose size is not a multiple of 256 are left as they are."""

    def rt(v: Arr) -> Arr:
        if v.size % 256:
            return v
        x = v.reshape(-1, 8, 32).astype(np.float32)
        mins = -np.minimum(x.min(axis=2), 0.0)  # (superblocks, 8), >= 0
        scale = (x.max(axis=2) + mins) / 15.0
        d = (scale.max(axis=1) / 63.0).astype(np.float16).astype(np.float32)[:, None]
        dmin = (mins.max(axis=1) / 63.0).astype(np.float16).astype(np.float32)[:, None]
        sc = np.clip(np.round(np.divide(scale, d, out=np.zeros_like(scale), where=d > 0)), 0, 63)
        mn = np.clip(
            np.round(np.divide(mins, dmin, out=np.zeros_like(mins), where=dmin > 0)), 0, 63
        )
        step, off = (sc * d)[:, :, None], (mn * dmin)[:, :, None]
        q = np.clip(np.round(np.divide(x + off, step, out=np.zeros_like(x), where=step > 0)), 0, 15)
        out: Arr = (q * step - off).reshape(v.shape).astype(np.float32)
        return out

    return _each_matrix(tensors, rt)


def int8_rowwise(tensors: dict[str, Arr]) -> dict[str, Arr]:
    """bitsandbytes LLM.int8 storage: per-row absmax, round to int8."""

    def rt(v: Arr) -> Arr:
        scale = np.abs(v).max(axis=1, keepdims=True) / 127.0
        scale[scale == 0] = 1.0
        out: Arr = (np.round(v / scale).clip(-127, 127) * scale).astype(np.float32)
        return out

    return _each_matrix(tensors, rt)


def nf4_blockwise(tensors: dict[str, Arr], block: int = 64) -> dict[str, Arr]:
    """bitsandbytes 4-bit NF4: absmax per ``block`` elements, nearest code of NF4."""

    def rt(v: Arr) -> Arr:
        flat = v.reshape(-1, block)
        absmax = np.abs(flat).max(axis=1, keepdims=True)
        absmax[absmax == 0] = 1.0
        normed = flat / absmax
        mids = (NF4[1:] + NF4[:-1]) / 2
        codes = np.searchsorted(mids, normed)
        out: Arr = (NF4[codes] * absmax).astype(np.float32).reshape(v.shape)
        return out

    return _each_matrix(tensors, rt)


def prune(tensors: dict[str, Arr], fraction: float = 0.3) -> dict[str, Arr]:
    """Magnitude pruning: the smallest ``fraction`` of each matrix set to zero."""

    def rt(v: Arr) -> Arr:
        cut = np.quantile(np.abs(v), fraction)
        out: Arr = np.where(np.abs(v) <= cut, 0.0, v).astype(np.float32)
        return out

    return _each_matrix(tensors, rt)


def noise(tensors: dict[str, Arr], relative: float, seed: int = 0) -> dict[str, Arr]:
    """Gaussian noise of ``relative`` times each matrix's standard deviation."""
    rng = np.random.default_rng(seed)

    def rt(v: Arr) -> Arr:
        out: Arr = v + rng.standard_normal(v.shape, dtype=np.float32) * relative * v.std()
        return out.astype(np.float32)

    return _each_matrix(tensors, rt)


def average(copies: Sequence[dict[str, Arr]]) -> dict[str, Arr]:
    """Element-wise mean of several copies (collusion)."""
    return {n: np.mean([c[n] for c in copies], axis=0).astype(np.float32) for n in copies[0]}


def permute_units(tensors: dict[str, Arr], seed: int = 0) -> dict[str, Arr]:
    """A function-preserving permutation of a Llama model's hidden units: the residual
    stream's dimensions (embeddings, norms, every matrix that reads or writes it) and each
    layer's MLP units (gate/up rows, down columns)."""
    rng = np.random.default_rng(seed)
    embed = next(v for n, v in tensors.items() if n.endswith("embed_tokens.weight"))
    hidden = embed.shape[1]
    ph = rng.permutation(hidden)
    out: dict[str, Arr] = {}
    mlp: dict[str, Any] = {}
    for name, v in tensors.items():
        m = _MATRIX.search(name)
        if name.endswith(("embed_tokens.weight", "lm_head.weight")):
            out[name] = v[:, ph]
        elif v.ndim == 1 and v.shape[0] == hidden and "norm" in name:
            out[name] = v[ph]
        elif m and m.group(3) in ("q_proj", "k_proj", "v_proj", "gate_proj", "up_proj"):
            w = v[:, ph]
            if m.group(3) in ("gate_proj", "up_proj"):
                pm = mlp.setdefault(m.group(1), rng.permutation(v.shape[0]))
                w = w[pm]
            out[name] = w
        elif m and m.group(3) in ("o_proj", "down_proj"):
            w = v[ph, :]
            if m.group(3) == "down_proj":
                pm = mlp.setdefault(m.group(1), rng.permutation(v.shape[1]))
                w = w[:, pm]
            out[name] = w
        else:
            out[name] = v
    return {n: np.ascontiguousarray(v) for n, v in out.items()}


def _llama_permute(w: Arr, heads: int) -> Arr:
    """llama.cpp's convert_hf_to_gguf reordering of Q/K rows (rotary halves interleaved)."""
    return np.ascontiguousarray(
        w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
    )


_GGUF_NAMES: Final = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def to_gguf(folder: Path, out: Path, qtype: str = "Q8_0") -> Path:
    """A Llama safetensors folder as a GGUF file the way llama.cpp's converter lays it out
    (Q/K rows reordered, matrices quantized to ``qtype`` with gguf's quantizers, the rest
    float32)."""
    from gguf import GGMLQuantizationType, GGUFWriter
    from gguf.quants import quantize

    cfg = json.loads((Path(folder) / "config.json").read_text())
    heads = int(cfg["num_attention_heads"])
    kv_heads = int(cfg.get("num_key_value_heads") or heads)
    tensors, _ = load(folder)
    kind = GGMLQuantizationType[qtype]
    writer = GGUFWriter(str(out), "llama")
    writer.add_block_count(int(cfg["num_hidden_layers"]))
    writer.add_embedding_length(int(cfg["hidden_size"]))
    writer.add_feed_forward_length(int(cfg["intermediate_size"]))
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_context_length(int(cfg.get("max_position_embeddings", 2048)))
    writer.add_layer_norm_rms_eps(float(cfg.get("rms_norm_eps", 1e-5)))
    layer = re.compile(r"model\.layers\.(\d+)\.(.+)\.weight$")
    for name in sorted(tensors):
        v = tensors[name]
        m = layer.match(name)
        if name == "model.embed_tokens.weight":
            gname = "token_embd.weight"
        elif name == "model.norm.weight":
            gname = "output_norm.weight"
        elif name == "lm_head.weight":
            gname = "output.weight"
        elif m and m.group(2) in _GGUF_NAMES:
            gname = f"blk.{m.group(1)}.{_GGUF_NAMES[m.group(2)]}.weight"
            if m.group(2) == "self_attn.q_proj":
                v = _llama_permute(v, heads)
            elif m.group(2) == "self_attn.k_proj":
                v = _llama_permute(v, kv_heads)
        elif m and m.group(2) == "input_layernorm":
            gname = f"blk.{m.group(1)}.attn_norm.weight"
        elif m and m.group(2) == "post_attention_layernorm":
            gname = f"blk.{m.group(1)}.ffn_norm.weight"
        else:
            continue
        if gname.startswith("blk.") and v.ndim == 2:
            writer.add_tensor(gname, quantize(v, kind), raw_dtype=kind)
        else:
            writer.add_tensor(gname, np.ascontiguousarray(v, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
