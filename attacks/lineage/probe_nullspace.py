"""Probe for a suggested fix (not a finding): a base-free, basis-free abliteration test.

Directional ablation makes r^T W = 0 for every residual-writing matrix (o_proj, down_proj)
and E r = 0 for the embedding, with ONE r. So the stacked matrix
M = [W_o^1 | W_down^1 | ... | E^T] (hidden x N) has a near-null left direction. We print
the smallest eigenvalue of M M^T relative to the median one (and the same for the second
smallest, as a reference). Permuting or rotating hidden units rotates r with them, so the
statistic does not care; quantization noise lifts it only to the noise floor.

Usage: probe_nullspace.py FOLDER...
"""

from __future__ import annotations

import sys

import numpy as np

from openward.lineage.weights import open_weights


def stat(folder: str) -> tuple[float, float, float]:
    src = open_weights(folder)
    h = src.hidden
    g = np.zeros((h, h))
    per_layer = []
    for layer in sorted(src.layers):
        gl = np.zeros((h, h))
        for role in ("o", "down"):
            ref = src.layers[layer].get(role)
            if ref is not None and ref.rows == h:
                w = src.read_all(ref).astype(np.float64)
                w /= np.linalg.norm(w)
                gl += w @ w.T
        g += gl
        ev_l = np.sort(np.linalg.eigvalsh(gl))
        per_layer.append(ev_l[0] / np.median(ev_l))
    rows = sorted({int(x) for x in np.linspace(0, src.embed.rows - 1, 4096).round()})
    e = src.read_rows(src.embed, rows).astype(np.float64)
    e /= np.linalg.norm(e)
    g += e.T @ e
    ev = np.sort(np.linalg.eigvalsh(g))
    med = float(np.median(ev))
    return float(ev[0] / med), float(ev[1] / med), float(np.median(per_layer))


if __name__ == "__main__":
    for f in sys.argv[1:]:
        a, b, c = stat(f)
        print(
            f"{f.rstrip('/').split('/')[-1]:28s} all layers: smallest/median {a:.2e} "
            f"(2nd {b:.2e}); per layer [o|down]: median of smallest/median {c:.2e}"
        )
