"""The same weights in other tensor layouts and vocabulary files give the same fingerprint.

The plain model is the first 4 layers of SmolLM2-135M (Llama layout, 9 query heads over 3
key/value heads), its first 8192 token rows and 2 % noise (off the Q8 grid the bundled model
was dequantized from). Each layout below re-writes those weights the way the named
checkpoint format stores them; the packers for GPTQ, AWQ and bitsandbytes follow those
projects' published conventions (AutoGPTQ/GPTQModel ``pack``, AutoAWQ's GEMM order,
bitsandbytes' ``quantize_4bit`` / ``QuantState.as_dict(packed=True)``) and are written here
independently of the reader, so the reader is checked against the format, not against itself.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from typer.testing import CliRunner

from openward.cli.main import app
from openward.lineage.compare import compare
from openward.lineage.fingerprint import Fingerprint, compute_fingerprint
from openward.lineage.weights import AWQ_ORDER, open_weights

runner = CliRunner()
Arr = npt.NDArray[np.float32]
Tensors = dict[str, npt.NDArray[Any]]

LAYERS = 4
VOCAB = 8192
HIDDEN, HEADS, KV_HEADS, HEAD_DIM, FFN = 576, 9, 3, 64, 1536
GROUP = HEADS // KV_HEADS
ATTN = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")
NF4 = np.array(
    [-1.0, -0.6962, -0.5251, -0.3949, -0.2844, -0.1848, -0.0911, 0.0,
     0.0796, 0.1609, 0.2461, 0.3379, 0.4407, 0.5626, 0.7230, 1.0],
    dtype=np.float32,
)  # fmt: skip
FP4 = (
    np.array(
        [
            0,
            0.0625,
            8.0,
            12.0,
            4.0,
            6.0,
            2.0,
            3.0,
            -0.0,
            -0.0625,
            -8.0,
            -12.0,
            -4.0,
            -6.0,
            -2.0,
            -3.0,
        ],
        dtype=np.float32,
    )
    / 12.0
)


def _name(layer: int, module: str) -> str:
    parent = "self_attn" if module in ATTN else "mlp"
    return f"model.layers.{layer}.{parent}.{module}.weight"


@pytest.fixture(scope="module")
def plain(smollm2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Tensors]:
    from safetensors import safe_open

    out = tmp_path_factory.mktemp("layouts") / "plain"
    out.mkdir()
    rng = np.random.default_rng(7)
    tensors: Tensors = {}
    with safe_open(str(smollm2_dir / "model.safetensors"), "np") as f:
        tensors["model.embed_tokens.weight"] = f.get_tensor("model.embed_tokens.weight")[:VOCAB]
        for layer in range(LAYERS):
            for module in ATTN + MLP:
                tensors[_name(layer, module)] = f.get_tensor(_name(layer, module))
            for norm in ("input_layernorm", "post_attention_layernorm"):
                key = f"model.layers.{layer}.{norm}.weight"
                tensors[key] = f.get_tensor(key)
        tensors["model.norm.weight"] = f.get_tensor("model.norm.weight")
    for key, v in tensors.items():
        if v.ndim == 2:
            noise = rng.standard_normal(v.shape) * 0.02 * float(v.std())
            tensors[key] = (v + noise).astype(np.float32)
    cfg = json.loads((smollm2_dir / "config.json").read_text())
    cfg.update(num_hidden_layers=LAYERS, vocab_size=VOCAB)
    _write(out, tensors, cfg, smollm2_dir)
    return out, tensors


def _write(out: Path, tensors: Tensors, cfg: dict[str, Any], tokenizer_from: Path) -> Path:
    from safetensors.numpy import save_file

    out.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(out / "model.safetensors")
    )
    (out / "config.json").write_text(json.dumps(cfg))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        if (tokenizer_from / name).is_file():
            shutil.copy2(tokenizer_from / name, out / name)
    return out


@pytest.fixture(scope="module")
def plain_fp(plain: tuple[Path, Tensors]) -> Fingerprint:
    return compute_fingerprint(plain[0])


# -- fused layouts ---------------------------------------------------------------------------


def _qkv(t: Tensors, layer: int) -> tuple[Arr, Arr, Arr]:
    return tuple(t[_name(layer, m)] for m in ("q_proj", "k_proj", "v_proj"))  # type: ignore[return-value]


def _mha(kv: Arr) -> Arr:
    """Key/value heads repeated for each query head of their group (the same attention)."""
    heads = kv.reshape(KV_HEADS, HEAD_DIM, HIDDEN)
    return np.repeat(heads, GROUP, axis=0).reshape(HEADS * HEAD_DIM, HIDDEN)


def _phi3(t: Tensors) -> tuple[Tensors, dict[str, Any]]:
    new = {k: v for k, v in t.items() if "layers." not in k or "proj" not in k}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        new[p + "self_attn.qkv_proj.weight"] = np.concatenate(_qkv(t, i))
        new[p + "self_attn.o_proj.weight"] = t[_name(i, "o_proj")]
        new[p + "mlp.gate_up_proj.weight"] = np.concatenate(
            [t[_name(i, "gate_proj")], t[_name(i, "up_proj")]]
        )
        new[p + "mlp.down_proj.weight"] = t[_name(i, "down_proj")]
    return new, {"model_type": "phi3"}


def _falcon(t: Tensors) -> tuple[Tensors, dict[str, Any]]:
    """Falcon's new decoder architecture: per key/value group its queries, key, value."""
    new = {k: v for k, v in t.items() if "_proj" not in k}
    for i in range(LAYERS):
        q, k, v = _qkv(t, i)
        parts = []
        for j in range(KV_HEADS):
            parts.append(q[j * GROUP * HEAD_DIM : (j + 1) * GROUP * HEAD_DIM])
            parts.append(k[j * HEAD_DIM : (j + 1) * HEAD_DIM])
            parts.append(v[j * HEAD_DIM : (j + 1) * HEAD_DIM])
        p = f"model.layers.{i}."
        new[p + "self_attention.query_key_value.weight"] = np.concatenate(parts)
        new[p + "self_attention.dense.weight"] = t[_name(i, "o_proj")]
        for m in MLP:
            new[_name(i, m)] = t[_name(i, m)]
    cfg = {"model_type": "falcon", "new_decoder_architecture": True, "num_kv_heads": KV_HEADS}
    return new, cfg


