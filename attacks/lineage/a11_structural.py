"""Structural derivatives of SmolLM2 (each ~5-10 s to build) against the base:
pruning 50 %, heavy noise (30 % and 100 % of each matrix's std), every other layer dropped
(30 -> 15), every layer duplicated (30 -> 60, depth up-scaling), the vocabulary re-ordered
(token ids shuffled in tokenizer.json and the embedding rows moved along; the same model),
and linear merges with an unrelated model of the same shape (a06's briefly trained
random-init model, if present).

Expected: derived for all (merges: derived from SmolLM2 with "merged" when both bases are
given). Observed: printout.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from common import SCRATCH, SMOL, cli, lineage, short

from openward.lineage import _derive

LAYER = re.compile(r"\.layers\.(\d+)\.")


def relayer(base: Path, out: Path, mapping: list[int]) -> Path:
    """New layer i = old layer mapping[i]."""
    t = _derive.load_folder(base)
    new = {k: v for k, v in t.items() if not LAYER.search(k)}
    for i, old in enumerate(mapping):
        for k, v in t.items():
            if f".layers.{old}." in k:
                new[k.replace(f".layers.{old}.", f".layers.{i}.")] = v
    folder = _derive.save_folder(base, out, new)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["num_hidden_layers"] = len(mapping)
    (folder / "config.json").write_text(json.dumps(cfg, indent=2))
    return folder


def reorder_vocab(base: Path, out: Path, seed: int = 0) -> Path:
    tok = json.loads((base / "tokenizer.json").read_text(encoding="utf-8"))
    t = _derive.load_folder(base)
    n = t["model.embed_tokens.weight"].shape[0]
    special = {a["id"] for a in tok["added_tokens"]}
    movable = np.array([i for i in range(n) if i not in special])
    perm = np.arange(n)
    perm[movable] = np.random.default_rng(seed).permutation(movable)  # new id of old id
    tok["model"]["vocab"] = {s: int(perm[i]) for s, i in tok["model"]["vocab"].items()}
    emb = t["model.embed_tokens.weight"]
    new_emb = np.empty_like(emb)
    new_emb[perm] = emb
    t["model.embed_tokens.weight"] = new_emb
    return _derive.save_folder(base, out, t, tokenizer=tok)


def main() -> None:
    builds = {
        "prune50": lambda o: _derive.prune(SMOL, o, share=0.5),
        "noise30": lambda o: _derive.perturb(SMOL, o, relative=0.3),
        "noise100": lambda o: _derive.perturb(SMOL, o, relative=1.0),
        "drop-odd-layers": lambda o: relayer(SMOL, o, list(range(0, 30, 2))),
        "dup-layers": lambda o: relayer(SMOL, o, [i for i in range(30) for _ in (0, 1)]),
        "vocab-reordered": lambda o: reorder_vocab(SMOL, o),
    }
    other = next(iter(sorted(SCRATCH.glob("smol-scratch-s1-*-*"), reverse=True)), None)
    if other is not None:
        for w in (0.5, 0.7):
            builds[f"merge{int(w * 100)}"] = lambda o, w=w: _derive.merge(SMOL, other, o, w)
    for name, fn in builds.items():
        out = SCRATCH / f"struct-{name}"
        if not (out / "model.safetensors").exists():
            fn(out)
        print(f"{name:16s}", short(lineage(out, SMOL)), flush=True)
        if name.startswith("merge") and other is not None:
            args = ("lineage", str(out), str(SMOL), str(other), "--json", "--no-safety")
            _rc, text, _err = cli(*args)
            for r in json.loads(text)["results"]:
                print(
                    f"   with both bases: vs {Path(r['base']).name}: {r['verdict']} "
                    f"{r['derivation']} score={r['score']} notes={r.get('notes')}"
                )


if __name__ == "__main__":
    main()
