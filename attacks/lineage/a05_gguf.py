"""GGUF conversions of SmolLM2 written as llama.cpp's convert_hf_to_gguf does (q and k rows
permuted for its RoPE layout), in several quantization types, against the safetensors base.

Also the bundled Q4_1 GGUF against the float32 folder that was converted FROM it: the same
numbers, only q/k rows in llama.cpp's order.

Expected: derived (quantized) for the quantized files, identical/converted for the bundled
pair. Observed: printout.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from common import SCRATCH, SMOL, lineage, short

from openward.lineage._derive import load_folder


def llama_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    return (
        w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
        .swapaxes(1, 2)
        .reshape(w.shape)
    )


NAMES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
}


def write_gguf(base: Path, out: Path, qtype_name: str) -> Path:
    from gguf import GGMLQuantizationType, GGUFWriter
    from gguf.quants import quantize

    qtype = GGMLQuantizationType[qtype_name]
    cfg = json.loads((base / "config.json").read_text())
    tok = json.loads((base / "tokenizer.json").read_text(encoding="utf-8"))
    tokens = [""] * cfg["vocab_size"]
    for t, i in tok["model"]["vocab"].items():
        tokens[i] = t
    for a in tok["added_tokens"]:
        tokens[a["id"]] = a["content"]
    w = GGUFWriter(str(out), "llama")
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    for name, v in load_folder(base).items():
        if name == "model.embed_tokens.weight":
            gname = "token_embd.weight"
        elif name == "model.norm.weight":
            gname = "output_norm.weight"
        else:
            layer = name.split(".")[2]
            key = ".".join(name.split(".")[3:-1])
            gname = f"blk.{layer}.{NAMES[key]}.weight"
            if key == "self_attn.q_proj":
                v = llama_permute(v, heads)
            elif key == "self_attn.k_proj":
                v = llama_permute(v, kv)
        if v.ndim == 2:
            data = quantize(np.ascontiguousarray(v), qtype)
            w.add_tensor(gname, data, raw_dtype=qtype)
        else:
            w.add_tensor(gname, v.astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out


def main() -> None:
    from openward.runtime.bundled import smollm2_gguf

    print("bundled Q4_1 gguf vs the float32 folder converted from it:")
    print("  ", short(lineage(smollm2_gguf(), SMOL)))
    for qt in ("F16", "Q8_0", "Q4_0", "MXFP4"):
        out = SCRATCH / f"smol-{qt}.gguf"
        if not out.exists():
            write_gguf(SMOL, out, qt)
        print(f"{out.name}:")
        print("  ", short(lineage(out, SMOL)))


if __name__ == "__main__":
    main()
