"""For each unit group: matched units and how many DISTINCT base partners they use
(a derivative keeps its units one to one; a shared profile makes many units match one)."""

from __future__ import annotations

import sys

import numpy as np

from openward.lineage.compare import MATCH, _index, _units
from openward.lineage.fingerprint import compute_fingerprint


def partners(a, a_words, b, b_words):
    common = [w for w in a_words if w in set(b_words)]
    ua = _units(a, len(a_words))[:, _index(a_words, common)].astype(np.float64)
    ub = _units(b, len(b_words))[:, _index(b_words, common)].astype(np.float64)
    ua = ua - ua.mean(axis=1, keepdims=True)
    ub = ub - ub.mean(axis=1, keepdims=True)
    ua /= np.maximum(np.linalg.norm(ua, axis=1, keepdims=True), 1e-12)
    ub /= np.maximum(np.linalg.norm(ub, axis=1, keepdims=True), 1e-12)
    c = np.abs(ua @ ub.T)
    ok = c.max(axis=1) >= MATCH
    return int(ok.sum()), len(set(np.argmax(c, axis=1)[ok].tolist())), len(ua)


def main(cand: str, base: str) -> None:
    c, b = compute_fingerprint(cand), compute_fingerprint(base)
    m, d, n = partners(c.embed_units, c.words, b.embed_units, b.words)
    print(f"embed: {m}/{n} matched, {d} distinct base partners")
    by = {lp.layer: lp for lp in b.layers}
    tm = td = tn = 0
    for lc in c.layers:
        lb = by.get(lc.layer)
        for role in lc.units:
            if lb is not None and role in lb.units:
                m, d, n = partners(lc.units[role], c.layer_words, lb.units[role], b.layer_words)
                tm, td, tn = tm + m, td + d, tn + n
                print(f"layer {lc.layer} {role}: {m}/{n} matched, {d} distinct partners")
    print(f"layers total: {tm}/{tn} matched, {td} distinct partners")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
