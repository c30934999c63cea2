"""``openward lineage`` at registry scale: fingerprint cost, comparison time, index lookup.

Sections (``--only NAME``, repeatable; all by default):

- ``fingerprint``: per model, in a fresh subprocess each time, the wall time of
  ``compute_fingerprint`` (split into opening the weights and computing), the bytes it read
  and their share of the model's bytes, and the peak RSS (``resource.getrusage``). Once with
  the model's files dropped from the page cache (``posix_fadvise(DONTNEED)``, only these
  files), then ``--runs`` times warm (median kept). Models: SmolLM2-135M and
  Qwen2.5-Coder-0.5B as float32 safetensors folders, their two GGUF files, and a
  **Llama-3-70B-shaped BF16 safetensors model** written as sparse files (hidden 8192, 80
  layers, intermediate 28672, 64 heads, 8 key/value heads, vocabulary 128256; 30 shards,
  141 GB apparent): headers written by hand, the data all holes except the rows a
  fingerprint reads, which hold random BF16 values (so its arithmetic is on real numbers and
  a cold run reads them from disk), and a minimal tokenizer.json whose vocabulary holds the
  common words (``Ġthe`` ...) at scattered ids among filler tokens.
- ``compare``: ``compare(candidate, base)`` on real fingerprints, median of 200 runs; and
  ``load_fingerprint`` (JSON parse) likewise.
- ``index``: a FingerprintIndex of 100 000 fingerprint vectors (two real models plus a
  synthetic population of "other families", built in the index's own z-space at a chosen
  similarity to the real models), then ``nearest`` (k=10) for a perturbed SmolLM2, median
  of 200 lookups; memory (tracemalloc), bulk build, save/load, and the base's rank.
- ``retrieval``: the index cosine of numpy derivatives of SmolLM2 (and the abliterated Qwen,
  when cached) to their base and to the other family.

Usage::

    .venv/bin/python benchmarks/lineage_bench.py [--only fingerprint] [--json]

Results also go to ``benchmarks/results/lineage_bench.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
MODELS = Path.home() / ".cache" / "openward" / "models"
SMOL = MODELS / "b179c9523d0e6a0f"
QWEN = MODELS / "1d9614638d18024d"
ABLITERATED = MODELS / "abliterated-a57e6f4d5f48ed66"

LLAMA70B: dict[str, int] = {
    "hidden_size": 8192,
    "num_hidden_layers": 80,
    "intermediate_size": 28672,
    "num_attention_heads": 64,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
}
SHARD_BYTES = 5_000_000_000
BUILD_VERSION = 1


# -- helpers ---------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            mem = int(line.split()[1]) * 1024
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem / 2**30, 1),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "kernel": platform.release(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def median_ms(fn: Callable[[], object], runs: int) -> dict[str, float]:
    """Wall-clock median, p95 and minimum, and the median CPU time of the process (all its
    threads): on a shared machine the CPU time moves less with the load than wall time."""
    times, cpu = [], []
    for _ in range(runs):
        c = time.process_time()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    times.sort()
    return {
        "median_ms": round(1000 * statistics.median(times), 3),
        "p95_ms": round(1000 * times[int(0.95 * (len(times) - 1))], 3),
        "min_ms": round(1000 * times[0], 3),
        "cpu_median_ms": round(1000 * statistics.median(cpu), 3),
        "runs": runs,
    }


def drop_cache(target: Path) -> None:
    """Evict ``target``'s files (only those) from the page cache."""
    files = [target] if target.is_file() else [p for p in target.rglob("*") if p.is_file()]
    for file in files:
        fd = os.open(file, os.O_RDONLY)
        try:
            os.fsync(fd)  # dirty pages (a freshly written file) are not evicted
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def env(blas_threads: int | None = None) -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = str(REPO / "src") + os.pathsep + out.get("PYTHONPATH", "")
    if blas_threads is not None:
        out["OPENBLAS_NUM_THREADS"] = out["OMP_NUM_THREADS"] = str(blas_threads)
    return out


def blas_settings(args: argparse.Namespace) -> list[tuple[str, int | None]]:
    """numpy's BLAS (OpenBLAS) as it comes (one thread per core) and limited to one thread:
    on a busy 2-core machine, small matrix products are many times slower with two
    threads (they wait for each other)."""
    out: list[tuple[str, int | None]] = [("default", None)]
    if args.blas_one:
        out.append(("1 thread", 1))
    return out


@contextlib.contextmanager
def blas_limit(threads: int | None) -> Iterator[None]:
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads, user_api="blas"):
        yield


def fingerprint_of(name: str, target: Path, work: Path) -> Any:
    """A cached fingerprint (computing it once)."""
    from openward.lineage.fingerprint import compute_fingerprint, load_fingerprint

    cache = work / "fingerprints" / f"{name}.json"
    if cache.is_file():
        return load_fingerprint(cache)
    cache.parent.mkdir(parents=True, exist_ok=True)
    fp = compute_fingerprint(target)
    cache.write_text(fp.dumps(), encoding="utf-8")
    return fp


