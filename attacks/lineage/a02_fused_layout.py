"""Evasion: the same model saved in another architecture's tensor layout.

SmolLM2 (Llama) is written as a Phi-3 checkpoint: fused ``qkv_proj`` and ``gate_up_proj``
(a layout transformers loads, logits checked). The fingerprint's layer regex knows only
separate q/k/v/gate/up names, so it reads no layer at all and the verdict rests on the 64
embedding units. Combined with the hidden-space rotation of a01 (which leaves no embedding
unit matched) the derived model is judged unrelated.

Expected: derived. Observed: see the printout.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from a01_rotation import rotate
from common import SCRATCH, SMOL, lineage, max_logit_diff, short

from openward.lineage._derive import load_folder, save_folder


def to_phi3(base: Path, out: Path) -> Path:
    cfg = json.loads((base / "config.json").read_text())
    t = load_folder(base)
    new = {}
    for name, v in t.items():
        if ".self_attn.q_proj." in name:
            p = name.replace("q_proj.weight", "")
            new[p + "qkv_proj.weight"] = np.concatenate(
                [t[p + "q_proj.weight"], t[p + "k_proj.weight"], t[p + "v_proj.weight"]]
            )
        elif ".mlp.gate_proj." in name:
            p = name.replace("gate_proj.weight", "")
            new[p + "gate_up_proj.weight"] = np.concatenate(
                [t[p + "gate_proj.weight"], t[p + "up_proj.weight"]]
            )
        elif any(s in name for s in (".k_proj.", ".v_proj.", ".up_proj.")):
            continue
        else:
            new[name] = v
    folder = save_folder(base, out, new)
    phi = {
        "architectures": ["Phi3ForCausalLM"],
        "model_type": "phi3",
        "hidden_size": cfg["hidden_size"],
        "intermediate_size": cfg["intermediate_size"],
        "num_attention_heads": cfg["num_attention_heads"],
        "num_key_value_heads": cfg["num_key_value_heads"],
        "num_hidden_layers": cfg["num_hidden_layers"],
        "rms_norm_eps": cfg["rms_norm_eps"],
        "rope_theta": cfg["rope_parameters"]["rope_theta"],
        "max_position_embeddings": cfg["max_position_embeddings"],
        "original_max_position_embeddings": cfg["max_position_embeddings"],
        "vocab_size": cfg["vocab_size"],
        "tie_word_embeddings": cfg["tie_word_embeddings"],
        "bos_token_id": cfg["bos_token_id"],
        "eos_token_id": cfg["eos_token_id"],
        "pad_token_id": cfg["pad_token_id"],
        "hidden_act": "silu",
        "partial_rotary_factor": 1.0,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attention_dropout": 0.0,
        "dtype": "float32",
    }
    (folder / "config.json").write_text(json.dumps(phi, indent=2))
    return folder


def main() -> None:
    plain = SCRATCH / "smol-phi3"
    if not (plain / "model.safetensors").exists():
        to_phi3(SMOL, plain)
    rot = SCRATCH / "smol-rot"
    if not (rot / "model.safetensors").exists():
        rotate(SMOL, rot)
    rot_phi = SCRATCH / "smol-rot-phi3"
    if not (rot_phi / "model.safetensors").exists():
        to_phi3(rot, rot_phi)
    for folder in (plain, rot_phi):
        print(f"{folder.name}:")
        max_logit_diff(SMOL, folder)
        print("  ", short(lineage(folder, SMOL)))


if __name__ == "__main__":
    main()