def _neox(t: Tensors) -> tuple[Tensors, dict[str, Any]]:
    """GPT-NeoX: q, k, v interleaved per head (multi-head: key/value heads repeated)."""
    new = {k: v for k, v in t.items() if "_proj" not in k}
    for i in range(LAYERS):
        q, k, v = _qkv(t, i)
        k, v = _mha(k), _mha(v)
        parts = []
        for h in range(HEADS):
            rows = slice(h * HEAD_DIM, (h + 1) * HEAD_DIM)
            parts += [q[rows], k[rows], v[rows]]
        p = f"gpt_neox.layers.{i}."
        new[p + "attention.query_key_value.weight"] = np.concatenate(parts)
        new[p + "attention.dense.weight"] = t[_name(i, "o_proj")]
        new[p + "mlp.gate_proj.weight"] = t[_name(i, "gate_proj")]
        new[p + "mlp.up_proj.weight"] = t[_name(i, "up_proj")]
        new[p + "mlp.down_proj.weight"] = t[_name(i, "down_proj")]
    return new, {"model_type": "gpt_neox", "num_key_value_heads": HEADS}


def _mpt(t: Tensors) -> tuple[Tensors, dict[str, Any]]:
    new = {"transformer.wte.weight": t["model.embed_tokens.weight"]}
    for i in range(LAYERS):
        p = f"transformer.blocks.{i}."
        new[p + "attn.Wqkv.weight"] = np.concatenate(_qkv(t, i))
        new[p + "attn.out_proj.weight"] = t[_name(i, "o_proj")]
        for m in MLP:
            new[p + f"ffn.{m}.weight"] = t[_name(i, m)]
        new[p + "norm_1.weight"] = t[f"model.layers.{i}.input_layernorm.weight"]
        new[p + "norm_2.weight"] = t[f"model.layers.{i}.post_attention_layernorm.weight"]
    new["transformer.norm_f.weight"] = t["model.norm.weight"]
    cfg = {"model_type": "mpt", "d_model": HIDDEN, "n_heads": HEADS,
           "attn_config": {"kv_n_heads": KV_HEADS}}  # fmt: skip
    return new, cfg


def _gpt2(t: Tensors) -> tuple[Tensors, dict[str, Any]]:
    """GPT-2's Conv1D: every matrix stored transposed ([in, out]); no gate."""
    new = {"wte.weight": t["model.embed_tokens.weight"]}
    for i in range(LAYERS):
        q, k, v = _qkv(t, i)
        p = f"h.{i}."
        new[p + "attn.c_attn.weight"] = np.ascontiguousarray(
            np.concatenate([q, _mha(k), _mha(v)]).T
        )
        new[p + "attn.c_proj.weight"] = np.ascontiguousarray(t[_name(i, "o_proj")].T)
        new[p + "mlp.c_fc.weight"] = np.ascontiguousarray(t[_name(i, "up_proj")].T)
        new[p + "mlp.c_proj.weight"] = np.ascontiguousarray(t[_name(i, "down_proj")].T)
    return new, {"model_type": "gpt2", "n_head": HEADS, "n_embd": HIDDEN}


