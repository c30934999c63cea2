"""Derivatives of a safetensors Llama-family model, built with numpy, for tests and benchmarks.

Each function reads a model folder (float32/float16/bfloat16 safetensors, config.json,
tokenizer files) and writes a new folder: the weights transformed, everything else copied.
The transforms are the ones lineage must see through: quantization round trips, pruning,
consistent permutation of hidden units, attention heads and MLP neurons (the permuted model
computes the same function), scaling, vocabulary extension, noise, merges; and negatives: a
random re-initialisation of the same architecture.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "extend_vocabulary",
    "load_folder",
    "merge",
    "permute",
    "perturb",
    "prune",
    "quantize_roundtrip",
    "random_init",
    "save_folder",
    "scale",
]

Arr = npt.NDArray[np.float32]
Tensors = dict[str, Arr]


def load_folder(folder: Path) -> Tensors:
    from safetensors.numpy import load_file

    out: Tensors = {}
    for file in sorted(folder.glob("*.safetensors")):
        for name, value in load_file(str(file)).items():
            out[name] = value.astype(np.float32)
    return out


def save_folder(
    base: Path, out: Path, tensors: Tensors, *, tokenizer: dict[str, Any] | None = None
) -> Path:
    """Write ``tensors`` as one safetensors file beside copies of ``base``'s other files."""
    from safetensors.numpy import save_file

    out.mkdir(parents=True, exist_ok=True)
    for item in base.iterdir():
        if (
            item.is_file()
            and item.suffix != ".safetensors"
            and item.name != "model.safetensors.index.json"
        ):
            shutil.copy2(item, out / item.name)
    save_file(
        {k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(out / "model.safetensors")
    )
    if tokenizer is not None:
        (out / "tokenizer.json").write_text(json.dumps(tokenizer), encoding="utf-8")
    return out


def _map(base: Path, out: Path, fn: Callable[[str, Arr], Arr]) -> Path:
    tensors = load_folder(base)
    return save_folder(base, out, {k: fn(k, v) for k, v in tensors.items()})


def _is_matrix(name: str, value: Arr) -> bool:
    return value.ndim == 2


def quantize_roundtrip(base: Path, out: Path, bits: int = 8, block: int = 32) -> Path:
    """Symmetric absmax quantization per block of ``block`` values, then back to float."""
    levels = 2 ** (bits - 1) - 1

    def q(name: str, v: Arr) -> Arr:
        if not _is_matrix(name, v) or v.shape[1] % block:
            return v
        blocks = v.reshape(-1, block)
        s = np.max(np.abs(blocks), axis=1, keepdims=True) / levels
        s[s == 0] = 1
        rounded: Arr = (np.round(blocks / s) * s).reshape(v.shape).astype(np.float32)
        return rounded

    return _map(base, out, q)


def prune(base: Path, out: Path, share: float = 0.3) -> Path:
    """Magnitude pruning: the smallest ``share`` of each matrix set to zero."""

    def p(name: str, v: Arr) -> Arr:
        if not _is_matrix(name, v) or "embed" in name:
            return v
        cut = np.quantile(np.abs(v), share)
        return np.where(np.abs(v) < cut, 0, v).astype(np.float32)

    return _map(base, out, p)


def scale(base: Path, out: Path, factor: float = 1.7) -> Path:
    """Every matrix multiplied by ``factor`` (not function-preserving; a crude disguise)."""
    return _map(base, out, lambda n, v: (v * factor).astype(np.float32) if v.ndim == 2 else v)


def perturb(base: Path, out: Path, relative: float = 0.05, seed: int = 0) -> Path:
    """Gaussian noise of ``relative`` x each matrix's standard deviation on every matrix."""
    rng = np.random.default_rng(seed)

    def n(name: str, v: Arr) -> Arr:
        if v.ndim != 2:
            return v
        noise = rng.standard_normal(v.shape).astype(np.float32) * relative * v.std()
        noisy: Arr = (v + noise).astype(np.float32)
        return noisy

    return _map(base, out, n)


def merge(a: Path, b: Path, out: Path, weight: float = 0.5) -> Path:
    """Linear merge: weight * a + (1 - weight) * b, tensor by tensor (same architecture)."""
    ta, tb = load_folder(a), load_folder(b)
    return save_folder(
        a, out, {k: (weight * v + (1 - weight) * tb[k]).astype(np.float32) for k, v in ta.items()}
    )


def random_init(base: Path, out: Path, seed: int = 1, std: float = 0.02) -> Path:
    """The same architecture and tokenizer, every matrix drawn anew (a hard negative)."""
    rng = np.random.default_rng(seed)
    return _map(
        base,
        out,
        lambda n, v: (rng.standard_normal(v.shape) * std).astype(np.float32) if v.ndim == 2 else v,
    )


_LAYER = re.compile(r"layers\.(\d+)\.")


def permute(base: Path, out: Path, seed: int = 0) -> Path:
    """A consistent permutation of hidden units, key/value head groups and MLP neurons: the
    new model computes the same function as the base (Llama-family layout)."""
    config = json.loads((base / "config.json").read_text())
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    kv_heads = int(config.get("num_key_value_heads", heads))
    head_dim = int(config.get("head_dim") or hidden // heads)
    group = heads // kv_heads
    rng = np.random.default_rng(seed)
    ph = rng.permutation(hidden)
    tensors = load_folder(base)
    out_t: Tensors = {}
    layer_perms: dict[
        int, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]
    ] = {}
    for name, v in tensors.items():
        m = _LAYER.search(name)
        if m:
            layer = int(m.group(1))
            if layer not in layer_perms:
                kv = rng.permutation(kv_heads)
                q_rows = np.concatenate(
                    [np.arange(h * group * head_dim, (h + 1) * group * head_dim) for h in kv]
                )
                kv_rows = np.concatenate([np.arange(h * head_dim, (h + 1) * head_dim) for h in kv])
                ffn = int(config["intermediate_size"])
                layer_perms[layer] = (q_rows, kv_rows, rng.permutation(ffn))
            q_rows, kv_rows, pf = layer_perms[layer]
        if name.endswith(("embed_tokens.weight", "lm_head.weight")):
            v = v[:, ph]
        elif name.endswith("norm.weight"):
            v = v[ph] if v.shape == (hidden,) else v
        elif name.endswith("q_proj.weight"):
            v = v[q_rows][:, ph]
        elif name.endswith(("k_proj.weight", "v_proj.weight")):
            v = v[kv_rows][:, ph]
        elif name.endswith("q_proj.bias"):
            v = v[q_rows]
        elif name.endswith(("k_proj.bias", "v_proj.bias")):
            v = v[kv_rows]
        elif name.endswith("o_proj.weight"):
            v = v[ph][:, q_rows]
        elif name.endswith(("gate_proj.weight", "up_proj.weight")):
            v = v[pf][:, ph]
        elif name.endswith("down_proj.weight"):
            v = v[ph][:, pf]
        out_t[name] = np.ascontiguousarray(v)
    return save_folder(base, out, out_t)


def extend_vocabulary(base: Path, out: Path, added: int = 64, seed: int = 0) -> Path:
    """``added`` new tokens at the end of the vocabulary, their embeddings the mean of the
    existing ones plus noise (as tokenizer.add_tokens + resize_token_embeddings does)."""
    rng = np.random.default_rng(seed)
    tensors = load_folder(base)
    tokenizer = json.loads((base / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = tokenizer["model"]["vocab"]
    ids = [int(i) for i in vocab.values()] + [
        int(t["id"]) for t in tokenizer.get("added_tokens", [])
    ]
    next_id = max(ids) + 1
    new_rows = 0
    for name, v in list(tensors.items()):
        if name.endswith(("embed_tokens.weight", "lm_head.weight")):
            extra_rows = next_id + added - v.shape[0]
            if extra_rows > 0:
                mean = v.mean(axis=0, keepdims=True)
                extra = (
                    mean
                    + rng.standard_normal((extra_rows, v.shape[1])).astype(np.float32)
                    * v.std()
                    * 0.1
                )
                tensors[name] = np.concatenate([v, extra.astype(np.float32)])
                new_rows = tensors[name].shape[0]
    for i in range(added):
        tokenizer.setdefault("added_tokens", []).append(
            {
                "id": next_id + i,
                "content": f"<openward_extra_{i}>",
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
        )
    folder = save_folder(base, out, tensors, tokenizer=tokenizer)
    config = json.loads((folder / "config.json").read_text())
    if new_rows:
        config["vocab_size"] = new_rows
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return folder


def _train(
    model: Any,
    tokenizer: Any,
    params: Any,
    texts: list[str],
    steps: int,
    lr: float,
    max_length: int,
) -> None:
    """``steps`` AdamW steps on batches of 4 of ``texts`` (at most ``max_length`` tokens)."""
    import torch

    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.train()
    opt = torch.optim.AdamW(params, lr=lr)
    for step in range(steps):
        batch = [texts[(step * 4 + i) % len(texts)] for i in range(4)]
        enc = tokenizer(
            batch, return_tensors="pt", padding=True, truncation=True, max_length=max_length
        )
        labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        loss = model(**enc, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()


def _state(model: Any) -> Tensors:
    """The trained model's tensors as float32 (a tied head left out, as transformers saves)."""
    model.eval()  # safe: torch train/eval switch, not eval()
    tensors = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    if getattr(model.config, "tie_word_embeddings", False):
        tensors.pop("lm_head.weight", None)
    return tensors


def finetune(
    base: Path,
    out: Path,
    texts: list[str],
    *,
    steps: int = 20,
    lr: float = 1e-4,
    seed: int = 0,
    max_length: int = 64,
) -> Path:
    """A real full fine-tune with transformers (AdamW, batches of 4 texts of at most
    ``max_length`` tokens, float32 on CPU); needs the ``ml`` extra."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    _train(model, tokenizer, model.parameters(), texts, steps, lr, max_length)
    tensors = _state(model)
    return save_folder(base, out, tensors)


def truncate(base: Path, out: Path, layers: int) -> Path:
    """The base's first ``layers`` decoder layers (and everything outside the layers): a
    small real model for tests, with the base's embedding and tokenizer."""
    tensors = {
        k: v
        for k, v in load_folder(base).items()
        if not (m := _LAYER.search(k)) or int(m.group(1)) < layers
    }
    save_folder(base, out, tensors)
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    config["num_hidden_layers"] = layers
    for key in ("layer_types", "max_window_layers"):
        if isinstance(config.get(key), list):
            config[key] = config[key][:layers]
    (out / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return out


def train_from_scratch(
    base: Path,
    out: Path,
    texts: list[str],
    *,
    seed: int,
    steps: int,
    lr: float = 1e-3,
    max_length: int = 64,
    config_changes: dict[str, Any] | None = None,
) -> Path:
    """The hard negative: ``base``'s architecture (with ``config_changes``, e.g. a smaller
    width for tests) and tokenizer, initialised anew by transformers with ``seed``, then
    trained ``steps`` AdamW steps on ``texts`` (the same texts give two seeds the same coarse
    word statistics, nothing else in common)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    config = AutoConfig.from_pretrained(str(base))
    for key, value in (config_changes or {}).items():
        setattr(config, key, value)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)  # type: ignore[no-untyped-call]
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    _train(model, tokenizer, model.parameters(), texts, steps, lr, max_length)
    tensors = _state(model)
    save_folder(base, out, tensors)
    model.config.to_json_file(str(out / "config.json"))
    return out


def lora_merged(
    base: Path,
    out: Path,
    texts: list[str],
    *,
    steps: int = 30,
    rank: int = 8,
    lr: float = 1e-3,
    seed: int = 0,
    max_length: int = 64,
) -> Path:
    """A real LoRA fine-tune (peft, rank ``rank`` on every linear layer of the decoder) merged
    into the weights, as people publish them."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    peft_model = get_peft_model(
        model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=targets)
    )
    _train(
        peft_model,
        tokenizer,
        [p for p in peft_model.parameters() if p.requires_grad],
        texts,
        steps,
        lr,
        max_length,
    )
    merged = peft_model.merge_and_unload()
    tensors = _state(merged)
    return save_folder(base, out, tensors)


def abliterate_layers(
    base: Path, out: Path, directions: dict[int, Arr], *, embed: Arr | None = None
) -> Path:
    """Orthogonalise each listed layer's ``o_proj``/``down_proj`` against that layer's own
    direction (per-layer abliteration, or only some layers), and the embedding against
    ``embed`` if given."""

    def edit(name: str, v: Arr) -> Arr:
        if embed is not None and _EMBED.search(name):
            r = embed / np.linalg.norm(embed)
            return (v - np.outer(v @ r, r)).astype(np.float32)
        m = _LAYER.search(name)
        if not m or not name.endswith(("o_proj.weight", "down_proj.weight")):
            return v
        own = directions.get(int(m.group(1)))
        if own is None:
            return v
        r = own / np.linalg.norm(own)
        return (v - np.outer(r, r @ v)).astype(np.float32)

    return _map(base, out, edit)


_EMBED = re.compile(r"embed_tokens\.weight$")


def prune_channel(base: Path, out: Path, channel: int = 7) -> Path:
    """One hidden channel pruned in place: its embedding column and its rows of every
    ``o_proj``/``down_proj`` zeroed, the shapes kept (structured pruning, not an edit of
    behaviour a safety check should flag)."""

    def edit(name: str, v: Arr) -> Arr:
        out_v = v.copy()
        if _EMBED.search(name):
            out_v[:, channel] = 0.0
        elif name.endswith(("o_proj.weight", "down_proj.weight")):
            out_v[channel, :] = 0.0
        return out_v

    return _map(base, out, edit)


def abliterate_numpy(base: Path, out: Path, direction: Arr) -> Path:
    """Orthogonalise the embedding, attention output and MLP down projections against
    ``direction`` (unit, hidden-sized), as Arditi et al.'s weight edit does."""
    r = (direction / np.linalg.norm(direction)).astype(np.float32)

    def edit(name: str, v: Arr) -> Arr:
        if name.endswith("embed_tokens.weight"):
            return (v - np.outer(v @ r, r)).astype(np.float32)
        if name.endswith(("o_proj.weight", "down_proj.weight")):
            return (v - np.outer(r, r @ v)).astype(np.float32)
        return v

    return _map(base, out, edit)


def rotate(base: Path, out: Path, seed: int = 0) -> Path:
    """A random orthogonal rotation Q of the hidden space, the RMSNorm weights folded into the
    matrices after them first (as QuaRot and SliceGPT do): the same function, no unit of the
    base left in place. Llama-family layout."""
    rng = np.random.default_rng(seed)
    tensors = load_folder(base)
    hidden = tensors[next(k for k in tensors if k.endswith("embed_tokens.weight"))].shape[1]
    q, _ = np.linalg.qr(rng.standard_normal((hidden, hidden)))
    q = q.astype(np.float32)
    out_t: Tensors = dict(tensors)
    for name, v in tensors.items():
        m = _LAYER.search(name)
        if name.endswith("input_layernorm.weight") and m:
            prefix = name[: name.index("input_layernorm")]
            for proj in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"):
                out_t[f"{prefix}{proj}.weight"] = tensors[f"{prefix}{proj}.weight"] * v[None, :]
            out_t[name] = np.ones_like(v)
        elif name.endswith("post_attention_layernorm.weight") and m:
            prefix = name[: name.index("post_attention_layernorm")]
            for proj in ("mlp.gate_proj", "mlp.up_proj"):
                out_t[f"{prefix}{proj}.weight"] = tensors[f"{prefix}{proj}.weight"] * v[None, :]
            out_t[name] = np.ones_like(v)
    final = next((k for k in tensors if k.endswith("model.norm.weight")), None)
    if final is not None:
        g = tensors[final]
        if "lm_head.weight" in tensors:
            out_t["lm_head.weight"] = tensors["lm_head.weight"] * g[None, :]
        else:  # tied: the head is the embedding, so it gets its own (untied) copy
            embed = next(k for k in tensors if k.endswith("embed_tokens.weight"))
            out_t["lm_head.weight"] = tensors[embed] * g[None, :]
        out_t[final] = np.ones_like(g)
    for name, v in list(out_t.items()):
        reads = ("embed_tokens", "lm_head", "q_proj", "k_proj", "v_proj", "gate_proj", "up_proj")
        if name.endswith(tuple(f"{r}.weight" for r in reads)):
            out_t[name] = v @ q
        elif name.endswith(("o_proj.weight", "down_proj.weight")):
            out_t[name] = q.T @ v
    folder = save_folder(
        base, out, {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out_t.items()}
    )
    config = json.loads((folder / "config.json").read_text())
    config["tie_word_embeddings"] = False
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return folder
