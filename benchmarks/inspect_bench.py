"""`openward inspect` on multi-GB sharded models vs reading their bytes, in one run.

What it measures
----------------
Sharded safetensors models of the Llama-3-8B layout (BF16, 2 GiB shards, with
``model.safetensors.index.json``, ``config.json`` and a model card) at several
sizes, plus the GGUF file of ``big_models.build_gguf``. For each:

- ``cat`` of every weight file (the I/O floor: what reading the weights costs);
- ``openward inspect DIR --json`` (CLI, fresh process) under hyperfine;
- ``openward.facts.model.inspect_model`` in-process (best of 5);
- the safetensors library's own header read, ``safe_open`` on each shard and
  the product of every tensor's shape (what a hand-written counter would do).

The target is that inspect's time does not grow with the weight size: it
reads headers and configs only. The parameter count is checked against the
layout's exact count in the same run.

Usage::

    .venv/bin/python benchmarks/inspect_bench.py [--out DIR] [--sizes 1,8,20]

``--sizes`` are Llama block counts (1 block ~ 0.4 GiB, plus 2 GiB of
embeddings). Files are built once under ``benchmarks/.corpus/inspect`` and reused.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from big_models import (
    HIDDEN,
    KV,
    MLP,
    VOCAB,
    _block,
    _fill,
    build_gguf,
    llama_tensors,
)
from openward.facts.model import inspect_model

REPO = Path(__file__).resolve().parent.parent
OPENWARD = Path(sys.executable).with_name("openward")
HYPERFINE = shutil.which("hyperfine") or "/usr/bin/hyperfine"
GIB = 1 << 30
SHARD = 2 * GIB


def build_sharded(root: Path, layers: int) -> tuple[Path, int]:
    """A sharded BF16 safetensors model; returns (directory, exact parameter count)."""
    specs = [(hf, shape) for hf, _, shape in llama_tensors(layers)]
    params = sum(math.prod(s) for _, s in specs)
    marker = root / ".complete"
    if marker.exists():
        return root, params
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    shards: list[list[tuple[str, tuple[int, ...]]]] = [[]]
    size = 0
    for name, shape in specs:
        n = math.prod(shape) * 2
        if size + n > SHARD and shards[-1]:
            shards.append([])
            size = 0
        shards[-1].append((name, shape))
        size += n
    block = _block()
    weight_map = {}
    for i, shard in enumerate(shards, 1):
        fname = f"model-{i:05}-of-{len(shards):05}.safetensors"
        header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
        offset = 0
        for name, shape in shard:
            n = math.prod(shape) * 2
            header[name] = {
                "dtype": "BF16",
                "shape": list(shape),
                "data_offsets": [offset, offset + n],
            }
            offset += n
            weight_map[name] = fname
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)
        print(f"building {root.name}/{fname} ({offset / GIB:.2f} GiB) ...", file=sys.stderr)
        with open(root / fname, "wb") as f:
            f.write(struct.pack("<Q", len(raw)) + raw)
            _fill(f, offset, block)
    (root / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": params * 2}, "weight_map": weight_map})
    )
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": HIDDEN,
        "intermediate_size": MLP, "num_hidden_layers": layers, "num_attention_heads": 32,
        "num_key_value_heads": 32 * KV // HIDDEN, "vocab_size": VOCAB,
        "max_position_embeddings": 8192, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    }  # fmt: skip
    (root / "config.json").write_text(json.dumps(config))
    (root / "README.md").write_text(
        "---\nlicense: llama3\n---\nA benchmark model pretrained on 15T tokens.\n"
    )
    marker.touch()
    return root, params


def hyperfine(argv: list[str], runs: int, warmup: int, export: Path) -> dict[str, Any]:
    cmd = [HYPERFINE, "-N", "-w", str(warmup), "-r", str(runs), "--style", "none",
           "--export-json", str(export), " ".join(argv)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    r = json.loads(export.read_text())["results"][0]
    return {"mean": r["mean"], "stddev": r["stddev"] or 0.0}


def cat_time(files: list[Path], export: Path) -> dict[str, Any]:
    script = export.with_suffix(".sh")
    script.write_text("#!/bin/sh\nexec cat " + " ".join(str(f) for f in files) + "\n")
    script.chmod(0o755)
    return hyperfine([str(script)], 3, 1, export)


def safetensors_count(files: list[Path]) -> tuple[int, float]:
    from safetensors import safe_open

    best = math.inf
    total = 0
    for _ in range(5):
        start = time.perf_counter()
        total = 0
        for f in files:
            with safe_open(f, framework="numpy") as st:
                for key in st.keys():  # noqa: SIM118 - safe_open has no __iter__
                    total += math.prod(st.get_slice(key).get_shape())
        best = min(best, time.perf_counter() - start)
    return total, best


def in_process(target: Path) -> tuple[int, float]:
    best = math.inf
    total = 0
    for _ in range(5):
        start = time.perf_counter()
        facts = inspect_model(target)
        best = min(best, time.perf_counter() - start)
        total = facts.parameters.total if facts.parameters else 0
    return total, best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--corpus", type=Path, default=REPO / "benchmarks" / ".corpus")
    parser.add_argument("--sizes", default="1,8,20", help="Llama block counts")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for layers in [int(x) for x in args.sizes.split(",")]:
        root, exact = build_sharded(args.corpus / "inspect" / f"llama_{layers}l", layers)
        shards = sorted(root.glob("*.safetensors"))
        size = sum(f.stat().st_size for f in shards)
        print(f"timing {root.name} ({size / GIB:.1f} GiB) ...", file=sys.stderr)
        cat = cat_time(shards, out / f"inspect_cat_{layers}.json")
        cli = hyperfine([str(OPENWARD), "inspect", str(root), "--json"], 10, 2,
                        out / f"inspect_cli_{layers}.json")  # fmt: skip
        counted, inproc = in_process(root)
        st_total, st_time = safetensors_count(shards)
        assert counted == exact == st_total, (counted, exact, st_total)
        rows.append({"model": root.name, "format": "safetensors", "files": len(shards),
                     "bytes": size, "parameters": counted, "cat": cat, "cli": cli,
                     "in_process": inproc, "safetensors_lib": st_time})  # fmt: skip
    gguf = build_gguf(args.corpus / "big" / "llama_20l.gguf", 20)
    cat = cat_time([gguf], out / "inspect_cat_gguf.json")
    cli = hyperfine([str(OPENWARD), "inspect", str(gguf), "--json"], 10, 2,
                    out / "inspect_cli_gguf.json")  # fmt: skip
    counted, inproc = in_process(gguf)
    exact = sum(math.prod(s) for _, _, s in llama_tensors(20))
    assert counted == exact, (counted, exact)
    rows.append({"model": gguf.name, "format": "gguf", "files": 1, "bytes": gguf.stat().st_size,
                 "parameters": counted, "cat": cat, "cli": cli, "in_process": inproc,
                 "safetensors_lib": None})  # fmt: skip

    now = datetime.datetime.now(datetime.UTC)
    lines = [
        "# openward inspect: time vs weight size",
        "",
        f"- date: {now:%Y-%m-%d %H:%M} UTC",
        "",
        "| model | files | size | parameters (exact) | `cat` all weights "
        "| `openward inspect --json` | in-process `inspect_model` "
        "| safetensors `safe_open` + shapes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        st = f"{r['safetensors_lib'] * 1000:.1f} ms" if r["safetensors_lib"] else "—"
        lines.append(
            f"| {r['model']} ({r['format']}) | {r['files']} | {r['bytes'] / GIB:.2f} GiB "
            f"| {r['parameters']:,} | {r['cat']['mean']:.3f} ± {r['cat']['stddev']:.3f} s "
            f"| {r['cli']['mean']:.3f} ± {r['cli']['stddev']:.3f} s "
            f"| {r['in_process'] * 1000:.1f} ms | {st} |"
        )
    text = "\n".join(lines) + "\n"
    (out / "inspect_bench.md").write_text(text)
    (out / "inspect_bench.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
