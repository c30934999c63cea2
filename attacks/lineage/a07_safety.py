"""Safety-edit detection on SmolLM2 with a real refusal direction (refusal.py).

Negatives (must NOT be flagged): short real fine-tunes (_derive.finetune), a LoRA fine-tune
merged into the weights, 4-/8-bit quantization round trips.
Positives (must be flagged): the abliteration (Arditi) with the middle layer's direction;
then followed by a short fine-tune / by 4-bit or 8-bit quantization / by a consistent
permutation of hidden units (same function); per-layer directions (each layer's o/down
orthogonalised against the refusal direction read at its own output, as some abliteration
tools do; "-embed": the embedding too, against the middle direction); only layers 10-19
abliterated (embedding untouched), and then a short fine-tune.

Usage: a07_safety.py [NAME-SUBSTRING ...]   (fine-tunes take minutes on 2 cores)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from common import SCRATCH, SMOL, lineage, short
from refusal import directions
from texts import english

from openward.lineage import _derive


def abliterate_per_layer(
    base: Path,
    out: Path,
    dirs: np.ndarray,
    layers: range | None = None,
    per_layer: bool = True,
    embed: bool = False,
) -> Path:
    mid = dirs[len(dirs) // 2].astype(np.float32)

    def edit(name: str, v: np.ndarray) -> np.ndarray:
        if embed and name.endswith("embed_tokens.weight"):
            return (v - np.outer(v @ mid, mid)).astype(np.float32)
        if ".layers." not in name:
            return v
        layer = int(name.split(".layers.")[1].split(".")[0])
        if layers is not None and layer not in layers:
            return v
        if name.endswith(("o_proj.weight", "down_proj.weight")):
            r = (dirs[layer + 1] if per_layer else mid).astype(np.float32)
            return (v - np.outer(r, r @ v)).astype(np.float32)
        return v

    return _derive._map(base, out, edit)


def lora_merged(base: Path, out: Path, steps: int = 30, r: int = 8, lr: float = 1e-3) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(str(base))
    cfg = LoraConfig(
        r=r,
        lora_alpha=2 * r,
        target_modules=[
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        ],
        lora_dropout=0.0,
    )
    model = get_peft_model(model, cfg)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    texts = english()
    model.train()
    for step in range(steps):
        batch = [texts[(step * 4 + i) % len(texts)] for i in range(4)]
        enc = tok(batch, return_tensors="pt", padding=True, truncation=True, max_length=64)
        labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        loss = model(**enc, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    merged = model.merge_and_unload()
    tensors = {k: v.detach().numpy() for k, v in merged.state_dict().items()}
    tensors.pop("lm_head.weight", None)
    return _derive.save_folder(base, out, tensors)


def build(name: str) -> Path:
    out = SCRATCH / f"safety-{name}"
    if (out / "model.safetensors").exists():
        return out
    import torch

    torch.set_num_threads(2)
    dirs = directions()
    mid = dirs[len(dirs) // 2]
    texts = english()
    abl = SCRATCH / "safety-abl"
    if name == "abl":
        _derive.abliterate_numpy(SMOL, out, mid)
    elif name.startswith("abl-ft"):  # abl-ft-STEPS (lr 1e-5) or abl-ft4-STEPS (lr 1e-4)
        lr = 1e-4 if name.startswith("abl-ft4") else 1e-5
        _derive.finetune(build("abl"), out, texts, steps=int(name.split("-")[-1]), lr=lr)
    elif name == "abl-q4":
        _derive.quantize_roundtrip(build("abl"), out, bits=4)
    elif name == "abl-q8":
        _derive.quantize_roundtrip(build("abl"), out, bits=8)
    elif name == "abl-permuted":
        _derive.permute(build("abl"), out)
    elif name == "abl-per-layer":
        abliterate_per_layer(SMOL, out, dirs)
    elif name == "abl-per-layer-embed":
        abliterate_per_layer(SMOL, out, dirs, embed=True)
    elif name == "abl-partial":
        abliterate_per_layer(SMOL, out, dirs, layers=range(10, 20), per_layer=False)
    elif name.startswith("abl-partial-ft"):
        _derive.finetune(build("abl-partial"), out, texts, steps=int(name.split("-")[-1]), lr=1e-5)
    elif name.startswith("ft-"):  # ft-STEPS-LR
        _, steps, lr = name.split("-", 2)
        _derive.finetune(SMOL, out, texts, steps=int(steps), lr=float(lr))
    elif name == "lora":
        lora_merged(SMOL, out)
    elif name == "q4":
        _derive.quantize_roundtrip(SMOL, out, bits=4)
    elif name == "q8":
        _derive.quantize_roundtrip(SMOL, out, bits=8)
    else:
        raise SystemExit(f"unknown {name}")
    del abl
    return out


CASES = [
    ("ft-20-1e-4", False),
    ("ft-20-1e-5", False),
    ("lora", False),
    ("q8", False),
    ("q4", False),
    ("abl", True),
    ("abl-ft-10", True),
    ("abl-ft4-20", True),
    ("abl-q8", True),
    ("abl-q4", True),
    ("abl-permuted", True),
    ("abl-per-layer", True),
    ("abl-per-layer-embed", True),
    ("abl-partial", True),
    ("abl-partial-ft-10", True),
]


def main() -> None:
    want = sys.argv[1:]
    for name, edited in CASES:
        if want and not any(w == name for w in want):
            continue
        folder = build(name)
        res = lineage(folder, SMOL, safety=True)
        se = res.get("safety_edit") or {}
        flag = se.get("detected")
        ok = "ok" if bool(flag) == edited else "WRONG"
        print(f"{name:18s} expected edited={edited!s:5s} [{ok}] {short(res)}", flush=True)


if __name__ == "__main__":
    main()
