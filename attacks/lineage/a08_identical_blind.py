"""False "identical": changes to tensors the fingerprint never reads.

The "identical" verdict compares a SHA-256 of the values READ (token-embedding rows of the
common words, q/k/v/gate/up of the sampled layers, or a subset of their rows). Anything else
can change and the verdict stays "identical", p = 0, and because the CLI only runs the
safety-edit check on "derived" verdicts, an abliteration that leaves the embedding alone
(o_proj/down_proj only, as e.g. Heretic does; see a07 abl-per-layer / abl-partial) is never
checked.

Variants on SmolLM2 (each ~5 s to build):
- down-o: o_proj and down_proj of every layer + random rank-8 updates (a backdoor-sized edit)
- norms: every RMSNorm weight multiplied by 3 (a different, broken model)
- skipped-layer: q/k/v/gate/up of layer 1 (not among the 20 sampled of 30) replaced by noise

Expected: derived (something changed), and for down-o the safety check run. Observed: printout.
"""

from __future__ import annotations

import numpy as np
from common import SCRATCH, SMOL, lineage, max_logit_diff, short

from openward.lineage import _derive


def main() -> None:
    g = np.random.default_rng(0)

    def down_o(name: str, v: np.ndarray) -> np.ndarray:
        if name.endswith(("o_proj.weight", "down_proj.weight")):
            u = g.standard_normal((v.shape[0], 8)).astype(np.float32)
            w = g.standard_normal((8, v.shape[1])).astype(np.float32)
            return (v + 0.02 * v.std() * (u @ w)).astype(np.float32)
        return v

    def norms(name: str, v: np.ndarray) -> np.ndarray:
        return v * 3 if name.endswith("norm.weight") else v

    def skipped(name: str, v: np.ndarray) -> np.ndarray:
        if ".layers.1." in name and v.ndim == 2 and "o_proj" not in name and "down" not in name:
            return g.standard_normal(v.shape).astype(np.float32) * v.std()
        return v

    for label, fn in (("down-o", down_o), ("norms", norms), ("skipped-layer", skipped)):
        out = SCRATCH / f"blind-{label}"
        if not (out / "model.safetensors").exists():
            _derive._map(SMOL, out, fn)
        print(f"{label}:")
        max_logit_diff(SMOL, out)
        print("  ", short(lineage(out, SMOL, safety=True)))


if __name__ == "__main__":
    main()