FUSED: dict[str, tuple[Callable[[Tensors], tuple[Tensors, dict[str, Any]]], str]] = {
    "phi3-qkv_proj-gate_up_proj": (_phi3, "identical"),
    "falcon-grouped-query_key_value": (_falcon, "identical"),
    "mpt-Wqkv": (_mpt, "identical"),
    # key/value heads repeated to fit a multi-head layout: v is not the same matrix
    "neox-per-head-query_key_value": (_neox, "derived"),
    "gpt2-conv1d": (_gpt2, "derived"),
}


@pytest.mark.parametrize("layout", sorted(FUSED))
def test_fused_layouts_read_as_the_plain_model(
    layout: str, plain: tuple[Path, Tensors], plain_fp: Fingerprint, tmp_path: Path
) -> None:
    folder, tensors = plain
    build, expected = FUSED[layout]
    new, extra = build(tensors)
    cfg = {**json.loads((folder / "config.json").read_text()), **extra}
    fp = compute_fingerprint(_write(tmp_path / layout, new, cfg, folder))
    result = compare(fp, plain_fp)
    assert result.verdict == expected, result.to_json()
    assert not fp.unread
    # every sampled layer was read: attention and MLP Grams, and the q units
    assert len(fp.layers) == LAYERS
    assert all("attn" in lp.grams and "mlp" in lp.grams and "q" in lp.units for lp in fp.layers)
    assert result.score == 1.0 and result.compared_units >= 64 + 16 * LAYERS
    assert min(row["attn"] for row in result.layers) > 0.999


def test_a_fused_split_gives_the_plain_rows(plain: tuple[Path, Tensors], tmp_path: Path) -> None:
    folder, tensors = plain
    for layout in ("falcon-grouped-query_key_value", "gpt2-conv1d"):
        new, extra = FUSED[layout][0](tensors)
        cfg = {**json.loads((folder / "config.json").read_text()), **extra}
        src = open_weights(_write(tmp_path / layout, new, cfg, folder))
        roles = src.layers[2]
        assert np.array_equal(src.read_all(roles["q"]), tensors[_name(2, "q_proj")])
        up = tensors[_name(2, "up_proj")]
        assert np.array_equal(src.read_rows(roles["up"], [3, 4, 900]), up[[3, 4, 900]])
        assert np.array_equal(src.read_all(roles["down"]), tensors[_name(2, "down_proj")])


def test_a_fused_tensor_that_does_not_fit_the_heads_is_listed_unread(
    plain: tuple[Path, Tensors], plain_fp: Fingerprint, tmp_path: Path
) -> None:
    folder, tensors = plain
    new, extra = _phi3(tensors)
    cfg = {**json.loads((folder / "config.json").read_text()), **extra, "num_key_value_heads": 2}
    fp = compute_fingerprint(_write(tmp_path / "lying", new, cfg, folder))
    assert fp.unread and "does not fit the config's head counts" in fp.unread[0]
    assert fp.unread[0].startswith("q/k/v in layers 0-3")
    result = compare(fp, plain_fp)
    assert result.verdict == "derived"  # on the embedding and the MLP, not "identical"


