"""False "derived": SmolLM2's architecture and tokenizer, two random initialisations
(transformers' own init, seeds 1 and 2), each trained briefly (AdamW) on the same English
text, against each other and against the real SmolLM2.

Usage: a06_random_init_trained.py STEPS [LR]
Expected: unrelated everywhere (the models share no weights). Observed: printout.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from common import SCRATCH, SMOL, lineage, short
from texts import english


def train_from_scratch(out: Path, seed: int, steps: int, lr: float) -> Path:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from openward.lineage._derive import save_folder

    torch.set_num_threads(2)
    torch.manual_seed(seed)
    config = AutoConfig.from_pretrained(str(SMOL))
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(str(SMOL))
    texts = english()
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    t0 = time.time()
    for step in range(steps):
        batch = [texts[(step * 4 + i) % len(texts)] for i in range(4)]
        enc = tok(batch, return_tensors="pt", padding=True, truncation=True, max_length=64)
        labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        loss = model(**enc, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if step % 20 == 0 or step == steps - 1:
            print(f"  seed {seed} step {step} loss {loss.item():.3f} ({time.time() - t0:.0f} s)")
    tensors = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    tensors.pop("lm_head.weight", None)
    return save_folder(SMOL, out, tensors)


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    lr = float(sys.argv[2]) if len(sys.argv) > 2 else 1e-3
    folders = []
    for seed in (1, 2):
        out = SCRATCH / f"smol-scratch-s{seed}-{steps}-{lr:g}"
        if not (out / "model.safetensors").exists():
            train_from_scratch(out, seed, steps, lr)
        folders.append(out)
    a, b = folders
    print(f"{a.name} vs {b.name}:", short(lineage(a, b)))
    print(f"{a.name} vs SmolLM2:", short(lineage(a, SMOL)))
    print(f"SmolLM2 vs {a.name}:", short(lineage(SMOL, a)))


if __name__ == "__main__":
    main()
