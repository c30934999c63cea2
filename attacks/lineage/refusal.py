"""A real refusal direction for SmolLM2 (Arditi et al.): the difference of mean residual
activations at the last prompt token between 32 harmful (AdvBench) and 32 harmless
(NotInject) chat prompts, per layer. Cached in the scratch folder."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from common import SCRATCH, SMOL

HARMFUL = Path("/work/shared/data/redteam/advbench_harmful_behaviors.csv")
HARMLESS = sorted(Path("/work/shared/data/guard").glob("notinject_*.json"))


def prompts(n: int = 32) -> tuple[list[str], list[str]]:
    with HARMFUL.open(encoding="utf-8") as f:
        harmful = [row["goal"] for row in csv.DictReader(f)][:n]
    harmless: list[str] = []
    for file in HARMLESS:
        harmless += [x["prompt"] for x in json.loads(file.read_text()) if len(x["prompt"]) <= 200]
    return harmful, harmless[:n]


def directions(model_dir: Path = SMOL) -> np.ndarray:
    """(layers + 1, hidden): unit refusal direction read at each residual stream position."""
    cache = SCRATCH / f"refusal-{model_dir.name}.npy"
    if cache.exists():
        return np.load(cache)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(2)
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    model.eval()

    def mean_states(texts: list[str]) -> np.ndarray:
        acc = None
        for t in texts:
            chat = tok.apply_chat_template(
                [{"role": "user", "content": t}], add_generation_prompt=True, tokenize=False
            )
            ids = tok(chat, return_tensors="pt")
            with torch.no_grad():
                hs = model(**ids, output_hidden_states=True).hidden_states
            last = torch.stack([h[0, -1] for h in hs]).numpy().astype(np.float64)
            acc = last if acc is None else acc + last
        assert acc is not None
        return acc / len(texts)

    harmful, harmless = prompts()
    d = mean_states(harmful) - mean_states(harmless)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    np.save(cache, d)
    return d


if __name__ == "__main__":
    d = directions()
    mid = len(d) // 2
    print("layers", len(d), "cos(mid, others):", np.round(d @ d[mid], 2))
