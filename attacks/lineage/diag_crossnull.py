"""Internal null for unit matching: the matched share when each candidate layer is paired with
the base's layer at the OPPOSITE end of the stack (wrong pairing) vs the right pairing.
For a derivative the wrong pairing should match far less; if it matches as well, the unit
matches say nothing about lineage (shared word profiles)."""

from __future__ import annotations

import sys

from openward.lineage.compare import match_units
from openward.lineage.fingerprint import compute_fingerprint


def share(c, b, flip: bool) -> tuple[int, int]:
    lb_list = list(reversed(b.layers)) if flip else b.layers
    tm = tn = 0
    for lc, lb in zip(c.layers, lb_list, strict=False):
        for role in lc.units:
            if role in lb.units:
                m, n = match_units(lc.units[role], c.layer_words, lb.units[role], b.layer_words)
                tm, tn = tm + m, tn + n
    return tm, tn


if __name__ == "__main__":
    c, b = compute_fingerprint(sys.argv[1]), compute_fingerprint(sys.argv[2])
    for flip in (False, True):
        m, n = share(c, b, flip)
        print(f"{'wrong' if flip else 'right'} layer pairing: {m}/{n} = {m / max(n, 1):.3f}")
