"""The same weights in other forms a publisher may ship: no tokenizer files, a torch
checkpoint, a GGUF in a sub-folder (as the per-quantization folders of many GGUF repos)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from openward.lineage._small import load_tensors

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


def _llama_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    return (
        w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
        .swapaxes(1, 2)
        .reshape(w.shape)
    )


def write_gguf(base: Path, out: Path, qtype_name: str = "Q8_0") -> Path:
    """llama.cpp's layout (q/k rows permuted for its RoPE), every matrix in ``qtype_name``."""
    from gguf import GGMLQuantizationType, GGUFWriter
    from gguf.quants import quantize

    qtype = GGMLQuantizationType[qtype_name]
    cfg = json.loads((base / "config.json").read_text())
    tok = json.loads((base / "tokenizer.json").read_text(encoding="utf-8"))
    tokens = [f"<unused{i}>" for i in range(cfg["vocab_size"])]
    for t, i in tok["model"]["vocab"].items():
        tokens[i] = t
    for a in tok["added_tokens"]:
        tokens[a["id"]] = a["content"]
    out.parent.mkdir(parents=True, exist_ok=True)
    w = GGUFWriter(str(out), "llama")
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg["num_key_value_heads"])
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    for name, v in load_tensors(base).items():
        if name == "model.embed_tokens.weight":
            gname = "token_embd.weight"
        elif name == "model.norm.weight":
            gname = "output_norm.weight"
        elif name == "lm_head.weight":
            gname = "output.weight"
        else:
            layer = name.split(".")[2]
            key = ".".join(name.split(".")[3:-1])
            gname = f"blk.{layer}.{NAMES[key]}.weight"
            if key == "self_attn.q_proj":
                v = _llama_permute(v, heads)
            elif key == "self_attn.k_proj":
                v = _llama_permute(v, kv)
        if v.ndim == 2:
            w.add_tensor(gname, quantize(np.ascontiguousarray(v), qtype), raw_dtype=qtype)
        else:
            w.add_tensor(gname, v.astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out


def no_tokenizer(src: Path, out: Path) -> Path:
    """The weights and config only: the card says to use the base's tokenizer."""
    shutil.copytree(src, out, ignore=shutil.ignore_patterns("tokenizer*", "vocab*", "merges*"))
    return out


def torch_bin(src: Path, out: Path) -> Path:
    """pytorch_model.bin (torch's zip format, tensors only) instead of safetensors."""
    import torch

    shutil.copytree(src, out, ignore=shutil.ignore_patterns("*.safetensors"))
    state = {
        k: torch.from_numpy(np.array(v)).to(torch.bfloat16) for k, v in load_tensors(src).items()
    }
    torch.save(state, out / "pytorch_model.bin")
    return out


def gguf_subfolder(src: Path, out: Path, qtype: str = "Q8_0") -> Path:
    """config, tokenizer and card at the top, the weights as ``Q8_0/model-Q8_0.gguf``."""
    shutil.copytree(src, out, ignore=shutil.ignore_patterns("*.safetensors"))
    write_gguf(src, out / qtype / f"model-{qtype}.gguf", qtype)
    return out


def gguf_top(src: Path, out: Path, qtype: str = "Q8_0") -> Path:
    shutil.copytree(src, out, ignore=shutil.ignore_patterns("*.safetensors"))
    write_gguf(src, out / f"model-{qtype}.gguf", qtype)
    return out
