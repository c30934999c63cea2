"""Evasion: an orthogonal rotation of the hidden space (QuaRot/SliceGPT style).

RMSNorm weights are folded into the matrices that read the residual stream (and the final
norm into the output head, which unties it), then every residual-stream matrix is rotated by
one random orthogonal Q. The model computes the same function (checked with transformers).
Variant "rope": in addition, q and k are rotated within each RoPE frequency plane (2x2
rotations commute with RoPE, so q.k is unchanged), which mixes q's output units pairwise.

Expected: derived (the function is identical). Observed: see the printout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from common import QWEN, SCRATCH, SMOL, lineage, max_logit_diff, short

from openward.lineage._derive import load_folder, save_folder


def random_orthogonal(n: int, seed: int) -> np.ndarray:
    a = np.random.default_rng(seed).standard_normal((n, n))
    q, r = np.linalg.qr(a)
    return (q * np.sign(np.diag(r))).astype(np.float32)


def rope_mix(head_dim: int, seed: int) -> np.ndarray:
    """Per-plane 2x2 rotations in the rotate_half layout (pairs i, i + head_dim/2)."""
    half = head_dim // 2
    theta = np.random.default_rng(seed).uniform(0, 2 * np.pi, half)
    m = np.zeros((head_dim, head_dim), dtype=np.float32)
    for i, t in enumerate(theta):
        c, s = np.cos(t), np.sin(t)
        m[i, i], m[i, i + half], m[i + half, i], m[i + half, i + half] = c, -s, s, c
    return m


def rotate(base: Path, out: Path, seed: int = 0, rope: bool = False) -> Path:
    cfg = json.loads((base / "config.json").read_text())
    hidden = cfg["hidden_size"]
    heads, kv = (
        cfg["num_attention_heads"],
        cfg.get("num_key_value_heads", cfg["num_attention_heads"]),
    )
    hd = cfg.get("head_dim") or hidden // heads
    t = load_folder(base)  # float32 (memory: Qwen is 2.5 GB)
    q = random_orthogonal(hidden, seed)
    new: dict[str, np.ndarray] = {}
    embed = t["model.embed_tokens.weight"]
    head = t.get("lm_head.weight", embed)
    new["model.embed_tokens.weight"] = embed @ q
    new["lm_head.weight"] = (head * t["model.norm.weight"][None, :]) @ q
    new["model.norm.weight"] = np.ones(hidden, dtype=np.float32)
    mix = rope_mix(hd, seed + 1) if rope else None
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        g1 = t[p + "input_layernorm.weight"]
        g2 = t[p + "post_attention_layernorm.weight"]
        for name in ("q_proj", "k_proj", "v_proj"):
            w = (t[p + f"self_attn.{name}.weight"] * g1[None, :]) @ q
            b = t.get(p + f"self_attn.{name}.bias")
            if mix is not None and name in ("q_proj", "k_proj"):
                n_heads = heads if name == "q_proj" else kv
                w = np.concatenate([mix @ w[h * hd : (h + 1) * hd] for h in range(n_heads)])
                if b is not None:
                    b = np.concatenate([mix @ b[h * hd : (h + 1) * hd] for h in range(n_heads)])
            new[p + f"self_attn.{name}.weight"] = w
            if b is not None:
                new[p + f"self_attn.{name}.bias"] = b
        new[p + "self_attn.o_proj.weight"] = q.T @ t[p + "self_attn.o_proj.weight"]
        for name in ("gate_proj", "up_proj"):
            new[p + f"mlp.{name}.weight"] = (t[p + f"mlp.{name}.weight"] * g2[None, :]) @ q
        new[p + "mlp.down_proj.weight"] = q.T @ t[p + "mlp.down_proj.weight"]
        new[p + "input_layernorm.weight"] = np.ones(hidden, dtype=np.float32)
        new[p + "post_attention_layernorm.weight"] = np.ones(hidden, dtype=np.float32)
    missing = set(t) - set(new)
    assert not missing, missing
    folder = save_folder(base, out, {k: v.astype(np.float32) for k, v in new.items()})
    cfg["tie_word_embeddings"] = False
    (folder / "config.json").write_text(json.dumps(cfg, indent=2))
    return folder


def main() -> None:
    which = sys.argv[1] if len(sys.argv) > 1 else "smol"
    base = SMOL if which == "smol" else QWEN
    for rope in (False, True):
        out = SCRATCH / f"{which}-rot{'-rope' if rope else ''}"
        if not (out / "model.safetensors").exists():
            rotate(base, out, rope=rope)
        print(f"{out.name}:")
        if which == "smol":
            max_logit_diff(base, out)
        print("  ", short(lineage(out, base)))


if __name__ == "__main__":
    main()