def derived_fingerprint(name: str, build: Callable[[Path], Path], work: Path) -> Any:
    """Fingerprint of a derivative built into ``work`` (removed afterwards; ~0.5 GB)."""
    from openward.lineage.fingerprint import compute_fingerprint, load_fingerprint

    cache = work / "fingerprints" / f"{name}.json"
    if cache.is_file():
        return load_fingerprint(cache)
    cache.parent.mkdir(parents=True, exist_ok=True)
    folder = build(work / "derived" / name)
    try:
        fp = compute_fingerprint(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    cache.write_text(fp.dumps(), encoding="utf-8")
    return fp


# -- the 70B-shaped sparse model -------------------------------------------------------


def _tensor_list(cfg: dict[str, int]) -> list[tuple[str, tuple[int, ...]]]:
    h, inter = cfg["hidden_size"], cfg["intermediate_size"]
    head_dim = h // cfg["num_attention_heads"]
    kv = cfg["num_key_value_heads"] * head_dim
    out: list[tuple[str, tuple[int, ...]]] = [("model.embed_tokens.weight", (cfg["vocab_size"], h))]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        out += [
            (p + "input_layernorm.weight", (h,)),
            (p + "self_attn.q_proj.weight", (h, h)),
            (p + "self_attn.k_proj.weight", (kv, h)),
            (p + "self_attn.v_proj.weight", (kv, h)),
            (p + "self_attn.o_proj.weight", (h, h)),
            (p + "post_attention_layernorm.weight", (h,)),
            (p + "mlp.gate_proj.weight", (inter, h)),
            (p + "mlp.up_proj.weight", (inter, h)),
            (p + "mlp.down_proj.weight", (h, inter)),
        ]
    out += [("model.norm.weight", (h,)), ("lm_head.weight", (cfg["vocab_size"], h))]
    return out


def _tokenizer(vocab_size: int, seed: int = 0) -> dict[str, Any]:
    """Byte-level-BPE-shaped tokenizer.json: the common words (``Ġword``) at scattered ids
    below 128000, filler tokens elsewhere, 256 special tokens at the end (as Llama 3)."""
    from openward.lineage.words import COMMON_WORDS

    regular = vocab_size - 256
    rng = np.random.default_rng(seed)
    ids = rng.choice(np.arange(1000, regular), size=len(COMMON_WORDS), replace=False)
    vocab = {f"<f{i}>": i for i in range(regular)}
    for word, i in zip(COMMON_WORDS, ids, strict=True):
        del vocab[f"<f{int(i)}>"]
        vocab["Ġ" + word] = int(i)
    added = [
        {"id": regular + i, "content": f"<|reserved_special_token_{i}|>", "special": True}
        for i in range(256)
    ]
    return {"version": "1.0", "added_tokens": added, "model": {"type": "BPE", "vocab": vocab}}


def build_70b(folder: Path) -> dict[str, Any]:
    """Write the sparse 70B-shaped model (reused when already there)."""
    stamp = folder / "openward-bench.json"
    if stamp.is_file() and json.loads(stamp.read_text()).get("version") == BUILD_VERSION:
        return dict(json.loads(stamp.read_text()))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    cfg = LLAMA70B
    shards: list[list[tuple[str, tuple[int, ...]]]] = [[]]
    used = 0
    for name, shape in _tensor_list(cfg):
        size = 2 * int(np.prod(shape))
        if used + size > SHARD_BYTES and shards[-1]:
            shards.append([])
            used = 0
        shards[-1].append((name, shape))
        used += size
    weight_map: dict[str, str] = {}
    total = 0
    for n, tensors in enumerate(shards, 1):
        fname = f"model-{n:05d}-of-{len(shards):05d}.safetensors"
        header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
        offset = 0
        for name, shape in tensors:
            size = 2 * int(np.prod(shape))
            header[name] = {
                "dtype": "BF16",
                "shape": list(shape),
                "data_offsets": [offset, offset + size],
            }
            offset += size
            weight_map[name] = fname
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)
        with open(folder / fname, "wb") as f:
            f.write(len(raw).to_bytes(8, "little") + raw)
            f.truncate(8 + len(raw) + offset)  # sparse: holes read as zeros
        total += offset
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=1)
    )
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
              "torch_dtype": "bfloat16", "head_dim": 128, **cfg}  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "tokenizer.json").write_text(json.dumps(_tokenizer(cfg["vocab_size"])))
    filled = _fill_read_rows(folder)
    info = {
        "version": BUILD_VERSION,
        "shards": len(shards),
        "apparent_bytes": sum(p.stat().st_size for p in folder.glob("*.safetensors")),
        "allocated_bytes": sum(p.stat().st_blocks * 512 for p in folder.glob("*.safetensors")),
        "random_rows_bytes": filled,
        "build_s": round(time.perf_counter() - t0, 1),
    }
    stamp.write_text(json.dumps(info))
    return info


def _fill_read_rows(folder: Path) -> int:
    """Random BF16 values (std 0.02) in the rows ``compute_fingerprint`` will read."""
    from openward.lineage.fingerprint import (
        GROUPS,
        MAX_LAYERS,
        _pick_layers,
        sampled_rows,
        select_words,
    )
    from openward.lineage.weights import TensorRef, open_weights

    src = open_weights(folder)
    rng = np.random.default_rng(1)
    written = 0

    def fill(ref: TensorRef, rows: list[int]) -> int:
        values = (rng.standard_normal((len(rows), ref.cols)) * 0.02).astype(np.float32)
        bf16 = (values.view(np.uint32) >> 16).astype("<u2")
        fd = os.open(ref.file, os.O_WRONLY)
        try:
            for row, data in zip(rows, bf16, strict=True):
                os.pwrite(fd, data.tobytes(), ref.offset + row * ref.cols * 2)
        finally:
            os.close(fd)
        return int(bf16.nbytes)

    written += fill(src.embed, sorted(i for _, i in select_words(src.tokens)))
    roles = [r for members in GROUPS.values() for r in members]
    for layer in _pick_layers(sorted(src.layers), MAX_LAYERS):
        for role in roles:
            ref = src.layers[layer].get(role)
            if ref is not None:
                written += fill(ref, sampled_rows(ref))
    return written


# -- section: fingerprint --------------------------------------------------------------

_CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from openward.lineage.fingerprint import compute_fingerprint
from openward.lineage.weights import open_weights
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
t1 = time.perf_counter()
base_rss = hwm()
ru = resource.getrusage(resource.RUSAGE_SELF)
target = sys.argv[1]
profile = len(sys.argv) > 2
if profile:
    import cProfile, io, pstats
    prof = cProfile.Profile(); prof.enable()
