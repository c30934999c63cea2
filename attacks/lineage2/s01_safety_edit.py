"""The safety-edit check (src/openward/lineage/safety.py) on the registry's small SmolLM2
(2 layers, bf16), through compare() + detect_safety_edit() as the registry runs them.

Evasions (expected: detected):
  fill:      abliterate along r, then write a small RANDOM rank-one term back along r
             (W += eps * r z^T for o/down, E += eps * w r^T): r^T W is no longer zero, so the
             null test sees no null; the differences are still rank one along r, so the
             shared-difference test still finds it ...
  fill+perm: ... unless the hidden units are then permuted consistently (same function).
  input:     the edit on the READ side: q/k/v/gate/up (and lm_head) orthogonalised against r,
             W' = W (I - r r^T): no layer can read the refusal direction; o/down untouched, so
             neither test looks at what changed.
False positives (expected: not detected):
  chanprune: one hidden channel pruned in place (its embedding column and o/down rows
             zeroed, the shape kept): a null direction e_i, a pruning, not a refusal edit.
Hiding by a fine-tune stand-in: abliterated + noise of 5 %, 10 % of each matrix's spread.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import common
import numpy as np

from openward.lineage import _derive as derive
from openward.lineage import _small

Arr = np.ndarray


def _map_bf16(base: Path, name: str, fn) -> Path:
    tensors = _small.load_tensors(base)
    out = {k: np.ascontiguousarray(fn(k, v), dtype=np.float32) for k, v in tensors.items()}
    return _small.save_bf16(base, common.folder(name), out)


def direction(base: Path, seed: int = 3) -> Arr:
    hidden = int(json.loads((base / "config.json").read_text())["hidden_size"])
    r = np.random.default_rng(seed).standard_normal(hidden).astype(np.float32)
    return r / np.linalg.norm(r)


def fill(base: Path, name: str, eps: float, seed: int = 5) -> Path:
    """Abliterate along r, then add eps x (the removed component's typical size) back along r,
    with random coefficients."""
    r = direction(base)
    rng = np.random.default_rng(seed)

    def edit(k: str, v: Arr) -> Arr:
        if k.endswith("embed_tokens.weight"):
            removed = v @ r
            w = rng.standard_normal(v.shape[0]).astype(np.float32) * removed.std() * eps
            return v - np.outer(removed, r) + np.outer(w, r)
        if k.endswith(("o_proj.weight", "down_proj.weight")):
            removed = r @ v
            z = rng.standard_normal(v.shape[1]).astype(np.float32) * removed.std() * eps
            return v - np.outer(r, removed) + np.outer(r, z)
        return v

    return _map_bf16(base, name, edit)


def permuted(src: Path, name: str) -> Path:
    return _small._rebuild(src, common.folder(name), lambda b, o: derive.permute(b, o, seed=4))


def input_side(base: Path, name: str) -> Path:
    r = direction(base)
    reads = (
        "q_proj.weight",
        "k_proj.weight",
        "v_proj.weight",
        "gate_proj.weight",
        "up_proj.weight",
        "lm_head.weight",
    )

    def edit(k: str, v: Arr) -> Arr:
        return v - np.outer(v @ r, r) if k.endswith(reads) else v

    return _map_bf16(base, name, edit)


def channel_prune(base: Path, name: str, channel: int = 7) -> Path:
    def edit(k: str, v: Arr) -> Arr:
        v = v.copy()
        if k.endswith("embed_tokens.weight"):
            v[:, channel] = 0
        elif k.endswith(("o_proj.weight", "down_proj.weight")):
            v[channel, :] = 0
        return v

    return _map_bf16(base, name, edit)


def main() -> None:
    fam = common.smol()
    base = fam["base"]
    cases = {
        "abliterated (control)": lambda: fam["abliterated"],
        "fill eps=0.3": lambda: fill(base, "s01-fill03", 0.3),
        "fill eps=0.6": lambda: fill(base, "s01-fill06", 0.6),
        "fill eps=0.3 + permuted": lambda: permuted(
            fill(base, "s01-fill03", 0.3), "s01-fill03-perm"
        ),
        "fill eps=0.6 + permuted": lambda: permuted(
            fill(base, "s01-fill06", 0.6), "s01-fill06-perm"
        ),
        "input-side (q/k/v/gate/up/head)": lambda: input_side(base, "s01-input"),
        "abliterated + 5% noise": lambda: _small.derived(
            fam["abliterated"], common.folder("s01-abl-n5"), 0.05, seed=31
        ),
        "abliterated + 10% noise": lambda: _small.derived(
            fam["abliterated"], common.folder("s01-abl-n10"), 0.10, seed=32
        ),
        "FP? one channel pruned in place": lambda: channel_prune(base, "s01-chan"),
        "FP? 5% noise (control)": lambda: fam["derived"],
    }
    wanted = sys.argv[1:]
    for label, build in cases.items():
        if wanted and not any(w in label for w in wanted):
            continue
        print(f"{label:34s} {json.dumps(common.verdict(build(), base))}", flush=True)


if __name__ == "__main__":
    main()
