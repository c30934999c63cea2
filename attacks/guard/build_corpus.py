"""Write attacks.jsonl and benign.jsonl from attacks.py and benign.py (deterministic).

/work/main/.venv/bin/python attacks/guard/build_corpus.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import attacks  # noqa: E402
import benign  # noqa: E402
import outputs  # noqa: E402


def write(path: Path, items: list[dict[str, object]]) -> None:
    ids = [it["id"] for it in items]
    assert len(ids) == len(set(ids)), "duplicate ids"
    with path.open("w", encoding="utf-8") as fh:
        for it in items:
            fh.write(json.dumps(it, ensure_ascii=False) + "\n")


def main() -> None:
    a = attacks.build()
    b = benign.build()
    write(HERE / "attacks.jsonl", a)
    write(HERE / "benign.jsonl", b)
    o = outputs.build()
    write(HERE / "outputs.jsonl", o)
    print(f"attacks: {len(a)}  benign: {len(b)}  outputs: {len(o)}")


if __name__ == "__main__":
    main()