src = open_weights(target)
t2 = time.perf_counter()
fp = compute_fingerprint(target, src)
text = fp.dumps()
t3 = time.perf_counter()
ru2 = resource.getrusage(resource.RUSAGE_SELF)
out = {
    "cpu_s": ru2.ru_utime + ru2.ru_stime - ru.ru_utime - ru.ru_stime,
    "import_s": t1 - t0, "open_s": t2 - t1, "compute_s": t3 - t2, "fingerprint_s": t3 - t1,
    "bytes_read": fp.bytes_read, "model_bytes": fp.model_bytes,
    "share": fp.bytes_read / fp.model_bytes,
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "rss_after_import_mib": base_rss, "fingerprint_bytes": len(text),
    "layers_sampled": len(fp.layers), "layers_total": fp.layers_total, "hidden": fp.hidden,
}
if profile:
    prof.disable()
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(8)
    out["profile"] = s.getvalue().splitlines()[-14:]
print(json.dumps(out))
"""


def _child(target: Path, profile: bool = False, threads: int | None = None) -> dict[str, Any]:
    argv = [sys.executable, "-c", _CHILD, str(target)] + (["profile"] if profile else [])
    proc = subprocess.run(argv, capture_output=True, text=True, env=env(threads), check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"fingerprint of {target} failed: {proc.stderr[-800:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def section_fingerprint(args: argparse.Namespace) -> dict[str, Any]:
    from openward.runtime.bundled import qwen_coder_gguf, smollm2_gguf

    models: dict[str, Path] = {
        "SmolLM2-135M (safetensors F32 folder)": SMOL,
        "Qwen2.5-Coder-0.5B (safetensors F32 folder)": QWEN,
        "SmolLM2-135M (GGUF Q4_1)": Path(smollm2_gguf()),
        "Qwen2.5-Coder-0.5B (GGUF)": Path(qwen_coder_gguf()),
    }
    out: dict[str, Any] = {"models": {}}
    if not args.skip_70b:
        folder = args.work / "llama70b-sparse"
        out["llama70b_build"] = build_70b(folder)
        models["Llama-3-70B-shaped (safetensors BF16, sparse)"] = folder
    for name, target in models.items():
        row: dict[str, Any] = {"path": str(target), "blas": {}}
        for label, threads in blas_settings(args):
            drop_cache(target)
            cold = _child(target, threads=threads)
            warm = [_child(target, threads=threads) for _ in range(args.runs)]
            row["blas"][label] = {
                "cold": _round(cold),
                "warm_median": _round(
                    {k: statistics.median(w[k] for w in warm) for k in WARM_KEYS}
                ),
            }
        row.update(
            bytes_read=cold["bytes_read"],
            model_bytes=cold["model_bytes"],
            share=round(cold["share"], 5),
            rss_after_import_mib=round(cold["rss_after_import_mib"], 1),
            fingerprint_bytes=cold["fingerprint_bytes"],
            layers=f"{cold['layers_sampled']}/{cold['layers_total']}",
            hidden=cold["hidden"],
        )
        if args.profile:
            row["profile"] = _child(target, profile=True)["profile"]
        out["models"][name] = row
        if not args.json:
            print_fingerprint_row(name, row)
    return out


WARM_KEYS = ("open_s", "compute_s", "fingerprint_s", "cpu_s", "peak_rss_mib")


def _round(d: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in d.items()}


def print_fingerprint_row(name: str, r: dict[str, Any]) -> None:
    rss = r["blas"]["default"]["warm_median"]["peak_rss_mib"]
    print(
        f"{name}: {r['model_bytes'] / 1e9:.2f} GB, read {r['bytes_read'] / 1e6:.1f} MB "
        f"({100 * r['share']:.2f} %); peak RSS {rss:.0f} MiB (after imports "
        f"{r['rss_after_import_mib']:.0f})",
        flush=True,
    )
    for label, t in r["blas"].items():
        w, c = t["warm_median"], t["cold"]
        print(
            f"  BLAS {label}: warm {w['fingerprint_s']:.2f} s (open {w['open_s']:.2f} + "
            f"compute {w['compute_s']:.2f}; CPU {w['cpu_s']:.2f} s), cold "
            f"{c['fingerprint_s']:.2f} s (open {c['open_s']:.2f} + compute {c['compute_s']:.2f})",
            flush=True,
        )
    for line in r.get("profile", []):
        print("    " + line)


def print_fingerprint(res: dict[str, Any]) -> None:
    if "llama70b_build" in res:
        print(f"70B-shaped sparse model: {res['llama70b_build']}")


# -- section: compare ------------------------------------------------------------------


def section_compare(args: argparse.Namespace) -> dict[str, Any]:
    from openward.lineage import _derive
    from openward.lineage.compare import compare
    from openward.lineage.fingerprint import load_fingerprint
    from openward.runtime.bundled import qwen_coder_gguf, smollm2_gguf

    fps = {
        "smol": fingerprint_of("smol", SMOL, args.work),
        "qwen": fingerprint_of("qwen", QWEN, args.work),
        "smol_gguf": fingerprint_of("smol_gguf", Path(smollm2_gguf()), args.work),
        "qwen_gguf": fingerprint_of("qwen_gguf", Path(qwen_coder_gguf()), args.work),
        "smol_perturbed": derived_fingerprint(
            "smol_perturbed", lambda o: _derive.perturb(SMOL, o, relative=0.05), args.work
        ),
    }
    pairs = [
        ("smol_perturbed", "smol"),
        ("qwen_gguf", "qwen"),
        ("smol_gguf", "smol"),
        ("smol", "qwen"),
        ("qwen", "smol"),
    ]
    out: dict[str, Any] = {"pairs": {}}
    for cand, base in pairs:
        res = compare(fps[cand], fps[base])
        timing = {}
        for label, threads in blas_settings(args):
            with blas_limit(threads):
                timing[label] = median_ms(
                    lambda c=cand, b=base: compare(fps[c], fps[b]), args.compare_runs
                )
        out["pairs"][f"{cand} vs {base}"] = {
            "blas": timing,
            "verdict": res.verdict,
            "score": round(res.score, 3),
            "units": f"{res.matched_units}/{res.compared_units}",
            "derivation": res.derivation,
        }
    path = args.work / "fingerprints" / "qwen.json"
    out["load_fingerprint"] = {
        **median_ms(lambda: load_fingerprint(path), args.compare_runs),
        "bytes": path.stat().st_size,
    }
    return out


def print_compare(res: dict[str, Any]) -> None:
    for pair, r in res["pairs"].items():
        times = "; ".join(
            f"BLAS {label} median {t['median_ms']:.2f} ms (p95 {t['p95_ms']:.2f}, min "
            f"{t['min_ms']:.2f}, CPU {t['cpu_median_ms']:.2f})"
            for label, t in r["blas"].items()
        )
        print(
            f"compare {pair}: {times}; {r['verdict']} {r['derivation']} score {r['score']} "
            f"({r['units']})"
        )
    r = res["load_fingerprint"]
    print(f"load_fingerprint ({r['bytes']} bytes): median {r['median_ms']:.2f} ms")


# -- section: index --------------------------------------------------------------------


def synthetic_population(z_real: list[np.ndarray], n: int, seed: int = 0) -> np.ndarray:
    """``n`` index vectors of "other families": z = c u + sqrt(1 - c^2) e, with u the mean
    direction of the real models' z-vectors (what unrelated models share), e a random unit
    direction orthogonal to u, c uniform in [0.85, 0.99]."""
    from openward.lineage.index import DIM, project

    rng = np.random.default_rng(seed)
    units = [z / np.linalg.norm(z) for z in z_real]
    u = np.mean(units, axis=0)
    u /= np.linalg.norm(u)
    out = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 10_000):
        m = min(10_000, n - start)
        e = rng.standard_normal((m, len(u)))
        e -= np.outer(e @ u, u)
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        c = rng.uniform(0.85, 0.99, size=(m, 1))
        out[start : start + m] = project(c * u + np.sqrt(1 - c**2) * e)
    return out


def section_index(args: argparse.Namespace) -> dict[str, Any]:
    from openward.lineage import _derive
    from openward.lineage.index import FingerprintIndex, gram_z, index_vector

    smol = fingerprint_of("smol", SMOL, args.work)
    qwen = fingerprint_of("qwen", QWEN, args.work)
    query = derived_fingerprint(
        "smol_perturbed", lambda o: _derive.perturb(SMOL, o, relative=0.05), args.work
    )
    n = args.index_size
    t = time.perf_counter()
    population = synthetic_population([gram_z(smol), gram_z(qwen)], n - 2)
    synth_s = time.perf_counter() - t
    keys = [f"org{i // 100}/model-{i}" for i in range(n - 2)]

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    t = time.perf_counter()
    index = FingerprintIndex()
    index.add_vectors(keys, population)
    bulk_s = time.perf_counter() - t
    index.add("HuggingFaceTB/SmolLM2-135M-Instruct", smol)
    index.add("Qwen/Qwen2.5-Coder-0.5B-Instruct", qwen)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del population

    qv = index_vector(query)
    lookup: dict[str, Any] = {}
    lookup_vec: dict[str, Any] = {}
    for label, threads in blas_settings(args):
        with blas_limit(threads):
            lookup[label] = median_ms(lambda: index.nearest(query, k=10), args.lookup_runs)
            lookup_vec[label] = median_ms(lambda: index.nearest_vector(qv, k=10), args.lookup_runs)
    vector_cost = median_ms(lambda: index_vector(query), args.lookup_runs)
    hits = index.nearest(query, k=10)
    ranked = index.nearest_vector(qv, k=len(index))
    names = [k for k, _ in ranked]
    rank = 1 + names.index("HuggingFaceTB/SmolLM2-135M-Instruct")
    cosine = dict(ranked)
    others = np.array([c for k, c in ranked if not k.startswith(("HuggingFaceTB/", "Qwen/"))])

    vectors_bytes = index.nbytes
    path = args.work / "index.npz"
    t = time.perf_counter()
    index.save(path)
    save_s = time.perf_counter() - t
    tracemalloc.start()
    t = time.perf_counter()
    loaded = FingerprintIndex.load(path)
    load_s = time.perf_counter() - t
    loaded_held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert loaded.nearest(query, k=10) == hits
    return {
        "size": len(index),
        "dim": int(qv.shape[0]),
        "lookup_nearest_fp": lookup,
        "lookup_nearest_vector": lookup_vec,
        "index_vector": vector_cost,
        "memory_bytes": held,
        "vectors_bytes": vectors_bytes,
        "memory_loaded_bytes": loaded_held,
        "vectors_loaded_bytes": loaded.nbytes,
        "bulk_add_s": round(bulk_s, 3),
        "synthesis_s": round(synth_s, 2),
        "save_s": round(save_s, 3),
        "load_s": round(load_s, 3),
        "file_bytes": path.stat().st_size,
        "base_rank": rank,
        "base_cosine": round(cosine["HuggingFaceTB/SmolLM2-135M-Instruct"], 5),
        "best_other_cosine": round(float(others.max()), 5),
        "other_cosine_p99": round(float(np.quantile(others, 0.99)), 5),
        "other_cosine_median": round(float(np.median(others)), 5),
        "qwen_cosine": round(cosine["Qwen/Qwen2.5-Coder-0.5B-Instruct"], 5),
        "top3": [(k, round(c, 5)) for k, c in hits[:3]],
    }


def print_index(res: dict[str, Any]) -> None:
    for label, a in res["lookup_nearest_fp"].items():
        b = res["lookup_nearest_vector"][label]
        print(
            f"index of {res['size']} x {res['dim']}, BLAS {label}: nearest(fp, k=10) median "
            f"{a['median_ms']:.1f} ms (p95 {a['p95_ms']:.1f}, min {a['min_ms']:.1f}, CPU "
            f"{a['cpu_median_ms']:.1f}); nearest_vector {b['median_ms']:.1f} ms (p95 "
            f"{b['p95_ms']:.1f}, min {b['min_ms']:.1f})"
        )
    print(
        f"  index_vector {res['index_vector']['median_ms']:.2f} ms; memory "
        f"{res['memory_bytes'] / 2**20:.1f} MiB (vectors {res['vectors_bytes'] / 2**20:.1f}), "
        f"after load {res['memory_loaded_bytes'] / 2**20:.1f} MiB "
        f"(vectors {res['vectors_loaded_bytes'] / 2**20:.1f}); "
        f"bulk add {res['bulk_add_s']} s; save {res['save_s']} s / load {res['load_s']} s, "
        f"{res['file_bytes'] / 2**20:.1f} MiB"
    )
    print(
        f"  perturbed SmolLM2 -> SmolLM2 rank {res['base_rank']} (cosine {res['base_cosine']}); "
        f"synthetic others: best {res['best_other_cosine']}, p99 {res['other_cosine_p99']}, "
        f"median {res['other_cosine_median']}; "
        f"Qwen {res['qwen_cosine']}"
    )


# -- section: retrieval ----------------------------------------------------------------


def section_retrieval(args: argparse.Namespace) -> dict[str, Any]:
    from openward.lineage import _derive
    from openward.lineage.index import index_vector
    from openward.runtime.bundled import qwen_coder_gguf, smollm2_gguf

    smol = fingerprint_of("smol", SMOL, args.work)
    qwen = fingerprint_of("qwen", QWEN, args.work)
    builds: dict[str, Callable[[Path], Path]] = {
        "noise 5 %": lambda o: _derive.perturb(SMOL, o, relative=0.05),
        "noise 20 %": lambda o: _derive.perturb(SMOL, o, relative=0.2, seed=1),
        "permuted": lambda o: _derive.permute(SMOL, o),
        "rotated": lambda o: _derive.rotate(SMOL, o),
        "4-bit round trip": lambda o: _derive.quantize_roundtrip(SMOL, o, bits=4),
        "pruned 30 %": lambda o: _derive.prune(SMOL, o),
        "scaled x1.7": lambda o: _derive.scale(SMOL, o),
        "vocabulary +64": lambda o: _derive.extend_vocabulary(SMOL, o),
        "random init (unrelated)": lambda o: _derive.random_init(SMOL, o, seed=7),
    }
    vs, vq = index_vector(smol), index_vector(qwen)
    out: dict[str, Any] = {"SmolLM2 vs Qwen": round(float(vs @ vq), 4), "derivatives": {}}
    for name, build in builds.items():
        fp = derived_fingerprint("smol " + name.replace(" ", "_"), build, args.work)
        v = index_vector(fp)
        out["derivatives"][f"SmolLM2 {name}"] = {
            "to_base": round(float(v @ vs), 4),
            "to_other_family": round(float(v @ vq), 4),
        }
    extra = {"SmolLM2 GGUF Q4_1": ("smol_gguf", Path(smollm2_gguf()), vs, vq),
             "Qwen GGUF": ("qwen_gguf", Path(qwen_coder_gguf()), vq, vs)}  # fmt: skip
    if ABLITERATED.is_dir():
        extra["Qwen abliterated"] = ("qwen_abliterated", ABLITERATED, vq, vs)
    for label, (key, target, base_v, other_v) in extra.items():
        v = index_vector(fingerprint_of(key, target, args.work))
        out["derivatives"][label] = {
            "to_base": round(float(v @ base_v), 4),
            "to_other_family": round(float(v @ other_v), 4),
        }
    return out


def print_retrieval(res: dict[str, Any]) -> None:
    print(f"index cosine SmolLM2 vs Qwen (unrelated families): {res['SmolLM2 vs Qwen']}")
    for name, r in res["derivatives"].items():
        print(f"  {name}: to its base {r['to_base']}, to the other family {r['to_other_family']}")


# -- section: accuracy -------------------------------------------------------------------

ACCURACY_VERSION = 1
"""Bump when the builders change: the cached fingerprints of derivatives are keyed by it."""


def _texts() -> list[str]:
    import csv

    data = REPO.parent / "shared" / "data" / "redteam"
    with open(data / "xstest_v2_completions_mistralinstruct_labeled.csv", newline="") as f:
        return [row["completion"] for row in csv.DictReader(f)][:400]


def offgrid_bases(work: Path) -> dict[str, Path]:
    """SmolLM2 and Qwen with 2 % noise: the bundled models were dequantized from GGUF, so their
    values sit on a Q8 grid that a real bf16 release does not have (a quantized derivative of
    an on-grid base cannot be told from a re-save)."""
    from openward.lineage import _derive

    out = {}
    for key, model in (("smol", SMOL), ("qwen", QWEN)):
        folder = work / "bases" / key
        if not (folder / "model.safetensors").exists():
            shutil.rmtree(folder, ignore_errors=True)
            _derive.perturb(model, folder, 0.02, seed=1)
        out[key] = folder
    return out


def accuracy_cases(
    seeds: int, bases: dict[str, Path]
) -> list[tuple[str, str, str, Callable[[Path], Path]]]:
    """(kind, case name, base key, builder) of every derivative; the kind is the derivation
    label the verdict should carry."""
    from openward.lineage import _derive

    texts = _texts()
    cases: list[tuple[str, str, str, Callable[[Path], Path]]] = []
    for base_key, base in bases.items():
        n = seeds if base_key == "smol" else 1
        for s in range(n):
            cases += [
                ("quantized", f"{base_key}-int8-{s}", base_key,
                 lambda o, b=base: _derive.quantize_roundtrip(b, o, bits=8)),
                ("quantized", f"{base_key}-int4-{s}", base_key,
                 lambda o, b=base, s=s: _derive.quantize_roundtrip(
                     b, o, bits=4, block=32 * (1 + s))),
                ("pruned", f"{base_key}-pruned-{s}", base_key,
                 lambda o, b=base, s=s: _derive.prune(b, o, 0.2 + 0.1 * s)),
                ("scaled", f"{base_key}-scaled-{s}", base_key,
                 lambda o, b=base, s=s: _derive.scale(b, o, 1.3 + 0.4 * s)),
                ("permuted", f"{base_key}-permuted-{s}", base_key,
                 lambda o, b=base, s=s: _derive.permute(b, o, seed=s)),
                ("rotated", f"{base_key}-rotated-{s}", base_key,
                 lambda o, b=base, s=s: _derive.rotate(b, o, seed=s)),
                ("vocabulary-extended", f"{base_key}-vocab-{s}", base_key,
                 lambda o, b=base, s=s: _derive.extend_vocabulary(
                     b, o, added=64 * (1 + s), seed=s)),
                ("fine-tuned", f"{base_key}-noise-{s}", base_key,
                 lambda o, b=base, s=s: _derive.perturb(b, o, 0.05 * (1 + s), seed=s)),
            ]  # fmt: skip
        if base_key != "smol":
            continue  # a full fine-tune of Qwen needs 8 GB and an hour here
        cases += [
            ("fine-tuned", f"{base_key}-finetune", base_key,
             lambda o, b=base: _derive.finetune(b, o, texts, steps=20, lr=1e-4)),
            ("fine-tuned", f"{base_key}-lora", base_key,
             lambda o, b=base: _derive.lora_merged(b, o, texts, steps=20)),
        ]  # fmt: skip
    return cases


def _negatives(args: argparse.Namespace, fps: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    from openward.lineage import _derive
    from openward.runtime.bundled import gemma3_gguf

    texts = _texts()
    fps["gemma"] = fingerprint_of("gemma", Path(gemma3_gguf()), args.work)
    pairs = [("smol vs qwen", fps["smol"], fps["qwen"]),
             ("qwen vs smol", fps["qwen"], fps["smol"]),
             ("gemma vs smol", fps["gemma"], fps["smol"]),
             ("gemma vs qwen", fps["gemma"], fps["qwen"]),
             ("smol vs gemma", fps["smol"], fps["gemma"])]  # fmt: skip
    for seed in (1, 2):
        fps[f"smol-random-{seed}"] = derived_fingerprint(
            f"acc{ACCURACY_VERSION}-smol-random-{seed}",
            lambda o, seed=seed: _derive.random_init(SMOL, o, seed=seed),
            args.work,
        )
        pairs.append((f"smol random init {seed} vs smol", fps[f"smol-random-{seed}"], fps["smol"]))
    # same architecture (SmolLM2's, 128 wide, 6 layers), different seeds, the same brief training
    width = {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 6,
             "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32}  # fmt: skip
    for steps in (100,):  # 300 steps: tests/lineage and docs (hn runs)
        for seed in (1, 2, 3):
            fps[f"scratch-{steps}-{seed}"] = derived_fingerprint(
                f"acc{ACCURACY_VERSION}-scratch-{steps}-{seed}",
                lambda o, seed=seed, steps=steps: _derive.train_from_scratch(
                    SMOL, o, texts, seed=seed, steps=steps, config_changes=width
                ),
                args.work,
            )
        for a, b in ((1, 2), (2, 3), (3, 1)):
            pairs.append((f"scratch {steps} steps seed {a} vs {b}",
                          fps[f"scratch-{steps}-{a}"], fps[f"scratch-{steps}-{b}"]))  # fmt: skip
    return pairs


def section_accuracy(args: argparse.Namespace) -> dict[str, Any]:
    """Verdict accuracy per derivation kind (recall of ``derived``, and how often the kind is
    named) and the false-match rate on unrelated pairs, incl. same-architecture hard negatives."""
    from openward.lineage.compare import compare

    bases = offgrid_bases(args.work)
    fps: dict[str, Any] = {
        key: fingerprint_of(f"offgrid-{key}", folder, args.work) for key, folder in bases.items()
    }
    kinds: dict[str, dict[str, Any]] = {}
    rows = []
    for kind, name, base_key, build in accuracy_cases(args.seeds, bases):
        fp = derived_fingerprint(f"acc{ACCURACY_VERSION}-{name}", build, args.work)
        res = compare(fp, fps[base_key])
        found = res.verdict in ("derived", "identical")
        named = kind in res.derivation
        k = kinds.setdefault(kind, {"cases": 0, "derived": 0, "named": 0, "labelled_as": 0})
        k["cases"] += 1
        k["derived"] += found
        k["named"] += found and named
        rows.append({"case": name, "kind": kind, "verdict": res.verdict,
                     "derivation": res.derivation, "p_value": res.p_value,
                     "score": round(res.score, 3)})  # fmt: skip
    # precision of each label: of the derived results naming it, how many are of that kind
    for row in rows:
        for label in row["derivation"]:
            if label in kinds:
                kinds[label].setdefault("named_total", 0)
                kinds[label]["named_total"] += 1
    for k in kinds.values():
        k["recall"] = round(k["derived"] / k["cases"], 3)
        k["label_recall"] = round(k["named"] / k["cases"], 3)
        total = k.pop("named_total", 0)
        k["label_precision"] = round(k["named"] / total, 3) if total else None
        k.pop("labelled_as")
    negatives = []
    false_matches = 0
    for name, cand, base in _negatives(args, fps):
        res = compare(cand, base)
        wrong = res.verdict in ("derived", "identical")
        false_matches += wrong
        negatives.append({"pair": name, "verdict": res.verdict, "p_value": res.p_value,
                          "score": round(res.score, 3)})  # fmt: skip
    positives = len(rows)
    found_total = sum(k["derived"] for k in kinds.values())
    return {
        "kinds": kinds,
        "cases": rows,
        "negatives": negatives,
        "recall": round(found_total / positives, 3),
        "precision": round(found_total / max(found_total + false_matches, 1), 3),
        "false_match_rate": round(false_matches / max(len(negatives), 1), 3),
    }


def print_accuracy(res: dict[str, Any]) -> None:
    for kind, k in res["kinds"].items():
        print(f"  {kind}: {k['derived']}/{k['cases']} derived (recall {k['recall']}), kind named "
              f"{k['named']}/{k['cases']}, label precision {k['label_precision']}")  # fmt: skip
    for row in res["cases"]:
        if row["verdict"] not in ("derived", "identical") or row["kind"] not in row["derivation"]:
            print(f"    {row['case']}: {row['verdict']} {row['derivation']} p={row['p_value']:.2g}")
    for row in res["negatives"]:
        print(
            f"  negative {row['pair']}: {row['verdict']} p={row['p_value']:.2g} "
            f"score {row['score']}"
        )
    print(f"recall {res['recall']}, precision {res['precision']}, false-match rate "
          f"{res['false_match_rate']} over {len(res['negatives'])} unrelated pairs")  # fmt: skip


# -- section: modes (representation and output modes) -----------------------------------

MODES_WORK = MODELS / "lineage-modes-bench"
"""Derivatives and hard negatives for the modes section, built once (0.5 GB each)."""
GEMMA = MODELS / "a5fd3b62230aa5ec"


def _train_texts() -> list[str]:
    import csv

    from openward.runtime.abliterate import shared_data_dir

    data = shared_data_dir() / "redteam"
    with (data / "xstest_v2_completions_mistralinstruct_labeled.csv").open(newline="") as f:
        return [r["completion"] for r in csv.DictReader(f)][:400]


def modes_models() -> dict[str, Path]:
    """Every model of the modes section, built into MODES_WORK when missing. Derivatives of
    SmolLM2 (numpy ones; a 20-step full fine-tune and a 30-step LoRA merged, on XSTest
    completions); the hard negatives: SmolLM2's first 6 layers, two models of that
    architecture trained 150 steps from different random initialisations, and a 20-step
    fine-tune of the 6-layer model."""
    from openward.lineage import _derive as d

    texts = _train_texts()
    base6 = MODES_WORK / "base6"
    builds: dict[str, Callable[[Path], Path]] = {
        "permuted": lambda o: d.permute(SMOL, o, seed=3),
        "rotated": lambda o: d.rotate(SMOL, o, seed=3),
        "int4": lambda o: d.quantize_roundtrip(SMOL, o, bits=4),
        "noise 10 %": lambda o: d.perturb(SMOL, o, 0.1, seed=5),
        "fine-tuned 20 steps": lambda o: d.finetune(SMOL, o, texts, steps=20, lr=1e-4),
        "LoRA merged 30 steps": lambda o: d.lora_merged(SMOL, o, texts, steps=30),
        "base6": lambda o: d.truncate(SMOL, o, 6),
        "scratch6 seed 1": lambda o: d.train_from_scratch(base6, o, texts, seed=1, steps=150),
        "scratch6 seed 2": lambda o: d.train_from_scratch(base6, o, texts, seed=2, steps=150),
        "base6 fine-tuned": lambda o: d.finetune(base6, o, texts, steps=20, lr=1e-4),
    }
    paths = {"SmolLM2": SMOL, "Qwen": QWEN, "Gemma": GEMMA}
    for name, build in builds.items():
        folder = MODES_WORK / name.replace(" ", "_").replace("%", "pct")
        if not (folder / "model.safetensors").is_file():
            t = time.perf_counter()
            build(folder)
            print(f"  built {name} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        paths[name] = folder
    return paths


SMOL_DERIVED = (
    "permuted",
    "rotated",
    "int4",
    "noise 10 %",
    "fine-tuned 20 steps",
    "LoRA merged 30 steps",
)
REP_UNRELATED = [
    ("SmolLM2", "Qwen"),
    ("SmolLM2", "Gemma"),
    ("Qwen", "Gemma"),
    ("base6", "scratch6 seed 1"),
    ("base6", "scratch6 seed 2"),
    ("scratch6 seed 1", "scratch6 seed 2"),
    ("base6 fine-tuned", "scratch6 seed 1"),
]


def _accuracy(rows: list[dict[str, Any]]) -> dict[str, Any]:
    tp = sum(r["expected"] == "derived" and r["verdict"] in ("derived", "identical") for r in rows)
    fn = sum(r["expected"] == "derived" and r["verdict"] == "unrelated" for r in rows)
    fp = sum(r["expected"] == "unrelated" and r["verdict"] != "unrelated" for r in rows)
    tn = sum(r["expected"] == "unrelated" and r["verdict"] == "unrelated" for r in rows)
    return {
        "tp": tp,
        "fn": fn,
        "fp": fp,
        "tn": tn,
        "precision": round(tp / max(1, tp + fp), 3),
        "recall": round(tp / max(1, tp + fn), 3),
        "false_match_rate": round(fp / max(1, fp + tn), 3),
    }


def section_modes(args: argparse.Namespace) -> dict[str, Any]:
    """Representation mode on every pair (CKA, p, verdict; seconds per model forward), and
    the output mode with local candidates (the endpoint path is what the tests run)."""
    import torch

    from openward.lineage import outputs as out
    from openward.lineage.representation import compare_representations, representations_of

    torch.set_num_threads(args.torch_threads)
    paths = modes_models()
    reps, forward_s = {}, {}
    for name, folder in paths.items():
        t = time.perf_counter()
        reps[name] = representations_of(folder, name=name)
        forward_s[name] = round(time.perf_counter() - t, 2)
    pairs = [(d, "SmolLM2", "derived") for d in SMOL_DERIVED]
    pairs += [("base6 fine-tuned", "base6", "derived")]
    pairs += [(a, b, "unrelated") for a, b in REP_UNRELATED]
    pairs += [(d, other, "unrelated") for d in SMOL_DERIVED for other in ("Qwen", "Gemma")]
    rows = []
    for cand, base, expected in pairs:
        t = time.perf_counter()
        r = compare_representations(reps[cand], reps[base], base)
        rows.append(
            {
                "candidate": cand,
                "base": base,
                "expected": expected,
                "verdict": r.verdict,
                "score": round(r.score, 3),
                "p_value": float(f"{r.p_value:.2g}"),
                "cka_ms": round(1000 * (time.perf_counter() - t), 1),
                "layers": [x["cka"] for x in r.layers],
            }
        )
    rep = {"pairs": rows, "forward_s": forward_s, **_accuracy(rows)}
    # the output mode, local candidates: each derivative against SmolLM2 (reference Qwen; the
    # SmolLM2 reference is left out as the base's family) and against Qwen (reference SmolLM2)
    refs = [str(SMOL), str(QWEN)]
    rows = []
    locals_: dict[str, Any] = {}

    def local(name: str) -> Any:
        if name not in locals_:
            locals_[name] = out.local_model(str(paths[name]))
        return locals_[name]

    for cand in (*SMOL_DERIVED, "Qwen"):
        t = time.perf_counter()
        replies = local(cand).replies
        gen_s = time.perf_counter() - t
        for base, expected in (
            ("SmolLM2", "derived" if cand != "Qwen" else "unrelated"),
            ("Qwen", "unrelated" if cand != "Qwen" else "identical"),
        ):
            if cand == base or expected == "identical":
                continue
            t = time.perf_counter()
            judged_base = out.judge(local(base), replies)
            kept = [r for r in refs if r != str(paths[base])]
            judged_refs = [
                out.judge(local({str(SMOL): "SmolLM2", str(QWEN): "Qwen"}[r]), replies)
                for r in kept
            ]
            res = out.compare_outputs(replies, judged_base, judged_refs)
            rows.append(
                {
                    "candidate": cand,
                    "base": base,
                    "expected": expected,
                    "verdict": res.verdict,
                    "score": round(res.score, 3),
                    "p_value": float(f"{res.p_value:.2g}"),
                    "references": [
                        (Path(x["reference"]).name, x["wins"], x["losses"])
                        for x in res.evidence["references"]
                    ],
                    "agreement": res.evidence["agreement"],
                    "candidate_generation_s": round(gen_s, 1),
                    "compare_s": round(time.perf_counter() - t, 1),
                }
            )
    outputs = {
        "pairs": rows,
        **_accuracy(rows),
        "prompts": out.PROMPTS,
        "max_tokens": out.MAX_TOKENS,
    }
    return {"representation": rep, "outputs": outputs}


def print_modes(res: dict[str, Any]) -> None:
    rep = res["representation"]
    print(
        f"representation mode: precision {rep['precision']}, recall {rep['recall']}, "
        f"false matches {rep['fp']}/{rep['fp'] + rep['tn']}"
    )
    for r in rep["pairs"]:
        print(
            f"  {r['candidate']} vs {r['base']}: CKA {r['score']} p {r['p_value']} "
            f"{r['verdict']} (expected {r['expected']})"
        )
    print(
        "  forward pass (64 sentences), s: "
        + ", ".join(f"{k} {v}" for k, v in rep["forward_s"].items())
    )
    o = res["outputs"]
    print(f"output mode: precision {o['precision']}, recall {o['recall']}")
    for r in o["pairs"]:
        print(
            f"  {r['candidate']} vs {r['base']}: share {r['score']} p {r['p_value']} "
            f"{r['verdict']} (expected {r['expected']}); wins-losses {r['references']}; "
            f"generation {r['candidate_generation_s']} s, comparison {r['compare_s']} s"
        )


SECTIONS: dict[str, tuple[Callable[[argparse.Namespace], dict[str, Any]], Callable[..., None]]] = {
    "fingerprint": (section_fingerprint, print_fingerprint),
    "compare": (section_compare, print_compare),
    "index": (section_index, print_index),
    "retrieval": (section_retrieval, print_retrieval),
    "accuracy": (section_accuracy, print_accuracy),
    "modes": (section_modes, print_modes),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="openward lineage benchmarks")
    ap.add_argument("--only", action="append", choices=sorted(SECTIONS))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--work", type=Path, default=Path("/tmp/openward-lineage-bench"))
    ap.add_argument("--runs", type=int, default=3, help="fingerprint: warm runs per model")
    ap.add_argument("--profile", action="store_true", help="fingerprint: cProfile top 8")
    ap.add_argument("--skip-70b", action="store_true")
    ap.add_argument(
        "--no-blas-one",
        dest="blas_one",
        action="store_false",
        help="time only numpy's default BLAS threads (not also one thread)",
    )
    ap.add_argument("--compare-runs", type=int, default=200)
    ap.add_argument("--lookup-runs", type=int, default=200)
    ap.add_argument("--index-size", type=int, default=100_000)
    ap.add_argument("--seeds", type=int, default=3, help="accuracy: SmolLM2 derivatives per kind")
    ap.add_argument("--torch-threads", type=int, default=1, help="modes: torch threads")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"machine": machine()}
    for name in args.only or list(SECTIONS):
        run, show = SECTIONS[name]
        results[name] = run(args)
        if not args.json:
            show(results[name])
    results["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "lineage_bench.json").write_text(json.dumps(results, indent=2))
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
