"""Where the matched units come from: embedding vs each layer's q / gate units."""

from __future__ import annotations

import sys

from openward.lineage.compare import match_units
from openward.lineage.fingerprint import compute_fingerprint


def breakdown(cand: str, base: str) -> None:
    c, b = compute_fingerprint(cand), compute_fingerprint(base)
    m, n = match_units(c.embed_units, c.words, b.embed_units, b.words)
    print(f"embed units {m}/{n}")
    by_index = {lp.layer: lp for lp in b.layers}
    for lc in c.layers:
        lb = by_index.get(lc.layer)
        if lb is None:
            continue
        parts = []
        for role in lc.units:
            if role in lb.units:
                m, n = match_units(lc.units[role], c.layer_words, lb.units[role], b.layer_words)
                parts.append(f"{role} {m}/{n}")
        print(f"layer {lc.layer}: {', '.join(parts)}")


if __name__ == "__main__":
    breakdown(sys.argv[1], sys.argv[2])
