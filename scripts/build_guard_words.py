"""Build the guard's English word list (openward/guard/weights/words.txt).

Usage: python scripts/build_guard_words.py [--out src/openward/guard/weights/words.txt]

The words come from the same offline corpus as the character language model
(``scripts/train_guard_lm.py``: its ``doc``, ``metadata`` and ``python`` sources, training part
only): every run of 2+ ASCII letters that is all lower case, capitalised or all capitals,
case-folded, kept when seen at least :data:`MIN_COUNT` times; the :data:`TOP` most frequent are
written one per line, sorted. The adversarial-suffix detector reads the share of a window's
words that are not in the list (GCG's sub-word fragments: "oppositeley", "Teamsures").
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import train_guard_lm  # noqa: E402

MIN_COUNT = 2
TOP = 100_000
_WORD = re.compile(rb"(?<![A-Za-z0-9_])(?:[A-Z]?[a-z]+|[A-Z]+)(?![A-Za-z0-9_])")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--out", type=Path, default=train_guard_lm.ROOT / "src/openward/guard/weights/words.txt"
    )
    args = ap.parse_args()
    train, _held, _record = train_guard_lm.collect()
    counts: Counter[bytes] = Counter()
    for name in ("doc", "metadata", "python"):
        for text in train.get(name, []):
            counts.update(w.lower() for w in _WORD.findall(text) if len(w) >= 2)
    words = [w.decode() for w, n in counts.most_common(TOP) if n >= MIN_COUNT]
    args.out.write_text("\n".join(sorted(words)) + "\n")
    print(f"{len(words)} words -> {args.out}")


if __name__ == "__main__":
    main()
