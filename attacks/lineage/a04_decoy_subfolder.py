"""Evasion: decoy weight files in sub-folders.

``_weight_files`` takes every ``*.safetensors`` under the folder, recursively, and the
first embedding / the last tensor of each layer role wins (sorted paths). transformers loads
only ``model.safetensors`` (or the files the index names) at the top level. A folder holding
the base model unchanged plus two small random "decoys" (``0/model.safetensors`` sorts
first and supplies the embedding, ``zz/model.safetensors`` sorts last and supplies every
layer) is fingerprinted as the decoy: the base itself is judged unrelated to the base.

Expected: identical (transformers runs exactly the base's weights). Observed: printout.
"""

from __future__ import annotations

import shutil

from common import SCRATCH, SMOL, lineage, max_logit_diff, short, tiny_model


def main() -> None:
    out = SCRATCH / "smol-decoy"
    if not (out / "model.safetensors").exists():
        shutil.copytree(SMOL, out, dirs_exist_ok=True)
    decoy = tiny_model(SCRATCH / "tiny-decoy", seed=7)
    for sub in ("0", "zz"):
        (out / sub).mkdir(exist_ok=True)
        shutil.copy2(decoy / "model.safetensors", out / sub / "model.safetensors")
    max_logit_diff(SMOL, out)
    print("smol + decoys:", short(lineage(out, SMOL)))


if __name__ == "__main__":
    main()
