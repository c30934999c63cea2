"""Train the guard's character language model (openward/guard/weights/charlm.safetensors).

Usage: python scripts/train_guard_lm.py [--out src/openward/guard/weights]

The corpus is benign text found offline on the machine, read in a fixed order (files sorted by
the SHA-256 of their path, so no source is cut off alphabetically) up to a byte budget each:

- ``doc``:      /usr/share/doc (READMEs, copyright files, changelogs, gunzipped);
- ``metadata``: the long descriptions (README bodies) in installed packages' METADATA files;
- ``python``:   the standard library's ``.py`` sources: code, comments and docstrings;
- ``gettext``:  translated messages from /usr/share/locale/*/LC_MESSAGES/*.mo (the catalogues'
  msgstr values: prose in many languages, so that German or Russian is not "random").

The last 2% of each source is held out and its bits per byte are recorded. The JSON beside the
weights records each source's file count, byte count and SHA-256 of the text used (the corpus
depends on what is installed, so the hashes say which corpus a given model saw), and the NeMo
heuristics' thresholds re-fitted for this model (see ``refit_nemo``).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import struct
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from openward.guard.detectors import _charlm  # noqa: E402

BUDGET = {"doc": 6_000_000, "metadata": 6_000_000, "python": 5_000_000, "gettext": 4_000_000}
PER_FILE = 120_000
HELD_OUT = 0.02


def _order(paths: list[Path]) -> list[Path]:
    return sorted(paths, key=lambda p: hashlib.sha256(str(p).encode()).hexdigest())


def doc_texts() -> Iterator[tuple[str, bytes]]:
    root = Path("/usr/share/doc")
    if not root.is_dir():
        return
    paths = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
    for p in _order(paths):
        name = p.name.lower()
        try:
            if name.endswith(".gz"):
                if p.stat().st_size > 400_000:
                    continue
                data = gzip.decompress(p.read_bytes())
            elif name.endswith((".txt", ".md", ".rst")) or "." not in name:
                data = p.read_bytes()
            else:
                continue
        except (OSError, EOFError, gzip.BadGzipFile):
            continue
        if b"\0" in data[:4096]:
            continue
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        yield str(p), data[:PER_FILE]


def metadata_texts() -> Iterator[tuple[str, bytes]]:
    site = Path(sysconfig.get_paths()["purelib"])
    for p in _order(list(site.glob("*.dist-info/METADATA"))):
        raw = p.read_bytes()
        _head, sep, body = raw.partition(b"\n\n")
        desc = body if sep else b""
        if len(desc) < 200:
            continue
        yield p.parent.name, desc[:PER_FILE]


def python_texts() -> Iterator[tuple[str, bytes]]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    paths = [
        p
        for p in stdlib.rglob("*.py")
        if "site-packages" not in p.parts and "test" not in p.parts and "tests" not in p.parts
    ]
    for p in _order(paths):
        yield str(p.relative_to(stdlib)), p.read_bytes()[:PER_FILE]


def _mo_messages(data: bytes) -> list[bytes]:
    """The translated strings of a GNU .mo catalogue (both byte orders); [] if malformed."""
    if len(data) < 28:
        return []
    for endian in ("<", ">"):
        magic, _rev, count, _orig, trans = struct.unpack(endian + "5I", data[:20])
        if magic == 0x950412DE:
            break
    else:
        return []
    out: list[bytes] = []
    for i in range(count):
        off = trans + 8 * i
        if off + 8 > len(data):
            return out
        length, pos = struct.unpack(endian + "2I", data[off : off + 8])
        msg = data[pos : pos + length]
        if not msg or msg.startswith(b"Project-Id-Version") or b"Content-Type:" in msg[:400]:
            continue
        out.extend(m for m in msg.split(b"\0") if m)
    return out


def gettext_texts() -> Iterator[tuple[str, bytes]]:
    root = Path("/usr/share/locale")
    if not root.is_dir():
        return
    for p in _order(list(root.glob("*/LC_MESSAGES/*.mo"))):
        msgs = _mo_messages(p.read_bytes())
        good = []
        for m in msgs:
            try:
                m.decode("utf-8")
            except UnicodeDecodeError:
                continue
            good.append(m)
        if good:
            yield str(p.relative_to(root)), b"\n".join(good)[: PER_FILE // 4]


SOURCES = {
    "doc": doc_texts,
    "metadata": metadata_texts,
    "python": python_texts,
    "gettext": gettext_texts,
}


def collect() -> tuple[
    dict[str, list[bytes]], dict[str, list[bytes]], dict[str, dict[str, object]]
]:
    train: dict[str, list[bytes]] = {}
    held: dict[str, list[bytes]] = {}
    record: dict[str, dict[str, object]] = {}
    for name, source in SOURCES.items():
        texts: list[bytes] = []
        size = 0
        files = 0
        for _path, data in source():
            if size >= BUDGET[name]:
                break
            data = data[: BUDGET[name] - size]
            texts.append(data)
            size += len(data)
            files += 1
        cut = max(1, int(len(texts) * (1 - HELD_OUT))) if len(texts) > 1 else len(texts)
        train[name], held[name] = texts[:cut], texts[cut:]
        digest = hashlib.sha256()
        for t in texts:
            digest.update(hashlib.sha256(t).digest())
        record[name] = {
            "files": files,
            "bytes": size,
            "sha256": digest.hexdigest(),
            "held_out_files": len(texts) - cut,
        }
    return train, held, record


def bits_per_byte(tables: _charlm.Tables, texts: list[bytes]) -> float:
    total = 0.0
    n = 0
    for t in texts:
        lp = _charlm.byte_logprobs(tables, t)
        total += float(lp.sum())
        n += len(lp)
    return -total / max(n, 1) / math.log(2)


def refit_nemo(lm: _charlm.CharLM, data: Path) -> dict[str, object]:
    """Re-fit NeMo Guardrails' two jailbreak heuristics for this model.

    NeMo's thresholds (length/perplexity >= 89.79, prefix/suffix perplexity >= 1845.65) are in
    GPT-2-large token perplexity; ours are per-character, so the numbers do not carry over.
    We keep NeMo's statistics and re-fit each threshold the way a threshold is fitted for a
    fixed false-positive budget: the smallest value that flags at most 1% of the even-indexed
    half of WildGuardTest's benign prompts (shared/data/guard); the odd half and the in-the-wild
    jailbreak prompts (verazuo/jailbreak_llms) are only measured.
    """
    from openward.guard.detectors import perplexity as ppl

    benign = [
        r["prompt"] for r in json.loads((data / "wildguardtest_benign_prompts.json").read_text())
    ]
    jail = json.loads((data / "inthewild_jailbreak_prompts.json").read_text())
    fit, test = benign[0::2], benign[1::2]
    out: dict[str, object] = {
        "fit_on": "wildguardtest_benign_prompts.json[0::2]",
        "fpr_budget": 0.01,
    }
    for name, fn in (
        ("length_per_perplexity", ppl.length_per_perplexity),
        ("prefix_suffix_perplexity", ppl.prefix_suffix_perplexity),
    ):
        vals = sorted(fn(t, lm) for t in fit)
        threshold = vals[min(len(vals) - 1, math.ceil(0.99 * len(vals)))]
        threshold = float(threshold) + 1e-6
        fpr = sum(fn(t, lm) >= threshold for t in test) / len(test)
        tpr = sum(fn(t, lm) >= threshold for t in jail) / len(jail)
        out[name] = {
            "threshold": round(threshold, 4),
            "benign_held_out_flagged": round(fpr, 4),
            "inthewild_jailbreaks_flagged": round(tpr, 4),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "src/openward/guard/weights")
    ap.add_argument("--data", type=Path, default=ROOT.parent.parent / "shared/data/guard")
    args = ap.parse_args()
    train, held, record = collect()
    for name, r in record.items():
        print(f"{name}: {r['files']} files, {r['bytes']} bytes")
    tables = _charlm.train([t for texts in train.values() for t in texts])
    from safetensors.numpy import save_file

    args.out.mkdir(parents=True, exist_ok=True)
    weights = args.out / _charlm.WEIGHTS_FILE.name
    save_file(tables.tensors(), str(weights), metadata={"format": "openward-charlm-v1"})
    held_bpb = {
        name: round(bits_per_byte(tables, texts), 4) for name, texts in held.items() if texts
    }
    print("held-out bits/byte:", held_bpb)
    lm = _charlm.CharLM(tables)
    data_dir = args.data if args.data.is_dir() else Path("/work/shared/data/guard")
    nemo = refit_nemo(lm, data_dir) if data_dir.is_dir() else {}
    print("nemo:", json.dumps(nemo, indent=1))
    meta = {
        "name": "openward-charlm",
        "version": "1",
        "order": _charlm.ORDER + 1,
        "discount": _charlm.DISCOUNT,
        "joint_hashed": {str(k): list(v) for k, v in _charlm.JOINT_HASHED.items()},
        "context_hashed": {str(k): list(v) for k, v in _charlm.CONTEXT_HASHED.items()},
        "quantisation": _charlm.QUANT,
        "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "corpus": record,
        "held_out_bits_per_byte": held_bpb,
        "nemo_refit": nemo,
    }
    (args.out / _charlm.META_FILE.name).write_text(
        json.dumps(meta, indent=2, sort_keys=True) + "\n"
    )
    print("wrote", weights, weights.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
