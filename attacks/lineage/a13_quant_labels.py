"""Derivation labels for quantization, on a base that is NOT already on a quantization grid.

Both real models in the cache were converted from GGUF files, so their values sit on 4/5/6-
bit grids and "quantized" can never be reported against them (the check needs the base's
grid share under 0.25). Here the base is SmolLM2 plus 1 % noise (off-grid, a stand-in for a
bf16 original); candidates are 8-bit and 4-bit absmax round trips of it, and GGUF Q8_0 /
Q4_0 files written like llama.cpp (q/k rows permuted, a05) and a plain F16 GGUF.

Expected: "quantized" for the round trips and Q8_0/Q4_0 GGUFs, "converted"/identical-like
for F16. Observed: printout.
"""

from __future__ import annotations

from a05_gguf import write_gguf
from common import SCRATCH, SMOL, lineage, short

from openward.lineage import _derive


def main() -> None:
    base = SCRATCH / "offgrid-base"
    if not (base / "model.safetensors").exists():
        _derive.perturb(SMOL, base, relative=0.01, seed=3)
    cands = {
        "rt-int8": lambda o: _derive.quantize_roundtrip(base, o, bits=8),
        "rt-int4": lambda o: _derive.quantize_roundtrip(base, o, bits=4),
    }
    for name, fn in cands.items():
        out = SCRATCH / f"offgrid-{name}"
        if not (out / "model.safetensors").exists():
            fn(out)
        print(f"{name:8s}", short(lineage(out, base)), flush=True)
    for qt in ("F16", "Q8_0", "Q4_0"):
        out = SCRATCH / f"offgrid-{qt}.gguf"
        if not out.exists():
            write_gguf(base, out, qt)
        print(f"{qt + '.gguf':8s}", short(lineage(out, base)), flush=True)


if __name__ == "__main__":
    main()