def test_gguf_fused_attn_qkv_and_ffn_up(
    plain: tuple[Path, Tensors], plain_fp: Fingerprint, tmp_path: Path
) -> None:
    """llama.cpp's phi3: attn_qkv as [q; k; v] and gate/up fused in ffn_up."""
    import gguf

    folder, tensors = plain
    tokens = json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"]
    by_id = sorted(tokens, key=tokens.__getitem__)[:VOCAB]
    path = tmp_path / "phi3.gguf"
    w = gguf.GGUFWriter(str(path), "phi3")
    w.add_uint32("phi3.attention.head_count", HEADS)
    w.add_uint32("phi3.attention.head_count_kv", KV_HEADS)
    w.add_uint32("phi3.embedding_length", HIDDEN)
    w.add_token_list(by_id)
    w.add_tensor("token_embd.weight", tensors["model.embed_tokens.weight"])
    for i in range(LAYERS):
        w.add_tensor(f"blk.{i}.attn_qkv.weight", np.concatenate(_qkv(tensors, i)))
        w.add_tensor(f"blk.{i}.attn_output.weight", tensors[_name(i, "o_proj")])
        w.add_tensor(
            f"blk.{i}.ffn_up.weight",
            np.concatenate([tensors[_name(i, "gate_proj")], tensors[_name(i, "up_proj")]]),
        )
        w.add_tensor(f"blk.{i}.ffn_down.weight", tensors[_name(i, "down_proj")])
        for gguf_name, hf_name in (("attn_norm", "input_layernorm"),
                                   ("ffn_norm", "post_attention_layernorm")):  # fmt: skip
            w.add_tensor(
                f"blk.{i}.{gguf_name}.weight", tensors[f"model.layers.{i}.{hf_name}.weight"]
            )
    w.add_tensor("output_norm.weight", tensors["model.norm.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    fp = compute_fingerprint(path)
    result = compare(fp, plain_fp)
    assert result.verdict == "identical" and result.derivation == ["converted"], result.to_json()
    assert not fp.unread


# -- quantized layouts ----------------------------------------------------------------------


def _pack_rows(values: npt.NDArray[np.int64], bits: int) -> npt.NDArray[np.int32]:
    """AutoGPTQ's pack along rows: packed row r holds rows r*k .. r*k+k-1 (k = 32/bits),
    row r*k+s in bits [s*bits, (s+1)*bits)."""
    k = 32 // bits
    v = values.astype(np.uint32).reshape(values.shape[0] // k, k, values.shape[1])
    out = np.zeros((v.shape[0], v.shape[2]), dtype=np.uint32)
    for s in range(k):
        out |= v[:, s, :] << np.uint32(bits * s)
    return out.view(np.int32)


def _pack_cols(
    values: npt.NDArray[np.int64], bits: int, order: tuple[int, ...] | None = None
) -> npt.NDArray[np.int32]:
    """Packed along columns; ``order``: AWQ's interleave (nibble i holds column 8j + order[i])."""
    k = 32 // bits
    order = order or tuple(range(k))
    v = values.astype(np.uint32).reshape(values.shape[0], values.shape[1] // k, k)
    out = np.zeros(v.shape[:2], dtype=np.uint32)
    for i in range(k):
        out |= v[:, :, order[i]] << np.uint32(bits * i)
    return out.view(np.int32)


def _gptq(
    w: Arr, bits: int, group: int, v2: bool, act_order: bool, rng: np.random.Generator
) -> tuple[Tensors, Arr]:
    """GPTQ tensors of ``w`` [out, in] (asymmetric, per group min/max) and what they decode to."""
    out_f, in_f = w.shape
    maxq = (1 << bits) - 1
    g_idx = np.arange(in_f) // group
    if act_order:  # desc_act: groups follow a permutation of the inputs
        g_idx = g_idx[np.argsort(rng.permutation(in_f))]
    groups = in_f // group
    scales = np.empty((groups, out_f), np.float32)
    zeros = np.empty((groups, out_f), np.int64)
    for g in range(groups):
        cols = w[:, g_idx == g]
        lo, hi = np.minimum(cols.min(axis=1), 0), np.maximum(cols.max(axis=1), 0)
        s = ((hi - lo) / maxq).astype(np.float16).astype(np.float32)
        s[s == 0] = 1.0
        scales[g], zeros[g] = s, np.clip(np.round(-lo / s), 0, maxq)
    q = np.clip(np.round(w.T / scales[g_idx] + zeros[g_idx]), 0, maxq).astype(np.int64)  # in x out
    decoded = ((q - zeros[g_idx]) * scales[g_idx]).T.astype(np.float32)
    stored_zeros = zeros if v2 else (zeros - 1) & maxq  # v1 checkpoints store zero - 1
    t: Tensors = {
        "qweight": _pack_rows(q, bits),
        "qzeros": _pack_cols(stored_zeros, bits),
        "scales": scales.astype(np.float16),
        "g_idx": g_idx.astype(np.int32),
    }
    return t, decoded


def _awq(w: Arr, group: int) -> tuple[Tensors, Arr]:
    out_f, in_f = w.shape
    wt = w.T.reshape(in_f // group, group, out_f)
    lo, hi = np.minimum(wt.min(axis=1), 0), np.maximum(wt.max(axis=1), 0)
    s = ((hi - lo) / 15).astype(np.float16).astype(np.float32)
    s[s == 0] = 1.0
    z = np.clip(np.round(-lo / s), 0, 15).astype(np.int64)
    q = np.clip(np.round(wt / s[:, None] + z[:, None]), 0, 15).astype(np.int64)
    decoded = ((q - z[:, None]) * s[:, None]).reshape(in_f, out_f).T.astype(np.float32)
    t: Tensors = {
        "qweight": _pack_cols(q.reshape(in_f, out_f), 4, AWQ_ORDER),
        "qzeros": _pack_cols(z, 4, AWQ_ORDER),
        "scales": s.astype(np.float16),
    }
    return t, decoded


def _bnb4(w: Arr, kind: str, nested: bool) -> tuple[Tensors, Arr]:
    """bitsandbytes 4-bit: the flattened matrix in blocks of 64, absmax per block, two codes
    per byte (the first in the high nibble); nested: absmax - mean on an 8-bit table with
    one absmax per 256 blocks."""
    code = NF4 if kind == "nf4" else FP4
    flat = w.reshape(-1, 64)
    absmax = np.abs(flat).max(axis=1).astype(np.float32)
    state: dict[str, Any] = {"quant_type": kind, "blocksize": 64, "dtype": "float32",
                             "shape": list(w.shape)}  # fmt: skip
    t: Tensors = {}
    if nested:
        offset = float(absmax.mean())
        table = np.linspace(-1, 1, 256, dtype=np.float32)
        n = len(absmax)
        padded = np.zeros(-(-n // 256) * 256, np.float32)  # the last nested block is partial
        padded[:n] = absmax - offset
        centred = padded.reshape(-1, 256)
        nabs = np.abs(centred).max(axis=1).astype(np.float32)
        u8 = np.abs(centred[:, :, None] / nabs[:, None, None] - table).argmin(axis=2)
        absmax = (table[u8] * nabs[:, None]).reshape(-1)[:n] + np.float32(offset)
        u8 = u8.reshape(-1)[:n].astype(np.uint8)
        t.update(absmax=u8, nested_absmax=nabs, nested_quant_map=table)
        state.update(nested_blocksize=256, nested_dtype="float32", nested_offset=offset)
    else:
        t["absmax"] = absmax
    idx = np.abs(flat[:, :, None] / absmax[:, None, None] - code).argmin(axis=2)
    decoded = (code[idx] * absmax[:, None]).reshape(w.shape).astype(np.float32)
    pairs = idx.reshape(-1, 2).astype(np.uint8)
    t["data"] = ((pairs[:, 0] << 4) | pairs[:, 1]).reshape(-1, 1)
    t["quant_map"] = code
    t[f"quant_state.bitsandbytes__{kind}"] = np.frombuffer(json.dumps(state).encode(), np.uint8)
    return t, decoded


def _quantized(kind: str, t: Tensors) -> tuple[Tensors, dict[str, Any], Tensors]:
    rng = np.random.default_rng(3)
    new = {k: v for k, v in t.items() if "_proj" not in k}
    decoded: Tensors = {}
    cfg: dict[str, Any] = {}
    for i in range(LAYERS):
        for m in ATTN + MLP:
            key = _name(i, m)
            base = key[: -len("weight")]
            if kind.startswith("gptq"):
                bits = 8 if "8" in kind else 4
                parts, decoded[key] = _gptq(t[key], bits, 64, "v2" in kind, "act" in kind, rng)
                cfg = {"quantization_config": {"quant_method": "gptq", "bits": bits,
                       "checkpoint_format": "gptq_v2" if "v2" in kind else "gptq"}}  # fmt: skip
                new.update({base + n: v for n, v in parts.items()})
            elif kind == "awq":
                parts, decoded[key] = _awq(t[key], 64)
                cfg = {"quantization_config": {"quant_method": "awq", "bits": 4, "version": "gemm"}}
                new.update({base + n: v for n, v in parts.items()})
            else:
                parts, decoded[key] = _bnb4(t[key], kind.split("-")[1], "nested" in kind)
                cfg = {
                    "quantization_config": {"quant_method": "bitsandbytes", "load_in_4bit": True}
                }
                new[key] = parts.pop("data")
                new.update({key + "." + n: v for n, v in parts.items()})
    return new, cfg, decoded


QUANTIZED = ("gptq4-act-order", "gptq8-v2", "awq", "bnb-nf4-nested", "bnb-fp4")


@pytest.mark.parametrize("kind", QUANTIZED)
def test_quantized_checkpoints_are_dequantized(
    kind: str, plain: tuple[Path, Tensors], plain_fp: Fingerprint, tmp_path: Path
) -> None:
    folder, tensors = plain
    new, extra, decoded = _quantized(kind, tensors)
    cfg = {**json.loads((folder / "config.json").read_text()), **extra}
    path = _write(tmp_path / kind, new, cfg, folder)
    src = open_weights(path)
    assert not src.unread
    # the rows read are exactly what the packed values decode to
    for module, rows in (("q_proj", [0, 1, 63, 64, 575]), ("down_proj", [5, 17, 575]),
                         ("gate_proj", list(range(1536)))):  # fmt: skip
        role = {"q_proj": "q", "down_proj": "down", "gate_proj": "gate"}[module]
        got = src.read_rows(src.layers[1][role], rows)
        np.testing.assert_allclose(got, decoded[_name(1, module)][rows], rtol=1e-6, atol=1e-7)
    fp = compute_fingerprint(path)
    assert not fp.unread
    result = compare(fp, plain_fp)
    assert result.verdict == "derived", result.to_json()
    assert result.score > 0.9


@pytest.mark.parametrize("scales", ["blocks-128", "per-row"])
def test_fp8_checkpoints_are_scaled_back(
    scales: str, plain: tuple[Path, Tensors], plain_fp: Fingerprint, tmp_path: Path
) -> None:
    """FP8 E4M3 as DeepSeek-V3 / Qwen3-FP8 (weight_scale_inv per 128 x 128 block) and
    compressed-tensors (weight_scale per row) store it; torch's float8 is the reference."""
    import torch
    from safetensors.torch import save_file

    folder, tensors = plain
    out: dict[str, Any] = {k: torch.from_numpy(v) for k, v in tensors.items() if "_proj" not in k}
    decoded: Tensors = {}
    for i in range(LAYERS):
        for m in ATTN + MLP:
            key = _name(i, m)
            w = torch.from_numpy(tensors[key])
            if scales == "per-row":
                s = w.abs().amax(dim=1, keepdim=True) / 448
                expanded = s
                out[key[: -len("weight")] + "weight_scale"] = s
            else:
                rows, cols = -(-w.shape[0] // 128), -(-w.shape[1] // 128)
                padded = torch.zeros(rows * 128, cols * 128)
                padded[: w.shape[0], : w.shape[1]] = w
                s = padded.reshape(rows, 128, cols, 128).abs().amax(dim=(1, 3)) / 448
                expanded = s.repeat_interleave(128, 0).repeat_interleave(128, 1)
                expanded = expanded[: w.shape[0], : w.shape[1]]
                out[key[: -len("weight")] + "weight_scale_inv"] = s
            q = (w / expanded).to(torch.float8_e4m3fn)
            out[key] = q
            decoded[key] = (q.float() * expanded).numpy()
    path = tmp_path / scales
    path.mkdir()
    save_file({k: v.contiguous() for k, v in out.items()}, str(path / "model.safetensors"))
    cfg = json.loads((folder / "config.json").read_text())
    cfg["quantization_config"] = {"quant_method": "fp8", "weight_block_size": [128, 128]}
    (path / "config.json").write_text(json.dumps(cfg))
    shutil.copy2(folder / "tokenizer.json", path / "tokenizer.json")
    src = open_weights(path)
    for module, role in (("k_proj", "k"), ("down_proj", "down")):
        picked = [0, 127, 128, 191] if role == "k" else [0, 300, 575]
        got = src.read_rows(src.layers[2][role], picked)
        np.testing.assert_allclose(got, decoded[_name(2, module)][picked], rtol=1e-6, atol=1e-9)
    fp = compute_fingerprint(path)
    assert not fp.unread
    result = compare(fp, plain_fp)
    assert result.verdict == "derived" and result.score > 0.9, result.to_json()


def test_a_fused_gptq_tensor_is_dequantized_then_split(
    plain: tuple[Path, Tensors], plain_fp: Fingerprint, tmp_path: Path
) -> None:
    """Phi-3 GPTQ: qkv_proj.qweight holds q, k and v."""
    folder, tensors = plain
    new, extra = _phi3(tensors)
    rng = np.random.default_rng(5)
    decoded = {}
    for i in range(LAYERS):
        key = f"model.layers.{i}.self_attn.qkv_proj."
        parts, decoded[i] = _gptq(new.pop(key + "weight"), 4, 64, False, False, rng)
        new.update({key + n: v for n, v in parts.items()})
    cfg = {**json.loads((folder / "config.json").read_text()), **extra}
    cfg["quantization_config"] = {"quant_method": "gptq", "bits": 4}
    path = _write(tmp_path / "phi3-gptq", new, cfg, folder)
    src = open_weights(path)
    q_rows = HEADS * HEAD_DIM
    np.testing.assert_array_equal(
        src.read_rows(src.layers[3]["k"], [0, 191]), decoded[3][[q_rows, q_rows + 191]]
    )
    result = compare(compute_fingerprint(path), plain_fp)
    assert result.verdict == "derived" and result.score > 0.9, result.to_json()


def test_gptq_side_tensors_that_do_not_fit_are_listed_not_fatal(
    plain: tuple[Path, Tensors], plain_fp: Fingerprint, tmp_path: Path
) -> None:
    folder, tensors = plain
    new, extra, _ = _quantized("gptq4-act-order", tensors)
    new["model.layers.2.mlp.gate_proj.g_idx"] = np.full(HIDDEN, 99, np.int32)  # no group 99
    del new["model.layers.3.self_attn.q_proj.scales"]
    cfg = {**json.loads((folder / "config.json").read_text()), **extra}
    fp = compute_fingerprint(_write(tmp_path / "gptq-bad", new, cfg, folder))
    assert len(fp.unread) == 2, fp.unread
    assert "g_idx does not fit" in fp.unread[0] and "without float scales" in fp.unread[1]
    assert compare(fp, plain_fp).verdict == "derived"


def test_bnb4_without_its_quant_state_is_listed_not_fatal(
    plain: tuple[Path, Tensors], plain_fp: Fingerprint, tmp_path: Path
) -> None:
    folder, tensors = plain
    new, extra, _ = _quantized("bnb-nf4-nested", tensors)
    for key in [k for k in new if "layers.1." in k and "q_proj.weight.quant_state" in k]:
        del new[key]
    cfg = {**json.loads((folder / "config.json").read_text()), **extra}
    path = _write(tmp_path / "bnb-stateless", new, cfg, folder)
    r = runner.invoke(app, ["fingerprint", str(path)])
    assert r.exit_code == 0, r.output
    assert (
        "not read: q in layer 1: model.layers.N.self_attn.q_proj.weight: bitsandbytes" in r.output
    )
    fp = compute_fingerprint(path)
    assert len(fp.unread) == 1
    assert "q" not in fp.layers[1].units and "q" in fp.layers[2].units
    assert compare(fp, plain_fp).verdict == "derived"


# -- vocabularies -----------------------------------------------------------------------------


def _same_weights(folder: Path, out: Path) -> Path:
    out.mkdir()
    for name in ("model.safetensors", "config.json"):
        (out / name).hardlink_to(folder / name)
    return out


def test_vocab_json_and_merges_give_the_same_fingerprint(
    plain: tuple[Path, Tensors], plain_fp: Fingerprint, tmp_path: Path
) -> None:
    folder, _ = plain
    doc = json.loads((folder / "tokenizer.json").read_text())
    out = _same_weights(folder, tmp_path / "slow")
    (out / "vocab.json").write_text(json.dumps(doc["model"]["vocab"]))
    merges = ["#version: 0.2"] + [" ".join(m) for m in doc["model"]["merges"]]
    (out / "merges.txt").write_text("\n".join(merges) + "\n")
    # the added tokens of tokenizer.json, where a slow tokenizer keeps them
    (out / "tokenizer_config.json").write_text(json.dumps({"added_tokens_decoder": {
        str(t["id"]): {"content": t["content"], "special": t["special"]}
        for t in doc["added_tokens"]}}))  # fmt: skip
    fp = compute_fingerprint(out)
    assert fp.words == plain_fp.words and fp.vocab_chunks == plain_fp.vocab_chunks
    assert compare(fp, plain_fp).verdict == "identical"
    assert open_weights(out).vocabulary_from == "vocab.json"


def _proto_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _proto_field(number: int, payload: bytes) -> bytes:
    return _proto_varint(number << 3 | 2) + _proto_varint(len(payload)) + payload


def _sentencepiece_model(pieces: list[str]) -> bytes:
    """A SentencePiece ModelProto: pieces (piece, score, type), then a trainer spec."""
    body = b""
    for i, piece in enumerate(pieces):
        kind = 2 if i == 0 else 3 if i < 3 else 1  # unknown, control, normal
        entry = (
            _proto_field(1, piece.encode())
            + bytes([0x15]) + struct.pack("<f", -float(i))  # field 2, fixed32
            + bytes([0x18]) + _proto_varint(kind)  # field 3, varint
        )  # fmt: skip
        body += _proto_field(1, entry)
    trainer = _proto_field(1, b"corpus.txt") + bytes([0x18]) + _proto_varint(len(pieces))
    return body + _proto_field(2, trainer)


def _llama_style(folder: Path) -> list[str]:
    """SmolLM2's vocabulary with SentencePiece's word marker (▁) instead of GPT-2's (Ġ)."""
    vocab = json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"]
    by_id = sorted(vocab, key=vocab.__getitem__)
    return [t.replace("Ġ", "▁") for t in by_id]


def test_sentencepiece_model_gives_the_same_words(
    plain: tuple[Path, Tensors], plain_fp: Fingerprint, tmp_path: Path
) -> None:
    folder, _ = plain
    pieces = _llama_style(folder)
    as_json = _same_weights(folder, tmp_path / "unigram-json")
    (as_json / "tokenizer.json").write_text(
        json.dumps({"model": {"type": "Unigram", "vocab": [[p, 0.0] for p in pieces]}})
    )
    as_spm = _same_weights(folder, tmp_path / "spm")
    (as_spm / "tokenizer.model").write_bytes(_sentencepiece_model(pieces))
    a, b = compute_fingerprint(as_json), compute_fingerprint(as_spm)
    assert open_weights(as_spm).vocabulary_from == "tokenizer.model"
    assert a.words == b.words == plain_fp.words
    assert compare(b, a).verdict == "identical"
    assert compare(b, plain_fp).verdict in ("identical", "derived")
    assert compare(b, plain_fp).matched_units == compare(b, plain_fp).compared_units


HOSTILE_SPM: dict[str, bytes] = {
    "empty": b"",
    "random": np.random.default_rng(1).bytes(4096),
    "truncated": _sentencepiece_model(["<unk>", "<s>", "</s>", "▁the"] * 50)[:-7],
    "varint-overflow": b"\x0a" + b"\xff" * 12,
    "length-past-end": b"\x0a" + _proto_varint(1 << 40) + b"\x0a\x03abc",
    "group-wire-type": b"\x0b\x0a\x03abc\x0c",
}
HOSTILE_JSON: dict[str, str] = {
    "vocab-list": "[1, 2, 3]",
    "vocab-huge-id": json.dumps({"Ġthe": 10**10}),
    "vocab-nested": "[" * 100000 + "]" * 100000,
    "vocab-bad-ids": json.dumps({"Ġthe": -3, "Ġof": "1", "Ġand": True, "Ġto": 1.5}),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_SPM) + sorted(HOSTILE_JSON))
def test_hostile_vocabulary_files_read_as_no_vocabulary(
    case: str, plain: tuple[Path, Tensors], tmp_path: Path
) -> None:
    folder, _ = plain
    out = _same_weights(folder, tmp_path / case)
    if case in HOSTILE_SPM:
        (out / "tokenizer.model").write_bytes(HOSTILE_SPM[case])
    else:
        (out / "vocab.json").write_text(HOSTILE_JSON[case])
        (out / "tokenizer_config.json").write_text(
            json.dumps({"added_tokens_decoder": {"99999999999": {"content": "x"}, "-1": 5}})
        )
    r = runner.invoke(app, ["fingerprint", str(out), "--json"])
    assert r.exit_code == 0 and r.exception is None, r.output
    words = json.loads(r.stdout)["words"]
    assert words[:3] == ["#0", "#1", "#2"]  # token ids: no vocabulary was read


# -- fingerprint files --------------------------------------------------------------------------


def test_a_fingerprint_under_another_name_is_one_clear_line(
    plain: tuple[Path, Tensors], plain_fp: Fingerprint, tmp_path: Path
) -> None:
    folder, _ = plain
    for name in ("fp.safetensors", "fp.txt", "fp"):
        path = tmp_path / name
        path.write_text(plain_fp.dumps())
        r = runner.invoke(app, ["lineage", str(path), str(folder)])
        assert r.exit_code == 2 and "Traceback" not in r.output
        lines = [line for line in r.output.splitlines() if line.strip()]
        assert len(lines) == 1 and "fingerprint" in lines[0] and ".json" in lines[0], r.output
    for version in ('"1"', "true", "-5", "0", "1.0"):
        path = tmp_path / "forged.json"
        path.write_text(plain_fp.dumps().replace('"version":1', f'"version":{version}', 1))
        r = runner.invoke(app, ["lineage", str(path), str(folder)])
        assert r.exit_code == 2 and "damaged fingerprint (version" in r.output, (version, r.output)


def test_a_torch_zip_checkpoint_is_read_as_data(
    plain: tuple[Path, Tensors], plain_fp: Fingerprint, tmp_path: Path
) -> None:
    """pytorch_model.bin (torch.save's zip format) is read without unpickling: the same
    weights as the safetensors are `identical` (converted), and a checkpoint whose pickle
    would run code when loaded is read as data (the marker file never appears)."""
    import pickle

    import torch

    folder, tensors = plain
    out = tmp_path / "torch"
    out.mkdir()
    for item in folder.iterdir():
        if item.is_file() and item.suffix != ".safetensors":
            shutil.copy2(item, out / item.name)
    torch.save({k: torch.from_numpy(v) for k, v in tensors.items()}, out / "pytorch_model.bin")
    result = compare(compute_fingerprint(out), plain_fp)
    assert result.verdict == "identical" and result.derivation == ["converted"], result.to_json()

    marker = tmp_path / "marker"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil"
    shutil.copytree(out, evil)
    state = {k: torch.from_numpy(v) for k, v in tensors.items()}
    state["extra"] = Payload()  # type: ignore[assignment]
    torch.save(state, evil / "pytorch_model.bin", pickle_module=pickle)
    fp = compute_fingerprint(evil)
    assert compare(fp, plain_fp).verdict in ("identical", "derived")
    assert not marker.exists()

    legacy = tmp_path / "legacy"
    shutil.copytree(out, legacy)
    torch.save(state, legacy / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    r = runner.invoke(app, ["fingerprint", str(legacy)])
    assert r.exit_code == 2 and "legacy" in r.output and "Traceback" not in r.output
    assert not marker.exists()
