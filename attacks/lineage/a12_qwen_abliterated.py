"""The real abliterated Qwen2.5-Coder-0.5B (refusal direction from 32 AdvBench prompts)
against its base, as distributed: 4-bit (absmax, blocks of 32) and 8-bit round trips, and a
consistent permutation of hidden units / heads / neurons (same function).

Expected: safety-edited in every case (the plain abliterated model is flagged). Observed:
printout, with the time each safety check took.
"""

from __future__ import annotations

import sys
import time

from common import ABL, QWEN, SCRATCH, lineage, short

from openward.lineage import _derive


def main() -> None:
    want = sys.argv[1:] or ["q4", "q8", "permuted"]
    for name in want:
        out = SCRATCH / f"qwen-abl-{name}"
        if not (out / "model.safetensors").exists():
            if name == "q4":
                _derive.quantize_roundtrip(ABL, out, bits=4)
            elif name == "q8":
                _derive.quantize_roundtrip(ABL, out, bits=8)
            elif name == "permuted":
                _derive.permute(ABL, out)
        t = time.time()
        res = lineage(out, QWEN, safety=True)
        print(f"abliterated-{name}: {short(res)} ({time.time() - t:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
