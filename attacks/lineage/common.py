"""Shared helpers for the lineage attack reproducers (run from the worktree root with
PYTHONPATH=src CI=1 /work/main/.venv/bin/python attacks/lineage/<script>.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

MODELS = Path.home() / ".cache/openward/models"
SMOL = MODELS / "b179c9523d0e6a0f"  # SmolLM2-135M-Instruct, float32 safetensors
QWEN = MODELS / "1d9614638d18024d"  # Qwen2.5-Coder-0.5B-Instruct, float32 safetensors
ABL = MODELS / "abliterated-a57e6f4d5f48ed66"  # Qwen above, abliterated (real direction)
SCRATCH = Path(os.environ.get("ATTACK_SCRATCH", "/tmp/attack-lineage"))
SCRATCH.mkdir(parents=True, exist_ok=True)
PY = sys.executable
SRC = Path(__file__).resolve().parents[2] / "src"


def lineage(cand: Path | str, base: Path | str, safety: bool = False) -> dict[str, Any]:
    """The CLI's JSON result for one base (runs the real command)."""
    args = ["lineage", str(cand), str(base), "--json"]
    if not safety:
        args.append("--no-safety")
    rc, out, err = cli(*args)
    if rc != 0:
        raise SystemExit(f"lineage failed rc={rc}: {err.strip()[-2000:]}")
    res: dict[str, Any] = json.loads(out)["results"][0]
    return res


def cli(*args: str, timeout: int = 900) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "CI": "1"}
    p = subprocess.run(
        [PY, "-m", "openward", *args], capture_output=True, text=True, env=env, timeout=timeout
    )
    return p.returncode, p.stdout, p.stderr


def short(res: dict[str, Any]) -> str:
    se = res.get("safety_edit")
    s = (
        f"{res['verdict']} {res['derivation']} score={res['score']} "
        f"({res['matched_units']}/{res['compared_units']}) p={res['p_value']:.3g} "
        f"embedding_gram={res['embedding_gram']}"
    )
    if se is not None:
        s += f" safety_edit={se['detected']} cons={se['direction_consistency']} ev={se['evidence']}"
    return s


def max_logit_diff(a: Path, b: Path, text: str = "The capital of France is Paris. It is") -> float:
    """Largest absolute difference of the two models' logits on one text (transformers)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(a))
    ids = tok(text, return_tensors="pt")
    outs = []
    for folder in (a, b):
        m = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
        m.eval()
        with torch.no_grad():
            outs.append(m(**ids).logits.float())
        del m
    scale = float(outs[0].abs().max())
    diff = float((outs[0] - outs[1]).abs().max())
    print(f"  logits: max |diff| {diff:.3g} (max |logit| {scale:.3g})")
    return diff


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def tiny_model(out: Path, *, hidden: int = 64, layers: int = 2, seed: int = 0) -> Path:
    """A small random Llama-layout safetensors folder with SmolLM2's tokenizer.json (fast to
    fingerprint; for the robustness reproducers)."""
    import shutil

    from safetensors.numpy import save_file

    out.mkdir(parents=True, exist_ok=True)
    g = rng(seed)
    vocab = 49152
    t = {"model.embed_tokens.weight": g.standard_normal((vocab, hidden)).astype(np.float32)}
    for i in range(layers):
        p = f"model.layers.{i}."
        for name, shape in (
            ("self_attn.q_proj", (hidden, hidden)),
            ("self_attn.k_proj", (hidden // 2, hidden)),
            ("self_attn.v_proj", (hidden // 2, hidden)),
            ("self_attn.o_proj", (hidden, hidden)),
            ("mlp.gate_proj", (2 * hidden, hidden)),
            ("mlp.up_proj", (2 * hidden, hidden)),
            ("mlp.down_proj", (hidden, 2 * hidden)),
        ):
            t[p + name + ".weight"] = (g.standard_normal(shape) * 0.05).astype(np.float32)
        t[p + "input_layernorm.weight"] = np.ones(hidden, dtype=np.float32)
        t[p + "post_attention_layernorm.weight"] = np.ones(hidden, dtype=np.float32)
    t["model.norm.weight"] = np.ones(hidden, dtype=np.float32)
    save_file(t, str(out / "model.safetensors"))
    shutil.copy2(SMOL / "tokenizer.json", out / "tokenizer.json")
    cfg = json.loads((SMOL / "config.json").read_text())
    cfg.update(
        hidden_size=hidden,
        num_hidden_layers=layers,
        intermediate_size=2 * hidden,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=hidden // 2,
    )
    (out / "config.json").write_text(json.dumps(cfg, indent=2))
    return out


def traceback_in(err: str) -> bool:
    return "Traceback" in err or "╭" in err or "Error:" in err.split("\n")[-2:][0]
