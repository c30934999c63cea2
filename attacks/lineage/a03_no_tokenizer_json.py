"""Evasion: ship the vocabulary as vocab.json + merges.txt (GPT-2 "slow" tokenizer files)
instead of tokenizer.json.

The weights are the base's, byte for byte (a copy). transformers loads the tokenizer
from vocab.json/merges.txt and encodes text to the same ids. The fingerprint only reads
tokenizer.json; without it, it falls back to rows "#0".."#191" by token id, which share no
"word" with the base's fingerprint ("the", "of", ...), so nothing is compared: unrelated.
Variant b: the same, and the vocabulary re-ordered (rows of the embedding moved along).

Expected: identical / derived. Observed: see the printout.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from common import SCRATCH, SMOL, lineage, short


def slow_tokenizer(base: Path, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for item in base.iterdir():
        if item.name in ("tokenizer.json", "model.safetensors"):
            continue
        if item.is_file():
            shutil.copy2(item, out / item.name)
    if not (out / "model.safetensors").exists():  # a copy (symlinks: see a10)
        shutil.copy2(base / "model.safetensors", out / "model.safetensors")
    doc = json.loads((base / "tokenizer.json").read_text(encoding="utf-8"))
    (out / "vocab.json").write_text(json.dumps(doc["model"]["vocab"]), encoding="utf-8")
    merges = ["#version: 0.2"] + [" ".join(m) for m in doc["model"]["merges"]]
    (out / "merges.txt").write_text("\n".join(merges) + "\n", encoding="utf-8")
    cfg = json.loads((base / "tokenizer_config.json").read_text())
    cfg["tokenizer_class"] = "GPT2Tokenizer"
    cfg.pop("backend", None)
    cfg["added_tokens_decoder"] = {
        str(t["id"]): {
            k: t[k] for k in ("content", "lstrip", "normalized", "rstrip", "single_word", "special")
        }
        for t in doc["added_tokens"]
    }
    (out / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2))
    return out


def main() -> None:
    out = slow_tokenizer(SMOL, SCRATCH / "smol-slowtok")
    from transformers import AutoTokenizer

    text = "The quick brown fox, naïvely, jumps over 12 lazy dogs <|im_end|>"
    a = AutoTokenizer.from_pretrained(str(SMOL))(text)["input_ids"]
    slow = AutoTokenizer.from_pretrained(str(out))
    b = slow(text)["input_ids"]
    print(f"same token ids from both tokenizers: {a == b} ({type(slow).__name__})")
    print("smol-slowtok (same weights):", short(lineage(out, SMOL)))


if __name__ == "__main__":
    main()
