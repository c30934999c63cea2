"""Large model files and a many-file repository for the scan benchmarks.

Built without torch: the safetensors header is written as the format defines it
and checked with the ``safetensors`` package; the GGUF header is written by the
``gguf`` package's own ``GGUFWriter`` and checked with its ``GGUFReader``. The
tensor bytes are real (a 64 MiB random block repeated), so the files occupy
their full size on disk and a tool that reads them pays for every byte.

The layout is Llama-3-8B's (hidden 4096, MLP 14336, 8 KV heads, vocabulary
128256) cut to ``layers`` blocks; 20 blocks in 16-bit weights are 10.1 GiB.
The GGUF carries a real tokenizer's worth of metadata (128256 tokens, 280147
merges, the Llama-3 chat template), which is what makes a GGUF header large.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from openward._samples import LLAMA3_TEMPLATE, _safetensors_bytes, _torch_data_pkl, _write_torch_zip

HIDDEN, MLP, KV, VOCAB = 4096, 14336, 1024, 128256
BLOCK = 64 << 20


def llama_tensors(layers: int) -> Iterator[tuple[str, str, tuple[int, ...]]]:
    """(HF name, GGUF name, shape) for a Llama-3-8B-shaped model of ``layers`` blocks."""
    yield "model.embed_tokens.weight", "token_embd.weight", (VOCAB, HIDDEN)
    for i in range(layers):
        hf, gg = f"model.layers.{i}.", f"blk.{i}."
        yield hf + "input_layernorm.weight", gg + "attn_norm.weight", (HIDDEN,)
        yield hf + "self_attn.q_proj.weight", gg + "attn_q.weight", (HIDDEN, HIDDEN)
        yield hf + "self_attn.k_proj.weight", gg + "attn_k.weight", (KV, HIDDEN)
        yield hf + "self_attn.v_proj.weight", gg + "attn_v.weight", (KV, HIDDEN)
        yield hf + "self_attn.o_proj.weight", gg + "attn_output.weight", (HIDDEN, HIDDEN)
        yield hf + "post_attention_layernorm.weight", gg + "ffn_norm.weight", (HIDDEN,)
        yield hf + "mlp.gate_proj.weight", gg + "ffn_gate.weight", (MLP, HIDDEN)
        yield hf + "mlp.up_proj.weight", gg + "ffn_up.weight", (MLP, HIDDEN)
        yield hf + "mlp.down_proj.weight", gg + "ffn_down.weight", (HIDDEN, MLP)
    yield "model.norm.weight", "output_norm.weight", (HIDDEN,)
    yield "lm_head.weight", "output.weight", (VOCAB, HIDDEN)


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _fill(f: object, nbytes: int, block: bytes) -> None:
    write = f.write  # type: ignore[attr-defined]
    while nbytes > 0:
        chunk = block[: min(nbytes, len(block))]
        write(chunk)
        nbytes -= len(chunk)


def _block() -> bytes:
    return np.random.default_rng(0).integers(0, 256, BLOCK, dtype=np.uint8).tobytes()


def _fresh(path: Path, size_hint: int) -> bool:
    return path.exists() and path.stat().st_size >= size_hint


def build_safetensors(path: Path, layers: int = 20) -> Path:
    """A BF16 safetensors file of the Llama layout (reused when already built)."""
    specs = [(hf, shape) for hf, _, shape in llama_tensors(layers)]
    total = sum(_numel(s) * 2 for _, s in specs)
    if _fresh(path, total):
        return path
    print(f"building {path} ({total / (1 << 30):.1f} GiB) ...", file=sys.stderr, flush=True)
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in specs:
        n = _numel(shape) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    tmp = path.with_suffix(".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    block = _block()
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        _fill(f, total, block)
    from safetensors import safe_open

    with safe_open(tmp, framework="numpy") as check:
        assert len(list(check.keys())) == len(specs)
    tmp.replace(path)
    return path


def build_gguf(path: Path, layers: int = 20) -> Path:
    """An F16 GGUF of the Llama layout with a full Llama-3 tokenizer (reused when built)."""
    import gguf

    specs = [(gg, shape) for _, gg, shape in llama_tensors(layers)]
    total = sum(_numel(s) * 2 for _, s in specs)
    if _fresh(path, total):
        return path
    print(f"building {path} ({total / (1 << 30):.1f} GiB) ...", file=sys.stderr, flush=True)
    tmp = path.with_suffix(".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(tmp, "llama")
    writer.add_name("bench-llama")
    writer.add_block_count(layers)
    writer.add_context_length(8192)
    writer.add_embedding_length(HIDDEN)
    writer.add_feed_forward_length(MLP)
    writer.add_head_count(32)
    writer.add_head_count_kv(8)
    writer.add_rope_freq_base(500000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("llama-bpe")
    rng = np.random.default_rng(1)
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyzĠ"))
    tokens = ["".join(rng.choice(alphabet, 2 + i % 9)) + str(i) for i in range(VOCAB)]
    writer.add_token_list(tokens)
    writer.add_token_types([1] * VOCAB)
    writer.add_token_merges(
        [f"{tokens[i % VOCAB][:2]} {tokens[(7 * i + 1) % VOCAB][:3]}" for i in range(280147)]
    )
    writer.add_bos_token_id(128000)
    writer.add_eos_token_id(128009)
    writer.add_chat_template(LLAMA3_TEMPLATE)
    for name, shape in specs:
        writer.add_tensor_info(
            name,
            shape,
            np.dtype(np.float16),
            _numel(shape) * 2,
            raw_dtype=gguf.GGMLQuantizationType.F16,
        )
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    alignment = 32
    block = _block()
    with open(tmp, "r+b") as f:
        f.seek(0, os.SEEK_END)
        f.write(bytes(-f.tell() % alignment))
        for _, shape in specs:
            n = _numel(shape) * 2
            _fill(f, n, block)
            f.write(bytes(-n % alignment))
    reader = gguf.GGUFReader(tmp)
    assert len(reader.tensors) == len(specs)
    assert (
        int(reader.tensors[-1].data_offset) + int(reader.tensors[-1].n_bytes) <= tmp.stat().st_size
    )
    del reader
    tmp.replace(path)
    return path


def build_repository(root: Path, files: int = 100) -> Path:
    """A sharded checkpoint repository of ``files`` files, rebuilt every time.

    Half the files are PyTorch zip shards (``pytorch_model-000NN-of-000MM.bin``,
    each a ``data.pkl`` of 160 tensor records and small storages), a third are
    safetensors shards, the rest configs, tokenizer files and modelling code:
    what a repository carrying both weight formats and remote code looks like.
    """
    import shutil

    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    n_torch = files // 2
    n_st = files // 3
    n_rest = files - n_torch - n_st
    for i in range(n_torch):
        tensors = {f"model.layers.{i}.part{j}.weight": (64, 16) for j in range(160)}
        storages = {str(j): bytes(64 * 16 * 4) for j in range(160)}
        _write_torch_zip(
            root / f"pytorch_model-{i + 1:05}-of-{n_torch:05}.bin",
            _torch_data_pkl(tensors),
            storages,
        )
    for i in range(n_st):
        tensors = {
            f"model.layers.{i}.part{j}.weight": ("F32", [64, 16], bytes(4096)) for j in range(160)
        }
        (root / f"model-{i + 1:05}-of-{n_st:05}.safetensors").write_bytes(
            _safetensors_bytes(tensors)
        )
    rest = {
        "config.json": json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}),
        "tokenizer_config.json": json.dumps({"chat_template": LLAMA3_TEMPLATE}),
        "generation_config.json": json.dumps({"do_sample": True, "temperature": 0.6}),
        "README.md": "---\nlicense: apache-2.0\n---\n# bench\n",
    }
    code = "import torch\nfrom torch import nn\n\n\nclass Block{0}(nn.Module):\n" + "".join(
        f"    def f{k}(self, x):\n        return x * {k} + torch.tanh(x)\n\n" for k in range(40)
    )
    names = list(rest)
    for k in range(n_rest):
        if k < len(names):
            (root / names[k]).write_text(rest[names[k]])
        else:
            (root / f"modeling_part{k}.py").write_text(code.format(k))
    return root
