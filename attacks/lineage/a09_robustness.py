"""Robustness: damaged inputs to ``openward fingerprint`` / ``openward lineage``.

Every case must end with rc 0 and a verdict, or rc 2 and ONE line on stderr; never a
traceback (rc 1 with a rich panel) and never invalid JSON on stdout. Each line printed:
case, rc, 'TRACEBACK' when stderr holds one, the last line of stderr, and whether --json
stdout parses.

Usage: a09_robustness.py [CASE-SUBSTRING]
"""

from __future__ import annotations

import base64
import json
import shutil
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from common import SCRATCH, cli, tiny_model

ROOT = SCRATCH / "robust"


def _fp_doc(model: Path) -> dict[str, Any]:
    fp_file = ROOT / "tiny.fp.json"
    if not fp_file.exists():
        rc, _, err = cli("fingerprint", str(model), "-o", str(fp_file))
        assert rc == 0, err
    doc: dict[str, Any] = json.loads(fp_file.read_text())
    return doc


def _pack(values: np.ndarray) -> str:
    return base64.b64encode(np.asarray(values, dtype="<f2").tobytes()).decode()


def fingerprint_cases(model: Path) -> dict[str, str]:
    """name -> JSON text of a damaged fingerprint."""
    doc = _fp_doc(model)
    cases: dict[str, Any] = {}

    def edit(name: str, fn: Callable[[dict[str, Any]], None]) -> None:
        d = json.loads(json.dumps(doc))
        fn(d)
        cases[name] = json.dumps(d)

    edit("fp-version-99", lambda d: d.update(version=99))
    edit("fp-version-string", lambda d: d.update(version="1"))
    edit("fp-version-true", lambda d: d.update(version=True))
    edit("fp-version-negative", lambda d: d.update(version=-5))
    edit("fp-hidden-string", lambda d: d.update(hidden="wide"))
    edit("fp-layers-dict", lambda d: d.update(layers={"a": 1}))
    edit("fp-gram-short", lambda d: d.update(embed_gram=_pack(np.zeros(10))))
    edit("fp-words-short", lambda d: d.update(words=d["words"][:50]))
    edit("fp-words-duplicated", lambda d: d.update(words=[d["words"][0]] * len(d["words"])))
    edit(
        "fp-layer-gram-short",
        lambda d: d["layers"][0]["grams"].update(attn=_pack(np.zeros(7))),
    )
    edit("fp-units-nan", lambda d: d.update(embed_units=_pack(np.full(64 * 192, np.nan))))
    edit("fp-gram-nan", lambda d: d.update(embed_gram=_pack(np.full(96 * 95 // 2, np.nan))))
    edit("fp-depth-nan", lambda d: [lp.update(depth=float("nan")) for lp in d["layers"]])
    edit("fp-shapes-bad", lambda d: d["layers"][0]["shapes"].update(q=[1]))
    edit("fp-words-not-list", lambda d: d.update(words=12))
    text = json.dumps(doc)
    cases["fp-hidden-1e400"] = text.replace(f'"hidden": {doc["hidden"]}', '"hidden": 1e400')
    cases["fp-deeply-nested"] = text.replace(
        '"source": ' + json.dumps(doc["source"]), '"source": ' + "[" * 100000 + "]" * 100000
    )
    cases["fp-truncated"] = text[: len(text) // 2]
    cases["fp-not-utf8"] = text.replace('"source"', '"sou\udcffrce"', 1)
    return cases


def _write_st(path: Path, tensors: dict[str, np.ndarray]) -> None:
    from safetensors.numpy import save_file

    save_file(tensors, str(path))


def weight_cases(model: Path) -> dict[str, Path]:
    """name -> a damaged model folder (copies of the tiny model)."""
    from safetensors.numpy import load_file

    base_t = load_file(str(model / "model.safetensors"))
    out: dict[str, Path] = {}

    def folder(name: str) -> Path:
        f = ROOT / name
        shutil.rmtree(f, ignore_errors=True)
        f.mkdir(parents=True)
        for item in model.iterdir():
            shutil.copy2(item, f / item.name)
        out[name] = f
        return f

    raw = (model / "model.safetensors").read_bytes()
    f = folder("st-truncated")
    (f / "model.safetensors").write_bytes(raw[: len(raw) // 2])
    f = folder("st-huge-header-length")
    (f / "model.safetensors").write_bytes(struct.pack("<Q", 2**62) + raw[8:])
    f = folder("st-forged-offsets")
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + hlen])
    header["model.embed_tokens.weight"]["shape"] = [2**40, 64]
    header["model.embed_tokens.weight"]["data_offsets"] = [0, 2**40 * 64 * 4]
    h = json.dumps(header).encode()
    (f / "model.safetensors").write_bytes(struct.pack("<Q", len(h)) + h + raw[8 + hlen :])
    for name, mutate in (
        (
            "st-nan-in-q",
            lambda t: t["model.layers.0.self_attn.q_proj.weight"].__setitem__((0, 0), np.nan),
        ),
        (
            "st-inf-in-gate",
            lambda t: t["model.layers.1.mlp.gate_proj.weight"].__setitem__(
                (slice(None), 0), np.inf
            ),
        ),
        (
            "st-nan-in-embed",
            lambda t: t["model.embed_tokens.weight"].__setitem__((slice(None), 3), np.nan),
        ),
        (
            "st-q-zero-rows",
            lambda t: t.__setitem__(
                "model.layers.0.self_attn.q_proj.weight", np.zeros((0, 64), np.float32)
            ),
        ),
        (
            "st-q-one-row",
            lambda t: t.__setitem__(
                "model.layers.0.self_attn.q_proj.weight", np.ones((1, 64), np.float32)
            ),
        ),
        (
            "st-embed-zero-cols",
            lambda t: t.__setitem__("model.embed_tokens.weight", np.zeros((49152, 0), np.float32)),
        ),
        (
            "st-int8-scb-short",
            lambda t: (
                t.__setitem__("model.layers.0.self_attn.q_proj.weight", np.ones((64, 64), np.int8)),
                t.__setitem__("model.layers.0.self_attn.q_proj.SCB", np.ones(3, np.float32)),
            ),
        ),
        (
            "st-int8-scb-2d",
            lambda t: (
                t.__setitem__("model.layers.0.self_attn.q_proj.weight", np.ones((64, 64), np.int8)),
                t.__setitem__("model.layers.0.self_attn.q_proj.SCB", np.ones((1, 64), np.float32)),
            ),
        ),
        (
            "st-bnb4-u8",
            lambda t: t.__setitem__(
                "model.layers.0.self_attn.q_proj.weight", np.ones((2048, 1), np.uint8)
            ),
        ),
        (
            "st-gptq-qweight",
            lambda t: (
                [
                    t.__setitem__(k.replace(".weight", ".qweight"), np.ones((8, 64), np.int32))
                    for k in list(t)
                    if k.endswith(("q_proj.weight", "gate_proj.weight"))
                ]
                + [t.pop(k) for k in list(t) if k.endswith(("q_proj.weight", "gate_proj.weight"))]
            ),
        ),
        (
            "st-layer-index-huge",
            lambda t: t.__setitem__(
                "model.layers.99999999.self_attn.q_proj.weight", np.ones((64, 64), np.float32)
            ),
        ),
    ):
        t = {k: v.copy() for k, v in base_t.items()}
        mutate(t)
        f = folder(name)
        _write_st(f / "model.safetensors", t)
    for name, text in (
        ("tok-not-json", "{not json"),
        ("tok-list", "[1, 2, 3]"),
        ("tok-model-string", json.dumps({"model": "bpe"})),
        ("tok-vocab-huge-id", json.dumps({"model": {"vocab": {"Ġthe": 10**10}}})),
        ("tok-vocab-negative-id", json.dumps({"model": {"vocab": {"Ġthe": -3, "Ġof": 1}}})),
        ("tok-added-int", json.dumps({"model": {"vocab": {"Ġthe": 1}}, "added_tokens": 5})),
        ("tok-deeply-nested", '{"model": ' + "[" * 100000 + "]" * 100000 + "}"),
        ("tok-vocab-list-of-str", json.dumps({"model": {"vocab": ["Ġthe", "Ġof"]}})),
        ("tok-binary", "\udcff"),
    ):
        f = folder(name)
        (f / "tokenizer.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    return out


def run(name: str, args: list[str], json_out: bool) -> None:
    import resource

    def limit() -> None:  # 6 GB of address space: a runaway allocation fails, not the box
        resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))

    import os
    import subprocess

    from common import PY, SRC

    env = {**os.environ, "PYTHONPATH": str(SRC), "CI": "1", "COLUMNS": "200"}
    p = subprocess.run(
        [PY, "-m", "openward", *args],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=limit,
        timeout=600,
    )
    err = p.stderr.strip()
    tb = "Traceback" in err or "╭─" in err
    last = err.splitlines()[-1] if err else ""
    parsed = ""
    if json_out and p.returncode == 0:
        try:
            json.loads(p.stdout, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
            parsed = "json ok"
        except ValueError as exc:
            parsed = f"INVALID JSON ({exc})"
    lines = len(err.splitlines())
    print(
        f"{name:26s} rc={p.returncode} {'TRACEBACK ' if tb else ''}{parsed} "
        f"stderr[{lines} lines]: {last[:150]}"
    )


def main() -> None:
    only = sys.argv[1] if len(sys.argv) > 1 else ""
    ROOT.mkdir(parents=True, exist_ok=True)
    model = tiny_model(ROOT / "tiny")
    fp_file = ROOT / "tiny.fp.json"
    _fp_doc(model)
    for name, text in fingerprint_cases(model).items():
        if only not in name:
            continue
        path = ROOT / f"{name}.json"
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
        run(name, ["lineage", str(path), str(fp_file), "--json"], True)
    for name, folder in weight_cases(model).items():
        if only not in name:
            continue
        run(name, ["lineage", str(folder), str(model), "--json"], True)


if __name__ == "__main__":
    main()
